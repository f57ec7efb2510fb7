//! Reading, changing and deleting servers that live in pods.
//!
//! Listing (DESIGN §4 "Listing across pods"): the top's resource rows say
//! which pods hold the caller's servers; each of those pods is asked once,
//! in parallel and with a deadline, for its servers of that project; their
//! answers (bottom servers are named after their top IDs) become top views,
//! filtered, merged by the requested sort keys with the top ID as the
//! tie-break, and cut at the top-ID marker. A pod that does not answer in
//! time contributes its servers from the cache with status UNKNOWN, so one
//! bad pod never breaks the list. Every fresh answer refreshes the cache.

use std::cmp::Ordering;
use std::collections::HashMap;

use futures::future::join_all;
use serde_json::{Value, json};
use tricircle_common::{Error, ErrorKind, PodId, RequestContext, Result};
use tricircle_jobs::{Saga, StepError, StepFuture};
use tricircle_pod_client::{Microversion, PodError, PodRequest, ServiceType};
use tricircle_store::{Pod, ResourceRow};

use super::project_of;
use super::server_create::delete_bottom_server;
use super::translate::{ServerFacts, TopNames, server_to_top, unknown_view};
use crate::App;
use crate::pod_sessions::pod_error;

#[derive(Clone, Debug, Default)]
pub struct ServerListQuery {
    /// Admins only: every project's servers.
    pub all_tenants: bool,
    pub name: Option<String>,
    pub status: Option<String>,
    /// (view key, ascending)
    pub sort: Vec<(String, bool)>,
    pub limit: u32,
    pub marker: Option<String>,
    pub microversion: Option<Microversion>,
}

#[derive(Clone, Debug)]
pub struct ServerPage {
    pub servers: Vec<Value>,
    pub next_marker: Option<String>,
    /// Some pod did not answer; its servers came from the cache.
    pub partial: bool,
}

/// Nova's sort keys and the field of the server view each sorts on.
pub fn sort_field(key: &str) -> Option<&'static str> {
    Some(match key {
        "created_at" => "created",
        "updated_at" => "updated",
        "display_name" | "name" => "name",
        "uuid" | "id" => "id",
        "vm_state" | "status" => "status",
        "availability_zone" => "OS-EXT-AZ:availability_zone",
        "launched_at" => "OS-SRV-USG:launched_at",
        "key_name" => "key_name",
        "host" | "node" => "OS-EXT-SRV-ATTR:host",
        "project_id" => "tenant_id",
        "user_id" => "user_id",
        _ => return None,
    })
}

fn compare(a: &Value, b: &Value, sort: &[(String, bool)]) -> Ordering {
    for (field, asc) in sort {
        let ord = match (&a[field.as_str()], &b[field.as_str()]) {
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (Value::Number(x), Value::Number(y)) => {
                x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
            }
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (x, y) => x.to_string().cmp(&y.to_string()),
        };
        let ord = if *asc { ord } else { ord.reverse() };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    // The top ID breaks ties, so the order (and paging) is total.
    a["id"].as_str().cmp(&b["id"].as_str())
}

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("Instance {} could not be found.", tricircle_common::ids::truncate_for_message(id)),
    )
}

impl App {
    /// The resource row of a server the caller may see, with its pod.
    async fn server_row(&self, ctx: &RequestContext, id: &str) -> Result<(ResourceRow, Pod)> {
        self.placed(ctx, id, "server").await?.ok_or_else(|| not_found(id))
    }

