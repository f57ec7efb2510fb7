//! What a new server boots from and which volumes it gets at creation
//! (Nova's `block_device_mapping_v2`), across pods.
//!
//! Volumes live in pods, so a server with volumes goes to their pod, and
//! all of them must be in one pod. Each mapping reaches the pod with the
//! pod's IDs. A mapping that asks Nova to MAKE a volume (from an image, a
//! snapshot, or blank) is turned into one for an existing volume that the
//! gateway makes first, in the chosen pod, with a top ID minted at once:
//! that volume is then a top volume like any other (listed, attached,
//! routed, named after its top ID in the pod so a retry finds it), instead
//! of a pod object the top would not know. The image it is made from is
//! copied into the pod first, as for an image boot.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_jobs::StepError;
use tricircle_pod_client::{PodError, PodRequest, ServiceType};
use tricircle_store::Pod;

use crate::App;
use crate::pod_sessions::pod_error;
use crate::volumes::create::VolumeCreate;

/// One mapping as the create saga keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootDevice {
    /// The client's mapping; sent to the pod with its IDs made the pod's.
    pub mapping: Map<String, Value>,
    pub kind: DeviceKind,
    /// The pod's ID of the volume or image, once known.
    #[serde(default)]
    pub bottom: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceKind {
    /// An existing top volume.
    Volume { volume_id: String },
    /// A volume the gateway makes in the pod before the boot.
    NewVolume {
        volume_id: String,
        size: i64,
        image_id: Option<String>,
        snapshot_id: Option<String>,
    },
    /// An image on the server's local disk (an image boot).
    LocalImage { image_id: String },
    /// An ephemeral or swap disk on the host: passed on as it is.
    Local,
}

impl BootDevice {
    /// The top volume this mapping attaches, if any.
    pub fn volume_id(&self) -> Option<&str> {
        match &self.kind {
            DeviceKind::Volume { volume_id } | DeviceKind::NewVolume { volume_id, .. } => {
                Some(volume_id)
            }
            _ => None,
        }
    }

    pub fn is_boot(&self) -> bool {
        boot_index(&self.mapping) == Some(0)
    }
}

fn bdm_invalid(why: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Block Device Mapping is Invalid: {why}"))
}

fn boot_index(m: &Map<String, Value>) -> Option<i64> {
    match m.get("boot_index") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn string_field(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}. It must be a string."
        ))),
    }
}

fn size_field(m: &Map<String, Value>) -> Result<Option<i64>> {
    match m.get("volume_size") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input for field/attribute volume_size. Value: {v}. It must be an integer of at least 1."
                ))
            }),
    }
}

/// The pods of a server's volumes, with how to name one in a message.
pub(crate) struct DataPlacement {
    pub pod: Pod,
    pub what: String,
}

