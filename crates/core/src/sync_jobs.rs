//! Reconciles of one object (a network's copies and shadow ports, a
//! router's copies, a floating IP, a security group's copies) as durable
//! jobs.
//!
//! A change at the top asks for the objects it touched to be synced. The
//! request is recorded first as a job due one lease later (an outbox: if this
//! process dies before the sync is done, a runner does it then), and the
//! sync runs at once in the request, so the API answers with the pods
//! already following. Its outcome settles the job: done, or left to the
//! runner to retry with backoff when a pod was away. A second request for
//! the same object while one waits joins it; that is safe because each
//! request runs its own sync after its change was written.
//!
//! The periodic reconcile calls the syncs directly (it would otherwise
//! record a job per object per pass); the turns inside the syncs keep one
//! router's or floating IP's reconciles apart across replicas.

use std::collections::BTreeSet;

use serde_json::json;
use tricircle_common::{Error, Result};
use tricircle_jobs::kinds::{FLOATING_IP_SYNC, NETWORK_SYNC, ROUTER_SYNC, SECURITY_GROUP_SYNC};
use tricircle_jobs::{JobFailure, JobFuture, JobHandler, JobKind};
use tricircle_store::{Job, JobOutcome, NewJob, now};

use crate::App;

impl App {
    /// Run one reconcile of `kind` on the object `id`.
    pub async fn run_sync(&self, kind: &JobKind, id: &str) -> Result<()> {
        match kind.name {
            "network_sync" => self.sync_network_queued(id).await,
            "router_sync" => self.sync_router(id).await,
            "floating_ip_sync" => self.sync_floating_ip(id).await,
            "security_group_sync" => self.sync_security_group(id).await,
            other => Err(Error::internal(format!("{other} is not a sync job"))),
        }
    }

    /// Sync each object once, recorded as jobs (see the module doc); a
    /// failure is logged and left to the runner, never returned.
    pub(crate) async fn sync_recorded(
        &self,
        kind: &'static JobKind,
        ids: impl IntoIterator<Item = String>,
    ) {
        let ids: BTreeSet<String> = ids.into_iter().collect();
        for id in ids {
            self.sync_one_recorded(kind, &id).await;
        }
    }

    async fn sync_one_recorded(&self, kind: &'static JobKind, id: &str) {
        let new = NewJob {
            job_type: kind.name.into(),
            resource_key: id.into(),
            resource: json!({"id": id}),
            project_id: String::new(),
        };
        let job = match self.store.job_enqueue_due(&new, self.lease_end()).await {
            Ok((job, _)) => Some(job),
            // The database is away: sync anyway; the periodic pass is the net.
            Err(e) => {
                tracing::warn!(kind = kind.name, id, error = %e, "sync not recorded");
                None
            }
        };
        let started = now();
        let result = self.run_sync(kind, id).await;
        let retry_at = || {
            now() + chrono::Duration::from_std(self.settings.saga_retry_delay).unwrap_or_default()
        };
        let outcome = match &result {
            Ok(()) => JobOutcome::Success,
            Err(e) => {
                tracing::warn!(kind = kind.name, id, error = %e, "not in sync yet; the job runner retries");
                JobOutcome::Retry { at: retry_at(), error: e.to_string() }
            }
        };
        let Some(job) = job else { return };
        let failed = result.is_err();
        match self
            .store
            .job_settle_unclaimed(job.id, self.owner(), started, outcome, job.attempts)
            .await
        {
            Ok(true) => {}
            // Another request that joined the job settled it first (or a
            // runner took it). A failure of this one's sync must not be
            // lost with it: this request's change may be the one not
            // synced yet, so the object is queued again for the runner.
            Ok(false) if failed => {
                if let Err(e) = self.store.job_enqueue_due(&new, retry_at()).await {
                    tracing::warn!(kind = kind.name, id, error = %e, "sync retry not recorded; the periodic pass is the net");
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "sync outcome not recorded; the job runs again");
            }
        }
    }

    pub(crate) async fn sync_networks_recorded(&self, ids: impl IntoIterator<Item = String>) {
        self.sync_recorded(&NETWORK_SYNC, ids).await
    }

    pub(crate) async fn sync_routers_recorded(&self, ids: impl IntoIterator<Item = String>) {
        self.sync_recorded(&ROUTER_SYNC, ids).await
    }

    pub(crate) async fn sync_floating_ips_recorded(&self, ids: impl IntoIterator<Item = String>) {
        self.sync_recorded(&FLOATING_IP_SYNC, ids).await
    }

    pub(crate) async fn sync_security_groups_recorded(
        &self,
        ids: impl IntoIterator<Item = String>,
    ) {
        self.sync_recorded(&SECURITY_GROUP_SYNC, ids).await
    }
}

/// The runner's handler of one sync kind: a job left behind by a request
/// (its process died, or a pod was away) is synced again.
pub struct SyncJob {
    app: App,
    kind: &'static JobKind,
}

impl SyncJob {
    pub fn new(app: App, kind: &'static JobKind) -> std::sync::Arc<SyncJob> {
        std::sync::Arc::new(SyncJob { app, kind })
    }
}

impl JobHandler for SyncJob {
    fn kind(&self) -> &'static JobKind {
        self.kind
    }

    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(async move {
            let id = job.resource["id"].as_str().unwrap_or(&job.resource_key);
            self.app.run_sync(self.kind, id).await.map_err(|e| {
                // A pod away or failing: later. Anything else will not mend itself.
                if e.status() >= 500 {
                    JobFailure::retry(e.to_string())
                } else {
                    JobFailure::fatal(e.to_string())
                }
            })
        })
    }
}
