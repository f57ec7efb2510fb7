//! Registering pods: upstream Tricircle's rules, plus endpoints, identity
//! mode and sealed credentials.
//!
//! Rules (tricircle-features.md §2.1): the region name is required (422 when
//! empty) and unique (409); a pod with no availability zone is the top
//! region, and there is at most one (409); a pod still referenced by
//! routings cannot be deleted (409 with their number).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_store::{NewPod, Pod, StoreError};

use crate::{App, require_admin};

/// How a pod's identity relates to the gateway's (DESIGN §4 "Identity").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityMode {
    /// The pod uses the same Keystone: the user's token is forwarded and
    /// project IDs are equal.
    #[default]
    Shared,
    /// The gateway holds service credentials for the pod and maps each top
    /// project to a bottom project it creates.
    Mapped,
}

impl IdentityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMode::Shared => "shared",
            IdentityMode::Mapped => "mapped",
        }
    }
}

/// The credentials the gateway uses to call a pod. Sealed before storage,
/// never returned by any API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodCredentials {
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

// The password must not reach a log through a stray `{:?}`.
impl std::fmt::Debug for PodCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("project_name", &self.project_name)
            .finish_non_exhaustive()
    }
}

/// What a caller asks for when registering a pod (already parsed, not yet
/// validated).
#[derive(Clone, Debug, Default)]
pub struct PodSpec {
    pub region_name: String,
    pub az_name: Option<String>,
    pub pod_az_name: Option<String>,
    pub dc_name: Option<String>,
    pub auth_url: Option<String>,
    pub identity: Option<IdentityMode>,
    pub endpoints: BTreeMap<String, String>,
    pub credentials: Option<PodCredentials>,
}

/// A pod as the admin API shows it: everything but the credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct PodInfo {
    pub pod: Pod,
    pub identity: IdentityMode,
    pub endpoints: BTreeMap<String, String>,
    /// This process's calls to the pod since it started.
    pub calls: tricircle_pod_client::CallStats,
}

impl PodInfo {
    fn from_row(pod: Pod) -> Result<Self> {
        let identity = match pod.identity_mode.as_str() {
            "mapped" => IdentityMode::Mapped,
            _ => IdentityMode::Shared,
        };
        let endpoints = serde_json::from_str(&pod.endpoints).map_err(|e| {
            Error::internal(format!("pod {} has corrupt endpoints: {e}", pod.pod_id))
        })?;
        Ok(PodInfo { pod, identity, endpoints, calls: Default::default() })
    }

    pub fn has_credentials(&self) -> bool {
        self.pod.credentials.is_some()
    }
}

const MAX_NAME: usize = 255;

fn trimmed(v: Option<String>) -> String {
    v.map(|s| s.trim().to_string()).unwrap_or_default()
}

fn check_len(field: &str, value: &str) -> Result<()> {
    if value.chars().count() > MAX_NAME {
        return Err(Error::bad_request(format!("{field} is longer than {MAX_NAME} characters.")));
    }
    Ok(())
}

fn check_url(field: &str, value: &str) -> Result<()> {
    let ok = (value.starts_with("http://") || value.starts_with("https://"))
        && value.len() > "https://".len()
        && value.len() <= 1024
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "{field} must be an http:// or https:// URL without spaces."
        )))
    }
}

