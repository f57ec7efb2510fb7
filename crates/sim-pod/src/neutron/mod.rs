//! Neutron v2.0: networks, subnets, ports, routers, floating IPs, security groups and rules,
//! extensions.
//!
//! All list endpoints share one implementation ([`list_response`]): render every visible item,
//! filter on top-level attributes (repeated keys mean "any of"), `tags`/`tags-any`/`not-tags`,
//! sort with `sort_key`/`sort_dir`, page with `limit`/`marker` (links only when paging was
//! asked for, as Neutron does), then keep only `fields`. Rendering first keeps filters and
//! views consistent by construction.

pub mod extensions;
pub mod floatingips;
pub mod ipam;
pub mod networks;
pub mod ports;
pub mod routers;
pub mod secgroups;
pub mod subnets;

use axum::Router;
use axum::response::Response;
use axum::routing::{MethodFilter as M, get};
use serde_json::{Map, Value, json};

use crate::faults::op;
use crate::http::{ApiError, ApiResult, Ctx, Query, Svc, json_resp};
use crate::pod::Pod;
use crate::versions;

pub(crate) const SVC: Svc = Svc::Network;

pub fn router() -> Router<Pod> {
    Router::new()
        .route("/", get(versions::network_v20))
        .route("/extensions", op(M::GET, "network.extension_list", extensions::list))
        .route("/extensions/{alias}", op(M::GET, "network.extension_show", extensions::show))
        .route("/networks", op(M::GET, "network.network_list", networks::list))
        .route("/networks", op(M::POST, "network.network_create", networks::create))
        .route("/networks/{id}", op(M::GET, "network.network_show", networks::show))
        .route("/networks/{id}", op(M::PUT, "network.network_update", networks::update))
        .route("/networks/{id}", op(M::DELETE, "network.network_delete", networks::delete))
        .route("/subnets", op(M::GET, "network.subnet_list", subnets::list))
        .route("/subnets", op(M::POST, "network.subnet_create", subnets::create))
        .route("/subnets/{id}", op(M::GET, "network.subnet_show", subnets::show))
        .route("/subnets/{id}", op(M::PUT, "network.subnet_update", subnets::update))
        .route("/subnets/{id}", op(M::DELETE, "network.subnet_delete", subnets::delete))
        .route("/ports", op(M::GET, "network.port_list", ports::list))
        .route("/ports", op(M::POST, "network.port_create", ports::create))
        .route("/ports/{id}", op(M::GET, "network.port_show", ports::show))
        .route("/ports/{id}", op(M::PUT, "network.port_update", ports::update))
        .route("/ports/{id}", op(M::DELETE, "network.port_delete", ports::delete))
        .route("/routers", op(M::GET, "network.router_list", routers::list))
        .route("/routers", op(M::POST, "network.router_create", routers::create))
        .route("/routers/{id}", op(M::GET, "network.router_show", routers::show))
        .route("/routers/{id}", op(M::PUT, "network.router_update", routers::update))
        .route("/routers/{id}", op(M::DELETE, "network.router_delete", routers::delete))
        .route(
            "/routers/{id}/add_router_interface",
            op(M::PUT, "network.router_add_interface", routers::add_interface),
        )
        .route(
            "/routers/{id}/remove_router_interface",
            op(M::PUT, "network.router_remove_interface", routers::remove_interface),
        )
        .route(
            "/routers/{id}/add_extraroutes",
            op(M::PUT, "network.router_add_extraroutes", routers::add_extraroutes),
        )
        .route(
            "/routers/{id}/remove_extraroutes",
            op(M::PUT, "network.router_remove_extraroutes", routers::remove_extraroutes),
        )
        .route("/floatingips", op(M::GET, "network.floatingip_list", floatingips::list))
        .route("/floatingips", op(M::POST, "network.floatingip_create", floatingips::create))
        .route("/floatingips/{id}", op(M::GET, "network.floatingip_show", floatingips::show))
        .route("/floatingips/{id}", op(M::PUT, "network.floatingip_update", floatingips::update))
        .route("/floatingips/{id}", op(M::DELETE, "network.floatingip_delete", floatingips::delete))
        .route("/security-groups", op(M::GET, "network.security_group_list", secgroups::list))
        .route("/security-groups", op(M::POST, "network.security_group_create", secgroups::create))
        .route("/security-groups/{id}", op(M::GET, "network.security_group_show", secgroups::show))
        .route(
            "/security-groups/{id}",
            op(M::PUT, "network.security_group_update", secgroups::update),
        )
        .route(
            "/security-groups/{id}",
            op(M::DELETE, "network.security_group_delete", secgroups::delete),
        )
        .route(
            "/security-group-rules",
            op(M::GET, "network.security_group_rule_list", secgroups::rule_list),
        )
        .route(
            "/security-group-rules",
            op(M::POST, "network.security_group_rule_create", secgroups::rule_create),
        )
        .route(
            "/security-group-rules/{id}",
            op(M::GET, "network.security_group_rule_show", secgroups::rule_show),
        )
        .route(
            "/security-group-rules/{id}",
            op(M::DELETE, "network.security_group_rule_delete", secgroups::rule_delete),
        )
        .route("/quotas/{project}", op(M::GET, "network.quota_show", extensions::quota_show))
        .route(
            "/quotas/{project}/details",
            op(M::GET, "network.quota_show_details", extensions::quota_details),
        )
        .route(
            "/availability_zones",
            op(M::GET, "network.availability_zone_list", extensions::az_list),
        )
        .route("/agents", op(M::GET, "network.agent_list", extensions::agent_list))
}

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(SVC, msg)
}

