//! `tricircle serve` and `tricircle db migrate`: configuration, logging,
//! database, secrets, and the HTTP server with graceful shutdown.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tricircle_api::{
    ApiState, Authenticator, EmbeddedIdentityAuth, ExternalKeystoneAuth, HttpSettings,
};
use tricircle_common::config::{Config, IdentityMode, LogFormat};
use tricircle_common::random;
use tricircle_core::compute::server_create::ServerCreate;
use tricircle_core::compute::server_group_copies::GroupCopyDelete;
use tricircle_core::compute::servers::ServerDelete;
use tricircle_core::identity::bootstrap::bootstrap;
use tricircle_core::identity::external::{ExternalKeystone, ExternalKeystoneSettings};
use tricircle_core::pod_check::PodCheck;
use tricircle_core::sync_jobs::SyncJob;
use tricircle_core::volumes::create::{VolumeCreate, VolumeDelete};
use tricircle_core::{App, SecretBox, Settings};
use tricircle_jobs::saga::SagaJob;
use tricircle_jobs::{Runner, RunnerConfig, kinds};
use tricircle_pod_client::PodClient;
use tricircle_store::{ConnectOptions, Store};

/// Exit status for configuration errors (DESIGN: "Bad config → exit code 2").
const EXIT_CONFIG: u8 = 2;

pub fn load_config(path: Option<&Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

pub fn init_logging(config: &Config) -> Result<(), ExitCode> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ => config.log.filter.clone(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
        eprintln!("error: configuration: key `log.filter`: {e}");
        ExitCode::from(EXIT_CONFIG)
    })?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = match config.log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    // Already initialised (an embedding program): keep its subscriber.
    let _ = result;
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_secs(config.database.acquire_timeout_secs),
        pg_schema: None,
    };
    let store = Store::connect(&config.database_url(), &options)
        .await
        .context("cannot open the database")?;
    store.migrate().await.context("cannot migrate the database")?;
    Ok(store)
}

/// A secret from the configuration, else from its file, else a new one
/// written to that file (mode 0600). Secrets are never logged.
pub fn secret_from(configured: Option<&str>, path: &Path, what: &str) -> anyhow::Result<String> {
    if let Some(t) = configured {
        return Ok(t.to_string());
    }
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => anyhow::bail!("{what} file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let secret = random::token_hex();
    match tricircle_core::secrets::publish_private(path, &format!("{secret}\n")) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the {what}");
            Ok(secret)
        }
        // A replica sharing the data dir, started at the same moment,
        // wrote it first: every replica uses that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => secret_from(None, path, what),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
}

pub async fn serve(config_path: Option<&Path>) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = init_logging(&config) {
        return code;
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<StartupConfigError>().is_some() => {
            tracing::error!(error = %e, "the gateway cannot start");
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the gateway stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let gateway = Gateway::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "tricircle gateway listening on http://{addr} (admin API at http://{addr}/admin/v1.0)"
    );
    gateway.serve(listener, shutdown_signal()).await
}

/// A configuration that parses but does not work (the external Keystone
/// is unreachable or refuses the gateway's account): one line naming the
/// key, exit status 2 like any configuration error.
#[derive(Debug)]
pub struct StartupConfigError(String);

impl std::fmt::Display for StartupConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupConfigError {}

