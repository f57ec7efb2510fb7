//! Security groups and their rules, authoritative at the top, with the
//! per-project `default` group Neutron creates on first use (four rules:
//! ingress from members of the group and egress anywhere, IPv4 and IPv6).
//!
//! Both are `net_objects` rows: `security_group` and `security_group_rule`.
//! A rule's `network_id` column holds its group's ID: that column is a
//! foreign key to `net_objects` with `ON DELETE CASCADE`, so deleting a group
//! deletes its rules in the same statement, with no window where orphan rules
//! could be listed.
//!
//! The default group's ID is derived from its project (a name-based UUID),
//! so concurrent first uses on any gateway replica race on one primary key:
//! the loser's insert fails and it reads the winner's group. The group and
//! its four rules are written in one transaction, so nobody ever sees the
//! group without its rules.
//!
//! Duplicate rules are a 409 naming the existing rule, as Neutron answers,
//! because clients (and the replication of rules into pods) rely on that to
//! stay idempotent. Views, defaults and messages follow the sim pod's
//! Neutron, which was checked against a real one.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{NetFilter, NetObject, StoreError};

use super::listing::{ListQuery, list_body};
use super::{
    Caller, bad, body_object, body_of, bool_field, known_attributes, new_object, next_revision,
    short, str_field, string_list, target_project, with_standard_attributes,
};
use crate::App;

const GROUP: &str = "security_group";
const RULE: &str = "security_group_rule";

const GROUP_ATTRIBUTES: &[&str] =
    &["name", "description", "stateful", "tags", "project_id", "tenant_id"];

const RULE_ATTRIBUTES: &[&str] = &[
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_address_group_id",
    "description",
    "project_id",
    "tenant_id",
];

/// Protocol names Neutron accepts, with their IP protocol numbers (a rule
/// given as a number is the same rule as one given by name).
const PROTOCOLS: &[(&str, u8)] = &[
    ("tcp", 6),
    ("udp", 17),
    ("icmp", 1),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("sctp", 132),
    ("dccp", 33),
    ("udplite", 136),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("vrrp", 112),
    ("igmp", 2),
    ("pgm", 113),
    ("ospf", 89),
    ("rsvp", 46),
    ("encap", 98),
    ("egp", 8),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
];

/// Protocols whose rules may carry a port range.
const PORT_PROTOCOLS: &[u8] = &[6, 17, 132, 33, 136];

fn group_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "Security group {} does not exist",
            tricircle_common::ids::truncate_for_message(id)
        ),
    )
    .with_type("SecurityGroupNotFound")
}

fn rule_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "Security group rule {} does not exist",
            tricircle_common::ids::truncate_for_message(id)
        ),
    )
    .with_type("SecurityGroupRuleNotFound")
}

fn typed_bad(ty: &'static str, msg: impl Into<String>) -> Error {
    Error::bad_request(msg).with_type(ty)
}

