//! Servers on top networks (lazy materialization): the pod a server lands
//! in gets the network, the subnet and the port with the top's CIDR,
//! address and MAC, named after the top IDs and recorded as routings; the
//! server's view shows the top network's name and address; deleting the
//! server removes the pod's port and the top port made for it, and unbinds
//! a port the user made; a pod refusing the server unwinds all of it.

mod common;

use common::{World, objects, world};
use serde_json::{Value, json};
use tricircle_sim_pod::FaultRule;

fn named<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|o| o["name"] == name)
}

#[tokio::test]
async fn a_server_on_a_top_network_gets_the_tops_address_in_its_pod() {
    let w = world(2).await;
    let (net, subnet) = w.network("blue", "10.10.0.0/24").await;
    let server = w.create(w.with_networks("vm1", "az2", json!([{"uuid": net}]))).await.unwrap();

    // The top port: made for the server, bound to it, an address of the subnet.
    let ports = w.top_ports().await;
    assert_eq!(ports.len(), 1, "{ports:?}");
    let port = &ports[0];
    assert_eq!(port["device_id"], server);
    assert_eq!(port["device_owner"], "compute:az2", "Nova's owner, the server's zone");
    assert_eq!(port["status"], "ACTIVE", "the status of the pod's copy: {port}");
    assert!(port.get("tricircle:created_for").is_none(), "bookkeeping is hidden: {port}");
    let ip = port["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let mac = port["mac_address"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.10.0."), "{ip}");

    // The pod (Pod2, az2) has the copies, named after the top IDs.
    let state = w.pod_state(1);
    let bnets = objects(&state, "network", "networks");
    let bnet = named(&bnets, &net).unwrap_or_else(|| panic!("no bottom network: {bnets:?}"));
    // The top's segment, in the server's project.
    let top_net = w.app.network_show(&w.admin, &net).await.unwrap();
    let vni = top_net["provider:segmentation_id"].as_u64().expect("a VXLAN ID");
    assert_eq!(bnet["network_type"], "vxlan", "{bnet}");
    assert_eq!(bnet["segmentation_id"], vni, "{bnet}");
    let bsubs = objects(&state, "network", "subnets");
    let bsub = named(&bsubs, &subnet).expect("bottom subnet");
    assert_eq!(bsub["cidr"], "10.10.0.0/24");
    assert_eq!(bsub["network_id"], bnet["id"]);
    assert_eq!(bsub["enable_dhcp"], false, "no pod DHCP port takes an address");
    let bports = objects(&state, "network", "ports");
    let bport = named(&bports, port["id"].as_str().unwrap()).expect("bottom port");
    assert_eq!(bport["mac_address"], mac.as_str());
    assert_eq!(bport["fixed_ips"][0]["ip_address"], ip.as_str());
    assert!(
        objects(&w.pod_state(0), "network", "networks").iter().all(|n| n["name"] != net),
        "nothing in Pod1"
    );
    for kind in ["network", "subnet", "port"] {
        let r = w.routings(kind).await;
        assert_eq!(r.len(), 1, "{kind}: {r:?}");
        assert!(r[0].bottom_id.is_some());
    }

    // The server's view: the top network's name, the top's address.
    let view = w.app.server_show(&w.demo, &server, None).await.unwrap();
    let addrs = &view["addresses"]["blue"];
    assert_eq!(addrs[0]["addr"], ip.as_str(), "{view}");

    // A second server in the same pod reuses the pod's network and subnet.
    let second = w.create(w.with_networks("vm2", "az2", json!([{"uuid": net}]))).await.unwrap();
    assert_eq!(w.routings("network").await.len(), 1);
    assert_eq!(w.routings("port").await.len(), 2);

    // Deleting the server: the pod's port and the top port go.
    w.app.server_delete(&w.demo, &server).await.unwrap();
    let ports = w.top_ports().await;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["device_id"], second);
    let state = w.pod_state(1);
    assert!(named(&objects(&state, "network", "ports"), port["id"].as_str().unwrap()).is_none());
    assert_eq!(w.routings("port").await.len(), 1);
}

