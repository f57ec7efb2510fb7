//! Reading, changing and deleting servers that live in pods (listing is in
//! `server_list`).

use std::collections::HashMap;

use serde_json::{Value, json};
use tricircle_common::{Error, ErrorKind, PodId, RequestContext, Result};
use tricircle_jobs::{Saga, StepError, StepFuture};
use tricircle_pod_client::{Microversion, PodError, PodRequest, ServiceType};
use tricircle_store::{Pod, ResourceRow};

use super::server_create::{delete_bottom_server, volumes_deleted_with_server};
use super::translate::{ServerFacts, TopNames, server_to_top, unknown_view};
use crate::App;
use crate::pod_sessions::pod_error;

/// The status of a server whose pod no longer has it (the audit confirmed
/// it): Nova shows a server its host lost as ERROR.
pub const LOST: &str = "ERROR";

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("Instance {} could not be found.", tricircle_common::ids::truncate_for_message(id)),
    )
}

impl App {
    /// The resource row of a server the caller may see, with its pod.
    pub(super) async fn server_row(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(ResourceRow, Pod)> {
        self.placed(ctx, id, "server").await?.ok_or_else(|| not_found(id))
    }

    /// The top's names for what a pod's server views refer to. The flavor
    /// names come from memory when read in the last `lookup_cache_ttl`;
    /// the pod's volume routings are read only when a view has volumes.
    pub(super) async fn top_names<'a>(
        &self,
        pod: &Pod,
        bottoms: impl IntoIterator<Item = &'a Value>,
    ) -> Result<TopNames> {
        let flavors = match self.lookups.flavor_names.get(&()) {
            Some(f) => f,
            None => {
                let f: HashMap<String, String> =
                    self.store.flavor_list().await?.into_iter().map(|f| (f.id, f.name)).collect();
                let f = std::sync::Arc::new(f);
                self.lookups.flavor_names.insert((), f.clone());
                f
            }
        };
        let bottoms_vec: Vec<&Value> = bottoms.into_iter().collect();
        let with_volumes = bottoms_vec.iter().any(|s| {
            s["os-extended-volumes:volumes_attached"].as_array().is_some_and(|v| !v.is_empty())
        });
        let volumes = if with_volumes {
            self.store
                .routing_list_in_pod("volume", pod.pod_id)
                .await?
                .into_iter()
                .filter_map(|r| r.bottom_id.map(|b| (b, r.top_id)))
                .collect()
        } else {
            HashMap::new()
        };
        let with_addresses =
            bottoms_vec.iter().any(|s| s["addresses"].as_object().is_some_and(|a| !a.is_empty()));
        let networks = if with_addresses {
            self.store
                .net_object_list("network", &tricircle_store::NetFilter::default())
                .await?
                .into_iter()
                .map(|n| {
                    let name = serde_json::from_str::<Value>(&n.body)
                        .ok()
                        .and_then(|b| b["name"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    (n.id, name)
                })
                .collect()
        } else {
            HashMap::new()
        };
        Ok(TopNames { flavors: (*flavors).clone(), volumes, networks })
    }

    /// The pod's ID of a server, from memory when read in the last
    /// `lookup_cache_ttl` (it never changes once set; deleting forgets it).
    pub(super) async fn server_bottom(&self, top_id: &str, pod: &Pod) -> Result<Option<String>> {
        let key = (top_id.to_string(), pod.pod_id);
        if let Some(b) = self.lookups.server_bottoms.get(&key) {
            return Ok(Some(b));
        }
        let bottom =
            self.store.routing_find(top_id, "server", pod.pod_id).await?.and_then(|r| r.bottom_id);
        if let Some(b) = &bottom {
            self.lookups.server_bottoms.insert(key, b.clone());
        }
        Ok(bottom)
    }

    /// Store a fresh view in the cache when it changed.
    /// `facts` are the row's, already parsed (a summary holds a whole view:
    /// parsing it once per row matters for a listing of thousands).
    pub(super) async fn remember_view(
        &self,
        row: &ResourceRow,
        facts: &ServerFacts,
        view: &Value,
    ) -> Result<()> {
        if facts.view == *view {
            return Ok(());
        }
        let status = view["status"].as_str().unwrap_or(&row.status).to_string();
        let was = facts.view["status"].as_str().unwrap_or(&row.status);
        if was != status {
            // Its ports follow it, as Neutron's agents report them.
            let port_status = if status == "ACTIVE" { "ACTIVE" } else { "DOWN" };
            self.mark_server_ports(&row.project_id, &row.id, port_status).await?;
            if status == "ACTIVE" {
                // Now bound to a host: its shadows in the other pods, in the
                // background so a read does not wait on pods.
                let networks = self.networks_of_server(&row.project_id, &row.id).await?;
                if !networks.is_empty() {
                    let app = self.clone();
                    tokio::spawn(async move { app.sync_networks_recorded(networks).await });
                }
            }
        }
        let mut facts = facts.clone();
        facts.view = view.clone();
        let summary = serde_json::to_string(&facts).map_err(Error::internal)?;
        self.store.resource_refresh(&row.id, &row.name, &status, &summary).await?;
        Ok(())
    }

    pub async fn server_show(
        &self,
        ctx: &RequestContext,
        id: &str,
        mv: Option<Microversion>,
    ) -> Result<Value> {
        let (row, pod) = self.server_row(ctx, id).await?;
        let facts = ServerFacts::of(&row);
        let session = match self.pod_project_session(&pod, &row.project_id).await {
            Ok(s) => s,
            Err(e) if e.status() == 503 => return Ok(unknown_view(&row, &facts, &pod.az_name)),
            Err(e) => return Err(e),
        };
        let bottom = match self.server_bottom(&row.id, &pod).await? {
            Some(b) => b,
            // Still being created: what the cache knows.
            None => return Ok(unknown_or_building(&row, &facts, &pod)),
        };
        let mut req = PodRequest::get(ServiceType::Compute, format!("/servers/{bottom}"))
            .with_request_id(ctx.request_id.as_str());
        if let Some(mv) = mv {
            req = req.with_microversion(
                session
                    .negotiate(ServiceType::Compute, mv)
                    .await
                    .map_err(|e| pod_error(&pod, e))?,
            );
        }
        match session.call(&req).await {
            Ok(resp) => {
                let body: Value = resp.json().map_err(|e| pod_error(&pod, e))?;
                let view = server_to_top(
                    &body["server"],
                    &row,
                    &facts,
                    &pod,
                    &self.top_names(&pod, [&body["server"]]).await?,
                );
                self.remember_view(&row, &facts, &view).await?;
                Ok(view)
            }
            // Marked lost by the audit: shown, so that it can be deleted.
            Err(PodError::Service { status: 404, .. }) if row.status == LOST => {
                Ok(unknown_or_building(&row, &facts, &pod))
            }
            Err(PodError::Service { status: 404, .. }) => Err(not_found(id)),
            Err(e) if e.is_retryable() => Ok(unknown_view(&row, &facts, &pod.az_name)),
            Err(e) => Err(pod_error(&pod, e)),
        }
    }

    /// Rename a server (the name lives at the top; the pod's copy is named
    /// after the top ID).
    pub async fn server_rename(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: &str,
        mv: Option<Microversion>,
    ) -> Result<Value> {
        let (row, _) = self.server_row(ctx, id).await?;
        let name = name.trim();
        if name.is_empty() || name.len() > 255 {
            return Err(Error::bad_request(
                "Invalid input for field/attribute name: it must have 1 to 255 characters.",
            ));
        }
        self.store.resource_refresh(&row.id, name, &row.status, &row.summary).await?;
        self.server_show(ctx, id, mv).await
    }

    /// Forward an action (`os-start`, `reboot`, `resize`, ...) to the pod.
    pub async fn server_action(
        &self,
        ctx: &RequestContext,
        id: &str,
        action: &Value,
        mv: Option<Microversion>,
    ) -> Result<(u16, Value)> {
        let (row, pod) = self.server_row(ctx, id).await?;
        let name = action
            .as_object()
            .and_then(|o| (o.len() == 1).then(|| o.keys().next().cloned()).flatten())
            .ok_or_else(|| {
                Error::bad_request("The action body must have exactly one key, the action's name.")
            })?;
        let mut action = action.clone();
        if let Some(flavor) =
            action.get("resize").and_then(|r| r.get("flavorRef")).and_then(Value::as_str)
        {
            let flavor = flavor.rsplit('/').next().unwrap_or_default().to_string();
            self.flavor_get(ctx, &flavor)
                .await
                .map_err(|_| Error::bad_request(format!("Flavor {flavor} could not be found.")))?;
            let bottom = self
                .ensure_flavor_in_pod(&pod, &flavor)
                .await
                .map_err(|e| Error::unavailable(e.message.clone(), e.message))?;
            action["resize"]["flavorRef"] = json!(bottom);
        }
        let bottom = self.bottom_of(&row.id, "server", &pod).await?.ok_or_else(|| {
            Error::conflict(format!(
                "Cannot '{name}' instance {id} while it is in task_state spawning"
            ))
        })?;
        let session = self.pod_project_session(&pod, &row.project_id).await?;
        let image_name = if name == "createImage" {
            Some(action["createImage"]["name"].as_str().unwrap_or("snapshot").to_string())
        } else {
            None
        };
        let mut req = PodRequest::new(
            ServiceType::Compute,
            reqwest::Method::POST,
            format!("/servers/{bottom}/action"),
        )
        .with_body(action)
        .with_request_id(ctx.request_id.as_str());
        if let Some(mv) = mv {
            req = req.with_microversion(
                session
                    .negotiate(ServiceType::Compute, mv)
                    .await
                    .map_err(|e| pod_error(&pod, e))?,
            );
        }
        let result = session.call(&req).await;
        if let (Some(image_name), Ok(resp)) = (image_name, &result) {
            // The pod made an image; the top registers it under its own ID.
            let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            let bottom_image = body["image_id"].as_str().map(str::to_string).or_else(|| {
                resp.headers
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| l.rsplit('/').next())
                    .map(str::to_string)
            });
            let bottom_image = bottom_image.ok_or_else(|| {
                Error::internal(format!(
                    "region {}: createImage answered without an image ID",
                    pod.region_name
                ))
            })?;
            let top = self.image_from_pod(ctx, &pod, &bottom_image, &image_name).await?;
            return Ok((resp.status, json!({"image_id": top})));
        }
        crate::volumes::relay_as(result, &pod, &[(bottom.as_str(), id)])
    }

    /// Delete a server (a saga, inline): the pod's copy, then the top's.
    pub async fn server_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let (mut state, mut pod) = self.server_delete_plan(ctx, id).await?;
        if self.wait_for_create(&state.top_id).await? {
            // Its create may have unwound meanwhile: then it is not found.
            (state, pod) = self.server_delete_plan(ctx, id).await?;
        }
        let project = state.project_id.clone();
        self.run_inline(&project, state, &pod).await?;
        Ok(())
    }

