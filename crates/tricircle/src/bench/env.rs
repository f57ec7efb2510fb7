//! The bench's world: sim pods in this process, a gateway in this process
//! (SQLite in a temporary data dir), a project and a user, and servers.
//!
//! Servers for the listing case are seeded in two ways: the first
//! `api_per_pod` of each pod are created through the gateway's Nova API
//! (the real saga; it also maps the project, pushes the flavor and copies
//! the image into the pod, and its duration is reported), the rest are made
//! directly in the pod through the gateway's own pod session, named after a
//! fresh top ID, with the gateway's resource and routing rows written by the
//! store API, exactly as the saga leaves them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tricircle_common::config::Config;
use tricircle_common::{AuthContext, PodId, RequestContext, RequestId};
use tricircle_core::App;
use tricircle_core::compute::FlavorSpec;
use tricircle_core::identity::{ProjectSpec, UserSpec};
use tricircle_core::images::ImageSpec;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodSpec};
use tricircle_pod_client::{Microversion, PodRequest, ServiceType};
use tricircle_sim_pod::{SimPodConfig, SimPodHandle};
use tricircle_store::{NewRouting, ResourceRow, now};

use crate::serve::Gateway;

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password";
pub const POD_PASSWORD: &str = "secret";

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Current resident set size of a process, in KiB (`/proc/PID/status`).
pub fn rss_kib(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> anyhow::Result<TempDir> {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("tricircle-bench-{}-{t}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Log in to a Keystone v3 (the gateway's or a pod's) with a password,
/// scoped to a project; the token.
pub async fn login(
    http: &reqwest::Client,
    auth_url: &str,
    user: &str,
    password: &str,
    project: &str,
) -> anyhow::Result<String> {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
    let r = http.post(format!("{auth_url}/auth/tokens")).json(&body).send().await?;
    if r.status().as_u16() != 201 {
        bail!("login to {auth_url} as {user} on {project}: HTTP {}", r.status());
    }
    Ok(r.headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .context("no X-Subject-Token")?
        .to_string())
}

/// A GET that must answer 200; the body.
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let r = http.get(url).header("x-auth-token", token).send().await?;
    let status = r.status().as_u16();
    let body = r.bytes().await?;
    if status != 200 {
        bail!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// The gateway running in this process.
pub struct RunningGateway {
    pub app: App,
    pub base: String,
    pub project_id: String,
    pub user_id: String,
    pub image_id: String,
    pub admin: RequestContext,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningGateway {
    pub async fn register_pod(&self, pod: &SimPodHandle) -> anyhow::Result<()> {
        register_pod(&self.app, &self.admin, pod).await
    }

    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.base)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.map_err(err)?
    }
}

/// The bench's gateway configuration: defaults, with the data dir given.
pub fn config(data_dir: &std::path::Path) -> anyhow::Result<Config> {
    let mut config = Config::load(None).map_err(err)?;
    config.data_dir = data_dir.to_path_buf();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    Ok(config)
}

fn admin_ctx(gw: &Gateway) -> RequestContext {
    RequestContext {
        request_id: RequestId::new(),
        auth: AuthContext {
            user_id: gw.admin.admin_user_id.clone(),
            user_name: "admin".into(),
            project_id: Some(gw.admin.admin_project_id.clone()),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
        },
    }
}

/// Start a sim pod with zero delays on a free port.
pub async fn start_pod(region: &str, az: &str) -> anyhow::Result<SimPodHandle> {
    let mut c = SimPodConfig::for_tests(region);
    c.az = az.to_string();
    c.password = POD_PASSWORD.to_string();
    tricircle_sim_pod::start(c).await.with_context(|| format!("cannot start sim pod {region}"))
}

/// Build the gateway, register `pods` (top AZ = the pod's AZ), seed a
/// flavor, an image and the bench project and user, and serve.
pub async fn start_gateway(
    config: &Config,
    pods: &[SimPodHandle],
) -> anyhow::Result<RunningGateway> {
    let gw = Gateway::build(config).await?;
    let ctx = admin_ctx(&gw);
    let app = gw.app.clone();
    app.pod_create(
        &ctx,
        PodSpec { region_name: config.identity.region.clone(), ..Default::default() },
    )
    .await
    .map_err(err)?;
    for pod in pods {
        register_pod(&app, &ctx, pod).await?;
    }
    let flavor = FlavorSpec {
        id: Some("1".into()),
        name: "m1.tiny".into(),
        vcpus: 1,
        ram_mb: 512,
        disk_gb: 1,
        is_public: true,
        ..Default::default()
    };
    app.flavor_create(&ctx, flavor).await.map_err(err)?;
    let project = app
        .project_create(&ctx, ProjectSpec { name: USER.into(), ..Default::default() })
        .await
        .map_err(err)?;
    let user = app
        .user_create(
            &ctx,
            UserSpec {
                name: USER.into(),
                password: Some(PASSWORD.into()),
                default_project_id: Some(project.id.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(err)?;
    let member =
        app.store().role_get_by_name("member").await.map_err(err)?.context("no member role")?;
    app.role_grant(&ctx, &project.id, &user.id, &member.id).await.map_err(err)?;
    let image = ImageSpec {
        name: Some("cirros".into()),
        visibility: Some("public".into()),
        disk_format: Some("raw".into()),
        container_format: Some("bare".into()),
        ..Default::default()
    };
    let image = app.image_create(&ctx, image).await.map_err(err)?;
    let data =
        futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 4096]))]);
    app.image_upload(&ctx, &image.id, data).await.map_err(err)?;

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gw.serve(listener, async {
        let _ = rx.await;
    }));
    Ok(RunningGateway {
        app,
        base,
        project_id: project.id,
        user_id: user.id,
        image_id: image.id,
        admin: ctx,
        stop: Some(tx),
        task,
    })
}

