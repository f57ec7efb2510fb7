//! Tests of the control API: faults, down, hang, counters, reset, explicit mode, state file,
//! dataplane and tracing, many pods in one process.

use std::time::{Duration, Instant};

use serde_json::json;
use tricircle_sim_pod::{FaultRule, SimMode, SimPodConfig, start, trace};

use crate::common::{Client, pod};

#[tokio::test]
async fn injected_latency_is_observed_by_the_client() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    pod.control().add_fault(FaultRule::latency("compute.server_list", Duration::from_millis(400)));
    let t = Instant::now();
    assert_eq!(c.get("/compute/v2.1/servers").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(c.get("/compute/v2.1/flavors").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(400), "other operations are not delayed");
    pod.shutdown().await;
}

#[tokio::test]
async fn injected_errors_come_back_in_each_services_shape() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let ctl = pod.control();
    ctl.add_fault(FaultRule { count: Some(1), ..FaultRule::error("compute.server_list", 503) });
    let r = c.get("/compute/v2.1/servers").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["serviceUnavailable"]["code"], 503);
    assert_eq!(c.get("/compute/v2.1/servers").await.status, 200, "count=1 fires once");

    ctl.add_fault(FaultRule::error("network.*", 500));
    let r = c.get("/networking/v2.0/networks").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["NeutronError"]["type"], "HTTPInternalServerError");
    ctl.clear_faults();
    ctl.add_fault(FaultRule::error("volume.volume_create", 409));
    let r = c.cinder("POST", "/volumes", Some(json!({"volume": {"size": 1}})), "3.0").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["conflictingRequest"]["code"], 409);
    ctl.add_fault(FaultRule::error("image.*", 500));
    let r = c.get("/image/v2/images").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body["code"], "500 Internal Server Error");
    ctl.add_fault(FaultRule::error("identity.token_issue", 429));
    let r = reqwest::Client::new()
        .post(format!("{}/identity/v3/auth/tokens", pod.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], 429);
    // Control routes are never faulted.
    ctl.add_fault(FaultRule::error("*", 500));
    assert_eq!(c.get("/sim/counters").await.status, 200);
    pod.shutdown().await;
}

#[tokio::test]
async fn error_rate_applies_to_a_fraction_of_calls() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    pod.control()
        .add_fault(FaultRule { rate: 0.5, ..FaultRule::error("compute.flavor_list", 500) });
    let mut failed = 0;
    for _ in 0..60 {
        if c.get("/compute/v2.1/flavors").await.status == 500 {
            failed += 1;
        }
    }
    assert!((10..=50).contains(&failed), "{failed} of 60 failed");
    pod.shutdown().await;
}

#[tokio::test]
async fn a_down_pod_refuses_connections_and_keeps_its_state() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("kept", "10.0.0.0/24").await;
    pod.control().set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The same client (with a pooled keep-alive connection) and a fresh one both fail.
    let err = c
        .http
        .get(format!("{}/networking/v2.0/networks", c.base))
        .header("x-auth-token", &c.token)
        .send()
        .await;
    assert!(err.is_err(), "pooled connection must not be served");
    let err = reqwest::Client::new()
        .get(format!("{}/identity", pod.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    pod.control().set_down(false);
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(r) =
            reqwest::Client::new().get(format!("{}/identity", pod.base_url())).send().await
        {
            ok = r.status().as_u16() == 300;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "pod is back on the same address");
    let r = c.get(&format!("/networking/v2.0/networks/{net}")).await;
    assert_eq!(r.status, 200, "state kept across down/up");
    pod.shutdown().await;
}

#[tokio::test]
async fn down_over_http_for_a_while_comes_back() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.post("/sim/down", json!({"for_ms": 500})).await;
    assert_eq!(r.status, 202);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        reqwest::Client::new().get(format!("{}/identity", pod.base_url())).send().await.is_err()
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r =
        reqwest::Client::new().get(format!("{}/identity", pod.base_url())).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 300);
    pod.shutdown().await;
}

