//! Routers: interfaces, external gateway and extra routes.
//!
//! Interfaces and the gateway are ports owned by the router (`network:router_interface`,
//! `network:router_gateway`), as in Neutron, so port listings, subnet-in-use checks and the
//! dataplane view all see them. Interface add/remove answer 200 with Neutron's unwrapped
//! `{id, network_id, port_id, subnet_id, subnet_ids, project_id}` (no `tenant_id`); the router's
//! own ports have port security off; extra routes
//! must have a next hop on a connected subnet.

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Value, json};

use super::ipam::parse_cidr;
use super::ports::{FixedIpReq, PortSpec, port_nf};
use super::subnets::subnet_nf;
use super::{
    SVC, bad, body_obj, bool_field, can_see, list_response, not_found, one, std_attrs, str_field,
    tags_field, target_project,
};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, json_resp};
use crate::model::network::{GatewayInfo, Route, Router};
use crate::pod::Pod;
use crate::state::State as PodState;

pub(crate) fn router_nf(id: &str) -> ApiError {
    not_found("RouterNotFound", format!("Router {id} could not be found."))
}

pub fn view(st: &PodState, ctx: &Ctx, pod: &Pod, r: &Router) -> Value {
    let gw = r.gateway.as_ref().map(|g| {
        let ips = st.network.ports.get(&g.port_id).map(|p| json!(p.fixed_ips)).unwrap_or(json!([]));
        json!({"network_id": g.network_id, "enable_snat": g.enable_snat, "external_fixed_ips": ips})
    });
    let mut v = json!({
        "id": r.id, "name": r.name, "admin_state_up": r.admin_state_up, "status": r.status,
        "external_gateway_info": gw, "routes": r.routes,
        "availability_zone_hints": r.az_hints, "availability_zones": [pod.az], "flavor_id": null,
    });
    if ctx.is_admin {
        v["distributed"] = json!(r.distributed);
        v["ha"] = json!(r.ha);
    }
    std_attrs(
        &mut v,
        &r.project_id,
        &r.description,
        &r.tags,
        &r.created_at,
        &r.updated_at,
        r.revision_number,
    );
    v
}

fn visible<'a>(st: &'a PodState, ctx: &Ctx, id: &str) -> ApiResult<&'a Router> {
    st.network
        .routers
        .get(id)
        .filter(|r| can_see(ctx, &r.project_id, false))
        .ok_or_else(|| router_nf(id))
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut rs: Vec<&Router> =
        st.network.routers.values().filter(|r| can_see(&ctx, &r.project_id, false)).collect();
    rs.sort_by_key(|r| r.seq);
    list_response(&pod, "routers", rs.into_iter().map(|r| view(&st, &ctx, &pod, r)).collect(), &q)
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, q: Query, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let r = visible(&st, &ctx, &id)?;
    Ok(one("router", view(&st, &ctx, &pod, r), &q, 200))
}

impl PodState {
    /// Set (or replace) a router's external gateway: a gateway port on the external network.
    fn router_set_gateway(&mut self, router_id: &str, info: &Value) -> ApiResult<()> {
        let net_id = str_field(info, "network_id")?.ok_or_else(|| {
            bad("Invalid input for external_gateway_info. Reason: network_id is required.")
        })?;
        let net = self
            .network
            .networks
            .get(&net_id)
            .ok_or_else(|| super::networks::network_nf(&net_id))?;
        if !net.external {
            return Err(bad(format!(
                "Bad router request: Network {net_id} is not a valid external network."
            )));
        }
        let fixed: Option<Vec<FixedIpReq>> = match info.get("external_fixed_ips") {
            Some(v) if !v.is_null() => Some(
                serde_json::from_value(v.clone())
                    .map_err(|_| bad("Invalid input for external_fixed_ips."))?,
            ),
            _ => None,
        };
        self.router_clear_gateway(router_id);
        let mut spec = PortSpec::new(&net_id, "");
        spec.device_id = router_id.into();
        spec.device_owner = "network:router_gateway".into();
        spec.port_security_enabled = Some(false);
        spec.fixed_ips = fixed;
        let port_id = self.port_create(spec)?;
        let enable_snat = bool_field(info, "enable_snat")?.unwrap_or(true);
        if let Some(r) = self.network.routers.get_mut(router_id) {
            r.gateway = Some(GatewayInfo { network_id: net_id, enable_snat, port_id });
        }
        Ok(())
    }

