//! Routing across pods with the unmodified `openstack` CLI against
//! `tricircle up --pods 2`, judged by `tricircle trace` from the pods' own
//! state (DESIGN §4 "Network"):
//!
//! - two networks on one router, a server of each in az1 and az2: each
//!   reaches the other through the router's copy in both regions;
//! - the router's gateway on the operator's external network (in az1): the
//!   az2 server goes out, and its floating IP lets the outside in until it
//!   is removed from the server;
//! - a second project with the same CIDR and the same fixed IP as the first
//!   reaches nothing of the first's, and does not capture its traffic;
//! - a subnet taken off the router is no longer reached (packets for it
//!   leave through the gateway, or go nowhere without one), the others
//!   stay joined;
//! - after the deletes, neither networks (bridges included) nor routings
//!   are left.

mod common;

use std::time::{Duration, Instant};

use common::{Osc, Up, address_of, ensure_cli};
use futures::future::join_all;
use serde_json::{Value, json};

/// `tricircle trace (--from-port PORT | --from-outside) --to IP -f json`
/// until it exits `want`: the gateway makes shadow ports and router copies
/// in the background once a server is ACTIVE. Returns the last verdict.
fn trace(up: &Up, from: Option<&str>, to: &str, want: i32) -> Value {
    let mut args = vec!["trace"];
    match from {
        Some(port) => args.extend(["--from-port", port]),
        None => args.push("--from-outside"),
    }
    args.extend(["--to", to, "-f", "json"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = tokio::task::block_in_place(|| up.admin_cli(&args));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let code = out.status.code();
        if code == Some(want) || Instant::now() > deadline {
            assert_eq!(
                code,
                Some(want),
                "tricircle {}:\n{stdout}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            return serde_json::from_str(&stdout).expect("trace json");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether a verdict's hops go through router `id` in `region`.
fn via_router(verdict: &Value, region: &str, id: &str) -> bool {
    let hop = format!("{region}: router {id}");
    verdict["hops"].as_array().into_iter().flatten().any(|h| h.as_str() == Some(hop.as_str()))
}

/// The ID of the only port of a server.
async fn port_of(cli: &Osc, server: &str) -> String {
    let ports = cli.json(&["port", "list", "--server", server]).await;
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "one port on {server}: {ports}");
    ports[0]["ID"].as_str().expect("port ID").to_string()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string()
}

/// A network with one subnet; returns (network ID, subnet ID).
async fn network(cli: &Osc, name: &str, cidr: &str) -> (String, String) {
    let net = cli.json(&["network", "create", name]).await;
    let sub_name = format!("{name}-sub");
    let sub =
        cli.json(&["subnet", "create", "--network", name, "--subnet-range", cidr, &sub_name]).await;
    (id(&net), id(&sub))
}

/// A server booted with `nic` (`--network X` or `--nic ...`) in `az`.
async fn boot(cli: &Osc, name: &str, nic: &[&str], az: &str) -> Value {
    let mut args = vec!["server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--wait"];
    args.extend(nic);
    args.extend(["--availability-zone", az, name]);
    let s = cli.json(&args).await;
    assert_eq!(s["status"], "ACTIVE", "{s}");
    assert_eq!(s["OS-EXT-AZ:availability_zone"], az, "{s}");
    s
}

/// Project `other` with a member `other-user`, made as admin through the
/// gateway's Keystone, and a cloud `other` for it.
async fn other_project(admin: &Osc, up: &Up, home: &std::path::Path) -> Osc {
    admin.ok(&["project", "create", "other"]).await;
    let password = "other-Secret-77";
    admin.ok(&["user", "create", "--project", "other", "--password", password, "other-user"]).await;
    admin.ok(&["role", "add", "--project", "other", "--user", "other-user", "member"]).await;
    let mut cloud = up.cloud("tricircle-demo");
    cloud["auth"]["username"] = json!("other-user");
    cloud["auth"]["password"] = json!(password);
    cloud["auth"]["project_name"] = json!("other");
    let path = home.join("other-clouds.yaml");
    let text = serde_yaml_ng::to_string(&json!({"clouds": {"other": cloud}})).unwrap();
    std::fs::write(&path, text).expect("write other-clouds.yaml");
    Osc::new(&admin.exe, &path, "other", home)
}

/// The demo's servers: (name, network, zone).
const BOOTS: [(&str, &str, &str); 3] =
    [("blue-a", "blue", "az1"), ("red-b", "red", "az2"), ("green-c", "green", "az2")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_routes_between_regions_and_to_the_outside() {
    let Some(exe) = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli") else {
        return;
    };
    let up = tokio::task::spawn_blocking(|| Up::start(2)).await.expect("up");
    let home = tempfile::tempdir().expect("home");
    let demo = Osc::new(&exe, &up.clouds_file(), "tricircle-demo", home.path());
    let admin = demo.with_cloud("tricircle");

    // The tenant's networks and router, the operator's external network
    // (in az1) and a second project, all at once.
    let public = async {
        let net = admin
            .json(&["network", "create", "--external", "--availability-zone-hint", "az1", "public"])
            .await;
        admin
            .ok(&[
                "subnet",
                "create",
                "--network",
                "public",
                "--subnet-range",
                "203.0.113.0/24",
                "--no-dhcp",
                "public-sub",
            ])
            .await;
        id(&net)
    };
    let (blue, red, green, router, public, other) = tokio::join!(
        network(&demo, "blue", "10.81.1.0/24"),
        network(&demo, "red", "10.81.2.0/24"),
        network(&demo, "green", "10.81.3.0/24"),
        demo.json(&["router", "create", "r"]),
        public,
        other_project(&admin, &up, home.path()),
    );
    let rid = id(&router);
    for (_, sub) in [&blue, &red, &green] {
        demo.ok(&["router", "add", "subnet", "r", sub]).await;
    }
    // One at a time here; concurrent boots on one router are the next
    // test's subject (`concurrent_boots_on_one_router_join_its_copies`).
    let mut servers = Vec::new();
    for (name, net, az) in BOOTS {
        servers.push(boot(&demo, name, &["--network", net], az).await);
    }
    let ip_a = address_of(&servers[0], "blue");
    let ip_b = address_of(&servers[1], "red");
    let ip_c = address_of(&servers[2], "green");
    assert!(ip_a.starts_with("10.81.1.") && ip_b.starts_with("10.81.2."), "{ip_a} {ip_b}");
    let sids: Vec<String> = servers.iter().map(id).collect();
    let (port_a, port_b, port_c) =
        tokio::join!(port_of(&demo, &sids[0]), port_of(&demo, &sids[1]), port_of(&demo, &sids[2]));

    // (2) East-west across regions: each way through the router's copy in
    // both regions, to the other's port.
    let ab = trace(&up, Some(&port_a), &ip_b, 0);
    assert!(via_router(&ab, "Pod1", &rid) && via_router(&ab, "Pod2", &rid), "{ab}");
    assert_eq!(
        (ab["dest_port"].as_str(), ab["dest_region"].as_str()),
        (Some(&*port_b), Some("Pod2"))
    );
    let ba = trace(&up, Some(&port_b), &ip_a, 0);
    assert!(via_router(&ba, "Pod1", &rid) && via_router(&ba, "Pod2", &rid), "{ba}");
    assert_eq!(
        (ba["dest_port"].as_str(), ba["dest_region"].as_str()),
        (Some(&*port_a), Some("Pod1"))
    );

    // (3) North-south: no way out before the router has a gateway; with
    // it, the az2 server goes out through Pod1 (where `public` lives).
    trace(&up, Some(&port_b), "198.51.100.7", 1);
    demo.ok(&["router", "set", "--external-gateway", "public", "r"]).await;
    let out = trace(&up, Some(&port_b), "198.51.100.7", 0);
    assert!(out["dest_port"].is_null(), "the outside has no port: {out}");
    let fip = demo.json(&["floating", "ip", "create", "public"]).await;
    let fip_id = id(&fip);
    let address = fip["floating_ip_address"].as_str().expect("address").to_string();
    assert!(address.starts_with("203.0.113."), "{fip}");
    trace(&up, None, &address, 1);
    demo.ok(&["server", "add", "floating", "ip", &sids[1], &address]).await;
    let inbound = trace(&up, None, &address, 0);
    assert_eq!(
        (inbound["dest_port"].as_str(), inbound["dest_region"].as_str()),
        (Some(&*port_b), Some("Pod2")),
        "{inbound}"
    );
    demo.ok(&["server", "remove", "floating", "ip", &sids[1], &address]).await;
    trace(&up, None, &address, 1);

    // (4) Another project: blue's CIDR, blue-a's address, a server in az2
    // (where red-b is) and no router.
    let (other_net, _) = network(&other, "blue", "10.81.1.0/24").await;
    let nic = format!("net-id={other_net},v4-fixed-ip={ip_a}");
    let twin = boot(&other, "twin", &["--nic", &nic], "az2").await;
    assert_eq!(address_of(&twin, "blue"), ip_a, "the same address: {twin}");
    let twin_port = port_of(&other, &id(&twin)).await;
    assert_ne!(twin_port, port_a);
    let cut = trace(&up, Some(&twin_port), &ip_b, 1);
    assert!(cut["dest_port"].is_null(), "{cut}");
    // The demo's packets to that address still reach the demo's own port,
    // from Pod2 (beside the twin) and from Pod1.
    for from in [&port_b, &port_a] {
        let v = trace(&up, Some(from), &ip_a, 0);
        assert_eq!(v["dest_port"].as_str(), Some(port_a.as_str()), "{v}");
        assert_eq!(v["dest_region"], "Pod1", "{v}");
    }

    // (5) Red off the router: blue's packets for red no longer reach it
    // (with the gateway they leave for the outside); green (also in az2)
    // is still joined.
    demo.ok(&["router", "remove", "subnet", "r", &red.1]).await;
    let off = trace(&up, Some(&port_a), &ip_b, 0);
    assert!(off["dest_port"].is_null() && off["dest_region"].is_null(), "{off}");
    let ac = trace(&up, Some(&port_a), &ip_c, 0);
    assert_eq!(
        (ac["dest_port"].as_str(), ac["dest_region"].as_str()),
        (Some(&*port_c), Some("Pod2"))
    );
    // Without the gateway, red is not reached at all; green still is.
    demo.ok(&["router", "unset", "--external-gateway", "r"]).await;
    let off = trace(&up, Some(&port_a), &ip_b, 1);
    assert!(off["dest_port"].is_null(), "{off}");
    trace(&up, Some(&port_a), &ip_c, 0);

    // (6) Everything deleted through the CLI: nothing left, bridges and
    // routings included.
    let twin_id = id(&twin);
    tokio::join!(
        async { demo.ok(&["server", "delete", "--wait", &sids[0], &sids[1], &sids[2]]).await },
        async { other.ok(&["server", "delete", "--wait", &twin_id]).await },
    );
    demo.ok(&["floating", "ip", "delete", &fip_id]).await;
    for (_, sub) in [&blue, &green] {
        demo.ok(&["router", "remove", "subnet", "r", sub]).await;
    }
    demo.ok(&["router", "delete", "r"]).await;
    tokio::join!(
        async { demo.ok(&["network", "delete", &blue.0, &red.0, &green.0]).await },
        async { other.ok(&["network", "delete", &other_net]).await },
        async { admin.ok(&["network", "delete", &public]).await },
    );
    let sim = Osc::new(&exe, &up.sim_clouds_file(), "pod1", home.path());
    let pod2 = sim.with_cloud("pod2");
    let (left, in_pod1, in_pod2) = tokio::join!(
        admin.json(&["network", "list"]),
        sim.json(&["network", "list"]),
        pod2.json(&["network", "list"]),
    );
    assert_eq!(left, json!([]), "networks left at the top (bridges included)");
    assert_eq!((in_pod1, in_pod2), (json!([]), json!([])), "networks left in the pods");
    let out = up.admin_cli(&["routing", "list", "--limit", "1000", "-f", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let routings: Value = serde_json::from_slice(&out.stdout).expect("routing json");
    let kinds = ["network", "subnet", "port", "router", "shadow_port", "floatingip"];
    let stale: Vec<&Value> = routings
        .as_array()
        .expect("routing list")
        .iter()
        .filter(|r| kinds.iter().any(|k| r["resource_type"] == *k))
        .collect();
    assert!(stale.is_empty(), "routings left: {stale:?}");
    // The filter reads the right field: the project's own routing stays.
    assert!(routings.as_array().unwrap().iter().any(|r| r["resource_type"] == "project"));
}

/// Three servers booted at once on three networks of one router, in two
/// regions: each boot syncs the router's copies, and the syncs must not
/// leave the copies routing to a bridge address nobody has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_boots_on_one_router_join_its_copies() {
    let Some(exe) = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli") else {
        return;
    };
    let up = tokio::task::spawn_blocking(|| Up::start(2)).await.expect("up");
    let home = tempfile::tempdir().expect("home");
    let demo = Osc::new(&exe, &up.clouds_file(), "tricircle-demo", home.path());
    let (blue, red, green, _) = tokio::join!(
        network(&demo, "blue", "10.81.1.0/24"),
        network(&demo, "red", "10.81.2.0/24"),
        network(&demo, "green", "10.81.3.0/24"),
        demo.json(&["router", "create", "r"]),
    );
    for (_, sub) in [&blue, &red, &green] {
        demo.ok(&["router", "add", "subnet", "r", sub]).await;
    }
    let servers = join_all(BOOTS.iter().map(|(name, net, az)| {
        let demo = demo.clone();
        async move { boot(&demo, name, &["--network", net], az).await }
    }))
    .await;
    let admin = demo.with_cloud("tricircle");
    let bridges = admin.json(&["port", "list", "--device-owner", "network:router_bridge"]).await;
    assert_eq!(bridges.as_array().map(Vec::len), Some(2), "one bridge port per pod: {bridges}");
    let port_a = port_of(&demo, &id(&servers[0])).await;
    for (server, net) in [(&servers[1], "red"), (&servers[2], "green")] {
        trace(&up, Some(&port_a), &address_of(server, net), 0);
    }
}
