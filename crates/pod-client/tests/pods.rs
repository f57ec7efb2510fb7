//! The pod client against a sim pod and, when `TRICIRCLE_REAL_CLOUDS` names
//! the real-openstack harness's clouds.yaml, against a real region: login
//! and catalog discovery, microversion negotiation, token renewal, the
//! services' error bodies, timeouts. Fault-driven cases (an injected 401, a
//! slow pod) need the sim pod's control API and run only there.

use std::time::Duration;

use reqwest::Method;
use tricircle_pod_client::{
    Credentials, Microversion, PodError, PodRequest, PodSession, ServiceType, SessionConfig,
};
use tricircle_sim_pod::{FaultRule, SimPodConfig};

const MISSING: &str = "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11";

fn session(creds: Credentials, region: &str, timeout: Duration) -> PodSession {
    let mut config = SessionConfig::new(creds, region);
    config.timeout = timeout;
    PodSession::new(config).unwrap()
}

/// Checks that hold for any region, real or simulated.
async fn common_contract(creds: Credentials, region: &str) {
    let s = session(creds.clone(), region, Duration::from_secs(30));
    // Catalog discovery for every service we use.
    for service in [
        ServiceType::Identity,
        ServiceType::Compute,
        ServiceType::BlockStorage,
        ServiceType::Network,
        ServiceType::Image,
    ] {
        let url = s.endpoint(service).await.unwrap_or_else(|e| panic!("{service:?}: {e}"));
        assert!(url.starts_with("http"), "{service:?}: {url}");
    }
    assert!(!s.project_id().await.unwrap().is_empty());
    // Microversions from the version documents.
    let compute =
        s.version_range(ServiceType::Compute).await.unwrap().expect("compute has microversions");
    assert!(
        compute.min == Microversion::new(2, 1) && compute.max >= Microversion::new(2, 79),
        "{compute:?}"
    );
    let volume = s
        .version_range(ServiceType::BlockStorage)
        .await
        .unwrap()
        .expect("volume has microversions");
    assert!(volume.max >= Microversion::new(3, 60), "{volume:?}");
    assert_eq!(s.version_range(ServiceType::Network).await.unwrap(), None);
    let mv = s.negotiate(ServiceType::Compute, Microversion::new(2, 79)).await.unwrap();
    let servers = s
        .call(&PodRequest::get(ServiceType::Compute, "/servers/detail").with_microversion(mv))
        .await
        .unwrap();
    assert_eq!(servers.status, 200);
    assert!(servers.json::<serde_json::Value>().unwrap()["servers"].is_array());
    assert!(servers.request_id.as_deref().is_some_and(|id| id.starts_with("req-")));
    assert_eq!(
        servers.headers.get("openstack-api-version").and_then(|v| v.to_str().ok()),
        Some("compute 2.79")
    );

    // Each service's error body, parsed.
    let expect_404 = |err: PodError, kind: &str| match err {
        PodError::Service { status: 404, kind: k, message, .. } => {
            assert_eq!(k, kind, "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected a 404 {kind}, got {other:?}"),
    };
    expect_404(
        s.call(&PodRequest::get(ServiceType::Compute, format!("/servers/{MISSING}")))
            .await
            .unwrap_err(),
        "itemNotFound",
    );
    expect_404(
        s.call(&PodRequest::get(ServiceType::BlockStorage, format!("/volumes/{MISSING}")))
            .await
            .unwrap_err(),
        "itemNotFound",
    );
    expect_404(
        s.call(&PodRequest::get(ServiceType::Network, format!("/v2.0/networks/{MISSING}")))
            .await
            .unwrap_err(),
        "NetworkNotFound",
    );
    expect_404(
        s.call(&PodRequest::get(ServiceType::Image, format!("/v2/images/{MISSING}")))
            .await
            .unwrap_err(),
        "Not Found",
    );
    let bad = s
        .call(
            &PodRequest::new(ServiceType::Compute, Method::POST, "/servers")
                .with_body(serde_json::json!({"server": {}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(bad, PodError::Service { status: 400, ref kind, .. } if kind == "badRequest"),
        "{bad:?}"
    );

    // A renewal margin longer than the token's life: every call logs in again.
    let mut config = SessionConfig::new(creds.clone(), region);
    config.renew_before = Duration::from_secs(100 * 24 * 3600);
    let renewing = PodSession::new(config).unwrap();
    for _ in 0..3 {
        renewing.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap();
    }
    assert_eq!(renewing.logins(), 3);
    assert_eq!(s.logins(), 1, "the first session reused its token throughout");

    // Wrong password: an auth error, the password nowhere in it.
    let wrong = Credentials { password: "not-the-password-1234".into(), ..creds };
    let err = session(wrong, region, Duration::from_secs(30))
        .call(&PodRequest::get(ServiceType::Compute, "/flavors"))
        .await
        .unwrap_err();
    assert!(matches!(err, PodError::Auth(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("not-the-password-1234"));
}

fn sim_credentials(pod: &tricircle_sim_pod::SimPodHandle) -> Credentials {
    Credentials {
        auth_url: pod.auth_url(),
        username: "admin".into(),
        password: "secret".into(),
        project_name: "admin".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    }
}

#[tokio::test]
async fn sim_pod_contract() {
    let pod = tricircle_sim_pod::start(SimPodConfig::for_tests("PodA")).await.unwrap();
    common_contract(sim_credentials(&pod), "PodA").await;
    pod.shutdown().await;
}

#[tokio::test]
async fn sim_pod_401_timeout_and_down() {
    let pod = tricircle_sim_pod::start(SimPodConfig::for_tests("PodA")).await.unwrap();
    let s = session(sim_credentials(&pod), "PodA", Duration::from_millis(400));
    s.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap();
    // The pod forgets our token once: the session logs in again and the call succeeds.
    pod.control().add_fault(FaultRule { count: Some(1), ..FaultRule::error("compute.*", 401) });
    assert_eq!(
        s.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap().status,
        200
    );
    assert_eq!(s.logins(), 2);
    // An injected 503 comes back typed and retryable.
    pod.control().add_fault(FaultRule { count: Some(1), ..FaultRule::error("compute.*", 503) });
    let err = s.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap_err();
    assert!(matches!(err, PodError::Service { status: 503, .. }) && err.is_retryable(), "{err:?}");
    // A Keystone that fails on login is worth trying again later (wrong
    // credentials are not: see the contract).
    let fresh = session(sim_credentials(&pod), "PodA", Duration::from_millis(400));
    pod.control()
        .add_fault(FaultRule { count: Some(1), ..FaultRule::error("identity.token_issue", 503) });
    let err = fresh.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap_err();
    assert!(matches!(err, PodError::Service { status: 503, .. }) && err.is_retryable(), "{err:?}");
    fresh.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap();
    // A slow pod hits the per-call deadline.
    pod.control().set_latency(Duration::from_secs(2));
    let err = s.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap_err();
    assert!(matches!(err, PodError::Timeout(_)), "{err:?}");
    pod.control().clear_faults();
    // A pod that refuses connections.
    pod.control().set_down(true);
    let err = s.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await.unwrap_err();
    assert!(matches!(err, PodError::Connect(_)) && err.is_retryable(), "{err:?}");
    let before = s.stats();
    pod.control().set_down(false);
    // The pod listens again shortly; the same session recovers.
    let mut back = Err(PodError::Connect(String::new()));
    for _ in 0..40 {
        back = s.call(&PodRequest::get(ServiceType::Compute, "/flavors")).await;
        if back.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(back.unwrap().status, 200);
    // The 503, the timeout and the refused connection count as failures.
    assert!(before.failures >= 3 && before.calls > before.failures, "{before:?}");
    let after = s.stats();
    assert!(
        after.last_success_at > before.last_success_at
            && after.last_success_at >= after.last_failure_at
    );
    pod.shutdown().await;
}

/// The gated suite: set `TRICIRCLE_REAL_CLOUDS` to the clouds.yaml written
/// by `scripts/real-openstack up` (cloud `real`).
#[tokio::test]
async fn real_region_contract() {
    let Ok(path) = std::env::var("TRICIRCLE_REAL_CLOUDS") else {
        eprintln!("skipped: TRICIRCLE_REAL_CLOUDS is not set");
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let cloud = &doc["clouds"]["real"];
    let auth = &cloud["auth"];
    let s = |k: &str| auth[k].as_str().unwrap_or("Default").to_string();
    let creds = Credentials {
        auth_url: s("auth_url"),
        username: s("username"),
        password: s("password"),
        project_name: s("project_name"),
        user_domain_name: s("user_domain_name"),
        project_domain_name: s("project_domain_name"),
    };
    let region = cloud["region_name"].as_str().unwrap_or("RegionOne").to_string();
    common_contract(creds, &region).await;
}
