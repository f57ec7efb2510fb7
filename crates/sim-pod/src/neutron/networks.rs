//! Networks with provider attributes, `shared` and `router:external`.
//!
//! Segmentation ids matter for cross-pod L2: the gateway creates a network in every pod with
//! the same VNI through `provider:*`, so those are honoured and checked for collisions; without
//! them the pod allocates VXLAN ids from its own counter. Provider attributes, `shared` and
//! `router:external` are admin-only on create, and provider attributes are shown to admins
//! only, as Neutron's default policy does.

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Value, json};

use super::{
    SVC, bad, body_obj, bool_field, can_see, list_response, not_found, one, std_attrs, str_field,
    tags_field, target_project,
};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty};
use crate::model::network::Network;
use crate::pod::Pod;
use crate::state::State as PodState;

pub(crate) fn network_nf(id: &str) -> ApiError {
    not_found("NetworkNotFound", format!("Network {id} could not be found."))
}

pub fn view(st: &PodState, ctx: &Ctx, pod: &Pod, n: &Network) -> Value {
    let subnets: Vec<&String> =
        st.network.subnets.values().filter(|s| s.network_id == n.id).map(|s| &s.id).collect();
    let mut v = json!({
        "id": n.id, "name": n.name, "admin_state_up": n.admin_state_up, "status": "ACTIVE",
        "subnets": subnets, "shared": n.shared, "router:external": n.external, "mtu": n.mtu,
        "availability_zone_hints": n.az_hints, "availability_zones": [pod.az],
        "ipv4_address_scope": null, "ipv6_address_scope": null,
        "port_security_enabled": n.port_security_enabled,
        "qinq": false, "vlan_transparent": false,
    });
    if n.external {
        v["is_default"] = json!(n.is_default);
    }
    if ctx.is_admin {
        v["provider:network_type"] = json!(n.network_type);
        v["provider:physical_network"] = json!(n.physical_network);
        v["provider:segmentation_id"] = json!(n.segmentation_id);
    }
    std_attrs(
        &mut v,
        &n.project_id,
        &n.description,
        &n.tags,
        &n.created_at,
        &n.updated_at,
        n.revision_number,
    );
    v
}

pub(crate) fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Network> {
    st.network
        .networks
        .get(id)
        .filter(|n| can_see(ctx, &n.project_id, n.shared || n.external))
        .ok_or_else(|| network_nf(id))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut nets: Vec<&Network> = st
        .network
        .networks
        .values()
        .filter(|n| can_see(&ctx, &n.project_id, n.shared || n.external))
        .collect();
    nets.sort_by_key(|n| n.seq);
    let items = nets.into_iter().map(|n| view(&st, &ctx, &pod, n)).collect();
    list_response(&pod, "networks", items, &q)
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, q: Query, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let n = visible(&st, &ctx, &id)?;
    Ok(one("network", view(&st, &ctx, &pod, n), &q, 200))
}

fn policy(ctx: &Ctx, b: &Value, attrs: &[&str], action: &str) -> ApiResult<()> {
    if ctx.is_admin {
        return Ok(());
    }
    for a in attrs {
        if b.get(*a).is_some_and(|v| !v.is_null() && v != &json!(false)) {
            return Err(ApiError::forbidden(
                SVC,
                format!("(rule:{action}_network:{a}) is disallowed by policy"),
            ));
        }
    }
    Ok(())
}