/// The ID of a project's `default` group: the same on every replica, so
/// two first uses cannot create two groups (a version 8 UUID from SHA-256).
pub(crate) fn default_group_id(project_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"tricircle/default-security-group/")
        .chain_update(project_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

fn is_default(group: &NetObject) -> bool {
    group.id == default_group_id(&group.project_id)
}

/// A rule on its own (create, show, list) or `embedded` in its group's
/// view, where Neutron also shows its `tags` (a rule on its own has none).
fn rule_view(obj: &NetObject, embedded: bool) -> Result<Value> {
    let mut v = body_of(obj)?;
    let normalized = v
        .get("remote_ip_prefix")
        .and_then(Value::as_str)
        .and_then(parse_prefix)
        .map(|n| n.trunc().to_string());
    v.insert("normalized_cidr".into(), json!(normalized));
    let group = obj.network_id.as_deref().unwrap_or_default();
    v.insert("security_group_id".into(), json!(group));
    v.insert("belongs_to_default_sg".into(), json!(group == default_group_id(&obj.project_id)));
    let mut v = with_standard_attributes(obj, v);
    if !embedded && let Some(o) = v.as_object_mut() {
        o.remove("tags");
    }
    Ok(v)
}

fn group_view(obj: &NetObject, rules: &[&NetObject]) -> Result<Value> {
    let mut v = body_of(obj)?;
    v.insert(
        "security_group_rules".into(),
        Value::Array(rules.iter().map(|r| rule_view(r, true)).collect::<Result<_>>()?),
    );
    v.insert("shared".into(), json!(false));
    Ok(with_standard_attributes(obj, v))
}

fn parse_prefix(p: &str) -> Option<ipnet::IpNet> {
    p.parse().ok().or_else(|| p.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// A rule's body (`network_id` of its row is the group).
#[allow(clippy::too_many_arguments)]
fn rule_body(
    group: &str,
    direction: &str,
    ethertype: &str,
    protocol: Option<&str>,
    min: Option<u32>,
    max: Option<u32>,
    prefix: Option<&str>,
    remote_group: Option<&str>,
    description: &str,
) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("security_group_id".into(), json!(group));
    b.insert("direction".into(), json!(direction));
    b.insert("ethertype".into(), json!(ethertype));
    b.insert("protocol".into(), json!(protocol));
    b.insert("port_range_min".into(), json!(min));
    b.insert("port_range_max".into(), json!(max));
    b.insert("remote_ip_prefix".into(), json!(prefix));
    b.insert("remote_group_id".into(), json!(remote_group));
    b.insert("remote_address_group_id".into(), Value::Null);
    b.insert("description".into(), json!(description));
    b.insert("revision_number".into(), json!(0));
    b
}

fn group_body(
    name: &str,
    description: &str,
    stateful: bool,
    tags: Vec<String>,
) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("name".into(), json!(name));
    b.insert("description".into(), json!(description));
    b.insert("stateful".into(), json!(stateful));
    b.insert("shared".into(), json!(false));
    b.insert("tags".into(), json!(tags));
    b.insert("revision_number".into(), json!(1));
    b
}

/// A group and the rules every new group starts with: egress anywhere,
/// and for the default group ingress from its own members too.
fn group_with_rules(group: NetObject, default: bool) -> Vec<NetObject> {
    let mut out = vec![group];
    let (id, project) = (out[0].id.clone(), out[0].project_id.clone());
    for eth in ["IPv4", "IPv6"] {
        if default {
            let b = rule_body(&id, "ingress", eth, None, None, None, None, Some(&id), "");
            out.push(new_object(RULE, &project, Some(&id), false, &b));
        }
        let b = rule_body(&id, "egress", eth, None, None, None, None, None, "");
        out.push(new_object(RULE, &project, Some(&id), false, &b));
    }
    out
}

/// The protocol of a rule as stored (lower-case name or a number), or none
/// for any protocol.
fn protocol_field(b: &Map<String, Value>) -> Result<Option<String>> {
    let invalid = |v: &Value| {
        let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
        typed_bad(
            "SecurityGroupRuleInvalidProtocol",
            format!(
                "Security group rule protocol {} not supported. Only protocol values {names:?} and integer representations [0 to 255] are supported.",
                short(v)
            ),
        )
    };
    match b.get("protocol") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(p)) if p.is_empty() || p.eq_ignore_ascii_case("any") => Ok(None),
        Some(v @ Value::String(p)) => {
            let lower = p.to_ascii_lowercase();
            if PROTOCOLS.iter().any(|(n, _)| *n == lower) || lower.parse::<u8>().is_ok() {
                Ok(Some(lower))
            } else {
                Err(invalid(v))
            }
        }
        Some(v @ Value::Number(n)) => match n.as_u64().filter(|n| *n <= 255) {
            Some(n) => Ok(Some(n.to_string())),
            None => Err(invalid(v)),
        },
        Some(other) => Err(invalid(other)),
    }
}

/// The IP protocol number of a stored protocol.
fn protocol_number(p: &str) -> Option<u8> {
    p.parse().ok().or_else(|| PROTOCOLS.iter().find(|(n, _)| *n == p).map(|(_, n)| *n))
}

