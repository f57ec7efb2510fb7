//! Block storage across pods (DESIGN §4 "Compute, volume"): volumes and
//! snapshots live in pods like servers do (top ID for life, routing, cached
//! summary); a volume attaches only to a server in the same pod.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, ErrorKind, PodId, RequestContext, Result};
use tricircle_pod_client::{Microversion, PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{Pod, ResourceRow};

use crate::App;
use crate::pod_sessions::pod_error;

pub mod attach;
pub mod create;
pub mod snapshots;

/// What the top remembers of a volume or snapshot besides its cached view.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct VolumeFacts {
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub snapshot_id: Option<String>,
    #[serde(default)]
    pub volume_id: Option<String>,
    #[serde(default)]
    pub view: Value,
}

impl VolumeFacts {
    pub fn of(row: &ResourceRow) -> VolumeFacts {
        serde_json::from_str(&row.summary).unwrap_or_default()
    }
}

/// The status of a volume whose pod no longer has it (the audit confirmed
/// it): Cinder's `error`.
pub const LOST: &str = "error";

pub(crate) fn volume_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("Volume {} could not be found.", tricircle_common::ids::truncate_for_message(id)),
    )
}

/// Cinder's microversion to use with a pod for the client's wish.
pub(crate) async fn volume_mv(
    session: &PodSession,
    pod: &Pod,
    mv: Option<Microversion>,
) -> Result<Option<Microversion>> {
    match mv {
        Some(mv) => Ok(Some(
            session
                .negotiate(ServiceType::BlockStorage, mv)
                .await
                .map_err(|e| pod_error(pod, e))?,
        )),
        None => Ok(None),
    }
}

impl App {
    /// A placed resource of `resource_type` the caller may see, with its pod.
    pub(crate) async fn placed(
        &self,
        ctx: &RequestContext,
        id: &str,
        resource_type: &str,
    ) -> Result<Option<(ResourceRow, Pod)>> {
        let Some(row) =
            self.store.resource_get(id).await?.filter(|r| r.resource_type == resource_type)
        else {
            return Ok(None);
        };
        if !ctx.auth.is_admin() && ctx.auth.project_id.as_deref() != Some(row.project_id.as_str()) {
            return Ok(None);
        }
        let Some(pod_id) = row.pod_id.as_deref().and_then(|p| p.parse::<PodId>().ok()) else {
            return Ok(None);
        };
        Ok(self.pod_cached(pod_id).await?.map(|pod| (row, pod)))
    }

    /// The pod's ID of a placed top resource.
    pub(crate) async fn bottom_of(
        &self,
        top_id: &str,
        resource_type: &str,
        pod: &Pod,
    ) -> Result<Option<String>> {
        Ok(self
            .store
            .routing_find(top_id, resource_type, pod.pod_id)
            .await?
            .and_then(|r| r.bottom_id))
    }

    /// Top IDs of the pod's servers, by bottom ID (for attachments).
    pub(crate) async fn top_servers_in(&self, pod: &Pod) -> Result<HashMap<String, String>> {
        Ok(self
            .store
            .routing_list_in_pod("server", pod.pod_id)
            .await?
            .into_iter()
            .filter_map(|r| r.bottom_id.map(|b| (b, r.top_id)))
            .collect())
    }

    /// A pod's volume as the top shows it.
    pub(crate) fn volume_to_top(
        &self,
        bottom: &Value,
        row: &ResourceRow,
        pod: &Pod,
        servers: &HashMap<String, String>,
    ) -> Value {
        let facts = VolumeFacts::of(row);
        let mut v: Map<String, Value> = bottom.as_object().cloned().unwrap_or_default();
        v.insert("id".into(), json!(row.id));
        v.insert("name".into(), json!(row.name));
        v.remove("links");
        v.insert("availability_zone".into(), json!(pod.az_name));
        for key in ["os-vol-tenant-attr:tenant_id"] {
            if v.contains_key(key) {
                v.insert(key.into(), json!(row.project_id));
            }
        }
        if v.contains_key("user_id") {
            v.insert("user_id".into(), json!(row.user_id));
        }
        v.insert("snapshot_id".into(), json!(facts.snapshot_id));
        if let Some(Value::Array(atts)) = v.get_mut("attachments") {
            for a in atts.iter_mut() {
                if let Some(s) = a["server_id"].as_str().and_then(|s| servers.get(s)) {
                    a["server_id"] = json!(s);
                }
                a["volume_id"] = json!(row.id);
                a["id"] = json!(row.id);
            }
        }
        if let (Some(Value::Object(meta)), Some(image)) =
            (v.get_mut("volume_image_metadata"), &facts.image_id)
        {
            meta.insert("image_id".into(), json!(image));
        }
        Value::Object(v)
    }

    async fn remember_volume(&self, row: &ResourceRow, view: &Value) -> Result<()> {
        let mut facts = VolumeFacts::of(row);
        if facts.view == *view {
            return Ok(());
        }
        facts.view = view.clone();
        let status = view["status"].as_str().unwrap_or(&row.status).to_string();
        self.store
            .resource_refresh(
                &row.id,
                &row.name,
                &status,
                &serde_json::to_string(&facts).map_err(Error::internal)?,
            )
            .await?;
        Ok(())
    }