impl App {
    /// Check the client's mappings and make them [`BootDevice`]s; returns
    /// them with the pod their volumes and snapshots tie the server to.
    pub(crate) async fn boot_devices(
        &self,
        ctx: &RequestContext,
        raw: &[Value],
        has_image_ref: bool,
    ) -> Result<(Vec<BootDevice>, Option<DataPlacement>)> {
        let mut devices = Vec::new();
        let mut placement: Option<DataPlacement> = None;
        let mut tie = |pod: Pod, what: String| -> Result<()> {
            match &placement {
                Some(p) if p.pod.pod_id != pod.pod_id => Err(Error::conflict(format!(
                    "{} is in region {} (availability zone {}) but {what} is in region {} (availability zone {}); a server's volumes must all be in one region.",
                    p.what, p.pod.region_name, p.pod.az_name, pod.region_name, pod.az_name
                ))),
                Some(_) => Ok(()),
                None => {
                    placement = Some(DataPlacement { pod, what });
                    Ok(())
                }
            }
        };
        for item in raw {
            let m = item.as_object().cloned().ok_or_else(|| {
                Error::bad_request(
                    "Invalid input for field/attribute block_device_mapping_v2: each mapping must be an object.",
                )
            })?;
            let source = string_field(&m, "source_type")?.unwrap_or_default();
            let dest = string_field(&m, "destination_type")?;
            let uuid = string_field(&m, "uuid")?.filter(|u| !u.is_empty());
            if string_field(&m, "volume_type")?.is_some() {
                return Err(Error::bad_request(
                    "volume_type in a block device mapping is not supported by this cloud yet: create the volume with its type first and boot from it.",
                ));
            }
            let to_volume = match (source.as_str(), dest.as_deref()) {
                ("volume" | "snapshot", None | Some("volume")) => true,
                ("image" | "blank", Some("volume")) => true,
                ("image" | "blank", None | Some("local")) => false,
                ("volume" | "snapshot", Some(d)) => {
                    return Err(bdm_invalid(format!(
                        "a {source} can only be mapped to a volume, not to {d}."
                    )));
                }
                _ => {
                    return Err(Error::bad_request(format!(
                        "Invalid input for field/attribute source_type. Value: {}. It must be one of volume, image, snapshot, blank.",
                        tricircle_common::ids::truncate_for_message(&source)
                    )));
                }
            };
            let need_uuid = || {
                uuid.clone().ok_or_else(|| {
                    bdm_invalid(format!("a mapping with source_type {source} needs a uuid."))
                })
            };
            let kind = match (source.as_str(), to_volume) {
                ("volume", _) => {
                    let id = need_uuid()?;
                    let (_, pod) = self.placed(ctx, &id, "volume").await?.ok_or_else(|| {
                        bdm_invalid(format!(
                            "failed to get volume {}.",
                            tricircle_common::ids::truncate_for_message(&id)
                        ))
                    })?;
                    tie(pod, format!("volume {id}"))?;
                    DeviceKind::Volume { volume_id: id }
                }
                ("snapshot", _) => {
                    let id = need_uuid()?;
                    let (row, pod) = self.placed(ctx, &id, "snapshot").await?.ok_or_else(|| {
                        bdm_invalid(format!(
                            "failed to get snapshot {}.",
                            tricircle_common::ids::truncate_for_message(&id)
                        ))
                    })?;
                    tie(pod, format!("snapshot {id}"))?;
                    let size = match size_field(&m)? {
                        Some(n) => n,
                        None => self.snapshot_size(&row).await?.ok_or_else(|| {
                            bdm_invalid(format!(
                                "give a volume_size for the volume made from snapshot {id}."
                            ))
                        })?,
                    };
                    DeviceKind::NewVolume {
                        volume_id: uuid::Uuid::new_v4().to_string(),
                        size,
                        image_id: None,
                        snapshot_id: Some(id),
                    }
                }
                ("image", true) => {
                    let id = need_uuid()?;
                    self.image_get(ctx, &id).await.map_err(|_| {
                        Error::bad_request(format!(
                            "Image {} could not be found.",
                            tricircle_common::ids::truncate_for_message(&id)
                        ))
                    })?;
                    let size = size_field(&m)?.ok_or_else(|| {
                        Error::bad_request("Images with destination_type 'volume' need to have a non-zero size specified")
                    })?;
                    DeviceKind::NewVolume {
                        volume_id: uuid::Uuid::new_v4().to_string(),
                        size,
                        image_id: Some(id),
                        snapshot_id: None,
                    }
                }
                ("image", false) => {
                    let id = need_uuid()?;
                    self.image_get(ctx, &id).await.map_err(|_| {
                        Error::bad_request(format!(
                            "Image {} could not be found.",
                            tricircle_common::ids::truncate_for_message(&id)
                        ))
                    })?;
                    DeviceKind::LocalImage { image_id: id }
                }
                (_, true) => {
                    let size = size_field(&m)?.ok_or_else(|| {
                        bdm_invalid("a blank volume needs a volume_size of at least 1.")
                    })?;
                    DeviceKind::NewVolume {
                        volume_id: uuid::Uuid::new_v4().to_string(),
                        size,
                        image_id: None,
                        snapshot_id: None,
                    }
                }
                (_, false) => DeviceKind::Local,
            };
            devices.push(BootDevice { mapping: m, kind, bottom: None });
        }
        let boots = devices.iter().filter(|d| d.is_boot()).count();
        if boots > 1 || (boots == 0 && !has_image_ref && !devices.is_empty()) {
            return Err(bdm_invalid(
                "Boot sequence for the instance and image/block device mapping combination is not valid.",
            ));
        }
        Ok((devices, placement))
    }
}

