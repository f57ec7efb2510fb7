//! Reconciles of one object (a network's copies and shadow ports, a
//! router's copies, a floating IP, a security group's copies) as durable
//! jobs.
//!
//! A change at the top asks for the objects it touched to be synced. The
//! request is recorded first as a job due one lease later (an outbox: if this
//! process dies before the sync is done, a runner does it then), then the
//! request claims that job and runs the sync at once, so the API answers
//! with the pods already following; the outcome finishes the job (done, or
//! left to the runner to retry with backoff when a pod was away). A second
//! request for the same object while the job waits joins it; if the job is
//! claimed after a request asked for it, that run covers the request's
//! change too, and the request waits for it. So one object's syncs run one
//! at a time across replicas (one running job per object), and each change
//! is followed by a sync that started after it.
//!
//! The periodic reconcile calls the syncs directly (it would otherwise
//! record a job per object per pass); the turns inside the syncs keep one
//! router's or floating IP's reconciles apart across replicas.

use std::collections::BTreeSet;

use serde_json::json;
use tricircle_common::{Error, Result};
use tricircle_jobs::kinds::{FLOATING_IP_SYNC, NETWORK_SYNC, ROUTER_SYNC, SECURITY_GROUP_SYNC};
use tricircle_jobs::{JobFailure, JobFuture, JobHandler, JobKind};
use tricircle_store::{Job, JobOutcome, JobStatus, NewJob, now};

use crate::App;

/// How long a request waits for another run of the same sync (on any
/// replica) before leaving its own to the job runner.
const SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often it looks again meanwhile.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl App {
    /// Run one reconcile of `kind` on the object `id`.
    pub async fn run_sync(&self, kind: &JobKind, id: &str) -> Result<()> {
        // Boxed: syncs ask for other syncs (a network's for its routers, a
        // floating IP's for its network), and their futures nest deeply.
        match kind.name {
            "network_sync" => Box::pin(self.sync_network_shadows(id)).await.map(|_| ()),
            "router_sync" => Box::pin(self.sync_router(id)).await,
            "floating_ip_sync" => Box::pin(self.sync_floating_ip(id)).await,
            "security_group_sync" => Box::pin(self.sync_security_group(id)).await,
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
            Box::pin(self.sync_one_recorded(kind, &id)).await;
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
            Ok((job, _)) => job,
            // The database is away: sync anyway; the periodic pass is the net.
            Err(e) => {
                tracing::warn!(kind = kind.name, id, error = %e, "sync not recorded");
                if let Err(e) = self.run_sync(kind, id).await {
                    tracing::warn!(kind = kind.name, id, error = %e, "not in sync yet");
                }
                return;
            }
        };
        let deadline = tokio::time::Instant::now() + SYNC_WAIT;
        loop {
            let holder = self.claim_holder();
            match self.store.job_claim_id(job.id, &holder, now(), self.lease_end()).await {
                Ok(Some(claimed)) => return self.run_claimed_sync(kind, id, &claimed).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "sync left to the job runner");
                    return;
                }
            }
            // Not claimed: someone claimed this job after it was asked for
            // (its run covers this change: wait for it), or another job of
            // the same object is running (wait, then claim this one).
            match self.store.job_get(job.id).await {
                // Waiting for another run of the object: if its holder died,
                // do that run here (it started after this change too).
                Ok(Some(j)) if j.status == JobStatus::New => {
                    let stale = self
                        .store
                        .job_claim_stale(kind.name, id, &holder, now(), self.lease_end())
                        .await;
                    if let Ok(Some(stale)) = stale {
                        tracing::info!(job_id = %stale.id, "took over a sync whose holder died");
                        self.run_claimed_sync(kind, id, &stale).await;
                        continue;
                    }
                }
                Ok(Some(j)) if j.status == JobStatus::Running => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "sync left to the job runner");
                    return;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(job_id = %job.id, kind = kind.name, id, "another sync of the object is slow; the job runner finishes this one");
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Run a sync job this process claimed, renewing its lease, and record
    /// the outcome (a failure is retried by the runner with backoff).
    async fn run_claimed_sync(&self, kind: &'static JobKind, id: &str, job: &Job) {
        let holder = job.lease_owner.clone().unwrap_or_default();
        let Some(result) =
            self.with_job_lease(job.id, &holder, Box::pin(self.run_sync(kind, id))).await
        else {
            return;
        };
        let outcome = match &result {
            Ok(()) => JobOutcome::Success,
            Err(e) => {
                tracing::warn!(kind = kind.name, id, error = %e, "not in sync yet; the job runner retries");
                let delay =
                    chrono::Duration::from_std(self.settings.saga_retry_delay).unwrap_or_default();
                JobOutcome::Retry { at: now() + delay, error: e.to_string() }
            }
        };
        if let Err(e) = self.store.job_finish(job.id, &holder, outcome).await {
            tracing::warn!(job_id = %job.id, error = %e, "sync outcome not recorded; the job runs again");
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
