//! Every admin operation, taken from the OpenAPI document so that new
//! endpoints are covered without editing this test: no token → 401, an
//! invalid token → 401, a valid token without the admin role → 403, and
//! nothing changes in the database.

use reqwest::Method;
use tricircle_store::testing::Backend;

use crate::common::{Gateway, MEMBER};

fn operations() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(tricircle_api::admin::openapi()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue; // version documents are public
            }
            let concrete = path
                .replace("{pod_id}", "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11")
                .replace("{job_id}", "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11")
                .replace("{routing_id}", "1");
            ops.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    ops
}

async fn check(gw: &Gateway) {
    let ops = operations();
    assert!(ops.len() >= 12, "expected every admin operation, found {}", ops.len());
    for (method, path) in ops {
        let body = matches!(method, Method::POST | Method::PUT).then(|| "{}".to_string());
        for token in [None, Some("wrong")] {
            let r = gw.raw(method.clone(), &path, token, body.clone()).await;
            r.fault(401);
        }
        let r = gw.raw(method.clone(), &path, Some(MEMBER), body.clone()).await;
        let msg = r.fault(403);
        assert!(msg.contains("admin role"), "{method} {path}: {msg}");
    }
    assert!(gw.store().pod_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_admin_operation_needs_an_admin_sqlite() {
    let gw = Gateway::start(Backend::Sqlite).await.unwrap();
    check(&gw).await;
    gw.cleanup().await;
}

#[tokio::test]
async fn every_admin_operation_needs_an_admin_postgres() {
    let Some(gw) = Gateway::start(Backend::Postgres).await else { return };
    check(&gw).await;
    gw.cleanup().await;
}
