//! The committed OpenAPI document (`docs/admin-openapi.json`) must equal the
//! one the code generates, and the gateway must serve that same document.
//! Regenerate with `TRICIRCLE_BLESS=1 cargo test -p tricircle-api openapi`.

use std::path::PathBuf;

use tricircle_store::testing::Backend;

use crate::common::Gateway;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/admin-openapi.json")
}

#[test]
fn committed_openapi_document_is_current() {
    let generated = tricircle_api::admin::openapi_json_text();
    let path = committed_path();
    if std::env::var_os("TRICIRCLE_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/admin-openapi.json is stale; regenerate it with \
         `TRICIRCLE_BLESS=1 cargo test -p tricircle-api openapi` and commit it"
    );
}

#[tokio::test]
async fn the_gateway_serves_the_document() {
    let gw = Gateway::start(Backend::Sqlite).await.unwrap();
    let served = gw.http.get(format!("{}/admin/v1.0/openapi.json", gw.base)).send().await.unwrap();
    assert_eq!(served.status().as_u16(), 200);
    let text = served.text().await.unwrap();
    assert_eq!(text, tricircle_api::admin::openapi_json_text());
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    gw.cleanup().await;
}
