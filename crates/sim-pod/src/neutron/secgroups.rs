//! Security groups and rules, with the per-project `default` group Neutron creates on first
//! use (four rules: ingress from members of the group and egress anywhere, IPv4 and IPv6).
//!
//! Duplicate rules are a 409 naming the existing rule, as Neutron answers, because clients
//! (and the gateway replicating rules into pods) rely on that to stay idempotent.

use axum::body::Bytes;
use axum::extract::{Path, State};
use chrono::Utc;
use serde_json::{Value, json};

use super::{
    SVC, bad, body_obj, bool_field, list_response, not_found, one, std_attrs, str_field,
    tags_field, target_project,
};
use crate::http::{ApiError, ApiResult, Ctx, Query, empty};
use crate::model::network::{SecurityGroup, SgRule};
use crate::pod::Pod;
use crate::state::State as PodState;

fn sg_nf(id: &str) -> ApiError {
    not_found("SecurityGroupNotFound", format!("Security group {id} does not exist"))
}

fn rule_nf(id: &str) -> ApiError {
    not_found("SecurityGroupRuleNotFound", format!("Security group rule {id} does not exist"))
}

/// A rule as posted (or as seeded).
struct RuleSpec {
    direction: String,
    ethertype: String,
    protocol: Option<String>,
    min: Option<u32>,
    max: Option<u32>,
    prefix: Option<String>,
    remote_group: Option<String>,
    description: Option<String>,
}

impl PodState {
    fn add_rule(&mut self, sg: &str, project: &str, r: RuleSpec) -> String {
        let now = Utc::now();
        let seq = self.next_seq();
        let rule = SgRule {
            id: uuid::Uuid::new_v4().to_string(),
            seq,
            security_group_id: sg.into(),
            direction: r.direction,
            ethertype: r.ethertype,
            protocol: r.protocol,
            port_range_min: r.min,
            port_range_max: r.max,
            remote_ip_prefix: r.prefix,
            remote_group_id: r.remote_group,
            description: r.description,
            project_id: project.into(),
            created_at: now,
            updated_at: now,
            revision_number: 0,
        };
        let id = rule.id.clone();
        self.network.sg_rules.insert(id.clone(), rule);
        id
    }

    fn new_group(
        &mut self,
        project: &str,
        name: &str,
        description: &str,
        stateful: bool,
        default: bool,
    ) -> String {
        let now = Utc::now();
        let seq = self.next_seq();
        let id = uuid::Uuid::new_v4().to_string();
        self.network.security_groups.insert(
            id.clone(),
            SecurityGroup {
                id: id.clone(),
                seq,
                name: name.into(),
                description: description.into(),
                project_id: project.into(),
                stateful,
                tags: Vec::new(),
                created_at: now,
                updated_at: now,
                revision_number: 1,
            },
        );
        for eth in ["IPv4", "IPv6"] {
            if default {
                let spec = RuleSpec {
                    direction: "ingress".into(),
                    ethertype: eth.into(),
                    protocol: None,
                    min: None,
                    max: None,
                    prefix: None,
                    remote_group: Some(id.clone()),
                    description: None,
                };
                self.add_rule(&id, project, spec);
            }
            let spec = RuleSpec {
                direction: "egress".into(),
                ethertype: eth.into(),
                protocol: None,
                min: None,
                max: None,
                prefix: None,
                remote_group: None,
                description: None,
            };
            self.add_rule(&id, project, spec);
        }
        id
    }

    /// The project's `default` group, created on first use.
    pub fn ensure_default_sg(&mut self, project: &str) -> String {
        if let Some(g) = self
            .network
            .security_groups
            .values()
            .find(|g| g.project_id == project && g.name == "default")
        {
            return g.id.clone();
        }
        self.new_group(project, "default", "Default security group", true, true)
    }

    /// A group of `project` by id or name (`default` is created if missing).
    pub fn security_group_for(&mut self, project: &str, name_or_id: &str) -> Option<String> {
        if let Some(g) = self.network.security_groups.get(name_or_id) {
            return Some(g.id.clone());
        }
        if name_or_id == "default" {
            return Some(self.ensure_default_sg(project));
        }
        self.network
            .security_groups
            .values()
            .find(|g| g.project_id == project && g.name == name_or_id)
            .map(|g| g.id.clone())
    }
}

/// A rule on its own (create, show, list) or `embedded` in its group's view, where Neutron also
/// shows its `standard_attr_id` and `tags` (a rule on its own has neither).
fn rule_view(st: &PodState, r: &SgRule, embedded: bool) -> Value {
    let default =
        st.network.security_groups.get(&r.security_group_id).is_some_and(|g| g.name == "default");
    let normalized = r
        .remote_ip_prefix
        .as_deref()
        .and_then(|p| p.parse::<ipnet::IpNet>().ok())
        .map(|n| n.trunc().to_string());
    let mut v = json!({
        "id": r.id, "security_group_id": r.security_group_id, "direction": r.direction,
        "ethertype": r.ethertype, "protocol": r.protocol, "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max, "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": r.remote_group_id, "remote_address_group_id": null,
        "normalized_cidr": normalized, "belongs_to_default_sg": default,
    });
    std_attrs(&mut v, &r.project_id, "", &[], &r.created_at, &r.updated_at, r.revision_number);
    v["description"] = json!(r.description);
    if embedded {
        v["standard_attr_id"] = json!(r.seq);
    } else if let Some(o) = v.as_object_mut() {
        o.remove("tags");
    }
    v
}

