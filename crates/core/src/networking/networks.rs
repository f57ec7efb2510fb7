//! Networks: provider attributes, `shared`, `router:external`, MTU and
//! availability zone hints, with segment IDs allocated centrally so that
//! one network has the same segment in every pod it reaches.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::{NetFilter, NetObject, Segment, StoreError};

use super::listing::{ListQuery, list_body_of};
use super::{
    Caller, bad, body_object, body_of, bool_field, known_attributes, new_object, next_revision,
    not_read_only, policy, short, str_field, string_list, target_project, with_standard_attributes,
};
use crate::App;

/// Attributes only admins may set (Neutron's default policy).
const ADMIN_ONLY: &[&str] = &[
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "router:external",
    "shared",
];

const PROVIDER: &[&str] =
    &["provider:network_type", "provider:physical_network", "provider:segmentation_id"];

/// How many times a create races for the lowest free segment before
/// giving up (each loss means another replica took that one).
const SEGMENT_TRIES: usize = 16;

/// What a network create or update may carry.
const NETWORK_ATTRIBUTES: &[&str] = &[
    "name",
    "description",
    "admin_state_up",
    "shared",
    "router:external",
    "is_default",
    "mtu",
    "port_security_enabled",
    "availability_zone_hints",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "project_id",
    "tenant_id",
    "tags",
];

/// Every attribute of the view (what lists may filter and sort on).
const NETWORK_VIEW_ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "project_id",
    "tenant_id",
    "description",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "admin_state_up",
    "status",
    "subnets",
    "shared",
    "router:external",
    "mtu",
    "availability_zone_hints",
    "availability_zones",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "port_security_enabled",
    "qinq",
    "vlan_transparent",
    "is_default",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

pub(crate) fn network_not_found(id: &str) -> Error {
    Error::not_found("Network", tricircle_common::ids::truncate_for_message(id))
        .with_type("NetworkNotFound")
}

fn network_view(obj: &NetObject, subnets: &[String], caller: &Caller<'_>) -> Result<Value> {
    let mut v = body_of(obj)?;
    v.insert("subnets".into(), json!(subnets));
    if !v["router:external"].as_bool().unwrap_or(false) {
        v.remove("is_default");
    }
    if !caller.is_admin {
        for k in PROVIDER {
            v.remove(*k);
        }
    }
    Ok(with_standard_attributes(obj, v))
}

fn segment_id_of(b: &Map<String, Value>) -> Result<Option<i64>> {
    match b.get("provider:segmentation_id") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                bad(format!(
                    "Invalid input for provider:segmentation_id. Reason: '{}' is not an integer.",
                    short(v)
                ))
            }),
    }
}

