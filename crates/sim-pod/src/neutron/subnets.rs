//! Subnets: CIDR, gateway and allocation pools checked as Neutron checks them.
//!
//! The gateway lives outside the pools (a pool containing it is a 409), overlapping CIDRs on
//! one network are refused (across networks they are fine: tenants overlap), and a subnet with
//! allocated addresses cannot be deleted.

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Value, json};

use super::ipam::{self, check_pools, default_gateway, default_pools, parse_cidr};
use super::networks::{network_nf, visible as net_visible};
use super::{
    SVC, bad, body_obj, bool_field, can_see, list_response, not_found, one, std_attrs, str_field,
    tags_field, target_project,
};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty};
use crate::model::network::{Pool, Route, Subnet};
use crate::pod::Pod;
use crate::state::State as PodState;

pub(crate) fn subnet_nf(id: &str) -> ApiError {
    not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
}

pub fn view(st: &PodState, s: &Subnet) -> Value {
    let external = st.network.networks.get(&s.network_id).is_some_and(|n| n.external);
    let mut v = json!({
        "id": s.id, "name": s.name, "network_id": s.network_id, "ip_version": s.ip_version,
        "subnetpool_id": s.subnetpool_id, "enable_dhcp": s.enable_dhcp,
        "ipv6_ra_mode": s.ipv6_ra_mode, "ipv6_address_mode": s.ipv6_address_mode,
        "gateway_ip": s.gateway_ip, "cidr": s.cidr, "allocation_pools": s.allocation_pools,
        "host_routes": s.host_routes, "dns_nameservers": s.dns_nameservers,
        "service_types": s.service_types, "router:external": external,
    });
    std_attrs(
        &mut v,
        &s.project_id,
        &s.description,
        &s.tags,
        &s.created_at,
        &s.updated_at,
        s.revision_number,
    );
    v
}

fn shared_net(st: &PodState, s: &Subnet) -> bool {
    st.network.networks.get(&s.network_id).is_some_and(|n| n.shared || n.external)
}

pub(crate) fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Subnet> {
    st.network
        .subnets
        .get(id)
        .filter(|s| can_see(ctx, &s.project_id, shared_net(st, s)))
        .ok_or_else(|| subnet_nf(id))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut subs: Vec<&Subnet> = st
        .network
        .subnets
        .values()
        .filter(|s| can_see(&ctx, &s.project_id, shared_net(&st, s)))
        .collect();
    subs.sort_by_key(|s| s.seq);
    list_response(&pod, "subnets", subs.into_iter().map(|s| view(&st, s)).collect(), &q)
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, q: Query, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(one("subnet", view(&st, visible(&st, &ctx, &id)?), &q, 200))
}

fn pools_field(v: &Value) -> ApiResult<Option<Vec<Pool>>> {
    match v.get("allocation_pools") {
        None | Some(Value::Null) => Ok(None),
        Some(p) => serde_json::from_value(p.clone())
            .map(Some)
            .map_err(|_| bad(format!("Invalid input for allocation_pools. Reason: Invalid data format for IP pool: '{p}'."))),
    }
}

fn routes_field(v: &Value) -> ApiResult<Option<Vec<Route>>> {
    match v.get("host_routes") {
        None | Some(Value::Null) => Ok(None),
        Some(p) => serde_json::from_value(p.clone()).map(Some).map_err(|_| {
            bad(format!(
                "Invalid input for host_routes. Reason: Invalid data format for hostroute: '{p}'."
            ))
        }),
    }
}

fn dns_field(v: &Value) -> ApiResult<Option<Vec<String>>> {
    match v.get("dns_nameservers") {
        None | Some(Value::Null) => Ok(None),
        Some(p) => serde_json::from_value(p.clone()).map(Some).map_err(|_| {
            bad(format!("Invalid input for dns_nameservers. Reason: '{p}' is not a list."))
        }),
    }
}

