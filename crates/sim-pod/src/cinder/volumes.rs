//! Volumes: create (blank, from image, snapshot, source volume or backup), list, show, update,
//! delete, metadata; and the volume side of attachments and asynchronous transitions.
//!
//! Source data is shared by key, never copied. A volume from an image must be at least the
//! image's size in GiB (rounded up), as Cinder checks.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{SVC, all_tenants, bad, invalid_volume, links, next_link, page, sort_spec, volume_nf};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, is_true, json_resp, parse_wrapped};
use crate::model::volume::{Volume, VolumeAttachment};
use crate::pod::Pod;
use crate::state::{State as PodState, Transition, fmt};

pub fn view(pod: &Pod, st: &PodState, ctx: &Ctx, v: &Volume) -> Value {
    let mv = ctx.mv;
    let ty = st.volume.types.get(&v.volume_type_id);
    let attachments: Vec<Value> = v
        .attachments
        .iter()
        .map(|a| {
            json!({"server_id": a.server_id, "attachment_id": a.attachment_id,
                   "attached_at": fmt::cinder(&a.attached_at),
                   // The attachment's host is admin-only, like the volume's.
                   "host_name": ctx.is_admin.then(|| a.host.clone()),
                   "volume_id": v.id, "device": a.device, "id": v.id})
        })
        .collect();
    let mut o = json!({
        "id": v.id, "name": v.name, "description": v.description, "size": v.size,
        "status": v.status, "availability_zone": v.availability_zone,
        "created_at": fmt::cinder(&v.created_at), "updated_at": v.updated_at.as_ref().map(fmt::cinder),
        "attachments": attachments, "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false, "multiattach": v.multiattach,
        "volume_type": ty.map(|t| t.name.clone()), "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid, "metadata": v.metadata,
        "links": links(pod, &v.project_id, &format!("volumes/{}", v.id)),
        "user_id": v.user_id, "replication_status": null, "consistencygroup_id": null,
        "os-vol-tenant-attr:tenant_id": v.project_id,
    });
    if let Some(m) = &v.image_metadata {
        o["volume_image_metadata"] = json!(m);
    }
    if ctx.is_admin {
        o["migration_status"] = Value::Null;
        o["os-vol-host-attr:host"] = json!(v.host);
        o["os-vol-mig-status-attr:migstat"] = Value::Null;
        o["os-vol-mig-status-attr:name_id"] = Value::Null;
    }
    if mv.ge(3, 13) {
        o["group_id"] = Value::Null;
    }
    if mv.ge(3, 21) && ctx.is_admin {
        o["provider_id"] = Value::Null;
    }
    if mv.ge(3, 48) {
        o["shared_targets"] = json!(false);
        o["service_uuid"] = json!("5bd3a2c4-2d8b-4f2a-9d3a-0c2b4c7e6a11");
    }
    if mv.ge(3, 61) && ctx.is_admin {
        o["cluster_name"] = Value::Null;
    }
    if mv.ge(3, 63) {
        o["volume_type_id"] = json!(v.volume_type_id);
    }
    if mv.ge(3, 65) {
        o["consumes_quota"] = json!(true);
    }
    o
}

/// The create and update answers: Cinder adds the host, migration and tenant attributes only
/// when it shows or lists volumes. A volume just created is not scheduled yet, so it has no
/// `service_uuid` either.
fn written_view(pod: &Pod, st: &PodState, ctx: &Ctx, v: &Volume, created: bool) -> Value {
    let mut o = view(pod, st, ctx, v);
    if let Some(m) = o.as_object_mut() {
        m.retain(|k, _| !k.starts_with("os-vol-"));
        if let Some(uuid) = m.get_mut("service_uuid").filter(|_| created) {
            *uuid = Value::Null;
        }
    }
    o
}

pub(crate) fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Volume> {
    st.volume
        .volumes
        .get(id)
        .filter(|v| ctx.is_admin || ctx.owns(&v.project_id))
        .ok_or_else(|| volume_nf(id))
}

