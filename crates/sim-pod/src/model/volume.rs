//! Cinder's data: volumes, snapshots, backups and volume types.
//!
//! A volume's bytes are a [`BlobKey`] or nothing (an all-zero disk of its size): a volume made
//! from an image, snapshot or backup shares the source's content instead of copying it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobKey;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeAttachment {
    pub attachment_id: String,
    pub server_id: String,
    pub device: String,
    pub host: String,
    pub attached_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub seq: u64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub size: u64,
    pub status: String,
    pub volume_type_id: String,
    pub availability_zone: String,
    pub bootable: bool,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub backup_id: Option<String>,
    /// Glance properties of the image this volume was made from.
    pub image_metadata: Option<BTreeMap<String, String>>,
    pub metadata: BTreeMap<String, String>,
    pub attachments: Vec<VolumeAttachment>,
    pub multiattach: bool,
    pub host: String,
    pub data: Option<BlobKey>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub seq: u64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_id: String,
    pub size: u64,
    pub status: String,
    pub project_id: String,
    pub user_id: String,
    pub metadata: BTreeMap<String, String>,
    pub data: Option<BlobKey>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Backup {
    pub id: String,
    pub seq: u64,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    pub status: String,
    pub size: u64,
    pub availability_zone: String,
    pub container: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub metadata: BTreeMap<String, String>,
    pub is_incremental: bool,
    pub data: Option<BlobKey>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub data_timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Volumes {
    pub volumes: BTreeMap<String, Volume>,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub backups: BTreeMap<String, Backup>,
    pub types: BTreeMap<String, VolumeType>,
}

/// Cinder's built-in default type.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";

impl Volumes {
    pub fn seed() -> Self {
        let mut v = Volumes::default();
        let id = uuid::Uuid::new_v4().to_string();
        v.types.insert(
            id.clone(),
            VolumeType {
                id,
                name: DEFAULT_TYPE.into(),
                description: Some("Default Volume Type".into()),
                is_public: true,
                extra_specs: BTreeMap::new(),
            },
        );
        v
    }

    /// A type by id or name.
    pub fn find_type(&self, id_or_name: &str) -> Option<&VolumeType> {
        self.types.get(id_or_name).or_else(|| self.types.values().find(|t| t.name == id_or_name))
    }

    /// The default type, creating it if a state file lost it.
    pub fn default_type_id(&mut self) -> String {
        if let Some(t) = self.types.values().find(|t| t.name == DEFAULT_TYPE) {
            return t.id.clone();
        }
        let seeded = Volumes::seed();
        let (id, t) = seeded.types.into_iter().next().expect("seeded type");
        self.types.insert(id.clone(), t);
        id
    }
}
