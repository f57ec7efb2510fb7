//! Server list (with Nova's filters, sort keys and `limit`/`marker` paging), show, update,
//! delete, addresses and metadata; and the server side of asynchronous transitions.
//!
//! Paging follows what real Nova does rather than what one might expect: `servers_links` is
//! present whenever a page is full (even if nothing follows), and a marker past the end yields
//! an empty list without links. An unknown marker is a 400.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::server_view::{addresses, brief, full};
use super::{SVC, require_unlocked, visible, visible_mut};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, is_true, json_resp, parse_wrapped};
use crate::model::compute::{Server, power};
use crate::pod::Pod;
use crate::state::{State as PodState, Transition};
use tricircle_openstack_api::links::with_query;

/// Nova validates `name` as a regular expression and matches it anywhere in
/// the display name (the database's REGEXP). On MySQL, the usual backend
/// and the real-pods harness's, it escapes every `|` first, so a bar is
/// literal rather than an alternation.
fn name_filter(q: &Query) -> ApiResult<Option<regex::Regex>> {
    let Some(n) = q.get("name") else { return Ok(None) };
    let invalid = regex::Regex::new(n).is_err();
    let pattern = n.replace('|', "\\|");
    let built = regex::RegexBuilder::new(&pattern).size_limit(1 << 20).build();
    built.ok().filter(|_| !invalid).map(Some).ok_or_else(|| {
        ApiError::bad_request(
            SVC,
            format!("Invalid input for query parameters name. Value: {n}. '{n}' is not a 'regex'"),
        )
    })
}

fn matches_filters(
    st: &PodState,
    ctx: &Ctx,
    q: &Query,
    name: Option<&regex::Regex>,
    s: &Server,
) -> ApiResult<bool> {
    let all = ctx.is_admin && q.get("all_tenants").is_some_and(|v| v.is_empty() || is_true(v));
    if !all && !ctx.owns(&s.project_id) {
        return Ok(false);
    }
    if all
        && let Some(p) = q.get("project_id").or(q.get("tenant_id"))
        && s.project_id != p
    {
        return Ok(false);
    }
    if let Some(n) = name
        && !n.is_match(&s.name)
    {
        return Ok(false);
    }
    if let Some(status) = q.get("status") {
        if !status.eq_ignore_ascii_case(s.status()) {
            return Ok(false);
        }
    } else if s.vm_state == "deleted" {
        return Ok(false);
    }
    if let Some(i) = q.get("image")
        && s.image_id.as_deref() != Some(i)
    {
        return Ok(false);
    }
    if let Some(f) = q.get("flavor")
        && s.flavor.id != f
    {
        return Ok(false);
    }
    if let Some(h) = q.get("host")
        && ctx.is_admin
        && s.host != h
    {
        return Ok(false);
    }
    if let Some(az) = q.get("availability_zone")
        && s.availability_zone != az
    {
        return Ok(false);
    }
    if let Some(k) = q.get("key_name")
        && s.key_name.as_deref() != Some(k)
    {
        return Ok(false);
    }
    if let Some(ip) = q.get("ip") {
        let addrs = addresses(st, s).to_string();
        if !addrs.contains(ip) {
            return Ok(false);
        }
    }
    if let Some(cs) = q.get("changes-since") {
        let t: DateTime<Utc> = cs.parse().map_err(|_| {
            ApiError::bad_request(
                SVC,
                format!("Invalid input for query parameters changes-since. Value: {cs}."),
            )
        })?;
        if s.updated < t {
            return Ok(false);
        }
    }
    if let Some(tags) = q.get("tags")
        && !tags.split(',').all(|t| s.tags.iter().any(|x| x == t))
    {
        return Ok(false);
    }
    if let Some(tags) = q.get("tags-any")
        && !tags.split(',').any(|t| s.tags.iter().any(|x| x == t))
    {
        return Ok(false);
    }
    if let Some(l) = q.get("locked")
        && is_true(l) != s.locked
    {
        return Ok(false);
    }
    Ok(true)
}

fn sort_value(s: &Server, key: &str) -> String {
    match key {
        "display_name" | "name" => s.name.clone(),
        "updated_at" => fmt_sort(&s.updated),
        "uuid" | "id" => s.id.clone(),
        "vm_state" => s.vm_state.clone(),
        "task_state" => s.task_state.clone().unwrap_or_default(),
        "availability_zone" => s.availability_zone.clone(),
        "host" | "node" => s.host.clone(),
        "key_name" => s.key_name.clone().unwrap_or_default(),
        "launched_at" => s.launched_at.map(|t| fmt_sort(&t)).unwrap_or_default(),
        "power_state" => s.power_state.to_string(),
        "project_id" => s.project_id.clone(),
        "user_id" => s.user_id.clone(),
        "instance_type_id" => s.flavor.id.clone(),
        _ => format!("{}{:020}", fmt_sort(&s.created), s.seq),
    }
}

