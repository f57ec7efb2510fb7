//! The networking audit: an object the gateway's naming says it made, with
//! no routing, is deleted once older than the grace period (the pod's own
//! objects and other projects' are left alone), and a shadow port deleted behind the gateway's
//! back is made again.

mod common;

use std::time::Duration;

use common::{World, objects, world};
use serde_json::{Value, json};
use tricircle_core::audit::Finding;
use tricircle_pod_client::{PodRequest, ServiceType};

impl World {
    async fn in_pod1(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let pods = self.app.store().pod_list().await.unwrap();
        let pod1 = pods.iter().find(|p| p.region_name == "Pod1").unwrap();
        let req = PodRequest::new(ServiceType::Network, method, path.to_string()).with_body(body);
        let session = self.app.pod_admin_session(pod1).await.unwrap();
        match session.call(&req).await.unwrap().json() {
            Ok(v) => v,
            Err(_) => Value::Null,
        }
    }

    async fn pod1(&self) -> tricircle_store::Pod {
        let pods = self.app.store().pod_list().await.unwrap();
        pods.into_iter().find(|p| p.region_name == "Pod1").unwrap()
    }
}

fn ip(p: &Value) -> String {
    p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn orphans_go_after_the_grace_and_a_lost_shadow_is_made_again() {
    use reqwest::Method;
    let w = world(2).await;
    let (net, _) = w.network("wide", "10.66.0.0/24").await;
    let a = w.create(w.with_networks("a", "az1", json!([{"uuid": net}]))).await.unwrap();
    let b = w.create(w.with_networks("b", "az2", json!([{"uuid": net}]))).await.unwrap();
    let (pa, pb) = (w.port_of(&a).await, w.port_of(&b).await);
    let ba = w.bottom_port(pa["id"].as_str().unwrap()).await;
    assert!(w.trace(&ba, &ip(&pb)).reachable);

    // Behind the gateway's back in Pod1: a network named like one of the
    // gateway's (a UUID) that no routing knows, one of the pod's own, and
    // b's shadow port deleted.
    let pod1 = w.pod1().await;
    let ours = w
        .routings("project")
        .await
        .into_iter()
        .find(|r| r.pod_id == pod1.pod_id)
        .and_then(|r| r.bottom_id)
        .expect("the demo project's project in Pod1");
    let orphan_name = uuid::Uuid::new_v4().to_string();
    let body = json!({"network": {"name": orphan_name, "tenant_id": ours}});
    let orphan = w.in_pod1(Method::POST, "/v2.0/networks", body).await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Named like the gateway's, but in a project the gateway did not make.
    let foreign_name = uuid::Uuid::new_v4().to_string();
    w.in_pod1(Method::POST, "/v2.0/networks", json!({"network": {"name": foreign_name}})).await;
    w.in_pod1(Method::POST, "/v2.0/networks", json!({"network": {"name": "ops-private"}})).await;
    let shadow = w
        .routings("shadow_port")
        .await
        .into_iter()
        .find(|r| r.top_id == pb["id"].as_str().unwrap())
        .and_then(|r| r.bottom_id)
        .expect("b's shadow in Pod1");
    w.in_pod1(Method::DELETE, &format!("/v2.0/ports/{shadow}"), Value::Null).await;
    assert!(!w.trace(&ba, &ip(&pb)).reachable, "the shadow is gone");

    // Within the grace period the orphan stays; the shadow is made again.
    let first = w.app.audit_pod_networking(&pod1, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(first.orphans_deleted, Vec::<Finding>::new(), "{first:?}");
    assert_eq!(
        first.vanished_remade,
        vec![Finding::new("shadow_port", pb["id"].as_str().unwrap())]
    );
    assert!(first.vanished_missing.is_empty(), "{first:?}");
    let again = w.trace(&ba, &ip(&pb));
    assert!(again.reachable, "{again:?}");

    // Past the grace period the orphan goes, the pod's own network stays.
    let second = w.app.audit_pod_networking(&pod1, Duration::ZERO).await.unwrap();
    assert_eq!(second.orphans_deleted, vec![Finding::new("network", &orphan)], "{second:?}");
    assert!(second.vanished_remade.is_empty(), "nothing else to repair: {second:?}");
    let names: Vec<Value> = objects(&w.pod_state(0), "network", "networks")
        .into_iter()
        .map(|n| n["name"].clone())
        .collect();
    assert!(names.contains(&json!("ops-private")), "{names:?}");
    assert!(!names.contains(&json!(orphan_name)), "{names:?}");
    assert!(names.contains(&json!(foreign_name)), "another project's stays: {names:?}");
    assert!(names.contains(&json!(net)), "the gateway's own copy stays: {names:?}");
    assert!(w.trace(&ba, &ip(&pb)).reachable);

    // A server's port lost in its pod cannot be made again: reported.
    w.in_pod1(Method::DELETE, &format!("/v2.0/ports/{ba}"), Value::Null).await;
    let third = w.app.audit_pod_networking(&pod1, Duration::ZERO).await.unwrap();
    assert_eq!(third.vanished_missing, vec![Finding::new("port", pa["id"].as_str().unwrap())]);
}
