//! Floating IPs: an address on an external network, optionally mapped to a port's fixed IP.
//!
//! Association needs what Neutron needs: a router with its gateway on the floating network and
//! an interface on the port's subnet (else 404 `ExternalGatewayForFloatingIPNotFound`). The
//! address itself is held by a `network:floatingip` port so the external subnet's IPAM sees it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Value, json};

use super::ports::{FixedIpReq, PortSpec, port_nf};
use super::{
    SVC, bad, body_obj, can_see, list_response, not_found, one, std_attrs, str_field, tags_field,
    target_project,
};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty};
use crate::model::network::FloatingIp;
use crate::pod::Pod;
use crate::state::State as PodState;

fn fip_nf(id: &str) -> ApiError {
    not_found("FloatingIPNotFound", format!("Floating IP {id} could not be found"))
}

pub fn view(st: &PodState, f: &FloatingIp) -> Value {
    let details = f.port_id.as_deref().and_then(|p| st.network.ports.get(p)).map(|p| {
        json!({"name": p.name, "network_id": p.network_id, "mac_address": p.mac_address,
               "admin_state_up": p.admin_state_up, "status": p.status, "device_id": p.device_id,
               "device_owner": p.device_owner})
    });
    let mut v = json!({
        "id": f.id, "floating_ip_address": f.floating_ip_address,
        "floating_network_id": f.floating_network_id, "router_id": f.router_id,
        "port_id": f.port_id, "fixed_ip_address": f.fixed_ip_address, "status": f.status,
        "port_details": details, "port_forwardings": [], "qos_policy_id": null,
    });
    std_attrs(
        &mut v,
        &f.project_id,
        &f.description,
        &f.tags,
        &f.created_at,
        &f.updated_at,
        f.revision_number,
    );
    v
}

fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a FloatingIp> {
    st.network
        .floating_ips
        .get(id)
        .filter(|f| can_see(ctx, &f.project_id, false))
        .ok_or_else(|| fip_nf(id))
}

