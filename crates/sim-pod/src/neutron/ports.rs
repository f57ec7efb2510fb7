//! Ports: the Neutron API plus the port operations other services use (Nova binding ports to
//! a host, routers taking interface ports, floating IPs holding their address).
//!
//! A port's addresses are allocated here (first free in the subnet's pools unless asked for),
//! MACs are random `fa:16:3e:..` and unique in the pod. Binding a port to a host is what the
//! dataplane view reports; a port bound by the API rather than by Nova (`binding:host_id` on a
//! port of another pod, a *shadow* port) is ACTIVE at once, as Tricircle forces them.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ipam::{next_free, to_u128};
use super::networks::{network_nf, visible as net_visible};
use super::{
    SVC, bad, body_obj, bool_field, can_see, list_response, not_found, one, std_attrs, str_field,
    tags_field, target_project,
};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty};
use crate::model::network::{FixedIp, Port};
use crate::pod::Pod;
use crate::state::State as PodState;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct FixedIpReq {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

/// What a new port should look like.
#[derive(Clone, Debug, Default)]
pub struct PortSpec {
    pub network_id: String,
    pub project_id: String,
    pub name: String,
    pub fixed_ips: Option<Vec<FixedIpReq>>,
    pub mac_address: Option<String>,
    pub device_id: String,
    pub device_owner: String,
    pub security_groups: Option<Vec<String>>,
    pub admin_state_up: bool,
    pub binding_host_id: String,
    pub binding_profile: Map<String, Value>,
    pub binding_vnic_type: String,
    pub port_security_enabled: Option<bool>,
    pub description: String,
    pub allowed_address_pairs: Vec<Value>,
    pub tags: Vec<String>,
}

impl PortSpec {
    pub fn new(network_id: &str, project_id: &str) -> Self {
        PortSpec {
            network_id: network_id.into(),
            project_id: project_id.into(),
            admin_state_up: true,
            binding_vnic_type: "normal".into(),
            ..Default::default()
        }
    }
}

pub(crate) fn port_nf(id: &str) -> ApiError {
    not_found("PortNotFound", format!("Port {id} could not be found."))
}

fn random_mac() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

fn port_status(device_owner: &str, host: &str) -> &'static str {
    if device_owner.starts_with("network:router")
        || (!host.is_empty() && !device_owner.starts_with("compute:"))
        || device_owner == "compute:shadow"
    {
        "ACTIVE"
    } else {
        "DOWN"
    }
}

impl PodState {
    fn used_ips(&self, subnet_id: &str, except_port: Option<&str>) -> HashSet<u128> {
        let mut used = HashSet::new();
        if let Some(g) = self
            .network
            .subnets
            .get(subnet_id)
            .and_then(|s| s.gateway_ip.as_deref())
            .and_then(|g| g.parse().ok())
        {
            used.insert(to_u128(g));
        }
        for p in self.network.ports.values().filter(|p| Some(p.id.as_str()) != except_port) {
            for f in p.fixed_ips.iter().filter(|f| f.subnet_id == subnet_id) {
                if let Ok(ip) = f.ip_address.parse() {
                    used.insert(to_u128(ip));
                }
            }
        }
        used
    }

