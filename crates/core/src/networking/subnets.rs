//! Subnets: IPv4 and IPv6, gateway, allocation pools, host routes, DNS.
//! CIDRs may overlap between networks (and projects), never within one.

use std::net::IpAddr;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::{NetFilter, NetObject, StoreError};

use super::ipam::{self, Pool};
use super::listing::{ListQuery, list_body_of};
use super::networks::network_not_found;
use super::{
    Caller, bad, body_object, body_of, bool_field, known_attributes, new_object, next_revision,
    not_read_only, policy, short, str_field, string_list, target_project, with_standard_attributes,
};
use crate::App;

/// What a subnet create or update may carry.
const SUBNET_ATTRIBUTES: &[&str] = &[
    "name",
    "description",
    "network_id",
    "ip_version",
    "cidr",
    "gateway_ip",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "project_id",
    "tenant_id",
    "tags",
];

/// Every attribute of the view (what lists may filter and sort on).
const SUBNET_VIEW_ATTRIBUTES: &[&str] = &[
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
    "ip_version",
    "cidr",
    "gateway_ip",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "subnetpool_id",
    "segment_id",
    "service_types",
];

pub(crate) fn subnet_not_found(id: &str) -> Error {
    Error::not_found("Subnet", tricircle_common::ids::truncate_for_message(id))
        .with_type("SubnetNotFound")
}

fn subnet_in_use(id: &str) -> Error {
    Error::conflict(format!(
        "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
    ))
    .with_type("SubnetInUse")
}

/// What ports need of a subnet: its CIDR and pools.
#[derive(Clone, Debug)]
pub(crate) struct SubnetFacts {
    pub id: String,
    pub cidr: ipnet::IpNet,
    pub pools: Vec<Pool>,
}

impl SubnetFacts {
    pub fn of(obj: &NetObject) -> Result<SubnetFacts> {
        let b = body_of(obj)?;
        let cidr = b["cidr"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::internal(format!("subnet {}: bad stored cidr", obj.id)))?;
        let pools = serde_json::from_value(b["allocation_pools"].clone())
            .map_err(|e| Error::internal(format!("subnet {}: pools: {e}", obj.id)))?;
        Ok(SubnetFacts { id: obj.id.clone(), cidr, pools })
    }
}

fn ip_field(v: &Value, what: &str) -> Result<IpAddr> {
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        bad(format!("Invalid input for {what}. Reason: '{}' is not a valid IP address.", short(v)))
    })
}

fn pools_field(b: &Map<String, Value>) -> Result<Option<Vec<Pool>>> {
    match b.get("allocation_pools") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| {
                Ok(Pool {
                    start: ip_field(&p["start"], "allocation_pools")?,
                    end: ip_field(&p["end"], "allocation_pools")?,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(bad(format!(
            "Invalid input for allocation_pools. Reason: '{}' is not a list.",
            short(other)
        ))),
    }
}

fn routes_field(b: &Map<String, Value>) -> Result<Option<Value>> {
    match b.get("host_routes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            for r in a {
                let dest = r["destination"].as_str().and_then(|d| d.parse::<ipnet::IpNet>().ok());
                if dest.is_none() || ip_field(&r["nexthop"], "host_routes").is_err() {
                    return Err(bad(format!(
                        "Invalid input for host_routes. Reason: '{}' is not a valid route (destination CIDR and nexthop address).",
                        short(r)
                    )));
                }
            }
            Ok(Some(Value::Array(a.clone())))
        }
        Some(other) => Err(bad(format!(
            "Invalid input for host_routes. Reason: '{}' is not a list.",
            short(other)
        ))),
    }
}

impl App {
    /// The subnets of a network, oldest first.
    pub(crate) async fn subnets_of(&self, network_id: &str) -> Result<Vec<NetObject>> {
        let filter = NetFilter { network_id: Some(network_id), ..Default::default() };
        Ok(self.store.net_object_list("subnet", &filter).await?)
    }

