//! Logged-in sessions with pods, shared by every request of the process.
//!
//! With `mapped` identity (DESIGN §4) the gateway holds credentials for each
//! pod; every top project gets its own project in the pod, created on first
//! use and recorded as a `project` routing, and the gateway's pod user gets
//! the `member` role there. Work for a top project then runs in a session
//! scoped to that bottom project, so the pod itself keeps projects apart.
//! Pod-wide work (flavors) uses the session of the credentials' own project.
//! Pods with `shared` identity use the caller's own token instead (see
//! [`crate::shared_identity`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use tricircle_common::{Error, PodId, Result};
use tricircle_pod_client::{
    Credentials, PodError, PodRequest, PodSession, ServiceType, SessionConfig,
};
use tricircle_store::{NewRouting, Pod, StoreError};

use crate::App;
use crate::pods::IdentityMode;

/// Sessions by (pod, bottom project name), and the bottom projects already
/// mapped, by (pod, top project): once a project is mapped into a pod its
/// bottom ID never changes (a re-mapping finds the same project by its
/// derived name), so later requests skip the routing lookup.
#[derive(Default)]
pub struct PodSessions {
    sessions: Mutex<HashMap<(PodId, String), Arc<PodSession>>>,
    mapped: std::sync::Mutex<HashMap<(PodId, String), String>>,
    /// Sessions with pods of `shared` identity.
    pub(crate) shared: crate::shared_identity::SharedSessions,
}

impl PodSessions {
    fn mapped(&self, pod: PodId, top_project_id: &str) -> Option<String> {
        let m = self.mapped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.get(&(pod, top_project_id.to_string())).cloned()
    }

    fn remember_mapped(&self, pod: PodId, top_project_id: &str, bottom: &str) {
        let mut m = self.mapped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.insert((pod, top_project_id.to_string()), bottom.to_string());
    }
}

impl std::fmt::Debug for PodSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PodSessions")
    }
}

/// The name of the bottom project standing for a top project.
pub fn bottom_project_name(top_project_id: &str) -> String {
    format!("tc-{top_project_id}")
}

/// Turn a pod failure into the client's error: unreachable pods are 503
/// naming the region; a pod refusing our request is an internal error
/// (the gateway should not have sent it), with the pod's message logged.
pub fn pod_error(pod: &Pod, e: PodError) -> Error {
    match &e {
        PodError::Timeout(_) | PodError::Connect(_) => Error::unavailable(
            format!(
                "Region {} (availability zone {}) is not answering; retry later.",
                pod.region_name, pod.az_name
            ),
            e,
        ),
        PodError::Service { status, .. } if *status >= 500 || *status == 429 => Error::unavailable(
            format!(
                "Region {} (availability zone {}) is failing; retry later.",
                pod.region_name, pod.az_name
            ),
            e,
        ),
        // A forwarded token the pod's Keystone no longer accepts (revoked
        // or expired since the gateway validated it).
        PodError::TokenRefused(_) => Error::new(
            tricircle_common::ErrorKind::Unauthorized,
            format!("Region {} refused your token; authenticate again.", pod.region_name),
        ),
        _ => Error::internal(format!("region {}: {e}", pod.region_name)),
    }
}

impl App {
    async fn session_for(
        &self,
        pod: &Pod,
        project_name: Option<String>,
    ) -> Result<Arc<PodSession>> {
        let mut config = self.pod_session_config(pod).await?;
        if let Some(p) = project_name {
            config.credentials.project_name = p;
        }
        let key = (pod.pod_id, config.credentials.project_name.clone());
        let mut sessions = self.sessions.sessions.lock().await;
        if let Some(s) = sessions.get(&key) {
            return Ok(s.clone());
        }
        let session = Arc::new(PodSession::new(config).map_err(|e| pod_error(pod, e))?);
        sessions.insert(key, session.clone());
        Ok(session)
    }

    /// A session configuration with the pod's credentials (scoped to their
    /// own project), deadline and endpoint overrides.
    pub(crate) async fn pod_session_config(&self, pod: &Pod) -> Result<SessionConfig> {
        let creds = self.pod_credentials(pod).await?.ok_or_else(|| {
            Error::unavailable(
                format!(
                    "Region {} has no credentials registered; an admin must add them.",
                    pod.region_name
                ),
                "pod without credentials",
            )
        })?;
        let credentials = Credentials {
            auth_url: pod.auth_url.clone().unwrap_or_default(),
            username: creds.username,
            password: creds.password,
            project_name: creds.project_name,
            user_domain_name: creds.user_domain_name,
            project_domain_name: creds.project_domain_name,
        };
        let mut config = SessionConfig::new(credentials, pod.region_name.clone());
        config.timeout = self.settings.pod_timeout;
        if let Ok(overrides) = serde_json::from_str(&pod.endpoints) {
            config.endpoint_overrides = overrides;
        }
        Ok(config)
    }

    /// This process's calls to a pod, over all its sessions.
    pub async fn pod_call_stats(&self, pod_id: PodId) -> tricircle_pod_client::CallStats {
        let sessions = self.sessions.sessions.lock().await;
        let mut total = tricircle_pod_client::CallStats::default();
        for ((id, _), s) in sessions.iter() {
            if *id == pod_id {
                total.merge(&s.stats());
            }
        }
        total.merge(&self.sessions.shared.stats(pod_id).await);
        total
    }

    /// The session of the pod credentials' own project (pod-wide work).
    pub async fn pod_admin_session(&self, pod: &Pod) -> Result<Arc<PodSession>> {
        self.session_for(pod, None).await
    }

