//! Pods with `shared` identity behind an external Keystone, through the
//! domain layer: one scenario run against a sim pod (always) and against
//! the real region of `scripts/real-openstack` (when `TRICIRCLE_REAL_CLOUDS`
//! names its clouds.yaml; `.ci/run` sets it).
//!
//! What it proves: a server created during a caller's request lands in the
//! pod under the caller's own project ID and user (the caller's token was
//! forwarded: Nova records the token's user), with no `tc-` project and no
//! project routing; another project's member sees nothing of it; a delete
//! saga left by a crashed gateway is finished by the job runner with no
//! caller token at all (the pod's account, scoped to the project, given the
//! member role there when it had none); a revoked forwarded token is 401.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tricircle_common::{Error, PodId, RequestContext, RequestId};
use tricircle_core::caller_token::{self, CallerToken};
use tricircle_core::compute::server_create::ServerSpec;
use tricircle_core::compute::servers::ServerDelete;
use tricircle_core::compute::{FlavorSpec, ServerListQuery};
use tricircle_core::identity::external::{
    ExternalKeystone, ExternalKeystoneSettings, ValidatedToken,
};
use tricircle_core::images::ImageSpec;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodSpec};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_jobs::saga::{Journal, Progress};
use tricircle_jobs::{Runner, RunnerConfig, kinds, saga::SagaJob};
use tricircle_pod_client::{
    Credentials, PodRequest, PodSession, ScopedToken, ServiceType, SessionConfig, password_login,
};
use tricircle_store::testing::TestDb;
use tricircle_store::{NewJob, Store};

/// Where the scenario runs: one Keystone that is both the gateway's
/// external Keystone and the shared pod's.
struct Backend {
    region: String,
    admin: Credentials,
    demo: Credentials,
    /// Keeps a sim pod alive.
    _sim: Option<tricircle_sim_pod::SimPodHandle>,
}

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

async fn sim_backend() -> Backend {
    let pod = tricircle_sim_pod::start(tricircle_sim_pod::SimPodConfig::for_tests("RegionOne"))
        .await
        .unwrap();
    let url = pod.auth_url();
    Backend {
        region: "RegionOne".into(),
        admin: creds(&url, "admin", "secret", "admin"),
        demo: creds(&url, "demo", "secret", "demo"),
        _sim: Some(pod),
    }
}

/// The `real` and `real-demo` clouds of the real-region harness.
fn real_backend() -> Option<Backend> {
    let path = std::env::var_os("TRICIRCLE_REAL_CLOUDS")?;
    let text = std::fs::read_to_string(&path).expect("TRICIRCLE_REAL_CLOUDS is readable");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("clouds.yaml parses");
    let cloud = |name: &str| {
        let a = &doc["clouds"][name]["auth"];
        let s = |k: &str| a[k].as_str().unwrap_or_else(|| panic!("{name}: auth.{k}")).to_string();
        creds(&s("auth_url"), &s("username"), &s("password"), &s("project_name"))
    };
    let region = doc["clouds"]["real"]["region_name"].as_str().unwrap_or("RegionOne").to_string();
    Some(Backend { region, admin: cloud("real"), demo: cloud("real-demo"), _sim: None })
}

fn ctx(v: &ValidatedToken) -> RequestContext {
    RequestContext { request_id: RequestId::new(), auth: v.auth.clone() }
}

/// Run `f` as the API layer runs a handler: with the caller's token recorded.
async fn as_request<F: Future>(token: &str, v: &ValidatedToken, f: F) -> F::Output {
    let caller = CallerToken {
        token: token.to_string(),
        user_id: v.auth.user_id.clone(),
        project_id: v.auth.project_id.clone(),
        expires_at: v.expires_at,
    };
    caller_token::scope(async move {
        caller_token::record(caller);
        f.await
    })
    .await
}

/// An admin session with the Keystone and the pod, for setup and checks.
fn session(c: &Credentials, region: &str) -> PodSession {
    let mut config = SessionConfig::new(c.clone(), region);
    config.endpoint_overrides.insert("identity".into(), c.auth_url.clone());
    PodSession::new(config).unwrap()
}

