//! The tracer: from a port (east-west, and out through a router's gateway) or from the outside
//! world through a floating IP, hop by hop over the pods' views.
//!
//! A router forwards by longest prefix over its connected subnets (interfaces and its gateway's
//! external subnet) and its extra routes; with no match and a gateway, the packet leaves for the
//! outside. Leaving through the gateway needs an address the outside can answer: the source's
//! floating IP on that router, or SNAT to the gateway's address. A packet from the outside
//! arrives at the router holding the floating IP and is routed from there to the fixed IP.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::{
    DataplaneView, DpFloatingIp, DpGateway, DpNetwork, DpPort, DpRouter, Reachability, Route,
};

/// More router hops than this is a loop.
const MAX_ROUTER_HOPS: u32 = 16;

fn ip_in(cidr: &str, ip: IpAddr) -> bool {
    cidr.parse::<IpNet>().is_ok_and(|n| n.contains(&ip))
}

fn same_segment(a: &DpNetwork, b: &DpNetwork) -> bool {
    a.network_type == b.network_type
        && a.segmentation_id == b.segmentation_id
        && a.physical_network == b.physical_network
        && a.segmentation_id.is_some()
}

/// Where the packet entered, which decides whether a router may send it back out.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// A port: it may leave through a gateway with its floating IP or SNAT.
    Port(&'a DpPort),
    /// The outside world, through a floating IP: it must end inside.
    Outside,
}

/// The longest-prefix extra route of `router` to `to`, with its prefix length.
fn best_route(router: &DpRouter, to: IpAddr) -> Option<(u8, &Route)> {
    router
        .routes
        .iter()
        .filter_map(|r| {
            let net = r.destination.parse::<IpNet>().ok().filter(|n| n.contains(&to))?;
            Some((net.prefix_len(), r))
        })
        .max_by_key(|(l, _)| *l)
}

/// The network of `router`'s interface whose subnet holds `ip`.
fn connected<'a>(pod: &'a DataplaneView, router: &DpRouter, ip: IpAddr) -> Option<&'a DpNetwork> {
    router.interfaces.iter().find_map(|i| {
        pod.network(&i.network_id)
            .filter(|n| n.subnets.iter().any(|s| s.id == i.subnet_id && ip_in(&s.cidr, ip)))
    })
}

/// `router`'s gateway and its external network when one of that network's subnets holds `ip`,
/// with that subnet's prefix length.
fn on_gateway_network<'a>(
    pod: &'a DataplaneView,
    router: &'a DpRouter,
    ip: IpAddr,
) -> Option<(u8, &'a DpGateway, &'a DpNetwork)> {
    let gw = router.gateway.as_ref()?;
    let net = pod.network(&gw.interface.network_id)?;
    net.subnets
        .iter()
        .filter_map(|s| s.cidr.parse::<IpNet>().ok().filter(|c| c.contains(&ip)))
        .map(|c| (c.prefix_len(), gw, net))
        .max_by_key(|(l, _, _)| *l)
}

struct Tracer<'a> {
    pods: &'a [DataplaneView],
    hops: Vec<String>,
    /// Router hops left before the path counts as a loop.
    budget: u32,
}

impl<'a> Tracer<'a> {
    fn new(pods: &'a [DataplaneView]) -> Self {
        Tracer { pods, hops: Vec::new(), budget: MAX_ROUTER_HOPS }
    }

    fn fail(self, reason: String) -> Reachability {
        Reachability {
            reachable: false,
            hops: self.hops,
            reason: Some(reason),
            dest_port: None,
            dest_region: None,
        }
    }

    fn arrived(mut self, q: usize, port: &DpPort) -> Reachability {
        let region = &self.pods[q].region;
        self.hops.push(format!("{region}: port {} on {}", port.id, port.host));
        Reachability {
            reachable: true,
            hops: self.hops,
            reason: None,
            dest_port: Some(port.id.clone()),
            dest_region: Some(region.clone()),
        }
    }

