//! Routers: interfaces, external gateway and extra routes, at the top.
//!
//! As in Neutron, a router's interfaces and its gateway are ordinary ports
//! it owns (`device_owner` `network:router_interface` /
//! `network:router_gateway`, `device_id` the router), so port listings,
//! subnet-in-use and network-in-use checks see them; their addresses come
//! from the central IPAM like every other port's. An interface by subnet
//! takes the subnet's gateway IP; the gateway port belongs to no project
//! (Neutron's `tenant_id` ''), so only admins and the external network's
//! owner see it. Extra routes need a next hop on a subnet the router is
//! connected to.

use std::net::IpAddr;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{NetFilter, NetObject};

use super::listing::{ListQuery, list_body_of};
use super::networks::network_not_found;
use super::ports::port_not_found;
use super::subnets::subnet_not_found;
use super::{
    Caller, body_object, body_of, bool_field, known_attributes, new_object, next_revision,
    not_read_only, policy, short, str_field, string_list, target_project, with_standard_attributes,
};
use crate::App;

pub(crate) const ROUTER_INTERFACE: &str = "network:router_interface";
pub(crate) const ROUTER_GATEWAY: &str = "network:router_gateway";

/// Where the router keeps its gateway port's ID (never shown).
const GATEWAY_PORT: &str = "tricircle:gateway_port";

/// What a router create or update may carry.
const ROUTER_ATTRIBUTES: &[&str] = &[
    "name",
    "description",
    "admin_state_up",
    "external_gateway_info",
    "routes",
    "availability_zone_hints",
    "distributed",
    "ha",
    "flavor_id",
    "project_id",
    "tenant_id",
    "tags",
];

/// Every attribute of the view (what lists may filter and sort on).
const ROUTER_VIEW_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "project_id",
    "tenant_id",
    "description",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "status",
    "admin_state_up",
    "external_gateway_info",
    "routes",
    "availability_zone_hints",
    "availability_zones",
    "distributed",
    "ha",
    "flavor_id",
];

/// Only admins see these (Neutron's default policy).
const ADMIN_ONLY: &[&str] = &["distributed", "ha"];

pub(crate) fn router_not_found(id: &str) -> Error {
    Error::not_found("Router", tricircle_common::ids::truncate_for_message(id))
        .with_type("RouterNotFound")
}

/// Neutron's `BadRequest(resource='router', ...)`.
fn bad_router(msg: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Bad router request: {msg}")).with_type("BadRequest")
}

fn bad_input(msg: impl Into<String>) -> Error {
    Error::bad_request(msg).with_type("HTTPBadRequest")
}

/// The same context with the admin role: the router's own ports are made
/// by the router, whatever the caller may do with ports itself.
pub(crate) fn as_admin(ctx: &RequestContext) -> RequestContext {
    let mut c = ctx.clone();
    if !c.auth.is_admin() {
        c.auth.roles.push("admin".into());
    }
    c
}

/// A parsed extra route.
#[derive(Clone, Debug, PartialEq)]
struct Route {
    destination: ipnet::IpNet,
    nexthop: IpAddr,
}

impl Route {
    fn to_json(&self) -> Value {
        json!({"destination": self.destination.to_string(), "nexthop": self.nexthop.to_string()})
    }
}

fn routes_of(v: &Value) -> Result<Vec<Route>> {
    let invalid = || {
        bad_input(format!(
            "Invalid input for routes. Reason: Invalid data format for hostroute: '{}'.",
            short(v)
        ))
    };
    let Value::Array(a) = v else { return Err(invalid()) };
    a.iter()
        .map(|r| {
            let o = r.as_object().ok_or_else(invalid)?;
            if o.len() != 2 {
                return Err(invalid());
            }
            let dest = o.get("destination").and_then(Value::as_str).ok_or_else(invalid)?;
            let hop = o.get("nexthop").and_then(Value::as_str).ok_or_else(invalid)?;
            let destination: ipnet::IpNet = dest.parse().map_err(|_| {
                bad_input(format!(
                    "Invalid input for routes. Reason: '{}' is not a valid IP subnet.",
                    tricircle_common::ids::truncate_for_message(dest)
                ))
            })?;
            let nexthop: IpAddr = hop.parse().map_err(|_| {
                bad_input(format!(
                    "Invalid input for routes. Reason: '{}' is not a valid IP address.",
                    tricircle_common::ids::truncate_for_message(hop)
                ))
            })?;
            Ok(Route { destination: destination.trunc(), nexthop })
        })
        .collect()
}