async fn call(s: &PodSession, req: PodRequest) -> Value {
    let what = format!("{} {}", req.method, req.path);
    let resp = s.call(&req).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    if resp.body.is_empty() { Value::Null } else { resp.json().unwrap() }
}

/// The pod's servers named `top_id`, in any project (asked as the admin).
async fn pod_servers(admin: &PodSession, top_id: &str) -> Vec<Value> {
    let req = PodRequest::get(ServiceType::Compute, "/servers/detail")
        .with_query("all_tenants", "1")
        .with_query("name", top_id);
    call(admin, req).await["servers"].as_array().cloned().unwrap_or_default()
}

/// Leave a saga as a gateway that crashed right after recording it: a
/// running job whose lease has run out.
async fn crashed_saga(
    store: &Store,
    kind: &str,
    project: &str,
    state: ServerDelete,
) -> tricircle_common::JobId {
    let (job, _) = store
        .job_enqueue(&NewJob {
            job_type: kind.into(),
            resource_key: state.top_id.clone(),
            resource: json!({"id": state.top_id}),
            project_id: project.into(),
        })
        .await
        .unwrap();
    let t = chrono::Utc::now();
    let lease = t + chrono::Duration::milliseconds(300);
    store.job_claim_id(job.id, "crashed-gateway", t, lease).await.unwrap().unwrap();
    let journal = Journal::Job { store, job: job.id, owner: "crashed-gateway" };
    journal.save(&Progress::start(state)).await.unwrap();
    job.id
}