#[tokio::test]
async fn a_hanging_pod_accepts_but_never_answers_while_control_still_works() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    assert_eq!(c.post("/sim/hang", json!({"hang": true})).await.status, 200);
    let slow = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let err = slow
        .get(format!("{}/compute/v2.1/servers", c.base))
        .header("x-auth-token", &c.token)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(c.get("/sim").await.body["hang"], true);
    // A request made while hanging is answered once the hang ends.
    let held = {
        let http = c.http.clone();
        let url = format!("{}/compute/v2.1/flavors", c.base);
        let tok = c.token.clone();
        tokio::spawn(async move {
            http.get(url).header("x-auth-token", tok).send().await.map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished());
    pod.control().set_hang(false);
    assert_eq!(held.await.unwrap().unwrap(), 200);
    pod.shutdown().await;
}

#[tokio::test]
async fn counters_count_calls_per_operation_and_reset() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    for _ in 0..3 {
        c.get("/compute/v2.1/servers").await;
    }
    c.get("/networking/v2.0/ports").await;
    let r = c.get("/sim/counters").await;
    assert_eq!(r.body["compute.server_list"], 3);
    assert_eq!(r.body["network.port_list"], 1);
    assert_eq!(r.body["identity.token_issue"], 1);
    assert_eq!(c.delete("/sim/counters").await.status, 204);
    assert_eq!(c.get("/sim/counters").await.body, json!({}));
    // Faults over HTTP.
    let f = c.post("/sim/faults", json!({"operation": "compute.server_list", "status": 500})).await;
    assert_eq!(f.status, 201);
    assert_eq!(c.get("/compute/v2.1/servers").await.status, 500);
    let id = f.body["fault"]["id"].as_u64().unwrap();
    assert_eq!(c.delete(&format!("/sim/faults/{id}")).await.status, 204);
    assert_eq!(c.get("/compute/v2.1/servers").await.status, 200);
    assert_eq!(c.post("/sim/faults", json!({"status": 200})).await.status, 400);
    pod.shutdown().await;
}

#[tokio::test]
async fn reset_wipes_state_but_keeps_tokens() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    c.net_with_subnet("n", "10.0.0.0/24").await;
    pod.control().add_fault(FaultRule::latency("*", Duration::from_millis(1)));
    assert_eq!(c.post("/sim/reset", json!({"state": true})).await.status, 204);
    assert!(pod.control().faults().is_empty());
    let r = c.get("/networking/v2.0/networks").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["networks"], json!([]));
    assert_eq!(c.get("/compute/v2.1/flavors").await.body["flavors"].as_array().unwrap().len(), 4);
    pod.shutdown().await;
}

#[tokio::test]
async fn explicit_mode_holds_transitions_until_advanced() {
    let mut cfg = SimPodConfig::for_tests("RegionOne");
    cfg.mode = SimMode::Explicit;
    let pod = start(cfg).await.unwrap();
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.0.0.0/24").await;
    let image = c.image("img", b"x").await;
    let id = c.server("vm", &image, &net).await;
    let path = format!("/servers/{id}");
    let show = || c.nova("GET", &path, None, "2.79");
    assert_eq!(show().await.body["server"]["status"], "BUILD");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(show().await.body["server"]["status"], "BUILD");
    let r = c.post("/sim/advance", json!({})).await;
    assert_eq!(r.body["applied"], 1);
    assert_eq!(show().await.body["server"]["status"], "ACTIVE");
    pod.shutdown().await;
}

