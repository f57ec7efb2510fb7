//! Persistence of the gateway's own state, on SQLite (embedded default) and
//! PostgreSQL (several replicas), through one API.
//!
//! Only this crate writes SQL. Each operation is written once: the
//! [`on_pool!`] macro expands its body for both backends, so the SQL text and
//! the row types are shared and only the schema files differ (`migrations/`).
//! Queries use `$N` placeholders, which both SQLite and PostgreSQL accept;
//! dynamic filters go through `sqlx::QueryBuilder`, which emits each
//! backend's placeholders.
//!
//! Timestamps are produced here ([`now`]) at microsecond precision, so a
//! value written to either backend reads back equal and compares in order.
//!
//! Operations are named `resource_verb` (`pod_create`, `routing_list`).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub mod audits;
pub mod compute;
mod error;
pub mod identity;
pub mod images;
pub mod job_leases;
pub mod jobs;
pub mod networking;
pub mod pods;
pub mod quotas;
pub mod routings;
pub mod server_groups;

pub use audits::{AuditOutcome, NewPodAudit, PodAuditRecord};
pub use compute::{Flavor, Keypair, ResourcePlace, ResourceRow};
pub use error::StoreError;
pub use identity::{Assignment, Domain, IdentityPatch, Project, Role, TokenRecord, User};
pub use images::Image;
pub use job_leases::{JobAttempt, JobOutcome};
pub use jobs::{Job, JobFilter, JobStatus, NewJob};
pub use networking::{IpAllocation, NetFilter, NetObject, PortWriteError, Segment};
pub use pods::{NewPod, Pod, PodHealth};
pub use quotas::QuotaLimit;
pub use routings::{NewRouting, Routing, RoutingFilter, RoutingPatch};
pub use server_groups::{GroupMember, ServerGroup};

pub type StoreResult<T> = Result<T, StoreError>;

/// Expand `$body` once per backend with `$pool` bound to that backend's pool.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Connection settings that do not belong in the URL.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the store
    /// reports itself unavailable.
    pub acquire_timeout: Duration,
    /// PostgreSQL only: the schema to use (tests isolate themselves this way).
    pub pg_schema: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            pg_schema: None,
        }
    }
}

/// A page request: at most `limit` rows after `marker` (exclusive).
#[derive(Clone, Debug)]
pub struct Page<M> {
    pub limit: u32,
    pub marker: Option<M>,
}

/// The gateway's database.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
}

impl Store {
    /// Open `url` (`sqlite:…` or `postgres://…`). A SQLite file and its
    /// directory are created when missing. Does not run migrations.
    pub async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<Store> {
        let backend = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // In WAL mode NORMAL syncs the log at checkpoints, not at
                // every commit: a commit survives the process being killed
                // (the crash the job engine is built for), and only an OS
                // crash or power cut can lose the last ones (never corrupt
                // the file). FULL, the default, holds the write lock through
                // an fsync per commit: on a busy disk writers queued behind
                // it for the whole busy timeout and a burst of 70 requests
                // got 500s ("database is locked") and 503s (no connection
                // free within the acquire timeout).
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(dir) = opts.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
            if let Some(schema) = &options.pg_schema {
                opts = opts.options([("search_path", schema.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(opts)
                .await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::Config(
                "database URL must start with sqlite: or postgres://".into(),
            ));
        };
        Ok(Store { backend })
    }

    /// Apply the embedded migrations of this backend (idempotent).
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Round-trip to the database (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// The current time as the store records it (UTC, microseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(feature = "testing")]
pub mod testing;