impl App {
    /// A snapshot's size: its cached view's, else its volume's.
    async fn snapshot_size(&self, row: &tricircle_store::ResourceRow) -> Result<Option<i64>> {
        let facts = crate::volumes::VolumeFacts::of(row);
        if let Some(n) = facts.view["size"].as_i64() {
            return Ok(Some(n));
        }
        let Some(volume) = facts.volume_id else { return Ok(None) };
        Ok(self
            .store
            .resource_get(&volume)
            .await?
            .and_then(|v| crate::volumes::VolumeFacts::of(&v).view["size"].as_i64()))
    }
}

/// The mappings as the pod gets them: every volume an existing one with
/// the pod's ID, images with the pod's image ID.
pub(crate) fn bottom_mappings(devices: &[BootDevice]) -> Vec<Value> {
    devices
        .iter()
        .map(|d| {
            let mut m = d.mapping.clone();
            match &d.kind {
                DeviceKind::Volume { .. } | DeviceKind::NewVolume { .. } => {
                    m.insert("source_type".into(), json!("volume"));
                    m.insert("destination_type".into(), json!("volume"));
                    m.insert("uuid".into(), json!(d.bottom));
                    m.remove("volume_size");
                }
                DeviceKind::LocalImage { .. } => {
                    m.insert("uuid".into(), json!(d.bottom));
                }
                DeviceKind::Local => {}
            }
            Value::Object(m)
        })
        .collect()
}

/// The saga that makes a [`DeviceKind::NewVolume`], run step by step
/// inside the server's own saga.
fn volume_saga(d: &BootDevice, project_id: &str, user_id: &str, pod: &Pod) -> Option<VolumeCreate> {
    let DeviceKind::NewVolume { volume_id, size, image_id, snapshot_id } = &d.kind else {
        return None;
    };
    Some(VolumeCreate {
        top_id: volume_id.clone(),
        project_id: project_id.into(),
        user_id: user_id.into(),
        pod_id: pod.pod_id,
        // Nova names the volumes it makes for a boot with an empty name.
        name: String::new(),
        size: *size,
        description: None,
        image_id: image_id.clone(),
        snapshot_id: snapshot_id.clone(),
        metadata: Map::new(),
        bottom_image: None,
        bottom_snapshot: None,
        bottom_id: d.bottom.clone(),
    })
}

/// How long a boot waits for a volume it made (or is undoing) to settle.
const SETTLE_DEADLINE: Duration = Duration::from_secs(120);

impl App {
    /// The `volumes` step: every mapping gets the pod's ID of what it
    /// names; volumes to make are made and waited for.
    pub(crate) async fn prepare_boot_devices(
        &self,
        devices: &mut [BootDevice],
        pod: &Pod,
        project_id: &str,
        user_id: &str,
    ) -> Result<(), StepError> {
        let retry = |e: &dyn std::fmt::Display| StepError::retry(e.to_string());
        for d in devices.iter_mut() {
            if d.bottom.is_some() {
                continue;
            }
            d.bottom = match d.kind.clone() {
                DeviceKind::Volume { volume_id } => Some(
                    self.bottom_of(&volume_id, "volume", pod).await.map_err(|e| retry(&e))?.ok_or_else(
                        || StepError::fatal(format!("Conflict: volume {volume_id} is still being created or is not in region {}.", pod.region_name)),
                    )?,
                ),
                DeviceKind::LocalImage { image_id } => {
                    Some(self.ensure_image_in_pod(pod, &image_id, project_id).await?)
                }
                DeviceKind::NewVolume { volume_id, image_id, .. } => {
                    let mut saga = volume_saga(d, project_id, user_id, pod)
                        .unwrap_or_else(|| unreachable!("a new volume"));
                    for step in 0..4 {
                        saga.step(self, step).await?;
                    }
                    let bottom = saga.bottom_id.clone().unwrap_or_default();
                    let what = match image_id {
                        Some(i) => format!("from image {i}"),
                        None => "for it".into(),
                    };
                    self.wait_volume(pod, project_id, &bottom, &["available"], &volume_id)
                        .await?
                        .ok_or_else(|| {
                            StepError::fatal(format!(
                                "Region {} lost the boot volume {volume_id} it was making {what}.",
                                pod.region_name
                            ))
                        })?;
                    let blank = saga.image_id.is_none() && saga.snapshot_id.is_none();
                    if d.is_boot() && blank {
                        // Nova boots from a blank volume; Cinder makes it
                        // unbootable, so say it is bootable as Nova would.
                        self.set_bootable(pod, project_id, &bottom).await?;
                    }
                    Some(bottom)
                }
                DeviceKind::Local => None,
            };
        }
        Ok(())
    }