/// Gateway and pools must agree with the CIDR and each other.
fn check_layout(net: &ipnet::IpNet, gateway: Option<&str>, pools: &[Pool]) -> ApiResult<()> {
    check_pools(net, pools).map_err(|m| bad(format!("Invalid input for operation: {m}")))?;
    if let Some(g) = gateway {
        let ip: std::net::IpAddr = g.parse().map_err(|_| {
            bad(format!("Invalid input for gateway_ip. Reason: '{g}' is not a valid IP address."))
        })?;
        if !net.contains(&ip) {
            return Err(bad(format!(
                "Invalid input for operation: Gateway is not valid on subnet {net}."
            )));
        }
        if ipam::in_pools(ip, pools) {
            return Err(ApiError::conflict(
                SVC,
                "GatewayConflictWithAllocationPools",
                format!(
                    "Gateway ip {g} conflicts with allocation pool {}",
                    pools
                        .iter()
                        .map(|p| format!("{}-{}", p.start, p.end))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "subnet")?;
    let network_id = str_field(&b, "network_id")?.ok_or_else(|| {
        bad("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    let cidr = str_field(&b, "cidr")?.ok_or_else(|| {
        bad("Bad subnets request: a cidr must be specified in the absence of a subnet pool")
    })?;
    let net =
        parse_cidr(&cidr).map_err(|m| bad(format!("Invalid input for cidr. Reason: {m}.")))?;
    let ip_version = match b.get("ip_version") {
        None | Some(Value::Null) => {
            if matches!(net, ipnet::IpNet::V6(_)) {
                6
            } else {
                4
            }
        }
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| bad("Invalid input for ip_version."))? as u8,
    };
    if ip_version != 4 && ip_version != 6 {
        return Err(bad(format!(
            "Invalid input for ip_version. Reason: {ip_version} is not in [4, 6]."
        )));
    }
    if (ip_version == 6) != matches!(net, ipnet::IpNet::V6(_)) {
        return Err(bad(
            "Invalid input for operation: Cannot mix IPv4 and IPv6 for cidr and ip_version.",
        ));
    }
    let project = target_project(&ctx, &b)?;
    let gateway = match b.get("gateway_ip") {
        Some(Value::Null) => None,
        None => default_gateway(&net).map(|g| g.to_string()),
        Some(Value::String(g)) => Some(g.clone()),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for gateway_ip. Reason: '{other}' is not a valid IP address."
            )));
        }
    };
    let pools = match pools_field(&b)? {
        Some(p) => p,
        None => default_pools(&net, gateway.as_deref().and_then(|g| g.parse().ok())),
    };
    check_layout(&net, gateway.as_deref(), &pools)?;
    let now = Utc::now();
    let mut st = pod.write();
    let n = net_visible(&st, &ctx, &network_id).map_err(|_| network_nf(&network_id))?;
    if !ctx.is_admin && !ctx.owns(&n.project_id) && !n.shared {
        return Err(network_nf(&network_id));
    }
    for other in st.network.subnets.values().filter(|s| s.network_id == network_id) {
        if let Ok(o) = parse_cidr(&other.cidr)
            && (o.contains(&net.network()) || net.contains(&o.network()))
        {
            return Err(bad(format!(
                "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet."
            )));
        }
    }
    let seq = st.next_seq();
    let s = Subnet {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        name: str_field(&b, "name")?.unwrap_or_default(),
        network_id,
        project_id: project,
        cidr: net.to_string(),
        ip_version,
        gateway_ip: gateway,
        allocation_pools: pools,
        dns_nameservers: dns_field(&b)?.unwrap_or_default(),
        host_routes: routes_field(&b)?.unwrap_or_default(),
        enable_dhcp: bool_field(&b, "enable_dhcp")?.unwrap_or(true),
        ipv6_ra_mode: str_field(&b, "ipv6_ra_mode")?,
        ipv6_address_mode: str_field(&b, "ipv6_address_mode")?,
        subnetpool_id: None,
        description: str_field(&b, "description")?.unwrap_or_default(),
        tags: tags_field(&b),
        service_types: Vec::new(),
        created_at: now,
        updated_at: now,
        revision_number: 0,
    };
    let v = view(&st, &s);
    st.network.subnets.insert(s.id.clone(), s);
    if let Some(n) = st.network.networks.get_mut(v["network_id"].as_str().unwrap_or_default()) {
        n.revision_number += 1;
        n.updated_at = now;
    }
    Ok(one("subnet", v, &Query::default(), 201))
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = body_obj(&body, "subnet")?;
    let mut st = pod.write();
    let s = visible(&st, &ctx, &id)?.clone();
    if !ctx.is_admin && !ctx.owns(&s.project_id) {
        return Err(subnet_nf(&id));
    }
    let net = parse_cidr(&s.cidr).map_err(bad)?;
    let gateway = match b.get("gateway_ip") {
        None => s.gateway_ip.clone(),
        Some(Value::Null) => None,
        Some(Value::String(g)) => Some(g.clone()),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for gateway_ip. Reason: '{other}' is not a valid IP address."
            )));
        }
    };
    let pools = pools_field(&b)?.unwrap_or_else(|| s.allocation_pools.clone());
    check_layout(&net, gateway.as_deref(), &pools)?;
    let s = st.network.subnets.get_mut(&id).expect("visible");
    s.gateway_ip = gateway;
    s.allocation_pools = pools;
    if let Some(v) = str_field(&b, "name")? {
        s.name = v;
    }
    if let Some(v) = str_field(&b, "description")? {
        s.description = v;
    }
    if let Some(v) = bool_field(&b, "enable_dhcp")? {
        s.enable_dhcp = v;
    }
    if let Some(v) = dns_field(&b)? {
        s.dns_nameservers = v;
    }
    if let Some(v) = routes_field(&b)? {
        s.host_routes = v;
    }
    s.updated_at = Utc::now();
    s.revision_number += 1;
    let s = s.clone();
    Ok(one("subnet", view(&st, &s), &Query::default(), 200))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let s = visible(&st, &ctx, &id)?;
    if !ctx.is_admin && !ctx.owns(&s.project_id) {
        return Err(subnet_nf(&id));
    }
    let used =
        st.network.ports.values().any(|p| {
            p.device_owner != "network:dhcp" && p.fixed_ips.iter().any(|f| f.subnet_id == id)
        });
    if used {
        return Err(ApiError::conflict(
            SVC,
            "SubnetInUse",
            format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            ),
        ));
    }
    st.network.subnets.remove(&id);
    Ok(empty(204))
}