    /// Allocate addresses on `network_id` as requested (or one from the first IPv4 subnet).
    pub(crate) fn allocate_ips(
        &self,
        network_id: &str,
        req: Option<&[FixedIpReq]>,
        port: Option<&str>,
    ) -> ApiResult<Vec<FixedIp>> {
        let mut subnets: Vec<_> =
            self.network.subnets.values().filter(|s| s.network_id == network_id).collect();
        subnets.sort_by_key(|s| (s.ip_version, s.seq));
        let reqs: Vec<FixedIpReq> = match req {
            Some(r) => r.to_vec(),
            None => match subnets.first() {
                Some(s) => vec![FixedIpReq { subnet_id: Some(s.id.clone()), ip_address: None }],
                None => Vec::new(),
            },
        };
        let mut out: Vec<FixedIp> = Vec::new();
        for r in reqs {
            let subnet = match (&r.subnet_id, &r.ip_address) {
                (Some(sid), _) => subnets.iter().find(|s| &s.id == sid).copied().ok_or_else(|| {
                    bad(format!("Invalid input for operation: Failed to create port on network {network_id}, because fixed_ips included invalid subnet {sid}."))
                })?,
                (None, Some(ip)) => {
                    let addr: std::net::IpAddr = ip.parse().map_err(|_| bad(format!("Invalid input for fixed_ips. Reason: '{ip}' is not a valid IP address.")))?;
                    subnets
                        .iter()
                        .find(|s| s.cidr.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&addr)))
                        .copied()
                        .ok_or_else(|| bad(format!("Invalid input for operation: IP address {ip} is not a valid IP for any of the subnets on the specified network.")))?
                }
                (None, None) => continue,
            };
            let mut used = self.used_ips(&subnet.id, port);
            for o in out.iter().filter(|o| o.subnet_id == subnet.id) {
                if let Ok(ip) = o.ip_address.parse() {
                    used.insert(to_u128(ip));
                }
            }
            let ip = match &r.ip_address {
                Some(ip) => {
                    let addr: std::net::IpAddr = ip.parse().map_err(|_| {
                        bad(format!(
                            "Invalid input for fixed_ips. Reason: '{ip}' is not a valid IP address."
                        ))
                    })?;
                    if !subnet.cidr.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&addr)) {
                        return Err(bad(format!(
                            "Invalid input for operation: IP address {ip} is not a valid IP for the specified subnet."
                        )));
                    }
                    if used.contains(&to_u128(addr))
                        && subnet.gateway_ip.as_deref() != Some(ip.as_str())
                    {
                        return Err(ApiError::conflict(
                            SVC,
                            "IpAddressAlreadyAllocated",
                            format!("IP address {ip} already allocated in subnet {}", subnet.id),
                        ));
                    }
                    addr.to_string()
                }
                None => next_free(&subnet.allocation_pools, &used, subnet.ip_version == 6)
                    .ok_or_else(|| {
                        ApiError::conflict(
                            SVC,
                            "IpAddressGenerationFailure",
                            format!("No more IP addresses available on network {network_id}."),
                        )
                    })?
                    .to_string(),
            };
            out.push(FixedIp { subnet_id: subnet.id.clone(), ip_address: ip });
        }
        Ok(out)
    }

    /// Create a port (Neutron's port create without the HTTP).
    pub fn port_create(&mut self, spec: PortSpec) -> ApiResult<String> {
        let net = self
            .network
            .networks
            .get(&spec.network_id)
            .ok_or_else(|| network_nf(&spec.network_id))?
            .clone();
        let fixed_ips = self.allocate_ips(&net.id, spec.fixed_ips.as_deref(), None)?;
        let mac = match spec.mac_address {
            Some(m) => {
                if self
                    .network
                    .ports
                    .values()
                    .any(|p| p.network_id == net.id && p.mac_address.eq_ignore_ascii_case(&m))
                {
                    return Err(ApiError::conflict(
                        SVC,
                        "MacAddressInUse",
                        format!(
                            "Unable to complete operation for network {}. The mac address {m} is in use.",
                            net.id
                        ),
                    ));
                }
                m.to_lowercase()
            }
            None => loop {
                let m = random_mac();
                if !self.network.ports.values().any(|p| p.mac_address == m) {
                    break m;
                }
            },
        };
        let port_security = spec.port_security_enabled.unwrap_or(net.port_security_enabled);
        let security_groups = match spec.security_groups {
            Some(sgs) => {
                for sg in &sgs {
                    if !self.network.security_groups.contains_key(sg) {
                        return Err(not_found(
                            "SecurityGroupNotFound",
                            format!("Security group {sg} does not exist"),
                        ));
                    }
                }
                sgs
            }
            None if port_security && !spec.device_owner.starts_with("network:") => {
                vec![self.ensure_default_sg(&spec.project_id)]
            }
            None => Vec::new(),
        };
        let now = Utc::now();
        let seq = self.next_seq();
        let status = port_status(&spec.device_owner, &spec.binding_host_id);
        let p = Port {
            id: uuid::Uuid::new_v4().to_string(),
            seq,
            name: spec.name,
            network_id: net.id,
            project_id: spec.project_id,
            mac_address: mac,
            admin_state_up: spec.admin_state_up,
            status: status.into(),
            device_id: spec.device_id,
            device_owner: spec.device_owner,
            fixed_ips,
            allowed_address_pairs: spec.allowed_address_pairs,
            extra_dhcp_opts: Vec::new(),
            security_groups,
            port_security_enabled: port_security,
            binding_host_id: spec.binding_host_id,
            binding_profile: spec.binding_profile,
            binding_vnic_type: spec.binding_vnic_type,
            description: spec.description,
            tags: spec.tags,
            created_at: now,
            updated_at: now,
            revision_number: 1,
        };
        let id = p.id.clone();
        self.network.ports.insert(id.clone(), p);
        Ok(id)
    }

    /// Nova takes a port: device and host binding.
    pub fn port_bind(&mut self, id: &str, host: &str, device_id: &str, device_owner: &str) {
        if let Some(p) = self.network.ports.get_mut(id) {
            p.binding_host_id = host.into();
            p.device_id = device_id.into();
            p.device_owner = device_owner.into();
            p.status = "DOWN".into();
            p.updated_at = Utc::now();
            p.revision_number += 1;
        }
    }

    /// Nova lets go of a port it did not create.
    pub fn port_unbind(&mut self, id: &str) {
        if let Some(p) = self.network.ports.get_mut(id) {
            p.binding_host_id.clear();
            p.device_id.clear();
            p.device_owner.clear();
            p.status = "DOWN".into();
            p.updated_at = Utc::now();
            p.revision_number += 1;
        }
    }

    /// Delete a port and whatever pointed at it (floating IP associations, server NICs).
    pub fn port_remove(&mut self, id: &str) {
        if self.network.ports.remove(id).is_none() {
            return;
        }
        for f in self.network.floating_ips.values_mut().filter(|f| f.port_id.as_deref() == Some(id))
        {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
        }
        for s in self.compute.servers.values_mut() {
            s.ports.retain(|p| p != id);
            s.owned_ports.retain(|p| p != id);
        }
    }
}