    /// A server still being created (its create saga waiting or running,
    /// here or on another replica) is deleted once that saga is done: a
    /// delete running beside it would forget the server while the create
    /// still makes it in the pod. Waits a bounded time, then 409.
    /// `true` when it waited.
    async fn wait_for_create(&self, id: &str) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut waited = false;
        while self.store.job_active("server_create", id).await?.is_some() {
            waited = true;
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::conflict(format!(
                    "Instance {id} is still being built; delete it again when its creation has finished."
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(waited)
    }

    /// What [`Self::server_delete`] runs: the saga's first state and its pod.
    pub async fn server_delete_plan(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(ServerDelete, Pod)> {
        let (row, pod) = self.server_row(ctx, id).await?;
        Ok((ServerDelete::new(row.id, row.project_id, pod.pod_id), pod))
    }
}

/// The cached view of a server its pod did not return: still being built,
/// lost (ERROR), or UNKNOWN.
pub(super) fn unknown_or_building(row: &ResourceRow, facts: &ServerFacts, pod: &Pod) -> Value {
    let mut v = unknown_view(row, facts, &pod.az_name);
    if row.status == "BUILD" || row.status == LOST {
        v["status"] = json!(row.status);
    }
    v
}

impl App {
    /// Mark a server whose pod lost it (the audit confirmed it with a 404):
    /// its cached status becomes ERROR with a fault saying why, its top
    /// ports DOWN; the user sees it and can delete it. The top server is
    /// not deleted: it is the user's. `false` when it was in ERROR already.
    pub(crate) async fn server_mark_lost(&self, row: &ResourceRow, pod: &Pod) -> Result<bool> {
        if row.status == LOST {
            return Ok(false);
        }
        let mut facts = ServerFacts::of(row);
        let mut view = unknown_view(row, &facts, &pod.az_name);
        view["status"] = json!(LOST);
        view["fault"] = json!({
            "code": 500,
            "created": tricircle_store::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "message": format!(
                "The server is gone from availability zone {}; delete it and create it again.",
                pod.az_name
            ),
        });
        facts.view = view;
        let summary = serde_json::to_string(&facts).map_err(Error::internal)?;
        let marked = self.store.resource_refresh(&row.id, &row.name, LOST, &summary).await?;
        if marked {
            self.mark_server_ports(&row.project_id, &row.id, "DOWN").await?;
        }
        Ok(marked)
    }
}

/// Deleting a server: `volumes` (which of its volumes the pod's Nova
/// deletes with it: once the server is gone the pod cannot say), `bottom`
/// (ask the pod to delete its copy, already gone is fine, then forget
/// those volumes once they are gone), `ports` (the pod's copies of its
/// ports; its top ports deleted or unbound), then `forget` (the routing and
/// the top's row).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ServerDelete {
    pub top_id: String,
    pub project_id: String,
    pub pod_id: PodId,
    /// The pod's IDs of the volumes deleted with it, once `volumes` ran.
    #[serde(default)]
    pub doomed: Option<Vec<String>>,
}

impl ServerDelete {
    pub fn new(top_id: String, project_id: String, pod_id: PodId) -> Self {
        ServerDelete { top_id, project_id, pod_id, doomed: None }
    }

    async fn step(&mut self, app: &App, step: usize) -> std::result::Result<(), StepError> {
        let retry = |e: &dyn std::fmt::Display| StepError::retry(e.to_string());
        let pod = app
            .store
            .pod_get(self.pod_id)
            .await
            .map_err(|e| retry(&e))?
            .ok_or_else(|| StepError::fatal("the pod was deleted"))?;
        match step {
            0 => {
                let doomed =
                    volumes_deleted_with_server(app, &pod, &self.project_id, &self.top_id).await?;
                self.doomed = Some(doomed);
                Ok(())
            }
            1 => {
                let doomed = match &self.doomed {
                    Some(d) => d.clone(),
                    // Progress saved before this saga had `volumes`.
                    None => {
                        volumes_deleted_with_server(app, &pod, &self.project_id, &self.top_id)
                            .await?
                    }
                };
                delete_bottom_server(app, &pod, &self.project_id, &self.top_id, &doomed).await
            }
            // The pod's copies of its ports, then the top ports themselves
            // (deleted when made for it, unbound otherwise).
            2 => {
                let networks = app
                    .networks_of_server(&self.project_id, &self.top_id)
                    .await
                    .map_err(|e| retry(&e))?;
                app.unmaterialize_ports(&pod, &self.project_id, &self.top_id).await?;
                app.release_ports(&self.project_id, &self.top_id).await.map_err(|e| retry(&e))?;
                // Their shadows in other pods go too.
                app.sync_networks_recorded(networks).await;
                Ok(())
            }
            _ => {
                if let Some(r) = app
                    .store
                    .routing_find(&self.top_id, "server", pod.pod_id)
                    .await
                    .map_err(|e| retry(&e))?
                {
                    app.store.routing_delete(r.id).await.map_err(|e| retry(&e))?;
                }
                app.lookups.server_bottoms.remove(&(self.top_id.clone(), pod.pod_id));
                app.store.resource_delete(&self.top_id).await.map_err(|e| retry(&e))?;
                Ok(())
            }
        }
    }
}

impl Saga for ServerDelete {
    type Ctx = App;
    const NAME: &'static str = "server_delete";
    const STEPS: &'static [&'static str] = &["volumes", "bottom", "ports", "forget"];
    const FORWARD_ONLY: bool = true;

    fn run<'a>(&'a mut self, ctx: &'a App, step: usize) -> StepFuture<'a> {
        Box::pin(self.step(ctx, step))
    }

    /// A delete is not undone: once the pod was asked, going forward is the
    /// only way to a consistent state.
    fn undo<'a>(&'a mut self, _ctx: &'a App, _step: usize) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

impl App {
    /// Forward a call on a server's sub-resource (`metadata`, `tags`,
    /// `os-instance-actions`, `os-interface`) to its pod, with the pod's IDs
    /// translated back and the gateway's own metadata key hidden.
    pub async fn server_subresource(
        &self,
        ctx: &RequestContext,
        id: &str,
        method: reqwest::Method,
        subpath: &str,
        body: Option<Value>,
        mv: Option<Microversion>,
    ) -> Result<(u16, Value)> {
        let key = super::translate::metadata_key();
        if subpath.starts_with("metadata") && subpath.contains(key) {
            return Err(Error::forbidden(format!("Metadata key {key} belongs to the gateway.")));
        }
        let (row, pod) = self.server_row(ctx, id).await?;
        let bottom = self
            .bottom_of(&row.id, "server", &pod)
            .await?
            .ok_or_else(|| Error::conflict(format!("Instance {id} is still being built.")))?;
        let session = self.pod_project_session(&pod, &row.project_id).await?;
        let mut req = PodRequest::new(
            ServiceType::Compute,
            method.clone(),
            format!("/servers/{bottom}/{subpath}"),
        )
        .with_request_id(ctx.request_id.as_str());
        if let Some(mut b) = body {
            // Replacing all metadata must keep the gateway's key.
            if method == reqwest::Method::PUT && subpath == "metadata" {
                b["metadata"][key] = json!(row.id);
            }
            req = req.with_body(b);
        }
        if let Some(mv) = mv {
            req = req.with_microversion(
                session
                    .negotiate(ServiceType::Compute, mv)
                    .await
                    .map_err(|e| pod_error(&pod, e))?,
            );
        }
        let (status, mut out) =
            crate::volumes::relay_as(session.call(&req).await, &pod, &[(bottom.as_str(), id)])?;
        if let Some(Value::Object(meta)) = out.get_mut("metadata") {
            meta.remove(key);
        }
        let text = out.to_string().replace(&bottom, id);
        Ok((status, serde_json::from_str(&text).unwrap_or(out)))
    }
}
