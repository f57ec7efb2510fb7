//! The dataplane model: what each pod's virtual switches and routers would know, and a tracer
//! that decides whether a packet from a port reaches an IP, across pods.
//!
//! A pod's dataplane only knows what its own Neutron knows. A port on another pod is reachable
//! over L2 only if this pod has a *shadow port* for it (same IP, same segment, `binding:profile`
//! `tunnel_ip` or a host of this pod) and that tunnel endpoint really is the host of the real
//! port; that is exactly what Tricircle's shadow-port machinery must get right. L3 follows
//! router interfaces, then extra routes (longest prefix), hopping between pods where a next hop
//! is itself a shadow port. Security groups and NAT are not modelled: the question is
//! forwarding state, not policy.
//!
//! Nothing here knows where a view comes from: the simulated pod builds one from its memory,
//! the gateway from a pod's Neutron API as its admin.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// A compute host of a pod and its tunnel endpoint (what a remote pod's shadow port must point
/// at for VXLAN to reach it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpHost {
    pub name: String,
    pub tunnel_ip: Ipv4Addr,
}

/// An address of a port on a subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// An extra route of a router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpSubnet {
    pub id: String,
    pub cidr: String,
    pub gateway_ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpNetwork {
    pub id: String,
    pub name: String,
    pub network_type: String,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<u32>,
    pub external: bool,
    pub subnets: Vec<DpSubnet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpPort {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    /// `binding:host_id` (empty when unbound).
    pub host: String,
    /// The tunnel endpoint behind this port: its host's, or for a shadow port the one in its
    /// `binding:profile` (`tunnel_ip`).
    pub tunnel_ip: Option<Ipv4Addr>,
    pub device_owner: String,
    pub device_id: String,
    pub status: String,
    pub admin_state_up: bool,
    pub shadow: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpInterface {
    pub port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpRouter {
    pub id: String,
    pub name: String,
    pub interfaces: Vec<DpInterface>,
    pub gateway: Option<DpInterface>,
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpFloatingIp {
    pub floating_ip_address: String,
    pub fixed_ip_address: Option<String>,
    pub port_id: Option<String>,
    pub router_id: Option<String>,
}

/// One pod's dataplane: what its Neutron knows (the sim pod serves it as `GET /sim/dataplane`;
/// the gateway builds it from a pod's Neutron API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneView {
    pub region: String,
    pub hosts: Vec<DpHost>,
    pub networks: Vec<DpNetwork>,
    pub ports: Vec<DpPort>,
    pub routers: Vec<DpRouter>,
    pub floating_ips: Vec<DpFloatingIp>,
}

impl DataplaneView {
    /// The network `id` of this pod.
    pub fn network(&self, id: &str) -> Option<&DpNetwork> {
        self.networks.iter().find(|n| n.id == id)
    }
}

/// The verdict of [`trace`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    pub reachable: bool,
    /// What the packet went through, in order (`Pod1: port X`, `Pod1: router R`, ...).
    pub hops: Vec<String>,
    /// Why it stopped, when it did not arrive.
    pub reason: Option<String>,
    /// The port that owns the destination IP, and its region.
    pub dest_port: Option<String>,
    pub dest_region: Option<String>,
}

fn ip_in(cidr: &str, ip: IpAddr) -> bool {
    cidr.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&ip))
}

fn same_segment(a: &DpNetwork, b: &DpNetwork) -> bool {
    a.network_type == b.network_type
        && a.segmentation_id == b.segmentation_id
        && a.physical_network == b.physical_network
        && a.segmentation_id.is_some()
}

struct Tracer<'a> {
    pods: &'a [DataplaneView],
    hops: Vec<String>,
}

