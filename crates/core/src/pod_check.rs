//! The `pod_check` job: call a pod's identity endpoint and record whether it
//! answered, how fast, and why not. When the pod has credentials, the check
//! also logs in with them and requires the pod's region in the catalog, so
//! `up` means the gateway can really work there. Queued when a pod is
//! registered.

use std::sync::Arc;

use serde_json::json;
use tricircle_common::{PodId, RequestContext};
use tricircle_jobs::kinds::POD_CHECK;
use tricircle_jobs::{JobFailure, JobFuture, JobHandler, JobKind};
use tricircle_pod_client::{Credentials, PodClient, ServiceType, password_login};
use tricircle_store::{Job, NewJob, Pod, PodHealth, now};

use crate::App;

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
    app: App,
    client: PodClient,
    http: reqwest::Client,
}

impl PodCheck {
    pub fn new(app: App, client: PodClient) -> Arc<Self> {
        let http = reqwest::Client::builder().timeout(client.timeout()).build().unwrap_or_default();
        Arc::new(PodCheck { app, client, http })
    }

    /// Log in with the pod's credentials and find its region in the catalog.
    async fn login(&self, pod: &Pod) -> Result<(), String> {
        let Some(c) = self.app.pod_credentials(pod).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let creds = Credentials {
            auth_url: pod.auth_url.clone().unwrap_or_default(),
            username: c.username,
            password: c.password,
            project_name: c.project_name,
            user_domain_name: c.user_domain_name,
            project_domain_name: c.project_domain_name,
        };
        let token = password_login(&self.http, &creds).await.map_err(|e| e.to_string())?;
        if token.catalog.endpoint(ServiceType::Compute, &pod.region_name, "public").is_none() {
            return Err(format!(
                "the pod's catalog has no compute endpoint in region {}",
                pod.region_name
            ));
        }
        Ok(())
    }

    async fn check(&self, job: &Job) -> Result<(), JobFailure> {
        let pod_id: PodId = job.resource["pod_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| JobFailure::fatal("resource.pod_id is not a pod ID"))?;
        let store = self.app.store();
        let store_err =
            |e: tricircle_store::StoreError| JobFailure::retry(format!("database: {e}"));
        // A pod deleted since the job was queued needs no check.
        let Some(pod) = store.pod_get(pod_id).await.map_err(store_err)? else { return Ok(()) };
        let Some(auth_url) = &pod.auth_url else { return Ok(()) };
        let result = match self.client.probe_identity(auth_url).await {
            Ok(latency) => self.login(&pod).await.map(|()| latency),
            Err(e) => Err(e.to_string()),
        };
        let health = PodHealth {
            checked_at: Some(now()),
            ok: Some(result.is_ok()),
            latency_ms: result.as_ref().ok().map(|d| d.as_millis().try_into().unwrap_or(i64::MAX)),
            error: result.as_ref().err().cloned(),
        };
        store.pod_record_health(pod_id, &health).await.map_err(store_err)?;
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
