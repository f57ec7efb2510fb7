//! The `pod_check` job: call a pod's identity endpoint and record whether it
//! answered, how fast, and why not. Queued when a pod is registered.

use std::sync::Arc;

use serde_json::json;
use tricircle_common::{PodId, RequestContext};
use tricircle_jobs::kinds::POD_CHECK;
use tricircle_jobs::{JobFailure, JobFuture, JobHandler, JobKind};
use tricircle_pod_client::PodClient;
use tricircle_store::{Job, NewJob, Pod, PodHealth, Store, now};

/// The job that checks `pod`.
pub fn job_for(pod: &Pod, ctx: &RequestContext) -> NewJob {
    NewJob {
        job_type: POD_CHECK.name.to_string(),
        resource_key: pod.pod_id.to_string(),
        resource: json!({ "pod_id": pod.pod_id.to_string() }),
        project_id: ctx.auth.project_id.clone().unwrap_or_default(),
    }
}

pub struct PodCheck {
    store: Store,
    client: PodClient,
}

impl PodCheck {
    pub fn new(store: Store, client: PodClient) -> Arc<Self> {
        Arc::new(PodCheck { store, client })
    }

    async fn check(&self, job: &Job) -> Result<(), JobFailure> {
        let pod_id: PodId = job.resource["pod_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| JobFailure::fatal("resource.pod_id is not a pod ID"))?;
        let store_err =
            |e: tricircle_store::StoreError| JobFailure::retry(format!("database: {e}"));
        // A pod deleted since the job was queued needs no check.
        let Some(pod) = self.store.pod_get(pod_id).await.map_err(store_err)? else { return Ok(()) };
        let Some(auth_url) = &pod.auth_url else { return Ok(()) };
        let result = self.client.probe_identity(auth_url).await;
        let health = PodHealth {
            checked_at: Some(now()),
            ok: Some(result.is_ok()),
            latency_ms: result.as_ref().ok().map(|d| d.as_millis().try_into().unwrap_or(i64::MAX)),
            error: result.as_ref().err().map(|e| e.to_string()),
        };
        self.store.pod_record_health(pod_id, &health).await.map_err(store_err)?;
        result.map(|_| ()).map_err(|e| JobFailure::retry(format!("{}: {e}", pod.region_name)))
    }
}

impl JobHandler for PodCheck {
    fn kind(&self) -> &'static JobKind {
        &POD_CHECK
    }

    fn run<'a>(&'a self, job: &'a Job) -> JobFuture<'a> {
        Box::pin(self.check(job))
    }
}