pub(crate) fn not_found(kind: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::not_found(SVC, kind, msg)
}

/// Standard attributes every Neutron resource carries.
pub(crate) fn std_attrs(
    v: &mut Value,
    project_id: &str,
    description: &str,
    tags: &[String],
    created: &chrono::DateTime<chrono::Utc>,
    updated: &chrono::DateTime<chrono::Utc>,
    revision: u64,
) {
    v["tenant_id"] = json!(project_id);
    v["project_id"] = json!(project_id);
    v["description"] = json!(description);
    v["tags"] = json!(tags);
    v["created_at"] = json!(crate::state::fmt::iso(created));
    v["updated_at"] = json!(crate::state::fmt::iso(updated));
    v["revision_number"] = json!(revision);
}

const RESERVED: &[&str] = &[
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "all_tenants",
    "fixed_ips",
];

fn value_matches(v: &Value, wanted: &str) -> bool {
    match v {
        Value::String(s) => s == wanted,
        Value::Bool(b) => b.to_string().eq_ignore_ascii_case(wanted),
        Value::Number(n) => n.to_string() == wanted,
        Value::Null => wanted.is_empty() || wanted == "None",
        Value::Array(a) => a.iter().any(|x| value_matches(x, wanted)),
        Value::Object(_) => false,
    }
}

fn tag_filter(item: &Value, q: &Query) -> bool {
    let tags: Vec<&str> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let split = |k: &str| -> Vec<String> {
        q.all(k).iter().flat_map(|v| v.split(',')).map(str::to_string).collect()
    };
    let all = split("tags");
    let any = split("tags-any");
    let not_all = split("not-tags");
    let not_any = split("not-tags-any");
    (all.is_empty() || all.iter().all(|t| tags.contains(&t.as_str())))
        && (any.is_empty() || any.iter().any(|t| tags.contains(&t.as_str())))
        && (not_all.is_empty() || !not_all.iter().all(|t| tags.contains(&t.as_str())))
        && (not_any.is_empty() || !not_any.iter().any(|t| tags.contains(&t.as_str())))
}

fn filter_ok(item: &Value, q: &Query) -> bool {
    let mut keys: Vec<&str> = q.0.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    for k in keys {
        if RESERVED.contains(&k) {
            continue;
        }
        // Unknown attributes are ignored rather than refused: better a wider list than a
        // client error on an attribute the sim does not model.
        let Some(v) = item.get(k) else { continue };
        if !q.all(k).iter().any(|w| value_matches(v, w)) {
            return false;
        }
    }
    tag_filter(item, q)
}