fn sort_val(v: &Volume, k: &str) -> String {
    match k {
        "name" => v.name.clone().unwrap_or_default(),
        "size" => format!("{:020}", v.size),
        "status" => v.status.clone(),
        "id" => v.id.clone(),
        "updated_at" => v.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        _ => format!("{}{:020}", v.created_at.to_rfc3339(), v.seq),
    }
}

fn select<'a>(st: &'a PodState, ctx: &Ctx, q: &Query) -> ApiResult<(Vec<&'a Volume>, bool)> {
    let all = all_tenants(ctx, q);
    let mut items: Vec<&Volume> = st
        .volume
        .volumes
        .values()
        .filter(|v| {
            if all {
                q.get("project_id").is_none_or(|p| v.project_id == p)
            } else {
                ctx.owns(&v.project_id)
            }
        })
        .filter(|v| q.get("name").is_none_or(|n| v.name.as_deref() == Some(n)))
        .filter(|v| q.get("status").is_none_or(|s| v.status.eq_ignore_ascii_case(s)))
        .filter(|v| q.get("availability_zone").is_none_or(|a| v.availability_zone == a))
        .filter(|v| q.get("bootable").is_none_or(|b| v.bootable == is_true(b)))
        .collect();
    let spec = sort_spec(q);
    items.sort_by(|a, b| {
        for (k, desc) in &spec {
            let o = sort_val(a, k).cmp(&sort_val(b, k));
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let more = page(&mut items, q, |v| v.id.as_str())?;
    Ok((items, more))
}

async fn render(pod: Pod, ctx: Ctx, q: Query, detail: bool) -> ApiResult {
    let st = pod.read();
    let (items, more) = select(&st, &ctx, &q)?;
    let list: Vec<Value> = items
        .iter()
        .map(|v| {
            if detail {
                view(&pod, &st, &ctx, v)
            } else {
                json!({"id": v.id, "name": v.name, "links": links(&pod, &v.project_id, &format!("volumes/{}", v.id))})
            }
        })
        .collect();
    let mut body = json!({"volumes": list});
    if more && let Some(last) = items.last() {
        let coll = if detail { "volumes/detail" } else { "volumes" };
        body["volumes_links"] = next_link(&pod, &ctx.project_id, coll, &q, &last.id);
    }
    if ctx.mv.ge(3, 45) && q.flag("with_count") {
        body["count"] = json!(items.len());
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
    let v = visible(&st, &ctx, &id)?;
    Ok(json_resp(200, json!({"volume": view(&pod, &st, &ctx, v)})))
}

#[derive(Deserialize)]
struct CreateReq {
    size: Option<Value>,
    name: Option<String>,
    description: Option<String>,
    volume_type: Option<String>,
    availability_zone: Option<String>,
    snapshot_id: Option<String>,
    source_volid: Option<String>,
    #[serde(rename = "imageRef")]
    image_ref: Option<String>,
    backup_id: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    multiattach: bool,
}

fn gib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 30)
}

impl PodState {
    #[allow(clippy::too_many_arguments)]
    fn volume_insert(
        &mut self,
        ctx: &Ctx,
        az: &str,
        size: u64,
        name: Option<String>,
        type_id: String,
        status: &str,
        data: Option<String>,
    ) -> String {
        let now = Utc::now();
        let seq = self.next_seq();
        let v = Volume {
            id: uuid::Uuid::new_v4().to_string(),
            seq,
            name,
            description: None,
            project_id: ctx.project_id.clone(),
            user_id: ctx.user_id.clone(),
            size,
            status: status.into(),
            volume_type_id: type_id,
            availability_zone: az.into(),
            bootable: false,
            snapshot_id: None,
            source_volid: None,
            backup_id: None,
            image_metadata: None,
            metadata: BTreeMap::new(),
            attachments: Vec::new(),
            multiattach: false,
            host: format!("{az}@fake#fake"),
            data,
            created_at: now,
            updated_at: None,
        };
        let id = v.id.clone();
        self.volume.volumes.insert(id.clone(), v);
        id
    }

    fn image_metadata(&self, image_id: &str) -> Option<BTreeMap<String, String>> {
        let i = self.image.images.get(image_id)?;
        let mut m = BTreeMap::new();
        m.insert("image_id".into(), i.id.clone());
        m.insert("image_name".into(), i.name.clone().unwrap_or_default());
        m.insert("checksum".into(), i.checksum.clone().unwrap_or_default());
        m.insert("container_format".into(), i.container_format.clone().unwrap_or_default());
        m.insert("disk_format".into(), i.disk_format.clone().unwrap_or_default());
        m.insert("min_disk".into(), i.min_disk.to_string());
        m.insert("min_ram".into(), i.min_ram.to_string());
        m.insert("size".into(), i.size.unwrap_or(0).to_string());
        Some(m)
    }

    /// A boot volume made from an image by Nova (`source_type: image`, `destination_type: volume`).
    pub fn volume_from_image_for_boot(
        &mut self,
        ctx: &Ctx,
        image_id: &str,
        size: u64,
        vtype: Option<&str>,
        az: &str,
    ) -> ApiResult<String> {
        let img = self
            .image_visible(ctx, image_id)
            .cloned()
            .ok_or_else(|| bad(format!("Image {image_id} could not be found.")))?;
        if gib(img.size.unwrap_or(0)) > size {
            return Err(bad(format!(
                "Invalid input received: Size of specified image {} GB is larger than volume size {size} GB.",
                gib(img.size.unwrap_or(0))
            )));
        }
        let type_id = match vtype {
            Some(t) => self.volume.find_type(t).map(|t| t.id.clone()).ok_or_else(|| {
                ApiError::not_found(
                    SVC,
                    "VolumeTypeNotFound",
                    format!("Volume type with name {t} could not be found."),
                )
            })?,
            None => self.volume.default_type_id(),
        };
        let id = self.volume_insert(
            ctx,
            az,
            size,
            Some(String::new()),
            type_id,
            "available",
            img.data.clone(),
        );
        let meta = self.image_metadata(image_id);
        if let Some(v) = self.volume.volumes.get_mut(&id) {
            v.bootable = true;
            v.image_metadata = meta;
        }
        Ok(id)
    }

    /// A blank boot volume (`source_type: blank`).
    pub fn volume_blank_for_boot(&mut self, ctx: &Ctx, size: u64, az: &str) -> String {
        let t = self.volume.default_type_id();
        self.volume_insert(ctx, az, size, Some(String::new()), t, "available", None)
    }

    /// Attached at once (boot volumes): in-use with an attachment record.
    pub fn volume_attached(
        &mut self,
        vid: &str,
        server_id: &str,
        device: &str,
        host: &str,
    ) -> String {
        let attachment_id = uuid::Uuid::new_v4().to_string();
        if let Some(v) = self.volume.volumes.get_mut(vid) {
            v.attachments.push(VolumeAttachment {
                attachment_id: attachment_id.clone(),
                server_id: server_id.into(),
                device: device.into(),
                host: host.into(),
                attached_at: Utc::now(),
            });
            v.status = "in-use".into();
            v.updated_at = Some(Utc::now());
        }
        attachment_id
    }

    /// Nova's attach: `attaching` now, `in-use` when due.
    pub fn volume_attach_begin(
        &mut self,
        vid: &str,
        server_id: &str,
        device: &str,
        host: &str,
        due: DateTime<Utc>,
    ) -> String {
        let id = self.volume_attached(vid, server_id, device, host);
        if let Some(v) = self.volume.volumes.get_mut(vid) {
            v.status = "attaching".into();
        }
        self.schedule(due, Transition::VolumeStatus { id: vid.into(), status: "in-use".into() });
        id
    }

    /// Nova's detach: `detaching` now, `available` when due.
    pub fn volume_detach_begin(&mut self, vid: &str, server_id: &str, due: DateTime<Utc>) {
        if let Some(v) = self.volume.volumes.get_mut(vid) {
            v.attachments.retain(|a| a.server_id != server_id);
            v.status = if v.attachments.is_empty() { "detaching".into() } else { "in-use".into() };
            v.updated_at = Some(Utc::now());
            if v.attachments.is_empty() {
                self.schedule(
                    due,
                    Transition::VolumeStatus { id: vid.into(), status: "available".into() },
                );
            }
        }
    }

    /// Detached at once (server deleted).
    pub fn volume_detached(&mut self, vid: &str, server_id: &str) {
        if let Some(v) = self.volume.volumes.get_mut(vid) {
            v.attachments.retain(|a| a.server_id != server_id);
            if v.attachments.is_empty() {
                v.status = "available".into();
            }
            v.updated_at = Some(Utc::now());
        }
    }

    /// A transition reached its status (an attach that was undone meanwhile stays available).
    pub fn volume_settle(&mut self, id: &str, status: &str) {
        if let Some(v) = self.volume.volumes.get_mut(id) {
            if status == "in-use" && v.attachments.is_empty() {
                return;
            }
            if status == "available" && !v.attachments.is_empty() {
                v.status = "in-use".into();
            } else {
                v.status = status.into();
            }
            v.updated_at = Some(Utc::now());
        }
    }

    pub fn volume_gone(&mut self, id: &str) {
        self.volume.volumes.remove(id);
        self.gc_blobs();
    }
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let r: CreateReq = parse_wrapped(SVC, &body, "volume")?;
    let due = pod.due(pod.delays.volume_create);
    let mut st = pod.write();
    let az = match r.availability_zone.as_deref() {
        None | Some("") => pod.az.clone(),
        Some(a) if a == pod.az => a.to_string(),
        Some(a) => {
            return Err(bad(format!(
                "Invalid input received: Availability zone '{a}' is invalid."
            )));
        }
    };
    let type_id = match &r.volume_type {
        Some(t) => st.volume.find_type(t).map(|t| t.id.clone()).ok_or_else(|| {
            ApiError::not_found(
                SVC,
                "VolumeTypeNotFoundByName",
                format!("Volume type with name {t} could not be found."),
            )
        })?,
        None => st.volume.default_type_id(),
    };
    // Source data and minimum size.
    let (data, min_size, bootable) = if let Some(sid) = &r.snapshot_id {
        let s = st
            .volume
            .snapshots
            .get(sid)
            .filter(|s| ctx.is_admin || ctx.owns(&s.project_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    SVC,
                    "SnapshotNotFound",
                    format!("Snapshot {sid} could not be found."),
                )
            })?;
        if s.status != "available" {
            return Err(bad(
                "Invalid snapshot: Originating snapshot status must be one of 'available' values",
            ));
        }
        let src_bootable = st.volume.volumes.get(&s.volume_id).is_some_and(|v| v.bootable);
        (s.data.clone(), s.size, src_bootable)
    } else if let Some(vid) = &r.source_volid {
        let v = visible(&st, &ctx, vid)?;
        if v.status != "available" && v.status != "in-use" {
            return Err(invalid_volume(format!(
                "Volume {vid} status must be available or in-use, but current status is: {}.",
                v.status
            )));
        }
        (v.data.clone(), v.size, v.bootable)
    } else if let Some(iid) = &r.image_ref {
        let img = st
            .image_visible(&ctx, iid)
            .filter(|i| i.status == "active")
            .ok_or_else(|| bad("Invalid image identifier or unable to access requested image."))?;
        (img.data.clone(), gib(img.size.unwrap_or(0)).max(img.min_disk), true)
    } else if let Some(bid) = &r.backup_id {
        let b = st
            .volume
            .backups
            .get(bid)
            .filter(|b| ctx.is_admin || ctx.owns(&b.project_id))
            .ok_or_else(|| {
                ApiError::not_found(
                    SVC,
                    "BackupNotFound",
                    format!("Backup {bid} could not be found."),
                )
            })?;
        (b.data.clone(), b.size, false)
    } else {
        (None, 1, false)
    };
    let size = match &r.size {
        Some(v) => {
            let n = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).filter(|n| *n > 0).ok_or_else(|| {
                bad(format!("Invalid input received: Invalid input for field/attribute size. Value: {v}. {v} is not of type 'integer'"))
            })?;
            if n < min_size {
                return Err(bad(format!(
                    "Invalid input received: Volume size '{n}'GB cannot be smaller than the source size '{min_size}'GB."
                )));
            }
            n
        }
        None if r.snapshot_id.is_some() || r.source_volid.is_some() || r.backup_id.is_some() => {
            min_size
        }
        None => {
            return Err(bad(
                "Invalid input received: Invalid input for field/attribute volume. Value: size is a required property.",
            ));
        }
    };
    let id = st.volume_insert(&ctx, &az, size, r.name.clone(), type_id, "creating", data);
    let image_meta = r.image_ref.as_deref().and_then(|i| st.image_metadata(i));
    let v = st.volume.volumes.get_mut(&id).expect("inserted");
    v.description = r.description;
    v.snapshot_id = r.snapshot_id;
    v.source_volid = r.source_volid;
    v.backup_id = r.backup_id;
    v.metadata = r.metadata.unwrap_or_default();
    v.multiattach = r.multiattach;
    v.bootable = bootable;
    v.image_metadata = image_meta;
    st.schedule(due, Transition::VolumeStatus { id: id.clone(), status: "available".into() });
    let v = st.volume.volumes[&id].clone();
    Ok(json_resp(202, json!({"volume": written_view(&pod, &st, &ctx, &v, true)})))
}

