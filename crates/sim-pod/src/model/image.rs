//! Glance's data: images with their properties and (once uploaded) their bytes.
//!
//! Glance stores user properties beside the core ones at the top level of an image; we keep
//! them in one map and merge them into the view, so JSON-patch on `/foo` works the same for
//! core and custom properties.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blob::BlobKey;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub seq: u64,
    pub name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: String,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub size: Option<u64>,
    pub checksum: Option<String>,
    pub os_hash_value: Option<String>,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, Value>,
    /// Projects the image is shared with (visibility `shared`), with the member status.
    pub members: BTreeMap<String, String>,
    pub data: Option<BlobKey>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Images {
    pub images: BTreeMap<String, Image>,
}
