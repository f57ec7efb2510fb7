//! Volume backups: create (with Cinder's `force` rule for in-use volumes), list, show, delete,
//! restore into a new or an existing volume.
//!
//! While a backup is taken the volume shows `backing-up` and returns to its previous status;
//! a restore shows `restoring-backup` on the volume and `restoring` on the backup. The backup
//! keeps the volume's bytes, so a restore proves the data round-trips.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::volumes::visible as volume_visible;
use super::{SVC, all_tenants, bad, invalid_volume, links, next_link, page};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, is_true, json_resp, parse_wrapped};
use crate::model::volume::Backup;
use crate::pod::Pod;
use crate::state::{State as PodState, Transition, fmt};

fn backup_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "BackupNotFound", format!("Backup {id} could not be found."))
}

fn view(pod: &Pod, ctx: &Ctx, b: &Backup) -> Value {
    let mut v = json!({
        "id": b.id, "name": b.name, "description": b.description, "status": b.status,
        "availability_zone": b.availability_zone, "container": b.container,
        "created_at": fmt::cinder(&b.created_at), "updated_at": b.updated_at.as_ref().map(fmt::cinder),
        "data_timestamp": fmt::cinder(&b.data_timestamp), "fail_reason": null,
        "has_dependent_backups": false, "is_incremental": b.is_incremental, "object_count": 0,
        "size": b.size, "snapshot_id": b.snapshot_id, "volume_id": b.volume_id,
        "links": links(pod, &b.project_id, &format!("backups/{}", b.id)),
    });
    if ctx.mv.ge(3, 18) && ctx.is_admin {
        v["os-backup-project-attr:project_id"] = json!(b.project_id);
    }
    if ctx.mv.ge(3, 56) && ctx.is_admin {
        v["user_id"] = json!(b.user_id);
    }
    if ctx.mv.ge(3, 43) {
        v["metadata"] = json!(b.metadata);
    }
    if ctx.mv.ge(3, 64) {
        v["encryption_key_id"] = Value::Null;
    }
    v
}

fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Backup> {
    st.volume
        .backups
        .get(id)
        .filter(|b| ctx.is_admin || ctx.owns(&b.project_id))
        .ok_or_else(|| backup_nf(id))
}

impl PodState {
    pub fn backup_settle(&mut self, id: &str, status: &str) {
        if let Some(b) = self.volume.backups.get_mut(id) {
            b.status = status.into();
            b.updated_at = Some(Utc::now());
        }
    }
}

async fn render(pod: Pod, ctx: Ctx, q: Query, detail: bool) -> ApiResult {
    let st = pod.read();
    let all = all_tenants(&ctx, &q);
    let mut items: Vec<&Backup> = st
        .volume
        .backups
        .values()
        .filter(|b| all || ctx.owns(&b.project_id))
        .filter(|b| q.get("volume_id").is_none_or(|v| b.volume_id == v))
        .filter(|b| q.get("status").is_none_or(|v| b.status == v))
        .filter(|b| q.get("name").is_none_or(|v| b.name.as_deref() == Some(v)))
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse((i.created_at, i.seq)));
    let more = page(&mut items, &q, |b| b.id.as_str())?;
    let list: Vec<Value> = items
        .iter()
        .map(|b| if detail { view(&pod, &ctx, b) } else { json!({"id": b.id, "name": b.name, "links": links(&pod, &b.project_id, &format!("backups/{}", b.id))}) })
        .collect();
    let mut body = json!({"backups": list});
    if more && let Some(last) = items.last() {
        body["backups_links"] = next_link(
            &pod,
            &ctx.project_id,
            if detail { "backups/detail" } else { "backups" },
            &q,
            &last.id,
        );
    }
    Ok(json_resp(200, body))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    render(pod, ctx, q, false).await
}

pub async fn detail(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    render(pod, ctx, q, true).await
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(json_resp(200, json!({"backup": view(&pod, &ctx, visible(&st, &ctx, &id)?)})))
}