#[derive(Deserialize)]
struct UpdateReq {
    name: Option<String>,
    description: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let r: UpdateReq = parse_wrapped(SVC, &body, "volume")?;
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    let v = st.volume.volumes.get_mut(&id).expect("visible");
    if let Some(n) = r.name {
        v.name = Some(n);
    }
    if let Some(d) = r.description {
        v.description = Some(d);
    }
    if let Some(m) = r.metadata {
        v.metadata = m;
    }
    v.updated_at = Some(Utc::now());
    let v = v.clone();
    Ok(json_resp(200, json!({"volume": written_view(&pod, &st, &ctx, &v, false)})))
}

const DELETABLE: &[&str] =
    &["available", "error", "error_restoring", "error_extending", "error_managing"];

pub async fn delete(
    State(pod): State<Pod>,
    ctx: Ctx,
    q: Query,
    Path(id): Path<String>,
) -> ApiResult {
    let due = pod.due(pod.delays.volume_create);
    let cascade = q.flag("cascade");
    let mut st = pod.write();
    let v = visible(&st, &ctx, &id)?;
    let has_snaps = st.volume.snapshots.values().any(|s| s.volume_id == id);
    if !DELETABLE.contains(&v.status.as_str())
        || !v.attachments.is_empty()
        || (has_snaps && !cascade)
    {
        return Err(invalid_volume(
            "Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
        ));
    }
    if cascade {
        let snaps: Vec<String> = st
            .volume
            .snapshots
            .values()
            .filter(|s| s.volume_id == id)
            .map(|s| s.id.clone())
            .collect();
        for s in snaps {
            if let Some(s) = st.volume.snapshots.get_mut(&s) {
                s.status = "deleting".into();
            }
            st.schedule(due, Transition::SnapshotGone { id: s });
        }
    }
    let v = st.volume.volumes.get_mut(&id).expect("visible");
    v.status = "deleting".into();
    v.updated_at = Some(Utc::now());
    st.schedule(due, Transition::VolumeGone { id });
    Ok(empty(202))
}

pub async fn metadata_list(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(json_resp(200, json!({"metadata": visible(&st, &ctx, &id)?.metadata})))
}

pub async fn metadata_update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let m: BTreeMap<String, String> = parse_wrapped(SVC, &body, "metadata")?;
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    let v = st.volume.volumes.get_mut(&id).expect("visible");
    v.metadata.extend(m);
    Ok(json_resp(200, json!({"metadata": v.metadata})))
}