pub fn view(ctx: &Ctx, p: &Port) -> Value {
    let mut v = json!({
        "id": p.id, "name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up, "status": p.status, "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": p.fixed_ips,
        "allowed_address_pairs": p.allowed_address_pairs, "extra_dhcp_opts": p.extra_dhcp_opts,
        "security_groups": p.security_groups, "port_security_enabled": p.port_security_enabled,
        "binding:vnic_type": p.binding_vnic_type,
    });
    if ctx.is_admin {
        let bound = p.is_bound();
        v["binding:host_id"] = json!(p.binding_host_id);
        v["binding:profile"] = json!(p.binding_profile);
        v["binding:vif_type"] = json!(if bound { "ovs" } else { "unbound" });
        v["binding:vif_details"] = if bound {
            json!({"port_filter": true, "connectivity": "l2", "datapath_type": "system",
                   "bridge_name": "br-int", "bound_drivers": {"0": "openvswitch"}})
        } else {
            json!({})
        };
    }
    std_attrs(
        &mut v,
        &p.project_id,
        &p.description,
        &p.tags,
        &p.created_at,
        &p.updated_at,
        p.revision_number,
    );
    v
}

fn port_visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Port> {
    st.network
        .ports
        .get(id)
        .filter(|p| can_see(ctx, &p.project_id, false))
        .ok_or_else(|| port_nf(id))
}

/// `fixed_ips=ip_address=X`, `fixed_ips=subnet_id=Y`, `fixed_ips=ip_address_substr=Z`.
fn fixed_ip_filter(p: &Port, q: &Query) -> bool {
    q.all("fixed_ips").iter().all(|f| {
        let (k, v) = f.split_once('=').unwrap_or(("", f));
        p.fixed_ips.iter().any(|ip| match k {
            "ip_address" => ip.ip_address == v,
            "subnet_id" => ip.subnet_id == v,
            "ip_address_substr" => ip.ip_address.contains(v),
            _ => false,
        })
    })
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut ports: Vec<&Port> = st
        .network
        .ports
        .values()
        .filter(|p| can_see(&ctx, &p.project_id, false))
        .filter(|p| fixed_ip_filter(p, &q))
        .collect();
    ports.sort_by_key(|p| p.seq);
    list_response(&pod, "ports", ports.into_iter().map(|p| view(&ctx, p)).collect(), &q)
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, q: Query, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(one("port", view(&ctx, port_visible(&st, &ctx, &id)?), &q, 200))
}

fn fixed_ips_field(b: &Value) -> ApiResult<Option<Vec<FixedIpReq>>> {
    match b.get("fixed_ips") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
            bad(format!(
                "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: '{v}'."
            ))
        }),
    }
}

fn list_field<T: serde::de::DeserializeOwned>(b: &Value, key: &str) -> ApiResult<Option<Vec<T>>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| bad(format!("Invalid input for {key}. Reason: '{v}' is not a list."))),
    }
}