/// The validator of external tokens, after one login with the gateway's
/// account (external-Keystone mode only).
async fn external_keystone(config: &Config) -> anyhow::Result<Option<Arc<ExternalKeystone>>> {
    if config.identity.mode != IdentityMode::External {
        return Ok(None);
    }
    let ext = &config.identity.external;
    let settings = ExternalKeystoneSettings {
        credentials: tricircle_pod_client::Credentials {
            auth_url: ext.auth_url.clone().unwrap_or_default(),
            username: ext.username.clone().unwrap_or_default(),
            password: ext.password.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
            project_name: ext.project_name.clone(),
            user_domain_name: ext.user_domain_name.clone(),
            project_domain_name: ext.project_domain_name.clone(),
        },
        token_cache_ttl: Duration::from_secs(ext.token_cache_secs),
        timeout: Duration::from_secs(config.pods.request_timeout_secs),
    };
    let keystone = ExternalKeystone::new(settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    keystone
        .check()
        .await
        .map_err(|(key, why)| StartupConfigError(format!("configuration: key `{key}`: {why}")))?;
    tracing::info!(auth_url = keystone.auth_url(), "validating tokens at the external Keystone");
    Ok(Some(keystone))
}

/// A gateway ready to serve: database migrated, identity bootstrapped, job
/// runner built. `serve` and `up` both start one.
pub struct Gateway {
    pub app: App,
    pub store: Store,
    /// The bootstrap admin's IDs (for `up`'s seeding).
    pub admin: tricircle_core::identity::bootstrap::Bootstrapped,
    pub admin_password: String,
    router: axum::Router,
    runner: Runner,
    sync_interval: Duration,
    /// How long finished jobs are kept.
    job_retention: Duration,
}

impl Gateway {
    pub async fn build(config: &Config) -> anyhow::Result<Gateway> {
        let store = open_store(config).await?;
        let secrets = SecretBox::load_or_create(&config.secret_key_file())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let token = secret_from(
            config.auth.bootstrap_token.as_deref(),
            &config.bootstrap_token_file(),
            "bootstrap admin token",
        )?;
        let external = external_keystone(config).await?;
        // With an external Keystone the embedded one is unreachable (no
        // /identity): its admin gets a throwaway password, never written.
        let admin_password = match external {
            Some(_) => random::token_hex(),
            None => secret_from(
                config.identity.admin_password.as_deref(),
                &config.admin_password_file(),
                "admin password",
            )?,
        };
        let admin = bootstrap(&store, &admin_password)
            .await
            .map_err(|e| anyhow::anyhow!("identity bootstrap: {e}"))?;
        let mut settings = Settings::new(config.api.pagination_max_limit);
        settings.identity.token_ttl = Duration::from_secs(config.identity.token_ttl_secs);
        settings.pod_timeout = Duration::from_secs(config.pods.request_timeout_secs);
        settings.image_dir = config.data_dir.join("images");
        // Validated when the configuration was loaded.
        settings.vni_range = config.networking.vni_bounds().map_err(anyhow::Error::msg)?;
        settings.bridge_cidr = config.networking.bridge_net().map_err(anyhow::Error::msg)?;
        settings.identity.external_auth_url = external.as_ref().map(|k| k.auth_url().to_string());
        settings.job_lease = Duration::from_secs(config.jobs.lease_secs);
        let app = App::new(store.clone(), secrets, settings);
        let pod_client = PodClient::new(Duration::from_secs(config.pods.request_timeout_secs))
            .map_err(|e| anyhow::anyhow!("cannot build the pod client: {e}"))?;
        let shared = Arc::new(app.clone());
        let runner_config = RunnerConfig {
            lease: Duration::from_secs(config.jobs.lease_secs),
            idle_poll: Duration::from_millis(config.jobs.poll_interval_ms),
            max_attempts: config.jobs.max_attempts,
            workers: config.jobs.workers,
            ..RunnerConfig::new(app.owner())
        };
        let mut runner = Runner::new(store.clone(), runner_config)
            .with_handler(PodCheck::new(app.clone(), pod_client))
            .with_handler(SagaJob::<ServerCreate>::new(
                shared.clone(),
                store.clone(),
                &kinds::SERVER_CREATE,
            ))
            .with_handler(SagaJob::<ServerDelete>::new(
                shared.clone(),
                store.clone(),
                &kinds::SERVER_DELETE,
            ))
            .with_handler(SagaJob::<VolumeCreate>::new(
                shared.clone(),
                store.clone(),
                &kinds::VOLUME_CREATE,
            ))
            .with_handler(SagaJob::<VolumeDelete>::new(
                shared.clone(),
                store.clone(),
                &kinds::VOLUME_DELETE,
            ))
            .with_handler(SagaJob::<GroupCopyDelete>::new(
                shared,
                store.clone(),
                &kinds::SERVER_GROUP_DELETE,
            ));
        for kind in kinds::SYNC_KINDS {
            runner = runner.with_handler(SyncJob::new(app.clone(), kind));
        }
        let bootstrap_token = config.auth.accept_bootstrap_token.then_some(token);
        let auth: Arc<dyn Authenticator> = match external {
            Some(keystone) => Arc::new(ExternalKeystoneAuth::new(keystone, bootstrap_token)),
            None => Arc::new(EmbeddedIdentityAuth::new(app.clone(), bootstrap_token)),
        };
        let state = ApiState {
            app: app.clone(),
            auth,
            public_url: config.api.public_url.clone(),
            region: config.identity.region.clone(),
        };
        let router = tricircle_api::router(
            state,
            &HttpSettings { max_body_bytes: config.api.max_body_bytes },
        );
        let sync_interval = Duration::from_secs(config.pods.sync_interval_secs);
        let job_retention = Duration::from_secs(config.jobs.retention_secs);
        Ok(Gateway {
            app,
            store,
            admin,
            admin_password,
            router,
            runner,
            sync_interval,
            job_retention,
        })
    }

    /// Serve on `listener` (and run jobs) until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, database = self.store.backend_name(), "gateway listening");
        let stop_jobs = CancellationToken::new();
        let jobs = tokio::spawn(self.runner.run(stop_jobs.clone()));
        if !self.sync_interval.is_zero() {
            let (app, every, stop) = (self.app.clone(), self.sync_interval, stop_jobs.clone());
            let retention = self.job_retention;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => {
                            match app.periodic_pass(retention).await {
                                Ok(Some(r)) => tracing::debug!(?r, "periodic pass done"),
                                Ok(None) => {}
                                Err(e) => tracing::warn!(error = %e, "periodic pass not run"),
                            }
                            if let Err(e) = app.publish_job_gauges().await {
                                tracing::debug!(error = %e, "job gauges not refreshed");
                            }
                        }
                    }
                }
            });
        }
        axum::serve(listener, self.router).with_graceful_shutdown(shutdown).await?;
        stop_jobs.cancel();
        let _ = jobs.await;
        self.store.close().await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

pub async fn db_migrate(config_path: Option<&Path>) -> ExitCode {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = init_logging(&config) {
        return code;
    }
    let result = async {
        let store = open_store(&config).await?;
        SecretBox::load_or_create(&config.secret_key_file()).map_err(|e| anyhow::anyhow!("{e}"))?;
        store.close().await;
        anyhow::Ok(store.backend_name())
    }
    .await;
    match result {
        Ok(backend) => {
            println!("{backend} database is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
