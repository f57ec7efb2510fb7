//! Request ids, health, readiness, metrics, version documents, unknown routes.

use reqwest::Method;
use serde_json::json;

use crate::common::ADMIN;
use crate::gateway_tests;

gateway_tests! {
    async fn request_id_is_generated_or_kept(gw: &Gateway) {
        let r = gw.get("/admin/v1.0/pods").await;
        let id = r.headers["x-openstack-request-id"].to_str().unwrap().to_string();
        assert!(id.starts_with("req-") && id.len() == 40, "{id}");
        let again = gw.get("/admin/v1.0/pods").await;
        assert_ne!(again.headers["x-openstack-request-id"].to_str().unwrap(), id, "fresh per request");

        let mine = "req-3f1c2a9e-8e33-4f7e-9a51-6c1d2b7f0a11";
        let kept = gw.http.get(format!("{}/admin/v1.0/pods", gw.base)).header("X-Auth-Token", ADMIN).header("x-openstack-request-id", mine).send().await.unwrap();
        assert_eq!(kept.headers()["x-openstack-request-id"], mine);
        let replaced = gw.http.get(format!("{}/admin/v1.0/pods", gw.base)).header("x-openstack-request-id", "<script>").send().await.unwrap();
        let got = replaced.headers()["x-openstack-request-id"].to_str().unwrap();
        assert!(got.starts_with("req-") && got != "<script>");
        // Errors and unknown paths carry one too.
        let missing = gw.get("/nowhere").await;
        missing.fault(404);
        assert!(missing.headers.contains_key("x-openstack-request-id"));
    }

    async fn health_ready_and_metrics(gw: &Gateway) {
        assert_eq!(gw.raw(Method::GET, "/healthz", None, None).await.ok(200)["status"], "ok");
        assert_eq!(gw.raw(Method::GET, "/readyz", None, None).await.ok(200)["database"], "ok");
        gw.get("/admin/v1.0/pods/7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11").await.fault(404);
        let text = gw.http.get(format!("{}/metrics", gw.base)).send().await.unwrap().text().await.unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("tricircle_http_requests_total") && l.contains("route=\"/admin/v1.0/pods/{pod_id}\"") && l.contains("status=\"404\""))
            .unwrap_or_else(|| panic!("no counter for the pod route:\n{text}"));
        assert!(line.contains("method=\"GET\""), "{line}");
        assert!(text.contains("tricircle_http_request_duration_seconds_bucket"), "latency histogram");
        assert!(!text.contains("7f2a8c0e"), "raw paths are not labels");
    }

    async fn readiness_fails_when_the_database_is_gone(gw: &Gateway) {
        gw.store().close().await;
        let r = gw.raw(Method::GET, "/readyz", None, None).await;
        assert_eq!(r.status.as_u16(), 503);
        assert_eq!(r.body["database"], "unreachable");
        // Requests that need the database get 503 in the API's shape, not 500.
        let msg = gw.get("/admin/v1.0/pods").await.fault(503);
        assert!(msg.contains("database is unavailable"), "{msg}");
        assert_eq!(gw.raw(Method::GET, "/healthz", None, None).await.status.as_u16(), 200, "alive, just not ready");
    }

    async fn version_documents(gw: &Gateway) {
        for path in ["/admin", "/admin/"] {
            let v = gw.raw(Method::GET, path, None, None).await;
            let entry = &v.ok(200)["versions"][0];
            assert_eq!((entry["id"].as_str(), entry["status"].as_str()), (Some("v1.0"), Some("CURRENT")));
            assert_eq!(entry["links"][0]["href"], format!("{}/admin/v1.0/", gw.base));
        }
        let v = gw.raw(Method::GET, "/admin/v1.0", None, None).await;
        let rels: Vec<_> = v.ok(200)["links"].as_array().unwrap().iter().map(|l| l["rel"].as_str().unwrap().to_string()).collect();
        assert_eq!(rels, ["self", "jobs", "pods", "routings"]);
        assert_eq!(v.body["version"], "1.0");
        gw.raw(Method::POST, "/admin", None, Some("{}".into())).await.fault(405);
        gw.raw(Method::DELETE, "/admin/v1.0", None, None).await.fault(405);
    }

    async fn unknown_routes_and_methods(gw: &Gateway) {
        gw.get("/admin/v2.0/pods").await.fault(404);
        gw.get("/admin/v1.0/pods/x/y").await.fault(404);
        gw.call(Method::PATCH, "/admin/v1.0/routings/1", Some(json!({}))).await.fault(405);
        let wrong_type = gw.http.post(format!("{}/admin/v1.0/pods", gw.base)).header("X-Auth-Token", ADMIN).header("Content-Type", "text/plain").body("region").send().await.unwrap();
        assert_eq!(wrong_type.status().as_u16(), 400);
    }
}