fn admin_only(ctx: &Ctx, b: &Value, action: &str) -> ApiResult<()> {
    if ctx.is_admin {
        return Ok(());
    }
    for k in ["binding:host_id", "binding:profile", "mac_address"] {
        if b.get(k).is_some() && !(k == "mac_address" && action == "create") {
            return Err(ApiError::forbidden(
                SVC,
                format!("(rule:{action}_port and rule:{action}_port:{k}) is disallowed by policy"),
            ));
        }
    }
    Ok(())
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "port")?;
    admin_only(&ctx, &b, "create")?;
    let network_id = str_field(&b, "network_id")?.ok_or_else(|| {
        bad("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    let project = target_project(&ctx, &b)?;
    let mut spec = PortSpec::new(&network_id, &project);
    spec.name = str_field(&b, "name")?.unwrap_or_default();
    spec.description = str_field(&b, "description")?.unwrap_or_default();
    spec.fixed_ips = fixed_ips_field(&b)?;
    spec.mac_address = str_field(&b, "mac_address")?;
    spec.device_id = str_field(&b, "device_id")?.unwrap_or_default();
    spec.device_owner = str_field(&b, "device_owner")?.unwrap_or_default();
    spec.security_groups = list_field(&b, "security_groups")?;
    spec.admin_state_up = bool_field(&b, "admin_state_up")?.unwrap_or(true);
    spec.binding_host_id = str_field(&b, "binding:host_id")?.unwrap_or_default();
    spec.binding_profile =
        b.get("binding:profile").and_then(Value::as_object).cloned().unwrap_or_default();
    spec.binding_vnic_type = str_field(&b, "binding:vnic_type")?.unwrap_or_else(|| "normal".into());
    spec.port_security_enabled = bool_field(&b, "port_security_enabled")?;
    spec.allowed_address_pairs = list_field(&b, "allowed_address_pairs")?.unwrap_or_default();
    spec.tags = tags_field(&b);
    let mut st = pod.write();
    let n = net_visible(&st, &ctx, &network_id)?;
    if !ctx.is_admin && !ctx.owns(&n.project_id) && !n.shared {
        return Err(network_nf(&network_id));
    }
    let id = st.port_create(spec)?;
    Ok(one("port", view(&ctx, &st.network.ports[&id]), &Query::default(), 201))
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = body_obj(&body, "port")?;
    admin_only(&ctx, &b, "update")?;
    let mut st = pod.write();
    let port = port_visible(&st, &ctx, &id)?.clone();
    let fixed = match fixed_ips_field(&b)? {
        Some(r) => Some(st.allocate_ips(&port.network_id, Some(&r), Some(&id))?),
        None => None,
    };
    let sgs: Option<Vec<String>> = list_field(&b, "security_groups")?;
    if let Some(sgs) = &sgs {
        for sg in sgs {
            if !st.network.security_groups.contains_key(sg) {
                return Err(not_found(
                    "SecurityGroupNotFound",
                    format!("Security group {sg} does not exist"),
                ));
            }
        }
    }
    let p = st.network.ports.get_mut(&id).expect("visible");
    if let Some(f) = fixed {
        p.fixed_ips = f;
    }
    if let Some(s) = sgs {
        p.security_groups = s;
    }
    if let Some(v) = str_field(&b, "name")? {
        p.name = v;
    }
    if let Some(v) = str_field(&b, "description")? {
        p.description = v;
    }
    if let Some(v) = str_field(&b, "device_id")? {
        p.device_id = v;
    }
    if let Some(v) = str_field(&b, "device_owner")? {
        p.device_owner = v;
    }
    if let Some(v) = bool_field(&b, "admin_state_up")? {
        p.admin_state_up = v;
    }
    if let Some(v) = bool_field(&b, "port_security_enabled")? {
        p.port_security_enabled = v;
    }
    if let Some(v) = str_field(&b, "binding:host_id")? {
        p.binding_host_id = v;
        p.status = port_status(&p.device_owner, &p.binding_host_id).into();
    }
    if let Some(v) = b.get("binding:profile") {
        p.binding_profile = v.as_object().cloned().unwrap_or_default();
    }
    if let Some(v) = str_field(&b, "binding:vnic_type")? {
        p.binding_vnic_type = v;
    }
    if let Some(v) = str_field(&b, "mac_address")? {
        p.mac_address = v.to_lowercase();
    }
    if let Some(v) = list_field(&b, "allowed_address_pairs")? {
        p.allowed_address_pairs = v;
    }
    if let Some(v) = str_field(&b, "status")?.filter(|_| ctx.is_admin) {
        p.status = v;
    }
    p.updated_at = Utc::now();
    p.revision_number += 1;
    Ok(one("port", view(&ctx, p), &Query::default(), 200))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let p = port_visible(&st, &ctx, &id)?;
    if p.device_owner == "network:router_interface"
        || p.device_owner == "network:router_gateway"
        || p.device_owner == "network:floatingip"
    {
        return Err(ApiError::conflict(
            SVC,
            "ServicePortInUse",
            format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                p.device_owner
            ),
        ));
    }
    st.port_remove(&id);
    Ok(empty(204))
}
