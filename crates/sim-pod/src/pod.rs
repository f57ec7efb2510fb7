//! The shared heart of one running sim pod: configuration, the locked state, fault rules and
//! the network switches (down, hang).
//!
//! Handlers get it as axum state (`State<Pod>`); the fault layer finds it in the request
//! extensions. Locking the state applies due transitions first, so every answer reflects the
//! time it is given at; a write lock wakes the persister when a state file is configured.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::config::{Delays, SimHost, SimMode};
use crate::faults::Faults;
use crate::state::State;

pub type Pod = Arc<PodInner>;

/// Switches the listener and the fault layer watch.
pub struct NetCtl {
    /// Listener closed, existing connections dropped.
    pub down: watch::Sender<bool>,
    /// OpenStack API requests are accepted but never answered.
    pub hang: watch::Sender<bool>,
}

pub struct PodInner {
    pub region: String,
    pub az: String,
    pub password: String,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    pub hosts: Vec<SimHost>,
    pub delays: Delays,
    pub mode: SimMode,
    pub seed: bool,
    pub faults: Faults,
    pub net: NetCtl,
    state: Mutex<State>,
    /// Signalled after a change when a state file is kept.
    pub dirty: Option<Notify>,
}

/// A locked state; notifies the persister when dropped if it may have changed.
pub struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    pod: &'a PodInner,
    changed: bool,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.changed = true;
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        if self.changed
            && let Some(n) = &self.pod.dirty
        {
            n.notify_one();
        }
    }
}

impl PodInner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        region: String,
        az: String,
        password: String,
        base_url: String,
        hosts: Vec<SimHost>,
        delays: Delays,
        mode: SimMode,
        seed: bool,
        state: State,
        persist: bool,
    ) -> Self {
        PodInner {
            region,
            az,
            password,
            base_url,
            hosts,
            delays,
            mode,
            seed,
            faults: Faults::default(),
            net: NetCtl { down: watch::Sender::new(false), hang: watch::Sender::new(false) },
            state: Mutex::new(state),
            dirty: persist.then(Notify::new),
        }
    }

    fn lock_raw(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock the state for reading (due transitions are applied first).
    pub fn read(&self) -> StateGuard<'_> {
        let mut guard = self.lock_raw();
        let changed = self.mode == SimMode::Auto && guard.tick(Utc::now());
        StateGuard { guard, pod: self, changed }
    }

    /// Lock the state for a change.
    pub fn write(&self) -> StateGuard<'_> {
        let mut g = self.read();
        g.changed = true;
        g
    }

    /// The due time of a transition that takes `delay`.
    pub fn due(&self, delay: Duration) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default()
    }

    /// `http://ADDR/identity/v3`.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.base_url)
    }

    /// Serialize the state (for the state file).
    pub fn snapshot_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&*self.lock_raw())
    }

    /// Replace the whole state (control API reset).
    pub fn replace_state(&self, st: State) {
        *self.write() = st;
    }

    /// The tunnel endpoint of a host of this pod.
    pub fn host_tunnel_ip(&self, host: &str) -> Option<std::net::Ipv4Addr> {
        self.hosts.iter().find(|h| h.name == host).map(|h| h.tunnel_ip)
    }
}
