//! A simulated OpenStack region: Keystone v3, Nova v2.1, Cinder v3, Neutron v2.0 and Glance
//! v2 on one HTTP listener, in memory, with fault injection and a dataplane view.
//!
//! The real `openstack` CLI and openstacksdk work against it unchanged, so the gateway can be
//! tested against many regions on one small machine. Where the API reference is silent, the
//! behaviour of the real services decides (status codes, body shapes, headers).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tricircle_sim_pod::SimPodError> {
//! use tricircle_sim_pod::{SimPodConfig, start};
//! let pod = start(SimPodConfig::for_tests("Pod1")).await?;
//! println!("auth url {}", pod.auth_url()); // http://127.0.0.1:PORT/identity/v3
//! pod.control().set_down(true);              // refuse connections, keep state
//! pod.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout of the listener (devstack's prefixes):
//!
//! | path | service | catalog type |
//! | --- | --- | --- |
//! | `/identity`, `/identity/v3` | Keystone | `identity` (URL `/identity`) |
//! | `/compute/v2.1` | Nova, microversions 2.1–2.96 | `compute` |
//! | `/volume/v3` | Cinder, microversions 3.0–3.71 | `volumev3`, `block-storage` |
//! | `/networking/v2.0` | Neutron | `network` (URL `/networking`) |
//! | `/image/v2` | Glance | `image` (URL `/image`) |
//! | `/sim/...` | control API (not OpenStack) | – |
//!
//! Users: `admin` (role admin on project `admin`) and `demo` (member of project `demo`), both
//! in domain `Default`, both with the configured password.

mod app;
mod blob;
mod config;
mod control;
mod dataplane;
mod faults;
mod http;
mod keystone;
mod keystone_admin;
mod microversion;
mod model;
mod pod;
mod server;
mod state;
mod versions;

mod cinder;
mod glance;
mod neutron;
mod nova;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{Delays, SimHost, SimMode, SimPodConfig, default_hosts};
pub use control::SimPodControl;
pub use faults::FaultRule;
pub use microversion::{CINDER_MAX, CINDER_MIN, Mv, NOVA_MAX, NOVA_MIN};
pub use tricircle_dataplane::{DataplaneView, Reachability, trace, trace_from_outside};

/// Why a sim pod could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimPodError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read state file {path}: {source}")]
    StateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid: {source}")]
    StateParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A running sim pod. Dropping it without [`SimPodHandle::shutdown`] leaves the tasks
/// running until the runtime ends.
pub struct SimPodHandle {
    pod: pod::Pod,
    addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    state_file: Option<PathBuf>,
}

/// Start a sim pod: load or create its state, bind its listener (port 0 allowed) and serve.
pub async fn start(config: SimPodConfig) -> Result<SimPodHandle, SimPodError> {
    let st = match &config.state_file {
        Some(path) if path.exists() => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|source| SimPodError::StateRead { path: path.clone(), source })?;
            serde_json::from_slice(&bytes)
                .map_err(|source| SimPodError::StateParse { path: path.clone(), source })?
        }
        _ => state::State::new(&config.password, config.seed),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimPodError::Bind { addr: config.listen, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimPodError::Bind { addr: config.listen, source })?;
    let base_url = config.advertise_url.clone().unwrap_or_else(|| {
        let ip = if addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, addr.port()))
    });
    let pod: pod::Pod = Arc::new(pod::PodInner::new(
        config.region.clone(),
        config.az.clone(),
        config.password.clone(),
        base_url.trim_end_matches('/').to_string(),
        config.effective_hosts(),
        config.delays.clone(),
        config.mode,
        config.seed,
        st,
        config.state_file.is_some(),
    ));
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let router = app::router(pod.clone());
    tasks.push(tokio::spawn(server::serve(listener, router, Some(pod.clone()), shutdown.clone())));
    let mut control_addr = None;
    if let Some(caddr) = config.control_listen {
        let l = TcpListener::bind(caddr)
            .await
            .map_err(|source| SimPodError::Bind { addr: caddr, source })?;
        control_addr = l.local_addr().ok();
        let router = app::control_router(pod.clone());
        tasks.push(tokio::spawn(server::serve(l, router, None, shutdown.clone())));
    }
    if let Some(path) = config.state_file.clone() {
        tasks.push(tokio::spawn(control::persist_loop(pod.clone(), path, shutdown.clone())));
    }
    tracing::info!(region = %config.region, %addr, "sim-pod started");
    Ok(SimPodHandle { pod, addr, control_addr, shutdown, tasks, state_file: config.state_file })
}

impl SimPodHandle {
    /// The address the OpenStack APIs listen on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the separate control listener, when configured.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// The base URL advertised in the catalog (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.pod.base_url
    }

    /// Keystone v3: `http://ADDR/identity/v3`.
    pub fn auth_url(&self) -> String {
        self.pod.auth_url()
    }

    pub fn region(&self) -> &str {
        &self.pod.region
    }

    /// The in-process control API (faults, down/hang, counters, dataplane, reset).
    pub fn control(&self) -> SimPodControl {
        SimPodControl::new(self.pod.clone())
    }

    /// Stop serving, save the state file (if any) and wait for the tasks to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        // Release requests held by "hang" so their connections can close.
        self.pod.net.hang.send_replace(false);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(path) = &self.state_file
            && let Err(e) = control::save_state(&self.pod, path).await
        {
            tracing::warn!(path = %path.display(), error = %e, "sim-pod could not save state");
        }
    }
}