    /// L2 delivery of `ip` on network `net` as seen from pod `p`: a local port, or a shadow
    /// port whose tunnel endpoint hosts the real port in another pod.
    fn deliver(
        &mut self,
        p: usize,
        net: &DpNetwork,
        ip: IpAddr,
    ) -> Result<(usize, &'a DpPort), String> {
        let pod = &self.pods[p];
        let ip_s = ip.to_string();
        let local = pod
            .ports
            .iter()
            .find(|x| x.network_id == net.id && x.fixed_ips.iter().any(|f| f.ip_address == ip_s))
            .ok_or_else(|| {
                format!(
                    "{}: no port with {ip} on network {} (no local port and no shadow port)",
                    pod.region, net.id
                )
            })?;
        if !local.admin_state_up {
            return Err(format!("{}: port {} is administratively down", pod.region, local.id));
        }
        if !local.shadow {
            return Ok((p, local));
        }
        let tunnel = local.tunnel_ip.ok_or_else(|| {
            format!("{}: shadow port {} has no tunnel endpoint", pod.region, local.id)
        })?;
        self.hops.push(format!("{}: shadow port {} -> tunnel {tunnel}", pod.region, local.id));
        for (q, other) in self.pods.iter().enumerate() {
            if q == p {
                continue;
            }
            let Some(host) = other.hosts.iter().find(|h| h.tunnel_ip == tunnel) else { continue };
            let real = other.ports.iter().find(|x| {
                !x.shadow
                    && x.host == host.name
                    && x.fixed_ips.iter().any(|f| f.ip_address == ip_s)
                    && other.network(&x.network_id).is_some_and(|n| same_segment(n, net))
            });
            return match real {
                Some(r) => Ok((q, r)),
                None => Err(format!(
                    "{}: tunnel {tunnel} (host {}) has no port with {ip} on segment {:?}",
                    other.region, host.name, net.segmentation_id
                )),
            };
        }
        Err(format!("{}: tunnel endpoint {tunnel} belongs to no known host", pod.region))
    }

    /// [`Self::deliver`], as the end of the trace.
    fn deliver_last(mut self, p: usize, net: &DpNetwork, ip: IpAddr) -> Reachability {
        match self.deliver(p, net, ip) {
            Ok((q, port)) => self.arrived(q, port),
            Err(e) => self.fail(e),
        }
    }

    /// Router `router` of pod `p` forwards a packet to `to`, and so on until it arrives, leaves
    /// for the outside or stops.
    fn route(
        mut self,
        mut p: usize,
        mut router: &'a DpRouter,
        to: IpAddr,
        origin: Origin<'a>,
    ) -> Reachability {
        let pods = self.pods;
        loop {
            if self.budget == 0 {
                return self
                    .fail(format!("routing loop (more than {MAX_ROUTER_HOPS} router hops)"));
            }
            self.budget -= 1;
            let pod = &pods[p];
            self.hops.push(format!("{}: router {}", pod.region, router.id));
            if let Some(n) = connected(pod, router, to) {
                return self.deliver_last(p, n, to);
            }
            // Longest prefix between the extra routes and the gateway's external subnet (a
            // connected subnet too, preferred on a tie).
            let route = best_route(router, to);
            if let Some((len, gw, ext)) = on_gateway_network(pod, router, to)
                && route.is_none_or(|(l, _)| l <= len)
            {
                return self.external(p, router, gw, ext, to, origin);
            }
            let Some((_, route)) = route else {
                return self.leave(p, router, to, origin);
            };
            let Ok(hop) = route.nexthop.parse::<IpAddr>() else {
                return self.fail(format!("{}: bad next hop {}", pod.region, route.nexthop));
            };
            let Some(n) = connected(pod, router, hop) else {
                return self
                    .fail(format!("{}: next hop {hop} is not on a connected subnet", pod.region));
            };
            self.hops.push(format!("{}: route {} via {hop}", pod.region, route.destination));
            let (q, hop_port) = match self.deliver(p, n, hop) {
                Ok(x) => x,
                Err(e) => return self.fail(e),
            };
            let next = pods[q].routers.iter().find(|r| {
                r.id == hop_port.device_id && hop_port.device_owner == "network:router_interface"
            });
            let Some(next) = next else {
                return self.fail(format!(
                    "{}: next hop {hop} is port {} which is not a router interface",
                    pods[q].region, hop_port.id
                ));
            };
            p = q;
            router = next;
        }
    }