/// Register a sim pod with mapped identity; its top AZ is [`pod_az`].
pub async fn register_pod(
    app: &App,
    ctx: &RequestContext,
    pod: &SimPodHandle,
) -> anyhow::Result<()> {
    let spec = PodSpec {
        region_name: pod.region().into(),
        az_name: Some(pod_az(pod)),
        auth_url: Some(pod.auth_url()),
        identity: Some(IdentityMode::Mapped),
        credentials: Some(PodCredentials {
            username: "admin".into(),
            password: POD_PASSWORD.into(),
            project_name: "admin".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
        }),
        ..Default::default()
    };
    app.pod_create(ctx, spec).await.map_err(err)?;
    Ok(())
}

pub fn pod_az(pod: &SimPodHandle) -> String {
    format!("az-{}", pod.region().to_lowercase())
}

/// Create one server through the gateway's Nova API; its top ID.
pub async fn create_via_api(
    http: &reqwest::Client,
    gw: &RunningGateway,
    token: &str,
    name: &str,
    az: &str,
) -> anyhow::Result<String> {
    let body = json!({"server": {"name": name, "flavorRef": "1", "imageRef": gw.image_id,
                                 "availability_zone": az, "networks": "none"}});
    let r = http
        .post(format!("{}/compute/v2.1/servers", gw.base))
        .header("x-auth-token", token)
        .header("x-openstack-nova-api-version", "2.37")
        .json(&body)
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: Value = r.json().await?;
    if status != 202 {
        bail!("server create in {az}: HTTP {status}: {v}");
    }
    Ok(v["server"]["id"].as_str().context("no server id")?.to_string())
}