    fn router_clear_gateway(&mut self, router_id: &str) {
        let old = self.network.routers.get_mut(router_id).and_then(|r| r.gateway.take());
        if let Some(g) = old {
            self.network.ports.remove(&g.port_id);
        }
    }

    /// Subnets directly connected to a router (interfaces and gateway).
    pub fn router_subnets(&self, router_id: &str) -> Vec<String> {
        self.network
            .ports
            .values()
            .filter(|p| p.device_id == router_id && p.device_owner.starts_with("network:router"))
            .flat_map(|p| p.fixed_ips.iter().map(|f| f.subnet_id.clone()))
            .collect()
    }

    fn check_routes(&self, router_id: &str, routes: &[Route]) -> ApiResult<()> {
        let nets: Vec<ipnet::IpNet> = self
            .router_subnets(router_id)
            .iter()
            .filter_map(|s| self.network.subnets.get(s))
            .filter_map(|s| parse_cidr(&s.cidr).ok())
            .collect();
        for r in routes {
            parse_cidr(&r.destination)
                .map_err(|m| bad(format!("Invalid input for routes. Reason: {m}.")))?;
            let hop: std::net::IpAddr = r.nexthop.parse().map_err(|_| {
                bad(format!(
                    "Invalid input for routes. Reason: '{}' is not a valid IP address.",
                    r.nexthop
                ))
            })?;
            if !nets.iter().any(|n| n.contains(&hop)) {
                return Err(bad(format!(
                    "Invalid format for routes: [{{'destination': '{}', 'nexthop': '{}'}}], the nexthop is not connected with router",
                    r.destination, r.nexthop
                )));
            }
        }
        Ok(())
    }
}

fn routes_field(b: &Value) -> ApiResult<Option<Vec<Route>>> {
    match b.get("routes") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
            bad(format!(
                "Invalid input for routes. Reason: Invalid data format for hostroute: '{v}'."
            ))
        }),
    }
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "router")?;
    let project = target_project(&ctx, &b)?;
    if !ctx.is_admin && (b.get("distributed").is_some() || b.get("ha").is_some()) {
        return Err(ApiError::forbidden(
            SVC,
            "(rule:create_router and rule:create_router:distributed) is disallowed by policy",
        ));
    }
    let now = Utc::now();
    let mut st = pod.write();
    let seq = st.next_seq();
    let r = Router {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        name: str_field(&b, "name")?.unwrap_or_default(),
        project_id: project,
        admin_state_up: bool_field(&b, "admin_state_up")?.unwrap_or(true),
        status: "ACTIVE".into(),
        gateway: None,
        routes: Vec::new(),
        distributed: bool_field(&b, "distributed")?.unwrap_or(false),
        ha: bool_field(&b, "ha")?.unwrap_or(false),
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
    let id = r.id.clone();
    st.network.routers.insert(id.clone(), r);
    if let Some(gw) = b.get("external_gateway_info").filter(|g| !g.is_null())
        && let Err(e) = st.router_set_gateway(&id, gw)
    {
        st.network.routers.remove(&id);
        return Err(e);
    }
    let r = st.network.routers[&id].clone();
    Ok(one("router", view(&st, &ctx, &pod, &r), &Query::default(), 201))
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = body_obj(&body, "router")?;
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    match b.get("external_gateway_info") {
        Some(Value::Null) => st.router_clear_gateway(&id),
        Some(g) if g.as_object().is_some_and(|o| o.is_empty()) => st.router_clear_gateway(&id),
        Some(g) => st.router_set_gateway(&id, g)?,
        None => {}
    }
    if let Some(routes) = routes_field(&b)? {
        st.check_routes(&id, &routes)?;
        st.network.routers.get_mut(&id).expect("visible").routes = routes;
    }
    let r = st.network.routers.get_mut(&id).expect("visible");
    if let Some(v) = str_field(&b, "name")? {
        r.name = v;
    }
    if let Some(v) = str_field(&b, "description")? {
        r.description = v;
    }
    if let Some(v) = bool_field(&b, "admin_state_up")? {
        r.admin_state_up = v;
    }
    r.updated_at = Utc::now();
    r.revision_number += 1;
    let r = r.clone();
    Ok(one("router", view(&st, &ctx, &pod, &r), &Query::default(), 200))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    if st
        .network
        .ports
        .values()
        .any(|p| p.device_id == id && p.device_owner == "network:router_interface")
    {
        return Err(ApiError::conflict(SVC, "RouterInUse", format!("Router {id} still has ports")));
    }
    st.router_clear_gateway(&id);
    st.network.routers.remove(&id);
    Ok(empty(204))
}

