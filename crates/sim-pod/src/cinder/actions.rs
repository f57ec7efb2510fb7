//! `POST /volumes/{id}/action` (extend, reset status, bootable, upload to image, force delete,
//! revert to snapshot, read-only flag) and the read side of the attachments API (3.27).
//!
//! Upload-to-image creates a Glance image holding the volume's bytes: the way a volume's data
//! becomes bootable elsewhere, and what the image-copy tests of later issues rely on.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::volumes::visible;
use super::{SVC, bad, invalid_volume};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, json_resp, parse};
use crate::pod::Pod;
use crate::state::{Transition, fmt};

pub async fn action(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let m: Map<String, Value> = parse(SVC, &body)?;
    let Some((name, arg)) = m.into_iter().next() else {
        return Err(bad("Malformed request body"));
    };
    let due = pod.due(pod.delays.volume_create);
    let mut st = pod.write();
    let v = visible(&st, &ctx, &id)?.clone();
    match name.as_str() {
        "os-extend" => {
            let new = arg
                .get("new_size")
                .and_then(|n| n.as_u64().or_else(|| n.as_str().and_then(|s| s.parse().ok())))
                .ok_or_else(|| bad("Invalid input for field/attribute new_size."))?;
            let in_use_ok = ctx.mv.ge(3, 42) && v.status == "in-use";
            if v.status != "available" && !in_use_ok {
                return Err(invalid_volume(format!(
                    "Volume {id} status must be available or in-use, but current status is: {}.",
                    v.status
                )));
            }
            if new <= v.size {
                return Err(bad(format!(
                    "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new}).",
                    v.size
                )));
            }
            let back = v.status.clone();
            let vol = st.volume.volumes.get_mut(&id).expect("visible");
            vol.size = new;
            vol.status = "extending".into();
            st.schedule(due, Transition::VolumeStatus { id, status: back });
            Ok(empty(202))
        }
        "os-reset_status" => {
            if !ctx.is_admin {
                return Err(ApiError::forbidden(
                    SVC,
                    "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed.",
                ));
            }
            let vol = st.volume.volumes.get_mut(&id).expect("visible");
            if let Some(s) = arg.get("status").and_then(Value::as_str) {
                vol.status = s.into();
            }
            if arg.get("attach_status").and_then(Value::as_str) == Some("detached") {
                vol.attachments.clear();
            }
            Ok(empty(202))
        }
        "os-set_bootable" => {
            let b = match arg.get("bootable") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => crate::http::is_true(s),
                _ => return Err(bad("Invalid input received: Invalid value for bootable.")),
            };
            st.volume.volumes.get_mut(&id).expect("visible").bootable = b;
            Ok(empty(200))
        }
        "os-update_readonly_flag" => {
            let ro = arg
                .get("readonly")
                .and_then(Value::as_bool)
                .ok_or_else(|| bad("Invalid input received: readonly must be a boolean."))?;
            st.volume
                .volumes
                .get_mut(&id)
                .expect("visible")
                .metadata
                .insert("readonly".into(), ro.to_string());
            Ok(empty(202))
        }
        "os-force_delete" => {
            if !ctx.is_admin {
                return Err(ApiError::forbidden(
                    SVC,
                    "Policy doesn't allow volume_extension:volume_admin_actions:force_delete to be performed.",
                ));
            }
            st.volume.volumes.get_mut(&id).expect("visible").status = "deleting".into();
            st.schedule(due, Transition::VolumeGone { id });
            Ok(empty(202))
        }
        "revert" => {
            let sid = arg
                .get("snapshot_id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Invalid input for field/attribute snapshot_id."))?;
            let snap =
                st.volume.snapshots.get(sid).filter(|s| s.volume_id == id).cloned().ok_or_else(
                    || {
                        ApiError::not_found(
                            SVC,
                            "SnapshotNotFound",
                            format!("Snapshot {sid} could not be found."),
                        )
                    },
                )?;
            if v.status != "available" {
                return Err(invalid_volume(format!(
                    "Cannot revert volume {id} to snapshot {sid}, volume status must be available."
                )));
            }
            let vol = st.volume.volumes.get_mut(&id).expect("visible");
            vol.data = snap.data;
            vol.status = "reverting".into();
            st.schedule(due, Transition::VolumeStatus { id, status: "available".into() });
            st.gc_blobs();
            Ok(empty(202))
        }
        "os-volume_upload_image" => {
            let force = arg.get("force").is_some_and(|f| {
                f.as_bool() == Some(true) || f.as_str().is_some_and(crate::http::is_true)
            });
            if v.status != "available" && !(v.status == "in-use" && force) {
                return Err(invalid_volume(format!(
                    "Volume {id} status must be available or in-use, but current status is: {}.",
                    v.status
                )));
            }
            let image_name = arg
                .get("image_name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Invalid input for field/attribute image_name."))?
                .to_string();
            let disk = arg.get("disk_format").and_then(Value::as_str).unwrap_or("raw").to_string();
            let container =
                arg.get("container_format").and_then(Value::as_str).unwrap_or("bare").to_string();
            let mut props = BTreeMap::new();
            if let Some(m) = &v.image_metadata {
                for (k, val) in m {
                    if ![
                        "image_id",
                        "image_name",
                        "checksum",
                        "size",
                        "container_format",
                        "disk_format",
                        "min_disk",
                        "min_ram",
                    ]
                    .contains(&k.as_str())
                    {
                        props.insert(k.clone(), json!(val));
                    }
                }
            }
            let image_id = st.image_create_internal(
                &v.project_id,
                &image_name,
                &disk,
                &container,
                v.data.clone(),
                v.size,
                props,
            );
            if let Some(vis) = arg.get("visibility").and_then(Value::as_str)
                && let Some(img) = st.image.images.get_mut(&image_id)
            {
                img.visibility = vis.to_string();
            }
            let back = v.status.clone();
            st.volume.volumes.get_mut(&id).expect("visible").status = "uploading".into();
            st.schedule(due, Transition::VolumeStatus { id: id.clone(), status: back });
            let ty = st.volume.types.get(&v.volume_type_id).cloned();
            Ok(json_resp(
                202,
                json!({"os-volume_upload_image": {
                    "id": id, "updated_at": fmt::cinder(&Utc::now()), "status": "uploading",
                    "display_description": v.description, "size": v.size,
                    "volume_type": ty.map(|t| json!({"id": t.id, "name": t.name, "description": t.description, "is_public": t.is_public, "extra_specs": t.extra_specs})),
                    "image_id": image_id, "container_format": container, "disk_format": disk,
                    "image_name": image_name,
                }}),
            ))
        }
        other => Err(bad(format!("Invalid input received: There is no such action: {other}"))),
    }
}