#[tokio::test]
async fn auto_mode_delays_are_respected() {
    let mut cfg = SimPodConfig::for_tests("RegionOne");
    cfg.delays.volume_create = Duration::from_millis(300);
    let pod = start(cfg).await.unwrap();
    let c = Client::admin(&pod).await;
    let r = c.cinder("POST", "/volumes", Some(json!({"volume": {"size": 1}})), "3.0").await;
    let id = r.body["volume"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.cinder("GET", &format!("/volumes/{id}"), None, "3.0").await.body["volume"]["status"],
        "creating"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        c.cinder("GET", &format!("/volumes/{id}"), None, "3.0").await.body["volume"]["status"],
        "available"
    );
    pod.shutdown().await;
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pod.json");
    let mut cfg = SimPodConfig::for_tests("RegionOne");
    cfg.state_file = Some(path.clone());
    let pod = start(cfg.clone()).await.unwrap();
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("persisted", "10.0.0.0/24").await;
    let image = c.image("img", b"persisted bytes").await;
    pod.shutdown().await;
    assert!(path.exists());
    let pod = start(cfg).await.unwrap();
    // The old token still works against the restarted pod (new port, same state).
    let c2 = Client { base: pod.base_url().to_string(), ..c };
    assert_eq!(c2.get(&format!("/networking/v2.0/networks/{net}")).await.status, 200);
    let data = c2
        .http
        .get(format!("{}/image/v2/images/{image}/file", c2.base))
        .header("x-auth-token", &c2.token)
        .send()
        .await
        .unwrap();
    assert_eq!(data.bytes().await.unwrap().as_ref(), b"persisted bytes");
    pod.shutdown().await;
}

#[tokio::test]
async fn state_is_saved_on_change_not_only_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pod.json");
    let mut cfg = SimPodConfig::for_tests("RegionOne");
    cfg.state_file = Some(path.clone());
    let pod = start(cfg).await.unwrap();
    let c = Client::admin(&pod).await;
    c.post("/networking/v2.0/networks", json!({"network": {"name": "written-early"}})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("written-early"));
    pod.shutdown().await;
}

/// Two pods sharing VNI 5000: a port in pod 2 reaches a server in pod 1 only through a
/// correct shadow port.
#[tokio::test]
async fn dataplane_view_and_cross_pod_trace_through_shadow_ports() {
    let p1 = start(SimPodConfig::for_tests("Pod1")).await.unwrap();
    let p2 = start(SimPodConfig::for_tests("Pod2")).await.unwrap();
    let (c1, c2) = (Client::admin(&p1).await, Client::admin(&p2).await);
    let mut nets = Vec::new();
    for c in [&c1, &c2] {
        let n = c.post("/networking/v2.0/networks", json!({"network": {"name": "stretched", "provider:network_type": "vxlan", "provider:segmentation_id": 5000}})).await;
        let id = n.body["network"]["id"].as_str().unwrap().to_string();
        c.post(
            "/networking/v2.0/subnets",
            json!({"subnet": {"network_id": id, "cidr": "10.50.0.0/24", "ip_version": 4}}),
        )
        .await;
        nets.push(id);
    }
    let img1 = c1.image("img", b"x").await;
    let vm1 = c1.server("vm1", &img1, &nets[0]).await;
    let port1 =
        c1.get(&format!("/networking/v2.0/ports?device_id={vm1}")).await.body["ports"][0].clone();
    // Pod 2's port for its own VM, at a distinct address.
    let p2port = c2
        .post(
            "/networking/v2.0/ports",
            json!({"port": {"network_id": nets[1], "fixed_ips": [{"ip_address": "10.50.0.20"}]}}),
        )
        .await;
    let p2port = p2port.body["port"]["id"].as_str().unwrap().to_string();
    let img2 = c2.image("img", b"x").await;
    let vm2 = c2.nova("POST", "/servers", Some(json!({"server": {"name": "vm2", "imageRef": img2, "flavorRef": "1", "networks": [{"port": p2port}]}})), "2.79").await;
    assert_eq!(vm2.status, 202);
    let vm1_ip: std::net::IpAddr =
        port1["fixed_ips"][0]["ip_address"].as_str().unwrap().parse().unwrap();

    let views = || async { vec![p1.control().dataplane(), p2.control().dataplane()] };
    let v = views().await;
    let bound = v[0].ports.iter().find(|p| p.device_id == vm1).unwrap();
    let host1 = v[0].hosts.iter().find(|h| h.name == bound.host).unwrap().tunnel_ip;
    assert_eq!(bound.tunnel_ip, Some(host1));
    let r = trace(&v, &p2port, vm1_ip);
    assert!(!r.reachable, "no shadow port yet: {r:?}");

    // A shadow port pointing at the wrong tunnel does not help.
    let mk_shadow = |tunnel: String| {
        json!({"port": {"network_id": nets[1], "name": format!("shadow_port_{}", port1["id"].as_str().unwrap()),
            "device_owner": "compute:shadow", "mac_address": port1["mac_address"], "binding:host_id": bound.host,
            "binding:profile": {"tunnel_ip": tunnel}, "fixed_ips": [{"ip_address": vm1_ip.to_string()}]}})
    };
    let bad = c2.post("/networking/v2.0/ports", mk_shadow("10.255.255.1".into())).await;
    assert_eq!(bad.status, 201);
    let r = trace(&views().await, &p2port, vm1_ip);
    assert!(!r.reachable);
    assert!(r.reason.unwrap().contains("10.255.255.1"));
    c2.put(
        &format!("/networking/v2.0/ports/{}", bad.body["port"]["id"].as_str().unwrap()),
        json!({"port": {"binding:profile": {"tunnel_ip": host1.to_string()}}}),
    )
    .await;
    let r = trace(&views().await, &p2port, vm1_ip);
    assert!(r.reachable, "{r:?}");
    assert_eq!(r.dest_region.as_deref(), Some("Pod1"));
    assert_eq!(r.dest_port.as_deref(), port1["id"].as_str());

    // Over HTTP the same view is available to other processes.
    let http_view = c2.get("/sim/dataplane").await;
    assert!(http_view.body["ports"].as_array().unwrap().iter().any(|p| p["shadow"] == true));
    p1.shutdown().await;
    p2.shutdown().await;
}

