//! Volume types (with extra specs), limits, availability zones and services of the simulated
//! Cinder. One fake backend per pod, `<az>@fake#fake`, as the real fake driver reports.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SVC, bad};
use crate::http::{ApiError, ApiResult, Ctx, empty, json_resp, parse_wrapped};
use crate::model::volume::VolumeType;
use crate::pod::Pod;
use crate::state::fmt;

fn admin(ctx: &Ctx, rule: &str) -> ApiResult<()> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            SVC,
            format!("Policy doesn't allow volume_extension:{rule} to be performed."),
        ))
    }
}

fn type_nf(id: &str) -> ApiError {
    ApiError::not_found(SVC, "VolumeTypeNotFound", format!("Volume type {id} could not be found."))
}

fn view(t: &VolumeType) -> Value {
    json!({
        "id": t.id, "name": t.name, "description": t.description, "is_public": t.is_public,
        "extra_specs": t.extra_specs, "qos_specs_id": null,
        "os-volume-type-access:is_public": t.is_public,
    })
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    let st = pod.read();
    let list: Vec<Value> =
        st.volume.types.values().filter(|t| t.is_public || ctx.is_admin).map(view).collect();
    Ok(json_resp(200, json!({"volume_types": list})))
}

pub async fn show(State(pod): State<Pod>, _ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let id = if id == "default" { st.volume.default_type_id() } else { id };
    let t = st.volume.find_type(&id).ok_or_else(|| type_nf(&id))?;
    Ok(json_resp(200, json!({"volume_type": view(t)})))
}

#[derive(Deserialize)]
struct TypeReq {
    name: String,
    description: Option<String>,
    #[serde(rename = "os-volume-type-access:is_public")]
    is_public: Option<bool>,
    #[serde(default)]
    extra_specs: BTreeMap<String, String>,
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    admin(&ctx, "types_manage")?;
    let r: TypeReq = parse_wrapped(SVC, &body, "volume_type")?;
    if r.name.trim().is_empty() || r.name.len() > 255 {
        return Err(bad("Invalid input received: Volume type name can not be empty."));
    }
    let mut st = pod.write();
    if st.volume.types.values().any(|t| t.name == r.name) {
        return Err(ApiError::conflict(
            SVC,
            "VolumeTypeExists",
            format!("Volume Type {} already exists.", r.name),
        ));
    }
    let t = VolumeType {
        id: uuid::Uuid::new_v4().to_string(),
        name: r.name,
        description: r.description,
        is_public: r.is_public.unwrap_or(true),
        extra_specs: r.extra_specs,
    };
    st.volume.types.insert(t.id.clone(), t.clone());
    Ok(json_resp(200, json!({"volume_type": view(&t)})))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    admin(&ctx, "types_manage")?;
    let mut st = pod.write();
    let t = st.volume.types.get(&id).ok_or_else(|| type_nf(&id))?;
    if t.name == crate::model::volume::DEFAULT_TYPE {
        return Err(bad("Invalid volume type: Default volume type can not be deleted."));
    }
    if st.volume.volumes.values().any(|v| v.volume_type_id == id) {
        return Err(bad(format!("Invalid volume type: Target volume type {id} is still in use.")));
    }
    st.volume.types.remove(&id);
    Ok(empty(202))
}

pub async fn specs_list(State(pod): State<Pod>, _ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let t = st.volume.types.get(&id).ok_or_else(|| type_nf(&id))?;
    Ok(json_resp(200, json!({"extra_specs": t.extra_specs})))
}

pub async fn specs_create(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    admin(&ctx, "types_extra_specs:create")?;
    let specs: BTreeMap<String, String> = parse_wrapped(SVC, &body, "extra_specs")?;
    let mut st = pod.write();
    let t = st.volume.types.get_mut(&id).ok_or_else(|| type_nf(&id))?;
    t.extra_specs.extend(specs.clone());
    Ok(json_resp(200, json!({"extra_specs": specs})))
}

pub async fn limits(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    let st = pod.read();
    let p = &ctx.project_id;
    let vols: Vec<_> = st.volume.volumes.values().filter(|v| &v.project_id == p).collect();
    let snaps: Vec<_> = st.volume.snapshots.values().filter(|s| &s.project_id == p).collect();
    let backups: Vec<_> = st.volume.backups.values().filter(|b| &b.project_id == p).collect();
    let gb: u64 =
        vols.iter().map(|v| v.size).sum::<u64>() + snaps.iter().map(|s| s.size).sum::<u64>();
    Ok(json_resp(
        200,
        json!({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": 10, "maxTotalSnapshots": 10, "maxTotalVolumeGigabytes": 1000,
            "maxTotalBackups": 10, "maxTotalBackupGigabytes": 1000,
            "totalVolumesUsed": vols.len(), "totalSnapshotsUsed": snaps.len(),
            "totalGigabytesUsed": gb, "totalBackupsUsed": backups.len(),
            "totalBackupGigabytesUsed": backups.iter().map(|b| b.size).sum::<u64>(),
        }}}),
    ))
}

pub async fn az_list(State(pod): State<Pod>, _ctx: Ctx) -> ApiResult {
    Ok(json_resp(
        200,
        json!({"availabilityZoneInfo": [{"zoneName": pod.az, "zoneState": {"available": true}}]}),
    ))
}

pub async fn service_list(State(pod): State<Pod>, ctx: Ctx) -> ApiResult {
    admin(&ctx, "services:index")?;
    let now = fmt::cinder(&Utc::now());
    let host = format!("{}-controller", pod.region.to_lowercase());
    let list: Vec<Value> = [
        ("cinder-scheduler", host.clone()),
        ("cinder-volume", format!("{host}@fake")),
        ("cinder-backup", host),
    ]
    .into_iter()
    .map(|(binary, host)| {
        json!({"binary": binary, "host": host, "zone": pod.az, "status": "enabled", "state": "up",
                   "updated_at": now, "disabled_reason": null})
    })
    .collect();
    Ok(json_resp(200, json!({"services": list})))
}

/// Cinder's default quotas, with usage when `?usage=true` (no enforcement).
pub async fn quota_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    q: crate::http::Query,
    axum::extract::Path(project): axum::extract::Path<String>,
) -> ApiResult {
    if project != ctx.project_id {
        admin(&ctx, "quotas:show")?;
    }
    let st = pod.read();
    let vols: Vec<_> = st.volume.volumes.values().filter(|v| v.project_id == project).collect();
    let snaps = st.volume.snapshots.values().filter(|s| s.project_id == project).count() as u64;
    let backups: Vec<_> = st.volume.backups.values().filter(|b| b.project_id == project).collect();
    let usage = [
        ("volumes", 10i64, vols.len() as u64),
        ("snapshots", 10, snaps),
        ("gigabytes", 1000, vols.iter().map(|v| v.size).sum()),
        ("backups", 10, backups.len() as u64),
        ("backup_gigabytes", 1000, backups.iter().map(|b| b.size).sum()),
        ("per_volume_gigabytes", -1, 0),
        ("groups", 10, 0),
    ];
    let detail = q.flag("usage");
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(project));
    for (k, limit, used) in usage {
        let v = if detail {
            json!({"limit": limit, "in_use": used, "reserved": 0, "allocated": 0})
        } else {
            json!(limit)
        };
        m.insert(k.into(), v);
    }
    Ok(json_resp(200, json!({"quota_set": m})))
}