#[tokio::test]
async fn a_users_port_is_unbound_not_deleted_and_a_refused_server_unwinds() {
    let w = world(1).await;
    let (net, _) = w.network("green", "10.20.0.0/24").await;
    let body = json!({"port": {"network_id": net, "name": "mine", "fixed_ips": [{"ip_address": "10.20.0.50"}]}});
    let mine = w.app.port_create(&w.demo, &body).await.unwrap();
    let mine_id = mine["id"].as_str().unwrap().to_string();

    // A port already in use is refused.
    let server = w.create(w.with_networks("vm", "az1", json!([{"port": mine_id}]))).await.unwrap();
    let again =
        w.create(w.with_networks("vm-b", "az1", json!([{"port": mine_id}]))).await.unwrap_err();
    assert_eq!(again.status(), 409, "{again}");
    let view = w.app.server_show(&w.demo, &server, None).await.unwrap();
    assert_eq!(view["addresses"]["green"][0]["addr"], "10.20.0.50", "{view}");
    w.app.server_delete(&w.demo, &server).await.unwrap();
    let ports = w.top_ports().await;
    assert_eq!(ports.len(), 1, "the user's port stays");
    assert_eq!(
        (ports[0]["device_id"].as_str(), ports[0]["device_owner"].as_str()),
        (Some(""), Some(""))
    );

    // The pod refuses the server: the saga unwinds its port and the pod's copy.
    w.pods[0].control().add_fault(FaultRule::error("compute.server_create", 400));
    let err = w.create(w.with_networks("vm2", "az1", json!([{"uuid": net}]))).await.unwrap_err();
    assert!(err.status() >= 400, "{err}");
    let ports = w.top_ports().await;
    assert_eq!(ports.len(), 1, "only the user's port is left: {ports:?}");
    assert_eq!(ports[0]["id"], mine_id.as_str());
    let state = w.pod_state(0);
    let left = objects(&state, "network", "ports");
    assert!(left.is_empty(), "no port left in the pod: {left:?}");

    // Bad requests: an unknown network reads as Nova's 400.
    let e = w.create(w.with_networks("vm3", "az1", json!([{"uuid": "nope"}]))).await.unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(e.external_message().contains("Network nope could not be found"), "{e}");
}

