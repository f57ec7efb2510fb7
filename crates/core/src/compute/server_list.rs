//! Listing servers across pods (DESIGN §4 "Listing across pods").
//!
//! The top's rows say which pods hold the caller's servers. When the pods
//! can sort the way the top does (by `created_at` and the top ID, which is
//! the pod's display name), each pod is asked for no more than the page can
//! use and the answers are merged (`server_merge`). Otherwise (sorting by
//! name, status and the like, or filtering by them) each pod is asked once
//! for all of the project's servers in it, in parallel and with a deadline;
//! their answers become top views, filtered, merged by the requested sort
//! keys with the top ID as the tie-break, and cut at the top-ID marker.
//! Either way a pod that does not answer in time contributes its servers
//! from the cache with status UNKNOWN, so one bad pod never breaks the list,
//! and every fresh view shown refreshes the cache.

use std::cmp::Ordering;
use std::collections::HashMap;

use futures::future::join_all;
use serde_json::Value;
use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_pod_client::{Microversion, PodRequest, ServiceType};
use tricircle_store::{Pod, ResourceRow};

use super::project_of;
use super::servers::unknown_or_building;
use super::translate::{ServerFacts, server_to_top, unknown_view};
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

/// The top's order of two server views: the sort keys, then the top ID.
pub(super) fn compare(a: &Value, b: &Value, sort: &[(String, bool)]) -> Ordering {
    // The top ID breaks ties, so the order (and paging) is total.
    compare_keys(a, b, sort).then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
}

/// The order of two server views by the sort keys alone (equal: the same
/// group, which only the top ID tells apart).
pub(super) fn compare_keys(a: &Value, b: &Value, sort: &[(String, bool)]) -> Ordering {
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
    Ordering::Equal
}

impl App {
    pub async fn server_list(
        &self,
        ctx: &RequestContext,
        q: ServerListQuery,
    ) -> Result<ServerPage> {
        if super::server_merge::pods_can_sort(&q)
            && let Some(page) = self.server_list_merged(ctx, &q).await?
        {
            return Ok(page);
        }
        self.server_list_read_all(ctx, q).await
    }

    /// Every server of the matching pods, read whole: for sort keys and
    /// filters the pods cannot apply for the top, and for the periodic
    /// refresh (which wants every view).
    pub(crate) async fn server_list_read_all(
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
}