#[tokio::test]
async fn trace_follows_router_interfaces_and_routes_within_a_pod() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (_, s1) = c.net_with_subnet("a", "10.61.0.0/24").await;
    let (n2, s2) = c.net_with_subnet("b", "10.62.0.0/24").await;
    let (n1, _) = (
        c.get(&format!("/networking/v2.0/subnets/{s1}")).await.body["subnet"]["network_id"]
            .as_str()
            .unwrap()
            .to_string(),
        (),
    );
    let src = c
        .post(
            "/networking/v2.0/ports",
            json!({"port": {"network_id": n1, "binding:host_id": "regionone-host1"}}),
        )
        .await;
    let src = src.body["port"]["id"].as_str().unwrap().to_string();
    c.post("/networking/v2.0/ports", json!({"port": {"network_id": n2, "binding:host_id": "regionone-host2", "fixed_ips": [{"ip_address": "10.62.0.9"}]}})).await;
    let to: std::net::IpAddr = "10.62.0.9".parse().unwrap();
    assert!(!trace(&[pod.control().dataplane()], &src, to).reachable, "no router yet");
    let r = c.post("/networking/v2.0/routers", json!({"router": {"name": "r"}})).await;
    let rid = r.body["router"]["id"].as_str().unwrap().to_string();
    for s in [&s1, &s2] {
        c.put(
            &format!("/networking/v2.0/routers/{rid}/add_router_interface"),
            json!({"subnet_id": s}),
        )
        .await;
    }
    let t = trace(&[pod.control().dataplane()], &src, to);
    assert!(t.reachable, "{t:?}");
    assert!(t.hops.iter().any(|h| h.contains("router")));
    pod.shutdown().await;
}

#[tokio::test]
async fn many_pods_run_in_one_process() {
    let mut pods = Vec::new();
    for i in 0..20 {
        pods.push(start(SimPodConfig::for_tests(&format!("Pod{i}"))).await.unwrap());
    }
    for p in &pods {
        let c = Client::admin(p).await;
        assert_eq!(c.get("/compute/v2.1/flavors").await.status, 200);
    }
    let mut addrs: Vec<_> = pods.iter().map(|p| p.addr()).collect();
    addrs.dedup();
    assert_eq!(addrs.len(), 20);
    for p in pods {
        p.shutdown().await;
    }
}
