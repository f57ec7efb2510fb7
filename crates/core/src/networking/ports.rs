//! Ports: fixed IPs and MAC addresses allocated centrally (the database's
//! keys settle races between requests and replicas), device and binding
//! attributes, allowed address pairs, port security.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::{NetFilter, NetObject, Page, PortWriteError, RoutingFilter};

use super::ipam;
use super::listing::{ListQuery, list_body_of};
use super::networks::network_not_found;
use super::subnets::{SubnetFacts, subnet_not_found};
use super::{
    Caller, bad, body_object, body_of, bool_field, known_attributes, new_object, next_revision,
    not_read_only, policy, short, str_field, string_list, target_project, with_standard_attributes,
};
use crate::App;

/// How often a create retries after losing an address or MAC race.
const ALLOCATION_TRIES: usize = 32;

/// Binding attributes only admins see and set (Neutron's default policy).
const BINDING_ADMIN: &[&str] =
    &["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"];

/// What a port create or update may carry.
const PORT_ATTRIBUTES: &[&str] = &[
    "name",
    "description",
    "network_id",
    "admin_state_up",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "project_id",
    "tenant_id",
    "security_groups",
    "allowed_address_pairs",
    "port_security_enabled",
    "binding:host_id",
    "binding:vnic_type",
    "binding:profile",
    "tags",
];

/// Every attribute of the view (what lists may filter and sort on).
const PORT_VIEW_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "project_id",
    "tenant_id",
    "description",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "network_id",
    "admin_state_up",
    "status",
    "mac_address",
    "fixed_ips",
    "device_id",
    "device_owner",
    "port_security_enabled",
    "allowed_address_pairs",
    "extra_dhcp_opts",
    "security_groups",
    "binding:host_id",
    "binding:vnic_type",
    "binding:profile",
    "binding:vif_type",
    "binding:vif_details",
];

pub(crate) fn port_not_found(id: &str) -> Error {
    Error::not_found("Port", tricircle_common::ids::truncate_for_message(id))
        .with_type("PortNotFound")
}

fn port_view(obj: &NetObject, caller: &Caller<'_>) -> Result<Value> {
    let mut v = body_of(obj)?;
    if !caller.is_admin {
        for k in BINDING_ADMIN {
            v.remove(*k);
        }
    }
    Ok(with_standard_attributes(obj, v))
}

/// A random MAC address with OpenStack's usual prefix.
fn random_mac() -> String {
    let [a, b, c] = tricircle_common::random::bytes::<3>();
    format!("fa:16:3e:{a:02x}:{b:02x}:{c:02x}")
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok())
}

/// One `fixed_ips` entry as asked.
struct AskedIp {
    subnet_id: Option<String>,
    ip: Option<IpAddr>,
}

fn asked_ips(b: &Map<String, Value>) -> Result<Option<Vec<AskedIp>>> {
    match b.get("fixed_ips") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| {
                let subnet_id = e.get("subnet_id").and_then(Value::as_str).map(str::to_string);
                let ip = match e.get("ip_address") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                        bad(format!(
                            "Invalid input for fixed_ips. Reason: '{}' is not a valid IP address.",
                            short(v)
                        ))
                    })?),
                };
                if subnet_id.is_none() && ip.is_none() {
                    return Err(bad("Invalid input for fixed_ips. Reason: each entry needs a subnet_id or an ip_address."));
                }
                Ok(AskedIp { subnet_id, ip })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(bad(format!(
            "Invalid input for fixed_ips. Reason: '{}' is not a list.",
            short(other)
        ))),
    }
}

