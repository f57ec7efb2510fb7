//! The dataplane model: what each pod's virtual switches and routers would know, and a tracer
//! that decides whether a packet from a port reaches an IP, across pods.
//!
//! A pod's dataplane only knows what its own Neutron knows. A port on another pod is reachable
//! over L2 only if this pod has a *shadow port* for it (same IP, same segment, `binding:profile`
//! `tunnel_ip` or a host of this pod) and that tunnel endpoint really is the host of the real
//! port; that is exactly what Tricircle's shadow-port machinery must get right. L3 follows
//! router interfaces, then extra routes (longest prefix), hopping between pods where a next hop
//! is itself a shadow port; past the last router, its gateway leads to the external network
//! and the outside world, with SNAT or the source's floating IP (see [`trace`]). A packet from
//! the outside enters through a floating IP ([`trace_from_outside`]). Security groups are not
//! modelled: the question is forwarding state, not policy.
//!
//! Nothing here knows where a view comes from: the simulated pod builds one from its memory,
//! the gateway from a pod's Neutron API as its admin.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

mod trace;

pub use trace::{trace, trace_from_outside};

/// A compute host of a pod and its tunnel endpoint (what a remote pod's shadow port must point
/// at for VXLAN to reach it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpHost {
    pub name: String,
    pub tunnel_ip: Ipv4Addr,
}

/// An address of a port on a subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// An extra route of a router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpSubnet {
    pub id: String,
    pub cidr: String,
    pub gateway_ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpNetwork {
    pub id: String,
    pub name: String,
    pub network_type: String,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<u32>,
    pub external: bool,
    pub subnets: Vec<DpSubnet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpPort {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    /// `binding:host_id` (empty when unbound).
    pub host: String,
    /// The tunnel endpoint behind this port: its host's, or for a shadow port the one in its
    /// `binding:profile` (`tunnel_ip`).
    pub tunnel_ip: Option<Ipv4Addr>,
    pub device_owner: String,
    pub device_id: String,
    pub status: String,
    pub admin_state_up: bool,
    pub shadow: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpInterface {
    pub port_id: String,
    pub network_id: String,
    pub subnet_id: String,
    pub ip_address: String,
}

/// A router's external gateway: its port on the external network, and whether traffic leaving
/// through it without a floating IP is source-NATed to the gateway's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpGateway {
    #[serde(flatten)]
    pub interface: DpInterface,
    /// `external_gateway_info.enable_snat` (Neutron's default: true).
    #[serde(default = "snat_default")]
    pub enable_snat: bool,
}

fn snat_default() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpRouter {
    pub id: String,
    pub name: String,
    pub interfaces: Vec<DpInterface>,
    pub gateway: Option<DpGateway>,
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpFloatingIp {
    pub floating_ip_address: String,
    pub fixed_ip_address: Option<String>,
    pub port_id: Option<String>,
    pub router_id: Option<String>,
}

/// One pod's dataplane: what its Neutron knows (the sim pod serves it as `GET /sim/dataplane`;
/// the gateway builds it from a pod's Neutron API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneView {
    pub region: String,
    pub hosts: Vec<DpHost>,
    pub networks: Vec<DpNetwork>,
    pub ports: Vec<DpPort>,
    pub routers: Vec<DpRouter>,
    pub floating_ips: Vec<DpFloatingIp>,
}

impl DataplaneView {
    /// The network `id` of this pod.
    pub fn network(&self, id: &str) -> Option<&DpNetwork> {
        self.networks.iter().find(|n| n.id == id)
    }
}

/// The verdict of [`trace`] and [`trace_from_outside`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    pub reachable: bool,
    /// What the packet went through, in order (`Pod1: port X`, `Pod1: router R`, ...).
    pub hops: Vec<String>,
    /// Why it stopped, when it did not arrive.
    pub reason: Option<String>,
    /// The port that owns the destination IP, and its region (both `None` when the packet left
    /// for the outside world).
    pub dest_port: Option<String>,
    pub dest_region: Option<String>,
}
