//! Flavors: top objects with Nova's visibility rules (public, or private with
//! access granted to the caller's project; admins see all).

use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{Flavor, StoreError, now};

use super::project_of;
use crate::{App, require_admin};

#[derive(Clone, Debug, Default)]
pub struct FlavorSpec {
    pub id: Option<String>,
    pub name: String,
    pub vcpus: i64,
    pub ram_mb: i64,
    pub disk_gb: i64,
    pub ephemeral_gb: i64,
    pub swap_mb: i64,
    pub is_public: bool,
    pub description: Option<String>,
}

fn flavor_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("Flavor {} could not be found.", tricircle_common::ids::truncate_for_message(id)),
    )
}

impl App {
    async fn flavor_visible(&self, ctx: &RequestContext, f: &Flavor) -> Result<bool> {
        if f.is_public || ctx.auth.is_admin() {
            return Ok(true);
        }
        let project = project_of(ctx)?;
        Ok(self.store.flavor_access_list(&f.id).await?.iter().any(|p| p == project))
    }

    pub async fn flavor_list(&self, ctx: &RequestContext) -> Result<Vec<Flavor>> {
        let mut out = Vec::new();
        for f in self.store.flavor_list().await? {
            if self.flavor_visible(ctx, &f).await? {
                out.push(f);
            }
        }
        Ok(out)
    }

    pub async fn flavor_get(&self, ctx: &RequestContext, id: &str) -> Result<Flavor> {
        match self.store.flavor_get(id).await? {
            Some(f) if self.flavor_visible(ctx, &f).await? => Ok(f),
            _ => Err(flavor_not_found(id)),
        }
    }

    pub async fn flavor_create(&self, ctx: &RequestContext, spec: FlavorSpec) -> Result<Flavor> {
        require_admin(ctx)?;
        let name = spec.name.trim().to_string();
        if name.is_empty() || name.len() > 255 {
            return Err(Error::bad_request(
                "Invalid flavor name: it must have 1 to 255 characters.",
            ));
        }
        for (field, v, min) in [
            ("vcpus", spec.vcpus, 1),
            ("ram", spec.ram_mb, 1),
            ("disk", spec.disk_gb, 0),
            ("OS-FLV-EXT-DATA:ephemeral", spec.ephemeral_gb, 0),
            ("swap", spec.swap_mb, 0),
        ] {
            if v < min || v > i64::from(i32::MAX) {
                return Err(Error::bad_request(format!(
                    "Invalid input for field/attribute {field}: must be an integer from {min}."
                )));
            }
        }
        let id = spec
            .id
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if id.len() > 255 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c)) {
            return Err(Error::bad_request(
                "Invalid flavor id: use letters, digits, '-', '_', '.' or ' '.",
            ));
        }
        let f = Flavor {
            id: id.clone(),
            name: name.clone(),
            vcpus: spec.vcpus,
            ram_mb: spec.ram_mb,
            disk_gb: spec.disk_gb,
            ephemeral_gb: spec.ephemeral_gb,
            swap_mb: spec.swap_mb,
            is_public: spec.is_public,
            description: spec.description,
            extra_specs: "{}".into(),
            created_at: now(),
        };
        self.store.flavor_create(&f).await.map_err(|e| match e {
            StoreError::Duplicate(_) => {
                Error::conflict(format!("Flavor with name {name} or ID {id} already exists."))
            }
            other => other.into(),
        })?;
        self.lookups.flavor_names.clear();
        Ok(f)
    }

    pub async fn flavor_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        require_admin(ctx)?;
        let deleted = self.store.flavor_delete(id).await?;
        self.lookups.flavor_names.clear();
        if deleted { Ok(()) } else { Err(flavor_not_found(id)) }
    }

    pub async fn flavor_access(
        &self,
        ctx: &RequestContext,
        id: &str,
        add: Option<bool>,
        project: &str,
    ) -> Result<Vec<String>> {
        require_admin(ctx)?;
        let f = self.store.flavor_get(id).await?.ok_or_else(|| flavor_not_found(id))?;
        match add {
            Some(_) if f.is_public => {
                return Err(Error::conflict(format!(
                    "Flavor {id} is public; access lists are for private flavors."
                )));
            }
            Some(true) => self.store.flavor_access_add(id, project).await?,
            Some(false) if !self.store.flavor_access_remove(id, project).await? => {
                return Err(Error::not_found("Flavor access for project", project));
            }
            Some(false) => {}
            None => {}
        }
        Ok(self.store.flavor_access_list(id).await?)
    }
}

impl App {
    /// Make top flavor `flavor_id` exist in `pod`; returns the pod's ID for
    /// it. The gateway's flavors get their own IDs there (`tc-<id>`), so a
    /// pod's own flavor that happens to share a top ID (devstack's `1`..`4`)
    /// is never taken for ours. Public in the pod: only the gateway reaches
    /// a pod, and it checks access at the top.
    pub(crate) async fn ensure_flavor_in_pod(
        &self,
        pod: &tricircle_store::Pod,
        flavor_id: &str,
    ) -> std::result::Result<String, tricircle_jobs::StepError> {
        use tricircle_jobs::StepError;
        use tricircle_pod_client::{PodError, PodRequest, ServiceType};
        let retry = |e: &dyn std::fmt::Display| StepError::retry(e.to_string());
        if let Some(b) = self
            .store
            .routing_find(flavor_id, "flavor", pod.pod_id)
            .await
            .map_err(|e| retry(&e))?
            .and_then(|r| r.bottom_id)
        {
            return Ok(b);
        }
        let flavor =
            self.store.flavor_get(flavor_id).await.map_err(|e| retry(&e))?.ok_or_else(|| {
                StepError::fatal(format!("Conflict: flavor {flavor_id} was deleted while in use."))
            })?;
        let session = self
            .pod_admin_session(pod)
            .await
            .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
        let perr = |e: PodError| StepError {
            retryable: e.is_retryable(),
            message: crate::pod_sessions::pod_error(pod, e).to_string(),
        };
        let bottom = bottom_flavor_id(flavor_id);
        match session
            .call(&PodRequest::get(ServiceType::Compute, format!("/flavors/{bottom}")))
            .await
        {
            Ok(_) => {}
            Err(PodError::Service { status: 404, .. }) => {
                let body = serde_json::json!({"flavor": {
                    "id": bottom, "name": bottom, "ram": flavor.ram_mb, "vcpus": flavor.vcpus,
                    "disk": flavor.disk_gb, "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb, "swap": flavor.swap_mb,
                    "os-flavor-access:is_public": true,
                }});
                let req = PodRequest::new(ServiceType::Compute, reqwest::Method::POST, "/flavors")
                    .with_body(body);
                match session.call(&req).await {
                    Ok(_) | Err(PodError::Service { status: 409, .. }) => {}
                    Err(e) => return Err(perr(e)),
                }
            }
            Err(e) => return Err(perr(e)),
        }
        let routing = tricircle_store::NewRouting {
            top_id: flavor_id.into(),
            bottom_id: Some(bottom.clone()),
            pod_id: pod.pod_id,
            project_id: String::new(),
            resource_type: "flavor".into(),
        };
        match self.store.routing_create(&routing).await {
            Ok(_) | Err(StoreError::Duplicate(_)) => Ok(bottom),
            Err(e) => Err(retry(&e)),
        }
    }
}

/// The pod's ID of top flavor `id`.
pub fn bottom_flavor_id(id: &str) -> String {
    format!("tc-{id}")
}
