//! The session against a small stand-in region (a test double of Keystone
//! and Nova): token reuse and renewal, re-login on 401, bad credentials,
//! timeouts, error bodies, microversions, request ids. The sim pod and the
//! real-region suites exercise the same client against the real shapes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tricircle_pod_client::{
    Credentials, Microversion, PodError, PodRequest, PodSession, ServiceType, SessionConfig,
};

#[derive(Default)]
struct Region {
    base: Mutex<String>,
    /// Token lifetime in seconds.
    lifetime: AtomicU64,
    issued: AtomicU64,
    /// Tokens issued before this count are revoked.
    revoked_below: AtomicU64,
    refuse_all_tokens: AtomicBool,
    seen: Mutex<Vec<(Option<String>, Option<String>)>>,
}

type S = State<Arc<Region>>;

async fn issue(State(r): S, body: axum::Json<Value>) -> Response {
    let user = &body["auth"]["identity"]["password"]["user"];
    if user["password"] != "secret" {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}))).into_response();
    }
    let n = r.issued.fetch_add(1, Ordering::SeqCst);
    let expires =
        chrono::Utc::now() + chrono::Duration::seconds(r.lifetime.load(Ordering::SeqCst) as i64);
    let base = r.base.lock().unwrap().clone();
    let token = json!({"token": {
        "expires_at": expires.to_rfc3339(),
        "project": {"id": "proj-1", "name": "admin"},
        "catalog": [{"type": "compute", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": format!("{base}/compute/v2.1")}
        ]}]
    }});
    (StatusCode::CREATED, [("x-subject-token", format!("tok-{n}"))], axum::Json(token))
        .into_response()
}

fn token_ok(r: &Region, headers: &HeaderMap) -> bool {
    if r.refuse_all_tokens.load(Ordering::SeqCst) {
        return false;
    }
    let n: u64 = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("tok-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    n != u64::MAX && n >= r.revoked_below.load(Ordering::SeqCst)
}

async fn server(State(r): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    r.seen.lock().unwrap().push((
        headers.get("openstack-api-version").map(|v| v.to_str().unwrap().to_string()),
        headers.get("x-openstack-request-id").map(|v| v.to_str().unwrap().to_string()),
    ));
    if !token_ok(&r, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": 401, "title": "Unauthorized", "message": "nope"}})),
        )
            .into_response();
    }
    match id.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late".into_response()
        }
        "ok" => axum::Json(json!({"server": {"id": "ok", "status": "ACTIVE"}})).into_response(),
        other => (
            StatusCode::NOT_FOUND,
            [("x-openstack-request-id", "req-00000000-0000-0000-0000-00000000b0b0")],
            axum::Json(json!({"itemNotFound": {"code": 404, "message": format!("Instance {other} could not be found.")}})),
        )
            .into_response(),
    }
}

async fn region(lifetime_secs: u64) -> (Arc<Region>, String) {
    let r = Arc::new(Region::default());
    r.lifetime.store(lifetime_secs, Ordering::SeqCst);
    let app = Router::new()
        .route("/identity/v3/auth/tokens", post(issue))
        .route("/compute/v2.1", get(|| async { axum::Json(json!({"version": {"id": "v2.1", "version": "2.96", "min_version": "2.1", "status": "CURRENT"}})) }))
        .route("/compute/v2.1/servers/{id}", get(server))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *r.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, base)
}

fn session(base: &str, password: &str) -> PodSession {
    let creds = Credentials {
        auth_url: format!("{base}/identity/v3"),
        username: "admin".into(),
        password: password.into(),
        project_name: "admin".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    };
    let mut config = SessionConfig::new(creds, "RegionOne");
    config.timeout = Duration::from_millis(500);
    PodSession::new(config).unwrap()
}

fn show(id: &str) -> PodRequest {
    PodRequest::get(ServiceType::Compute, format!("/servers/{id}"))
}

