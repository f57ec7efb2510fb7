//! Registering a pod with an auth_url queues a `pod_check` job; running it
//! records the pod's health, which the pod shows.

use std::time::Duration;

use axum::routing::get;
use reqwest::Method;
use serde_json::json;
use tricircle_core::pod_check::PodCheck;
use tricircle_jobs::{Runner, RunnerConfig};
use tricircle_pod_client::PodClient;

use crate::gateway_tests;

/// A stand-in identity endpoint answering Keystone's version document.
async fn identity_stub() -> String {
    let router = axum::Router::new().route(
        "/identity/v3",
        get(|| async { axum::Json(json!({"version": {"id": "v3.14", "status": "stable"}})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/identity/v3")
}

gateway_tests! {
    async fn the_check_logs_in_with_the_pod_credentials(gw: &Gateway) {
        let sim = tricircle_sim_pod::start(tricircle_sim_pod::SimPodConfig::for_tests("PodS")).await.unwrap();
        let mut ids = Vec::new();
        for (region, password) in [("PodS", "secret"), ("PodS2", "secret"), ("PodS3", "wrong-pw")] {
            let body = json!({"pod": {"region_name": region, "az_name": "az", "auth_url": sim.auth_url(), "identity": "mapped",
                "credentials": {"username": "admin", "password": password, "project_name": "admin"}}});
            ids.push(gw.call(Method::POST, "/admin/v1.0/pods", Some(body)).await.ok(201)["pod"]["pod_id"].as_str().unwrap().to_string());
        }
        let client = PodClient::new(Duration::from_secs(5)).unwrap();
        let runner = Runner::new(gw.store().clone(), RunnerConfig::new("test"))
            .with_handler(PodCheck::new(gw.app.clone(), client));
        while runner.run_once().await.unwrap().is_some() {}
        let health = |i: usize| {
            let id = ids[i].clone();
            async move { gw.get(&format!("/admin/v1.0/pods/{id}")).await.body["pod"]["health"].clone() }
        };
        assert_eq!(health(0).await["status"], "up");
        // No call has gone through a pod session yet: the check logs in directly.
        assert_eq!(health(0).await["calls"], 0);
        assert_eq!(health(0).await["error_rate"], 0.0);
        let wrong_region = health(1).await;
        assert_eq!(wrong_region["status"], "down");
        assert!(wrong_region["error"].as_str().unwrap().contains("no compute endpoint in region PodS2"), "{wrong_region}");
        let wrong_password = health(2).await;
        assert_eq!(wrong_password["status"], "down");
        let error = wrong_password["error"].as_str().unwrap();
        assert!(error.contains("cannot log in") && !error.contains("wrong-pw"), "{error}");
        sim.shutdown().await;
    }


    async fn registration_checks_the_pod(gw: &Gateway) {
        let up_url = identity_stub().await;
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let mut ids = Vec::new();
        for (region, url) in [("Up", up_url.clone()), ("Down", format!("http://{closed}/v3"))] {
            let r = gw.call(Method::POST, "/admin/v1.0/pods", Some(json!({"pod": {"region_name": region, "az_name": "az", "auth_url": url}}))).await;
            let pod = r.ok(201)["pod"].clone();
            assert_eq!(pod["health"]["status"], "unknown", "not checked yet");
            ids.push(pod["pod_id"].as_str().unwrap().to_string());
        }
        // A pod without auth_url has nothing to check: no job.
        gw.call(Method::POST, "/admin/v1.0/pods", Some(json!({"pod": {"region_name": "Top"}}))).await.ok(201);
        let jobs = gw.get("/admin/v1.0/jobs?type=pod_check").await.ok(200)["jobs"].clone();
        assert_eq!(jobs.as_array().unwrap().len(), 2);
        assert!(jobs.as_array().unwrap().iter().all(|j| j["status"] == "NEW"));

        let client = PodClient::new(Duration::from_secs(2)).unwrap();
        let runner = Runner::new(gw.store().clone(), RunnerConfig::new("test"))
            .with_handler(PodCheck::new(gw.app.clone(), client));
        while runner.run_once().await.unwrap().is_some() {}

        let up = gw.get(&format!("/admin/v1.0/pods/{}", ids[0])).await.ok(200)["pod"]["health"].clone();
        assert_eq!(up["status"], "up", "{up}");
        assert!(up["latency_ms"].as_i64().unwrap() >= 0);
        assert!(up["checked_at"].is_string() && up["error"].is_null());
        let down = gw.get(&format!("/admin/v1.0/pods/{}", ids[1])).await.ok(200)["pod"]["health"].clone();
        assert_eq!(down["status"], "down");
        assert!(down["error"].as_str().unwrap().contains("cannot connect"), "{down}");
        // The failed check is retried later, not forgotten.
        let jobs = gw.get("/admin/v1.0/jobs?type=pod_check&status=new").await.ok(200)["jobs"].clone();
        assert_eq!(jobs.as_array().unwrap().len(), 1);
        assert!(jobs[0]["last_error"].as_str().unwrap().starts_with("Down: cannot connect"));
        let done = gw.get("/admin/v1.0/jobs?type=pod_check&status=success").await.ok(200)["jobs"].clone();
        assert_eq!(done.as_array().unwrap().len(), 1);
    }
}
