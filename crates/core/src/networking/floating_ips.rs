//! Floating IPs at the top: an address of an external network, optionally
//! mapped to a fixed IP of a project's port.
//!
//! As in Neutron, the address is held by a port on the external network
//! (`device_owner` `network:floatingip`, `device_id` the floating IP, no
//! project), made through the central IPAM like every other port, so an
//! address is never given twice and exhaustion answers as for ports. An
//! association needs a router with an interface on the port's subnet and
//! its gateway on the floating network; that router is recorded as the
//! floating IP's `router_id`, which the pod side reads through
//! `floating_ips_of_router`. Routers refuse to drop the interface or the
//! gateway an association goes through, the port API refuses to delete the
//! address's port, and deleting the associated port disassociates (as in
//! Neutron); the checks live here, called from `routers.rs` and `ports.rs`.

use std::net::IpAddr;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{NetFilter, NetObject};

use super::listing::{ListQuery, list_body_of};
use super::ports::port_not_found;
use super::routers::{ROUTER_INTERFACE, as_admin, fixed_ips_of};
use super::subnets::SubnetFacts;
use super::{
    Caller, bad, body_object, body_of, known_attributes, new_object, next_revision, not_read_only,
    policy, short, str_field, string_list, target_project, with_standard_attributes,
};
use crate::App;

const KIND: &str = "floatingip";

/// The `device_owner` of the port holding a floating IP's address.
pub(crate) const FLOATING_IP_OWNER: &str = "network:floatingip";

/// Where a floating IP keeps the ID of the port holding its address (never
/// shown).
pub(crate) const FLOATING_PORT: &str = "tricircle:floating_port";

/// What a create may carry.
const CREATE_ATTRIBUTES: &[&str] = &[
    "floating_network_id",
    "floating_ip_address",
    "subnet_id",
    "port_id",
    "fixed_ip_address",
    "description",
    "project_id",
    "tenant_id",
    "tags",
];

/// What an update may change.
const UPDATE_ATTRIBUTES: &[&str] = &["port_id", "fixed_ip_address", "description", "tags"];

/// What a create sets and an update may not change.
const READ_ONLY: &[&str] = &[
    "floating_network_id",
    "floating_ip_address",
    "subnet_id",
    "router_id",
    "status",
    "port_details",
];

/// Every attribute of the view (what lists may filter and sort on).
const VIEW_ATTRIBUTES: &[&str] = &[
    "id",
    "project_id",
    "tenant_id",
    "description",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "floating_ip_address",
    "floating_network_id",
    "router_id",
    "port_id",
    "fixed_ip_address",
    "status",
    "port_details",
];

pub(crate) fn floating_ip_not_found(id: &str) -> Error {
    Error::not_found("Floating IP", tricircle_common::ids::truncate_for_message(id))
        .with_type("FloatingIPNotFound")
}

/// Neutron's `BadRequest(resource='floatingip', ...)`.
fn bad_floating_ip(msg: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Bad floatingip request: {msg}")).with_type("BadRequest")
}

fn ip_field(b: &Map<String, Value>, key: &str) -> Result<Option<IpAddr>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().and_then(|s| s.parse().ok()).map(Some).ok_or_else(|| {
            bad(format!(
                "Invalid input for {key}. Reason: '{}' is not a valid IP address.",
                short(v)
            ))
        }),
    }
}

fn text<'m>(b: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    b.get(key).and_then(Value::as_str)
}

/// Where an association points: the port's fixed IP and the router that
/// connects its subnet to the floating network.
struct Target {
    port_id: String,
    fixed_ip: String,
    router_id: String,
}

impl Target {
    /// Write the association (or its absence) into a stored body.
    fn apply(target: Option<&Target>, body: &mut Map<String, Value>) {
        body.insert("port_id".into(), json!(target.map(|t| &t.port_id)));
        body.insert("fixed_ip_address".into(), json!(target.map(|t| &t.fixed_ip)));
        body.insert("router_id".into(), json!(target.map(|t| &t.router_id)));
        body.insert("status".into(), json!(if target.is_some() { "ACTIVE" } else { "DOWN" }));
    }
}