#[tokio::test]
async fn token_is_reused_until_near_expiry() {
    let (r, base) = region(3600).await;
    let s = session(&base, "secret");
    for _ in 0..5 {
        assert_eq!(s.call(&show("ok")).await.unwrap().status, 200);
    }
    assert_eq!((s.logins(), r.issued.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(s.project_id().await.unwrap(), "proj-1");

    // Tokens that expire within the renewal margin (5 min) are renewed on use.
    let (r, base) = region(60).await;
    let s = session(&base, "secret");
    for _ in 0..3 {
        s.call(&show("ok")).await.unwrap();
    }
    assert_eq!(r.issued.load(Ordering::SeqCst), 3, "each call found its token about to expire");
}

#[tokio::test]
async fn a_401_from_the_pod_means_log_in_again_once() {
    let (r, base) = region(3600).await;
    let s = session(&base, "secret");
    s.call(&show("ok")).await.unwrap();
    // The pod revokes every token issued so far.
    r.revoked_below.store(r.issued.load(Ordering::SeqCst), Ordering::SeqCst);
    assert_eq!(s.call(&show("ok")).await.unwrap().status, 200, "recovered by a new login");
    assert_eq!(s.logins(), 2);
    // A pod that refuses every token: one retry, then the 401 comes back.
    r.refuse_all_tokens.store(true, Ordering::SeqCst);
    let err = s.call(&show("ok")).await.unwrap_err();
    assert!(matches!(err, PodError::Service { status: 401, .. }), "{err:?}");
    assert_eq!(s.logins(), 3);
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_without_the_password() {
    let (_, base) = region(3600).await;
    let s = session(&base, "wrong-password-xyz");
    let err = s.call(&show("ok")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PodError::Auth(_)), "{err:?}");
    assert!(text.contains("HTTP 401 Unauthorized"), "{text}");
    assert!(
        !text.contains("wrong-password-xyz") && !format!("{err:?}").contains("wrong-password-xyz")
    );
    assert!(
        !format!("{:?}", s.config()).contains("wrong-password-xyz"),
        "Debug redacts the password"
    );
}

#[tokio::test]
async fn deadlines_errors_and_request_ids() {
    let (r, base) = region(3600).await;
    let s = session(&base, "secret");
    let err = s.call(&show("slow")).await.unwrap_err();
    assert!(matches!(err, PodError::Timeout(_)), "{err:?}");
    assert!(err.is_retryable());

    let req = show("missing").with_request_id("req-3f1c2a9e-8e33-4f7e-9a51-6c1d2b7f0a11");
    match s.call(&req).await.unwrap_err() {
        PodError::Service { status, kind, message, request_id } => {
            assert_eq!((status, kind.as_str()), (404, "itemNotFound"));
            assert_eq!(message, "Instance missing could not be found.");
            assert_eq!(request_id.as_deref(), Some("req-00000000-0000-0000-0000-00000000b0b0"));
        }
        other => panic!("{other:?}"),
    }
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(
        seen.last().unwrap().1.as_deref(),
        Some("req-3f1c2a9e-8e33-4f7e-9a51-6c1d2b7f0a11"),
        "our id reaches the pod"
    );

    // Closed port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let err = session(&format!("http://{closed}"), "secret").call(&show("ok")).await.unwrap_err();
    assert!(matches!(err, PodError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn microversions_are_negotiated_from_the_version_document() {
    let (r, base) = region(3600).await;
    let s = session(&base, "secret");
    assert_eq!(
        s.negotiate(ServiceType::Compute, Microversion::new(2, 79)).await.unwrap(),
        Microversion::new(2, 79)
    );
    assert_eq!(
        s.negotiate(ServiceType::Compute, Microversion::new(2, 120)).await.unwrap(),
        Microversion::new(2, 96)
    );
    assert!(matches!(
        s.negotiate(ServiceType::Compute, Microversion::new(2, 0)).await,
        Err(PodError::Microversion { .. })
    ));
    let mv = s.negotiate(ServiceType::Compute, Microversion::new(2, 79)).await.unwrap();
    s.call(&show("ok").with_microversion(mv)).await.unwrap();
    assert_eq!(r.seen.lock().unwrap().last().unwrap().0.as_deref(), Some("compute 2.79"));
}

#[tokio::test]
async fn a_region_missing_from_the_catalog_is_named() {
    let (_, base) = region(3600).await;
    let mut config = SessionConfig::new(
        Credentials {
            auth_url: format!("{base}/identity/v3"),
            username: "admin".into(),
            password: "secret".into(),
            project_name: "admin".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        },
        "RegionTwo",
    );
    config.timeout = Duration::from_secs(2);
    let err = PodSession::new(config).unwrap().call(&show("ok")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the pod's catalog has no public compute endpoint in region RegionTwo"
    );
}