    /// A session scoped to the pod's project for `top_project_id`, creating
    /// that project in the pod on first use.
    pub async fn pod_project_session(
        &self,
        pod: &Pod,
        top_project_id: &str,
    ) -> Result<Arc<PodSession>> {
        if pod.identity_mode != IdentityMode::Mapped.as_str() {
            return self.shared_project_session(pod, top_project_id).await;
        }
        self.ensure_bottom_project(pod, top_project_id).await?;
        self.session_for(pod, Some(bottom_project_name(top_project_id))).await
    }

    /// The pod's ID of a top project: its mapped project (made on first
    /// use), or the same ID where the pod shares the gateway's identity.
    pub(crate) async fn bottom_project_id(
        &self,
        pod: &Pod,
        top_project_id: &str,
    ) -> Result<String> {
        if pod.identity_mode != IdentityMode::Mapped.as_str() {
            return Ok(top_project_id.to_string());
        }
        self.ensure_bottom_project(pod, top_project_id).await
    }

    /// Create (or find) the bottom project of `top_project_id` in `pod` and
    /// give the gateway's user the member role there. The routing row,
    /// written first with no bottom ID, is the lock: a concurrent request
    /// waits for the first one instead of making a twin project.
    async fn ensure_bottom_project(&self, pod: &Pod, top_project_id: &str) -> Result<String> {
        if let Some(b) = self.sessions.mapped(pod.pod_id, top_project_id) {
            return Ok(b);
        }
        let bottom = self.map_bottom_project(pod, top_project_id).await?;
        self.sessions.remember_mapped(pod.pod_id, top_project_id, &bottom);
        Ok(bottom)
    }

    async fn map_bottom_project(&self, pod: &Pod, top_project_id: &str) -> Result<String> {
        for _ in 0..300 {
            match self.store.routing_find(top_project_id, "project", pod.pod_id).await? {
                Some(r) => match r.bottom_id {
                    Some(b) => return Ok(b),
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                None => {
                    let routing = match self
                        .store
                        .routing_create(&NewRouting {
                            top_id: top_project_id.into(),
                            bottom_id: None,
                            pod_id: pod.pod_id,
                            project_id: top_project_id.into(),
                            resource_type: "project".into(),
                        })
                        .await
                    {
                        Ok(r) => r,
                        Err(StoreError::Duplicate(_)) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    return match self.map_project(pod, top_project_id).await {
                        Ok(bottom) => {
                            let patch = tricircle_store::RoutingPatch {
                                bottom_id: Some(Some(bottom.clone())),
                                ..Default::default()
                            };
                            self.store.routing_update(routing.id, &patch).await?;
                            tracing::info!(region = %pod.region_name, top_project = top_project_id, bottom_project = %bottom, "mapped project into pod");
                            Ok(bottom)
                        }
                        Err(e) => {
                            // Release the lock so a later request tries again.
                            let _ = self.store.routing_delete(routing.id).await;
                            Err(e)
                        }
                    };
                }
            }
        }
        Err(Error::unavailable(
            format!(
                "Region {} is slow to set up project {top_project_id}; retry later.",
                pod.region_name
            ),
            "timed out waiting for the project routing",
        ))
    }

    /// The pod-side work of mapping a project (idempotent: an existing
    /// project of the derived name is reused).
    async fn map_project(&self, pod: &Pod, top_project_id: &str) -> Result<String> {
        let admin = self.pod_admin_session(pod).await?;
        let err = |e| pod_error(pod, e);
        let name = bottom_project_name(top_project_id);
        let json =
            |r: std::result::Result<tricircle_pod_client::PodResponse, PodError>| -> Result<Value> {
                r.map_err(err)?.json().map_err(err)
            };
        let found = json(
            admin
                .call(
                    &PodRequest::get(ServiceType::Identity, "/projects")
                        .with_query("name", name.clone()),
                )
                .await,
        )?;
        let project_id = match found["projects"].as_array().and_then(|p| p.first()) {
            Some(p) => p["id"].as_str().unwrap_or_default().to_string(),
            None => {
                let body = json!({"project": {"name": name, "domain_id": "default", "description": format!("Tricircle project {top_project_id}")}});
                let created = json(
                    admin
                        .call(
                            &PodRequest::new(
                                ServiceType::Identity,
                                reqwest::Method::POST,
                                "/projects",
                            )
                            .with_body(body),
                        )
                        .await,
                )?;
                created["project"]["id"].as_str().unwrap_or_default().to_string()
            }
        };
        let creds = self
            .pod_credentials(pod)
            .await?
            .ok_or_else(|| Error::internal("pod credentials vanished"))?;
        let users = json(
            admin
                .call(
                    &PodRequest::get(ServiceType::Identity, "/users")
                        .with_query("name", creds.username.clone()),
                )
                .await,
        )?;
        let user_id = users["users"][0]["id"].as_str().unwrap_or_default().to_string();
        let roles = json(
            admin
                .call(
                    &PodRequest::get(ServiceType::Identity, "/roles").with_query("name", "member"),
                )
                .await,
        )?;
        let role_id = roles["roles"][0]["id"].as_str().unwrap_or_default().to_string();
        if project_id.is_empty() || user_id.is_empty() || role_id.is_empty() {
            return Err(Error::internal(format!(
                "region {}: cannot find the project, user or member role to map project {top_project_id}",
                pod.region_name
            )));
        }
        admin
            .call(&PodRequest::new(
                ServiceType::Identity,
                reqwest::Method::PUT,
                format!("/projects/{project_id}/users/{user_id}/roles/{role_id}"),
            ))
            .await
            .map_err(err)?;
        Ok(project_id)
    }
}

/// The default per-call deadline to pods.
pub const DEFAULT_POD_TIMEOUT: Duration = Duration::from_secs(30);
