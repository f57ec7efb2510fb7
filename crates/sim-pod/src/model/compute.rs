//! Nova's data: flavors, keypairs, servers and server groups.
//!
//! A server stores Nova's three state fields (`vm_state`, `task_state`, `power_state`) and
//! derives the API `status` from them the way Nova's `common.status_from_state` does, so
//! intermediate states (REBOOT, RESIZE, deleting with status ACTIVE) look like the real ones.
//! The flavor is copied into the server at boot, as Nova embeds it in the instance.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blob::BlobKey;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub ram: u64,
    pub vcpus: u64,
    pub disk: u64,
    pub ephemeral: u64,
    pub swap: u64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
    /// Projects given access to a private flavor.
    #[serde(default)]
    pub access: Vec<String>,
}

impl Flavor {
    pub fn seed(id: &str, name: &str, ram: u64, disk: u64, vcpus: u64) -> Self {
        Flavor {
            id: id.into(),
            name: name.into(),
            ram,
            vcpus,
            disk,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::new(),
            access: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Keypair {
    pub id: u64,
    pub name: String,
    pub user_id: String,
    pub public_key: String,
    pub fingerprint: String,
    pub key_type: String,
    pub created_at: DateTime<Utc>,
}

/// A volume attached to a server (Nova's block device mapping).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bdm {
    pub volume_id: String,
    pub device: String,
    pub delete_on_termination: bool,
    pub attachment_id: String,
    pub bdm_uuid: String,
    pub tag: Option<String>,
    pub boot_index: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub vm_state: String,
    pub task_state: Option<String>,
    pub power_state: u8,
    pub flavor: Flavor,
    pub old_flavor: Option<Flavor>,
    pub image_id: Option<String>,
    pub host: String,
    pub availability_zone: String,
    pub pinned_az: Option<String>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub launched_at: Option<DateTime<Utc>>,
    /// Ports in attach order.
    pub ports: Vec<String>,
    /// Ports Nova created for this server (deleted with it); others are only unbound.
    pub owned_ports: Vec<String>,
    pub volumes: Vec<Bdm>,
    pub security_groups: Vec<String>,
    pub admin_pass: String,
    pub description: Option<String>,
    pub locked: bool,
    pub locked_reason: Option<String>,
    pub tags: Vec<String>,
    pub config_drive: bool,
    pub hostname: String,
    pub access_ipv4: String,
    pub access_ipv6: String,
    pub reservation_id: String,
    pub launch_index: u64,
    /// Root disk content for an image-backed server (the image's bytes).
    pub root_disk: Option<BlobKey>,
    pub fault: Option<Value>,
}

/// Nova's power states.
pub mod power {
    pub const NOSTATE: u8 = 0;
    pub const RUNNING: u8 = 1;
    pub const PAUSED: u8 = 3;
    pub const SHUTDOWN: u8 = 4;
    pub const SUSPENDED: u8 = 7;
}

impl Server {
    /// The API status derived from vm_state and task_state.
    pub fn status(&self) -> &'static str {
        let task = self.task_state.as_deref();
        match self.vm_state.as_str() {
            "building" => "BUILD",
            "active" => match task {
                Some("rebooting") | Some("reboot_pending") | Some("reboot_started") => "REBOOT",
                Some("rebooting_hard")
                | Some("reboot_pending_hard")
                | Some("reboot_started_hard") => "HARD_REBOOT",
                Some(t) if t.starts_with("resize") => "RESIZE",
                Some("rebuilding") => "REBUILD",
                _ => "ACTIVE",
            },
            "stopped" => match task {
                Some(t) if t.starts_with("resize") => "RESIZE",
                _ => "SHUTOFF",
            },
            "resized" => match task {
                Some("resize_reverting") => "REVERT_RESIZE",
                _ => "VERIFY_RESIZE",
            },
            "paused" => "PAUSED",
            "suspended" => "SUSPENDED",
            "deleted" => "DELETED",
            "error" => "ERROR",
            "shelved" => "SHELVED",
            "shelved_offloaded" => "SHELVED_OFFLOADED",
            _ => "UNKNOWN",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub policy: String,
    pub rules: BTreeMap<String, Value>,
    pub members: Vec<String>,
    pub project_id: String,
    pub user_id: String,
    /// Creation order (lists are oldest first).
    #[serde(default)]
    pub seq: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Compute {
    pub flavors: BTreeMap<String, Flavor>,
    /// Keyed by `<user id>/<name>` (see [`keypair_key`]).
    pub keypairs: BTreeMap<String, Keypair>,
    pub servers: BTreeMap<String, Server>,
    pub server_groups: BTreeMap<String, ServerGroup>,
    pub next_keypair_id: u64,
}

impl Compute {
    pub fn seed() -> Self {
        let mut c = Compute::default();
        for f in [
            Flavor::seed("1", "m1.tiny", 512, 1, 1),
            Flavor::seed("2", "m1.small", 2048, 20, 1),
            Flavor::seed("3", "m1.medium", 4096, 40, 2),
            Flavor::seed("4", "m1.large", 8192, 80, 4),
        ] {
            c.flavors.insert(f.id.clone(), f);
        }
        c
    }
}

/// The key of a user's keypair in [`Compute::keypairs`].
pub fn keypair_key(user_id: &str, name: &str) -> String {
    format!("{user_id}/{name}")
}
