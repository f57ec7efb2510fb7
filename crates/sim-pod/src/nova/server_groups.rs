//! Server groups (`os-server-groups`) and the host a group's policy allows
//! for a new member, as Nova 34 behaves: validation by microversion (soft
//! policies from 2.15, `policy` and `rules` from 2.64, rules for
//! anti-affinity only), `limit`/`offset` paging, 400 for a boot hint naming
//! a group that does not exist, and members placed by policy between the
//! pod's hosts (a hard policy that no host can meet leaves the server in
//! ERROR with "No valid host", like the real scheduler).

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::SVC;
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, is_true, json_resp, parse};
use crate::model::compute::ServerGroup;
use crate::pod::Pod;
use crate::state::State as PodState;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(SVC, msg)
}

fn group_view(ctx: &Ctx, g: &ServerGroup) -> Value {
    let mut v = json!({"id": g.id, "name": g.name, "members": g.members});
    if ctx.mv.ge(2, 64) {
        v["policy"] = json!(g.policy);
        v["rules"] = json!(g.rules);
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if ctx.mv.ge(2, 13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

fn digits(name: &str, v: &str) -> ApiResult<usize> {
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "Invalid input for query parameters {name}. Value: {v}. '{v}' does not match '^[0-9]*$'"
        )));
    }
    Ok(v.parse().unwrap_or(0))
}

pub async fn group_list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let all = ctx.is_admin && q.get("all_projects").is_some_and(|v| v.is_empty() || is_true(v));
    if ctx.mv.ge(2, 75)
        && let Some((k, _)) =
            q.0.iter().find(|(k, _)| !["all_projects", "limit", "offset"].contains(&k.as_str()))
    {
        return Err(bad(format!("Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let offset = q.get("offset").map(|v| digits("offset", v)).transpose()?.unwrap_or(0);
    // As Nova: no limit, or 0, means the largest page (1000).
    let limit = match q.get("limit").map(|v| digits("limit", v)).transpose()? {
        Some(n) if n > 0 => n.min(1000),
        _ => 1000,
    };
    let st = pod.read();
    let mut groups: Vec<&ServerGroup> =
        st.compute.server_groups.values().filter(|g| all || ctx.owns(&g.project_id)).collect();
    groups.sort_by_key(|g| g.seq);
    let list: Vec<Value> =
        groups.into_iter().skip(offset).take(limit).map(|g| group_view(&ctx, g)).collect();
    Ok(json_resp(200, json!({"server_groups": list})))
}

/// The group a create body asks for, checked as Nova's schema for the
/// caller's microversion: (name, policy, rules).
fn parse_create(ctx: &Ctx, body: &Bytes) -> ApiResult<(String, String, Map<String, Value>)> {
    let v: Value = parse(SVC, body)?;
    let fields = match v.get("server_group") {
        Some(Value::Object(f)) => f.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute server_group. Value: {other}. {other} is not of type 'object'"
            )));
        }
        None => return Err(bad("'server_group' is a required property")),
    };
    let new_shape = ctx.mv.ge(2, 64);
    // Nova reports a missing property before an unexpected one.
    for key in ["name", if new_shape { "policy" } else { "policies" }] {
        if !fields.contains_key(key) {
            return Err(bad(format!(
                "Invalid input for field/attribute server_group. Value: {}. '{key}' is a required property",
                Value::Object(fields.clone())
            )));
        }
    }
    let allowed: &[&str] =
        if new_shape { &["name", "policy", "rules"] } else { &["name", "policies"] };
    if let Some(k) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!(
            "Invalid input for field/attribute server_group. Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let name = match fields.get("name") {
        Some(Value::String(n)) => n.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute name. Value: {other}. {other} is not of type 'string'"
            )));
        }
        None => {
            return Err(bad(
                "Invalid input for field/attribute server_group. 'name' is a required property",
            ));
        }
    };
    if name.is_empty() || name.chars().count() > 255 {
        return Err(bad(format!("Invalid input for field/attribute name. Value: {name}.")));
    }
    if name.trim() != name {
        return Err(bad(
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
        ));
    }
    let mut known = vec!["anti-affinity", "affinity"];
    if ctx.mv.ge(2, 15) {
        known.extend(["soft-anti-affinity", "soft-affinity"]);
    }
    if !new_shape {
        let policies = match fields.get("policies") {
            Some(Value::Array(p)) => p.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute policies. Value: {other}. {other} is not of type 'array'"
                )));
            }
            None => {
                return Err(bad(
                    "Invalid input for field/attribute server_group. 'policies' is a required property",
                ));
            }
        };
        let policy = match policies.as_slice() {
            [Value::String(p)] if known.contains(&p.as_str()) => p.clone(),
            [p] => {
                return Err(bad(format!(
                    "Invalid input for field/attribute 0. Value: {p}. {p} is not one of {known:?}"
                )));
            }
            [] => {
                return Err(bad(
                    "Invalid input for field/attribute policies. Value: []. [] should be non-empty",
                ));
            }
            _ => {
                return Err(bad(format!(
                    "Invalid input for field/attribute policies. Value: {}. It is too long",
                    Value::Array(policies.clone())
                )));
            }
        };
        return Ok((name, policy, Map::new()));
    }
    let policy = match fields.get("policy") {
        Some(Value::String(p)) if known.contains(&p.as_str()) => p.clone(),
        Some(p) => {
            return Err(bad(format!(
                "Invalid input for field/attribute policy. Value: {p}. {p} is not one of {known:?}"
            )));
        }
        None => {
            return Err(bad(
                "Invalid input for field/attribute server_group. 'policy' is a required property",
            ));
        }
    };
    let rules = match fields.get("rules") {
        None => Map::new(),
        Some(Value::Object(r)) => r.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute rules. Value: {other}. {other} is not of type 'object'"
            )));
        }
    };
    let mut out = Map::new();
    for (k, v) in &rules {
        if k != "max_server_per_host" {
            return Err(bad(format!(
                "Invalid input for field/attribute rules. Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let n = match v {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
            Value::String(s) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute max_server_per_host. Value: {s}. '{s}' does not match '^[0-9]*$'"
                )));
            }
            other => {
                return Err(bad(format!(
                    "Invalid input for field/attribute max_server_per_host. Value: {other}. {other} is not of type 'integer', 'string'"
                )));
            }
        };
        match n {
            Some(n) if n >= 1 => out.insert(k.clone(), json!(n)),
            _ => {
                return Err(bad(format!(
                    "Invalid input for field/attribute max_server_per_host. Value: {v}. {v} is less than the minimum of 1"
                )));
            }
        };
    }
    if !out.is_empty() && policy != "anti-affinity" {
        return Err(bad("Only anti-affinity policy supports rules."));
    }
    Ok((name, policy, out))
}