fn port_field(b: &Map<String, Value>, key: &str) -> Result<Option<u32>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            match n {
                Some(n) if n <= 65535 => Ok(Some(n as u32)),
                _ => Err(typed_bad(
                    "SecurityGroupInvalidPortValue",
                    format!("Invalid value for port {}.", short(v)),
                )),
            }
        }
    }
}

/// Check a rule's protocol, ports and addresses together, as Neutron does;
/// returns the port range as stored (a lone minimum for TCP/UDP is a
/// one-port range).
fn check_ports(
    protocol: Option<&str>,
    ethertype: &str,
    min: Option<u32>,
    max: Option<u32>,
) -> Result<(Option<u32>, Option<u32>)> {
    let number = protocol.and_then(protocol_number);
    if let Some(p) = protocol
        && ethertype == "IPv4"
        && (p == "icmpv6" || p.starts_with("ipv6-"))
    {
        return Err(typed_bad(
            "SecurityGroupEthertypeConflictWithProtocol",
            format!("Invalid ethertype {ethertype} for protocol {p}."),
        ));
    }
    if min.is_none() && max.is_none() {
        return Ok((None, None));
    }
    let Some(p) = protocol else {
        return Err(typed_bad(
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        ));
    };
    match number {
        Some(n) if PORT_PROTOCOLS.contains(&n) => {
            let (min, max) = match (min, max) {
                (Some(a), None) => (Some(a), Some(a)),
                other => other,
            };
            for v in [min, max].into_iter().flatten() {
                if v == 0 {
                    return Err(typed_bad(
                        "SecurityGroupInvalidPortValue",
                        "Invalid value for port 0.",
                    ));
                }
            }
            match (min, max) {
                (Some(a), Some(z)) if a <= z => Ok((min, max)),
                _ => Err(typed_bad(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                )),
            }
        }
        Some(1) | Some(58) => {
            for (field, attr, v) in
                [("type", "port_range_min", min), ("code", "port_range_max", max)]
            {
                if let Some(v) = v.filter(|v| *v > 255) {
                    return Err(typed_bad(
                        "SecurityGroupInvalidIcmpValue",
                        format!(
                            "Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."
                        ),
                    ));
                }
            }
            if let (None, Some(code)) = (min, max) {
                return Err(typed_bad(
                    "SecurityGroupMissingIcmpType",
                    format!(
                        "ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."
                    ),
                ));
            }
            Ok((min, max))
        }
        _ => Err(typed_bad(
            "SecurityGroupInvalidProtocolForPortRange",
            format!(
                "Invalid protocol {p} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP."
            ),
        )),
    }
}

/// Two rules are the same rule when they match the same packets the same
/// way (the protocol by number, the prefix by network).
fn same_rule(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let proto = |m: &Map<String, Value>| {
        m.get("protocol").and_then(Value::as_str).map(|p| protocol_number(p).map(u16::from))
    };
    let prefix = |m: &Map<String, Value>| {
        m.get("remote_ip_prefix").and_then(Value::as_str).and_then(parse_prefix).map(|n| n.trunc())
    };
    ["direction", "ethertype", "port_range_min", "port_range_max", "remote_group_id"]
        .iter()
        .all(|k| a.get(*k).unwrap_or(&Value::Null) == b.get(*k).unwrap_or(&Value::Null))
        && proto(a) == proto(b)
        && prefix(a) == prefix(b)
}

impl App {
    /// The project's `default` security group, created (with its four
    /// rules) on first need; race-safe across tasks and replicas. Port
    /// creation calls this for a port that names no group.
    pub(crate) async fn default_security_group(&self, project_id: &str) -> Result<String> {
        let id = default_group_id(project_id);
        if self.store.net_object_get(GROUP, &id).await?.is_some() {
            return Ok(id);
        }
        let body = group_body("default", "Default security group", true, Vec::new());
        let mut group = new_object(GROUP, project_id, None, false, &body);
        group.id = id.clone();
        match self.store.net_objects_create_all(&group_with_rules(group, true)).await {
            // Another request (or replica) created it first: the same ID.
            Ok(()) | Err(StoreError::Duplicate(_)) => Ok(id),
            Err(e) => Err(e.into()),
        }
    }

