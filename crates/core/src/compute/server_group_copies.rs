//! A server group's copies in pods: a bottom group is made in a pod when
//! the first member lands there, in the bottom project of the group's
//! project, with the same policy and rules, so the pod's own scheduler
//! keeps the policy between its hosts. Like every pod object it is named
//! after the top ID (a retry finds it instead of making a twin) and
//! recorded as a routing (`server_group`), written before the pod is asked.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tricircle_common::{PodId, Result};
use tricircle_jobs::{Saga, StepError, StepFuture};
use tricircle_pod_client::{Microversion, PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{NewRouting, Pod, RoutingPatch, ServerGroup, StoreError};

use super::server_groups::{ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY};
use crate::App;
use crate::pod_sessions::pod_error;

const ROUTING_TYPE: &str = "server_group";

fn store_err(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

fn perr(pod: &Pod) -> impl Fn(PodError) -> StepError + '_ {
    move |e: PodError| StepError {
        retryable: e.is_retryable(),
        message: pod_error(pod, e).to_string(),
    }
}

fn session_err(e: tricircle_common::Error) -> StepError {
    StepError { retryable: e.status() == 503, message: e.to_string() }
}

/// The bottom group named after `top_id` in the session's project.
async fn find_by_name(session: &PodSession, top_id: &str) -> Result<Option<String>, PodError> {
    let body: Value =
        session.call(&PodRequest::get(ServiceType::Compute, "/os-server-groups")).await?.json()?;
    Ok(body["server_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"].as_str() == Some(top_id))
        .and_then(|g| g["id"].as_str())
        .map(str::to_string))
}

/// The create body for a pod speaking `mv`: `policy` and `rules` from
/// 2.64, a one-element `policies` list before; soft policies need 2.15.
fn create_body(group: &ServerGroup, mv: Microversion, pod: &Pod) -> Result<Value, StepError> {
    if mv >= Microversion::new(2, 64) {
        let rules: Value = serde_json::from_str(&group.rules).unwrap_or_else(|_| json!({}));
        return Ok(
            json!({"server_group": {"name": group.id, "policy": group.policy, "rules": rules}}),
        );
    }
    if [SOFT_AFFINITY, SOFT_ANTI_AFFINITY].contains(&group.policy.as_str())
        && mv < Microversion::new(2, 15)
    {
        return Err(StepError::fatal(format!(
            "Region {} does not support the {} policy (compute microversion 2.15).",
            pod.region_name, group.policy
        )));
    }
    if group.policy == ANTI_AFFINITY && group.rules != "{}" {
        // The pod cannot keep max_server_per_host; it keeps plain anti-affinity.
        tracing::warn!(region = %pod.region_name, group = %group.id, "pod below compute 2.64: group rules not pushed");
    }
    Ok(json!({"server_group": {"name": group.id, "policies": [group.policy]}}))
}

impl App {
    /// The pod's copy of `group` (made on first use); returns its bottom ID.
    pub(crate) async fn ensure_group_in_pod(
        &self,
        pod: &Pod,
        group: &ServerGroup,
    ) -> Result<String, StepError> {
        let routing = self
            .store
            .routing_find(&group.id, ROUTING_TYPE, pod.pod_id)
            .await
            .map_err(store_err)?;
        if let Some(b) = routing.as_ref().and_then(|r| r.bottom_id.clone()) {
            return Ok(b);
        }
        if routing.is_none() {
            let lock = NewRouting {
                top_id: group.id.clone(),
                bottom_id: None,
                pod_id: pod.pod_id,
                project_id: group.project_id.clone(),
                resource_type: ROUTING_TYPE.into(),
            };
            match self.store.routing_create(&lock).await {
                Ok(_) | Err(StoreError::Duplicate(_)) => {}
                Err(e) => return Err(store_err(e)),
            }
        }
        let session =
            self.pod_project_session(pod, &group.project_id).await.map_err(session_err)?;
        let bottom = match find_by_name(&session, &group.id).await.map_err(perr(pod))? {
            Some(b) => b,
            None => {
                let mv = session
                    .negotiate(ServiceType::Compute, Microversion::new(2, 64))
                    .await
                    .map_err(perr(pod))?;
                let req = PodRequest::new(
                    ServiceType::Compute,
                    reqwest::Method::POST,
                    "/os-server-groups",
                )
                .with_body(create_body(group, mv, pod)?)
                .with_microversion(mv);
                let created: Value = match session.call(&req).await {
                    Ok(r) => r.json().map_err(perr(pod))?,
                    Err(PodError::Service { status, message, .. })
                        if (400..500).contains(&status) && status != 429 =>
                    {
                        return Err(StepError::fatal(format!(
                            "Region {} refused server group {}: {message}",
                            pod.region_name, group.id
                        )));
                    }
                    Err(e) => return Err(perr(pod)(e)),
                };
                created["server_group"]["id"].as_str().unwrap_or_default().to_string()
            }
        };
        self.record_group_copy(pod, &group.id, &bottom).await?;
        Ok(bottom)
    }