impl PodState {
    /// The router that connects `port_id`'s subnet to external network `ext_net`, and the fixed
    /// IP to map (`fixed` or the port's first IPv4 address).
    fn fip_target(
        &self,
        ext_net: &str,
        port_id: &str,
        fixed: Option<&str>,
    ) -> ApiResult<(String, String)> {
        let port = self.network.ports.get(port_id).ok_or_else(|| port_nf(port_id))?;
        let ip = match fixed {
            Some(f) => port.fixed_ips.iter().find(|i| i.ip_address == f).ok_or_else(|| {
                bad(format!("Bad floatingip request: Port {port_id} does not have fixed ip {f}."))
            })?,
            None => {
                port.fixed_ips.iter().find(|i| !i.ip_address.contains(':')).ok_or_else(|| {
                    bad(format!(
                        "Bad floatingip request: Port {port_id} does not have any IPv4 address."
                    ))
                })?
            }
        };
        let router = self.network.routers.values().find(|r| {
            r.gateway.as_ref().is_some_and(|g| g.network_id == ext_net)
                && self.router_subnets(&r.id).contains(&ip.subnet_id)
        });
        match router {
            Some(r) => Ok((r.id.clone(), ip.ip_address.clone())),
            None => Err(ApiError::not_found(
                SVC,
                "ExternalGatewayForFloatingIPNotFound",
                format!(
                    "External network {ext_net} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                    ip.subnet_id
                ),
            )),
        }
    }
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut fs: Vec<&FloatingIp> =
        st.network.floating_ips.values().filter(|f| can_see(&ctx, &f.project_id, false)).collect();
    fs.sort_by_key(|f| f.seq);
    list_response(&pod, "floatingips", fs.into_iter().map(|f| view(&st, f)).collect(), &q)
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, q: Query, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    Ok(one("floatingip", view(&st, visible(&st, &ctx, &id)?), &q, 200))
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "floatingip")?;
    let project = target_project(&ctx, &b)?;
    let net_id = str_field(&b, "floating_network_id")?.ok_or_else(|| {
        bad("Failed to parse request. Required attribute 'floating_network_id' not specified")
    })?;
    let port_id = str_field(&b, "port_id")?;
    let fixed = str_field(&b, "fixed_ip_address")?;
    let mut st = pod.write();
    let net =
        st.network.networks.get(&net_id).ok_or_else(|| super::networks::network_nf(&net_id))?;
    if !net.external {
        return Err(bad(format!(
            "Bad floatingip request: Network {net_id} is not a valid external network."
        )));
    }
    let target = match &port_id {
        Some(p) => {
            st.network
                .ports
                .get(p)
                .filter(|x| can_see(&ctx, &x.project_id, false))
                .ok_or_else(|| port_nf(p))?;
            Some(st.fip_target(&net_id, p, fixed.as_deref())?)
        }
        None => None,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let mut spec = PortSpec::new(&net_id, "");
    spec.device_id = id.clone();
    spec.device_owner = "network:floatingip".into();
    let want_ip = str_field(&b, "floating_ip_address")?;
    let want_subnet = str_field(&b, "subnet_id")?;
    if want_ip.is_some() || want_subnet.is_some() {
        spec.fixed_ips = Some(vec![FixedIpReq { subnet_id: want_subnet, ip_address: want_ip }]);
    }
    let fport = st.port_create(spec)?;
    let address =
        st.network.ports[&fport].fixed_ips.first().map(|f| f.ip_address.clone()).ok_or_else(
            || {
                ApiError::conflict(
                    SVC,
                    "IpAddressGenerationFailure",
                    format!("No more IP addresses available on network {net_id}."),
                )
            },
        )?;
    let now = Utc::now();
    let seq = st.next_seq();
    let f = FloatingIp {
        id: id.clone(),
        seq,
        floating_ip_address: address,
        floating_network_id: net_id,
        floating_port_id: fport,
        router_id: target.as_ref().map(|t| t.0.clone()),
        port_id: port_id.filter(|_| target.is_some()),
        fixed_ip_address: target.as_ref().map(|t| t.1.clone()),
        status: if target.is_some() { "ACTIVE".into() } else { "DOWN".into() },
        project_id: project,
        description: str_field(&b, "description")?.unwrap_or_default(),
        tags: tags_field(&b),
        created_at: now,
        updated_at: now,
        revision_number: 0,
    };
    let v = view(&st, &f);
    st.network.floating_ips.insert(id, f);
    Ok(one("floatingip", v, &Query::default(), 201))
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = body_obj(&body, "floatingip")?;
    let mut st = pod.write();
    let f = visible(&st, &ctx, &id)?.clone();
    let target = match b.get("port_id") {
        None => Some((f.router_id.clone(), f.port_id.clone(), f.fixed_ip_address.clone())),
        Some(Value::Null) => Some((None, None, None)),
        Some(Value::String(p)) => {
            st.network
                .ports
                .get(p)
                .filter(|x| can_see(&ctx, &x.project_id, false))
                .ok_or_else(|| port_nf(p))?;
            let (r, ip) = st.fip_target(
                &f.floating_network_id,
                p,
                str_field(&b, "fixed_ip_address")?.as_deref(),
            )?;
            Some((Some(r), Some(p.clone()), Some(ip)))
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for port_id. Reason: '{other}' is not a valid UUID."
            )));
        }
    };
    let f = st.network.floating_ips.get_mut(&id).expect("visible");
    if let Some((r, p, ip)) = target {
        f.status = if p.is_some() { "ACTIVE".into() } else { "DOWN".into() };
        f.router_id = r;
        f.port_id = p;
        f.fixed_ip_address = ip;
    }
    if let Some(d) = str_field(&b, "description")? {
        f.description = d;
    }
    f.updated_at = Utc::now();
    f.revision_number += 1;
    let f = f.clone();
    Ok(one("floatingip", view(&st, &f), &Query::default(), 200))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let port = visible(&st, &ctx, &id)?.floating_port_id.clone();
    st.network.floating_ips.remove(&id);
    st.network.ports.remove(&port);
    Ok(empty(204))
}