    /// How a packet from `origin` leaves through `router`'s gateway `gw` (the hop's note), or
    /// why it cannot: the outside could not answer an internal address.
    fn egress_nat(
        &self,
        p: usize,
        router: &DpRouter,
        gw: &DpGateway,
        origin: Origin<'a>,
    ) -> Result<String, String> {
        let Origin::Port(src) = origin else {
            // A packet from the outside going back out: its addresses are already public.
            return Ok("no SNAT".into());
        };
        let fip = self.pods[p].floating_ips.iter().find(|f| {
            f.router_id.as_deref() == Some(router.id.as_str())
                && src
                    .fixed_ips
                    .iter()
                    .any(|x| f.fixed_ip_address.as_deref() == Some(&x.ip_address))
        });
        if let Some(f) = fip {
            return Ok(format!("floating IP {}", f.floating_ip_address));
        }
        if gw.enable_snat {
            return Ok(format!("SNAT to {}", gw.interface.ip_address));
        }
        let src_ip = src.fixed_ips.first().map_or("the source", |f| f.ip_address.as_str());
        Err(format!(
            "{}: router {} has SNAT disabled and {src_ip} has no floating IP",
            self.pods[p].region, router.id
        ))
    }

    /// `to` is on the external network `ext` of `router`'s gateway `gw`: out through it, then
    /// L2 there, or into the router holding it when it is a floating IP (hairpin).
    fn external(
        mut self,
        p: usize,
        router: &DpRouter,
        gw: &DpGateway,
        ext: &DpNetwork,
        to: IpAddr,
        origin: Origin<'a>,
    ) -> Reachability {
        let pods = self.pods;
        let nat = match self.egress_nat(p, router, gw, origin) {
            Ok(n) => n,
            Err(e) => return self.fail(e),
        };
        self.hops.push(format!(
            "{}: router {} gateway {} -> external network {} ({nat})",
            pods[p].region, router.id, gw.interface.ip_address, ext.id
        ));
        let to_s = to.to_string();
        if let Some(fip) = pods[p].floating_ips.iter().find(|f| f.floating_ip_address == to_s) {
            return self.dnat(p, fip);
        }
        self.deliver_last(p, ext, to)
    }

    /// `router` has no connected subnet and no route for `to`: the outside world through its
    /// gateway, if it has one and the outside can answer.
    fn leave(
        mut self,
        p: usize,
        router: &DpRouter,
        to: IpAddr,
        origin: Origin<'a>,
    ) -> Reachability {
        let region = &self.pods[p].region;
        let Some(gw) = router.gateway.as_ref() else {
            return self.fail(format!("{region}: router {} has no route to {to}", router.id));
        };
        if let Origin::Outside = origin {
            // Came in through a floating IP: sending it back out reaches no one inside.
            return self.fail(format!("{region}: router {} has no route to {to}", router.id));
        }
        let nat = match self.egress_nat(p, router, gw, origin) {
            Ok(n) => n,
            Err(e) => return self.fail(e),
        };
        self.hops.push(format!(
            "{region}: router {} gateway {} -> outside ({nat})",
            router.id, gw.interface.ip_address
        ));
        Reachability {
            reachable: true,
            hops: self.hops,
            reason: None,
            dest_port: None,
            dest_region: None,
        }
    }

