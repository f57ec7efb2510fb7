//! `/admin/v1.0/jobs`: list, show, redo, delete, schemas.

use chrono::Duration;
use reqwest::Method;
use serde_json::json;
use tricircle_store::{Job, JobOutcome, NewJob, now};

use crate::common::Gateway;
use crate::gateway_tests;

async fn enqueue(gw: &Gateway, ty: &str, key: &str) -> Job {
    gw.store()
        .job_enqueue(&NewJob {
            job_type: ty.into(),
            resource_key: key.into(),
            resource: json!({"pod_id": key}),
            project_id: "p1".into(),
        })
        .await
        .unwrap()
        .0
}

/// Claim the next job as `owner`.
async fn claim(gw: &Gateway) -> Job {
    let t = now();
    gw.store().job_claim("test-runner", t, t + Duration::seconds(60)).await.unwrap().unwrap()
}

gateway_tests! {
    async fn list_show_and_filters(gw: &Gateway) {
        let a = enqueue(gw, "pod_check", "a").await;
        let b = enqueue(gw, "pod_check", "b").await;
        let running = claim(gw).await;
        assert_eq!(running.id, a.id);
        let list = gw.get("/admin/v1.0/jobs").await;
        let jobs = list.ok(200)["jobs"].as_array().unwrap().clone();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0]["id"], b.id.to_string(), "newest first");
        assert_eq!(jobs[0]["status"], "NEW");
        assert_eq!(jobs[0]["type"], "pod_check");
        assert_eq!(jobs[0]["resource"], json!({"pod_id": "b"}));
        assert!(jobs[0]["timestamp"].is_string());
        assert_eq!(gw.get("/admin/v1.0/jobs/detail").await.ok(200)["jobs"].as_array().unwrap().len(), 2);
        for (q, n) in [("?status=running", 1), ("?status=NEW", 1), ("?status=Fail", 0), ("?type=pod_check", 2), ("?type=other", 0), ("?project_id=p2", 0)] {
            assert_eq!(gw.get(&format!("/admin/v1.0/jobs{q}")).await.ok(200)["jobs"].as_array().unwrap().len(), n, "{q}");
        }
        assert!(gw.get("/admin/v1.0/jobs?status=sleeping").await.fault(400).contains("Invalid status 'sleeping'"));
        assert!(gw.get("/admin/v1.0/jobs?state=new").await.fault(400).contains("unknown field"));
        assert!(gw.get("/admin/v1.0/jobs?marker=x").await.fault(400).contains("must be a UUID"));
        assert!(gw.get("/admin/v1.0/jobs?marker=7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11").await.fault(400).contains("could not be found"));
        assert!(gw.get("/admin/v1.0/jobs?limit=-3").await.fault(400).contains("non-negative"));

        let shown = gw.get(&format!("/admin/v1.0/jobs/{}", a.id)).await;
        let job = &shown.ok(200)["job"];
        assert_eq!((job["status"].as_str(), job["attempts"].as_i64()), (Some("RUNNING"), Some(1)));
        gw.get("/admin/v1.0/jobs/7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11").await.fault(404);
        gw.get("/admin/v1.0/jobs/12").await.fault(400);
    }

    async fn paging(gw: &Gateway) {
        for i in 0..9 {
            enqueue(gw, "pod_check", &format!("k{i}")).await;
        }
        let mut seen = Vec::new();
        let mut next = Some("/admin/v1.0/jobs?limit=4&type=pod_check".to_string());
        while let Some(url) = next.take() {
            let page = gw.get(&url).await;
            let body = page.ok(200);
            seen.extend(body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()));
            next = body["jobs_links"][0]["href"].as_str().map(str::to_string);
            if let Some(n) = &next {
                assert!(n.contains("type=pod_check"), "filters survive: {n}");
            }
        }
        let all: Vec<_> = gw.get("/admin/v1.0/jobs").await.body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(seen, all);
        assert_eq!(seen.len(), 9);
    }

    async fn redo_and_delete(gw: &Gateway) {
        let j = enqueue(gw, "pod_check", "x").await;
        claim(gw).await;
        let path = format!("/admin/v1.0/jobs/{}", j.id);
        assert!(gw.call(Method::PUT, &path, None).await.fault(409).contains("running"));
        assert!(gw.call(Method::DELETE, &path, None).await.fault(409).contains("running"));
        gw.store().job_finish(j.id, "test-runner", JobOutcome::Fail { error: "pod unreachable".into() }).await.unwrap();
        let failed = gw.get(&path).await;
        assert_eq!(failed.ok(200)["job"]["status"], "FAIL");
        assert_eq!(failed.body["job"]["last_error"], "pod unreachable");
        let redone = gw.call(Method::PUT, &path, None).await;
        let job = &redone.ok(200)["job"];
        assert_eq!((job["id"].as_str(), job["status"].as_str(), job["attempts"].as_i64()), (Some(j.id.to_string().as_str()), Some("NEW"), Some(0)));
        claim(gw).await;
        gw.store().job_finish(j.id, "test-runner", JobOutcome::Success).await.unwrap();
        assert!(gw.call(Method::PUT, &path, None).await.fault(409).contains("already succeeded"));
        // Both attempts are in the log, oldest first.
        let attempts = gw.get(&format!("{path}/attempts")).await;
        let log = attempts.ok(200)["attempts"].as_array().unwrap().clone();
        let outcomes: Vec<_> = log.iter().map(|a| (a["owner"].as_str(), a["outcome"].as_str())).collect();
        assert_eq!(outcomes, [(Some("test-runner"), Some("FAIL")), (Some("test-runner"), Some("SUCCESS"))]);
        assert_eq!(log[0]["error"], "pod unreachable");
        assert!(log[1]["started_at"].as_str() > log[0]["finished_at"].as_str());
        assert_eq!(gw.call(Method::DELETE, &path, None).await.status, 204);
        gw.get(&path).await.fault(404);
        gw.get(&format!("{path}/attempts")).await.fault(404);
        gw.call(Method::PUT, &path, None).await.fault(404);
        gw.call(Method::DELETE, &path, None).await.fault(404);
        gw.call(Method::PUT, "/admin/v1.0/jobs/zzz", None).await.fault(400);
    }

    async fn schemas(gw: &Gateway) {
        let s = gw.get("/admin/v1.0/jobs/schemas").await;
        let schemas = s.ok(200)["schemas"].as_array().unwrap().clone();
        let pod_check = schemas.iter().find(|s| s["type"] == "pod_check").expect("pod_check is registered");
        assert_eq!(pod_check["resource"], json!(["pod_id"]));
        for sync in ["network_sync", "router_sync", "floating_ip_sync", "security_group_sync"] {
            let kind = schemas.iter().find(|s| s["type"] == sync).expect("the syncs are jobs");
            assert_eq!(kind["resource"], json!(["id"]), "{sync}");
        }
    }
}