fn sg_view(st: &PodState, g: &SecurityGroup) -> Value {
    let mut rules: Vec<&SgRule> =
        st.network.sg_rules.values().filter(|r| r.security_group_id == g.id).collect();
    rules.sort_by_key(|r| r.seq);
    let mut v = json!({
        "id": g.id, "name": g.name, "stateful": g.stateful, "shared": false,
        "security_group_rules": rules.iter().map(|r| rule_view(st, r, true)).collect::<Vec<_>>(),
    });
    std_attrs(
        &mut v,
        &g.project_id,
        &g.description,
        &g.tags,
        &g.created_at,
        &g.updated_at,
        g.revision_number,
    );
    v
}

fn sees(ctx: &Ctx, project: &str) -> bool {
    ctx.is_admin || ctx.owns(project)
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let mut st = pod.write();
    st.ensure_default_sg(&ctx.project_id);
    let mut gs: Vec<&SecurityGroup> =
        st.network.security_groups.values().filter(|g| sees(&ctx, &g.project_id)).collect();
    gs.sort_by_key(|g| g.seq);
    let items = gs.into_iter().map(|g| sg_view(&st, g)).collect();
    list_response(&pod, "security-groups", items, &q)
}

pub async fn show(State(pod): State<Pod>, ctx: Ctx, q: Query, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let g = st
        .network
        .security_groups
        .get(&id)
        .filter(|g| sees(&ctx, &g.project_id))
        .ok_or_else(|| sg_nf(&id))?;
    Ok(one("security_group", sg_view(&st, g), &q, 200))
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "security_group")?;
    let project = target_project(&ctx, &b)?;
    let name = str_field(&b, "name")?.unwrap_or_default();
    let mut st = pod.write();
    st.ensure_default_sg(&project);
    if name == "default" {
        return Err(ApiError::conflict(
            SVC,
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let id = st.new_group(
        &project,
        &name,
        &str_field(&b, "description")?.unwrap_or_default(),
        bool_field(&b, "stateful")?.unwrap_or(true),
        false,
    );
    let tags = tags_field(&b);
    if let Some(g) = st.network.security_groups.get_mut(&id) {
        g.tags = tags;
    }
    let v = sg_view(&st, &st.network.security_groups[&id]);
    Ok(one("security_group", v, &Query::default(), 201))
}

pub async fn update(
    State(pod): State<Pod>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b = body_obj(&body, "security_group")?;
    let mut st = pod.write();
    let g = st
        .network
        .security_groups
        .get_mut(&id)
        .filter(|g| sees(&ctx, &g.project_id))
        .ok_or_else(|| sg_nf(&id))?;
    if let Some(n) = str_field(&b, "name")? {
        if g.name == "default" && n != "default" {
            return Err(ApiError::conflict(
                SVC,
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        g.name = n;
    }
    if let Some(d) = str_field(&b, "description")? {
        g.description = d;
    }
    if let Some(s) = bool_field(&b, "stateful")? {
        g.stateful = s;
    }
    g.updated_at = Utc::now();
    g.revision_number += 1;
    let g = g.clone();
    Ok(one("security_group", sg_view(&st, &g), &Query::default(), 200))
}

pub async fn delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    let g = st
        .network
        .security_groups
        .get(&id)
        .filter(|g| sees(&ctx, &g.project_id))
        .ok_or_else(|| sg_nf(&id))?;
    if g.name == "default" && !ctx.is_admin {
        return Err(ApiError::conflict(
            SVC,
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    if st.network.ports.values().any(|p| p.security_groups.contains(&id)) {
        return Err(ApiError::conflict(
            SVC,
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    st.network.security_groups.remove(&id);
    st.network.sg_rules.retain(|_, r| r.security_group_id != id);
    Ok(empty(204))
}

pub async fn rule_list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let st = pod.read();
    let mut rs: Vec<&SgRule> =
        st.network.sg_rules.values().filter(|r| sees(&ctx, &r.project_id)).collect();
    rs.sort_by_key(|r| r.seq);
    let items = rs.into_iter().map(|r| rule_view(&st, r, false)).collect();
    list_response(&pod, "security-group-rules", items, &q)
}

pub async fn rule_show(
    State(pod): State<Pod>,
    ctx: Ctx,
    q: Query,
    Path(id): Path<String>,
) -> ApiResult {
    let st = pod.read();
    let r = st
        .network
        .sg_rules
        .get(&id)
        .filter(|r| sees(&ctx, &r.project_id))
        .ok_or_else(|| rule_nf(&id))?;
    Ok(one("security_group_rule", rule_view(&st, r, false), &q, 200))
}

fn port_field(b: &Value, key: &str) -> ApiResult<Option<u32>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            match n {
                Some(n) if n <= 65535 => Ok(Some(n as u32)),
                _ => Err(bad(format!("Invalid value for port {v}."))),
            }
        }
    }
}

const PROTOCOLS: &[&str] =
    &["tcp", "udp", "icmp", "icmpv6", "ipv6-icmp", "sctp", "gre", "esp", "ah", "vrrp", "any"];

pub async fn rule_create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let b = body_obj(&body, "security_group_rule")?;
    let sg = str_field(&b, "security_group_id")?.ok_or_else(|| {
        bad("Failed to parse request. Required attribute 'security_group_id' not specified")
    })?;
    let direction = str_field(&b, "direction")?.ok_or_else(|| {
        bad("Failed to parse request. Required attribute 'direction' not specified")
    })?;
    if direction != "ingress" && direction != "egress" {
        return Err(bad(format!(
            "Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."
        )));
    }
    let ethertype = str_field(&b, "ethertype")?.unwrap_or_else(|| "IPv4".into());
    if ethertype != "IPv4" && ethertype != "IPv6" {
        return Err(bad(format!(
            "Invalid input for ethertype. Reason: '{ethertype}' is not in ['IPv4', 'IPv6']."
        )));
    }
    let protocol = match b.get("protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() || p == "any" => None,
        Some(Value::String(p))
            if PROTOCOLS.contains(&p.to_lowercase().as_str()) || p.parse::<u8>().is_ok() =>
        {
            Some(p.to_lowercase())
        }
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 255) => Some(n.to_string()),
        Some(other) => {
            return Err(bad(format!(
                "Security group rule protocol {other} not supported. Only protocol values {PROTOCOLS:?} and integer representations [0 to 255] are supported."
            )));
        }
    };
    let (min, max) = (port_field(&b, "port_range_min")?, port_field(&b, "port_range_max")?);
    if let (Some(a), Some(z)) = (min, max)
        && a > z
        && protocol.as_deref().is_some_and(|p| p == "tcp" || p == "udp")
    {
        return Err(bad("For TCP/UDP protocols, port_range_min must be <= port_range_max"));
    }
    if (min.is_some() || max.is_some()) && protocol.is_none() {
        return Err(bad("Must also specify protocol if port range is given."));
    }
    let prefix = str_field(&b, "remote_ip_prefix")?;
    let remote_group = str_field(&b, "remote_group_id")?;
    if prefix.is_some() && remote_group.is_some() {
        return Err(bad("Only remote_ip_prefix or remote_group_id may be provided."));
    }
    if let Some(p) = &prefix {
        let net: ipnet::IpNet = p
            .parse()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                bad(format!(
                    "Invalid input for remote_ip_prefix. Reason: '{p}' is not a valid IP subnet."
                ))
            })?;
        if matches!(net, ipnet::IpNet::V6(_)) != (ethertype == "IPv6") {
            return Err(bad(format!("Conflicting value ethertype {ethertype} for CIDR {p}")));
        }
    }
    let mut st = pod.write();
    let group = st
        .network
        .security_groups
        .get(&sg)
        .filter(|g| sees(&ctx, &g.project_id))
        .ok_or_else(|| sg_nf(&sg))?
        .clone();
    if let Some(rg) = &remote_group
        && !st.network.security_groups.contains_key(rg)
    {
        return Err(sg_nf(rg));
    }
    let (min, max) = match (min, max) {
        (Some(a), None) => (Some(a), Some(a)),
        other => other,
    };
    let dup = st.network.sg_rules.values().find(|r| {
        r.security_group_id == sg
            && r.direction == direction
            && r.ethertype == ethertype
            && r.protocol == protocol
            && r.port_range_min == min
            && r.port_range_max == max
            && r.remote_ip_prefix == prefix
            && r.remote_group_id == remote_group
    });
    if let Some(d) = dup {
        return Err(ApiError::conflict(
            SVC,
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {}.", d.id),
        ));
    }
    let spec = RuleSpec {
        direction,
        ethertype,
        protocol,
        min,
        max,
        prefix,
        remote_group,
        description: Some(str_field(&b, "description")?.unwrap_or_default()),
    };
    let id = st.add_rule(&sg, &group.project_id, spec);
    if let Some(g) = st.network.security_groups.get_mut(&sg) {
        g.revision_number += 1;
    }
    let v = rule_view(&st, &st.network.sg_rules[&id], false);
    Ok(one("security_group_rule", v, &Query::default(), 201))
}

pub async fn rule_delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    st.network
        .sg_rules
        .get(&id)
        .filter(|r| sees(&ctx, &r.project_id))
        .ok_or_else(|| rule_nf(&id))?;
    st.network.sg_rules.remove(&id);
    Ok(empty(204))
}
