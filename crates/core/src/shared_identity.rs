//! Pods with `shared` identity (DESIGN §4): the pod uses the same Keystone
//! as the gateway (external-Keystone mode), so a top project ID is also the
//! pod's project ID: no bottom project, no project routing.
//!
//! - **During an API request** the caller's own token is forwarded: a
//!   session per (pod, token) carries it, reads its catalog once from the
//!   pod's Keystone and uses it until it expires (it cannot be renewed; a
//!   refusal becomes 401). It is used only for the caller's own project; an
//!   admin acting on another project's resources goes the second way.
//! - **Without a caller** (sagas resumed by the job runner, the periodic
//!   sync, an admin acting on another project) the gateway logs in with the
//!   pod's registered account, scoped by ID to the resource's project. The
//!   first time it needs a project it gives that account the `member` role
//!   there (with the same account, which must be allowed to grant roles,
//!   like a `mapped` pod's account that creates projects), once per project
//!   and process (the grant is idempotent in Keystone). We chose this over
//!   Keystone trusts: a trust is per user and dies with that user, while the
//!   work (deleting a server whose creator left) belongs to the project.
//!   The cost is one role assignment per project, visible to its members.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tricircle_common::{Error, PodId, Result};
use tricircle_pod_client::{
    CallStats, ForwardedToken, PodError, PodRequest, PodSession, ServiceType, SessionConfig,
    TokenSource,
};
use tricircle_store::Pod;

use crate::App;
use crate::caller_token::{self, CallerToken};
use crate::identity::token_hash;
use crate::pod_sessions::pod_error;

/// At most this many forwarding sessions are kept (one per caller token and
/// pod); beyond it the expired ones go, then all.
const MAX_FORWARDED: usize = 10_000;

/// The sessions of `shared` pods.
#[derive(Default)]
pub(crate) struct SharedSessions {
    /// By (pod, SHA-256 of the caller's token).
    forwarded: std::sync::Mutex<HashMap<(PodId, String), Arc<PodSession>>>,
    /// The pod's account scoped to a project, by (pod, project ID).
    service: tokio::sync::Mutex<HashMap<(PodId, String), Arc<PodSession>>>,
}

impl SharedSessions {
    /// The calls of every shared session with `pod`.
    pub(crate) async fn stats(&self, pod: PodId) -> CallStats {
        let mut total = CallStats::default();
        let forwarded: Vec<Arc<PodSession>> = {
            let m = self.forwarded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            m.iter().filter(|((p, _), _)| *p == pod).map(|(_, s)| s.clone()).collect()
        };
        for s in forwarded {
            total.merge(&s.stats());
        }
        for ((p, _), s) in self.service.lock().await.iter() {
            if *p == pod {
                total.merge(&s.stats());
            }
        }
        total
    }
}

impl App {
    /// A session for `project_id`'s work in a `shared` pod: the caller's
    /// token when the caller works in that project, else the pod's account
    /// scoped to it.
    pub(crate) async fn shared_project_session(
        &self,
        pod: &Pod,
        project_id: &str,
    ) -> Result<Arc<PodSession>> {
        if self.settings.identity.external_auth_url.is_none() {
            return Err(Error::unavailable(
                format!(
                    "Region {} uses shared identity, which needs an external Keystone (not configured).",
                    pod.region_name
                ),
                "shared identity without external keystone",
            ));
        }
        match caller_token::current() {
            Some(caller) if caller.project_id.as_deref() == Some(project_id) => {
                self.forwarding_session(pod, &caller).await
            }
            _ => self.shared_service_session(pod, project_id).await,
        }
    }

