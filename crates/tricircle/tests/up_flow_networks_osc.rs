//! The unmodified `openstack` CLI against `tricircle up`: a tenant network
//! and subnet at the top, servers on it in two regions, a port made by the
//! user and booted with, the addresses the top allocated shown everywhere,
//! and nothing left after the deletes.

mod common;

use std::collections::HashSet;

use common::{Osc, Up, address_of, ensure_cli};
use futures::future::join_all;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_puts_servers_of_two_regions_on_one_network() {
    let Some(exe) = tokio::task::spawn_blocking(ensure_cli).await.expect("ensure cli") else {
        return;
    };
    let up = tokio::task::spawn_blocking(|| Up::start(2)).await.expect("up");
    let home = tempfile::tempdir().expect("home");
    let demo = Osc::new(&exe, &up.clouds_file(), "tricircle-demo", home.path());

    let net = demo.json(&["network", "create", "flow-net"]).await;
    let net_id = net["id"].as_str().expect("network id").to_string();
    let sub = demo
        .json(&[
            "subnet",
            "create",
            "--network",
            "flow-net",
            "--subnet-range",
            "10.30.0.0/24",
            "flow-sub",
        ])
        .await;
    assert_eq!(sub["gateway_ip"], "10.30.0.1", "{sub}");
    let mine = demo
        .json(&[
            "port",
            "create",
            "--network",
            "flow-net",
            "--fixed-ip",
            "ip-address=10.30.0.77",
            "flow-port",
        ])
        .await;
    let mine_id = mine["id"].as_str().expect("port id").to_string();

    // Two servers on the network in az1 and az2, one on the user's port.
    let boots = [
        vec!["--network", "flow-net", "--availability-zone", "az1", "net-a"],
        vec!["--network", "flow-net", "--availability-zone", "az2", "net-b"],
        vec!["--port", mine_id.as_str(), "--availability-zone", "az2", "net-c"],
    ];
    let created = join_all(boots.iter().map(|extra| {
        let demo = demo.clone();
        async move {
            let mut args =
                vec!["server", "create", "--flavor", "m1.tiny", "--image", "cirros", "--wait"];
            args.extend(extra.iter().copied());
            demo.json(&args).await
        }
    }))
    .await;
    let mut addresses = HashSet::new();
    for s in &created {
        assert_eq!(s["status"], "ACTIVE", "{s}");
        let ip = address_of(s, "flow-net");
        assert!(ip.starts_with("10.30.0."), "{s}");
        addresses.insert(ip);
    }
    assert_eq!(addresses.len(), 3, "three distinct addresses: {addresses:?}");
    assert_eq!(address_of(&created[2], "flow-net"), "10.30.0.77", "the user's port's address");
    let zones: Vec<&str> = created
        .iter()
        .map(|s| s["OS-EXT-AZ:availability_zone"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(zones, ["az1", "az2", "az2"]);

    // The top's ports: one per server, bound, in the server's zone.
    let ports = demo.json(&["port", "list", "--network", "flow-net", "--long"]).await;
    assert_eq!(ports.as_array().map(Vec::len), Some(3), "{ports}");
    for p in ports.as_array().unwrap() {
        assert_eq!(p["Status"], "ACTIVE", "{p}");
        let owner = p["Device Owner"].as_str().unwrap_or_default();
        assert!(owner == "compute:az1" || owner == "compute:az2", "{p}");
    }
    let groups = demo.json(&["security", "group", "list"]).await;
    assert_eq!(groups[0]["Name"], "default", "{groups}");

    // `tricircle trace` from the pods' real state: net-a (az1) reaches
    // net-b (az2) through the shadow port (exit 0); nobody has .250 (exit 1).
    let port_a = ports
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["Fixed IP Addresses"].to_string().contains(&address_of(&created[0], "flow-net"))
        })
        .and_then(|p| p["ID"].as_str())
        .expect("net-a's port")
        .to_string();
    let ip_b = address_of(&created[1], "flow-net");
    // The shadows are made when the servers turn ACTIVE (in the background): allow a moment.
    let mut out = up.admin_cli(&["trace", "--from-port", &port_a, "--to", &ip_b, "-f", "json"]);
    for _ in 0..50 {
        if out.status.code() == Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        out = up.admin_cli(&["trace", "--from-port", &port_a, "--to", &ip_b, "-f", "json"]);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let verdict: Value = serde_json::from_str(&stdout).expect("trace json");
    assert_eq!(verdict["reachable"], true, "{verdict}");
    let nobody = up.admin_cli(&["trace", "--from-port", &port_a, "--to", "10.30.0.250"]);
    assert_eq!(nobody.status.code(), Some(1), "{}", String::from_utf8_lossy(&nobody.stdout));

    // The merged server list shows each server's top address.
    let list = demo.json(&["server", "list"]).await;
    for row in list.as_array().unwrap() {
        let networks = row["Networks"].to_string();
        assert!(networks.contains("flow-net") && networks.contains("10.30.0."), "{row}");
    }

    // Deleting the servers: the ports made for them go, the user's stays, unbound.
    let ids: Vec<String> = created.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let mut del = vec!["server", "delete", "--wait"];
    del.extend(ids.iter().map(String::as_str));
    demo.ok(&del).await;
    let ports = demo.json(&["port", "list", "--network", "flow-net", "--long"]).await;
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "only the user's port: {ports}");
    assert_eq!(ports[0]["ID"], mine_id.as_str());
    assert_eq!(ports[0]["Device Owner"], "", "{ports}");

    // A network with a port cannot go; without, it goes with its subnet.
    let err = demo.fails(&["network", "delete", "flow-net"]).await;
    assert!(err.contains("in use") || err.contains("409"), "{err}");
    demo.ok(&["port", "delete", &mine_id]).await;
    demo.ok(&["network", "delete", &net_id]).await;
    assert_eq!(demo.json(&["network", "list"]).await, json!([]));
    assert_eq!(demo.json(&["subnet", "list"]).await, json!([]));
}