    /// Undo of the `volumes` step: the volumes made for this boot go (once
    /// the pod has let go of them); existing volumes and images stay.
    pub(crate) async fn unprepare_boot_devices(
        &self,
        devices: &mut [BootDevice],
        pod: &Pod,
        project_id: &str,
        user_id: &str,
    ) -> Result<(), StepError> {
        for d in devices.iter_mut().rev() {
            let Some(mut saga) = volume_saga(d, project_id, user_id, pod) else { continue };
            if let Some(b) = &d.bottom {
                // A server being deleted still holds it: wait until it is free.
                let free =
                    self.wait_volume(pod, project_id, b, &["available", "error"], &saga.top_id);
                if free.await.is_err() {
                    return Err(StepError::retry(format!(
                        "volume {} in region {} is still attached",
                        saga.top_id, pod.region_name
                    )));
                }
            }
            for step in (0..4).rev() {
                saga.undo_step(self, step).await?;
            }
            d.bottom = None;
        }
        Ok(())
    }

    async fn set_bootable(
        &self,
        pod: &Pod,
        project_id: &str,
        bottom: &str,
    ) -> Result<(), StepError> {
        let session = self
            .pod_project_session(pod, project_id)
            .await
            .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
        let req = PodRequest::new(
            ServiceType::BlockStorage,
            reqwest::Method::POST,
            format!("/volumes/{bottom}/action"),
        )
        .with_body(json!({"os-set_bootable": {"bootable": true}}));
        session.call(&req).await.map(|_| ()).map_err(|e| StepError {
            retryable: e.is_retryable(),
            message: pod_error(pod, e).to_string(),
        })
    }

    /// Poll a pod's volume until its status is one of `want` (Some), it is
    /// gone (None), it failed, or the deadline passed.
    async fn wait_volume(
        &self,
        pod: &Pod,
        project_id: &str,
        bottom: &str,
        want: &[&str],
        top_id: &str,
    ) -> Result<Option<String>, StepError> {
        let session = self
            .pod_project_session(pod, project_id)
            .await
            .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let req = PodRequest::get(ServiceType::BlockStorage, format!("/volumes/{bottom}"));
            let status = match session.call(&req).await {
                Ok(r) => {
                    let v: Value =
                        r.json().map_err(|e| StepError::retry(pod_error(pod, e).to_string()))?;
                    v["volume"]["status"].as_str().unwrap_or_default().to_string()
                }
                Err(PodError::Service { status: 404, .. }) => return Ok(None),
                Err(e) => {
                    return Err(StepError {
                        retryable: e.is_retryable(),
                        message: pod_error(pod, e).to_string(),
                    });
                }
            };
            if want.contains(&status.as_str()) {
                return Ok(Some(status));
            }
            if status.starts_with("error") {
                return Err(StepError::fatal(format!(
                    "Region {} could not make volume {top_id}: its status is {status}.",
                    pod.region_name
                )));
            }
            if started.elapsed() > SETTLE_DEADLINE {
                return Err(StepError::retry(format!(
                    "volume {top_id} in region {} is still {status}",
                    pod.region_name
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Record in the cache what attaching (or releasing) at boot did to the
    /// server's volumes, until the next read refreshes it from the pod.
    pub(crate) async fn mark_boot_volumes(
        &self,
        devices: &[BootDevice],
        status: &str,
    ) -> Result<(), StepError> {
        for id in devices.iter().filter_map(BootDevice::volume_id) {
            let row =
                self.store.resource_get(id).await.map_err(|e| StepError::retry(e.to_string()))?;
            if let Some(row) = row {
                let mut facts = crate::volumes::VolumeFacts::of(&row);
                if let Value::Object(view) = &mut facts.view {
                    view.insert("status".into(), json!(status));
                }
                let summary = serde_json::to_string(&facts).unwrap_or_else(|_| row.summary.clone());
                self.store
                    .resource_refresh(&row.id, &row.name, status, &summary)
                    .await
                    .map_err(|e| StepError::retry(e.to_string()))?;
            }
        }
        Ok(())
    }
}