impl App {
    /// A floating IP the caller sees: its own (admins see all).
    async fn floating_ip_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        self.store
            .net_object_get(KIND, id)
            .await?
            .filter(|f| caller.owns(f))
            .ok_or_else(|| floating_ip_not_found(id))
    }

    /// The view: the stored body, the associated port's details and the
    /// standard attributes.
    async fn floating_ip_view(&self, obj: &NetObject) -> Result<Value> {
        let mut v = body_of(obj)?;
        let details = match text(&v, "port_id") {
            Some(pid) => match self.store.net_object_get("port", pid).await? {
                Some(p) => {
                    let pb = body_of(&p)?;
                    let mut d = Map::new();
                    for k in [
                        "name",
                        "mac_address",
                        "admin_state_up",
                        "status",
                        "device_id",
                        "device_owner",
                    ] {
                        d.insert(k.into(), pb.get(k).cloned().unwrap_or(Value::Null));
                    }
                    d.insert("network_id".into(), json!(p.network_id));
                    Value::Object(d)
                }
                None => Value::Null,
            },
            None => Value::Null,
        };
        v.insert("port_details".into(), details);
        Ok(with_standard_attributes(obj, v))
    }

    /// The floating IPs associated through a router (for its pod copies).
    pub(crate) async fn floating_ips_of_router(&self, router_id: &str) -> Result<Vec<NetObject>> {
        let mut out = Vec::new();
        for f in self.store.net_object_list(KIND, &NetFilter::default()).await? {
            if text(&body_of(&f)?, "router_id") == Some(router_id) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Check an association of a floating IP on `network_id` with
    /// `port_id` (and `fixed`, or the port's only IPv4 address), as Neutron
    /// does: the caller's port, an address it has, a router between its
    /// subnet and the floating network, no other floating IP on that
    /// address from this network.
    async fn floating_ip_target(
        &self,
        caller: &Caller<'_>,
        fip_id: Option<&str>,
        network_id: &str,
        port_id: &str,
        fixed: Option<IpAddr>,
    ) -> Result<Target> {
        let port = self
            .store
            .net_object_get("port", port_id)
            .await?
            .filter(|p| caller.owns(p))
            .ok_or_else(|| port_not_found(port_id))?;
        let ips = fixed_ips_of(&body_of(&port)?);
        let (subnet_id, fixed_ip) = match fixed {
            Some(want) => {
                let found = ips.iter().find(|(_, ip)| ip.parse() == Ok(want)).ok_or_else(|| {
                    bad_floating_ip(format!("Port {port_id} does not have fixed ip {want}."))
                })?;
                if !want.is_ipv4() {
                    return Err(bad_floating_ip(format!(
                        "Cannot add floating IP to port {port_id}: fixed IP {want} is not an IPv4 address."
                    )));
                }
                found.clone()
            }
            None => {
                let v4: Vec<&(String, String)> = ips
                    .iter()
                    .filter(|(_, ip)| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()))
                    .collect();
                match v4.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(bad_floating_ip(format!(
                            "Cannot add floating IP to port {port_id} that has no IPv4 addresses."
                        )));
                    }
                    _ => {
                        return Err(bad_floating_ip(format!(
                            "Port {port_id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP."
                        )));
                    }
                }
            }
        };
        let subnet = self.store.net_object_get("subnet", &subnet_id).await?;
        if subnet.map(|s| body_of(&s)).transpose()?.is_none_or(|s| s["gateway_ip"].is_null()) {
            return Err(bad_floating_ip(format!(
                "Cannot add floating IP to port on subnet {subnet_id} which has no gateway_ip."
            )));
        }
        let router_id = self.router_between(&port, &subnet_id, network_id).await?;
        for f in self
            .store
            .net_object_list(
                KIND,
                &NetFilter { network_id: Some(network_id), ..Default::default() },
            )
            .await?
        {
            let b = body_of(&f)?;
            if Some(f.id.as_str()) != fip_id
                && text(&b, "port_id") == Some(port_id)
                && text(&b, "fixed_ip_address") == Some(fixed_ip.as_str())
            {
                return Err(Error::conflict(format!(
                    "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external network {network_id}.",
                    text(&b, "floating_ip_address").unwrap_or_default(),
                    f.id
                ))
                .with_type("FloatingIPPortAlreadyAssociated"));
            }
        }
        Ok(Target { port_id: port_id.to_string(), fixed_ip, router_id })
    }

    /// The first router (oldest interface first) with an interface on
    /// `subnet_id` and its gateway on the external network.
    async fn router_between(
        &self,
        port: &NetObject,
        subnet_id: &str,
        external_id: &str,
    ) -> Result<String> {
        let on = NetFilter { network_id: port.network_id.as_deref(), ..Default::default() };
        for p in self.store.net_object_list("port", &on).await? {
            let b = body_of(&p)?;
            if text(&b, "device_owner") != Some(ROUTER_INTERFACE)
                || !fixed_ips_of(&b).iter().any(|(s, _)| s == subnet_id)
            {
                continue;
            }
            let Some(r) = self
                .store
                .net_object_get("router", text(&b, "device_id").unwrap_or_default())
                .await?
            else {
                continue;
            };
            let gw = body_of(&r)?;
            if gw["external_gateway_info"]["network_id"].as_str() == Some(external_id) {
                return Ok(r.id);
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "External network {external_id} is not reachable from subnet {subnet_id}.  Therefore, cannot associate Port {} with a Floating IP.",
                port.id
            ),
        )
        .with_type("ExternalGatewayForFloatingIPNotFound"))
    }

    pub async fn floating_ip_list(
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
        for f in self.store.net_object_list(KIND, &filter).await? {
            views.push(self.floating_ip_view(&f).await?);
        }
        list_body_of(
            "floatingips",
            VIEW_ATTRIBUTES,
            views,
            q,
            link_base,
            self.settings.pagination_max_limit,
        )
    }

    pub async fn floating_ip_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let f = self.floating_ip_visible(&caller, id).await?;
        self.floating_ip_view(&f).await
    }

    pub async fn floating_ip_create(&self, ctx: &RequestContext, body: &Value) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "floatingip")?;
        known_attributes(b, CREATE_ATTRIBUTES)?;
        let project = target_project(&caller, b)?;
        let network_id = str_field(b, "floating_network_id")?.ok_or_else(|| {
            bad("Failed to parse request. Required attribute 'floating_network_id' not specified")
        })?;
        let address = ip_field(b, "floating_ip_address")?;
        if address.is_some() && !caller.is_admin {
            return Err(policy(
                "rule:create_floatingip and rule:create_floatingip:floating_ip_address",
            ));
        }
        self.check_network_quota(&project, "floatingip", 1).await?;
        let subnet_id = str_field(b, "subnet_id")?;
        let port_id = str_field(b, "port_id")?;
        let fixed = ip_field(b, "fixed_ip_address")?;
        if fixed.is_some() && port_id.is_none() {
            return Err(bad_floating_ip("fixed_ip_address cannot be specified without a port_id"));
        }
        let network = self.network_visible(&caller, &network_id).await?;
        if !body_of(&network)?["router:external"].as_bool().unwrap_or(false) {
            return Err(bad_floating_ip(format!(
                "Network {network_id} is not a valid external network."
            )));
        }
        // Association first, so a refused one leaves no port behind.
        let target = match &port_id {
            Some(p) => Some(self.floating_ip_target(&caller, None, &network_id, p, fixed).await?),
            None => None,
        };
        let mut fixed_ips = json!({});
        if let Some(a) = address {
            fixed_ips["ip_address"] = json!(a.to_string());
        }
        if let Some(s) = &subnet_id {
            fixed_ips["subnet_id"] = json!(s);
        }
        if address.is_none() && subnet_id.is_none() {
            // The first IPv4 subnet: a floating IP is an IPv4 address.
            let subnets = self.subnets_of(&network_id).await?;
            let v4 = subnets
                .iter()
                .map(SubnetFacts::of)
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .find(|s| s.cidr.addr().is_ipv4())
                .ok_or_else(|| {
                    bad_floating_ip(format!(
                        "Network {network_id} does not contain any IPv4 subnet"
                    ))
                })?;
            fixed_ips["subnet_id"] = json!(v4.id);
        }

        let mut view = Map::new();
        view.insert("floating_network_id".into(), json!(network_id));
        view.insert("description".into(), json!(str_field(b, "description")?.unwrap_or_default()));
        view.insert("tags".into(), json!(string_list(b, "tags")?.unwrap_or_default()));
        view.insert("revision_number".into(), json!(1));
        Target::apply(target.as_ref(), &mut view);
        let mut obj = new_object(KIND, &project, Some(&network_id), false, &view);
        // The port holding the address, owned by the floating IP.
        let port = json!({"port": {
            "network_id": network_id,
            "project_id": "",
            "name": "",
            "device_id": obj.id,
            "device_owner": FLOATING_IP_OWNER,
            "port_security_enabled": false,
            "fixed_ips": [fixed_ips],
        }});
        let port = self.port_create(&as_admin(ctx), &port).await?;
        let port_id = port["id"].as_str().unwrap_or_default().to_string();
        let Some(ip) = port["fixed_ips"][0]["ip_address"].as_str() else {
            self.store.net_object_delete(&port_id).await?;
            return Err(Error::internal(format!("floating IP port {port_id} has no address")));
        };
        if !ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()) {
            self.store.net_object_delete(&port_id).await?;
            return Err(bad_floating_ip(format!("{ip} is not an IPv4 address.")));
        }
        view.insert("floating_ip_address".into(), json!(ip));
        view.insert(FLOATING_PORT.into(), json!(port_id));
        obj.body = Value::Object(view).to_string();
        if let Err(e) = self.store.net_object_create(&obj).await {
            self.store.net_object_delete(&port_id).await?;
            return Err(e.into());
        }
        self.sync_floating_ips_moved([obj.id.clone()], None).await;
        self.floating_ip_view(&obj).await
    }

    pub async fn floating_ip_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "floatingip")?;
        not_read_only(b)?;
        if let Some(k) = READ_ONLY.iter().find(|k| b.contains_key(**k)) {
            return Err(bad(format!("Cannot update read-only attribute {k}")));
        }
        known_attributes(b, UPDATE_ATTRIBUTES)?;
        let f = self.floating_ip_visible(&caller, id).await?;
        let mut view = body_of(&f)?;
        let was_on = text(&view, "port_id").map(str::to_string);
        let fixed = ip_field(b, "fixed_ip_address")?;
        match b.get("port_id") {
            // Neutron keeps the association when port_id is not given.
            None if fixed.is_some() => {
                return Err(bad_floating_ip(
                    "fixed_ip_address cannot be specified without a port_id",
                ));
            }
            None => {}
            Some(Value::Null) if fixed.is_some() => {
                return Err(bad_floating_ip(
                    "fixed_ip_address cannot be specified without a port_id",
                ));
            }
            Some(Value::Null) => Target::apply(None, &mut view),
            Some(_) => {
                let port_id = str_field(b, "port_id")?.unwrap_or_default();
                let network_id = text(&view, "floating_network_id").unwrap_or_default().to_string();
                let t = self
                    .floating_ip_target(&caller, Some(id), &network_id, &port_id, fixed)
                    .await?;
                Target::apply(Some(&t), &mut view);
            }
        }
        if let Some(d) = str_field(b, "description")? {
            view.insert("description".into(), json!(d));
        }
        if let Some(t) = string_list(b, "tags")? {
            view.insert("tags".into(), json!(t));
        }
        next_revision(&mut view);
        if !self.store.net_object_update(id, false, &Value::Object(view).to_string()).await? {
            return Err(floating_ip_not_found(id));
        }
        self.sync_floating_ips_moved([id.to_string()], was_on).await;
        self.floating_ip_show(ctx, id).await
    }

    pub async fn floating_ip_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let f = self.floating_ip_visible(&caller, id).await?;
        let port = text(&body_of(&f)?, FLOATING_PORT).map(str::to_string);
        let was_on = text(&body_of(&f)?, "port_id").map(str::to_string);
        if !self.store.net_object_delete(&f.id).await? {
            return Err(floating_ip_not_found(id));
        }
        self.sync_floating_ips_moved([f.id.clone()], was_on).await;
        // Its address goes back to the external subnet.
        if let Some(p) = port {
            self.store.net_object_delete(&p).await?;
        }
        Ok(())
    }

    /// Whether a port holds the address of a floating IP that exists: such
    /// ports go with their floating IP only.
    pub(crate) async fn floating_ip_owns_port(&self, port: &Map<String, Value>) -> Result<bool> {
        if text(port, "device_owner") != Some(FLOATING_IP_OWNER) {
            return Ok(false);
        }
        let fip = text(port, "device_id").unwrap_or_default();
        Ok(!fip.is_empty() && self.store.net_object_get(KIND, fip).await?.is_some())
    }

    /// A port is going: the floating IPs mapped to it are disassociated
    /// (as Neutron does on port deletion).
    pub(crate) async fn disassociate_floating_ips(&self, port_id: &str) -> Result<()> {
        for f in self.store.net_object_list(KIND, &NetFilter::default()).await? {
            let mut b = body_of(&f)?;
            if text(&b, "port_id") == Some(port_id) {
                Target::apply(None, &mut b);
                next_revision(&mut b);
                self.store.net_object_update(&f.id, false, &Value::Object(b).to_string()).await?;
                self.sync_floating_ips_moved([f.id.clone()], Some(port_id.into())).await;
            }
        }
        Ok(())
    }

    /// A router interface on `subnet_ids` may not go while a floating IP
    /// maps through it to an address of those subnets.
    pub(crate) async fn check_interface_free_of_floating_ips(
        &self,
        router_id: &str,
        subnet_ids: &[String],
    ) -> Result<()> {
        for f in self.floating_ips_of_router(router_id).await? {
            let b = body_of(&f)?;
            let (Some(pid), Some(ip)) = (text(&b, "port_id"), text(&b, "fixed_ip_address")) else {
                continue;
            };
            let Some(port) = self.store.net_object_get("port", pid).await? else { continue };
            if let Some((subnet, _)) = fixed_ips_of(&body_of(&port)?)
                .into_iter()
                .find(|(s, a)| a == ip && subnet_ids.contains(s))
            {
                return Err(Error::conflict(format!(
                    "Router interface for subnet {subnet} on router {router_id} cannot be deleted, as it is required by one or more floating IPs."
                ))
                .with_type("RouterInterfaceInUseByFloatingIP"));
            }
        }
        Ok(())
    }

    /// A router update `b` may not take the gateway off the external
    /// network its floating IPs come from (`view` is the stored router).
    pub(crate) async fn check_gateway_change_for_floating_ips(
        &self,
        router_id: &str,
        view: &Map<String, Value>,
        b: &Map<String, Value>,
    ) -> Result<()> {
        let Some(asked) = b.get("external_gateway_info") else { return Ok(()) };
        let Some(current) = view
            .get("external_gateway_info")
            .and_then(|g| g.get("network_id"))
            .and_then(Value::as_str)
        else {
            return Ok(());
        };
        if asked.get("network_id").and_then(Value::as_str) == Some(current)
            || self.floating_ips_of_router(router_id).await?.is_empty()
        {
            return Ok(());
        }
        Err(Error::conflict(format!(
            "Gateway cannot be updated for router {router_id}, since a gateway to external network {current} is required by one or more floating IPs."
        ))
        .with_type("RouterExternalGatewayInUseByFloatingIp"))
    }
}
