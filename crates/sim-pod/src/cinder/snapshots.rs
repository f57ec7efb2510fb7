//! Volume snapshots. A snapshot holds the volume's bytes at the time it is taken (a shared
//! reference). Like Cinder 29, snapshotting an in-use volume needs `force` below microversion
//! 3.66 and is allowed without it from 3.66 — python-openstackclient 10.5's `--force`
//! negotiates 3.65 and drops the flag, and must fail here as it fails on real Cinder.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::volumes::visible as volume_visible;
use super::{SVC, all_tenants, bad, invalid_volume, links, next_link, page};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, is_true, json_resp, parse_wrapped};
use crate::model::volume::Snapshot;
use crate::pod::Pod;
use crate::state::{State as PodState, Transition, fmt};

fn snap_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "SnapshotNotFound", format!("Snapshot {id} could not be found."))
}

/// A snapshot as shown; `extended` adds the project and progress attributes, which Cinder
/// shows on show and list but not in the create answer.
fn view(ctx: &Ctx, s: &Snapshot, extended: bool) -> Value {
    let mut v = json!({
        "id": s.id, "name": s.name, "description": s.description, "volume_id": s.volume_id,
        "status": s.status, "size": s.size, "created_at": fmt::cinder(&s.created_at),
        "updated_at": s.updated_at.as_ref().map(fmt::cinder), "metadata": s.metadata,
    });
    if extended {
        v["os-extended-snapshot-attributes:project_id"] = json!(s.project_id);
        v["os-extended-snapshot-attributes:progress"] =
            json!(if s.status == "creating" { "0%" } else { "100%" });
    }
    if ctx.mv.ge(3, 14) {
        v["group_snapshot_id"] = Value::Null;
    }
    if ctx.mv.ge(3, 41) {
        v["user_id"] = json!(s.user_id);
    }
    if ctx.mv.ge(3, 65) {
        v["consumes_quota"] = json!(true);
    }
    v
}

fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Snapshot> {
    st.volume
        .snapshots
        .get(id)
        .filter(|s| ctx.is_admin || ctx.owns(&s.project_id))
        .ok_or_else(|| snap_nf(id))
}

async fn render(pod: Pod, ctx: Ctx, q: Query, detail: bool) -> ApiResult {
    let st = pod.read();
    let all = all_tenants(&ctx, &q);
    let mut items: Vec<&Snapshot> = st
        .volume
        .snapshots
        .values()
        .filter(|s| all || ctx.owns(&s.project_id))
        .filter(|s| q.get("volume_id").is_none_or(|v| s.volume_id == v))
        .filter(|s| q.get("status").is_none_or(|v| s.status == v))
        .filter(|s| q.get("name").is_none_or(|v| s.name.as_deref() == Some(v)))
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse((i.created_at, i.seq)));
    let more = page(&mut items, &q, |s| s.id.as_str())?;
    let list: Vec<Value> = items
        .iter()
        .map(|s| if detail { view(&ctx, s, true) } else { json!({"id": s.id, "name": s.name, "links": links(&pod, &s.project_id, &format!("snapshots/{}", s.id))}) })
        .collect();
    let mut body = json!({"snapshots": list});
    if more && let Some(last) = items.last() {
        body["snapshots_links"] = next_link(
            &pod,
            &ctx.project_id,
            if detail { "snapshots/detail" } else { "snapshots" },
            &q,
            &last.id,
        );
    }
    Ok(json_resp(200, body))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    render(pod, ctx, q, true).await
}

pub async fn detail(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    render(pod, ctx, q, true).await
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(json_resp(200, json!({"snapshot": view(&ctx, visible(&st, &ctx, &id)?, true)})))
}

#[derive(Deserialize)]
struct CreateReq {
    volume_id: String,
    name: Option<String>,
    description: Option<String>,
    force: Option<Value>,
    metadata: Option<BTreeMap<String, String>>,
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let r: CreateReq = parse_wrapped(SVC, &body, "snapshot")?;
    let force = match &r.force {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => is_true(s),
        Some(other) => {
            return Err(bad(format!("Invalid input received: Invalid value '{other}' for force.")));
        }
    };
    let due = pod.due(pod.delays.volume_create);
    let mut st = pod.write();
    let v = volume_visible(&st, &ctx, &r.volume_id)?.clone();
    let allowed = v.status == "available" || (v.status == "in-use" && (force || ctx.mv.ge(3, 66)));
    if !allowed {
        return Err(invalid_volume(format!(
            "Volume {} status must be available, but current status is: {}.",
            v.id, v.status
        )));
    }
    let now = Utc::now();
    let seq = st.next_seq();
    let s = Snapshot {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        name: r.name,
        description: r.description,
        volume_id: v.id.clone(),
        size: v.size,
        status: "creating".into(),
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        metadata: r.metadata.unwrap_or_default(),
        data: v.data.clone(),
        created_at: now,
        updated_at: None,
    };
    let out = view(&ctx, &s, false);
    st.schedule(due, Transition::SnapshotStatus { id: s.id.clone(), status: "available".into() });
    st.volume.snapshots.insert(s.id.clone(), s);
    Ok(json_resp(202, json!({"snapshot": out})))
}

#[derive(Deserialize)]
struct UpdateReq {
    name: Option<String>,
    description: Option<String>,
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let r: UpdateReq = parse_wrapped(SVC, &body, "snapshot")?;
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    let s = st.volume.snapshots.get_mut(&id).expect("visible");
    if let Some(n) = r.name {
        s.name = Some(n);
    }
    if let Some(d) = r.description {
        s.description = Some(d);
    }
    s.updated_at = Some(Utc::now());
    Ok(json_resp(200, json!({"snapshot": view(&ctx, s, false)})))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let due = pod.due(pod.delays.volume_create);
    let mut st = pod.write();
    let s = visible(&st, &ctx, &id)?;
    if s.status != "available" && s.status != "error" {
        return Err(bad(format!(
            "Invalid snapshot: Snapshot status must be available or error and must not be part of a group, but current status is: {}.",
            s.status
        )));
    }
    st.volume.snapshots.get_mut(&id).expect("visible").status = "deleting".into();
    st.schedule(due, Transition::SnapshotGone { id });
    Ok(empty(202))
}