impl App {
    pub(crate) async fn network_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        self.store
            .net_object_get("network", id)
            .await?
            .filter(|n| caller.sees(n))
            .ok_or_else(|| network_not_found(id))
    }

    /// A network the caller may change (owner or admin): 404 when it cannot
    /// see it, 403 when it sees it (shared) but does not own it.
    pub(crate) async fn network_owned(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        let n = self.network_visible(caller, id).await?;
        if !caller.owns(&n) {
            return Err(policy("rule:update_network"));
        }
        Ok(n)
    }

    async fn subnet_ids_by_network(&self) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for s in self.store.net_object_list("subnet", &NetFilter::default()).await? {
            if let Some(n) = s.network_id {
                out.entry(n).or_default().push(s.id);
            }
        }
        Ok(out)
    }

    pub async fn network_list(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
        link_base: &str,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let filter = NetFilter {
            project_id: (!caller.is_admin).then_some(caller.project_id),
            with_shared: true,
            network_id: None,
        };
        let nets = self.store.net_object_list("network", &filter).await?;
        let subnets = self.subnet_ids_by_network().await?;
        let views = nets
            .iter()
            .map(|n| network_view(n, subnets.get(&n.id).map_or(&[][..], Vec::as_slice), &caller))
            .collect::<Result<Vec<_>>>()?;
        list_body_of(
            "networks",
            NETWORK_VIEW_ATTRIBUTES,
            views,
            q,
            link_base,
            self.settings.pagination_max_limit,
        )
    }

    pub async fn network_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let n = self.network_visible(&caller, id).await?;
        let subnets = self.subnet_ids_by_network().await?;
        network_view(&n, subnets.get(&n.id).map_or(&[][..], Vec::as_slice), &caller)
    }

    pub async fn network_create(&self, ctx: &RequestContext, body: &Value) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "network")?;
        known_attributes(b, NETWORK_ATTRIBUTES)?;
        if !caller.is_admin
            && let Some(k) = ADMIN_ONLY
                .iter()
                .find(|k| b.get(**k).is_some_and(|v| !v.is_null() && v != &json!(false)))
        {
            return Err(policy(&format!("rule:create_network:{k}")));
        }
        let project = target_project(&caller, b)?;
        let network_type =
            str_field(b, "provider:network_type")?.unwrap_or_else(|| "vxlan".to_string());
        let physnet = str_field(b, "provider:physical_network")?;
        let asked_segment = segment_id_of(b)?;
        let mtu = match b.get("mtu") {
            None | Some(Value::Null) => {
                if matches!(network_type.as_str(), "vxlan" | "geneve" | "gre") {
                    1450
                } else {
                    1500
                }
            }
            Some(v) => v.as_i64().filter(|m| (68..=9216).contains(m)).ok_or_else(|| {
                bad(format!("Invalid input for mtu. Reason: '{}' is not a valid MTU.", short(v)))
            })?,
        };
        let external = bool_field(b, "router:external")?.unwrap_or(false);
        let shared = bool_field(b, "shared")?.unwrap_or(false);
        let mut view = Map::new();
        view.insert("name".into(), json!(str_field(b, "name")?.unwrap_or_default()));
        view.insert("description".into(), json!(str_field(b, "description")?.unwrap_or_default()));
        view.insert(
            "admin_state_up".into(),
            json!(bool_field(b, "admin_state_up")?.unwrap_or(true)),
        );
        view.insert("status".into(), json!("ACTIVE"));
        view.insert("shared".into(), json!(shared));
        view.insert("router:external".into(), json!(external));
        view.insert("is_default".into(), json!(bool_field(b, "is_default")?.unwrap_or(false)));
        view.insert("mtu".into(), json!(mtu));
        view.insert(
            "port_security_enabled".into(),
            json!(bool_field(b, "port_security_enabled")?.unwrap_or(true)),
        );
        view.insert(
            "availability_zone_hints".into(),
            json!(string_list(b, "availability_zone_hints")?.unwrap_or_default()),
        );
        view.insert("availability_zones".into(), json!([]));
        view.insert("ipv4_address_scope".into(), Value::Null);
        view.insert("ipv6_address_scope".into(), Value::Null);
        view.insert("qinq".into(), json!(false));
        view.insert("vlan_transparent".into(), json!(false));
        view.insert("tags".into(), json!(string_list(b, "tags")?.unwrap_or_default()));
        view.insert("revision_number".into(), json!(1));
        view.insert("provider:network_type".into(), json!(network_type));
        view.insert("provider:physical_network".into(), json!(physnet));
        self.check_zone_hints(&view["availability_zone_hints"]).await?;
        self.check_network_quota(&project, "network", 1).await?;

        let created = match network_type.as_str() {
            "vxlan" | "geneve" | "gre" => {
                if let Some(s) = asked_segment.filter(|s| !(1..(1 << 24)).contains(s)) {
                    return Err(bad(format!(
                        "Invalid input for operation: segmentation_id {s} out of range (1 through 16777215)."
                    )));
                }
                self.create_with_segment(
                    &project,
                    shared || external,
                    &mut view,
                    &network_type,
                    "",
                    asked_segment,
                    "TunnelIdInUse",
                )
                .await?
            }
            "vlan" => {
                let physnet = physnet.ok_or_else(|| bad("Invalid input for operation: provider:physical_network is required for a VLAN provider network."))?;
                let id = asked_segment.ok_or_else(|| bad("Invalid input for operation: provider:segmentation_id is required for a VLAN provider network."))?;
                if !(1..=4094).contains(&id) {
                    return Err(bad(format!(
                        "Invalid input for operation: segmentation_id {id} out of range (1 through 4094)."
                    )));
                }
                self.create_with_segment(
                    &project,
                    shared || external,
                    &mut view,
                    "vlan",
                    &physnet,
                    Some(id),
                    "VlanIdInUse",
                )
                .await?
            }
            "flat" | "local" => {
                view.insert("provider:segmentation_id".into(), Value::Null);
                let obj = new_object("network", &project, None, shared || external, &view);
                self.store.net_network_create(&obj, None).await?;
                obj
            }
            other => {
                return Err(bad(format!(
                    "Invalid input for operation: network_type value '{}' not supported.",
                    tricircle_common::ids::truncate_for_message(other)
                )));
            }
        };
        let mut v = network_view(&created, &[], &caller)?;
        // Neutron shows `is_default` only for external networks, except in the create answer.
        v["is_default"] = view["is_default"].clone();
        Ok(v)
    }

    /// The lowest segment ID of the configured range no network has.
    pub(crate) async fn lowest_free_segment(
        &self,
        network_type: &str,
        physnet: &str,
    ) -> Result<i64> {
        let used = self.store.net_segments_used(network_type, physnet).await?;
        let (lo, hi) = self.settings.vni_range;
        let mut candidate = lo;
        for u in used.into_iter().filter(|u| *u >= lo) {
            if u == candidate {
                candidate += 1;
            } else if u > candidate {
                break;
            }
        }
        if candidate > hi {
            return Err(Error::unavailable(
                format!("Unable to create the network. No tenant network is available for allocation (segments {lo} to {hi} are all in use)."),
                "segment range exhausted",
            )
            .with_type("NoNetworkAvailable"));
        }
        Ok(candidate)
    }

    /// Write the network with the asked segment, or the lowest free one of
    /// the configured range (racing replicas: the loser takes the next).
    #[allow(clippy::too_many_arguments)]
    async fn create_with_segment(
        &self,
        project: &str,
        shared: bool,
        view: &mut Map<String, Value>,
        network_type: &str,
        physnet: &str,
        asked: Option<i64>,
        in_use_type: &'static str,
    ) -> Result<NetObject> {
        for _ in 0..SEGMENT_TRIES {
            let segment_id = match asked {
                Some(s) => s,
                None => self.lowest_free_segment(network_type, physnet).await?,
            };
            view.insert("provider:segmentation_id".into(), json!(segment_id));
            let obj = new_object("network", project, None, shared, view);
            let seg = Segment {
                network_type: network_type.into(),
                physical_network: physnet.into(),
                segmentation_id: segment_id,
            };
            match self.store.net_network_create(&obj, Some(&seg)).await {
                Ok(()) => return Ok(obj),
                Err(StoreError::Duplicate(_)) if asked.is_some() => {
                    let what = if network_type == "vlan" {
                        format!("The VLAN {segment_id} on physical network {physnet} is in use.")
                    } else {
                        format!("The tunnel ID {segment_id} is in use.")
                    };
                    return Err(Error::conflict(format!("Unable to create the network. {what}"))
                        .with_type(in_use_type));
                }
                Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::unavailable(
            "Unable to create the network: too many concurrent creates; retry.",
            "segment allocation lost every race",
        ))
    }

    /// Availability zone hints must name zones (or regions) the gateway has.
    pub(crate) async fn check_zone_hints(&self, hints: &Value) -> Result<()> {
        let hints: Vec<&str> = hints
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if hints.is_empty() {
            return Ok(());
        }
        let pods = self.store.pod_list().await?;
        for h in hints {
            if !pods.iter().any(|p| p.az_name == h || p.region_name == h) {
                return Err(Error::not_found(
                    "AvailabilityZone",
                    tricircle_common::ids::truncate_for_message(h),
                )
                .with_type("AvailabilityZoneNotFound"));
            }
        }
        Ok(())
    }

    pub async fn network_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, "network")?;
        known_attributes(b, NETWORK_ATTRIBUTES)?;
        not_read_only(b)?;
        if !caller.is_admin
            && let Some(k) = ADMIN_ONLY.iter().find(|k| b.contains_key(**k))
        {
            return Err(policy(&format!("rule:update_network:{k}")));
        }
        if PROVIDER.iter().any(|k| b.contains_key(*k)) {
            return Err(bad(
                "Invalid input for operation: plugin does not support updating provider attributes.",
            ));
        }
        let n = self.network_owned(&caller, id).await?;
        let mut view = body_of(&n)?;
        for key in ["name", "description"] {
            if let Some(v) = str_field(b, key)? {
                view.insert(key.into(), json!(v));
            }
        }
        for key in
            ["admin_state_up", "port_security_enabled", "shared", "router:external", "is_default"]
        {
            if let Some(v) = bool_field(b, key)? {
                view.insert(key.into(), json!(v));
            }
        }
        if let Some(m) = b.get("mtu").filter(|m| !m.is_null()) {
            let m = m.as_i64().filter(|m| (68..=9216).contains(m)).ok_or_else(|| {
                bad(format!("Invalid input for mtu. Reason: '{}' is not a valid MTU.", short(m)))
            })?;
            view.insert("mtu".into(), json!(m));
        }
        next_revision(&mut view);
        let shared = view["shared"].as_bool().unwrap_or(false)
            || view["router:external"].as_bool().unwrap_or(false);
        let body = Value::Object(view).to_string();
        if !self.store.net_object_update(id, shared, &body).await? {
            return Err(network_not_found(id));
        }
        self.network_show(ctx, id).await
    }

    pub async fn network_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let n = self.network_owned(&caller, id).await?;
        if self.store.net_port_count(&n.id).await? > 0 {
            return Err(Error::conflict(format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
            ))
            .with_type("NetworkInUse"));
        }
        match self.store.net_object_delete(&n.id).await {
            Ok(true) => {
                // Its copies in pods go too (none is used any more).
                self.sync_networks_recorded([n.id.clone()]).await;
                Ok(())
            }
            Ok(false) => Err(network_not_found(id)),
            // A port was created meanwhile and holds an address.
            Err(StoreError::ForeignKey(_)) => Err(Error::conflict(format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
            ))
            .with_type("NetworkInUse")),
            Err(e) => Err(e.into()),
        }
    }
}