fn interface_info(st: &PodState, router: &Router, port_id: &str) -> Value {
    let p = &st.network.ports[port_id];
    let subnets: Vec<&String> = p.fixed_ips.iter().map(|f| &f.subnet_id).collect();
    json!({
        "id": router.id, "network_id": p.network_id, "port_id": p.id,
        "subnet_id": subnets.first(), "subnet_ids": subnets,
        "project_id": router.project_id,
    })
}

pub async fn add_interface(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: Value = crate::http::parse(SVC, &body)?;
    let mut st = pod.write();
    let router = visible(&st, &ctx, &id)?.clone();
    let connected = st.router_subnets(&id);
    let port_id = match (str_field(&b, "subnet_id")?, str_field(&b, "port_id")?) {
        (Some(_), Some(_)) => {
            return Err(bad("Bad router request: Cannot specify both subnet-id and port-id."));
        }
        (Some(sid), None) => {
            let s = st
                .network
                .subnets
                .get(&sid)
                .filter(|s| can_see(&ctx, &s.project_id, false))
                .ok_or_else(|| subnet_nf(&sid))?
                .clone();
            let gw = s.gateway_ip.clone().ok_or_else(|| {
                bad(format!("Bad router request: Subnet {sid} does not have a gateway IP."))
            })?;
            if connected.contains(&sid) {
                return Err(bad(format!(
                    "Bad router request: Router already has a port on subnet {sid}."
                )));
            }
            let new = parse_cidr(&s.cidr).map_err(bad)?;
            for other in connected.iter().filter_map(|c| st.network.subnets.get(c)) {
                if let Ok(o) = parse_cidr(&other.cidr)
                    && (o.contains(&new.network()) || new.contains(&o.network()))
                {
                    return Err(bad(format!(
                        "Bad router request: Cidr {} of subnet {sid} overlaps with cidr {} of subnet {}.",
                        s.cidr, other.cidr, other.id
                    )));
                }
            }
            let mut spec = PortSpec::new(&s.network_id, &router.project_id);
            spec.device_id = id.clone();
            spec.device_owner = "network:router_interface".into();
            spec.port_security_enabled = Some(false);
            spec.fixed_ips = Some(vec![FixedIpReq { subnet_id: Some(sid), ip_address: Some(gw) }]);
            st.port_create(spec)?
        }
        (None, Some(pid)) => {
            let p = st
                .network
                .ports
                .get(&pid)
                .filter(|p| can_see(&ctx, &p.project_id, false))
                .ok_or_else(|| port_nf(&pid))?;
            if !p.device_id.is_empty() || !p.device_owner.is_empty() {
                return Err(ApiError::conflict(
                    SVC,
                    "PortInUse",
                    format!(
                        "Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.",
                        p.network_id, p.device_id
                    ),
                ));
            }
            if p.fixed_ips.is_empty() {
                return Err(bad(
                    "Bad router request: Router port must have at least one fixed IP.",
                ));
            }
            let p = st.network.ports.get_mut(&pid).expect("checked");
            p.device_id = id.clone();
            p.device_owner = "network:router_interface".into();
            p.status = "ACTIVE".into();
            p.security_groups.clear();
            pid
        }
        (None, None) => {
            return Err(bad("Bad router request: Either subnet_id or port_id must be specified."));
        }
    };
    if let Some(r) = st.network.routers.get_mut(&id) {
        r.revision_number += 1;
        r.updated_at = Utc::now();
    }
    Ok(json_resp(200, interface_info(&st, &router, &port_id)))
}