impl<'a> Tracer<'a> {
    fn fail(self, reason: String) -> Reachability {
        Reachability {
            reachable: false,
            hops: self.hops,
            reason: Some(reason),
            dest_port: None,
            dest_region: None,
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
}

/// Whether a packet from port `from_port` (in any of `pods`) reaches `to`.
pub fn trace(pods: &[DataplaneView], from_port: &str, to: IpAddr) -> Reachability {
    let mut t = Tracer { pods, hops: Vec::new() };
    let Some((p, src)) = pods.iter().enumerate().find_map(|(i, pod)| {
        pod.ports.iter().find(|x| x.id == from_port && !x.shadow).map(|x| (i, x))
    }) else {
        return t.fail(format!("source port {from_port} not found in any pod"));
    };
    if src.host.is_empty() {
        return t
            .fail(format!("{}: source port {from_port} is not bound to a host", pods[p].region));
    }
    t.hops.push(format!("{}: port {} on {}", pods[p].region, src.id, src.host));
    let Some(net) = pods[p].network(&src.network_id) else {
        return t.fail(format!(
            "{}: network {} of the source port is missing",
            pods[p].region, src.network_id
        ));
    };
    let done = |mut t: Tracer, q: usize, port: &DpPort| {
        t.hops.push(format!("{}: port {} on {}", pods[q].region, port.id, port.host));
        Reachability {
            reachable: true,
            hops: t.hops,
            reason: None,
            dest_port: Some(port.id.clone()),
            dest_region: Some(pods[q].region.clone()),
        }
    };
    // Same L2 segment.
    if net.subnets.iter().any(|s| ip_in(&s.cidr, to)) {
        return match t.deliver(p, net, to) {
            Ok((q, port)) => done(t, q, port),
            Err(e) => t.fail(e),
        };
    }
    // L3: the router owning the gateway of the source's subnet.
    let src_subnets: Vec<&str> = src.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
    let mut pod_i = p;
    let mut router = match pods[p]
        .routers
        .iter()
        .find(|r| r.interfaces.iter().any(|i| src_subnets.contains(&i.subnet_id.as_str())))
    {
        Some(r) => r,
        None => {
            return t.fail(format!("{}: no router on the source port's subnet", pods[p].region));
        }
    };
    for _ in 0..16 {
        let pod = &pods[pod_i];
        t.hops.push(format!("{}: router {}", pod.region, router.id));
        // Directly connected?
        if let Some(i) = router.interfaces.iter().find(|i| {
            pod.network(&i.network_id).is_some_and(|n| {
                n.subnets.iter().any(|s| s.id == i.subnet_id && ip_in(&s.cidr, to))
            })
        }) {
            let Some(n) = pod.network(&i.network_id) else { break };
            return match t.deliver(pod_i, n, to) {
                Ok((q, port)) => done(t, q, port),
                Err(e) => t.fail(e),
            };
        }
        // Longest-prefix extra route.
        let best = router
            .routes
            .iter()
            .filter_map(|r| {
                r.destination
                    .parse::<ipnet::IpNet>()
                    .ok()
                    .filter(|n| n.contains(&to))
                    .map(|n| (n.prefix_len(), r))
            })
            .max_by_key(|(l, _)| *l)
            .map(|(_, r)| r);
        let Some(route) = best else {
            return t.fail(format!("{}: router {} has no route to {to}", pod.region, router.id));
        };
        let Ok(hop) = route.nexthop.parse::<IpAddr>() else {
            return t.fail(format!("{}: bad next hop {}", pod.region, route.nexthop));
        };
        let Some(i) = router.interfaces.iter().find(|i| {
            pod.network(&i.network_id).is_some_and(|n| {
                n.subnets.iter().any(|s| s.id == i.subnet_id && ip_in(&s.cidr, hop))
            })
        }) else {
            return t.fail(format!("{}: next hop {hop} is not on a connected subnet", pod.region));
        };
        let Some(n) = pod.network(&i.network_id) else { break };
        t.hops.push(format!("{}: route {} via {hop}", pod.region, route.destination));
        let (q, hop_port) = match t.deliver(pod_i, n, hop) {
            Ok(x) => x,
            Err(e) => return t.fail(e),
        };
        let Some(next) = pods[q].routers.iter().find(|r| {
            r.id == hop_port.device_id && hop_port.device_owner == "network:router_interface"
        }) else {
            return t.fail(format!(
                "{}: next hop {hop} is port {} which is not a router interface",
                pods[q].region, hop_port.id
            ));
        };
        pod_i = q;
        router = next;
    }
    t.fail("routing loop (more than 16 router hops)".into())
}