impl App {
    /// Register a pod.
    pub async fn pod_create(&self, ctx: &RequestContext, spec: PodSpec) -> Result<PodInfo> {
        require_admin(ctx)?;
        let region_name = spec.region_name.trim().to_string();
        if region_name.is_empty() {
            return Err(Error::unprocessable("region_name must not be empty."));
        }
        check_len("region_name", &region_name)?;
        let az_name = trimmed(spec.az_name);
        let dc_name = trimmed(spec.dc_name);
        let is_top = az_name.is_empty();
        // The top region has no AZ inside it to forward to.
        let pod_az_name = if is_top { String::new() } else { trimmed(spec.pod_az_name) };
        for (field, value) in
            [("az_name", &az_name), ("pod_az_name", &pod_az_name), ("dc_name", &dc_name)]
        {
            check_len(field, value)?;
        }
        let auth_url = spec.auth_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(url) = &auth_url {
            check_url("auth_url", url)?;
        }
        for (service, url) in &spec.endpoints {
            if service.trim().is_empty() || service.len() > 64 {
                return Err(Error::bad_request(
                    "endpoints keys must be service types such as \"compute\".",
                ));
            }
            check_url(&format!("endpoints.{service}"), url)?;
        }
        let identity = spec.identity.unwrap_or_default();
        if let Some(c) = &spec.credentials {
            for (field, value) in [
                ("credentials.username", &c.username),
                ("credentials.password", &c.password),
                ("credentials.project_name", &c.project_name),
            ] {
                if value.trim().is_empty() {
                    return Err(Error::bad_request(format!("{field} must not be empty.")));
                }
                check_len(field, value)?;
            }
            if auth_url.is_none() {
                return Err(Error::bad_request(
                    "credentials need an auth_url to authenticate against.",
                ));
            }
        }
        if identity == IdentityMode::Mapped && (spec.credentials.is_none() || auth_url.is_none()) {
            return Err(Error::bad_request(
                "identity \"mapped\" needs auth_url and credentials: the gateway logs in to the \
                 pod with them.",
            ));
        }

        if is_top && let Some(top) = self.store.pod_get_top().await? {
            return Err(Error::conflict(format!(
                "Top region already exists: {} is the top region (a pod without az_name).",
                top.region_name
            )));
        }
        if self.store.pod_get_by_region(&region_name).await?.is_some() {
            return Err(duplicate_region(&region_name));
        }

        let pod_id = PodId::new();
        let credentials = spec
            .credentials
            .map(|c| {
                let json = serde_json::to_vec(&c).map_err(Error::internal)?;
                Ok::<_, Error>(self.secrets.seal(pod_id.as_uuid().as_bytes(), &json))
            })
            .transpose()?;
        let new = NewPod {
            pod_id,
            region_name: region_name.clone(),
            az_name,
            pod_az_name,
            dc_name,
            auth_url,
            identity_mode: identity.as_str().to_string(),
            endpoints: serde_json::to_string(&spec.endpoints).map_err(Error::internal)?,
            credentials,
        };
        let pod = self.store.pod_create(&new).await.map_err(|e| match e {
            // Lost a race with another registration of the same region.
            StoreError::Duplicate(_) => duplicate_region(&region_name),
            other => other.into(),
        })?;
        tracing::info!(pod_id = %pod.pod_id, region = %pod.region_name, "pod registered");
        if pod.auth_url.is_some() {
            // Check it answers; the outcome shows in the pod's health.
            self.store.job_enqueue(&crate::pod_check::job_for(&pod, ctx)).await?;
        }
        PodInfo::from_row(pod)
    }

    pub async fn pod_list(&self, ctx: &RequestContext) -> Result<Vec<PodInfo>> {
        require_admin(ctx)?;
        let mut pods: Vec<PodInfo> = self
            .store
            .pod_list()
            .await?
            .into_iter()
            .map(PodInfo::from_row)
            .collect::<Result<_>>()?;
        for p in &mut pods {
            p.calls = self.pod_call_stats(p.pod.pod_id).await;
        }
        Ok(pods)
    }

    pub async fn pod_get(&self, ctx: &RequestContext, pod_id: PodId) -> Result<PodInfo> {
        require_admin(ctx)?;
        let pod =
            self.store.pod_get(pod_id).await?.ok_or_else(|| Error::not_found("Pod", pod_id))?;
        let mut info = PodInfo::from_row(pod)?;
        info.calls = self.pod_call_stats(pod_id).await;
        Ok(info)
    }

    pub async fn pod_delete(&self, ctx: &RequestContext, pod_id: PodId) -> Result<()> {
        require_admin(ctx)?;
        match self.store.pod_delete(pod_id).await {
            Ok(true) => {
                tracing::info!(%pod_id, "pod deleted");
                Ok(())
            }
            Ok(false) => Err(Error::not_found("Pod", pod_id)),
            Err(StoreError::State(in_use)) | Err(StoreError::ForeignKey(in_use)) => {
                Err(Error::conflict(format!(
                    "Pod {pod_id} is still in use ({in_use}); delete or move the resources \
                     routed to it first."
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The credentials of a pod, opened for the pod client. Never rendered.
    pub async fn pod_credentials(&self, pod: &Pod) -> Result<Option<PodCredentials>> {
        let Some(sealed) = &pod.credentials else { return Ok(None) };
        let json = self.secrets.open(pod.pod_id.as_uuid().as_bytes(), sealed)?;
        serde_json::from_slice(&json).map(Some).map_err(Error::internal)
    }
}

fn duplicate_region(region_name: &str) -> Error {
    Error::conflict(format!("A pod with region_name {region_name} already exists."))
}