pub async fn group_create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let (name, policy, rules) = parse_create(&ctx, &body)?;
    let mut st = pod.write();
    let seq = st.next_seq();
    let g = ServerGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        policy,
        rules: rules.into_iter().collect(),
        members: Vec::new(),
        project_id: ctx.project_id.clone(),
        user_id: ctx.user_id.clone(),
        seq,
    };
    st.compute.server_groups.insert(g.id.clone(), g.clone());
    Ok(json_resp(200, json!({"server_group": group_view(&ctx, &g)})))
}

fn group_nf(id: &str) -> ApiError {
    ApiError::not_found(
        SVC,
        "InstanceGroupNotFound",
        format!("Instance group {id} could not be found."),
    )
}

pub async fn group_show(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let st = pod.read();
    let g = st
        .compute
        .server_groups
        .get(&id)
        .filter(|g| ctx.is_admin || ctx.owns(&g.project_id))
        .ok_or_else(|| group_nf(&id))?;
    Ok(json_resp(200, json!({"server_group": group_view(&ctx, g)})))
}

pub async fn group_delete(State(pod): State<Pod>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let mut st = pod.write();
    st.compute
        .server_groups
        .get(&id)
        .filter(|g| ctx.is_admin || ctx.owns(&g.project_id))
        .ok_or_else(|| group_nf(&id))?;
    st.compute.server_groups.remove(&id);
    Ok(empty(204))
}

/// The group a boot's `group` hint names: a UUID of an existing group
/// (Nova answers 400, not 404, for one that cannot be found).
pub(crate) fn hinted_group(st: &PodState, hint: Option<&Value>) -> ApiResult<Option<String>> {
    let id = match hint {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(g)) => g.clone(),
        Some(Value::Array(l)) if l.len() == 1 && l[0].is_string() => {
            l[0].as_str().unwrap_or_default().to_string()
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute group. Value: {other}. {other} is not valid under any of the given schemas"
            )));
        }
    };
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(bad(format!(
            "Invalid input for field/attribute group. Value: {id}. '{id}' is not valid under any of the given schemas"
        )));
    }
    match st.compute.server_groups.get(&id) {
        Some(g) => Ok(Some(g.id.clone())),
        None => Err(bad(format!("Instance group {id} could not be found."))),
    }
}

/// The host a new member of `group` may go to, from `hosts` in
/// round-robin order starting at `start`: affinity, the host of the
/// members; anti-affinity, a host with fewer than `max_server_per_host`
/// (default 1) of them; soft policies prefer, never refuse. None: no host
/// meets a hard policy.
pub(crate) fn host_for_member(
    st: &PodState,
    group: &str,
    hosts: &[String],
    start: usize,
) -> Option<String> {
    let g = st.compute.server_groups.get(group)?;
    let on = |h: &str| {
        g.members
            .iter()
            .filter_map(|m| st.compute.servers.get(m))
            .filter(|s| s.host == h && s.vm_state != "error")
            .count()
    };
    let order: Vec<&String> =
        (0..hosts.len()).map(|i| &hosts[(start + i) % hosts.len().max(1)]).collect();
    let any_members = hosts.iter().any(|h| on(h) > 0);
    match g.policy.as_str() {
        "affinity" if any_members => order.into_iter().max_by_key(|h| on(h)).cloned(),
        "anti-affinity" => {
            let max = g.rules.get("max_server_per_host").and_then(Value::as_u64).unwrap_or(1);
            order.into_iter().find(|h| (on(h) as u64) < max).cloned()
        }
        "soft-affinity" => order.iter().rev().max_by_key(|h| on(h)).map(|h| (*h).clone()),
        "soft-anti-affinity" => order.into_iter().min_by_key(|h| on(h)).cloned(),
        _ => order.first().map(|h| (*h).clone()),
    }
}
