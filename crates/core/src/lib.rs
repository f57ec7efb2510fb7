//! The domain of the gateway: what may be done with pods, routings and jobs,
//! and the rules that keep them consistent. No HTTP types here: handlers
//! parse and render, this crate decides.
//!
//! Every operation takes the caller's [`RequestContext`] and checks what it
//! needs itself (defence in depth: the API layer has usually checked already).

use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::Store;

pub mod audit;
pub mod caller_token;
pub mod compute;
pub mod identity;
pub mod images;
pub mod inline_jobs;
pub mod jobs;
pub mod keyed_locks;
pub mod lookups;
pub mod networking;
pub mod paging;
pub mod periodic;
pub mod pod_check;
pub mod pod_sessions;
pub mod pods;
pub mod resource_types;
pub mod routings;
pub mod secrets;
mod shared_identity;
pub mod sync;
pub mod sync_jobs;
pub mod turns;
pub mod volumes;

pub use paging::PageRequest;
pub use secrets::SecretBox;

/// Settings the domain needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest page a list returns.
    pub pagination_max_limit: u32,
    pub identity: identity::IdentitySettings,
    /// Deadline of one call to a pod.
    pub pod_timeout: std::time::Duration,
    /// How long a listing waits for each pod before answering from the
    /// cache with status UNKNOWN.
    pub list_deadline: std::time::Duration,
    /// Where image bytes are kept.
    pub image_dir: std::path::PathBuf,
    /// When a saga an API call could not finish is tried again by the runner.
    pub saga_retry_delay: std::time::Duration,
    /// How long pod rows, server bottom IDs and flavor names are remembered
    /// (zero: read the database every time); see [`lookups`].
    pub lookup_cache_ttl: std::time::Duration,
    /// The VXLAN IDs tenant networks get, allocated centrally (inclusive); away
    /// from the ranges pods allocate for their own networks (1–1000 in devstack).
    pub vni_range: (i64, i64),
    /// The addresses every project's bridge network uses (each project's on
    /// its own segment, so they may repeat across projects).
    pub bridge_cidr: ipnet::Ipv4Net,
    /// How old an object the gateway made in a pod must be, with no routing
    /// pointing at it, before the audit deletes it as an orphan.
    pub audit_grace: std::time::Duration,
    /// How long a job this process runs is leased (renewed every third of
    /// it): a process that dies holds its jobs at most this long.
    pub job_lease: std::time::Duration,
}

impl Settings {
    pub fn new(pagination_max_limit: u32) -> Self {
        Settings {
            pagination_max_limit,
            identity: identity::IdentitySettings::default(),
            pod_timeout: pod_sessions::DEFAULT_POD_TIMEOUT,
            list_deadline: std::time::Duration::from_secs(5),
            image_dir: std::path::PathBuf::from("./.tricircle/images"),
            saga_retry_delay: std::time::Duration::from_secs(5),
            lookup_cache_ttl: std::time::Duration::from_secs(10),
            vni_range: (100_000, 199_999),
            bridge_cidr: ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(100, 64, 0, 0), 16)
                .expect("a /16 is a valid prefix"),
            audit_grace: std::time::Duration::from_secs(600),
            job_lease: std::time::Duration::from_secs(60),
        }
    }
}

/// The gateway's application layer: one per process, shared by handlers.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    secrets: SecretBox,
    settings: Settings,
    sessions: std::sync::Arc<pod_sessions::PodSessions>,
    content: images::ContentStore,
    tokens: std::sync::Arc<identity::token_cache::TokenCache>,
    lookups: std::sync::Arc<lookups::Lookups>,
    /// Reconciles of one object (a router) take turns in this process
    /// (and, through the database's locks, with other replicas).
    reconciles: std::sync::Arc<keyed_locks::KeyedLocks>,
    /// Who this process is when it holds job leases and locks: unique per
    /// `App` (process ID plus a random part), so replicas never share one.
    owner: std::sync::Arc<str>,
}

impl App {
    pub fn new(store: Store, secrets: SecretBox, settings: Settings) -> Self {
        let content = images::ContentStore::new(settings.image_dir.clone());
        let tokens = std::sync::Arc::new(identity::token_cache::TokenCache::new(
            settings.identity.token_cache_ttl,
            10_000,
        ));
        let lookups = std::sync::Arc::new(lookups::Lookups::new(settings.lookup_cache_ttl));
        App {
            store,
            secrets,
            settings,
            sessions: Default::default(),
            content,
            tokens,
            lookups,
            reconciles: Default::default(),
            owner: format!(
                "{}-{}",
                std::process::id(),
                &tricircle_common::random::token_hex()[..8]
            )
            .into(),
        }
    }

    /// The name this process holds job leases and locks under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A pod row, from memory when read in the last `lookup_cache_ttl`.
    pub async fn pod_cached(
        &self,
        pod_id: tricircle_common::PodId,
    ) -> Result<Option<tricircle_store::Pod>> {
        if let Some(p) = self.lookups.pods.get(&pod_id) {
            return Ok(Some(p));
        }
        let pod = self.store.pod_get(pod_id).await?;
        if let Some(p) = &pod {
            self.lookups.pods.insert(pod_id, p.clone());
        }
        Ok(pod)
    }

    /// Is the database reachable? (`/readyz`)
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await.map_err(Error::from)
    }
}

/// Refuse callers without the admin role.
pub fn require_admin(ctx: &RequestContext) -> Result<()> {
    if ctx.auth.is_admin() {
        Ok(())
    } else {
        Err(Error::forbidden("This operation needs the admin role."))
    }
}
