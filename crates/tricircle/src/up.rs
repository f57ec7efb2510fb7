//! `tricircle up`: the whole thing on one machine, like devstack. SQLite and
//! the embedded identity in `--data-dir`, N simulated regions in this process
//! (Pod1..PodN serving az1..azN on the ports after the gateway's), the
//! gateway in front, a `clouds.yaml` for the `openstack` CLI, and the seed a
//! first `openstack server create` needs: flavors m1.tiny/small/medium, a
//! public image `cirros`, and a project `demo` with a member `demo`.
//! Everything is idempotent: a restart with the same directory keeps state.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use tricircle_common::config::Config;
use tricircle_common::{AuthContext, RequestContext, RequestId};
use tricircle_core::App;
use tricircle_core::compute::FlavorSpec;
use tricircle_core::identity::{ProjectSpec, UserSpec};
use tricircle_core::images::ImageSpec;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodSpec};
use tricircle_sim_pod::{SimPodConfig, SimPodHandle};

use crate::serve::{Gateway, init_logging, secret_from, shutdown_signal};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the database, secrets, pod states and clouds.yaml live.
    #[arg(long, default_value = "./.tricircle")]
    data_dir: PathBuf,
    /// The gateway's address; the sim pods take the next ports.
    #[arg(long, default_value = "127.0.0.1:19999")]
    listen: SocketAddr,
    /// How many simulated regions to run (0 allowed).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=100))]
    pods: u8,
}

