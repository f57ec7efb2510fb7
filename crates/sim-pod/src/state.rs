//! The whole state of one simulated region and its pending asynchronous transitions.
//!
//! One `State` per pod behind one mutex: every API call is a short critical section, so
//! cross-service operations (Nova creating a Neutron port, Cinder reading Glance bytes) are
//! atomic without any locking protocol. Asynchronous behaviour is a queue of [`Pending`]
//! transitions with due times; they are applied lazily, when the next request locks the
//! state ([`State::tick`]), so an idle pod costs no timers or tasks, and in explicit mode only
//! when a test asks ([`State::advance_all`]). The struct is serde-serializable as a whole: that
//! is the state file.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::blob::BlobStore;
use crate::model::compute::Compute;
use crate::model::identity::Identity;
use crate::model::image::Images;
use crate::model::network::Networking;
use crate::model::volume::Volumes;

/// A state change that happens later, as a real service's worker would make it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transition {
    /// Clear the task state and settle vm/power state (BUILD → ACTIVE, reboot done, ...).
    ServerSettle {
        id: String,
        vm_state: String,
        power_state: u8,
    },
    /// The server is gone: ports released, volumes detached.
    ServerGone {
        id: String,
    },
    /// A volume or snapshot or backup reaches a stable status.
    VolumeStatus {
        id: String,
        status: String,
    },
    VolumeGone {
        id: String,
    },
    SnapshotStatus {
        id: String,
        status: String,
    },
    SnapshotGone {
        id: String,
    },
    BackupStatus {
        id: String,
        status: String,
    },
    BackupGone {
        id: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    pub due: DateTime<Utc>,
    pub transition: Transition,
}

/// Everything a pod knows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub identity: Identity,
    pub compute: Compute,
    pub volume: Volumes,
    pub network: Networking,
    pub image: Images,
    pub blobs: BlobStore,
    pub pending: Vec<Pending>,
    /// Creation counter: ties in `created_at` are broken by it so lists keep creation order.
    pub seq: u64,
    /// Round-robin cursor for host placement.
    pub next_host: usize,
}

impl State {
    /// A fresh region.
    pub fn new(password: &str, seed: bool) -> Self {
        let mut st = State {
            identity: Identity::bootstrap(password),
            network: Networking { next_vni: 1000, ..Default::default() },
            ..Default::default()
        };
        if seed {
            st.compute = Compute::seed();
            st.volume = Volumes::seed();
        }
        st
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Queue a transition due at `due`.
    pub fn schedule(&mut self, due: DateTime<Utc>, transition: Transition) {
        self.pending.push(Pending { due, transition });
    }

    /// Apply every transition due at `now`. Returns whether anything changed.
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        if !self.pending.iter().any(|p| p.due <= now) {
            return false;
        }
        let (due, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.due <= now);
        self.pending = rest;
        let mut due = due;
        due.sort_by_key(|p| p.due);
        for p in due {
            self.apply(p.transition);
        }
        true
    }

    /// Apply every pending transition regardless of its due time (explicit mode).
    pub fn advance_all(&mut self) -> usize {
        let mut n = 0;
        // Applying one transition may queue another (e.g. a delete after a detach).
        while !self.pending.is_empty() {
            let mut batch = std::mem::take(&mut self.pending);
            batch.sort_by_key(|p| p.due);
            n += batch.len();
            for p in batch {
                self.apply(p.transition);
            }
        }
        n
    }

    fn apply(&mut self, t: Transition) {
        match t {
            Transition::ServerSettle { id, vm_state, power_state } => {
                self.server_settle(&id, &vm_state, power_state)
            }
            Transition::ServerGone { id } => self.server_gone(&id),
            Transition::VolumeStatus { id, status } => self.volume_settle(&id, &status),
            Transition::VolumeGone { id } => self.volume_gone(&id),
            Transition::SnapshotStatus { id, status } => {
                if let Some(s) = self.volume.snapshots.get_mut(&id) {
                    s.status = status;
                    s.updated_at = Some(Utc::now());
                }
            }
            Transition::SnapshotGone { id } => {
                self.volume.snapshots.remove(&id);
                self.gc_blobs();
            }
            Transition::BackupStatus { id, status } => self.backup_settle(&id, &status),
            Transition::BackupGone { id } => {
                self.volume.backups.remove(&id);
                self.gc_blobs();
            }
        }
    }

    /// Drop bytes nothing refers to any more.
    pub fn gc_blobs(&mut self) {
        if self.blobs.is_empty() {
            return;
        }
        let mut used: HashSet<&str> = HashSet::new();
        used.extend(self.image.images.values().filter_map(|i| i.data.as_deref()));
        used.extend(self.volume.volumes.values().filter_map(|v| v.data.as_deref()));
        used.extend(self.volume.snapshots.values().filter_map(|v| v.data.as_deref()));
        used.extend(self.volume.backups.values().filter_map(|v| v.data.as_deref()));
        used.extend(self.compute.servers.values().filter_map(|v| v.root_disk.as_deref()));
        let mut blobs = std::mem::take(&mut self.blobs);
        blobs.retain(&used);
        self.blobs = blobs;
    }
}

/// Time formats of the services.
pub mod fmt {
    use chrono::{DateTime, Utc};

    /// Nova, Neutron and Glance: `2026-11-25T10:00:00Z`.
    pub fn iso(t: &DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
    /// Cinder: `2026-11-25T10:00:00.000000`.
    pub fn cinder(t: &DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
    /// Keystone: `2026-11-25T10:00:00.000000Z`.
    pub fn keystone(t: &DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}
