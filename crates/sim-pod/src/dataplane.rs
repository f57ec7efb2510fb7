//! The dataplane view of a simulated pod (`GET /sim/dataplane`). The model and the tracer live
//! in `tricircle-dataplane`; this only builds a pod's view from its in-memory state.

use std::net::Ipv4Addr;

use tricircle_dataplane::{
    DataplaneView, DpFloatingIp, DpGateway, DpHost, DpInterface, DpNetwork, DpPort, DpRouter,
    DpSubnet, FixedIp, Route,
};

use crate::model::network::{self, Port};
use crate::pod::Pod;

fn fixed_ip(f: &network::FixedIp) -> FixedIp {
    FixedIp { subnet_id: f.subnet_id.clone(), ip_address: f.ip_address.clone() }
}

fn tunnel_of(pod: &Pod, p: &Port) -> Option<Ipv4Addr> {
    let from_profile =
        p.binding_profile.get("tunnel_ip").and_then(|v| v.as_str()).and_then(|s| s.parse().ok());
    from_profile.or_else(|| pod.host_tunnel_ip(&p.binding_host_id))
}

/// The dataplane of a simulated pod, from its in-memory state.
pub fn view_of(pod: &Pod) -> DataplaneView {
    let st = pod.read();
    let net = &st.network;
    let mut networks: Vec<DpNetwork> = net
        .networks
        .values()
        .map(|n| {
            let mut subnets: Vec<_> =
                net.subnets.values().filter(|s| s.network_id == n.id).collect();
            subnets.sort_by_key(|s| s.seq);
            DpNetwork {
                id: n.id.clone(),
                name: n.name.clone(),
                network_type: n.network_type.clone(),
                physical_network: n.physical_network.clone(),
                segmentation_id: n.segmentation_id,
                external: n.external,
                subnets: subnets
                    .iter()
                    .map(|s| DpSubnet {
                        id: s.id.clone(),
                        cidr: s.cidr.clone(),
                        gateway_ip: s.gateway_ip.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    networks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut ports: Vec<&Port> = net.ports.values().collect();
    ports.sort_by_key(|p| p.seq);
    let dp_ports: Vec<DpPort> = ports
        .iter()
        .map(|p| DpPort {
            id: p.id.clone(),
            network_id: p.network_id.clone(),
            mac_address: p.mac_address.clone(),
            fixed_ips: p.fixed_ips.iter().map(fixed_ip).collect(),
            host: p.binding_host_id.clone(),
            tunnel_ip: tunnel_of(pod, p),
            device_owner: p.device_owner.clone(),
            device_id: p.device_id.clone(),
            status: p.status.clone(),
            admin_state_up: p.admin_state_up,
            shadow: p.is_shadow(),
        })
        .collect();
    let iface = |p: &Port| -> Vec<DpInterface> {
        p.fixed_ips
            .iter()
            .map(|f| DpInterface {
                port_id: p.id.clone(),
                network_id: p.network_id.clone(),
                subnet_id: f.subnet_id.clone(),
                ip_address: f.ip_address.clone(),
            })
            .collect()
    };
    let routers = net
        .routers
        .values()
        .map(|r| DpRouter {
            id: r.id.clone(),
            name: r.name.clone(),
            interfaces: ports
                .iter()
                .filter(|p| p.device_id == r.id && p.device_owner == "network:router_interface")
                .flat_map(|p| iface(p))
                .collect(),
            gateway: r.gateway.as_ref().and_then(|g| {
                let interface = iface(net.ports.get(&g.port_id)?).into_iter().next()?;
                Some(DpGateway { interface, enable_snat: g.enable_snat })
            }),
            routes: r
                .routes
                .iter()
                .map(|x| Route { destination: x.destination.clone(), nexthop: x.nexthop.clone() })
                .collect(),
        })
        .collect();
    let floating_ips = net
        .floating_ips
        .values()
        .map(|f| DpFloatingIp {
            floating_ip_address: f.floating_ip_address.clone(),
            fixed_ip_address: f.fixed_ip_address.clone(),
            port_id: f.port_id.clone(),
            router_id: f.router_id.clone(),
        })
        .collect();
    DataplaneView {
        region: pod.region.clone(),
        hosts: pod
            .hosts
            .iter()
            .map(|h| DpHost { name: h.name.clone(), tunnel_ip: h.tunnel_ip })
            .collect(),
        networks,
        ports: dp_ports,
        routers,
        floating_ips,
    }
}