async fn wait_active(app: &App, token: &str, v: &ValidatedToken, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let s = as_request(token, v, app.server_show(&ctx(v), id, None)).await.unwrap();
        if s["status"] == "ACTIVE" {
            return s;
        }
        assert!(s["status"] != "ERROR", "{s}");
        assert!(Instant::now() < deadline, "never ACTIVE: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Made {
    admin: PodSession,
    other_project: Option<String>,
    other_user: Option<String>,
    image: Option<String>,
}

impl Made {
    /// Remove what the scenario made in the Keystone and the pod.
    async fn clean(&self) {
        let del = |path: String, svc: ServiceType| async move {
            let req = PodRequest::new(svc, reqwest::Method::DELETE, path);
            if let Err(e) = self.admin.call(&req).await {
                eprintln!("cleanup: {} {}: {e}", req.method, req.path);
            }
        };
        if let Some(u) = &self.other_user {
            del(format!("/users/{u}"), ServiceType::Identity).await;
        }
        if let Some(p) = &self.other_project {
            del(format!("/projects/{p}"), ServiceType::Identity).await;
        }
        if let Some(top_image) = &self.image {
            let req = PodRequest::get(ServiceType::Image, "/v2/images")
                .with_query("name", format!("tc-{top_image}"));
            if let Ok(r) = self.admin.call(&req).await {
                let found: Value = r.json().unwrap_or_default();
                for i in found["images"].as_array().cloned().unwrap_or_default() {
                    del(
                        format!("/v2/images/{}", i["id"].as_str().unwrap_or("-")),
                        ServiceType::Image,
                    )
                    .await;
                }
            }
        }
    }
}

async fn scenario(mut b: Backend) {
    // The sim pod (if any) outlives the scenario's task, for the cleanup.
    let sim = b._sim.take();
    let strict_revocation = sim.is_some();
    let auth_url = b.admin.auth_url.clone();
    let admin = session(&b.admin, &b.region);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut made = Made { admin, other_project: None, other_user: None, image: None };

    // Another project with its own member, made with the admin's account.
    let project = call(
        &made.admin,
        PodRequest::new(ServiceType::Identity, reqwest::Method::POST, "/projects").with_body(
            json!({"project": {"name": format!("tc-test-other-{suffix}"), "domain_id": "default"}}),
        ),
    )
    .await;
    let other_project = project["project"]["id"].as_str().unwrap().to_string();
    made.other_project = Some(other_project.clone());
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let user = call(
        &made.admin,
        PodRequest::new(ServiceType::Identity, reqwest::Method::POST, "/users").with_body(json!({"user": {
            "name": format!("tc-test-user-{suffix}"), "password": password, "domain_id": "default",
            "default_project_id": other_project,
        }})),
    )
    .await;
    let other_user = user["user"]["id"].as_str().unwrap().to_string();
    made.other_user = Some(other_user.clone());
    let roles = call(
        &made.admin,
        PodRequest::get(ServiceType::Identity, "/roles").with_query("name", "member"),
    )
    .await;
    let member_role = roles["roles"][0]["id"].as_str().unwrap().to_string();
    call(
        &made.admin,
        PodRequest::new(
            ServiceType::Identity,
            reqwest::Method::PUT,
            format!("/projects/{other_project}/users/{other_user}/roles/{member_role}"),
        ),
    )
    .await;
    let other = creds(&auth_url, &format!("tc-test-user-{suffix}"), &password, "");
    let other = Credentials { project_name: format!("tc-test-other-{suffix}"), ..other };

    let image = Arc::new(std::sync::Mutex::new(None));
    let body = tokio::spawn(run(
        b,
        made.admin_credentials(),
        other,
        other_project.clone(),
        strict_revocation,
        image.clone(),
    ));
    let outcome = body.await;
    made.image = image.lock().unwrap().clone();
    made.clean().await;
    drop(sim);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

impl Made {
    fn admin_credentials(&self) -> Credentials {
        self.admin.config().credentials.clone()
    }
}

/// The scenario itself; puts the top image's ID in `image` (for the
/// cleanup). `strict_revocation`: the pod's services see a revoked token at
/// once (the sim pod; a real Nova may trust its keystonemiddleware cache for
/// minutes, which is the pod's business).
async fn run(
    b: Backend,
    admin_creds: Credentials,
    other: Credentials,
    other_project: String,
    strict_revocation: bool,
    image_id: Arc<std::sync::Mutex<Option<String>>>,
) {
    let http = reqwest::Client::new();
    let auth_url = admin_creds.auth_url.clone();
    let admin = session(&admin_creds, &b.region);
    let keystone = ExternalKeystone::new(ExternalKeystoneSettings {
        credentials: admin_creds.clone(),
        token_cache_ttl: Duration::from_secs(10),
        timeout: Duration::from_secs(30),
    })
    .unwrap();
    keystone.check().await.unwrap();
    let login = |c: Credentials| {
        let http = http.clone();
        let keystone = keystone.clone();
        async move {
            let t: ScopedToken = password_login(&http, &c).await.unwrap();
            let v = keystone.validate(&t.value).await.unwrap();
            (t.value, v)
        }
    };
    let (admin_tok, admin_v) = login(admin_creds.clone()).await;
    let (demo_tok, demo_v) = login(b.demo.clone()).await;
    let (other_tok, other_v) = login(other).await;
    assert!(admin_v.auth.is_admin() && !demo_v.auth.is_admin() && !other_v.auth.is_admin());
    let demo_project = demo_v.auth.project_id.clone().unwrap();
    assert_eq!(other_v.auth.project_id.as_deref(), Some(other_project.as_str()));

    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(1000);
    settings.image_dir = dir.path().join("images");
    settings.saga_retry_delay = Duration::ZERO;
    settings.identity.external_auth_url = Some(auth_url.clone());
    let app = App::new(db.store.clone(), SecretBox::from_key([5; 32]), settings);
    let admin_ctx = ctx(&admin_v);

    let pod = app
        .pod_create(
            &admin_ctx,
            PodSpec {
                region_name: b.region.clone(),
                az_name: Some("az-shared".into()),
                auth_url: Some(auth_url.clone()),
                identity: Some(IdentityMode::Shared),
                credentials: Some(PodCredentials {
                    username: admin_creds.username.clone(),
                    password: admin_creds.password.clone(),
                    project_name: admin_creds.project_name.clone(),
                    user_domain_name: "Default".into(),
                    project_domain_name: "Default".into(),
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let pod_id: PodId = pod.pod.pod_id;
    let flavor = FlavorSpec {
        id: Some("1".into()),
        name: "m1.tiny".into(),
        vcpus: 1,
        ram_mb: 512,
        disk_gb: 1,
        is_public: true,
        ..Default::default()
    };
    app.flavor_create(&admin_ctx, flavor).await.unwrap();
    let image = app
        .image_create(
            &admin_ctx,
            ImageSpec {
                name: Some("cirros-shared".into()),
                visibility: Some("public".into()),
                disk_format: Some("raw".into()),
                container_format: Some("bare".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let data = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"tiny image bytes",
    ))]);
    *image_id.lock().unwrap() = Some(image.id.clone());
    app.image_upload(&admin_ctx, &image.id, data).await.unwrap();
    let spec = |name: &str| ServerSpec {
        name: name.into(),
        flavor_ref: "1".into(),
        image_ref: Some(image.id.clone()),
        availability_zone: Some("az-shared".into()),
        ..Default::default()
    };

    // A member creates a server during a request: the pod holds it in the
    // member's own project, made by the member's own user.
    let (view, _) =
        as_request(&demo_tok, &demo_v, app.server_create(&ctx(&demo_v), spec("shared-1")))
            .await
            .unwrap();
    let id = view["id"].as_str().unwrap().to_string();
    wait_active(&app, &demo_tok, &demo_v, &id).await;
    let bottom = pod_servers(&admin, &id).await;
    assert_eq!(bottom.len(), 1, "{bottom:?}");
    assert_eq!(bottom[0]["tenant_id"], demo_project.as_str(), "same project ID in the pod");
    assert_eq!(bottom[0]["user_id"], demo_v.auth.user_id.as_str(), "made with the caller's token");
    assert!(
        db.store.routing_find(&demo_project, "project", pod_id).await.unwrap().is_none(),
        "no project mapping for a shared pod"
    );
    let tc = call(
        &admin,
        PodRequest::get(ServiceType::Identity, "/projects")
            .with_query("name", format!("tc-{demo_project}")),
    )
    .await;
    assert_eq!(tc["projects"], json!([]), "no bottom project was made");
    let page = as_request(
        &demo_tok,
        &demo_v,
        app.server_list(&ctx(&demo_v), ServerListQuery { limit: 100, ..Default::default() }),
    )
    .await
    .unwrap();
    assert!(page.servers.iter().any(|s| s["id"] == id.as_str()), "{:?}", page.servers);

    // Another project's member: nothing to see, show or delete.
    let other_ctx = ctx(&other_v);
    let page = as_request(
        &other_tok,
        &other_v,
        app.server_list(&other_ctx, ServerListQuery { limit: 100, ..Default::default() }),
    )
    .await
    .unwrap();
    assert!(page.servers.is_empty(), "{:?}", page.servers);
    let e =
        as_request(&other_tok, &other_v, app.server_show(&other_ctx, &id, None)).await.unwrap_err();
    assert_eq!(e.status(), 404);
    let e = as_request(&other_tok, &other_v, app.server_delete(&other_ctx, &id)).await.unwrap_err();
    assert_eq!(e.status(), 404);

    // The other member's own server, in their project.
    let (view, _) =
        as_request(&other_tok, &other_v, app.server_create(&other_ctx, spec("shared-2")))
            .await
            .unwrap();
    let other_id = view["id"].as_str().unwrap().to_string();
    wait_active(&app, &other_tok, &other_v, &other_id).await;
    let bottom = pod_servers(&admin, &other_id).await;
    assert_eq!(bottom[0]["tenant_id"], other_project.as_str());
    assert_eq!(bottom[0]["user_id"], other_v.auth.user_id.as_str());

    // A gateway crashed right after recording both deletes; the job runner
    // of another process finishes them, with no caller token anywhere.
    let mut jobs = Vec::new();
    for (top, project) in [(&id, &demo_project), (&other_id, &other_project)] {
        let state = ServerDelete::new(top.clone(), project.clone(), pod_id);
        jobs.push(crashed_saga(&db.store, kinds::SERVER_DELETE.name, project, state).await);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let runner =
        Runner::new(db.store.clone(), RunnerConfig::new("resumer")).with_handler(SagaJob::<
            ServerDelete,
        >::new(
            Arc::new(app.clone()),
            db.store.clone(),
            &kinds::SERVER_DELETE,
        ));
    assert!(caller_token::current().is_none());
    // Drain the queue (the pod's health check is there too, with no handler here).
    while runner.run_once().await.unwrap().is_some() {}
    for j in jobs {
        let job = db.store.job_get(j).await.unwrap().unwrap();
        assert_eq!(job.status.as_str(), "SUCCESS", "{job:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for top in [&id, &other_id] {
        while !pod_servers(&admin, top).await.is_empty() {
            assert!(Instant::now() < deadline, "server {top} still in the pod");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // The pod's account holds a role in the other project now (it had none).
    let admin_user = admin.user_id().await.unwrap();
    let member =
        call(&admin, PodRequest::get(ServiceType::Identity, "/roles").with_query("name", "member"))
            .await;
    let member = member["roles"][0]["id"].as_str().unwrap().to_string();
    let check = PodRequest::new(
        ServiceType::Identity,
        reqwest::Method::HEAD,
        format!("/projects/{other_project}/users/{admin_user}/roles/{member}"),
    );
    admin.call(&check).await.expect("the pod's account was given the member role");
    let left = as_request(
        &demo_tok,
        &demo_v,
        app.server_list(&ctx(&demo_v), ServerListQuery { limit: 100, ..Default::default() }),
    )
    .await
    .unwrap();
    assert!(left.servers.is_empty(), "{:?}", left.servers);

    // A forwarded token revoked in Keystone: the pod refuses it, the caller
    // gets 401 (the gateway's own cache still knew it as valid).
    let (fresh_tok, fresh_v) = login(b.demo.clone()).await;
    let (view, _) =
        as_request(&fresh_tok, &fresh_v, app.server_create(&ctx(&fresh_v), spec("shared-3")))
            .await
            .unwrap();
    let third = view["id"].as_str().unwrap().to_string();
    let revoke = PodRequest::new(ServiceType::Identity, reqwest::Method::DELETE, "/auth/tokens")
        .with_header("X-Subject-Token", fresh_tok.clone());
    call(&admin, revoke).await;
    let shown =
        as_request(&fresh_tok, &fresh_v, app.server_show(&ctx(&fresh_v), &third, None)).await;
    if strict_revocation {
        let e: Error = shown.unwrap_err();
        assert_eq!(e.status(), 401, "{e}");
    }
    // And the same server is still the member's with a valid token.
    as_request(&demo_tok, &demo_v, app.server_delete(&ctx(&demo_v), &third)).await.unwrap();
    drop(admin_tok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_pod_with_a_sim_pod() {
    scenario(sim_backend().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_pod_with_the_real_region() {
    let Some(b) = real_backend() else {
        eprintln!(
            "skipped: TRICIRCLE_REAL_CLOUDS is not set (scripts/real-openstack up sets it up)"
        );
        return;
    };
    scenario(b).await;
}

#[tokio::test]
async fn shared_pods_need_an_external_keystone() {
    let b = sim_backend().await;
    let db = TestDb::sqlite().await;
    let app = App::new(db.store.clone(), SecretBox::from_key([5; 32]), Settings::new(1000));
    let admin = RequestContext {
        request_id: RequestId::new(),
        auth: tricircle_common::AuthContext {
            user_id: "a".into(),
            user_name: "admin".into(),
            project_id: Some("p".into()),
            roles: vec!["admin".into()],
        },
    };
    let pod = app
        .pod_create(
            &admin,
            PodSpec {
                region_name: b.region.clone(),
                az_name: Some("az1".into()),
                auth_url: Some(b.admin.auth_url.clone()),
                identity: Some(IdentityMode::Shared),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let Err(e) = app.pod_project_session(&pod.pod, "p").await else {
        panic!("a shared pod without an external Keystone has no session")
    };
    assert_eq!(e.status(), 503);
    assert!(e.external_message().contains("needs an external Keystone"), "{e}");
}
