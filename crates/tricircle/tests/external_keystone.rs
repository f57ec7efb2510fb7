//! `tricircle serve` in external-Keystone mode, as an operator runs it.
//!
//! - Configuration errors (no auth_url, an unreachable Keystone, a refused
//!   account) stop it with one line naming the key and exit status 2.
//! - Against a `tricircle sim-pod` process as the Keystone: member and admin
//!   tokens work, the admin API wants the admin role, unknown tokens are
//!   401, a revoked token stops working within the cache TTL, `/identity`
//!   answers 404 naming the Keystone, a Keystone that went away is 503
//!   (never 500), and neither the gateway's password nor a token reaches
//!   the debug log.
//! - Against the real Keystone and region of `scripts/real-openstack` (when
//!   `TRICIRCLE_REAL_CLOUDS` is set; `.ci/run` sets it), see
//!   `external_keystone_real.rs`.

mod external_support;

use std::time::Duration;

use external_support::{SIM_PASSWORD, call, external_config, login, one_line, serve, sim_keystone};

#[tokio::test]
async fn external_mode_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, err) = serve(d, "[identity]\nmode = \"external\"\n").err().expect("refused");
    assert_eq!(code, Some(2));
    let line = one_line(&err);
    assert!(line.contains("key `identity.external.auth_url`: is required"), "{line}");

    let unreachable =
        external_config("http://127.0.0.1:1/v3", "gw", "pw-SECRET-unused", "service", "Gw", 10);
    let (code, err) = serve(d, &unreachable).err().expect("refused");
    assert_eq!(code, Some(2), "{err}");
    let line = one_line(&err);
    assert!(
        line.contains("key `identity.external.auth_url`")
            && line.contains("cannot reach the Keystone at http://127.0.0.1:1/v3"),
        "{line}"
    );

    let (_ks, url) = sim_keystone();
    let wrong = external_config(&url, "admin", "not-the-password", "admin", "Gw", 10);
    let (code, err) = serve(d, &wrong).err().expect("refused");
    assert_eq!(code, Some(2), "{err}");
    let line = one_line(&err);
    assert!(
        line.contains("key `identity.external.password`") && line.contains("refused"),
        "{line}"
    );
    assert!(!err.contains("not-the-password"), "the password is not printed: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_keystone_tokens_with_a_sim_keystone() {
    let (mut ks, url) = sim_keystone();
    let dir = tempfile::tempdir().unwrap();
    let config = external_config(&url, "admin", SIM_PASSWORD, "admin", "GatewayRegion", 1);
    let (_gw, base) = serve(dir.path(), &config).expect("starts");
    let admin = login(&url, "admin", SIM_PASSWORD, "admin").await;
    let demo = login(&url, "demo", SIM_PASSWORD, "demo").await;
    let servers = format!("{base}/compute/v2.1/servers");
    let pods = format!("{base}/admin/v1.0/pods");
    let get = reqwest::Method::GET;

    assert_eq!(
        call(get.clone(), &servers, Some(&demo)).await,
        (200, serde_json::json!({"servers": []}))
    );
    assert_eq!(call(get.clone(), &servers, Some(&admin)).await.0, 200);
    let (status, body) = call(get.clone(), &pods, Some(&demo)).await;
    assert_eq!(status, 403, "a member is no admin: {body}");
    assert_eq!(call(get.clone(), &pods, Some(&admin)).await.0, 200);
    for token in [None, Some("gAAAAA-not-a-token"), Some("bad token")] {
        let (status, body) = call(get.clone(), &servers, token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
    }

    // The gateway issues no tokens here: /identity says where to go.
    let (status, body) = call(get.clone(), &format!("{base}/identity/v3"), None).await;
    assert_eq!(status, 404);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(url.trim_end_matches('/')) && message.contains("GatewayRegion"),
        "{body}"
    );
    let (status, _) =
        call(reqwest::Method::POST, &format!("{base}/identity/v3/auth/tokens"), None).await;
    assert_eq!(status, 404);

    // Revoked in Keystone: refused once the 1 s cache has let it go.
    let doomed = login(&url, "demo", SIM_PASSWORD, "demo").await;
    assert_eq!(call(get.clone(), &servers, Some(&doomed)).await.0, 200);
    let revoke = reqwest::Client::new()
        .delete(format!("{url}/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status().as_u16(), 204);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(call(get.clone(), &servers, Some(&doomed)).await.0, 401, "revoked");
    assert_eq!(call(get.clone(), &servers, Some(&demo)).await.0, 200, "the others still work");

    // Keystone goes away: 503 with the service's own body, never 500.
    ks.kill();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = call(get.clone(), &servers, Some(&demo)).await;
    assert_eq!(status, 503, "{body}");
    let text = body.to_string();
    assert!(text.contains("Keystone") && text.contains("retry later"), "{body}");
    let (status, body) = call(get.clone(), &pods, Some(&admin)).await;
    assert_eq!(status, 503, "{body}");

    // Secrets never reach the log, even at debug level.
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("validating tokens at the external Keystone"),
        "the log is written:\n{log}"
    );
    for secret in [SIM_PASSWORD, admin.as_str(), demo.as_str(), doomed.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