    async fn forwarding_session(&self, pod: &Pod, caller: &CallerToken) -> Result<Arc<PodSession>> {
        let key = (pod.pod_id, token_hash(&caller.token));
        let shared = &self.sessions.shared;
        {
            let m = shared.forwarded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(s) = m.get(&key) {
                return Ok(s.clone());
            }
        }
        let token = ForwardedToken {
            value: caller.token.clone(),
            project_id: caller.project_id.clone().unwrap_or_default(),
            user_id: caller.user_id.clone(),
            expires_at: caller.expires_at,
        };
        // No pod credentials needed: the pod's Keystone URL (for the token's
        // catalog) and its endpoint overrides.
        let mut forwarded = SessionConfig::forwarded(
            pod.auth_url.clone().unwrap_or_default(),
            pod.region_name.clone(),
            token,
        );
        forwarded.timeout = self.settings.pod_timeout;
        if let Ok(overrides) = serde_json::from_str(&pod.endpoints) {
            forwarded.endpoint_overrides = overrides;
        }
        let session = Arc::new(PodSession::new(forwarded).map_err(|e| pod_error(pod, e))?);
        let mut m = shared.forwarded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= MAX_FORWARDED {
            let now = Utc::now();
            let expiry = |s: &PodSession| match &s.config().token_source {
                TokenSource::Forwarded(t) => t.expires_at,
                _ => now,
            };
            m.retain(|_, s| expiry(s) > now);
            if m.len() >= MAX_FORWARDED {
                m.clear();
            }
        }
        Ok(m.entry(key).or_insert(session).clone())
    }

    /// The pod's account scoped to `project_id`, given the member role there
    /// first when it has none.
    async fn shared_service_session(&self, pod: &Pod, project_id: &str) -> Result<Arc<PodSession>> {
        let key = (pod.pod_id, project_id.to_string());
        let service = &self.sessions.shared.service;
        if let Some(s) = service.lock().await.get(&key) {
            return Ok(s.clone());
        }
        // Logged in outside the lock: a slow pod must not hold up others.
        // Two first uses at once both log in (and grant); one session stays.
        let mut config = self.pod_session_config(pod).await?;
        config.token_source = TokenSource::PasswordInProject(project_id.to_string());
        let mut granted = false;
        // Keystone may take a moment to honour a fresh grant (its
        // assignment cache), hence a few tries after granting.
        for attempt in 0..5 {
            let session = PodSession::new(config.clone()).map_err(|e| pod_error(pod, e))?;
            match session.project_id().await {
                Ok(_) => {
                    let mut sessions = service.lock().await;
                    return Ok(sessions.entry(key).or_insert_with(|| Arc::new(session)).clone());
                }
                // Keystone refuses a scope the account holds no role in.
                Err(PodError::Auth(why)) if !granted => {
                    tracing::debug!(region = %pod.region_name, project_id, %why, "the gateway's account cannot scope to the project yet");
                    self.grant_member_role(pod, project_id).await?;
                    granted = true;
                }
                Err(PodError::Auth(_)) if attempt < 4 => {
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
                Err(e) => return Err(pod_error(pod, e)),
            }
        }
        Err(Error::unavailable(
            format!(
                "Region {} does not let the gateway work in project {project_id}.",
                pod.region_name
            ),
            "login scoped to the project still refused after the role grant",
        ))
    }

    /// Give the pod's account the `member` role in `project_id` (with its
    /// own, admin-scoped session).
    async fn grant_member_role(&self, pod: &Pod, project_id: &str) -> Result<()> {
        let admin = self.pod_admin_session(pod).await?;
        let err = |e| pod_error(pod, e);
        let user_id = admin.user_id().await.map_err(err)?;
        let roles: Value = admin
            .call(&PodRequest::get(ServiceType::Identity, "/roles").with_query("name", "member"))
            .await
            .map_err(err)?
            .json()
            .map_err(err)?;
        let role_id = roles["roles"][0]["id"].as_str().unwrap_or_default().to_string();
        if user_id.is_empty() || role_id.is_empty() {
            return Err(Error::internal(format!(
                "region {}: cannot find the gateway's user or the member role",
                pod.region_name
            )));
        }
        let grant = PodRequest::new(
            ServiceType::Identity,
            reqwest::Method::PUT,
            format!("/projects/{project_id}/users/{user_id}/roles/{role_id}"),
        );
        match admin.call(&grant).await {
            Ok(_) => {}
            Err(PodError::Service { status: 404, .. }) => {
                return Err(Error::unavailable(
                    format!(
                        "Project {project_id} is unknown to the Keystone of region {}; a shared pod must use the gateway's Keystone.",
                        pod.region_name
                    ),
                    "project not found in the shared pod's keystone",
                ));
            }
            Err(e) => return Err(err(e)),
        }
        tracing::info!(
            region = %pod.region_name,
            project_id,
            "gave the gateway's account the member role in the project (shared identity, work without a caller)"
        );
        Ok(())
    }
}
