//! North-south tracing over hand-built views: out of a router's gateway with SNAT or a
//! floating IP, onto the external subnet, and in from the outside through a floating IP to a
//! local port or, over a shadow port, to a port in another pod.
//!
//! Two pods share VXLAN segment 100 (10.1.0.0/24). Pod1 has `vm1` (10.1.0.5, floating IP
//! 172.24.4.20), `vm3` (10.1.0.6, none), a shadow of Pod2's `vm2` (10.1.0.7, floating IP
//! 172.24.4.21), router `r1` on the segment with its gateway 172.24.4.10 on `ext`, and a host
//! `ext-host` on the external subnet (172.24.4.99).

use std::net::{IpAddr, Ipv4Addr};

use tricircle_dataplane::{
    DataplaneView, DpFloatingIp, DpGateway, DpHost, DpInterface, DpNetwork, DpPort, DpRouter,
    DpSubnet, FixedIp, Reachability, Route, trace, trace_from_outside,
};

const T1: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const T2: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(id: &str, cidr: &str, external: bool) -> DpNetwork {
    let (network_type, physical_network, segmentation_id) = if external {
        ("flat", Some("public".to_string()), None)
    } else {
        ("vxlan", None, Some(100))
    };
    DpNetwork {
        id: id.into(),
        name: id.into(),
        network_type: network_type.into(),
        physical_network,
        segmentation_id,
        external,
        subnets: vec![DpSubnet { id: format!("{id}-sub"), cidr: cidr.into(), gateway_ip: None }],
    }
}

fn port(id: &str, net: &str, addr: &str, host: &str, owner: &str, device: &str) -> DpPort {
    DpPort {
        id: id.into(),
        network_id: net.into(),
        mac_address: "fa:16:3e:00:00:01".into(),
        fixed_ips: vec![FixedIp { subnet_id: format!("{net}-sub"), ip_address: addr.into() }],
        host: host.into(),
        tunnel_ip: (host == "h1").then_some(T1),
        device_owner: owner.into(),
        device_id: device.into(),
        status: "ACTIVE".into(),
        admin_state_up: true,
        shadow: false,
    }
}

fn iface(port: &str, net: &str, addr: &str) -> DpInterface {
    DpInterface {
        port_id: port.into(),
        network_id: net.into(),
        subnet_id: format!("{net}-sub"),
        ip_address: addr.into(),
    }
}

fn fip(addr: &str, fixed: Option<&str>, router: Option<&str>) -> DpFloatingIp {
    DpFloatingIp {
        floating_ip_address: addr.into(),
        fixed_ip_address: fixed.map(str::to_string),
        port_id: None,
        router_id: router.map(str::to_string),
    }
}

fn world() -> Vec<DataplaneView> {
    let mut shadow = port("sh-vm2", "n1", "10.1.0.7", "", "compute:shadow", "");
    shadow.shadow = true;
    shadow.tunnel_ip = Some(T2);
    let pod1 = DataplaneView {
        region: "Pod1".into(),
        hosts: vec![DpHost { name: "h1".into(), tunnel_ip: T1 }],
        networks: vec![net("n1", "10.1.0.0/24", false), net("ext", "172.24.4.0/24", true)],
        ports: vec![
            port("vm1", "n1", "10.1.0.5", "h1", "compute:nova", "s1"),
            port("vm3", "n1", "10.1.0.6", "h1", "compute:nova", "s3"),
            shadow,
            port("r1-if", "n1", "10.1.0.1", "h1", "network:router_interface", "r1"),
            port("r1-gw", "ext", "172.24.4.10", "h1", "network:router_gateway", "r1"),
            port("ext-host", "ext", "172.24.4.99", "h1", "compute:nova", "s9"),
            port("fip1", "ext", "172.24.4.20", "", "network:floatingip", "f1"),
            port("fip2", "ext", "172.24.4.21", "", "network:floatingip", "f2"),
        ],
        routers: vec![DpRouter {
            id: "r1".into(),
            name: "r1".into(),
            interfaces: vec![iface("r1-if", "n1", "10.1.0.1")],
            gateway: Some(DpGateway {
                interface: iface("r1-gw", "ext", "172.24.4.10"),
                enable_snat: true,
            }),
            routes: vec![],
        }],
        floating_ips: vec![
            fip("172.24.4.20", Some("10.1.0.5"), Some("r1")),
            fip("172.24.4.21", Some("10.1.0.7"), Some("r1")),
        ],
    };
    let mut vm2 = port("vm2", "n1b", "10.1.0.7", "h2", "compute:nova", "s2");
    vm2.tunnel_ip = Some(T2);
    let pod2 = DataplaneView {
        region: "Pod2".into(),
        hosts: vec![DpHost { name: "h2".into(), tunnel_ip: T2 }],
        networks: vec![net("n1b", "10.1.0.0/24", false)],
        ports: vec![vm2],
        routers: vec![],
        floating_ips: vec![],
    };
    vec![pod1, pod2]
}