impl PodState {
    /// Check and take a segmentation id for a new network.
    fn segment_for(
        &mut self,
        ty: &str,
        physnet: Option<&str>,
        seg: Option<u32>,
    ) -> ApiResult<Option<u32>> {
        match ty {
            "vxlan" | "geneve" | "gre" => {
                let id = match seg {
                    Some(s) if (1..(1 << 24)).contains(&s) => s,
                    Some(s) => {
                        return Err(bad(format!(
                            "Invalid input for operation: segmentation_id {s} out of range."
                        )));
                    }
                    None => loop {
                        self.network.next_vni += 1;
                        let s = self.network.next_vni;
                        if !self
                            .network
                            .networks
                            .values()
                            .any(|n| n.network_type == ty && n.segmentation_id == Some(s))
                        {
                            break s;
                        }
                    },
                };
                if self
                    .network
                    .networks
                    .values()
                    .any(|n| n.network_type == ty && n.segmentation_id == Some(id))
                {
                    return Err(ApiError::conflict(
                        SVC,
                        "TunnelIdInUse",
                        format!("Unable to create the network. The tunnel ID {id} is in use."),
                    ));
                }
                Ok(Some(id))
            }
            "vlan" => {
                let physnet = physnet.ok_or_else(|| bad("Invalid input for operation: provider:physical_network is required for VLAN provider network."))?;
                let id = seg.ok_or_else(|| bad("Invalid input for operation: segmentation_id required for VLAN provider network."))?;
                if !(1..=4094).contains(&id) {
                    return Err(bad(format!(
                        "Invalid input for operation: segmentation_id out of range ({id})."
                    )));
                }
                if self.network.networks.values().any(|n| {
                    n.network_type == "vlan"
                        && n.physical_network.as_deref() == Some(physnet)
                        && n.segmentation_id == Some(id)
                }) {
                    return Err(ApiError::conflict(
                        SVC,
                        "VlanIdInUse",
                        format!(
                            "Unable to create the network. The VLAN {id} on physical network {physnet} is in use."
                        ),
                    ));
                }
                Ok(Some(id))
            }
            "flat" => {
                let physnet = physnet.ok_or_else(|| bad("Invalid input for operation: physical_network required for flat provider network."))?;
                if self.network.networks.values().any(|n| {
                    n.network_type == "flat" && n.physical_network.as_deref() == Some(physnet)
                }) {
                    return Err(ApiError::conflict(
                        SVC,
                        "FlatNetworkInUse",
                        format!(
                            "Unable to create the flat network. Physical network {physnet} is in use."
                        ),
                    ));
                }
                Ok(None)
            }
            "local" => Ok(None),
            other => Err(bad(format!(
                "Invalid input for operation: network_type value '{other}' not supported."
            ))),
        }
    }
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "network")?;
    policy(
        &ctx,
        &b,
        &[
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
            "router:external",
            "shared",
        ],
        "create",
    )?;
    let project = target_project(&ctx, &b)?;
    let ty = str_field(&b, "provider:network_type")?.unwrap_or_else(|| "vxlan".into());
    let physnet = str_field(&b, "provider:physical_network")?;
    let seg = match b.get("provider:segmentation_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(
            || {
                bad(format!(
                    "Invalid input for provider:segmentation_id. Reason: '{v}' is not an integer."
                ))
            },
        )? as u32),
    };
    let mtu = match b.get("mtu") {
        Some(v) if !v.is_null() => v.as_u64().ok_or_else(|| bad("Invalid input for mtu."))? as u32,
        _ => {
            if ty == "vxlan" || ty == "geneve" {
                1450
            } else {
                1500
            }
        }
    };
    let name = str_field(&b, "name")?.unwrap_or_default();
    if name.len() > 255 {
        return Err(bad(format!(
            "Invalid input for name. Reason: '{name}' exceeds maximum length of 255."
        )));
    }
    let now = Utc::now();
    let mut st = pod.write();
    let segmentation_id = st.segment_for(&ty, physnet.as_deref(), seg)?;
    let seq = st.next_seq();
    let n = Network {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        name,
        project_id: project,
        admin_state_up: bool_field(&b, "admin_state_up")?.unwrap_or(true),
        shared: bool_field(&b, "shared")?.unwrap_or(false),
        external: bool_field(&b, "router:external")?.unwrap_or(false),
        is_default: bool_field(&b, "is_default")?.unwrap_or(false),
        mtu,
        network_type: ty,
        physical_network: physnet,
        segmentation_id,
        port_security_enabled: bool_field(&b, "port_security_enabled")?.unwrap_or(true),
        description: str_field(&b, "description")?.unwrap_or_default(),
        tags: tags_field(&b),
        az_hints: b
            .get("availability_zone_hints")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        created_at: now,
        updated_at: now,
        revision_number: 1,
    };
    let mut v = view(&st, &ctx, &pod, &n);
    // Neutron shows `is_default` only for external networks, except in the create answer.
    v["is_default"] = json!(n.is_default);
    st.network.networks.insert(n.id.clone(), n);
    Ok(one("network", v, &Query::default(), 201))
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = body_obj(&body, "network")?;
    policy(
        &ctx,
        &b,
        &["router:external", "shared", "provider:network_type", "provider:segmentation_id"],
        "update",
    )?;
    let mut st = pod.write();
    let n = visible(&st, &ctx, &id)?;
    if !ctx.is_admin && !ctx.owns(&n.project_id) {
        return Err(network_nf(&id));
    }
    let n = st.network.networks.get_mut(&id).expect("visible");
    if let Some(v) = str_field(&b, "name")? {
        n.name = v;
    }
    if let Some(v) = str_field(&b, "description")? {
        n.description = v;
    }
    if let Some(v) = bool_field(&b, "admin_state_up")? {
        n.admin_state_up = v;
    }
    if let Some(v) = bool_field(&b, "shared")? {
        n.shared = v;
    }
    if let Some(v) = bool_field(&b, "router:external")? {
        n.external = v;
    }
    if let Some(v) = bool_field(&b, "port_security_enabled")? {
        n.port_security_enabled = v;
    }
    if let Some(v) = bool_field(&b, "is_default")? {
        n.is_default = v;
    }
    if let Some(m) = b.get("mtu").and_then(Value::as_u64) {
        n.mtu = m as u32;
    }
    if let Some(seg) = b.get("provider:segmentation_id").and_then(Value::as_u64) {
        n.segmentation_id = Some(seg as u32);
    }
    n.updated_at = Utc::now();
    n.revision_number += 1;
    let n = n.clone();
    Ok(one("network", view(&st, &ctx, &pod, &n), &Query::default(), 200))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let n = visible(&st, &ctx, &id)?;
    if !ctx.is_admin && !ctx.owns(&n.project_id) {
        return Err(network_nf(&id));
    }
    let in_use =
        st.network.ports.values().any(|p| p.network_id == id && p.device_owner != "network:dhcp");
    if in_use {
        return Err(ApiError::conflict(
            SVC,
            "NetworkInUse",
            format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
            ),
        ));
    }
    let ports: Vec<String> =
        st.network.ports.values().filter(|p| p.network_id == id).map(|p| p.id.clone()).collect();
    for p in ports {
        st.port_remove(&p);
    }
    st.network.subnets.retain(|_, s| s.network_id != id);
    st.network.networks.remove(&id);
    Ok(empty(204))
}