fn fmt_sort(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S%.9f").to_string()
}

/// Filter, sort and page; returns the page and whether it is full.
fn select<'a>(st: &'a PodState, ctx: &Ctx, q: &Query) -> ApiResult<(Vec<&'a Server>, bool)> {
    let mut out = Vec::new();
    let name = name_filter(q)?;
    for s in st.compute.servers.values() {
        if matches_filters(st, ctx, q, name.as_ref(), s)? {
            out.push(s);
        }
    }
    let keys: Vec<&str> = q.all("sort_key");
    let dirs: Vec<&str> = q.all("sort_dir");
    let keys = if keys.is_empty() { vec!["created_at"] } else { keys };
    // Each server's sort values once, not at every comparison (formatting
    // a timestamp costs more than comparing it).
    let mut keyed: Vec<(Vec<String>, &Server)> =
        out.into_iter().map(|s| (keys.iter().map(|k| sort_value(s, k)).collect(), s)).collect();
    keyed.sort_by(|(ka, a), (kb, b)| {
        for (i, (va, vb)) in ka.iter().zip(kb).enumerate() {
            let ord = va.cmp(vb);
            let ord =
                if dirs.get(i).copied().unwrap_or("desc") == "asc" { ord } else { ord.reverse() };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        b.seq.cmp(&a.seq)
    });
    let mut out: Vec<&Server> = keyed.into_iter().map(|(_, s)| s).collect();
    if let Some(m) = q.get("marker") {
        let pos = out
            .iter()
            .position(|s| s.id == m)
            .ok_or_else(|| ApiError::bad_request(SVC, format!("marker [{m}] not found")))?;
        out.drain(..=pos);
    }
    let mut full = false;
    if let Some(l) = q.get("limit") {
        let limit: usize = l.parse().map_err(|_| {
            ApiError::bad_request(
                SVC,
                format!("Invalid input for query parameters limit. Value: {l}."),
            )
        })?;
        full = limit > 0 && out.len() >= limit;
        out.truncate(limit);
    }
    Ok((out, full))
}

fn next_link(pod: &Pod, path: &str, q: &Query, last: &str) -> Value {
    let mut pairs: Vec<(&str, String)> =
        q.0.iter().filter(|(k, _)| k != "marker").map(|(k, v)| (k.as_str(), v.clone())).collect();
    pairs.push(("marker", last.to_string()));
    json!([{"rel": "next", "href": with_query(&format!("{}/compute/v2.1/{path}", pod.base_url), &pairs)}])
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let (page, full) = select(&st, &ctx, &q)?;
    let mut body = json!({"servers": page.iter().map(|s| brief(&pod, s)).collect::<Vec<_>>()});
    if full && let Some(last) = page.last() {
        body["servers_links"] = next_link(&pod, "servers", &q, &last.id);
    }
    Ok(json_resp(200, body))
}

pub async fn detail(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let (page, is_full) = select(&st, &ctx, &q)?;
    let mut body = json!({"servers": page.iter().map(|s| full(&pod, &st, &ctx, s, false)).collect::<Vec<_>>()});
    if is_full && let Some(last) = page.last() {
        body["servers_links"] = next_link(&pod, "servers/detail", &q, &last.id);
    }
    Ok(json_resp(200, body))
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    Ok(json_resp(200, json!({"server": full(&pod, &st, &ctx, s, true)})))
}

#[derive(serde::Deserialize)]
struct UpdateReq {
    name: Option<String>,
    description: Option<Option<String>>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    access_ipv6: Option<String>,
    hostname: Option<String>,
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let r: UpdateReq = parse_wrapped(SVC, &body, "server")?;
    let mut st = pod.write();
    let s = visible_mut(&mut st, &ctx, &id)?;
    if let Some(n) = r.name {
        if n.trim().is_empty() || n.len() > 255 {
            return Err(ApiError::bad_request(SVC, "Invalid input for field/attribute name."));
        }
        s.name = n;
    }
    if let Some(d) = r.description {
        s.description = d;
    }
    if let Some(a) = r.access_ipv4 {
        s.access_ipv4 = a;
    }
    if let Some(a) = r.access_ipv6 {
        s.access_ipv6 = a;
    }
    if let Some(h) = r.hostname {
        s.hostname = h;
    }
    s.updated = Utc::now();
    let s = st.compute.servers[&id].clone();
    Ok(json_resp(200, json!({"server": full(&pod, &st, &ctx, &s, true)})))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let due = pod.due(pod.delays.server_delete);
    let mut st = pod.write();
    let s = visible_mut(&mut st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    if s.task_state.as_deref() != Some("deleting") {
        s.task_state = Some("deleting".into());
        s.updated = Utc::now();
        st.schedule(due, Transition::ServerGone { id });
    }
    Ok(empty(204))
}

pub async fn ips(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    // Unlike the server view, the ips list has only `addr` and `version` per address.
    let mut addrs = addresses(&st, s);
    if let Some(nets) = addrs.as_object_mut() {
        for a in nets.values_mut().filter_map(Value::as_array_mut).flatten() {
            if let Some(o) = a.as_object_mut() {
                o.retain(|k, _| k == "addr" || k == "version");
            }
        }
    }
    Ok(json_resp(200, json!({"addresses": addrs})))
}

pub async fn metadata_list(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    Ok(json_resp(200, json!({"metadata": s.metadata})))
}

fn set_metadata(pod: &Pod, ctx: &Ctx, id: &str, body: &Bytes, replace: bool) -> ApiResult {
    let m: BTreeMap<String, String> = parse_wrapped(SVC, body, "metadata")?;
    let mut st = pod.write();
    let s = visible_mut(&mut st, ctx, id)?;
    require_unlocked(s, ctx)?;
    if replace {
        s.metadata = m;
    } else {
        s.metadata.extend(m);
    }
    s.updated = Utc::now();
    Ok(json_resp(200, json!({"metadata": s.metadata})))
}

pub async fn metadata_update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    set_metadata(&pod, &ctx, &id, &body, false)
}

pub async fn metadata_replace(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    set_metadata(&pod, &ctx, &id, &body, true)
}

fn meta_nf() -> ApiError {
    ApiError::not_found(SVC, "MetadataNotFound", "Metadata item was not found")
}

pub async fn metadata_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult {
    let st = pod.read();
    let s = visible(&st, &ctx, &id)?;
    let v = s.metadata.get(&key).ok_or_else(meta_nf)?;
    Ok(json_resp(200, json!({"meta": { key: v }})))
}

pub async fn metadata_set(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let m: BTreeMap<String, String> = parse_wrapped(SVC, &body, "meta")?;
    let Some(v) = m.get(&key).filter(|_| m.len() == 1) else {
        return Err(ApiError::bad_request(SVC, "Request body and URI mismatch"));
    };
    let mut st = pod.write();
    let s = visible_mut(&mut st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    s.metadata.insert(key.clone(), v.clone());
    Ok(json_resp(200, json!({"meta": { key: v }})))
}

pub async fn metadata_delete(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult {
    let mut st = pod.write();
    let s = visible_mut(&mut st, &ctx, &id)?;
    require_unlocked(s, &ctx)?;
    s.metadata.remove(&key).ok_or_else(meta_nf)?;
    Ok(empty(204))
}

impl PodState {
    /// A server's action finished (or its build): clear the task and settle its state.
    pub fn server_settle(&mut self, id: &str, vm_state: &str, power_state: u8) {
        let now = Utc::now();
        let Some(s) = self.compute.servers.get_mut(id) else { return };
        if s.task_state.as_deref() == Some("deleting") {
            return;
        }
        s.vm_state = vm_state.to_string();
        s.power_state = power_state;
        s.task_state = None;
        s.updated = now;
        if vm_state == "active" && s.launched_at.is_none() {
            s.launched_at = Some(now);
        }
        let status = if power_state == power::RUNNING { "ACTIVE" } else { "DOWN" };
        let ports = s.ports.clone();
        for p in ports {
            if let Some(port) = self.network.ports.get_mut(&p) {
                port.status = status.into();
                port.updated_at = now;
            }
        }
    }

    /// A deleted server disappears: its own ports go, other ports are unbound, volumes are
    /// detached (or deleted when so marked), group memberships end.
    pub fn server_gone(&mut self, id: &str) {
        let Some(s) = self.compute.servers.remove(id) else { return };
        for p in &s.ports {
            if s.owned_ports.contains(p) {
                self.port_remove(p);
            } else {
                self.port_unbind(p);
            }
        }
        for b in &s.volumes {
            self.volume_detached(&b.volume_id, id);
            if b.delete_on_termination {
                self.volume_gone(&b.volume_id);
            }
        }
        for g in self.compute.server_groups.values_mut() {
            g.members.retain(|m| m != id);
        }
        self.gc_blobs();
    }
}