fn attachment_view(
    v: &crate::model::volume::Volume,
    a: &crate::model::volume::VolumeAttachment,
) -> Value {
    json!({
        "id": a.attachment_id, "volume_id": v.id, "instance": a.server_id,
        "status": if v.status == "attaching" { "attaching" } else { "attached" },
        "attach_mode": "rw", "attached_at": fmt::cinder(&a.attached_at), "detached_at": null,
        "connection_info": {"driver_volume_type": "fake"},
    })
}

pub async fn attachment_list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    if !ctx.mv.ge(3, 27) {
        return Err(ApiError::not_found(
            SVC,
            "VersionNotFoundForAPIMethod",
            "API version 3.0 is not supported on this method.",
        ));
    }
    let st = pod.read();
    let list: Vec<Value> = st
        .volume
        .volumes
        .values()
        .filter(|v| ctx.is_admin || ctx.owns(&v.project_id))
        .filter(|v| q.get("volume_id").is_none_or(|x| v.id == x))
        .flat_map(|v| v.attachments.iter().map(move |a| (v, a)))
        .filter(|(_, a)| q.get("instance_id").is_none_or(|x| a.server_id == x))
        .map(|(v, a)| attachment_view(v, a))
        .collect();
    Ok(json_resp(200, json!({"attachments": list})))
}

pub async fn attachment_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult {
    let st = pod.read();
    let found = st
        .volume
        .volumes
        .values()
        .filter(|v| ctx.is_admin || ctx.owns(&v.project_id))
        .flat_map(|v| v.attachments.iter().map(move |a| (v, a)))
        .find(|(_, a)| a.attachment_id == id);
    match found {
        Some((v, a)) => Ok(json_resp(200, json!({"attachment": attachment_view(v, a)}))),
        None => Err(ApiError::not_found(
            SVC,
            "VolumeAttachmentNotFound",
            format!("Volume attachment {id} could not be found."),
        )),
    }
}
