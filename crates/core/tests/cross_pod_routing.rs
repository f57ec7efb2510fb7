//! Routing between pods: a router whose networks live in different pods
//! has a copy in each, joined over the project's bridge network; each copy
//! routes the subnets only the others hold to their bridge addresses, and
//! the dataplane of the pods (not the top's intent) carries the packets.

mod common;

use common::{World, ctx, objects, world};
use serde_json::{Value, json};

fn counts(w: &World) -> Vec<usize> {
    (0..w.pods.len())
        .flat_map(|i| {
            let st = w.pod_state(i);
            ["networks", "subnets", "ports", "routers"].map(|k| objects(&st, "network", k).len())
        })
        .collect()
}

fn ip(p: &Value) -> String {
    p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

/// The pod's copy of a top router.
fn router_copy(w: &World, pod: usize, top: &str) -> Value {
    let routers = objects(&w.pod_state(pod), "network", "routers");
    routers.into_iter().find(|r| r["name"] == top).unwrap_or_else(|| panic!("no copy in pod {pod}"))
}

async fn router_on(w: &World, c: &tricircle_common::RequestContext, subnets: &[&str]) -> String {
    let r = w.app.router_create(c, &json!({"router": {"name": "r"}})).await.unwrap();
    let r = r["id"].as_str().unwrap().to_string();
    for s in subnets {
        w.app.router_add_interface(c, &r, &json!({"subnet_id": s})).await.unwrap();
    }
    r
}

#[tokio::test]
async fn a_router_joins_networks_of_two_pods_and_an_interface_cuts_exactly_its_path() {
    let w = world(2).await;
    let baseline = counts(&w);
    let (blue, blue_sub) = w.network("blue", "10.61.1.0/24").await;
    let (red, red_sub) = w.network("red", "10.61.2.0/24").await;
    let (green, green_sub) = w.network("green", "10.61.3.0/24").await;
    let r = router_on(&w, &w.demo, &[&blue_sub, &red_sub, &green_sub]).await;
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": blue}]))).await.unwrap();
    let b = w.create(w.with_networks("b", "az2", json!([{"uuid": red}]))).await.unwrap();
    let c = w.create(w.with_networks("c", "az2", json!([{"uuid": green}]))).await.unwrap();
    let (pa, pb, pc) = (w.port_of(&a).await, w.port_of(&b).await, w.port_of(&c).await);
    let ba = w.bottom_port(pa["id"].as_str().unwrap()).await;
    let bb = w.bottom_port(pb["id"].as_str().unwrap()).await;

    // Both ways, through a router copy in each pod and the bridge.
    let there = w.trace(&ba, &ip(&pb));
    assert!(there.reachable, "{there:?}");
    assert_eq!(there.dest_region.as_deref(), Some("Pod2"));
    let routers_hit = there.hops.iter().filter(|h| h.contains("router")).count();
    assert_eq!(routers_hit, 2, "one router copy per pod: {there:?}");
    let back = w.trace(&bb, &ip(&pa));
    assert!(back.reachable, "{back:?}");
    assert!(w.trace(&ba, &ip(&pc)).reachable);

    // The copies carry the routes: Pod1's sends red and green to Pod2's
    // bridge address, Pod2's sends blue to Pod1's.
    let (r1, r2) = (router_copy(&w, 0, &r), router_copy(&w, 1, &r));
    let routes = |r: &Value| -> Vec<(String, String)> {
        let mut v: Vec<_> = r["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (x["destination"].as_str().unwrap().into(), x["nexthop"].as_str().unwrap().into())
            })
            .collect();
        v.sort();
        v
    };
    let bridge_ip = |pod: usize| -> String {
        let ports = objects(&w.pod_state(pod), "network", "ports");
        let bridge = ports
            .iter()
            .find(|p| {
                p["device_owner"] == "network:router_interface"
                    && p["fixed_ips"][0]["ip_address"].as_str().unwrap().starts_with("100.64.")
            })
            .unwrap_or_else(|| panic!("no bridge interface in pod {pod}: {ports:?}"));
        ip(bridge)
    };
    let (b1, b2) = (bridge_ip(0), bridge_ip(1));
    assert_ne!(b1, b2, "one address per copy, from the central IPAM");
    assert_eq!(
        routes(&r1),
        vec![("10.61.2.0/24".into(), b2.clone()), ("10.61.3.0/24".into(), b2.clone())]
    );
    assert_eq!(routes(&r2), vec![("10.61.1.0/24".into(), b1.clone())]);

    // The bridge network is the gateway's: the project does not see it.
    let q = tricircle_core::networking::listing::ListQuery::default();
    let mine = w.app.network_list(&w.demo, &q, "u").await.unwrap();
    let names: Vec<&str> =
        mine["networks"].as_array().unwrap().iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let all = w.app.network_list(&w.admin, &q, "u").await.unwrap();
    assert!(
        all["networks"].as_array().unwrap().iter().any(|n| n["name"] == "bridge-demo-project"),
        "admins see it: {all}"
    );
    // Subnets overlapping the bridge range cannot join a router.
    let (_, odd_sub) = w.network("odd", "100.64.5.0/24").await;
    let e =
        w.app.router_add_interface(&w.demo, &r, &json!({"subnet_id": odd_sub})).await.unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(e.external_message().contains("bridge_cidr"), "{e}");

    // Removing red's interface cuts a-b, and only that: a still reaches c.
    w.app.router_remove_interface(&w.demo, &r, &json!({"subnet_id": red_sub})).await.unwrap();
    let cut = w.trace(&ba, &ip(&pb));
    assert!(!cut.reachable, "{cut:?}");
    assert!(w.trace(&ba, &ip(&pc)).reachable, "green's path stays");
    assert_eq!(routes(&router_copy(&w, 0, &r)), vec![("10.61.3.0/24".into(), b2.clone())]);

    // Everything deleted: the pods are as they were, the bridge is gone.
    for s in [&a, &b, &c] {
        w.app.server_delete(&w.demo, s).await.unwrap();
    }
    for s in [&blue_sub, &green_sub] {
        w.app.router_remove_interface(&w.demo, &r, &json!({"subnet_id": s})).await.unwrap();
    }
    w.app.router_delete(&w.demo, &r).await.unwrap();
    for n in [&blue, &red, &green] {
        w.app.network_delete(&w.demo, n).await.unwrap();
    }
    let odd = w.app.network_list(&w.demo, &q, "u").await.unwrap()["networks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.app.network_delete(&w.demo, &odd).await.unwrap();
    assert_eq!(counts(&w), baseline, "pods as they were before");
    for kind in ["network", "subnet", "port", "router", "shadow_port"] {
        assert_eq!(w.routings(kind).await, [], "{kind} routings left");
    }
    let all = w.app.network_list(&w.admin, &q, "u").await.unwrap();
    assert_eq!(all["networks"].as_array().unwrap().len(), 0, "{all}");
}

#[tokio::test]
async fn a_router_copy_leaves_a_pod_when_its_last_server_there_goes() {
    let w = world(2).await;
    let baseline = counts(&w);
    let (blue, blue_sub) = w.network("blue", "10.62.1.0/24").await;
    let (red, red_sub) = w.network("red", "10.62.2.0/24").await;
    let r = router_on(&w, &w.demo, &[&blue_sub, &red_sub]).await;
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": blue}]))).await.unwrap();
    let b = w.create(w.with_networks("b", "az2", json!([{"uuid": red}]))).await.unwrap();
    assert_eq!(w.routings("router").await.len(), 2);

    // b goes: Pod2 holds nothing of the router any more, Pod1's copy has
    // no route left and no bridge port.
    w.app.server_delete(&w.demo, &b).await.unwrap();
    let routers = w.routings("router").await;
    assert_eq!(routers.len(), 1, "{routers:?}");
    assert!(objects(&w.pod_state(1), "network", "routers").is_empty());
    let r1 = router_copy(&w, 0, &r);
    assert_eq!(r1["routes"], json!([]), "{r1}");
    let ports = objects(&w.pod_state(0), "network", "ports");
    assert!(
        ports.iter().all(|p| !ip(p).starts_with("100.64.")),
        "no bridge port left in Pod1: {ports:?}"
    );

    w.app.server_delete(&w.demo, &a).await.unwrap();
    for s in [&blue_sub, &red_sub] {
        w.app.router_remove_interface(&w.demo, &r, &json!({"subnet_id": s})).await.unwrap();
    }
    w.app.router_delete(&w.demo, &r).await.unwrap();
    for n in [&blue, &red] {
        w.app.network_delete(&w.demo, n).await.unwrap();
    }
    assert_eq!(counts(&w), baseline);
}

#[tokio::test]
async fn another_projects_twin_networks_reach_neither_way() {
    let w = world(2).await;
    let (blue, blue_sub) = w.network("blue", "10.63.1.0/24").await;
    let (red, red_sub) = w.network("red", "10.63.2.0/24").await;
    router_on(&w, &w.demo, &[&blue_sub, &red_sub]).await;
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": blue}]))).await.unwrap();
    let b = w.create(w.with_networks("b", "az2", json!([{"uuid": red}]))).await.unwrap();
    let (pa, pb) = (w.port_of(&a).await, w.port_of(&b).await);

    // Project 2: the same CIDRs, the same addresses, its own router.
    let other = ctx("u2", "other-project", &["member"]);
    let mut theirs = Vec::new();
    for (name, cidr) in [("blue", "10.63.1.0/24"), ("red", "10.63.2.0/24")] {
        let n = w.app.network_create(&other, &json!({"network": {"name": name}})).await.unwrap();
        let n = n["id"].as_str().unwrap().to_string();
        let body = json!({"subnet": {"network_id": n, "cidr": cidr, "ip_version": 4}});
        let s = w.app.subnet_create(&other, &body).await.unwrap();
        theirs.push((n, s["id"].as_str().unwrap().to_string()));
    }
    router_on(&w, &other, &[&theirs[0].1, &theirs[1].1]).await;
    let mut twin_ports = Vec::new();
    for ((net, _), (az, mirror)) in theirs.iter().zip([("az2", &pa), ("az1", &pb)]) {
        let mut spec = w.with_networks("t", az, json!([{"uuid": net, "fixed_ip": ip(mirror)}]));
        spec.image_ref = Some(w.image.clone());
        let s =
            w.app.server_create(&other, spec).await.unwrap().0["id"].as_str().unwrap().to_string();
        let q = tricircle_core::networking::listing::ListQuery::default();
        let ports = w.app.port_list(&other, &q, "u").await.unwrap();
        let p = ports["ports"].as_array().unwrap().iter().find(|p| p["device_id"] == s).cloned();
        twin_ports.push(w.bottom_port(p.unwrap()["id"].as_str().unwrap()).await);
    }
    let (ba, bb) = (
        w.bottom_port(pa["id"].as_str().unwrap()).await,
        w.bottom_port(pb["id"].as_str().unwrap()).await,
    );
    // Each project reaches its own twin address, never the other's port.
    let mine = w.trace(&ba, &ip(&pb));
    assert_eq!(mine.dest_port.as_deref(), Some(bb.as_str()), "{mine:?}");
    let theirs_to_b = w.trace(&twin_ports[0], &ip(&pb));
    assert!(theirs_to_b.reachable, "their own copy of the address: {theirs_to_b:?}");
    assert_eq!(theirs_to_b.dest_port.as_deref(), Some(twin_ports[1].as_str()));
    for (from, to) in [(&twin_ports[0], &bb), (&twin_ports[1], &ba)] {
        for target in [ip(&pa), ip(&pb)] {
            let t = w.trace(from, &target);
            assert_ne!(t.dest_port.as_deref(), Some(to.as_str()), "crossed projects: {t:?}");
            assert_ne!(t.dest_port.as_deref(), Some(ba.as_str()), "crossed projects: {t:?}");
            assert_ne!(t.dest_port.as_deref(), Some(bb.as_str()), "crossed projects: {t:?}");
        }
    }
    // The two bridges are separate segments.
    let q = tricircle_core::networking::listing::ListQuery::default();
    let all = w.app.network_list(&w.admin, &q, "u").await.unwrap();
    let bridges: Vec<&Value> = all["networks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["name"].as_str().unwrap().starts_with("bridge-"))
        .collect();
    assert_eq!(bridges.len(), 2, "{bridges:?}");
    assert_ne!(bridges[0]["provider:segmentation_id"], bridges[1]["provider:segmentation_id"]);
}
