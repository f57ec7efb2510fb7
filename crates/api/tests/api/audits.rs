//! `/admin/v1.0/audits` and `/admin/v1.0/pods/{pod_id}/audit` over HTTP:
//! 401/403, 400 for a bad ID, 404 for an unknown pod, a pod never audited
//! and the top region, 409 for running the top region's, and a run over a
//! sim pod finding a volume the pod lost (and a pod that is away).

use reqwest::Method;
use serde_json::{Value, json};
use tricircle_pod_client::{PodRequest, ServiceType};
use tricircle_store::testing::Backend;

use crate::common::{Gateway, MEMBER};

const UNKNOWN: &str = "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11";

async fn add_pod(gw: &Gateway, body: Value) -> String {
    let r = gw.call(Method::POST, "/admin/v1.0/pods", Some(json!({ "pod": body }))).await;
    r.ok(201)["pod"]["pod_id"].as_str().unwrap().to_string()
}

fn audit_path(pod: &str) -> String {
    format!("/admin/v1.0/pods/{pod}/audit")
}

async fn check(backend: Backend) {
    let Some(gw) = Gateway::start(backend).await else {
        eprintln!("skipped: {} is not set", tricircle_store::testing::PG_ENV);
        return;
    };
    let sim =
        tricircle_sim_pod::start(tricircle_sim_pod::SimPodConfig::for_tests("Pod1")).await.unwrap();
    let top = add_pod(&gw, json!({"region_name": "RegionOne"})).await;
    let pod = add_pod(&gw, json!({"region_name": "Pod1", "az_name": "az1", "auth_url": sim.auth_url(),
        "identity": "mapped", "credentials": {"username": "admin", "password": "secret", "project_name": "admin"}}))
    .await;

    assert_eq!(gw.get("/admin/v1.0/audits").await.ok(200), &json!({"audits": []}));
    for (method, path) in [
        (Method::GET, "/admin/v1.0/audits".to_string()),
        (Method::GET, audit_path(&pod)),
        (Method::POST, audit_path(&pod)),
    ] {
        let r = gw.raw(method.clone(), &path, None, None).await;
        r.fault(401);
        let r = gw.raw(method, &path, Some(MEMBER), None).await;
        assert!(r.fault(403).contains("admin role"));
    }
    assert!(gw.get(&audit_path("nope")).await.fault(400).contains("UUID"));
    assert!(gw.call(Method::POST, &audit_path("nope"), None).await.fault(400).contains("UUID"));
    assert!(gw.get(&audit_path(UNKNOWN)).await.fault(404).contains(UNKNOWN));
    assert!(gw.call(Method::POST, &audit_path(UNKNOWN), None).await.fault(404).contains(UNKNOWN));
    let never = gw.get(&audit_path(&pod)).await.fault(404);
    assert!(never.contains("has not been audited yet") && never.contains("Pod1"), "{never}");
    assert!(gw.get(&audit_path(&top)).await.fault(404).contains("top region"));
    let refused = gw.call(Method::POST, &audit_path(&top), None).await.fault(409);
    assert!(refused.contains("top region") && refused.contains("RegionOne"), "{refused}");

    // A member's volume in Pod1, deleted there behind the gateway's back.
    let body = json!({"volume": {"size": 1, "availability_zone": "az1"}});
    let made =
        gw.raw(Method::POST, "/volume/v3/volumes", Some(MEMBER), Some(body.to_string())).await;
    assert_eq!(made.status.as_u16(), 202, "{}", made.body);
    let vol = made.body["volume"]["id"].as_str().unwrap().to_string();
    let routings = gw.get(&format!("/admin/v1.0/routings?resource_type=volume&top_id={vol}")).await;
    let bottom = routings.ok(200)["routings"][0]["bottom_id"].as_str().unwrap().to_string();
    let pod_row = gw.store().pod_get(pod.parse().unwrap()).await.unwrap().unwrap();
    let admin = gw.app.pod_admin_session(&pod_row).await.unwrap();
    let delete =
        PodRequest::new(ServiceType::BlockStorage, Method::DELETE, format!("/volumes/{bottom}"));
    admin.call(&delete).await.unwrap();
    sim.control().advance();

    let r = gw.call(Method::POST, &audit_path(&pod), None).await;
    let run = r.ok(200)["audit"].clone();
    assert_eq!(
        (run["pod_id"].as_str(), run["region_name"].as_str()),
        (Some(pod.as_str()), Some("Pod1"))
    );
    assert_eq!(run["outcome"], "ok", "{run}");
    assert!(run["message"].is_null(), "{run}");
    assert_eq!(run["repairs"], 1, "{run}");
    assert_eq!(run["findings"]["vanished_marked"], json!([{"kind": "volume", "id": vol}]), "{run}");
    for list in ["orphans_deleted", "vanished_remade", "vanished_missing", "ports_released"] {
        assert_eq!(run["findings"][list], json!([]), "{list}: {run}");
    }
    assert!(run["started_at"].as_str() <= run["finished_at"].as_str(), "{run}");
    let shown = gw.raw(Method::GET, &format!("/volume/v3/volumes/{vol}"), Some(MEMBER), None).await;
    assert_eq!(shown.ok(200)["volume"]["status"], "error", "the member sees it lost");

    assert_eq!(gw.get(&audit_path(&pod)).await.ok(200)["audit"], run, "recorded as the last run");
    let all = gw.get("/admin/v1.0/audits").await;
    assert_eq!(all.ok(200)["audits"], json!([run]));

    // The pod away: answered, with outcome error naming it and nothing internal.
    sim.control().set_down(true);
    let r = gw.call(Method::POST, &audit_path(&pod), None).await;
    let run = r.ok(200)["audit"].clone();
    assert_eq!(run["outcome"], "error", "{run}");
    let message = run["message"].as_str().unwrap();
    assert!(message.contains("Region Pod1"), "{message}");
    assert!(!message.contains("127.0.0.1") && !message.contains("secret"), "{message}");
    assert_eq!(gw.get(&audit_path(&pod)).await.ok(200)["audit"]["outcome"], "error");

    // Deleting the pod takes its audit with it (its routings and the
    // volume's row first).
    gw.store().resource_delete(&vol).await.unwrap();
    for r in gw
        .store()
        .routing_list(&Default::default(), &tricircle_store::Page { limit: 100, marker: None })
        .await
        .unwrap()
    {
        gw.store().routing_delete(r.id).await.unwrap();
    }
    assert_eq!(gw.call(Method::DELETE, &format!("/admin/v1.0/pods/{pod}"), None).await.status, 204);
    assert_eq!(gw.get("/admin/v1.0/audits").await.ok(200), &json!({"audits": []}));
    sim.shutdown().await;
    gw.cleanup().await;
}

#[tokio::test]
async fn audits_over_http_sqlite() {
    check(Backend::Sqlite).await;
}

#[tokio::test]
async fn audits_over_http_postgres() {
    check(Backend::Postgres).await;
}