/// Keep only `fields` (when asked).
pub(crate) fn project_fields(item: Value, q: &Query) -> Value {
    let fields = q.all("fields");
    if fields.is_empty() {
        return item;
    }
    let Value::Object(m) = item else { return item };
    let out: Map<String, Value> =
        m.into_iter().filter(|(k, _)| fields.contains(&k.as_str())).collect();
    Value::Object(out)
}

fn sort_key_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => format!("{:020}", n.as_u64().unwrap_or(0)),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The shared list implementation; `items` are full views in creation order.
pub(crate) fn list_response(
    pod: &Pod,
    coll: &str,
    items: Vec<Value>,
    q: &Query,
) -> ApiResult<Response> {
    let mut items: Vec<Value> = items.into_iter().filter(|i| filter_ok(i, q)).collect();
    let keys = q.all("sort_key");
    if !keys.is_empty() {
        let dirs = q.all("sort_dir");
        items.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let o = sort_key_of(a, k).cmp(&sort_key_of(b, k));
                let o = if dirs.get(i).copied() == Some("desc") { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    if let Some(m) = q.get("marker") {
        let pos =
            items.iter().position(|i| i.get("id").and_then(Value::as_str) == Some(m)).ok_or_else(
                || not_found("MarkerNotFound", format!("Marker {m} could not be found.")),
            )?;
        items.drain(..=pos);
    }
    let mut links = Vec::new();
    if let Some(l) = q.get("limit") {
        let limit: usize = l.parse().map_err(|_| {
            bad(format!("Bad limit request: Limit must be an integer 0 or greater and not '{l}'."))
        })?;
        if limit > 0 && items.len() > limit {
            items.truncate(limit);
            if let Some(last) = items.last().and_then(|i| i.get("id")).and_then(Value::as_str) {
                let mut pairs: Vec<(&str, String)> =
                    q.0.iter()
                        .filter(|(k, _)| k != "marker")
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                pairs.push(("marker", last.to_string()));
                let base = format!("{}/networking/v2.0/{coll}", pod.base_url);
                links.push(json!({"rel": "next", "href": tricircle_openstack_api::links::with_query(&base, &pairs)}));
            }
        }
    }
    let key = coll.replace('-', "_");
    let items: Vec<Value> = items.into_iter().map(|i| project_fields(i, q)).collect();
    let mut body = json!({ key.clone(): items });
    if !links.is_empty() {
        body[format!("{key}_links")] = Value::Array(links);
    }
    Ok(json_resp(200, body))
}

/// One resource, honouring `fields`.
pub(crate) fn one(key: &str, item: Value, q: &Query, status: u16) -> Response {
    json_resp(status, json!({ key: project_fields(item, q) }))
}

/// Whether the caller may see a resource of `project` (`shared` widens it).
pub(crate) fn can_see(ctx: &Ctx, project: &str, shared: bool) -> bool {
    ctx.is_admin || shared || ctx.owns(project)
}

/// The project a create is for: admins may name another one.
pub(crate) fn target_project(ctx: &Ctx, body: &Value) -> ApiResult<String> {
    let asked = body.get("project_id").or_else(|| body.get("tenant_id")).and_then(Value::as_str);
    match asked {
        Some(p) if p != ctx.project_id && !ctx.is_admin => Err(ApiError::forbidden(
            SVC,
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        )),
        Some(p) => Ok(p.to_string()),
        None => Ok(ctx.project_id.clone()),
    }
}

/// Take the object under `key` from a JSON body.
pub(crate) fn body_obj(body: &axum::body::Bytes, key: &str) -> ApiResult<Value> {
    let v: Value = crate::http::parse(SVC, body)?;
    match v.get(key) {
        Some(o @ Value::Object(_)) => Ok(o.clone()),
        _ => Err(bad(format!("Resource body required: '{key}' is missing"))),
    }
}

pub(crate) fn str_field(v: &Value, key: &str) -> ApiResult<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            Err(bad(format!("Invalid input for {key}. Reason: '{other}' is not a valid string.")))
        }
    }
}

pub(crate) fn bool_field(v: &Value, key: &str) -> ApiResult<Option<bool>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(bad(format!(
            "Invalid input for {key}. Reason: '{other}' cannot be converted to boolean."
        ))),
    }
}

pub(crate) fn tags_field(v: &Value) -> Vec<String> {
    v.get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}
