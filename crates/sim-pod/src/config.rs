//! Configuration of one simulated region.
//!
//! Everything that makes two sim pods differ lives here, so that a test, `tricircle up` or a
//! benchmark can start many of them in one process with nothing but a value. Defaults are the
//! ones a standalone pod wants (realistic small delays, a few hosts, seeded flavors); tests
//! usually take [`SimPodConfig::for_tests`] (zero delays, port 0).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long asynchronous transitions take. Real services take seconds (a fake-driver Nova
/// about 7 s to ACTIVE); the defaults are shorter but still visible to a polling client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delays {
    /// Server BUILD → ACTIVE.
    pub server_build: Duration,
    /// Reboot, stop, start, resize and similar actions until the server settles.
    pub server_action: Duration,
    /// Server delete until the server is gone (404).
    pub server_delete: Duration,
    /// Volume creating → available (also volume delete and snapshot/backup creation).
    pub volume_create: Duration,
    /// Volume attaching → in-use and detaching → available.
    pub volume_attach: Duration,
    /// Backup creating → available and restoring → available.
    pub backup: Duration,
}

impl Delays {
    /// Every transition completes before the next request is answered.
    pub fn zero() -> Self {
        Delays {
            server_build: Duration::ZERO,
            server_action: Duration::ZERO,
            server_delete: Duration::ZERO,
            volume_create: Duration::ZERO,
            volume_attach: Duration::ZERO,
            backup: Duration::ZERO,
        }
    }
}

impl Default for Delays {
    fn default() -> Self {
        Delays {
            server_build: Duration::from_millis(1500),
            server_action: Duration::from_millis(500),
            server_delete: Duration::from_millis(500),
            volume_create: Duration::from_millis(500),
            volume_attach: Duration::from_millis(300),
            backup: Duration::from_millis(800),
        }
    }
}

/// Who drives asynchronous transitions (the omicron sim sled agent's distinction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMode {
    /// Transitions complete by themselves once their delay has passed.
    #[default]
    Auto,
    /// Transitions wait until the test calls `advance` (control API `POST /sim/advance`),
    /// which makes intermediate states deterministic.
    Explicit,
}

/// A simulated compute host: where servers run and where their ports are bound. Its tunnel
/// endpoint is what a remote pod's shadow port must point at for VXLAN to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimHost {
    pub name: String,
    pub tunnel_ip: Ipv4Addr,
}

/// One simulated region.
#[derive(Clone, Debug)]
pub struct SimPodConfig {
    /// Region name in the catalog (`RegionOne`, `Pod1`).
    pub region: String,
    /// Availability zone of Nova, Cinder and Neutron in this region.
    pub az: String,
    /// Password of the `admin` user (the `demo` user gets the same one).
    pub password: String,
    /// Address to listen on; port 0 picks a free port (see [`crate::SimPodHandle::addr`]).
    pub listen: SocketAddr,
    /// Base URL put into the catalog and links; default `http://<bound addr>`
    /// (an unspecified listen IP is advertised as 127.0.0.1).
    pub advertise_url: Option<String>,
    /// Where state is loaded from at start and saved to after changes and at shutdown.
    pub state_file: Option<PathBuf>,
    pub delays: Delays,
    pub mode: SimMode,
    /// Compute hosts; empty means two hosts with tunnel IPs derived from the region name.
    pub hosts: Vec<SimHost>,
    /// Seed devstack-like flavors (m1.tiny, m1.small, m1.medium, m1.large) and a default
    /// volume type in a fresh state.
    pub seed: bool,
    /// An extra listener serving only the `/sim` control API; it stays up while the pod is
    /// "down", so a remote harness can bring it back.
    pub control_listen: Option<SocketAddr>,
}

impl SimPodConfig {
    /// A standalone pod with default delays on `listen`.
    pub fn new(region: &str, az: &str, password: &str, listen: SocketAddr) -> Self {
        SimPodConfig {
            region: region.to_string(),
            az: az.to_string(),
            password: password.to_string(),
            listen,
            advertise_url: None,
            state_file: None,
            delays: Delays::default(),
            mode: SimMode::Auto,
            hosts: Vec::new(),
            seed: true,
            control_listen: None,
        }
    }

    /// A pod on 127.0.0.1 with a free port and zero delays.
    pub fn for_tests(region: &str) -> Self {
        let mut cfg = Self::new(region, "nova", "secret", SocketAddr::from(([127, 0, 0, 1], 0)));
        cfg.delays = Delays::zero();
        cfg
    }

    /// The configured hosts, or two default ones.
    pub(crate) fn effective_hosts(&self) -> Vec<SimHost> {
        if !self.hosts.is_empty() {
            return self.hosts.clone();
        }
        default_hosts(&self.region, 2)
    }
}

/// `n` hosts named `<region>-host<i>` with tunnel IPs `10.<a>.<b>.<i>`, where `a.b` is a hash
/// of the region name, so different regions rarely collide.
pub fn default_hosts(region: &str, n: u8) -> Vec<SimHost> {
    let h = fnv1a(region.as_bytes());
    let (a, b) = (100 + (h % 100) as u8, ((h >> 8) % 250) as u8);
    (1..=n)
        .map(|i| SimHost {
            name: format!("{}-host{}", region.to_lowercase(), i),
            tunnel_ip: Ipv4Addr::new(10, a, b, i),
        })
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hosts_differ_between_regions() {
        let a = default_hosts("Pod1", 2);
        let b = default_hosts("Pod2", 2);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].name, "pod1-host1");
        assert_ne!(a[0].tunnel_ip, b[0].tunnel_ip);
        assert_ne!(a[0].tunnel_ip, a[1].tunnel_ip);
    }
}