#[derive(Deserialize)]
struct CreateReq {
    volume_id: String,
    name: Option<String>,
    description: Option<String>,
    container: Option<String>,
    #[serde(default)]
    incremental: bool,
    force: Option<Value>,
    snapshot_id: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    availability_zone: Option<String>,
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let r: CreateReq = parse_wrapped(SVC, &body, "backup")?;
    let force = match &r.force {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => is_true(s),
        _ => false,
    };
    let due = pod.due(pod.delays.backup);
    let mut st = pod.write();
    let v = volume_visible(&st, &ctx, &r.volume_id)?.clone();
    match v.status.as_str() {
        "available" => {}
        "in-use" if force => {}
        "in-use" => {
            return Err(invalid_volume("Backing up an in-use volume must use the force flag."));
        }
        other => {
            return Err(invalid_volume(format!(
                "Volume to be backed up must be available or in-use, but the current status is \"{other}\"."
            )));
        }
    }
    let data = match &r.snapshot_id {
        Some(sid) => {
            let s =
                st.volume.snapshots.get(sid).filter(|s| s.volume_id == v.id).ok_or_else(|| {
                    ApiError::not_found(
                        SVC,
                        "SnapshotNotFound",
                        format!("Snapshot {sid} could not be found."),
                    )
                })?;
            s.data.clone()
        }
        None => v.data.clone(),
    };
    let now = Utc::now();
    let seq = st.next_seq();
    let b = Backup {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        name: r.name,
        description: r.description,
        volume_id: v.id.clone(),
        snapshot_id: r.snapshot_id,
        status: "creating".into(),
        size: v.size,
        availability_zone: r.availability_zone.unwrap_or_else(|| pod.az.clone()),
        container: r.container.or_else(|| Some("volumebackups".into())),
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        metadata: r.metadata.unwrap_or_default(),
        is_incremental: r.incremental,
        data,
        created_at: now,
        updated_at: None,
        data_timestamp: now,
    };
    let back = v.status.clone();
    st.volume.volumes.get_mut(&v.id).expect("visible").status = "backing-up".into();
    st.schedule(due, Transition::VolumeStatus { id: v.id.clone(), status: back });
    st.schedule(due, Transition::BackupStatus { id: b.id.clone(), status: "available".into() });
    let out = json!({"backup": {"id": b.id, "name": b.name, "links": links(&pod, &b.project_id, &format!("backups/{}", b.id))}});
    st.volume.backups.insert(b.id.clone(), b);
    Ok(json_resp(202, out))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let due = pod.due(pod.delays.backup);
    let mut st = pod.write();
    let b = visible(&st, &ctx, &id)?;
    if b.status != "available" && b.status != "error" {
        return Err(bad(format!(
            "Invalid backup: Backup status must be available or error, but current status is: {}.",
            b.status
        )));
    }
    st.volume.backups.get_mut(&id).expect("visible").status = "deleting".into();
    st.schedule(due, Transition::BackupGone { id });
    Ok(empty(202))
}

#[derive(Deserialize, Default)]
struct RestoreReq {
    volume_id: Option<String>,
    name: Option<String>,
}

pub async fn restore(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let r: RestoreReq = parse_wrapped(SVC, &body, "restore")?;
    let due = pod.due(pod.delays.backup);
    let mut st = pod.write();
    let b = visible(&st, &ctx, &id)?.clone();
    if b.status != "available" {
        return Err(bad(format!(
            "Invalid backup: Backup status must be available, but current status is: {}.",
            b.status
        )));
    }
    let vid = match r.volume_id {
        Some(vid) => {
            let v = volume_visible(&st, &ctx, &vid)?;
            if v.status != "available" {
                return Err(invalid_volume(format!(
                    "Volume to be restored to must be available, but the current status is \"{}\".",
                    v.status
                )));
            }
            if v.size < b.size {
                return Err(invalid_volume(format!(
                    "volume size {}GB is too small to restore backup of size {}GB.",
                    v.size, b.size
                )));
            }
            vid
        }
        None => {
            let type_id = st.volume.default_type_id();
            let name = r.name.clone().or_else(|| Some(format!("restore_backup_{id}")));
            let req = crate::model::volume::Volume {
                id: uuid::Uuid::new_v4().to_string(),
                seq: st.next_seq(),
                name,
                description: None,
                project_id: ctx.project_id.clone(),
                user_id: ctx.user_id.clone(),
                size: b.size,
                status: "creating".into(),
                volume_type_id: type_id,
                availability_zone: pod.az.clone(),
                bootable: false,
                snapshot_id: None,
                source_volid: None,
                backup_id: None,
                image_metadata: None,
                metadata: BTreeMap::new(),
                attachments: Vec::new(),
                multiattach: false,
                host: format!("{}@fake#fake", pod.az),
                data: None,
                created_at: Utc::now(),
                updated_at: None,
            };
            let vid = req.id.clone();
            st.volume.volumes.insert(vid.clone(), req);
            vid
        }
    };
    let v = st.volume.volumes.get_mut(&vid).expect("checked");
    v.data = b.data.clone();
    v.status = "restoring-backup".into();
    let volume_name = v.name.clone();
    st.backup_settle(&id, "restoring");
    st.schedule(due, Transition::VolumeStatus { id: vid.clone(), status: "available".into() });
    st.schedule(due, Transition::BackupStatus { id: id.clone(), status: "available".into() });
    st.gc_blobs();
    Ok(json_resp(
        202,
        json!({"restore": {"backup_id": id, "volume_id": vid, "volume_name": volume_name}}),
    ))
}