impl App {
    /// A port the caller sees: its own, or one on a network it owns
    /// (Neutron's admin_owner_or_network_owner).
    async fn port_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        let p = self.store.net_object_get("port", id).await?.ok_or_else(|| port_not_found(id))?;
        if caller.owns(&p) {
            return Ok(p);
        }
        let network = p.network_id.as_deref().unwrap_or_default();
        match self.store.net_object_get("network", network).await? {
            Some(n) if caller.owns(&n) => Ok(p),
            _ => Err(port_not_found(id)),
        }
    }

    /// Each asked `fixed_ips` entry as a subnet of the network (and maybe
    /// an address); with none asked, one address of the first subnet.
    async fn resolve_addresses(
        &self,
        network_id: &str,
        subnets: &[SubnetFacts],
        asked: Option<&[AskedIp]>,
    ) -> Result<Vec<(SubnetFacts, Option<IpAddr>)>> {
        let mut wanted: Vec<(SubnetFacts, Option<IpAddr>)> = Vec::new();
        match asked {
            Some(entries) => {
                for e in entries {
                    let subnet = match (&e.subnet_id, e.ip) {
                        (Some(sid), _) => match subnets.iter().find(|s| &s.id == sid) {
                            Some(s) => s.clone(),
                            None if self.store.net_object_get("subnet", sid).await?.is_some() => {
                                return Err(bad(format!(
                                    "Invalid input for operation: Failed to create port on network {network_id}, because fixed_ips included invalid subnet {}.",
                                    tricircle_common::ids::truncate_for_message(sid)
                                ))
                                .with_type("InvalidInput"));
                            }
                            None => return Err(subnet_not_found(sid)),
                        },
                        (None, Some(ip)) => subnets.iter().find(|s| s.cidr.contains(&ip)).cloned().ok_or_else(|| {
                            bad(format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."))
                                .with_type("InvalidIpForNetwork")
                        })?,
                        (None, None) => unreachable!("checked by asked_ips"),
                    };
                    if let Some(ip) = e.ip
                        && (!subnet.cidr.contains(&ip) || ip == subnet.cidr.network())
                    {
                        return Err(bad(format!(
                            "IP address {ip} is not a valid IP for the specified subnet."
                        ))
                        .with_type("InvalidIpForSubnet"));
                    }
                    wanted.push((subnet, e.ip));
                }
            }
            // One address from the first subnet that has room.
            None => {
                if let Some(first) = subnets.first() {
                    wanted.push((first.clone(), None));
                }
            }
        }
        Ok(wanted)
    }

    /// Free addresses for the entries without one, given what is taken.
    fn pick_addresses(
        network_id: &str,
        wanted: &[(SubnetFacts, Option<IpAddr>)],
        taken: &HashSet<IpAddr>,
    ) -> Result<Vec<(String, String)>> {
        let mut addresses: Vec<(String, String)> = Vec::new();
        for (subnet, ip) in wanted {
            let ip = match ip {
                Some(ip) => *ip,
                None => {
                    let picked: HashSet<IpAddr> =
                        addresses.iter().filter_map(|(_, a)| a.parse().ok()).collect();
                    let taken: HashSet<IpAddr> = taken.union(&picked).copied().collect();
                    // A random one of the lowest few free addresses, so
                    // concurrent creates rarely race for the same one.
                    let free = ipam::free_addresses(&subnet.pools, &taken, 8);
                    if free.is_empty() {
                        return Err(Error::conflict(format!(
                            "No more IP addresses available on network {network_id}."
                        ))
                        .with_type("IpAddressGenerationFailure"));
                    }
                    let [r] = tricircle_common::random::bytes::<1>();
                    free[r as usize % free.len()]
                }
            };
            addresses.push((subnet.id.clone(), ip.to_string()));
        }
        Ok(addresses)
    }

    pub async fn port_list(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
        link_base: &str,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let filter = NetFilter {
            project_id: (!caller.is_admin).then_some(caller.project_id),
            with_shared: false,
            network_id: None,
        };
        let mut ports = self.store.net_object_list("port", &filter).await?;
        if !caller.is_admin {
            // Other projects' ports on the caller's networks.
            let mine = NetFilter { project_id: Some(caller.project_id), ..Default::default() };
            for n in self.store.net_object_list("network", &mine).await? {
                let on = NetFilter { network_id: Some(&n.id), ..Default::default() };
                let theirs = self.store.net_object_list("port", &on).await?;
                ports.extend(theirs.into_iter().filter(|p| p.project_id != caller.project_id));
            }
            ports.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        }
        let views = ports.iter().map(|p| port_view(p, &caller)).collect::<Result<Vec<_>>>()?;
        list_body_of(
            "ports",
            PORT_VIEW_ATTRIBUTES,
            views,
            q,
            link_base,
            self.settings.pagination_max_limit,
        )
    }

    pub async fn port_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        port_view(&self.port_visible(&caller, id).await?, &caller)
    }

    pub async fn port_create(&self, ctx: &RequestContext, body: &Value) -> Result<Value> {
        self.port_create_metered(ctx, body, true).await
    }

    /// A port create, counted against the project's port quota when
    /// `metered`; the router's own interface ports are not checked (Neutron's
    /// L3 plugin makes them past the API's quota check) but still count.
    pub(crate) async fn port_create_metered(
        &self,
        ctx: &RequestContext,
        body: &Value,
        metered: bool,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "port")?;
        known_attributes(b, PORT_ATTRIBUTES)?;
        let network_id = str_field(b, "network_id")?
            .ok_or_else(|| bad("Invalid input for operation: 'network_id' is required."))?;
        let network = self
            .network_visible(&caller, &network_id)
            .await
            .map_err(|_| network_not_found(&network_id))?;
        let project = target_project(&caller, b)?;
        if !caller.is_admin && BINDING_ADMIN.iter().any(|k| b.contains_key(*k)) {
            return Err(policy("rule:create_port:binding:host_id"));
        }
        let asked_mac = str_field(b, "mac_address")?;
        if let Some(m) = asked_mac.as_deref().filter(|m| !valid_mac(m)) {
            return Err(bad(format!(
                "Invalid input for mac_address. Reason: '{}' is not a valid MAC address.",
                tricircle_common::ids::truncate_for_message(m)
            )));
        }
        let subnets: Vec<SubnetFacts> = self
            .subnets_of(&network_id)
            .await?
            .iter()
            .map(SubnetFacts::of)
            .collect::<Result<_>>()?;
        let asked = asked_ips(b)?;
        let wanted = self.resolve_addresses(&network_id, &subnets, asked.as_deref()).await?;
        let mut view = Map::new();
        view.insert("name".into(), json!(str_field(b, "name")?.unwrap_or_default()));
        view.insert("description".into(), json!(str_field(b, "description")?.unwrap_or_default()));
        view.insert("network_id".into(), json!(network_id));
        view.insert(
            "admin_state_up".into(),
            json!(bool_field(b, "admin_state_up")?.unwrap_or(true)),
        );
        view.insert("status".into(), json!("DOWN"));
        view.insert("device_id".into(), json!(str_field(b, "device_id")?.unwrap_or_default()));
        view.insert(
            "device_owner".into(),
            json!(str_field(b, "device_owner")?.unwrap_or_default()),
        );
        let network_security =
            body_of(&network)?["port_security_enabled"].as_bool().unwrap_or(true);
        view.insert(
            "port_security_enabled".into(),
            json!(bool_field(b, "port_security_enabled")?.unwrap_or(network_security)),
        );
        view.insert(
            "allowed_address_pairs".into(),
            b.get("allowed_address_pairs").cloned().filter(Value::is_array).unwrap_or(json!([])),
        );
        view.insert("extra_dhcp_opts".into(), json!([]));
        let secured = view["port_security_enabled"].as_bool().unwrap_or(true);
        let groups = match string_list(b, "security_groups")? {
            Some(groups) => {
                if !secured && !groups.is_empty() {
                    return Err(Error::conflict(
                        "Port security must be enabled and port must have an IP address in order to use security groups.",
                    )
                    .with_type("PortSecurityAndIPRequiredForSecurityGroups"));
                }
                for g in &groups {
                    self.security_group_show(ctx, g).await?;
                }
                groups
            }
            // Neutron puts a secured port in its project's default group.
            None if secured => vec![self.default_security_group(&project).await?],
            None => Vec::new(),
        };
        view.insert("security_groups".into(), json!(groups));
        view.insert(
            "binding:vnic_type".into(),
            json!(str_field(b, "binding:vnic_type")?.unwrap_or_else(|| "normal".into())),
        );
        view.insert(
            "binding:host_id".into(),
            json!(str_field(b, "binding:host_id")?.unwrap_or_default()),
        );
        view.insert(
            "binding:profile".into(),
            b.get("binding:profile").cloned().filter(Value::is_object).unwrap_or(json!({})),
        );
        view.insert("binding:vif_type".into(), json!("unbound"));
        view.insert("binding:vif_details".into(), json!({}));
        view.insert("tags".into(), json!(string_list(b, "tags")?.unwrap_or_default()));
        view.insert("revision_number".into(), json!(1));
        if metered {
            self.check_network_quota(&project, "port", 1).await?;
        }

        for _ in 0..ALLOCATION_TRIES {
            let ids: Vec<String> = wanted.iter().map(|(s, _)| s.id.clone()).collect();
            let taken: HashSet<IpAddr> = self
                .store
                .net_allocations_in(&ids)
                .await?
                .into_iter()
                .filter_map(|a| a.ip_address.parse().ok())
                .collect();
            let addresses = Self::pick_addresses(&network_id, &wanted, &taken)?;
            let mac = asked_mac.clone().unwrap_or_else(random_mac);
            view.insert("mac_address".into(), json!(mac));
            view.insert(
                "fixed_ips".into(),
                json!(
                    addresses
                        .iter()
                        .map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip}))
                        .collect::<Vec<_>>()
                ),
            );
            let obj = new_object("port", &project, Some(&network_id), false, &view);
            match self.store.net_port_create(&obj, &mac, &addresses).await {
                Ok(()) => return port_view(&obj, &caller),
                Err(PortWriteError::MacInUse(m)) if asked_mac.is_some() => {
                    return Err(Error::conflict(format!(
                        "Unable to complete operation for network {network_id}. The mac address {m} is in use."
                    ))
                    .with_type("MacAddressInUse"));
                }
                Err(PortWriteError::IpInUse(subnet, ip))
                    if wanted.iter().any(|(s, asked)| {
                        s.id == subnet && asked.map(|a| a.to_string()) == Some(ip.clone())
                    }) =>
                {
                    return Err(Error::conflict(format!(
                        "IP address {ip} already allocated in subnet {subnet}"
                    ))
                    .with_type("IpAddressAlreadyAllocated"));
                }
                // A race lost on a picked address or a generated MAC: again.
                Err(PortWriteError::MacInUse(_)) | Err(PortWriteError::IpInUse(..)) => continue,
                Err(PortWriteError::Store(tricircle_store::StoreError::ForeignKey(_))) => {
                    return Err(network_not_found(&network_id));
                }
                Err(PortWriteError::Store(e)) => return Err(e.into()),
            }
        }
        Err(Error::unavailable(
            "Unable to allocate an address: too many concurrent creates on this network; retry.",
            "port allocation lost every race",
        ))
    }

    pub async fn port_update(&self, ctx: &RequestContext, id: &str, body: &Value) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "port")?;
        known_attributes(b, PORT_ATTRIBUTES)?;
        not_read_only(b)?;
        let p = self.port_visible(&caller, id).await?;
        if !caller.is_admin && BINDING_ADMIN.iter().any(|k| b.contains_key(*k)) {
            return Err(policy("rule:update_port:binding:host_id"));
        }
        for key in ["mac_address", "network_id"] {
            if b.contains_key(key) {
                return Err(bad(format!(
                    "Updating {key} of a port is not supported by the gateway yet: delete the port and create it again."
                )));
            }
        }
        let mut view = body_of(&p)?;
        for key in [
            "name",
            "description",
            "device_id",
            "device_owner",
            "binding:host_id",
            "binding:vnic_type",
        ] {
            if let Some(v) = str_field(b, key)? {
                view.insert(key.into(), json!(v));
            }
        }
        for key in ["admin_state_up", "port_security_enabled"] {
            if let Some(v) = bool_field(b, key)? {
                view.insert(key.into(), json!(v));
            }
        }
        if let Some(v) = string_list(b, "security_groups")? {
            for g in &v {
                self.security_group_show(ctx, g).await?;
            }
            view.insert("security_groups".into(), json!(v));
        }
        if let Some(v) = b.get("allowed_address_pairs").filter(|v| v.is_array()) {
            view.insert("allowed_address_pairs".into(), v.clone());
        }
        if let Some(v) = b.get("binding:profile").filter(|v| v.is_object()) {
            view.insert("binding:profile".into(), v.clone());
        }
        next_revision(&mut view);
        match asked_ips(b)? {
            Some(entries) => self.readdress(&p, view, &entries).await?,
            None => {
                if !self
                    .store
                    .net_object_update(id, false, &Value::Object(view).to_string())
                    .await?
                {
                    return Err(port_not_found(id));
                }
            }
        }
        self.port_show(ctx, id).await
    }

    /// A `fixed_ips` update: the port's addresses replaced at once. Not for
    /// a port a pod already has a copy of (its server holds the address).
    async fn readdress(
        &self,
        p: &NetObject,
        mut view: Map<String, Value>,
        entries: &[AskedIp],
    ) -> Result<()> {
        let filter = RoutingFilter {
            top_id: Some(p.id.clone()),
            resource_type: Some("port".into()),
            ..Default::default()
        };
        let copies = self.store.routing_list(&filter, &Page { limit: 1, marker: None }).await?;
        if !copies.is_empty() {
            return Err(Error::conflict(format!(
                "Port {} is in use by a server; detach it before changing its fixed_ips.",
                p.id
            ))
            .with_type("PortInUse"));
        }
        let network_id = p.network_id.clone().unwrap_or_default();
        let subnets: Vec<SubnetFacts> = self
            .subnets_of(&network_id)
            .await?
            .iter()
            .map(SubnetFacts::of)
            .collect::<Result<_>>()?;
        let wanted = self.resolve_addresses(&network_id, &subnets, Some(entries)).await?;
        for _ in 0..ALLOCATION_TRIES {
            let ids: Vec<String> = wanted.iter().map(|(s, _)| s.id.clone()).collect();
            // The port's own addresses are free to it: the write frees them first.
            let taken: HashSet<IpAddr> = self
                .store
                .net_allocations_in(&ids)
                .await?
                .into_iter()
                .filter(|a| a.port_id != p.id)
                .filter_map(|a| a.ip_address.parse().ok())
                .collect();
            let addresses = Self::pick_addresses(&network_id, &wanted, &taken)?;
            let fixed: Vec<Value> =
                addresses.iter().map(|(s, ip)| json!({"subnet_id": s, "ip_address": ip})).collect();
            view.insert("fixed_ips".into(), json!(fixed));
            let body = Value::Object(view.clone()).to_string();
            match self.store.net_port_readdress(&p.id, &body, &addresses).await {
                Ok(()) => return Ok(()),
                Err(PortWriteError::IpInUse(subnet, ip))
                    if wanted.iter().any(|(s, a)| {
                        s.id == subnet && a.map(|a| a.to_string()) == Some(ip.clone())
                    }) =>
                {
                    return Err(Error::conflict(format!(
                        "IP address {ip} already allocated in subnet {subnet}"
                    ))
                    .with_type("IpAddressAlreadyAllocated"));
                }
                Err(PortWriteError::IpInUse(..)) | Err(PortWriteError::MacInUse(_)) => continue,
                Err(PortWriteError::Store(e)) => return Err(e.into()),
            }
        }
        Err(Error::unavailable(
            "Unable to allocate an address: too many concurrent changes on this network; retry.",
            "port readdress lost every race",
        ))
    }

    pub async fn port_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let p = self.port_visible(&caller, id).await?;
        let body = body_of(&p)?;
        if self.router_owns_port(&body).await? || self.floating_ip_owns_port(&body).await? {
            let owner = body["device_owner"].as_str().unwrap_or_default();
            return Err(Error::conflict(format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {owner}."
            ))
            .with_type("ServicePortInUse"));
        }
        self.disassociate_floating_ips(&p.id).await?;
        if !self.store.net_object_delete(&p.id).await? {
            return Err(port_not_found(id));
        }
        Ok(())
    }
}
