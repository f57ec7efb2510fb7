//! Validating tokens at an external Keystone: a sim pod's Keystone stands in
//! for it (always), and the real Keystone of `scripts/real-openstack` gives
//! the latency figures (when `TRICIRCLE_REAL_CLOUDS` is set).

use std::time::{Duration, Instant};

use tricircle_core::identity::external::{ExternalKeystone, ExternalKeystoneSettings};
use tricircle_pod_client::{Credentials, password_login};
use tricircle_sim_pod::{FaultRule, SimPodConfig, SimPodHandle};

fn creds(auth_url: &str, user: &str, password: &str, project: &str) -> Credentials {
    Credentials {
        auth_url: auth_url.into(),
        username: user.into(),
        password: password.into(),
        project_name: project.into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    }
}

fn keystone(account: Credentials, ttl: Duration) -> std::sync::Arc<ExternalKeystone> {
    ExternalKeystone::new(ExternalKeystoneSettings {
        credentials: account,
        token_cache_ttl: ttl,
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

async fn sim() -> SimPodHandle {
    tricircle_sim_pod::start(SimPodConfig::for_tests("KeystoneRegion")).await.unwrap()
}

async fn token(c: &Credentials) -> String {
    password_login(&reqwest::Client::new(), c).await.unwrap().value
}

#[tokio::test]
async fn validations_are_cached_for_the_ttl_and_revocation_shows_after_it() {
    let pod = sim().await;
    let url = pod.auth_url();
    let ks = keystone(creds(&url, "admin", "secret", "admin"), Duration::from_millis(400));
    ks.check().await.unwrap();
    let demo = token(&creds(&url, "demo", "secret", "demo")).await;
    let admin = token(&creds(&url, "admin", "secret", "admin")).await;

    let v = ks.validate(&demo).await.unwrap();
    assert_eq!(v.auth.user_name, "demo");
    assert!(v.auth.project_id.is_some() && !v.auth.is_admin(), "{v:?}");
    assert!(v.auth.has_role("member"));
    assert!(ks.validate(&admin).await.unwrap().auth.is_admin());
    assert_eq!(ks.validations(), 2);
    assert_eq!(ks.validate(&demo).await.unwrap(), v, "the same answer from the cache");
    assert_eq!(ks.validations(), 2, "no second call within the TTL");

    // Unknown and malformed tokens: 401; malformed ones never reach Keystone.
    assert_eq!(ks.validate("gAAAAA-unknown").await.unwrap_err().status(), 401);
    assert_eq!(ks.validations(), 3);
    for bad in ["", "with space", "new\nline", &"x".repeat(9000)] {
        assert_eq!(ks.validate(bad).await.unwrap_err().status(), 401);
    }
    assert_eq!(ks.validations(), 3);

    // Revoked in Keystone: still served from the cache until the TTL ends.
    let revoke = reqwest::Client::new()
        .delete(format!("{url}/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status().as_u16(), 204);
    assert!(ks.validate(&demo).await.is_ok(), "within the TTL");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(ks.validate(&demo).await.unwrap_err().status(), 401, "after the TTL");
}

#[tokio::test]
async fn keystone_trouble_is_503_never_500() {
    let pod = sim().await;
    let url = pod.auth_url();
    let ks = keystone(creds(&url, "admin", "secret", "admin"), Duration::ZERO);
    let demo = token(&creds(&url, "demo", "secret", "demo")).await;
    assert!(ks.validate(&demo).await.is_ok());

    for (status, why) in [(500, "failing"), (503, "failing"), (403, "may not validate tokens")] {
        let rule = pod.control().add_fault(FaultRule::error("identity.token_validate", status));
        let e = ks.validate(&demo).await.unwrap_err();
        assert_eq!(e.status(), 503, "Keystone answered {status}: {e}");
        assert!(e.external_message().contains("Keystone"), "{e}");
        assert!(e.to_string().contains(why) || status != 403, "{e}");
        pod.control().remove_fault(rule.id);
    }
    pod.control().set_down(true);
    let e = ks.validate(&demo).await.unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
    assert!(e.external_message().contains("retry later"), "{e}");
    pod.control().set_down(false);
    // The sim pod binds its port again in the background: allow it a moment.
    let mut back = ks.validate(&demo).await;
    for _ in 0..100 {
        if back.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        back = ks.validate(&demo).await;
    }
    assert!(back.is_ok(), "back when Keystone is: {:?}", back.err());
}

#[tokio::test]
async fn the_gateway_logs_in_again_when_keystone_refuses_its_token() {
    let pod = sim().await;
    let url = pod.auth_url();
    let ks = keystone(creds(&url, "admin", "secret", "admin"), Duration::ZERO);
    let demo = token(&creds(&url, "demo", "secret", "demo")).await;
    assert!(ks.validate(&demo).await.is_ok());
    assert_eq!(ks.logins(), 1, "one login, kept");
    assert!(ks.validate(&demo).await.is_ok());
    assert_eq!(ks.logins(), 1);
    // Keystone forgets the gateway's token once: one more login, same answer.
    let mut rule = FaultRule::error("identity.token_validate", 401);
    rule.count = Some(1);
    pod.control().add_fault(rule);
    assert!(ks.validate(&demo).await.is_ok());
    assert_eq!(ks.logins(), 2);
}

#[tokio::test]
async fn the_startup_check_names_the_key_to_fix() {
    let ks = keystone(creds("http://127.0.0.1:1/v3", "gw", "pw", "service"), Duration::ZERO);
    let (key, why) = ks.check().await.unwrap_err();
    assert_eq!(key, "identity.external.auth_url");
    assert!(why.contains("cannot reach"), "{why}");
    let pod = sim().await;
    let ks = keystone(creds(&pod.auth_url(), "admin", "wrong-SECRET", "admin"), Duration::ZERO);
    let (key, why) = ks.check().await.unwrap_err();
    assert_eq!(key, "identity.external.password");
    assert!(!why.contains("wrong-SECRET"), "{why}");
}

/// Figures for the report: validating a real Keystone token without and
/// with the cache. `cargo test -p tricircle-core --test external_keystone
/// real -- --nocapture` with TRICIRCLE_REAL_CLOUDS set.
#[tokio::test]
async fn real_keystone_validation_latency() {
    let Some(path) = std::env::var_os("TRICIRCLE_REAL_CLOUDS") else {
        eprintln!("skipped: TRICIRCLE_REAL_CLOUDS is not set");
        return;
    };
    let doc: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let c = |name: &str| {
        let a = &doc["clouds"][name]["auth"];
        let s = |k: &str| a[k].as_str().unwrap().to_string();
        creds(&s("auth_url"), &s("username"), &s("password"), &s("project_name"))
    };
    let demo = token(&c("real-demo")).await;
    let uncached = keystone(c("real"), Duration::ZERO);
    let cached = keystone(c("real"), Duration::from_secs(60));
    uncached.check().await.unwrap();
    let v = uncached.validate(&demo).await.unwrap();
    assert!(v.auth.has_role("member") && !v.auth.is_admin(), "{v:?}");
    let mut figures = Vec::new();
    for (name, ks, n) in [("uncached", &uncached, 200), ("cached", &cached, 20_000)] {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            ks.validate(&demo).await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let p = |q: f64| times[((n as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
        figures.push(format!("{name}: n={n} p50={:.0} µs p99={:.0} µs", p(0.5), p(0.99)));
    }
    assert_eq!(cached.validations(), 1, "one call to Keystone for 20 000 validations");
    eprintln!("real Keystone token validation: {}", figures.join("; "));
}
