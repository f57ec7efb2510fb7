//! `GET /admin/v1.0/trace` over HTTP: 401 without a token, 403 for a member,
//! 400 for a bad address or not exactly one of `from_port` and
//! `from_outside=true`, 404 for an unknown port, 409 for a port on no
//! server, and 200 with the verdict in top IDs from a sim pod's state.

use reqwest::Method;
use serde_json::{Value, json};
use tricircle_pod_client::{PodRequest, ServiceType};

use crate::common::{ADMIN, Gateway, MEMBER};

async fn pod_post(gw: &Gateway, path: &str, body: Value) -> Value {
    let pods = gw.store().pod_list().await.unwrap();
    let pod = pods.iter().find(|p| p.region_name == "Pod1").unwrap();
    let s = gw.app.pod_admin_session(pod).await.unwrap();
    let req = PodRequest::new(ServiceType::Network, Method::POST, path).with_body(body);
    s.call(&req).await.unwrap().json().unwrap()
}

async fn top(gw: &Gateway, path: &str, body: Value) -> Value {
    let r = gw
        .raw(Method::POST, &format!("/networking/v2.0{path}"), Some(ADMIN), Some(body.to_string()))
        .await;
    r.ok(201).clone()
}

async fn route(gw: &Gateway, pod: &str, top_id: &str, bottom: &str, ty: &str) {
    let body = json!({"routing": {"top_id": top_id, "bottom_id": bottom, "pod_id": pod, "project_id": "p1", "resource_type": ty}});
    gw.call(Method::POST, "/admin/v1.0/routings", Some(body)).await.ok(201);
}