#[tokio::test]
async fn servers_of_two_pods_on_one_network_reach_each_other_through_shadow_ports() {
    let w = world(2).await;
    let counts = |w: &World| -> Vec<usize> {
        (0..2)
            .flat_map(|i| {
                let st = w.pod_state(i);
                ["networks", "subnets", "ports"].map(|k| objects(&st, "network", k).len())
            })
            .collect()
    };
    let baseline = counts(&w);
    let (net, _) = w.network("wide", "10.50.0.0/24").await;
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": net}]))).await.unwrap();
    let b = w.create(w.with_networks("b", "az2", json!([{"uuid": net}]))).await.unwrap();
    // The create already synced; running it again changes nothing.
    assert_eq!(w.app.sync_network_shadows(&net).await.unwrap(), (0, 0));
    let (pa, pb) = (w.port_of(&a).await, w.port_of(&b).await);
    let ip = |p: &Value| p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let (ba, bb) = (
        w.bottom_port(pa["id"].as_str().unwrap()).await,
        w.bottom_port(pb["id"].as_str().unwrap()).await,
    );

    // Each pod has the other's port as a shadow: same address and MAC, the
    // tunnel endpoint of the real port's host.
    for (pod, other) in [(0, &pb), (1, &pa)] {
        let shadows: Vec<Value> = objects(&w.pod_state(pod), "network", "ports")
            .into_iter()
            .filter(|p| p["device_owner"] == "compute:shadow")
            .collect();
        assert_eq!(shadows.len(), 1, "pod {pod}: {shadows:?}");
        assert_eq!(shadows[0]["mac_address"], other["mac_address"]);
        assert_eq!(shadows[0]["fixed_ips"][0]["ip_address"], ip(other).as_str());
    }
    let there = w.trace(&ba, &ip(&pb));
    assert!(there.reachable, "{there:?}");
    assert_eq!(there.dest_port.as_deref(), Some(bb.as_str()));
    let back = w.trace(&bb, &ip(&pa));
    assert!(back.reachable, "{back:?}");

    // Another project's server with the same addresses reaches neither.
    let other_ctx = common::ctx("u2", "other-project", &["member"]);
    let on = w.app.network_create(&other_ctx, &json!({"network": {"name": "wide"}})).await.unwrap();
    let on = on["id"].as_str().unwrap().to_string();
    let body = json!({"subnet": {"network_id": on, "cidr": "10.50.0.0/24", "ip_version": 4}});
    w.app.subnet_create(&other_ctx, &body).await.unwrap();
    let mut spec = w.with_networks("c", "az1", json!([{"uuid": on, "fixed_ip": ip(&pb)}]));
    spec.image_ref = Some(w.image.clone());
    let c =
        w.app.server_create(&other_ctx, spec).await.unwrap().0["id"].as_str().unwrap().to_string();
    let q = tricircle_core::networking::listing::ListQuery::default();
    let theirs = w.app.port_list(&other_ctx, &q, "u").await.unwrap()["ports"][0].clone();
    assert_eq!(theirs["device_id"], c);
    let bc = w.bottom_port(theirs["id"].as_str().unwrap()).await;
    let to_b = w.trace(&bc, &ip(&pb));
    assert_eq!(
        to_b.dest_port.as_deref(),
        Some(bc.as_str()),
        "the same address, its own port: {to_b:?}"
    );
    assert!(!w.trace(&bc, &ip(&pa)).reachable, "not project A's server");

    // Server b goes: its shadow in Pod1 goes, a no longer reaches it.
    w.app.server_delete(&w.demo, &b).await.unwrap();
    let shadows: Vec<Value> = objects(&w.pod_state(0), "network", "ports")
        .into_iter()
        .filter(|p| p["device_owner"] == "compute:shadow")
        .collect();
    assert!(shadows.is_empty(), "{shadows:?}");
    assert!(!w.trace(&ba, &ip(&pb)).reachable);
    assert!(w.routings("shadow_port").await.iter().all(|r| r.top_id != pb["id"].as_str().unwrap()));

    // A port that moves: the user's port, first on a server in Pod2 (a
    // shadow in Pod1), then, that server gone, on a server in Pod1.
    let p = w.app.port_create(&w.demo, &json!({"port": {"network_id": net}})).await.unwrap();
    let pid = p["id"].as_str().unwrap().to_string();
    let first = w.create(w.with_networks("first", "az2", json!([{"port": pid}]))).await.unwrap();
    let seen = w.trace(&ba, &ip(&p));
    assert!(seen.reachable && seen.dest_region.as_deref() == Some("Pod2"), "{seen:?}");
    w.app.server_delete(&w.demo, &first).await.unwrap();
    assert!(!w.trace(&ba, &ip(&p)).reachable, "its shadow in Pod1 went with the server");
    let second = w.create(w.with_networks("second", "az1", json!([{"port": pid}]))).await.unwrap();
    let moved = w.bottom_port(&pid).await;
    let seen = w.trace(&ba, &ip(&p));
    assert_eq!(seen.dest_port.as_deref(), Some(moved.as_str()), "now local in Pod1: {seen:?}");
    // Pod2 has no port of the network any more: its copy went, shadows too.
    assert_eq!(w.routings("shadow_port").await, []);
    let copies = w.routings("network").await.into_iter().filter(|r| r.top_id == net).count();
    assert_eq!(copies, 1, "only Pod1 keeps the network");
    w.app.server_delete(&w.demo, &second).await.unwrap();

    // Everything deleted: no network, subnet, port or shadow port is left
    // in any pod, and no routing of them.
    w.app.server_delete(&w.demo, &a).await.unwrap();
    w.app.server_delete(&other_ctx, &c).await.unwrap();
    w.app.port_delete(&w.demo, &pid).await.unwrap();
    w.app.network_delete(&w.demo, &net).await.unwrap();
    w.app.network_delete(&other_ctx, &on).await.unwrap();
    assert_eq!(counts(&w), baseline, "pods as they were before");
    for kind in ["network", "subnet", "port", "shadow_port"] {
        assert_eq!(w.routings(kind).await, [], "{kind} routings left");
    }
}