pub async fn run(args: UpArgs) -> ExitCode {
    let mut config = match Config::load(None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    config.data_dir = args.data_dir.clone();
    config.listen = args.listen;
    if let Err(code) = init_logging(&config) {
        return code;
    }
    match up(config, args.pods).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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

async fn up(config: Config, pods: u8) -> anyhow::Result<()> {
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(dir.join("pods"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let gw = Gateway::build(&config).await?;
    let ctx = admin_ctx(&gw);
    let pod_password = secret_from(None, &dir.join("pod-password"), "sim pod password")?;
    let demo_password = secret_from(None, &dir.join("demo-password"), "demo password")?;

    let mut sims = Vec::new();
    for i in 1..=pods {
        let listen = SocketAddr::new(config.listen.ip(), config.listen.port() + u16::from(i));
        let mut c = SimPodConfig::new(&format!("Pod{i}"), &format!("az{i}"), &pod_password, listen);
        c.state_file = Some(dir.join("pods").join(format!("Pod{i}.json")));
        let pod = tricircle_sim_pod::start(c)
            .await
            .with_context(|| format!("cannot start sim pod Pod{i} on {listen}"))?;
        sims.push(pod);
    }
    register_pods(&gw.app, &ctx, &sims, &pod_password, &config.identity.region).await?;
    seed(&gw.app, &ctx, &demo_password).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let base = format!("http://{}", listener.local_addr()?);
    let clouds = dir.join("clouds.yaml");
    write_clouds_yaml(&clouds, &base, &config.identity.region, &gw.admin_password, &demo_password)?;
    print_banner(&base, &clouds, &sims);
    let result = gw.serve(listener, shutdown_signal()).await;
    for pod in sims {
        pod.shutdown().await;
    }
    result
}

async fn register_pods(
    app: &App,
    ctx: &RequestContext,
    sims: &[SimPodHandle],
    password: &str,
    top: &str,
) -> anyhow::Result<()> {
    let existing: Vec<String> = app
        .store()
        .pod_list()
        .await
        .map_err(anyhow_err)?
        .into_iter()
        .map(|p| p.region_name)
        .collect();
    if !existing.iter().any(|r| r == top) {
        app.pod_create(ctx, PodSpec { region_name: top.into(), ..Default::default() })
            .await
            .map_err(anyhow_err)?;
    }
    for pod in sims {
        if existing.iter().any(|r| r == pod.region()) {
            continue;
        }
        let spec = PodSpec {
            region_name: pod.region().into(),
            az_name: Some(format!("az{}", pod.region().trim_start_matches("Pod"))),
            auth_url: Some(pod.auth_url()),
            identity: Some(IdentityMode::Mapped),
            credentials: Some(PodCredentials {
                username: "admin".into(),
                password: password.into(),
                project_name: "admin".into(),
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            }),
            ..Default::default()
        };
        app.pod_create(ctx, spec).await.map_err(anyhow_err)?;
    }
    Ok(())
}

fn anyhow_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Bytes of the seed image: deterministic, so every data dir gets the same
/// checksum (64 KiB from a xorshift generator; not a bootable disk, which
/// simulated regions do not need).
fn cirros_bytes() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn seed(app: &App, ctx: &RequestContext, demo_password: &str) -> anyhow::Result<()> {
    for (id, name, vcpus, ram, disk) in [
        ("1", "m1.tiny", 1, 512, 1),
        ("2", "m1.small", 1, 2048, 20),
        ("3", "m1.medium", 2, 4096, 40),
    ] {
        if app.store().flavor_get(id).await.map_err(anyhow_err)?.is_none() {
            let spec = FlavorSpec {
                id: Some(id.into()),
                name: name.into(),
                vcpus,
                ram_mb: ram,
                disk_gb: disk,
                is_public: true,
                ..Default::default()
            };
            app.flavor_create(ctx, spec).await.map_err(anyhow_err)?;
        }
    }
    if app.store().project_get_by_name("default", "demo").await.map_err(anyhow_err)?.is_none() {
        let demo = app
            .project_create(ctx, ProjectSpec { name: "demo".into(), ..Default::default() })
            .await
            .map_err(anyhow_err)?;
        let user = app
            .user_create(
                ctx,
                UserSpec {
                    name: "demo".into(),
                    password: Some(demo_password.into()),
                    default_project_id: Some(demo.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .map_err(anyhow_err)?;
        let member = app
            .store()
            .role_get_by_name("member")
            .await
            .map_err(anyhow_err)?
            .context("the member role is missing")?;
        app.role_grant(ctx, &demo.id, &user.id, &member.id).await.map_err(anyhow_err)?;
    }
    let images = app.image_list(ctx).await.map_err(anyhow_err)?;
    if !images.iter().any(|i| i.name.as_deref() == Some("cirros") && i.status == "active") {
        let spec = ImageSpec {
            name: Some("cirros".into()),
            visibility: Some("public".into()),
            disk_format: Some("raw".into()),
            container_format: Some("bare".into()),
            ..Default::default()
        };
        let image = app.image_create(ctx, spec).await.map_err(anyhow_err)?;
        let data =
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(cirros_bytes()))]);
        app.image_upload(ctx, &image.id, data).await.map_err(anyhow_err)?;
    }
    Ok(())
}

fn write_clouds_yaml(
    path: &Path,
    base: &str,
    region: &str,
    admin_pw: &str,
    demo_pw: &str,
) -> anyhow::Result<()> {
    let cloud = |user: &str, pw: &str, project: &str| -> Value {
        serde_json::json!({
            "auth": {"auth_url": format!("{base}/identity/v3"), "username": user, "password": pw,
                     "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"},
            "region_name": region, "identity_api_version": 3, "interface": "public",
        })
    };
    let doc = serde_json::json!({"clouds": {"tricircle": cloud("admin", admin_pw, "admin"), "tricircle-demo": cloud("demo", demo_pw, "demo")}});
    let text = format!(
        "# written by `tricircle up`; the credentials of this data dir only\n{}",
        serde_yaml_ng::to_string(&doc)?
    );
    write_private(path, &text).with_context(|| format!("cannot write {}", path.display()))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

fn print_banner(base: &str, clouds: &Path, sims: &[SimPodHandle]) {
    println!("tricircle is up: one OpenStack cloud at {base}");
    for s in sims {
        println!(
            "  region {} (availability zone az{}) simulated at {}",
            s.region(),
            s.region().trim_start_matches("Pod"),
            s.base_url()
        );
    }
    println!();
    println!("Use it with the openstack CLI:");
    println!("  export OS_CLIENT_CONFIG_FILE={}", clouds.display());
    println!(
        "  openstack --os-cloud tricircle-demo server create --flavor m1.tiny --image cirros --availability-zone az1 --wait vm1"
    );
    println!("  openstack --os-cloud tricircle-demo server list");
    println!("  openstack --os-cloud tricircle availability zone list");
    println!("  tricircle --os-cloud tricircle pod list      # the admin view");
    println!("Ctrl-C stops everything; `tricircle up` again with the same --data-dir resumes.");
}