fn r1(pods: &mut [DataplaneView]) -> &mut DpRouter {
    &mut pods[0].routers[0]
}

fn reason(r: &Reachability) -> &str {
    assert!(!r.reachable, "{r:?}");
    assert_eq!((&r.dest_port, &r.dest_region), (&None, &None), "{r:?}");
    r.reason.as_deref().unwrap()
}

#[test]
fn out_of_the_gateway_with_snat() {
    let pods = world();
    let r = trace(&pods, "vm3", ip("8.8.8.8"));
    assert!(r.reachable, "{r:?}");
    assert_eq!((r.dest_port, r.dest_region, r.reason), (None, None, None));
    assert_eq!(
        r.hops,
        [
            "Pod1: port vm3 on h1",
            "Pod1: router r1",
            "Pod1: router r1 gateway 172.24.4.10 -> outside (SNAT to 172.24.4.10)"
        ]
    );
    // A source with a floating IP on the router leaves with it, not with the gateway's address.
    let r = trace(&pods, "vm1", ip("8.8.8.8"));
    assert!(r.reachable, "{r:?}");
    assert!(r.hops.last().unwrap().ends_with("-> outside (floating IP 172.24.4.20)"), "{r:?}");
}

#[test]
fn with_snat_disabled_only_a_floating_ip_gets_out() {
    let mut pods = world();
    r1(&mut pods).gateway.as_mut().unwrap().enable_snat = false;
    let r = trace(&pods, "vm3", ip("8.8.8.8"));
    assert_eq!(reason(&r), "Pod1: router r1 has SNAT disabled and 10.1.0.6 has no floating IP");
    let r = trace(&pods, "vm1", ip("8.8.8.8"));
    assert!(r.reachable, "{r:?}");
    assert!(r.hops.last().unwrap().contains("floating IP 172.24.4.20"), "{r:?}");
    // The external subnet is outside too: the same rule.
    let r = trace(&pods, "vm3", ip("172.24.4.99"));
    assert!(reason(&r).contains("SNAT disabled"), "{r:?}");
}

#[test]
fn without_a_gateway_there_is_no_route() {
    let mut pods = world();
    r1(&mut pods).gateway = None;
    let r = trace(&pods, "vm1", ip("8.8.8.8"));
    assert_eq!(reason(&r), "Pod1: router r1 has no route to 8.8.8.8");
    let r = trace(&pods, "vm1", ip("172.24.4.99"));
    assert_eq!(reason(&r), "Pod1: router r1 has no route to 172.24.4.99");
}

#[test]
fn the_external_subnet_is_delivered_on_l2() {
    let pods = world();
    let r = trace(&pods, "vm3", ip("172.24.4.99"));
    assert!(r.reachable, "{r:?}");
    assert_eq!(r.dest_port.as_deref(), Some("ext-host"));
    assert_eq!(r.dest_region.as_deref(), Some("Pod1"));
    assert_eq!(
        r.hops[2],
        "Pod1: router r1 gateway 172.24.4.10 -> external network ext (SNAT to 172.24.4.10)"
    );
    let r = trace(&pods, "vm3", ip("172.24.4.98"));
    assert!(reason(&r).contains("no port with 172.24.4.98 on network ext"), "{r:?}");
    // A floating IP there is translated by the router holding it (hairpin), even when its
    // port is in another pod.
    let r = trace(&pods, "vm3", ip("172.24.4.21"));
    assert!(r.reachable, "{r:?}");
    assert_eq!((r.dest_port.as_deref(), r.dest_region.as_deref()), (Some("vm2"), Some("Pod2")));
    assert!(r.hops.iter().any(|h| h == "Pod1: floating IP 172.24.4.21 on router r1 -> 10.1.0.7"));
}