    pub async fn volume_show(
        &self,
        ctx: &RequestContext,
        id: &str,
        mv: Option<Microversion>,
    ) -> Result<Value> {
        let (row, pod) =
            self.placed(ctx, id, "volume").await?.ok_or_else(|| volume_not_found(id))?;
        let cached = || {
            let mut v = VolumeFacts::of(&row).view;
            if !v.is_object() {
                v = json!({"id": row.id, "name": row.name, "status": row.status, "availability_zone": pod.az_name});
            }
            v
        };
        let Some(bottom) = self.bottom_of(&row.id, "volume", &pod).await? else {
            return Ok(cached());
        };
        let session = match self.pod_project_session(&pod, &row.project_id).await {
            Ok(s) => s,
            Err(e) if e.status() == 503 => return Ok(cached()),
            Err(e) => return Err(e),
        };
        let mut req = PodRequest::get(ServiceType::BlockStorage, format!("/volumes/{bottom}"))
            .with_request_id(ctx.request_id.as_str());
        if let Some(mv) = volume_mv(&session, &pod, mv).await? {
            req = req.with_microversion(mv);
        }
        match session.call(&req).await {
            Ok(resp) => {
                let body: Value = resp.json().map_err(|e| pod_error(&pod, e))?;
                let view = self.volume_to_top(
                    &body["volume"],
                    &row,
                    &pod,
                    &self.top_servers_in(&pod).await?,
                );
                self.remember_volume(&row, &view).await?;
                Ok(view)
            }
            // Marked lost by the audit: shown, so that it can be deleted.
            Err(PodError::Service { status: 404, .. }) if row.status == LOST => Ok(cached()),
            Err(PodError::Service { status: 404, .. }) => Err(volume_not_found(id)),
            Err(e) if e.is_retryable() => Ok(cached()),
            Err(e) => Err(pod_error(&pod, e)),
        }
    }