    async fn group_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        self.store
            .net_object_get(GROUP, id)
            .await?
            .filter(|g| caller.owns(g))
            .ok_or_else(|| group_not_found(id))
    }

    async fn rules_of(&self, group: &str) -> Result<Vec<NetObject>> {
        let filter = NetFilter { network_id: Some(group), ..NetFilter::default() };
        Ok(self.store.net_object_list(RULE, &filter).await?)
    }

    pub async fn security_group_list(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
        link_base: &str,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        self.default_security_group(caller.project_id).await?;
        let filter = NetFilter {
            project_id: (!caller.is_admin).then_some(caller.project_id),
            with_shared: false,
            network_id: None,
        };
        let groups = self.store.net_object_list(GROUP, &filter).await?;
        let rules = self.store.net_object_list(RULE, &filter).await?;
        let mut by_group: HashMap<&str, Vec<&NetObject>> = HashMap::new();
        for r in &rules {
            if let Some(g) = r.network_id.as_deref() {
                by_group.entry(g).or_default().push(r);
            }
        }
        let views = groups
            .iter()
            .map(|g| group_view(g, by_group.get(g.id.as_str()).map_or(&[][..], Vec::as_slice)))
            .collect::<Result<Vec<_>>>()?;
        list_body("security-groups", views, q, link_base, self.settings.pagination_max_limit)
    }

    pub async fn security_group_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        if id == default_group_id(caller.project_id) {
            self.default_security_group(caller.project_id).await?;
        }
        let g = self.group_visible(&caller, id).await?;
        let rules = self.rules_of(&g.id).await?;
        group_view(&g, &rules.iter().collect::<Vec<_>>())
    }

    pub async fn security_group_create(&self, ctx: &RequestContext, body: &Value) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, GROUP)?;
        known_attributes(b, GROUP_ATTRIBUTES)?;
        let project = target_project(&caller, b)?;
        let name = str_field(b, "name")?.unwrap_or_default();
        self.default_security_group(&project).await?;
        if name == "default" {
            return Err(Error::conflict("Default security group already exists.")
                .with_type("SecurityGroupDefaultAlreadyExists"));
        }
        let body = group_body(
            &name,
            &str_field(b, "description")?.unwrap_or_default(),
            bool_field(b, "stateful")?.unwrap_or(true),
            string_list(b, "tags")?.unwrap_or_default(),
        );
        // Its two egress rules come with it unchecked (as in Neutron) but count.
        self.check_network_quota(&project, GROUP, 1).await?;
        let group = new_object(GROUP, &project, None, false, &body);
        let objs = group_with_rules(group, false);
        self.store.net_objects_create_all(&objs).await?;
        group_view(&objs[0], &objs[1..].iter().collect::<Vec<_>>())
    }

    pub async fn security_group_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, GROUP)?;
        known_attributes(b, &["name", "description", "stateful", "tags"])?;
        let g = self.group_visible(&caller, id).await?;
        let mut view = body_of(&g)?;
        if let Some(name) = str_field(b, "name")? {
            if is_default(&g) && name != "default" {
                return Err(Error::conflict("Updating default security group not allowed.")
                    .with_type("SecurityGroupCannotUpdateDefault"));
            }
            if !is_default(&g) && name == "default" {
                return Err(Error::conflict("Default security group already exists.")
                    .with_type("SecurityGroupDefaultAlreadyExists"));
            }
            view.insert("name".into(), json!(name));
        }
        if let Some(d) = str_field(b, "description")? {
            view.insert("description".into(), json!(d));
        }
        if let Some(s) = bool_field(b, "stateful")? {
            view.insert("stateful".into(), json!(s));
        }
        if let Some(t) = string_list(b, "tags")? {
            view.insert("tags".into(), json!(t));
        }
        next_revision(&mut view);
        if !self.store.net_object_update(id, false, &Value::Object(view).to_string()).await? {
            return Err(group_not_found(id));
        }
        self.security_group_show(ctx, id).await
    }

    pub async fn security_group_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let g = self.group_visible(&caller, id).await?;
        if is_default(&g) && !caller.is_admin {
            return Err(Error::conflict(
                "Insufficient rights for removing default security group.",
            )
            .with_type("SecurityGroupCannotRemoveDefault"));
        }
        // Any port of any project may use it (an admin may attach it).
        for p in self.store.net_object_list("port", &NetFilter::default()).await? {
            let used = body_of(&p)?
                .get("security_groups")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(id)));
            if used {
                return Err(Error::conflict(format!("Security Group {id} in use."))
                    .with_type("SecurityGroupInUse"));
            }
        }
        // Its rules go with it (the foreign key's cascade); its pod copies too.
        if !self.store.net_object_delete(&g.id).await? {
            return Err(group_not_found(id));
        }
        self.sync_security_groups_recorded([g.id.clone()]).await;
        Ok(())
    }

    /// A group's revision moves when its rules change, as Neutron's does.
    /// Also where the pods' copies follow a change of the rules.
    async fn bump_group(&self, group: &str) -> Result<()> {
        if let Some(g) = self.store.net_object_get(GROUP, group).await? {
            let mut view = body_of(&g)?;
            next_revision(&mut view);
            self.store.net_object_update(group, false, &Value::Object(view).to_string()).await?;
            self.sync_security_groups_recorded([group.to_string()]).await;
        }
        Ok(())
    }

    async fn rule_visible(&self, caller: &Caller<'_>, id: &str) -> Result<NetObject> {
        self.store
            .net_object_get(RULE, id)
            .await?
            .filter(|r| caller.owns(r))
            .ok_or_else(|| rule_not_found(id))
    }

    pub async fn security_group_rule_list(
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
        let views = self
            .store
            .net_object_list(RULE, &filter)
            .await?
            .iter()
            .map(|r| rule_view(r, false))
            .collect::<Result<Vec<_>>>()?;
        list_body("security-group-rules", views, q, link_base, self.settings.pagination_max_limit)
    }

    pub async fn security_group_rule_show(&self, ctx: &RequestContext, id: &str) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        rule_view(&self.rule_visible(&caller, id).await?, false)
    }

    pub async fn security_group_rule_create(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, RULE)?;
        known_attributes(b, RULE_ATTRIBUTES)?;
        target_project(&caller, b)?;
        let group_id = str_field(b, "security_group_id")?.ok_or_else(|| {
            bad("Failed to parse request. Required attribute 'security_group_id' not specified")
        })?;
        let direction = str_field(b, "direction")?.ok_or_else(|| {
            bad("Failed to parse request. Required attribute 'direction' not specified")
        })?;
        if direction != "ingress" && direction != "egress" {
            return Err(bad(format!(
                "Invalid input for direction. Reason: '{}' is not in ['ingress', 'egress'].",
                tricircle_common::ids::truncate_for_message(&direction)
            )));
        }
        let ethertype = str_field(b, "ethertype")?.unwrap_or_else(|| "IPv4".into());
        if ethertype != "IPv4" && ethertype != "IPv6" {
            return Err(bad(format!(
                "Invalid input for ethertype. Reason: '{}' is not in ['IPv4', 'IPv6'].",
                tricircle_common::ids::truncate_for_message(&ethertype)
            )));
        }
        let protocol = protocol_field(b)?;
        let (min, max) = (port_field(b, "port_range_min")?, port_field(b, "port_range_max")?);
        let (min, max) = check_ports(protocol.as_deref(), &ethertype, min, max)?;
        let prefix = str_field(b, "remote_ip_prefix")?;
        let remote_group = str_field(b, "remote_group_id")?;
        if b.get("remote_address_group_id").is_some_and(|v| !v.is_null()) {
            return Err(bad("Remote address groups are not supported by the gateway yet."));
        }
        if prefix.is_some() && remote_group.is_some() {
            return Err(typed_bad(
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        if let Some(p) = &prefix {
            let net = parse_prefix(p).ok_or_else(|| {
                bad(format!(
                    "Invalid input for remote_ip_prefix. Reason: '{}' is not a valid IP subnet.",
                    tricircle_common::ids::truncate_for_message(p)
                ))
            })?;
            if matches!(net, ipnet::IpNet::V6(_)) != (ethertype == "IPv6") {
                return Err(typed_bad(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                ));
            }
        }
        let group = self.group_visible(&caller, &group_id).await?;
        if let Some(rg) = &remote_group
            && rg != &group.id
        {
            self.group_visible(&caller, rg).await?;
        }
        let body = rule_body(
            &group.id,
            &direction,
            &ethertype,
            protocol.as_deref(),
            min,
            max,
            prefix.as_deref(),
            remote_group.as_deref(),
            &str_field(b, "description")?.unwrap_or_default(),
        );
        for existing in self.rules_of(&group.id).await? {
            if same_rule(&body_of(&existing)?, &body) {
                return Err(Error::conflict(format!(
                    "Security group rule already exists. Rule id is {}.",
                    existing.id
                ))
                .with_type("SecurityGroupRuleExists"));
            }
        }
        self.check_network_quota(&group.project_id, RULE, 1).await?;
        let rule = new_object(RULE, &group.project_id, Some(&group.id), false, &body);
        match self.store.net_object_create(&rule).await {
            Ok(()) => {}
            // The group was deleted meanwhile.
            Err(StoreError::ForeignKey(_)) => return Err(group_not_found(&group.id)),
            Err(e) => return Err(e.into()),
        }
        self.bump_group(&group.id).await?;
        rule_view(&rule, false)
    }

    /// Only a rule's description may change (Neutron's rules are otherwise
    /// read-only: a different rule is a new one).
    pub async fn security_group_rule_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
    ) -> Result<Value> {
        let caller = Caller::of(ctx)?;
        let b = body_object(body, RULE)?;
        known_attributes(b, RULE_ATTRIBUTES)?;
        if let Some(k) = b.keys().find(|k| *k != "description") {
            return Err(bad(format!("Cannot update read-only attribute {k}")));
        }
        let r = self.rule_visible(&caller, id).await?;
        let mut view = body_of(&r)?;
        if let Some(d) = str_field(b, "description")? {
            view.insert("description".into(), json!(d));
        }
        next_revision(&mut view);
        if !self.store.net_object_update(id, false, &Value::Object(view).to_string()).await? {
            return Err(rule_not_found(id));
        }
        self.security_group_rule_show(ctx, id).await
    }

    pub async fn security_group_rule_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let caller = Caller::of(ctx)?;
        let r = self.rule_visible(&caller, id).await?;
        if !self.store.net_object_delete(&r.id).await? {
            return Err(rule_not_found(id));
        }
        if let Some(g) = &r.network_id {
            self.bump_group(g).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_group_id_is_a_uuid_per_project() {
        let a = default_group_id("p1");
        assert_eq!(a, default_group_id("p1"), "the same on every replica");
        assert_ne!(a, default_group_id("p2"));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 8);
    }

    #[test]
    fn same_rule_compares_protocols_by_number_and_prefixes_by_network() {
        let r = |proto: &str, prefix: &str| {
            rule_body("g", "ingress", "IPv4", Some(proto), Some(1), Some(2), Some(prefix), None, "")
        };
        assert!(same_rule(&r("tcp", "10.0.0.0/8"), &r("6", "10.1.0.0/8")));
        assert!(!same_rule(&r("tcp", "10.0.0.0/8"), &r("udp", "10.0.0.0/8")));
        assert!(!same_rule(&r("tcp", "10.0.0.0/8"), &r("tcp", "10.0.0.0/16")));
    }
}