    /// The top's names for what a pod's server views refer to. The flavor
    /// names come from memory when read in the last `lookup_cache_ttl`;
    /// the pod's volume routings are read only when a view has volumes.
    async fn top_names<'a>(
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
        let with_volumes = bottoms.into_iter().any(|s| {
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
        Ok(TopNames { flavors: (*flavors).clone(), volumes })
    }

    /// The pod's ID of a server, from memory when read in the last
    /// `lookup_cache_ttl` (it never changes once set; deleting forgets it).
    async fn server_bottom(&self, top_id: &str, pod: &Pod) -> Result<Option<String>> {
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
    async fn remember_view(
        &self,
        row: &ResourceRow,
        facts: &ServerFacts,
        view: &Value,
    ) -> Result<()> {
        if facts.view == *view {
            return Ok(());
        }
        let mut facts = facts.clone();
        facts.view = view.clone();
        let status = view["status"].as_str().unwrap_or(&row.status).to_string();
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
            Err(PodError::Service { status: 404, .. }) => Err(not_found(id)),
            Err(e) if e.is_retryable() => Ok(unknown_view(&row, &facts, &pod.az_name)),
            Err(e) => Err(pod_error(&pod, e)),
        }
    }

    pub async fn server_list(
        &self,
        ctx: &RequestContext,
        q: ServerListQuery,
    ) -> Result<ServerPage> {
        let project = if q.all_tenants {
            crate::require_admin(ctx)?;
            None
        } else {
            Some(project_of(ctx)?)
        };
        let mut rows = self.store.resource_list("server", project).await?;
        rows.retain(|r| r.status != super::server_create::UNWINDING);
        // One call per (pod, project) that holds servers.
        let mut groups: HashMap<(String, String), Vec<ResourceRow>> = HashMap::new();
        for r in rows {
            if let Some(p) = r.pod_id.clone() {
                groups.entry((p, r.project_id.clone())).or_default().push(r);
            }
        }
        let deadline = self.settings.list_deadline;
        let calls = groups.into_iter().map(|((pod_id, project_id), rows)| {
            let app = self.clone();
            let mv = q.microversion;
            let request_id = ctx.request_id.to_string();
            async move {
                let pod = match pod_id.parse::<PodId>() {
                    Ok(id) => app.pod_cached(id).await.ok().flatten(),
                    Err(_) => None,
                };
                let Some(pod) = pod else { return (rows, None, None) };
                let fetched = tokio::time::timeout(deadline, app.pod_servers(&pod, &project_id, mv, &request_id)).await;
                let fresh = match fetched {
                    Ok(Ok(list)) => Some(list),
                    Ok(Err(e)) => {
                        tracing::warn!(region = %pod.region_name, error = %e, "listing servers: pod failed; using the cache");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(region = %pod.region_name, "listing servers: pod missed the deadline; using the cache");
                        None
                    }
                };
                (rows, Some(pod), fresh)
            }
        });
        let mut views = Vec::new();
        let mut partial = false;
        for (rows, pod, fresh) in join_all(calls).await {
            let Some(pod) = pod else { continue };
            match fresh {
                Some(by_name) => {
                    let names = self.top_names(&pod, by_name.values()).await?;
                    for row in rows {
                        let facts = ServerFacts::of(&row);
                        match by_name.get(&row.id) {
                            Some(bottom) => {
                                let view = server_to_top(bottom, &row, &facts, &pod, &names);
                                self.remember_view(&row, &facts, &view).await?;
                                views.push(view);
                            }
                            None => views.push(unknown_or_building(&row, &facts, &pod)),
                        }
                    }
                }
                None => {
                    partial = true;
                    views.extend(
                        rows.iter().map(|r| unknown_view(r, &ServerFacts::of(r), &pod.az_name)),
                    );
                }
            }
        }
        if let Some(n) = &q.name {
            views.retain(|v| v["name"].as_str().is_some_and(|s| s.contains(n.as_str())));
        }
        if let Some(s) = &q.status {
            views.retain(|v| v["status"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(s)));
        }
        let sort =
            if q.sort.is_empty() { vec![("created".to_string(), false)] } else { q.sort.clone() };
        views.sort_by(|a, b| compare(a, b, &sort));
        let start = match &q.marker {
            Some(m) => views
                .iter()
                .position(|v| v["id"].as_str() == Some(m.as_str()))
                .map(|i| i + 1)
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "marker [{}] not found",
                        tricircle_common::ids::truncate_for_message(m)
                    ))
                })?,
            None => 0,
        };
        let page: Vec<Value> = views.into_iter().skip(start).take(q.limit as usize).collect();
        let next_marker = if page.len() == q.limit as usize {
            page.last().and_then(|v| v["id"].as_str()).map(str::to_string)
        } else {
            None
        };
        Ok(ServerPage { servers: page, next_marker, partial })
    }

    /// The pod's servers of one top project, by bottom name (= top ID).
    async fn pod_servers(
        &self,
        pod: &Pod,
        project_id: &str,
        mv: Option<Microversion>,
        request_id: &str,
    ) -> Result<HashMap<String, Value>> {
        let session = self.pod_project_session(pod, project_id).await?;
        let mut req =
            PodRequest::get(ServiceType::Compute, "/servers/detail").with_request_id(request_id);
        if let Some(mv) = mv {
            req = req.with_microversion(
                session.negotiate(ServiceType::Compute, mv).await.map_err(|e| pod_error(pod, e))?,
            );
        }
        // Usually one page; a pod holding more of the project's servers than
        // its page maximum is read to the end rather than cut.
        let mut out = HashMap::new();
        loop {
            let body: Value = session
                .call(&req)
                .await
                .map_err(|e| pod_error(pod, e))?
                .json()
                .map_err(|e| pod_error(pod, e))?;
            let page = body["servers"].as_array().cloned().unwrap_or_default();
            let has_next = body["servers_links"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x["rel"] == "next"));
            let last = page.last().and_then(|s| s["id"].as_str()).map(str::to_string);
            out.extend(
                page.into_iter()
                    .filter_map(|s| s["name"].as_str().map(|n| (n.to_string(), s.clone()))),
            );
            match (has_next, last) {
                (true, Some(marker)) => {
                    req.query.retain(|(k, _)| k != "marker");
                    req.query.push(("marker".into(), marker));
                }
                _ => return Ok(out),
            }
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
        let (row, pod) = self.server_row(ctx, id).await?;
        let state = ServerDelete {
            top_id: row.id.clone(),
            project_id: row.project_id.clone(),
            pod_id: pod.pod_id,
        };
        self.run_inline(&row.project_id, state, &pod).await?;
        Ok(())
    }
}

fn unknown_or_building(row: &ResourceRow, facts: &ServerFacts, pod: &Pod) -> Value {
    let mut v = unknown_view(row, facts, &pod.az_name);
    if row.status == "BUILD" {
        v["status"] = json!("BUILD");
    }
    v
}

/// Deleting a server: `bottom` (ask the pod to delete its copy; already gone
/// is fine) then `forget` (the routing and the top's row).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ServerDelete {
    pub top_id: String,
    pub project_id: String,
    pub pod_id: PodId,
}

impl ServerDelete {
    async fn step(&mut self, app: &App, step: usize) -> std::result::Result<(), StepError> {
        let retry = |e: &dyn std::fmt::Display| StepError::retry(e.to_string());
        let pod = app
            .store
            .pod_get(self.pod_id)
            .await
            .map_err(|e| retry(&e))?
            .ok_or_else(|| StepError::fatal("the pod was deleted"))?;
        match step {
            0 => delete_bottom_server(app, &pod, &self.project_id, &self.top_id).await,
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
    const STEPS: &'static [&'static str] = &["bottom", "forget"];

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