#[tokio::test]
async fn trace_over_http() {
    let gw = Gateway::start(tricircle_store::testing::Backend::Sqlite).await.unwrap();
    let sim =
        tricircle_sim_pod::start(tricircle_sim_pod::SimPodConfig::for_tests("Pod1")).await.unwrap();
    let body = json!({"pod": {"region_name": "Pod1", "az_name": "az1", "auth_url": sim.auth_url(), "identity": "mapped",
        "credentials": {"username": "admin", "password": "secret", "project_name": "admin"}}});
    let pod = gw.call(Method::POST, "/admin/v1.0/pods", Some(body)).await.ok(201)["pod"]["pod_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A top network with two ports, their copies in Pod1 (made here as the
    // gateway would), one bound to a host, and the routings saying so.
    let net = top(&gw, "/networks", json!({"network": {"name": "n"}})).await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sub = top(
        &gw,
        "/subnets",
        json!({"subnet": {"network_id": net, "cidr": "10.70.0.0/24", "ip_version": 4}}),
    )
    .await["subnet"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tops = Vec::new();
    for name in ["a", "b"] {
        let p = top(&gw, "/ports", json!({"port": {"network_id": net, "name": name}})).await;
        tops.push(p["port"].clone());
    }
    let bnet = pod_post(&gw, "/v2.0/networks", json!({"network": {"name": net}})).await["network"]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bsub = pod_post(&gw, "/v2.0/subnets", json!({"subnet": {"network_id": bnet, "cidr": "10.70.0.0/24", "ip_version": 4, "name": sub}}))
        .await["subnet"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    route(&gw, &pod, &net, &bnet, "network").await;
    route(&gw, &pod, &sub, &bsub, "subnet").await;
    let host = sim.control().dataplane().hosts[0].name.clone();
    let mut bottoms = vec![bnet.clone(), bsub.clone()];
    for (i, p) in tops.iter().enumerate() {
        let ip = p["fixed_ips"][0]["ip_address"].clone();
        let mut body = json!({"port": {"network_id": bnet, "name": p["id"], "fixed_ips": [{"subnet_id": bsub, "ip_address": ip}]}});
        if i == 0 {
            body["port"]["binding:host_id"] = json!(host);
        }
        let b =
            pod_post(&gw, "/v2.0/ports", body).await["port"]["id"].as_str().unwrap().to_string();
        route(&gw, &pod, p["id"].as_str().unwrap(), &b, "port").await;
        bottoms.push(b);
    }
    let (a, b) = (tops[0]["id"].as_str().unwrap(), tops[1]["id"].as_str().unwrap());
    let b_ip = tops[1]["fixed_ips"][0]["ip_address"].as_str().unwrap();

    let url = |from: &str, to: &str| format!("/admin/v1.0/trace?from_port={from}&to={to}");
    let r = gw.raw(Method::GET, &url(a, b_ip), None, None).await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.body);
    let r = gw.raw(Method::GET, &url(a, b_ip), Some(MEMBER), None).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    for bad in [
        url(a, "10.70.0.999"),
        url(a, "nope"),
        format!("/admin/v1.0/trace?to={b_ip}"),
        format!("{}&x=1", url(a, b_ip)),
    ] {
        let r = gw.get(&bad).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
    }
    // Exactly one of from_port and from_outside=true, and the message says so.
    let neither = gw.get(&format!("/admin/v1.0/trace?to={b_ip}")).await.fault(400);
    assert!(neither.contains("from_port") && neither.contains("from_outside=true"), "{neither}");
    let off = gw.get(&format!("/admin/v1.0/trace?from_outside=false&to={b_ip}")).await;
    assert!(off.fault(400).contains("from_outside=true"));
    let both = gw.get(&format!("{}&from_outside=true", url(a, b_ip))).await.fault(400);
    assert!(both.contains("not both"), "{both}");
    let maybe = gw.get(&format!("/admin/v1.0/trace?from_outside=maybe&to={b_ip}")).await;
    assert!(maybe.fault(400).contains("\"maybe\" is not a boolean"));
    let outside = |to: &str| format!("/admin/v1.0/trace?from_outside=true&to={to}");
    let r = gw.raw(Method::GET, &outside(b_ip), Some(MEMBER), None).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    assert_eq!(gw.get(&outside("nope")).await.status.as_u16(), 400);
    // From the outside to an address no pod has as a floating IP: answered.
    let r = gw.get(&outside(b_ip)).await;
    let t = &r.ok(200)["trace"];
    assert_eq!(t["reachable"], false, "{t}");
    assert_eq!(t["reason"], format!("no floating IP {b_ip} in any region"), "{t}");
    let r = gw.get(&format!("/admin/v1.0/trace?from_outside=True&to={b_ip}")).await;
    assert_eq!(r.ok(200)["trace"]["reachable"], false);
    let r = gw.get(&url("4d3c6f8a-1b2e-4c5d-9e8f-0a1b2c3d4e5f", b_ip)).await;
    assert!(r.fault(404).contains("4d3c6f8a-1b2e-4c5d-9e8f-0a1b2c3d4e5f"));
    let loose = top(&gw, "/ports", json!({"port": {"network_id": net, "name": "c"}})).await["port"]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(gw.get(&url(&loose, b_ip)).await.fault(409).contains("not on any server"));

    let r = gw.get(&url(a, b_ip)).await;
    let t = &r.ok(200)["trace"];
    assert_eq!(t["reachable"], true, "{t}");
    assert_eq!(t["dest_port"], b, "{t}");
    assert_eq!(t["dest_region"], "Pod1", "{t}");
    assert!(t["reason"].is_null(), "{t}");
    let hops: Vec<&str> =
        t["hops"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(hops, [format!("Pod1: port {a} on {host}"), format!("Pod1: port {b} on ")], "{t}");
    for x in &bottoms {
        assert!(!t.to_string().contains(x.as_str()), "bottom ID {x} leaked: {t}");
    }
    // From the unbound port: answered, not reachable, and why.
    let r = gw.get(&url(b, "10.70.0.1")).await;
    let t = &r.ok(200)["trace"];
    assert_eq!(t["reachable"], false, "{t}");
    assert!(t["reason"].as_str().unwrap().contains("not bound to a host"), "{t}");
    assert!(t["reason"].as_str().unwrap().contains(b), "{t}");

    // A pod not answering: 503 naming it.
    sim.control().set_down(true);
    assert!(gw.get(&url(a, b_ip)).await.fault(503).contains("Pod1"));
    sim.shutdown().await;
    gw.cleanup().await;
}