#[tokio::test]
async fn interfaces_attach_and_detach_in_the_servers_pod() {
    let w = world(1).await;
    let (blue, _) = w.network("blue", "10.70.0.0/24").await;
    let (red, _) = w.network("red", "10.71.0.0/24").await;
    let vm = w.create(w.with_networks("vm", "az1", json!([{"uuid": blue}]))).await.unwrap();
    let listed = w.app.interface_list(&w.demo, &vm).await.unwrap();
    assert_eq!(listed["interfaceAttachments"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["interfaceAttachments"][0]["net_id"], blue.as_str(), "top IDs: {listed}");

    // Attach on another network: a new top port, its copy, the pod's Nova takes it.
    let body =
        json!({"interfaceAttachment": {"net_id": red, "fixed_ips": [{"ip_address": "10.71.0.9"}]}});
    let att = w.app.interface_attach(&w.demo, &vm, &body).await.unwrap();
    let port = att["interfaceAttachment"]["port_id"].as_str().unwrap().to_string();
    assert_eq!(att["interfaceAttachment"]["net_id"], red.as_str());
    assert_eq!(att["interfaceAttachment"]["fixed_ips"][0]["ip_address"], "10.71.0.9");
    let copy = w.bottom_port(&port).await;
    let bports = objects(&w.pod_state(0), "network", "ports");
    let bport = bports.iter().find(|p| p["id"] == copy.as_str()).expect("the copy");
    assert!(
        !bport["device_id"].as_str().unwrap_or_default().is_empty(),
        "bound to the pod's server: {bport}"
    );
    let view = w.app.server_show(&w.demo, &vm, None).await.unwrap();
    assert_eq!(view["addresses"]["red"][0]["addr"], "10.71.0.9", "{view}");
    assert_eq!(
        w.app.interface_list(&w.demo, &vm).await.unwrap()["interfaceAttachments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Detach: the copy and the top port made for it go.
    w.app.interface_detach(&w.demo, &vm, &port).await.unwrap();
    assert!(objects(&w.pod_state(0), "network", "ports").iter().all(|p| p["id"] != copy.as_str()));
    assert!(w.top_ports().await.iter().all(|p| p["id"] != port.as_str()));
    assert_eq!(
        w.app.interface_list(&w.demo, &vm).await.unwrap()["interfaceAttachments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The user's own port: attached, then detached and kept, unbound.
    let mine = w.app.port_create(&w.demo, &json!({"port": {"network_id": red}})).await.unwrap();
    let mine = mine["id"].as_str().unwrap().to_string();
    let body = json!({"interfaceAttachment": {"port_id": mine}});
    w.app.interface_attach(&w.demo, &vm, &body).await.unwrap();
    w.app.interface_detach(&w.demo, &vm, &mine).await.unwrap();
    let kept = w.top_ports().await.into_iter().find(|p| p["id"] == mine.as_str()).expect("kept");
    assert_eq!(kept["device_id"], "", "{kept}");

    // Errors: both or neither of net_id and port_id; another server's interface.
    let both = json!({"interfaceAttachment": {"net_id": red, "port_id": mine}});
    assert_eq!(w.app.interface_attach(&w.demo, &vm, &both).await.unwrap_err().status(), 400);
    let neither = json!({"interfaceAttachment": {}});
    assert_eq!(w.app.interface_attach(&w.demo, &vm, &neither).await.unwrap_err().status(), 400);
    assert_eq!(w.app.interface_detach(&w.demo, &vm, &mine).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn the_periodic_reconcile_makes_the_shadow_a_pod_refused() {
    let w = world(2).await;
    let (net, _) = w.network("late", "10.80.0.0/24").await;
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": net}]))).await.unwrap();
    // Pod1 refuses new ports while b boots in Pod2: b's shadow there is not made.
    let rule = w.pods[0]
        .control()
        .add_fault(tricircle_sim_pod::FaultRule::error("network.port_create", 503));
    let b = w.create(w.with_networks("b", "az2", json!([{"uuid": net}]))).await.unwrap();
    let (pa, pb) = (w.port_of(&a).await, w.port_of(&b).await);
    let ba = w.bottom_port(pa["id"].as_str().unwrap()).await;
    let ip_b = pb["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let missing = w.trace(&ba, &ip_b);
    assert!(!missing.reachable, "{missing:?}");
    // The pod is back; the periodic reconcile finishes the job.
    w.pods[0].control().remove_fault(rule.id);
    assert!(w.app.reconcile_networking().await.unwrap() >= 1);
    let fixed = w.trace(&ba, &ip_b);
    assert!(fixed.reachable, "{fixed:?}");
}

#[tokio::test]
async fn a_router_joins_two_networks_in_a_pod_and_leaves_nothing_behind() {
    let w = world(1).await;
    let counts = |w: &World| -> Vec<usize> {
        let st = w.pod_state(0);
        ["networks", "subnets", "ports", "routers"]
            .map(|k| objects(&st, "network", k).len())
            .to_vec()
    };
    let baseline = counts(&w);
    let (blue, blue_sub) = w.network("blue", "10.90.1.0/24").await;
    let (red, red_sub) = w.network("red", "10.90.2.0/24").await;
    let r = w.app.router_create(&w.demo, &json!({"router": {"name": "r"}})).await.unwrap();
    let r = r["id"].as_str().unwrap().to_string();
    for s in [&blue_sub, &red_sub] {
        w.app.router_add_interface(&w.demo, &r, &json!({"subnet_id": s})).await.unwrap();
    }
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": blue}]))).await.unwrap();
    let b = w.create(w.with_networks("b", "az1", json!([{"uuid": red}]))).await.unwrap();
    let (pa, pb) = (w.port_of(&a).await, w.port_of(&b).await);
    let ba = w.bottom_port(pa["id"].as_str().unwrap()).await;
    let ip_b = pb["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();

    // The pod has the router, named after the top one, on both gateways.
    let routers = objects(&w.pod_state(0), "network", "routers");
    assert_eq!(routers.iter().filter(|x| x["name"] == r.as_str()).count(), 1, "{routers:?}");
    let via = w.trace(&ba, &ip_b);
    assert!(via.reachable, "{via:?}");
    assert!(via.hops.iter().any(|h| h.contains("router")), "{via:?}");

    // Without the red interface, blue no longer reaches red.
    w.app.router_remove_interface(&w.demo, &r, &json!({"subnet_id": red_sub})).await.unwrap();
    let cut = w.trace(&ba, &ip_b);
    assert!(!cut.reachable, "{cut:?}");

    // Everything goes: the pod is as it was, no routing is left.
    w.app.server_delete(&w.demo, &a).await.unwrap();
    w.app.server_delete(&w.demo, &b).await.unwrap();
    w.app.router_remove_interface(&w.demo, &r, &json!({"subnet_id": blue_sub})).await.unwrap();
    w.app.router_delete(&w.demo, &r).await.unwrap();
    w.app.network_delete(&w.demo, &blue).await.unwrap();
    w.app.network_delete(&w.demo, &red).await.unwrap();
    assert_eq!(counts(&w), baseline, "the pod as it was");
    for kind in ["network", "subnet", "port", "router", "shadow_port"] {
        assert_eq!(w.routings(kind).await, [], "{kind} routings left");
    }
}

#[tokio::test]
async fn servers_booted_at_once_on_a_new_network_share_its_copies() {
    let w = world(2).await;
    // A slow subnet create in Pod2 widens the window in which the boots
    // race to make the same copy.
    let slow = std::time::Duration::from_millis(150);
    w.pods[1].control().add_fault(FaultRule::latency("network.subnet_create", slow));
    for round in 0..5 {
        let (net, subnet) =
            w.network(&format!("burst{round}"), &format!("10.77.{round}.0/24")).await;
        let specs = (0..3)
            .map(|i| w.with_networks(&format!("s{round}-{i}"), "az2", json!([{"uuid": net}])));
        let made = futures::future::join_all(specs.map(|s| w.create(s))).await;
        for m in &made {
            assert!(m.is_ok(), "round {round}: {m:?}");
        }
        // One copy of the network and of its subnet in Pod2, whoever won.
        let state = w.pod_state(1);
        let subnets: Vec<Value> = objects(&state, "network", "subnets")
            .into_iter()
            .filter(|s| s["name"] == subnet.as_str())
            .collect();
        assert_eq!(subnets.len(), 1, "round {round}: {subnets:?}");
        let nets = objects(&state, "network", "networks");
        assert_eq!(nets.iter().filter(|n| n["name"] == net.as_str()).count(), 1, "round {round}");
    }
}