    /// A packet to floating IP `fip` of pod `p`: its router translates it to the fixed IP and
    /// routes it from there.
    fn dnat(mut self, p: usize, fip: &'a DpFloatingIp) -> Reachability {
        let pod = &self.pods[p];
        let (region, ip) = (&pod.region, &fip.floating_ip_address);
        let Some(fixed) = fip.fixed_ip_address.as_deref() else {
            return self.fail(format!("{region}: floating IP {ip} is not associated with a port"));
        };
        let Ok(fixed_ip) = fixed.parse::<IpAddr>() else {
            return self.fail(format!("{region}: floating IP {ip} maps to a bad address {fixed}"));
        };
        let Some(rid) = fip.router_id.as_deref() else {
            return self.fail(format!("{region}: floating IP {ip} has no router"));
        };
        let Some(router) = pod.routers.iter().find(|r| r.id == rid) else {
            return self.fail(format!("{region}: router {rid} of floating IP {ip} is missing"));
        };
        let Some(gw) = router.gateway.as_ref() else {
            return self.fail(format!(
                "{region}: router {rid} of floating IP {ip} has no external gateway"
            ));
        };
        let on_gw_net = pod.network(&gw.interface.network_id).is_some_and(|n| {
            ip.parse::<IpAddr>().is_ok_and(|a| n.subnets.iter().any(|s| ip_in(&s.cidr, a)))
        });
        if !on_gw_net {
            return self.fail(format!(
                "{region}: floating IP {ip} is not on the external network {} of router {rid}'s gateway",
                gw.interface.network_id
            ));
        }
        self.hops.push(format!("{region}: floating IP {ip} on router {rid} -> {fixed}"));
        self.route(p, router, fixed_ip, Origin::Outside)
    }
}

/// Whether a packet from port `from_port` (in any of `pods`) reaches `to`: on its own network,
/// through routers and their routes across pods, or out of a router's gateway ("outside", with
/// neither `dest_port` nor `dest_region`).
pub fn trace(pods: &[DataplaneView], from_port: &str, to: IpAddr) -> Reachability {
    let mut t = Tracer::new(pods);
    let Some((p, src)) = pods.iter().enumerate().find_map(|(i, pod)| {
        pod.ports.iter().find(|x| x.id == from_port && !x.shadow).map(|x| (i, x))
    }) else {
        return t.fail(format!("source port {from_port} not found in any pod"));
    };
    let region = &pods[p].region;
    if src.host.is_empty() {
        return t.fail(format!("{region}: source port {from_port} is not bound to a host"));
    }
    t.hops.push(format!("{region}: port {} on {}", src.id, src.host));
    let Some(net) = pods[p].network(&src.network_id) else {
        return t
            .fail(format!("{region}: network {} of the source port is missing", src.network_id));
    };
    // Same L2 segment.
    if net.subnets.iter().any(|s| ip_in(&s.cidr, to)) {
        return t.deliver_last(p, net, to);
    }
    // L3: the router owning the gateway of the source's subnet.
    let src_subnets: Vec<&str> = src.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
    let router = pods[p]
        .routers
        .iter()
        .find(|r| r.interfaces.iter().any(|i| src_subnets.contains(&i.subnet_id.as_str())));
    match router {
        Some(r) => t.route(p, r, to, Origin::Port(src)),
        None => t.fail(format!("{region}: no router on the source port's subnet")),
    }
}

/// Whether a packet from the outside world reaches `to`, a floating IP of one of `pods`: the
/// router holding it must have its gateway on the floating IP's external network, and route
/// the packet to the fixed IP (possibly over a shadow port into another pod).
pub fn trace_from_outside(pods: &[DataplaneView], to: IpAddr) -> Reachability {
    let t = Tracer::new(pods);
    let to_s = to.to_string();
    let found = pods.iter().enumerate().find_map(|(p, pod)| {
        pod.floating_ips.iter().find(|f| f.floating_ip_address == to_s).map(|f| (p, f))
    });
    match found {
        Some((p, fip)) => t.dnat(p, fip),
        None => t.fail(format!("no floating IP {to} in any region")),
    }
}