#[test]
fn an_extra_route_beats_the_gateway_but_not_the_external_subnet() {
    let mut pods = world();
    // r2 sits on the same segment with no gateway; r1's default route points at it.
    pods[0].ports.push(port("r2-if", "n1", "10.1.0.254", "h1", "network:router_interface", "r2"));
    pods[0].routers.push(DpRouter {
        id: "r2".into(),
        name: "r2".into(),
        interfaces: vec![iface("r2-if", "n1", "10.1.0.254")],
        gateway: None,
        routes: vec![],
    });
    r1(&mut pods).routes =
        vec![Route { destination: "0.0.0.0/0".into(), nexthop: "10.1.0.254".into() }];
    let r = trace(&pods, "vm3", ip("8.8.8.8"));
    assert_eq!(reason(&r), "Pod1: router r2 has no route to 8.8.8.8");
    assert!(r.hops.contains(&"Pod1: route 0.0.0.0/0 via 10.1.0.254".to_string()), "{r:?}");
    let r = trace(&pods, "vm3", ip("172.24.4.99"));
    assert_eq!(r.dest_port.as_deref(), Some("ext-host"), "{r:?}");
}

#[test]
fn from_outside_to_a_floating_ip_of_a_local_port() {
    let pods = world();
    let r = trace_from_outside(&pods, ip("172.24.4.20"));
    assert!(r.reachable, "{r:?}");
    assert_eq!((r.dest_port.as_deref(), r.dest_region.as_deref()), (Some("vm1"), Some("Pod1")));
    assert_eq!(
        r.hops,
        [
            "Pod1: floating IP 172.24.4.20 on router r1 -> 10.1.0.5",
            "Pod1: router r1",
            "Pod1: port vm1 on h1"
        ]
    );
}

#[test]
fn from_outside_to_a_floating_ip_of_a_port_in_another_pod() {
    let pods = world();
    let r = trace_from_outside(&pods, ip("172.24.4.21"));
    assert!(r.reachable, "{r:?}");
    assert_eq!((r.dest_port.as_deref(), r.dest_region.as_deref()), (Some("vm2"), Some("Pod2")));
    assert_eq!(r.hops[2], format!("Pod1: shadow port sh-vm2 -> tunnel {T2}"));
    assert_eq!(r.hops[3], "Pod2: port vm2 on h2");
    // Without the shadow port Pod1 does not know where 10.1.0.7 is.
    let mut pods = world();
    pods[0].ports.retain(|p| p.id != "sh-vm2");
    let r = trace_from_outside(&pods, ip("172.24.4.21"));
    assert!(reason(&r).contains("Pod1: no port with 10.1.0.7 on network n1"), "{r:?}");
}

#[test]
fn from_outside_names_the_missing_piece() {
    let pods = world();
    let r = trace_from_outside(&pods, ip("172.24.4.77"));
    assert_eq!(reason(&r), "no floating IP 172.24.4.77 in any region");
    assert!(r.hops.is_empty());

    let mut pods = world();
    pods[0].floating_ips[0].fixed_ip_address = None;
    let r = trace_from_outside(&pods, ip("172.24.4.20"));
    assert_eq!(reason(&r), "Pod1: floating IP 172.24.4.20 is not associated with a port");

    let mut pods = world();
    pods[0].floating_ips[0].router_id = Some("r9".into());
    let r = trace_from_outside(&pods, ip("172.24.4.20"));
    assert_eq!(reason(&r), "Pod1: router r9 of floating IP 172.24.4.20 is missing");

    let mut pods = world();
    r1(&mut pods).gateway = None;
    let r = trace_from_outside(&pods, ip("172.24.4.20"));
    assert_eq!(reason(&r), "Pod1: router r1 of floating IP 172.24.4.20 has no external gateway");

    let mut pods = world();
    pods[0].floating_ips[0].floating_ip_address = "198.51.100.7".into();
    let r = trace_from_outside(&pods, ip("198.51.100.7"));
    assert!(reason(&r).contains("not on the external network ext of router r1"), "{r:?}");

    // The router holding it is not connected to the fixed IP's subnet.
    let mut pods = world();
    pods[0].floating_ips[0].fixed_ip_address = Some("10.9.0.5".into());
    let r = trace_from_outside(&pods, ip("172.24.4.20"));
    assert_eq!(reason(&r), "Pod1: router r1 has no route to 10.9.0.5");

    let mut pods = world();
    pods[0].ports.iter_mut().find(|p| p.id == "vm1").unwrap().admin_state_up = false;
    let r = trace_from_outside(&pods, ip("172.24.4.20"));
    assert_eq!(reason(&r), "Pod1: port vm1 is administratively down");
}

#[test]
fn a_gateway_without_enable_snat_in_json_defaults_to_snat() {
    let gw: DpGateway = serde_json::from_value(serde_json::json!({
        "port_id": "p", "network_id": "n", "subnet_id": "s", "ip_address": "172.24.4.2"
    }))
    .unwrap();
    assert!(gw.enable_snat);
    assert_eq!(gw.interface.ip_address, "172.24.4.2");
}