    async fn record_group_copy(
        &self,
        pod: &Pod,
        top_id: &str,
        bottom: &str,
    ) -> Result<(), StepError> {
        if let Some(r) =
            self.store.routing_find(top_id, ROUTING_TYPE, pod.pod_id).await.map_err(store_err)?
        {
            let patch = RoutingPatch { bottom_id: Some(Some(bottom.into())), ..Default::default() };
            self.store.routing_update(r.id, &patch).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// Undo of [`Self::ensure_group_in_pod`]: a routing still without a
    /// bottom ID (the pod failed, or answered too late) is settled. When
    /// the pod has the group after all it is recorded and kept, like a
    /// flavor: a shared object later members reuse, deleted with the top
    /// group; otherwise the routing goes, so nothing is left half-made.
    pub(crate) async fn settle_group_copy(
        &self,
        pod: &Pod,
        group_id: &str,
        project_id: &str,
    ) -> Result<(), StepError> {
        let Some(routing) =
            self.store.routing_find(group_id, ROUTING_TYPE, pod.pod_id).await.map_err(store_err)?
        else {
            return Ok(());
        };
        if routing.bottom_id.is_some() {
            return Ok(());
        }
        let session = self.pod_project_session(pod, project_id).await.map_err(session_err)?;
        match find_by_name(&session, group_id).await.map_err(perr(pod))? {
            Some(b) => self.record_group_copy(pod, group_id, &b).await,
            None => self.store.routing_delete(routing.id).await.map(|_| ()).map_err(store_err),
        }
    }

    /// Delete the copy of `group` in every pod that has one.
    pub(crate) async fn server_group_copies_delete(&self, group: &ServerGroup) -> Result<()> {
        for (state, pod) in self.server_group_copy_deletes(group).await? {
            self.run_inline(&group.project_id, state, &pod).await?;
        }
        Ok(())
    }

    /// What deleting `group` runs before it forgets the group: a saga per
    /// pod holding a copy, with that pod.
    pub async fn server_group_copy_deletes(
        &self,
        group: &ServerGroup,
    ) -> Result<Vec<(GroupCopyDelete, Pod)>> {
        let mut out = Vec::new();
        for r in self.store.routing_list_for_top(&group.id, ROUTING_TYPE).await? {
            let Some(pod) = self.store.pod_get(r.pod_id).await? else { continue };
            let state = GroupCopyDelete {
                top_id: group.id.clone(),
                project_id: group.project_id.clone(),
                pod_id: pod.pod_id,
            };
            out.push((state, pod));
        }
        Ok(out)
    }
}

/// Deleting one pod's copy of a group: `bottom` (ask the pod; already gone
/// is fine), then `forget` (the routing). Not undone: once the pod was
/// asked, going forward is the only way to a consistent state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupCopyDelete {
    pub top_id: String,
    pub project_id: String,
    pub pod_id: PodId,
}

impl GroupCopyDelete {
    async fn step(&mut self, app: &App, step: usize) -> Result<(), StepError> {
        let pod = app
            .store
            .pod_get(self.pod_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| StepError::fatal("the pod was deleted"))?;
        let routing = app
            .store
            .routing_find(&self.top_id, ROUTING_TYPE, pod.pod_id)
            .await
            .map_err(store_err)?;
        if step > 0 {
            if let Some(r) = routing {
                app.store.routing_delete(r.id).await.map_err(store_err)?;
            }
            return Ok(());
        }
        let session = app.pod_project_session(&pod, &self.project_id).await.map_err(session_err)?;
        let bottom = match routing.and_then(|r| r.bottom_id) {
            Some(b) => Some(b),
            None => find_by_name(&session, &self.top_id).await.map_err(perr(&pod))?,
        };
        let Some(bottom) = bottom else { return Ok(()) };
        let req = PodRequest::new(
            ServiceType::Compute,
            reqwest::Method::DELETE,
            format!("/os-server-groups/{bottom}"),
        );
        match session.call(&req).await {
            Ok(_) | Err(PodError::Service { status: 404, .. }) => Ok(()),
            Err(PodError::Service { status, message, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                Err(StepError::fatal(format!(
                    "Region {} refused to delete its copy of server group {}: {message}",
                    pod.region_name, self.top_id
                )))
            }
            Err(e) => Err(perr(&pod)(e)),
        }
    }
}

impl Saga for GroupCopyDelete {
    type Ctx = App;
    const NAME: &'static str = "server_group_delete";
    const STEPS: &'static [&'static str] = &["bottom", "forget"];
    const FORWARD_ONLY: bool = true;

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.step(ctx, step))
    }

    fn undo<'a>(&'a mut self, _ctx: &'a App, _step: usize) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