    /// The caller's volumes (or everyone's, for an admin asking for all
    /// tenants), newest first: one call per pod holding any, the cache for
    /// pods that do not answer.
    pub async fn volume_list(
        &self,
        ctx: &RequestContext,
        all_tenants: bool,
        mv: Option<Microversion>,
    ) -> Result<Vec<Value>> {
        let project = if all_tenants {
            crate::require_admin(ctx)?;
            None
        } else {
            Some(crate::compute::project_of_pub(ctx)?)
        };
        let mut rows = self.store.resource_list("volume", project).await?;
        rows.retain(|r| r.status != crate::compute::server_create::UNWINDING);
        let mut groups: HashMap<(String, String), Vec<ResourceRow>> = HashMap::new();
        for r in rows {
            if let Some(p) = r.pod_id.clone() {
                groups.entry((p, r.project_id.clone())).or_default().push(r);
            }
        }
        let deadline = self.settings.list_deadline;
        let calls = groups.into_iter().map(|((pod_id, project_id), rows)| {
            let app = self.clone();
            async move {
                let Some(pod) = pod_id.parse::<PodId>().ok() else {
                    return Ok::<_, Error>(Vec::new());
                };
                let Some(pod) = app.store.pod_get(pod).await? else { return Ok(Vec::new()) };
                let fetched = tokio::time::timeout(deadline, async {
                    let session = app.pod_project_session(&pod, &project_id).await?;
                    let mut req = PodRequest::get(ServiceType::BlockStorage, "/volumes/detail");
                    if let Some(mv) = volume_mv(&session, &pod, mv).await? {
                        req = req.with_microversion(mv);
                    }
                    let body: Value = session
                        .call(&req)
                        .await
                        .map_err(|e| pod_error(&pod, e))?
                        .json()
                        .map_err(|e| pod_error(&pod, e))?;
                    Ok::<_, Error>(body)
                })
                .await;
                let mut out = Vec::new();
                match fetched {
                    Ok(Ok(body)) => {
                        let servers = app.top_servers_in(&pod).await?;
                        let by_name: HashMap<String, &Value> = body["volumes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v["name"].as_str().map(|n| (n.to_string(), v)))
                            .collect();
                        for row in &rows {
                            match by_name.get(&row.id) {
                                Some(b) => {
                                    let view = app.volume_to_top(b, row, &pod, &servers);
                                    app.remember_volume(row, &view).await?;
                                    out.push(view);
                                }
                                None => out.push(VolumeFacts::of(row).view),
                            }
                        }
                    }
                    _ => out.extend(rows.iter().map(|r| VolumeFacts::of(r).view)),
                }
                Ok(out)
            }
        });
        let mut views: Vec<Value> = Vec::new();
        for r in futures::future::join_all(calls).await {
            views.extend(r?.into_iter().filter(Value::is_object));
        }
        views.sort_by(|a, b| {
            b["created_at"]
                .as_str()
                .cmp(&a["created_at"].as_str())
                .then(b["id"].as_str().cmp(&a["id"].as_str()))
        });
        Ok(views)
    }

    /// Mark a volume whose pod lost it (the audit confirmed it with a 404):
    /// its cached status becomes `error`, so the user sees it and can delete
    /// it; the top volume is the user's and stays. `false` when it was in
    /// `error` already.
    pub(crate) async fn volume_mark_lost(&self, row: &ResourceRow, pod: &Pod) -> Result<bool> {
        if row.status == LOST {
            return Ok(false);
        }
        let mut facts = VolumeFacts::of(row);
        if !facts.view.is_object() {
            facts.view = json!({"id": row.id, "name": row.name, "availability_zone": pod.az_name,
                "created_at": row.created_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()});
        }
        facts.view["status"] = json!(LOST);
        let summary = serde_json::to_string(&facts).map_err(Error::internal)?;
        Ok(self.store.resource_refresh(&row.id, &row.name, LOST, &summary).await?)
    }

    pub async fn volume_rename(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: Option<&str>,
        mv: Option<Microversion>,
    ) -> Result<Value> {
        let (row, _) = self.placed(ctx, id, "volume").await?.ok_or_else(|| volume_not_found(id))?;
        if let Some(name) = name {
            self.store.resource_refresh(&row.id, name.trim(), &row.status, &row.summary).await?;
        }
        self.volume_show(ctx, id, mv).await
    }

    /// Forward a volume action (`os-extend`, `os-set_bootable`, ...).
    pub async fn volume_action(
        &self,
        ctx: &RequestContext,
        id: &str,
        action: &Value,
        mv: Option<Microversion>,
    ) -> Result<(u16, Value)> {
        let (row, pod) =
            self.placed(ctx, id, "volume").await?.ok_or_else(|| volume_not_found(id))?;
        let name = action
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.keys().next().cloned())
            .ok_or_else(|| {
                Error::bad_request("The action body must have exactly one key, the action's name.")
            })?;
        if matches!(
            name.as_str(),
            "os-attach"
                | "os-detach"
                | "os-reserve"
                | "os-unreserve"
                | "os-initialize_connection"
                | "os-terminate_connection"
                | "os-begin_detaching"
                | "os-roll_detaching"
        ) {
            return Err(Error::bad_request(format!(
                "Action {name} is for Nova; attach volumes with the compute API."
            )));
        }
        let bottom = self
            .bottom_of(&row.id, "volume", &pod)
            .await?
            .ok_or_else(|| Error::conflict(format!("Volume {id} is still being created.")))?;
        let session = self.pod_project_session(&pod, &row.project_id).await?;
        let mut req = PodRequest::new(
            ServiceType::BlockStorage,
            reqwest::Method::POST,
            format!("/volumes/{bottom}/action"),
        )
        .with_body(action.clone());
        if let Some(mv) = volume_mv(&session, &pod, mv).await? {
            req = req.with_microversion(mv);
        }
        relay(session.call(&req).await, &pod)
    }

    pub async fn volume_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let (state, pod) = self.volume_delete_plan(ctx, id).await?;
        let project = state.project_id.clone();
        self.run_inline(&project, state, &pod).await?;
        Ok(())
    }

    /// What [`Self::volume_delete`] runs: the saga's first state and its pod.
    pub async fn volume_delete_plan(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(create::VolumeDelete, Pod)> {
        let (row, pod) =
            self.placed(ctx, id, "volume").await?.ok_or_else(|| volume_not_found(id))?;
        let state = create::VolumeDelete {
            top_id: row.id,
            project_id: row.project_id,
            pod_id: pod.pod_id,
            resource_type: "volume".into(),
        };
        Ok((state, pod))
    }
}

/// A pod's answer relayed: success bodies as they are, a pod's 4xx as the
/// same kind of error with its message, anything else as the pod's failure.
pub(crate) fn relay(
    result: std::result::Result<tricircle_pod_client::PodResponse, PodError>,
    pod: &Pod,
) -> Result<(u16, Value)> {
    relay_as(result, pod, &[])
}

/// [`relay`], with the pod's IDs in a 4xx message replaced by the top's
/// (`(bottom, top)` pairs), so no pod ID reaches a client.
pub(crate) fn relay_as(
    result: std::result::Result<tricircle_pod_client::PodResponse, PodError>,
    pod: &Pod,
    ids: &[(&str, &str)],
) -> Result<(u16, Value)> {
    match result {
        Ok(resp) => Ok((resp.status, serde_json::from_slice(&resp.body).unwrap_or(Value::Null))),
        Err(PodError::Service { status, message, .. })
            if (400..500).contains(&status) && status != 401 =>
        {
            let message = ids.iter().fold(message, |m, (bottom, top)| m.replace(bottom, top));
            let kind = match status {
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                403 => ErrorKind::Forbidden,
                _ => ErrorKind::BadRequest,
            };
            Err(Error::new(kind, message))
        }
        Err(e) => Err(pod_error(pod, e)),
    }
}