fn routes_field(b: &Map<String, Value>) -> Result<Option<Vec<Route>>> {
    match b.get("routes") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => routes_of(v).map(Some),
    }
}

fn stored_routes(view: &Map<String, Value>) -> Vec<Route> {
    view.get("routes").and_then(|v| routes_of(v).ok()).unwrap_or_default()
}

fn invalid_routes(routes: &[Route], reason: &str) -> Error {
    let shown: Vec<String> = routes
        .iter()
        .map(|r| format!("{{'destination': '{}', 'nexthop': '{}'}}", r.destination, r.nexthop))
        .collect();
    Error::bad_request(format!("Invalid format for routes: [{}], {reason}", shown.join(", ")))
        .with_type("InvalidRoutes")
}

/// A port's `(subnet_id, ip_address)` pairs.
pub(crate) fn fixed_ips_of(port: &Map<String, Value>) -> Vec<(String, String)> {
    port.get("fixed_ips")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    Some((
                        f["subnet_id"].as_str()?.to_string(),
                        f["ip_address"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A router's port: the stored row and its body.
struct RouterPort {
    obj: NetObject,
    body: Map<String, Value>,
}

impl RouterPort {
    fn owner(&self) -> &str {
        self.body.get("device_owner").and_then(Value::as_str).unwrap_or_default()
    }

    fn subnet_ids(&self) -> Vec<String> {
        fixed_ips_of(&self.body).into_iter().map(|(s, _)| s).collect()
    }
}

/// What add/remove_router_interface answer.
fn interface_info(router: &NetObject, port: &RouterPort) -> Value {
    let subnets = port.subnet_ids();
    json!({
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.obj.id,
        "network_id": port.obj.network_id,
        "subnet_id": subnets.first(),
        "subnet_ids": subnets,
    })
}

impl App {
    /// A router the caller sees: its own (admins see all).
    async fn router_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        self.store
            .net_object_get("router", id)
            .await?
            .filter(|r| caller.owns(r))
            .ok_or_else(|| router_not_found(id))
    }

    /// The ports a router owns (interfaces and gateway), oldest first.
    async fn router_ports(&self, router_id: &str) -> Result<Vec<RouterPort>> {
        let mut out = Vec::new();
        for obj in self.store.net_object_list("port", &NetFilter::default()).await? {
            let body = body_of(&obj)?;
            let owned = body.get("device_id").and_then(Value::as_str) == Some(router_id)
                && body
                    .get("device_owner")
                    .and_then(Value::as_str)
                    .is_some_and(|o| o == ROUTER_INTERFACE || o == ROUTER_GATEWAY);
            if owned {
                out.push(RouterPort { obj, body });
            }
        }
        Ok(out)
    }

    /// The CIDRs of the subnets a router is connected to.
    async fn router_cidrs(&self, ports: &[RouterPort]) -> Result<Vec<(String, ipnet::IpNet)>> {
        let mut out = Vec::new();
        for p in ports {
            for sid in p.subnet_ids() {
                if let Some(s) = self.store.net_object_get("subnet", &sid).await?
                    && let Some(cidr) = body_of(&s)?["cidr"].as_str().and_then(|c| c.parse().ok())
                {
                    out.push((sid, cidr));
                }
            }
        }
        Ok(out)
    }

    async fn router_view(&self, obj: &NetObject, caller: &Caller<'_>) -> Result<Value> {
        let mut v = body_of(obj)?;
        if let Some(port_id) = v.get(GATEWAY_PORT).and_then(Value::as_str).map(str::to_string)
            && let Some(Value::Object(gw)) = v.get_mut("external_gateway_info")
        {
            let ips = match self.store.net_object_get("port", &port_id).await? {
                Some(p) => body_of(&p)?.get("fixed_ips").cloned().unwrap_or(json!([])),
                None => json!([]),
            };
            gw.insert("external_fixed_ips".into(), ips);
        }
        if !caller.is_admin {
            for k in ADMIN_ONLY {
                v.remove(*k);
            }
        }
        Ok(with_standard_attributes(obj, v))
    }

    pub async fn router_list(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
        link_base: &str,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let filter = NetFilter {
            project_id: (!caller.is_admin).then_some(caller.project_id),
            ..Default::default()
        };
        let mut views = Vec::new();
        for r in self.store.net_object_list("router", &filter).await? {
            views.push(self.router_view(&r, &caller).await?);
        }
        list_body_of(
            "routers",
            ROUTER_VIEW_ATTRIBUTES,
            views,
            q,
            link_base,
            self.settings.pagination_max_limit,
        )
    }

    pub async fn router_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let r = self.router_visible(&caller, id).await?;
        self.router_view(&r, &caller).await
    }

    /// Check a gateway request: the external network and who may ask what.
    async fn gateway_network(
        &self,
        caller: &Caller<'_>,
        info: &Map<String, Value>,
        action: &str,
    ) -> Result<NetObject> {
        known_attributes(info, &["network_id", "enable_snat", "external_fixed_ips"])?;
        if !caller.is_admin {
            for key in ["enable_snat", "external_fixed_ips"] {
                if info.contains_key(key) {
                    return Err(policy(&format!(
                        "rule:{action}_router and rule:{action}_router:external_gateway_info:{key}"
                    )));
                }
            }
        }
        let net_id = str_field(info, "network_id")?.ok_or_else(|| {
            bad_input("Invalid input for external_gateway_info. Reason: network_id is required.")
        })?;
        let net = self
            .store
            .net_object_get("network", &net_id)
            .await?
            .filter(|n| caller.sees(n))
            .ok_or_else(|| network_not_found(&net_id))?;
        if !body_of(&net)?["router:external"].as_bool().unwrap_or(false) {
            return Err(bad_router(format!("Network {net_id} is not a valid external network.")));
        }
        Ok(net)
    }

    /// Give a router a gateway port on `net` and record it in `view`;
    /// returns the port it replaces, for the caller to delete once stored.
    async fn set_gateway(
        &self,
        ctx: &RequestContext,
        router_id: &str,
        view: &mut Map<String, Value>,
        net: &NetObject,
        info: &Map<String, Value>,
    ) -> Result<Option<String>> {
        let enable_snat = bool_field(info, "enable_snat")?.unwrap_or(true);
        let old_port = view.get(GATEWAY_PORT).and_then(Value::as_str).map(str::to_string);
        let same_network = view
            .get("external_gateway_info")
            .and_then(|g| g.get("network_id"))
            .and_then(Value::as_str)
            == Some(net.id.as_str());
        if same_network && old_port.is_some() && !info.contains_key("external_fixed_ips") {
            // Only SNAT changes: the port stays.
            view.insert(
                "external_gateway_info".into(),
                json!({"network_id": net.id, "enable_snat": enable_snat}),
            );
            return Ok(None);
        }
        let mut port = json!({
            "network_id": net.id,
            "project_id": "",
            "name": "",
            "device_id": router_id,
            "device_owner": ROUTER_GATEWAY,
            "port_security_enabled": false,
        });
        match info.get("external_fixed_ips") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                port["fixed_ips"] = Value::Array(a.clone());
            }
            Some(other) => {
                return Err(bad_input(format!(
                    "Invalid input for external_fixed_ips. Reason: '{}' is not a list.",
                    short(other)
                )));
            }
        }
        let created =
            self.port_create_metered(&as_admin(ctx), &json!({ "port": port }), false).await?;
        let port_id = created["id"].as_str().unwrap_or_default().to_string();
        view.insert(
            "external_gateway_info".into(),
            json!({"network_id": net.id, "enable_snat": enable_snat}),
        );
        view.insert(GATEWAY_PORT.into(), json!(port_id));
        Ok(old_port)
    }

    /// Delete a port the router owns (no API check: the router's own).
    async fn drop_router_port(&self, port_id: &str) -> Result<()> {
        self.store.net_object_delete(port_id).await?;
        Ok(())
    }

    pub async fn router_create(&self, ctx: &RequestContext, body: &Value) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "router")?;
        known_attributes(b, ROUTER_ATTRIBUTES)?;
        let project = target_project(&caller, b)?;
        if !caller.is_admin {
            for key in ADMIN_ONLY {
                if b.contains_key(*key) {
                    return Err(policy(&format!(
                        "rule:create_router and rule:create_router:{key}"
                    )));
                }
            }
        }
        for key in ["distributed", "ha"] {
            if bool_field(b, key)? == Some(true) {
                return Err(bad_input(format!(
                    "Invalid input for {key}. Reason: {key} routers are not supported by the gateway."
                )));
            }
        }
        if b.contains_key("routes") {
            return Err(bad_input(
                "Invalid input for routes. Reason: routes cannot be set when creating a router; add interfaces first, then update it.",
            ));
        }
        let gateway = match b.get("external_gateway_info") {
            None | Some(Value::Null) => None,
            Some(Value::Object(info)) if info.is_empty() => None,
            Some(Value::Object(info)) => {
                Some((info, self.gateway_network(&caller, info, "create").await?))
            }
            Some(other) => {
                return Err(bad_input(format!(
                    "Invalid input for external_gateway_info. Reason: '{}' is not a dictionary.",
                    short(other)
                )));
            }
        };
        let hints = string_list(b, "availability_zone_hints")?.unwrap_or_default();
        if !hints.is_empty() {
            self.check_zone_hints(&json!(&hints)).await?;
        }
        let mut view = Map::new();
        view.insert("name".into(), json!(str_field(b, "name")?.unwrap_or_default()));
        view.insert("description".into(), json!(str_field(b, "description")?.unwrap_or_default()));
        view.insert("status".into(), json!("ACTIVE"));
        view.insert(
            "admin_state_up".into(),
            json!(bool_field(b, "admin_state_up")?.unwrap_or(true)),
        );
        view.insert("external_gateway_info".into(), Value::Null);
        view.insert("routes".into(), json!([]));
        view.insert("availability_zone_hints".into(), json!(hints));
        view.insert("availability_zones".into(), json!([]));
        view.insert("distributed".into(), json!(false));
        view.insert("ha".into(), json!(false));
        view.insert("flavor_id".into(), Value::Null);
        view.insert("tags".into(), json!(string_list(b, "tags")?.unwrap_or_default()));
        view.insert("revision_number".into(), json!(1));
        self.check_network_quota(&project, "router", 1).await?;
        let mut obj = new_object("router", &project, None, false, &view);
        self.store.net_object_create(&obj).await?;
        if let Some((info, net)) = gateway {
            if let Err(e) = self.set_gateway(ctx, &obj.id, &mut view, &net, info).await {
                self.store.net_object_delete(&obj.id).await?;
                return Err(e);
            }
            obj.body = Value::Object(view).to_string();
            self.store.net_object_update(&obj.id, false, &obj.body).await?;
            // Its copy with the gateway, in the external network's pod.
            self.sync_routers_recorded([obj.id.clone()]).await;
        }
        self.router_view(&obj, &caller).await
    }

    pub async fn router_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "router")?;
        known_attributes(b, ROUTER_ATTRIBUTES)?;
        not_read_only(b)?;
        let r = self.router_visible(&caller, id).await?;
        if !caller.is_admin {
            for key in ADMIN_ONLY {
                if b.contains_key(*key) {
                    return Err(policy(&format!(
                        "rule:update_router and rule:update_router:{key}"
                    )));
                }
            }
        }
        for key in ["availability_zone_hints", "flavor_id"] {
            if b.contains_key(key) {
                return Err(bad_input(format!("Cannot update read-only attribute {key}")));
            }
        }
        let mut view = body_of(&r)?;
        self.check_gateway_change_for_floating_ips(id, &view, b).await?;
        for key in ["name", "description"] {
            if let Some(v) = str_field(b, key)? {
                view.insert(key.into(), json!(v));
            }
        }
        if let Some(v) = bool_field(b, "admin_state_up")? {
            view.insert("admin_state_up".into(), json!(v));
        }
        for key in ["distributed", "ha"] {
            if bool_field(b, key)? == Some(true) {
                return Err(bad_input(format!(
                    "Invalid input for {key}. Reason: {key} routers are not supported by the gateway."
                )));
            }
        }
        if let Some(v) = string_list(b, "tags")? {
            view.insert("tags".into(), json!(v));
        }
        if let Some(routes) = routes_field(b)? {
            self.check_routes(id, &routes).await?;
            view.insert(
                "routes".into(),
                json!(routes.iter().map(Route::to_json).collect::<Vec<_>>()),
            );
        }
        // The gateway last: it is the only part that makes ports.
        let mut stale_port = None;
        let mut new_port = None;
        match b.get("external_gateway_info") {
            None => {}
            Some(Value::Null) => {
                stale_port = view.remove(GATEWAY_PORT).and_then(|v| v.as_str().map(str::to_string));
                view.insert("external_gateway_info".into(), Value::Null);
            }
            Some(Value::Object(info)) if info.is_empty() => {
                stale_port = view.remove(GATEWAY_PORT).and_then(|v| v.as_str().map(str::to_string));
                view.insert("external_gateway_info".into(), Value::Null);
            }
            Some(Value::Object(info)) => {
                let net = self.gateway_network(&caller, info, "update").await?;
                let before = view.get(GATEWAY_PORT).cloned();
                stale_port = self.set_gateway(ctx, id, &mut view, &net, info).await?;
                if view.get(GATEWAY_PORT) != before.as_ref() {
                    new_port = view.get(GATEWAY_PORT).and_then(Value::as_str).map(str::to_string);
                }
            }
            Some(other) => {
                return Err(bad_input(format!(
                    "Invalid input for external_gateway_info. Reason: '{}' is not a dictionary.",
                    short(other)
                )));
            }
        }
        if stale_port.is_some() {
            // Routes through the old gateway's subnets would dangle.
            let routes = stored_routes(&view);
            if !routes.is_empty() {
                let mut ports = self.router_ports(id).await?;
                ports.retain(|p| Some(&p.obj.id) != stale_port.as_ref());
                if let Err(e) = self.routes_reachable(&ports, &routes).await {
                    if let Some(p) = new_port {
                        self.drop_router_port(&p).await?;
                    }
                    return Err(e);
                }
            }
        }
        next_revision(&mut view);
        if !self.store.net_object_update(id, false, &Value::Object(view).to_string()).await? {
            if let Some(p) = new_port {
                self.drop_router_port(&p).await?;
            }
            return Err(router_not_found(id));
        }
        if let Some(p) = stale_port {
            self.drop_router_port(&p).await?;
        }
        // The gateway (or its removal) reaches the pods.
        self.sync_routers_recorded([id.to_string()]).await;
        self.router_show(ctx, id).await
    }

    /// Every next hop must be on a subnet the router is connected to and
    /// not be one of the router's own addresses.
    async fn check_routes(&self, router_id: &str, routes: &[Route]) -> Result<()> {
        let ports = self.router_ports(router_id).await?;
        self.routes_reachable(&ports, routes).await
    }

    async fn routes_reachable(&self, ports: &[RouterPort], routes: &[Route]) -> Result<()> {
        let cidrs = self.router_cidrs(ports).await?;
        let own: Vec<IpAddr> = ports
            .iter()
            .flat_map(|p| fixed_ips_of(&p.body))
            .filter_map(|(_, ip)| ip.parse().ok())
            .collect();
        for r in routes {
            if !cidrs.iter().any(|(_, c)| c.contains(&r.nexthop)) {
                return Err(invalid_routes(
                    std::slice::from_ref(r),
                    "the nexthop is not connected with router",
                ));
            }
            if own.contains(&r.nexthop) {
                return Err(invalid_routes(
                    std::slice::from_ref(r),
                    "the nexthop is used by router",
                ));
            }
        }
        Ok(())
    }

    pub async fn router_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let r = self.router_visible(&caller, id).await?;
        let ports = self.router_ports(id).await?;
        if ports.iter().any(|p| p.owner() == ROUTER_INTERFACE) {
            return Err(
                Error::conflict(format!("Router {id} still has ports")).with_type("RouterInUse")
            );
        }
        if !self.store.net_object_delete(&r.id).await? {
            return Err(router_not_found(id));
        }
        for p in ports {
            self.drop_router_port(&p.obj.id).await?;
        }
        self.sync_routers_recorded([r.id.clone()]).await;
        Ok(())
    }

    pub async fn router_add_interface(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body.as_object().ok_or_else(|| bad_input("Malformed request body."))?;
        let r = self.router_visible(&caller, id).await?;
        let ports = self.router_ports(id).await?;
        let connected = self.router_cidrs(&ports).await?;
        let port_id = match (str_field(b, "subnet_id")?, str_field(b, "port_id")?) {
            (Some(_), Some(_)) => {
                return Err(bad_router("Cannot specify both subnet-id and port-id"));
            }
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"));
            }
            (Some(sid), None) => {
                let s = self.subnet_show(ctx, &sid).await?;
                let gateway = s["gateway_ip"].as_str().map(str::to_string).ok_or_else(|| {
                    bad_router("Subnet for router interface must have a gateway IP")
                })?;
                let cidr: ipnet::IpNet = s["cidr"]
                    .as_str()
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| Error::internal(format!("subnet {sid}: bad stored cidr")))?;
                self.check_new_subnets(&connected, &[(sid.clone(), cidr)])?;
                let port = json!({
                    "network_id": s["network_id"],
                    "project_id": r.project_id,
                    "name": "",
                    "device_id": id,
                    "device_owner": ROUTER_INTERFACE,
                    "port_security_enabled": false,
                    "fixed_ips": [{"subnet_id": sid, "ip_address": gateway}],
                });
                let created = self
                    .port_create_metered(&as_admin(ctx), &json!({ "port": port }), false)
                    .await?;
                created["id"].as_str().unwrap_or_default().to_string()
            }
            (None, Some(pid)) => {
                let p = self
                    .store
                    .net_object_get("port", &pid)
                    .await?
                    .filter(|p| caller.owns(p))
                    .ok_or_else(|| port_not_found(&pid))?;
                let mut pb = body_of(&p)?;
                let device_id = pb.get("device_id").and_then(Value::as_str).unwrap_or_default();
                let owner = pb.get("device_owner").and_then(Value::as_str).unwrap_or_default();
                if !device_id.is_empty() || !owner.is_empty() {
                    return Err(Error::conflict(format!(
                        "Unable to complete operation on port {pid} for network {}. Port already has an attached device {device_id}.",
                        p.network_id.as_deref().unwrap_or_default()
                    ))
                    .with_type("PortInUse"));
                }
                let ips = fixed_ips_of(&pb);
                if ips.is_empty() {
                    return Err(bad_router("Router port must have at least one fixed IP"));
                }
                let mut new = Vec::new();
                for (sid, _) in &ips {
                    let s = self
                        .store
                        .net_object_get("subnet", sid)
                        .await?
                        .ok_or_else(|| subnet_not_found(sid))?;
                    if let Some(c) = body_of(&s)?["cidr"].as_str().and_then(|c| c.parse().ok()) {
                        new.push((sid.clone(), c));
                    }
                }
                self.check_new_subnets(&connected, &new)?;
                pb.insert("device_id".into(), json!(id));
                pb.insert("device_owner".into(), json!(ROUTER_INTERFACE));
                pb.insert("security_groups".into(), json!([]));
                next_revision(&mut pb);
                if !self
                    .store
                    .net_object_update(&pid, false, &Value::Object(pb).to_string())
                    .await?
                {
                    return Err(port_not_found(&pid));
                }
                pid
            }
        };
        self.touch_router(&r).await?;
        let port = self.store.net_object_get("port", &port_id).await?.ok_or_else(|| {
            Error::internal(format!("router {id}: interface port {port_id} vanished"))
        })?;
        let body = body_of(&port)?;
        Ok(interface_info(&r, &RouterPort { obj: port, body }))
    }

    /// A new interface's subnets must be neither on the router already nor
    /// overlap a subnet it is connected to, nor the bridge range its copies
    /// in several regions are joined over.
    fn check_new_subnets(
        &self,
        connected: &[(String, ipnet::IpNet)],
        new: &[(String, ipnet::IpNet)],
    ) -> Result<()> {
        let bridge = ipnet::IpNet::V4(self.settings.bridge_cidr);
        for (sid, cidr) in new {
            if bridge.contains(&cidr.network()) || cidr.contains(&bridge.network()) {
                return Err(bad_router(format!(
                    "Cidr {cidr} of subnet {sid} overlaps with {bridge}, the range the gateway joins a router's regions over (networking.bridge_cidr): use another range for this subnet."
                )));
            }
            for (other, ocidr) in connected {
                if other == sid {
                    return Err(bad_router(format!("Router already has a port on subnet {sid}")));
                }
                if ocidr.contains(&cidr.network()) || cidr.contains(&ocidr.network()) {
                    return Err(bad_router(format!(
                        "Cidr {cidr} of subnet {sid} overlaps with cidr {ocidr} of subnet {other}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// A router's revision moves with its interfaces.
    async fn touch_router(&self, r: &NetObject) -> Result<()> {
        let mut view = body_of(r)?;
        next_revision(&mut view);
        self.store.net_object_update(&r.id, false, &Value::Object(view).to_string()).await?;
        // Its copies in pods follow its interfaces.
        self.sync_routers_recorded([r.id.clone()]).await;
        Ok(())
    }

    pub async fn router_remove_interface(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body.as_object().ok_or_else(|| bad_input("Malformed request body."))?;
        let r = self.router_visible(&caller, id).await?;
        let ports = self.router_ports(id).await?;
        let mut interfaces = ports.iter().filter(|p| p.owner() == ROUTER_INTERFACE);
        let port = match (str_field(b, "subnet_id")?, str_field(b, "port_id")?) {
            (_, Some(pid)) => interfaces.find(|p| p.obj.id == pid).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "Router {id} does not have an interface with id {}",
                        tricircle_common::ids::truncate_for_message(&pid)
                    ),
                )
                .with_type("RouterInterfaceNotFound")
            })?,
            (Some(sid), None) => {
                interfaces.find(|p| p.subnet_ids().contains(&sid)).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "Router {id} has no interface on subnet {}",
                            tricircle_common::ids::truncate_for_message(&sid)
                        ),
                    )
                    .with_type("RouterInterfaceNotFoundForSubnet")
                })?
            }
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"));
            }
        };
        // Routes through this interface would dangle.
        let routes = stored_routes(&body_of(&r)?);
        let rest: Vec<RouterPort> = ports
            .iter()
            .filter(|p| p.obj.id != port.obj.id)
            .map(|p| RouterPort { obj: p.obj.clone(), body: p.body.clone() })
            .collect();
        let rest_cidrs = self.router_cidrs(&rest).await?;
        if let Some(route) =
            routes.iter().find(|rt| !rest_cidrs.iter().any(|(_, c)| c.contains(&rt.nexthop)))
        {
            return Err(Error::conflict(format!(
                "Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more routes.",
                port.subnet_ids().first().map(String::as_str).unwrap_or_default()
            ))
            .with_type("RouterInterfaceInUseByRoute")
            .with_internal(format!("route to {}", route.destination)));
        }
        self.check_interface_free_of_floating_ips(id, &port.subnet_ids()).await?;
        let info = interface_info(&r, port);
        self.drop_router_port(&port.obj.id).await?;
        self.touch_router(&r).await?;
        // A pod's copy of the network may have no user left.
        self.sync_networks_recorded(port.obj.network_id.clone()).await;
        Ok(info)
    }

    pub async fn router_change_routes(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
        add: bool,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "router")?;
        known_attributes(b, &["routes"])?;
        let routes = routes_field(b)?
            .ok_or_else(|| bad_input("Invalid input for routes. Reason: routes is required."))?;
        let r = self.router_visible(&caller, id).await?;
        if add {
            self.check_routes(id, &routes).await?;
        }
        let mut view = body_of(&r)?;
        let mut current = stored_routes(&view);
        for route in routes {
            current.retain(|x| x != &route);
            if add {
                current.push(route);
            }
        }
        view.insert("routes".into(), json!(current.iter().map(Route::to_json).collect::<Vec<_>>()));
        next_revision(&mut view);
        if !self.store.net_object_update(id, false, &Value::Object(view).to_string()).await? {
            return Err(router_not_found(id));
        }
        // The copies take the routes whose next hop they are connected to.
        self.sync_routers_recorded([id.to_string()]).await;
        self.router_show(ctx, id).await
    }

    /// Whether a port is a router's (and that router exists): such ports
    /// go with their router's interface and gateway calls only.
    pub(crate) async fn router_owns_port(&self, port: &Map<String, Value>) -> Result<bool> {
        let owner = port.get("device_owner").and_then(Value::as_str).unwrap_or_default();
        if owner != ROUTER_INTERFACE
            && owner != ROUTER_GATEWAY
            && owner != super::bridges::BRIDGE_OWNER
        {
            return Ok(false);
        }
        let router = port.get("device_id").and_then(Value::as_str).unwrap_or_default();
        Ok(!router.is_empty() && self.store.net_object_get("router", router).await?.is_some())
    }
}