    /// A subnet the caller sees: its own, or on a network it sees.
    async fn subnet_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        let s =
            self.store.net_object_get("subnet", id).await?.ok_or_else(|| subnet_not_found(id))?;
        if caller.owns(&s) {
            return Ok(s);
        }
        let net_id = s.network_id.as_deref().unwrap_or_default();
        match self.store.net_object_get("network", net_id).await? {
            Some(n) if n.shared => Ok(s),
            _ => Err(subnet_not_found(id)),
        }
    }

    pub async fn subnet_list(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
        link_base: &str,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let all = self.store.net_object_list("subnet", &NetFilter::default()).await?;
        let shared: std::collections::HashSet<String> = if caller.is_admin {
            Default::default()
        } else {
            let filter = NetFilter {
                project_id: Some(caller.project_id),
                with_shared: true,
                network_id: None,
            };
            self.store
                .net_object_list("network", &filter)
                .await?
                .into_iter()
                .filter(|n| n.shared)
                .map(|n| n.id)
                .collect()
        };
        let views = all
            .iter()
            .filter(|s| caller.owns(s) || s.network_id.as_ref().is_some_and(|n| shared.contains(n)))
            .map(|s| Ok(with_standard_attributes(s, body_of(s)?)))
            .collect::<Result<Vec<_>>>()?;
        list_body_of(
            "subnets",
            SUBNET_VIEW_ATTRIBUTES,
            views,
            q,
            link_base,
            self.settings.pagination_max_limit,
        )
    }

    pub async fn subnet_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let s = self.subnet_visible(&caller, id).await?;
        Ok(with_standard_attributes(&s, body_of(&s)?))
    }

    pub async fn subnet_create(&self, ctx: &RequestContext, body: &Value) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "subnet")?;
        known_attributes(b, SUBNET_ATTRIBUTES)?;
        let network_id = str_field(b, "network_id")?
            .ok_or_else(|| bad("Invalid input for operation: 'network_id' is required."))?;
        let network = self
            .network_visible(&caller, &network_id)
            .await
            .map_err(|_| network_not_found(&network_id))?;
        if !caller.owns(&network) {
            return Err(policy("rule:create_subnet"));
        }
        let project = target_project(&caller, b)?;
        let ip_version = match b.get("ip_version") {
            None | Some(Value::Null) => 4,
            Some(v) => match v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
                Some(4) => 4,
                Some(6) => 6,
                _ => {
                    return Err(bad(format!(
                        "Invalid input for ip_version. Reason: '{}' is not in [4, 6].",
                        short(v)
                    )));
                }
            },
        };
        let cidr_text = str_field(b, "cidr")?.ok_or_else(|| {
            bad("Bad subnets request: a cidr must be specified in the absence of a subnet pool.")
        })?;
        let cidr = ipam::parse_cidr(&cidr_text, ip_version)?;
        for other in self.subnets_of(&network_id).await? {
            let f = SubnetFacts::of(&other)?;
            if ipam::overlaps(&f.cidr, &cidr) {
                return Err(bad(format!(
                    "Invalid input for operation: Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet."
                )));
            }
        }
        let gateway = match b.get("gateway_ip") {
            None => Some(ipam::default_gateway(&cidr)),
            Some(Value::Null) => None,
            Some(v) => {
                let g = ip_field(v, "gateway_ip")?;
                ipam::check_gateway(&cidr, g)?;
                Some(g)
            }
        };
        let pools = match pools_field(b)? {
            Some(p) => {
                ipam::check_pools(&cidr, &p, gateway)?;
                p
            }
            None => ipam::default_pools(&cidr, gateway),
        };
        let mut view = Map::new();
        view.insert("name".into(), json!(str_field(b, "name")?.unwrap_or_default()));
        view.insert("description".into(), json!(str_field(b, "description")?.unwrap_or_default()));
        view.insert("network_id".into(), json!(network_id));
        view.insert("ip_version".into(), json!(ip_version));
        view.insert("cidr".into(), json!(cidr.to_string()));
        view.insert("gateway_ip".into(), json!(gateway.map(|g| g.to_string())));
        view.insert("allocation_pools".into(), json!(pools));
        view.insert(
            "dns_nameservers".into(),
            json!(string_list(b, "dns_nameservers")?.unwrap_or_default()),
        );
        view.insert("host_routes".into(), routes_field(b)?.unwrap_or(json!([])));
        view.insert("enable_dhcp".into(), json!(bool_field(b, "enable_dhcp")?.unwrap_or(true)));
        view.insert("ipv6_ra_mode".into(), json!(str_field(b, "ipv6_ra_mode")?));
        view.insert("ipv6_address_mode".into(), json!(str_field(b, "ipv6_address_mode")?));
        view.insert("subnetpool_id".into(), Value::Null);
        view.insert("segment_id".into(), Value::Null);
        view.insert("service_types".into(), json!([]));
        view.insert("tags".into(), json!(string_list(b, "tags")?.unwrap_or_default()));
        view.insert("revision_number".into(), json!(1));
        self.check_network_quota(&project, "subnet", 1).await?;
        let obj = new_object("subnet", &project, Some(&network_id), false, &view);
        match self.store.net_object_create(&obj).await {
            Ok(()) => {}
            // The network went away meanwhile.
            Err(StoreError::ForeignKey(_)) => return Err(network_not_found(&network_id)),
            Err(e) => return Err(e.into()),
        }
        Ok(with_standard_attributes(&obj, view))
    }

    pub async fn subnet_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "subnet")?;
        known_attributes(b, SUBNET_ATTRIBUTES)?;
        not_read_only(b)?;
        let s = self.subnet_visible(&caller, id).await?;
        if !caller.owns(&s) {
            return Err(policy("rule:update_subnet"));
        }
        for key in ["cidr", "ip_version", "network_id", "allocation_pools", "gateway_ip"] {
            if b.contains_key(key) {
                return Err(bad(format!(
                    "Cannot update read-only attribute {key}: change it by creating a new subnet."
                )));
            }
        }
        let mut view = body_of(&s)?;
        for key in ["name", "description"] {
            if let Some(v) = str_field(b, key)? {
                view.insert(key.into(), json!(v));
            }
        }
        if let Some(v) = bool_field(b, "enable_dhcp")? {
            view.insert("enable_dhcp".into(), json!(v));
        }
        if let Some(v) = string_list(b, "dns_nameservers")? {
            view.insert("dns_nameservers".into(), json!(v));
        }
        if let Some(v) = routes_field(b)? {
            view.insert("host_routes".into(), v);
        }
        next_revision(&mut view);
        if !self.store.net_object_update(id, false, &Value::Object(view).to_string()).await? {
            return Err(subnet_not_found(id));
        }
        self.subnet_show(ctx, id).await
    }

    pub async fn subnet_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let s = self.subnet_visible(&caller, id).await?;
        if !caller.owns(&s) {
            return Err(policy("rule:delete_subnet"));
        }
        if !self.store.net_allocations_in(std::slice::from_ref(&s.id)).await?.is_empty() {
            return Err(subnet_in_use(id));
        }
        match self.store.net_object_delete(&s.id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(subnet_not_found(id)),
            Err(StoreError::ForeignKey(_)) => Err(subnet_in_use(id)),
            Err(e) => Err(e.into()),
        }
    }
}