/// Create `n` servers directly in `pod` (through the gateway's session for
/// the bench project) and write the gateway's rows for them. The pod must
/// already hold the project, flavor and image (one API create does that).
pub async fn create_direct(
    gw: &RunningGateway,
    pod_id: PodId,
    first_index: usize,
    n: usize,
) -> anyhow::Result<()> {
    let store = gw.app.store();
    let pod = store.pod_get(pod_id).await.map_err(err)?.context("pod vanished")?;
    let image = store
        .routing_find(&gw.image_id, "image", pod_id)
        .await
        .map_err(err)?
        .and_then(|r| r.bottom_id)
        .context("the image is not in the pod yet")?;
    let session = gw.app.pod_project_session(&pod, &gw.project_id).await.map_err(err)?;
    for i in 0..n {
        let top_id = uuid_v4();
        let name = format!("{}-{:03}", pod.region_name.to_lowercase(), first_index + i);
        let body = json!({"server": {"name": top_id, "flavorRef": "1", "imageRef": image,
            "networks": "none", "metadata": {"tricircle_top_id": top_id}}});
        let resp = session
            .call(
                &PodRequest::new(ServiceType::Compute, reqwest::Method::POST, "/servers")
                    .with_body(body)
                    .with_microversion(Microversion::new(2, 37)),
            )
            .await
            .map_err(err)?;
        let created: Value = resp.json().map_err(err)?;
        let bottom = created["server"]["id"].as_str().context("no bottom id")?.to_string();
        let t = now();
        let facts = json!({"flavor_id": "1", "flavor_name": "m1.tiny", "image_id": gw.image_id,
                           "key_name": null, "view": null});
        store
            .resource_insert(&ResourceRow {
                id: top_id.clone(),
                resource_type: "server".into(),
                project_id: gw.project_id.clone(),
                user_id: gw.user_id.clone(),
                pod_id: Some(pod_id.to_string()),
                name,
                status: "BUILD".into(),
                summary: facts.to_string(),
                created_at: t,
                updated_at: t,
            })
            .await
            .map_err(err)?;
        store
            .routing_create(&NewRouting {
                top_id,
                bottom_id: Some(bottom),
                pod_id,
                project_id: gw.project_id.clone(),
                resource_type: "server".into(),
            })
            .await
            .map_err(err)?;
    }
    Ok(())
}

fn uuid_v4() -> String {
    let b = tricircle_common::random::bytes::<16>();
    let mut b: [u8; 16] = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = tricircle_common::random::to_hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// How seeding went.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub via_api: usize,
    pub api_cold: Vec<Duration>,
    pub api_warm: Vec<Duration>,
    pub direct: usize,
    pub direct_time: Duration,
}

/// Seed `per_pod` servers in every pod: `api_per_pod` through the API
/// (timed; the first of each pod is "cold"), the rest directly.
pub async fn seed_servers(
    http: &reqwest::Client,
    gw: &RunningGateway,
    token: &str,
    pods: &[SimPodHandle],
    per_pod: usize,
    api_per_pod: usize,
) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    let api_per_pod = api_per_pod.clamp(1, per_pod.max(1));
    let pod_rows = gw.app.store().pod_list().await.map_err(err)?;
    for pod in pods {
        let az = pod_az(pod);
        for i in 0..api_per_pod.min(per_pod) {
            let t = Instant::now();
            create_via_api(
                http,
                gw,
                token,
                &format!("{}-{i:03}", pod.region().to_lowercase()),
                &az,
            )
            .await?;
            if i == 0 {
                report.api_cold.push(t.elapsed())
            } else {
                report.api_warm.push(t.elapsed())
            }
            report.via_api += 1;
        }
    }
    let t = Instant::now();
    let rest = per_pod.saturating_sub(api_per_pod);
    if rest > 0 {
        let jobs = pods.iter().map(|pod| {
            let id = pod_rows
                .iter()
                .find(|p| p.region_name == pod.region())
                .map(|p| p.pod_id)
                .context("pod not registered");
            async move { create_direct(gw, id?, api_per_pod, rest).await }
        });
        // A few pods at a time: SQLite has one writer anyway.
        let mut stream = futures::stream::iter(jobs).buffer_unordered(4);
        while let Some(r) = stream.next().await {
            r?;
        }
    }
    report.direct = rest * pods.len();
    report.direct_time = t.elapsed();
    Ok(report)
}
