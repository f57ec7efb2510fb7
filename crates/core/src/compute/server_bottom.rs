//! A server's pod side: the keypair it needs there, finding its bottom copy
//! by name, and deleting that copy, with the volumes the pod's Nova deletes
//! along with it.

use std::time::Duration;

use serde_json::{Value, json};
use tricircle_jobs::StepError;
use tricircle_pod_client::{Microversion, PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::Pod;

use crate::App;
use crate::pod_sessions::pod_error;

pub(crate) fn step_err(pod: &Pod, e: PodError) -> StepError {
    let retryable = e.is_retryable();
    let err = pod_error(pod, e);
    let message = err.to_string();
    StepError { message, retryable }
}

pub(crate) fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

pub(crate) fn session_err(e: tricircle_common::Error) -> StepError {
    StepError { retryable: e.status() == 503, message: e.to_string() }
}

/// How long deleting a server waits for its pod to delete the volumes
/// marked `delete_on_termination` (real Nova takes a few seconds).
const VOLUME_GONE_DEADLINE: Duration = Duration::from_secs(20);

impl App {
    /// The pod's copy of the user's keypair `key` (named `tc-<user>-<key>`).
    pub(crate) async fn ensure_keypair_in_pod(
        &self,
        pod: &Pod,
        project_id: &str,
        user_id: &str,
        key: &str,
    ) -> Result<String, StepError> {
        let keypair =
            self.store.keypair_get(user_id, key).await.map_err(store_err)?.ok_or_else(|| {
                StepError::fatal(format!(
                    "Conflict: keypair {key} was deleted while the server was being created."
                ))
            })?;
        let session = self.pod_project_session(pod, project_id).await.map_err(session_err)?;
        let bottom_name = format!("tc-{user_id}-{key}");
        let get = PodRequest::get(ServiceType::Compute, format!("/os-keypairs/{bottom_name}"));
        match session.call(&get).await {
            Ok(_) => {}
            Err(PodError::Service { status: 404, .. }) => {
                let body =
                    json!({"keypair": {"name": bottom_name, "public_key": keypair.public_key}});
                let post =
                    PodRequest::new(ServiceType::Compute, reqwest::Method::POST, "/os-keypairs")
                        .with_body(body);
                match session.call(&post).await {
                    Ok(_) | Err(PodError::Service { status: 409, .. }) => {}
                    Err(e) => return Err(step_err(pod, e)),
                }
            }
            Err(e) => return Err(step_err(pod, e)),
        }
        Ok(bottom_name)
    }
}

/// The bottom server named after `top_id`, if one exists.
pub async fn find_bottom_server(
    session: &PodSession,
    top_id: &str,
) -> Result<Option<String>, PodError> {
    let found: Value = session
        .call(
            &PodRequest::get(ServiceType::Compute, "/servers")
                .with_query("name", format!("^{top_id}$")),
        )
        .await?
        .json()?;
    Ok(found["servers"]
        .as_array()
        .and_then(|s| s.first())
        .and_then(|s| s["id"].as_str())
        .map(str::to_string))
}

/// The pod's ID of the copy of server `top_id`: its routing's, else the
/// one named after it, if any.
async fn bottom_server(
    app: &App,
    session: &PodSession,
    pod: &Pod,
    top_id: &str,
) -> Result<Option<String>, StepError> {
    let routing = app.store.routing_find(top_id, "server", pod.pod_id).await.map_err(store_err)?;
    match routing.and_then(|r| r.bottom_id) {
        Some(b) => Ok(Some(b)),
        None => find_bottom_server(session, top_id).await.map_err(|e| step_err(pod, e)),
    }
}

/// The pod's IDs of the volumes its Nova deletes along with the copy of
/// server `top_id` (`delete_on_termination`). None once the copy is gone:
/// ask before deleting it, and keep the answer.
pub(crate) async fn volumes_deleted_with_server(
    app: &App,
    pod: &Pod,
    project_id: &str,
    top_id: &str,
) -> Result<Vec<String>, StepError> {
    let session = app.pod_project_session(pod, project_id).await.map_err(session_err)?;
    match bottom_server(app, &session, pod, top_id).await? {
        Some(b) => volumes_deleted_with(&session, pod, &b).await,
        None => Ok(Vec::new()),
    }
}

/// Ask the pod to delete the copy of server `top_id` (found by its routing,
/// else by name); one already gone is fine. The top volumes the pod's Nova
/// deletes with it, `doomed` (see [`volumes_deleted_with_server`]), are
/// forgotten once the pod says they are gone, also when an earlier attempt
/// deleted the server already.
pub(crate) async fn delete_bottom_server(
    app: &App,
    pod: &Pod,
    project_id: &str,
    top_id: &str,
    doomed: &[String],
) -> Result<(), StepError> {
    let session = app.pod_project_session(pod, project_id).await.map_err(session_err)?;
    if let Some(b) = bottom_server(app, &session, pod, top_id).await? {
        delete_server_only(&session, pod, &b).await?;
    }
    for bottom_volume in doomed {
        forget_when_gone(app, &session, pod, bottom_volume).await?;
    }
    Ok(())
}

/// Ask the pod to delete its server `b` (already gone is fine), then forget
/// the top volumes its Nova deletes with it once they are gone: how the
/// audit deletes an orphan server (as the pod's admin).
pub(crate) async fn delete_server_in_pod(
    app: &App,
    session: &PodSession,
    pod: &Pod,
    b: &str,
) -> Result<(), StepError> {
    let doomed = volumes_deleted_with(session, pod, b).await?;
    delete_server_only(session, pod, b).await?;
    for bottom_volume in &doomed {
        forget_when_gone(app, session, pod, bottom_volume).await?;
    }
    Ok(())
}

/// One DELETE of bottom server `b`; already gone is fine.
async fn delete_server_only(session: &PodSession, pod: &Pod, b: &str) -> Result<(), StepError> {
    let req =
        PodRequest::new(ServiceType::Compute, reqwest::Method::DELETE, format!("/servers/{b}"));
    match session.call(&req).await {
        Ok(_) | Err(PodError::Service { status: 404, .. }) => Ok(()),
        Err(e) => Err(step_err(pod, e)),
    }
}

/// The pod's IDs of the volumes attached to bottom server `b` that its
/// Nova deletes with it.
async fn volumes_deleted_with(
    session: &PodSession,
    pod: &Pod,
    b: &str,
) -> Result<Vec<String>, StepError> {
    // The flag is in the server view from compute 2.3.
    let mv = session
        .negotiate(ServiceType::Compute, Microversion::new(2, 3))
        .await
        .map_err(|e| step_err(pod, e))?;
    let req = PodRequest::get(ServiceType::Compute, format!("/servers/{b}")).with_microversion(mv);
    let server: Value = match session.call(&req).await {
        Ok(r) => r.json().map_err(|e| step_err(pod, e))?,
        Err(PodError::Service { status: 404, .. }) => return Ok(Vec::new()),
        Err(e) => return Err(step_err(pod, e)),
    };
    Ok(server["server"]["os-extended-volumes:volumes_attached"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["delete_on_termination"].as_bool() == Some(true))
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect())
}

/// Wait (a bounded time) for the pod to delete a volume, then forget its
/// top row and routing. Meanwhile the top shows it as `deleting`; if the
/// pod takes longer, it stays so until it is deleted through the API.
async fn forget_when_gone(
    app: &App,
    session: &PodSession,
    pod: &Pod,
    bottom: &str,
) -> Result<(), StepError> {
    let Some(routing) =
        app.store.routing_find_by_bottom(bottom, "volume", pod.pod_id).await.map_err(store_err)?
    else {
        return Ok(());
    };
    if let Some(row) = app.store.resource_get(&routing.top_id).await.map_err(store_err)? {
        app.store
            .resource_refresh(&row.id, &row.name, "deleting", &row.summary)
            .await
            .map_err(store_err)?;
    }
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let req = PodRequest::get(ServiceType::BlockStorage, format!("/volumes/{bottom}"));
        match session.call(&req).await {
            Err(PodError::Service { status: 404, .. }) => break,
            Ok(_) if started.elapsed() < VOLUME_GONE_DEADLINE => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Ok(_) => {
                tracing::warn!(volume = %routing.top_id, region = %pod.region_name, "the pod has not deleted a delete_on_termination volume yet; it stays listed as deleting");
                return Ok(());
            }
            Err(e) => return Err(step_err(pod, e)),
        }
    }
    app.store.routing_delete(routing.id).await.map_err(store_err)?;
    app.store.resource_delete(&routing.top_id).await.map_err(store_err)?;
    tracing::info!(volume = %routing.top_id, region = %pod.region_name, "volume deleted with its server");
    Ok(())
}
