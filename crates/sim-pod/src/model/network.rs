//! Neutron's data: networks, subnets, ports, routers, floating IPs, security groups.
//!
//! Router interfaces and gateways are ports (device_owner `network:router_interface` /
//! `network:router_gateway`), exactly as in Neutron, so the dataplane view and the port list
//! agree without a second source of truth. Segmentation ids come from a per-pod counter unless
//! the caller gives provider attributes (the gateway does, to keep VNIs equal across pods).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub external: bool,
    pub is_default: bool,
    pub mtu: u32,
    pub network_type: String,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<u32>,
    pub port_security_enabled: bool,
    pub description: String,
    pub tags: Vec<String>,
    pub az_hints: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub start: String,
    pub end: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub network_id: String,
    pub project_id: String,
    pub cidr: String,
    pub ip_version: u8,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<Pool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<Route>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    pub description: String,
    pub tags: Vec<String>,
    pub service_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub network_id: String,
    pub project_id: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub device_id: String,
    pub device_owner: String,
    pub fixed_ips: Vec<FixedIp>,
    pub allowed_address_pairs: Vec<Value>,
    pub extra_dhcp_opts: Vec<Value>,
    pub security_groups: Vec<String>,
    pub port_security_enabled: bool,
    pub binding_host_id: String,
    pub binding_profile: Map<String, Value>,
    pub binding_vnic_type: String,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

impl Port {
    /// A port standing for a port of another pod: Tricircle marks them with device_owner
    /// `compute:shadow`; a `binding:profile` `{"type": "shadow"}` is accepted too.
    pub fn is_shadow(&self) -> bool {
        self.device_owner == "compute:shadow"
            || self.binding_profile.get("type").and_then(Value::as_str) == Some("shadow")
    }

    pub fn is_bound(&self) -> bool {
        !self.binding_host_id.is_empty()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub network_id: String,
    pub enable_snat: bool,
    pub port_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Router {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub gateway: Option<GatewayInfo>,
    pub routes: Vec<Route>,
    pub distributed: bool,
    pub ha: bool,
    pub description: String,
    pub tags: Vec<String>,
    pub az_hints: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub seq: u64,
    pub floating_ip_address: String,
    pub floating_network_id: String,
    /// The internal port holding the address (device_owner `network:floatingip`).
    pub floating_port_id: String,
    pub router_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub status: String,
    pub project_id: String,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub stateful: bool,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SgRule {
    pub id: String,
    pub seq: u64,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    /// `None` for the rules Neutron creates by itself (a new group's egress rules, the default
    /// group's rules): real Neutron shows their description as `null`.
    pub description: Option<String>,
    pub project_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision_number: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Networking {
    pub networks: BTreeMap<String, Network>,
    pub subnets: BTreeMap<String, Subnet>,
    pub ports: BTreeMap<String, Port>,
    pub routers: BTreeMap<String, Router>,
    pub floating_ips: BTreeMap<String, FloatingIp>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub sg_rules: BTreeMap<String, SgRule>,
    /// Next VXLAN VNI to hand out.
    pub next_vni: u32,
}
