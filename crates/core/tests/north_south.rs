//! North-south across pods: the external network lives in Pod1 (its
//! availability zone hint); a server in Pod2 reaches the outside through
//! its router's copy in Pod1, and its floating IP, made in Pod1 on a shadow
//! of its port, is reachable from the outside.

mod common;

use common::{World, objects, world};
use serde_json::{Value, json};

fn counts(w: &World) -> Vec<usize> {
    (0..w.pods.len())
        .flat_map(|i| {
            let st = w.pod_state(i);
            ["networks", "subnets", "ports", "routers", "floating_ips"]
                .map(|k| objects(&st, "network", k).len())
        })
        .collect()
}

fn ip(p: &Value) -> String {
    p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

fn router_copy(w: &World, pod: usize, top: &str) -> Value {
    let routers = objects(&w.pod_state(pod), "network", "routers");
    routers.into_iter().find(|r| r["name"] == top).unwrap_or_else(|| panic!("no copy in pod {pod}"))
}

fn from_outside(w: &World, to: &str) -> tricircle_sim_pod::Reachability {
    let views: Vec<_> = w.pods.iter().map(|p| p.control().dataplane()).collect();
    tricircle_sim_pod::trace_from_outside(&views, to.parse().unwrap())
}

#[tokio::test]
async fn a_server_without_the_external_network_goes_out_and_is_reached_by_its_floating_ip() {
    let w = world(2).await;
    let baseline = counts(&w);
    // The operator's external network, in az1 (Pod1).
    let body = json!({"network": {"name": "public", "router:external": true,
        "availability_zone_hints": ["az1"]}});
    let public =
        w.app.network_create(&w.admin, &body).await.unwrap()["id"].as_str().unwrap().to_string();
    let body = json!({"subnet": {"network_id": public, "cidr": "203.0.113.0/24",
        "ip_version": 4, "enable_dhcp": false}});
    w.app.subnet_create(&w.admin, &body).await.unwrap();

    // The tenant: a network, a router with a gateway, a server in Pod2.
    let (blue, blue_sub) = w.network("blue", "10.70.1.0/24").await;
    let body = json!({"router": {"name": "r", "external_gateway_info": {"network_id": public}}});
    let r = w.app.router_create(&w.demo, &body).await.unwrap();
    let r = r["id"].as_str().unwrap().to_string();
    w.app.router_add_interface(&w.demo, &r, &json!({"subnet_id": blue_sub})).await.unwrap();
    let a = w.create(w.with_networks("a", "az2", json!([{"uuid": blue}]))).await.unwrap();
    let pa = w.port_of(&a).await;
    let ba = w.bottom_port(pa["id"].as_str().unwrap()).await;

    // Pod1's copy holds the gateway at the top's address; Pod2's sends what
    // it has no route for to Pod1's copy over the bridge.
    let r1 = router_copy(&w, 0, &r);
    let gw = &r1["gateway"];
    assert!(gw.is_object(), "Pod1's copy has the gateway: {r1}");
    let top = w.app.router_show(&w.admin, &r).await.unwrap();
    let top_gw_ip = top["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].clone();
    let pod1_ports = objects(&w.pod_state(0), "network", "ports");
    let gw_port = pod1_ports.iter().find(|p| p["id"] == gw["port_id"]).expect("gateway port");
    assert_eq!(gw_port["fixed_ips"][0]["ip_address"], top_gw_ip, "the top's address");
    let r2 = router_copy(&w, 1, &r);
    assert!(!r2["gateway"].is_object(), "only Pod1's copy has it: {r2}");
    let default: Vec<&Value> = r2["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["destination"] == "0.0.0.0/0")
        .collect();
    assert_eq!(default.len(), 1, "{r2}");

    // Out: through Pod2's copy, the bridge, Pod1's copy and its gateway.
    let out = w.trace(&ba, "198.51.100.7");
    assert!(out.reachable, "{out:?}");
    assert!(out.hops.iter().any(|h| h.starts_with("Pod1") && h.contains("outside")), "{out:?}");

    // A floating IP for the server: made in Pod1, on a shadow of its port.
    let body = json!({"floatingip": {"floating_network_id": public, "port_id": pa["id"]}});
    let fip = w.app.floating_ip_create(&w.demo, &body).await.unwrap();
    let fip_id = fip["id"].as_str().unwrap().to_string();
    let address = fip["floating_ip_address"].as_str().unwrap().to_string();
    let pod1 = w.pod_state(0);
    let copies = objects(&pod1, "network", "floating_ips");
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0]["floating_ip_address"], address.as_str());
    assert_eq!(copies[0]["fixed_ip_address"], ip(&pa).as_str());
    let ports = objects(&pod1, "network", "ports");
    let target = ports.iter().find(|p| p["id"] == copies[0]["port_id"]).expect("its port");
    assert_eq!(target["device_owner"], "compute:shadow", "the shadow of a's port: {target}");
    let inbound = from_outside(&w, &address);
    assert!(inbound.reachable, "{inbound:?}");
    assert_eq!(inbound.dest_port.as_deref(), Some(ba.as_str()));
    assert_eq!(inbound.dest_region.as_deref(), Some("Pod2"));

    // Disassociated: Pod1's floating IP goes, the outside no longer gets in.
    let body = json!({"floatingip": {"port_id": null}});
    w.app.floating_ip_update(&w.demo, &fip_id, &body).await.unwrap();
    assert!(objects(&w.pod_state(0), "network", "floating_ips").is_empty());
    assert!(!from_outside(&w, &address).reachable);
    // Associated again, then the server goes: so does the mapping.
    let body = json!({"floatingip": {"port_id": pa["id"]}});
    w.app.floating_ip_update(&w.demo, &fip_id, &body).await.unwrap();
    assert!(from_outside(&w, &address).reachable);

    // Everything deleted: the pods are as they were.
    w.app.server_delete(&w.demo, &a).await.unwrap();
    assert!(!from_outside(&w, &address).reachable);
    w.app.floating_ip_delete(&w.demo, &fip_id).await.unwrap();
    w.app.router_remove_interface(&w.demo, &r, &json!({"subnet_id": blue_sub})).await.unwrap();
    w.app.router_delete(&w.demo, &r).await.unwrap();
    w.app.network_delete(&w.demo, &blue).await.unwrap();
    w.app.network_delete(&w.admin, &public).await.unwrap();
    assert_eq!(counts(&w), baseline, "pods as they were before");
    for kind in ["network", "subnet", "port", "router", "shadow_port", "floatingip"] {
        assert_eq!(w.routings(kind).await, [], "{kind} routings left");
    }
}