pub async fn remove_interface(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: Value = crate::http::parse(SVC, &body)?;
    let mut st = pod.write();
    let router = visible(&st, &ctx, &id)?.clone();
    let is_iface = |p: &&crate::model::network::Port| {
        p.device_id == id && p.device_owner == "network:router_interface"
    };
    let port_id = match (str_field(&b, "subnet_id")?, str_field(&b, "port_id")?) {
        (_, Some(pid)) => {
            st.network.ports.get(&pid).filter(is_iface).map(|p| p.id.clone()).ok_or_else(|| {
                not_found(
                    "RouterInterfaceNotFound",
                    format!("Router {id} does not have an interface with id {pid}"),
                )
            })?
        }
        (Some(sid), None) => st
            .network
            .ports
            .values()
            .filter(is_iface)
            .find(|p| p.fixed_ips.iter().any(|f| f.subnet_id == sid))
            .map(|p| p.id.clone())
            .ok_or_else(|| {
                not_found(
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {sid}"),
                )
            })?,
        (None, None) => {
            return Err(bad("Bad router request: Either subnet_id or port_id must be specified."));
        }
    };
    let p = st.network.ports[&port_id].clone();
    let nets: Vec<ipnet::IpNet> = p
        .fixed_ips
        .iter()
        .filter_map(|f| st.network.subnets.get(&f.subnet_id))
        .filter_map(|s| parse_cidr(&s.cidr).ok())
        .collect();
    if let Some(route) = router.routes.iter().find(|r| {
        r.nexthop.parse::<std::net::IpAddr>().is_ok_and(|h| nets.iter().any(|n| n.contains(&h)))
    }) {
        return Err(ApiError::conflict(
            SVC,
            "RouterInterfaceInUseByRoute",
            format!(
                "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more routes ({}).",
                p.fixed_ips.first().map(|f| f.subnet_id.as_str()).unwrap_or(""),
                route.destination
            ),
        ));
    }
    let info = interface_info(&st, &router, &port_id);
    st.network.ports.remove(&port_id);
    Ok(json_resp(200, info))
}

async fn change_routes(pod: Pod, ctx: Ctx, id: String, body: Bytes, add: bool) -> ApiResult {
    let b = body_obj(&body, "router")?;
    let routes = routes_field(&b)?.ok_or_else(|| bad("Invalid input for routes."))?;
    let mut st = pod.write();
    visible(&st, &ctx, &id)?;
    if add {
        st.check_routes(&id, &routes)?;
    }
    let r = st.network.routers.get_mut(&id).expect("visible");
    for route in routes {
        r.routes.retain(|x| x != &route);
        if add {
            r.routes.push(route);
        }
    }
    r.revision_number += 1;
    r.updated_at = Utc::now();
    let r = r.clone();
    Ok(one("router", view(&st, &ctx, &pod, &r), &Query::default(), 200))
}

pub async fn add_extraroutes(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_routes(pod, ctx, id, body, true).await
}

pub async fn remove_extraroutes(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_routes(pod, ctx, id, body, false).await
}
