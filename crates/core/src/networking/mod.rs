//! The top Neutron (DESIGN §4 "Network"): networks, subnets and ports live
//! in the top store and the top is authoritative for them. Addresses, MAC
//! addresses and segment IDs are allocated here, centrally, so they never
//! collide across pods; bottom copies are made lazily when a server in a pod
//! first uses them (the networking issue's later steps).
//!
//! Each object is kept as its view (a JSON document) beside the columns
//! ownership and filters need; rendering adds what is computed (a network's
//! subnets) and hides what the caller may not see (provider and binding
//! attributes are for admins, as Neutron's default policy has it).

pub mod audit;
pub mod bridges;
pub mod bulk;
pub mod floating_ips;
pub mod ipam;
pub mod listing;
pub mod networks;
pub mod north_south;
pub mod ports;
pub mod quotas;
pub mod router_copies;
pub mod routers;
pub mod security_group_copies;
pub mod security_groups;
pub mod server_ports;
pub mod shadow_ports;
pub mod subnets;
pub mod trace;
pub mod zones;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_store::NetObject;

/// What the caller is, for the network API's policy.
pub(crate) struct Caller<'a> {
    pub project_id: &'a str,
    pub is_admin: bool,
}

impl<'a> Caller<'a> {
    pub fn of(ctx: &'a RequestContext) -> Result<Caller<'a>> {
        let project_id = ctx.auth.project_id.as_deref().ok_or_else(|| {
            Error::forbidden("This call needs a token scoped to a project.")
                .with_type("PolicyNotAuthorized")
        })?;
        Ok(Caller { project_id, is_admin: ctx.auth.is_admin() })
    }

    pub fn owns(&self, obj: &NetObject) -> bool {
        self.is_admin || obj.project_id == self.project_id
    }

    pub fn sees(&self, obj: &NetObject) -> bool {
        self.owns(obj) || obj.shared
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg).with_type("HTTPBadRequest")
}

pub(crate) fn policy(rule: &str) -> Error {
    Error::forbidden(format!("({rule}) is disallowed by policy")).with_type("PolicyNotAuthorized")
}

/// The object under `key` in a request body.
pub(crate) fn body_object<'b>(body: &'b Value, key: &str) -> Result<&'b Map<String, Value>> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("Resource body required: '{key}' is missing or not an object.")))
}

/// Refuse attributes this resource does not have, as Neutron does
/// ("Unrecognized attribute(s)"), rather than drop them silently.
pub(crate) fn known_attributes(b: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    let unknown: Vec<&str> =
        b.keys().map(String::as_str).filter(|k| !allowed.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let names = tricircle_common::ids::truncate_for_message(&unknown.join(", ")).to_string();
    Err(bad(format!("Unrecognized attribute(s) '{names}'")))
}

/// Refuse what an update may not change (the ID and the owner).
pub(crate) fn not_read_only(b: &Map<String, Value>) -> Result<()> {
    match ["id", "project_id", "tenant_id"].iter().find(|k| b.contains_key(**k)) {
        Some(k) => Err(bad(format!("Cannot update read-only attribute {k}"))),
        None => Ok(()),
    }
}

pub(crate) fn str_field(b: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 255 || key == "description" => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(bad(format!(
            "Invalid input for {key}. Reason: it exceeds the maximum length of 255."
        ))),
        Some(other) => Err(bad(format!(
            "Invalid input for {key}. Reason: '{}' is not a valid string.",
            short(other)
        ))),
    }
}

pub(crate) fn bool_field(b: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(v)) => Ok(Some(*v)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(bad(format!(
            "Invalid input for {key}. Reason: '{}' cannot be converted to boolean.",
            short(other)
        ))),
    }
}

pub(crate) fn string_list(b: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    bad(format!("Invalid input for {key}. Reason: '{}' is not a string.", short(v)))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => {
            Err(bad(format!("Invalid input for {key}. Reason: '{}' is not a list.", short(other))))
        }
    }
}

/// A value as it may appear in a message: short, whatever the client sent.
pub(crate) fn short(v: &Value) -> String {
    tricircle_common::ids::truncate_for_message(&v.to_string()).to_string()
}

/// The project a create is for: admins may name another one.
pub(crate) fn target_project(caller: &Caller<'_>, b: &Map<String, Value>) -> Result<String> {
    let asked = b.get("project_id").or_else(|| b.get("tenant_id")).and_then(Value::as_str);
    match asked {
        Some(p) if p != caller.project_id && !caller.is_admin => Err(Error::forbidden(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
        )
        .with_type("HTTPForbidden")),
        Some(p) => Ok(p.to_string()),
        None => Ok(caller.project_id.to_string()),
    }
}

fn iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Delete a pod's Neutron object at `path` (`/v2.0/ports/{id}`); already
/// gone is fine.
pub(crate) async fn delete_in_pod(
    session: &tricircle_pod_client::PodSession,
    pod: &tricircle_store::Pod,
    path: String,
) -> Result<()> {
    use tricircle_pod_client::{PodError, PodRequest, ServiceType};
    let req = PodRequest::new(ServiceType::Network, reqwest::Method::DELETE, path);
    match session.call(&req).await {
        Ok(_) | Err(PodError::Service { status: 404, .. }) => Ok(()),
        Err(e) => Err(crate::pod_sessions::pod_error(pod, e)),
    }
}

/// The IDs of a pod's objects of `collection` named `name`. A copy's
/// routing is written before the pod is asked and filled after it answers,
/// so a routing without a bottom ID may still have a copy in the pod (the
/// process died, or is still waiting for the answer): deleting such a
/// routing must look for the copy by its name, or leave an orphan.
pub(crate) async fn find_in_pod_by_name(
    session: &tricircle_pod_client::PodSession,
    pod: &tricircle_store::Pod,
    collection: &str,
    name: &str,
) -> Result<Vec<String>> {
    use tricircle_pod_client::{PodRequest, ServiceType};
    let req = PodRequest::get(ServiceType::Network, format!("/v2.0/{collection}"))
        .with_query("name", name.to_string());
    let found: Value = session
        .call(&req)
        .await
        .and_then(|r| r.json())
        .map_err(|e| crate::pod_sessions::pod_error(pod, e))?;
    Ok(found[collection.replace('-', "_").as_str()]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["name"].as_str() == Some(name))
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect())
}

/// The stored body as a map (a corrupt row is an internal error).
pub(crate) fn body_of(obj: &NetObject) -> Result<Map<String, Value>> {
    match serde_json::from_str(&obj.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::internal(format!("net object {}: body is not an object", obj.id))),
        Err(e) => Err(Error::internal(format!("net object {}: {e}", obj.id))),
    }
}

/// Standard attributes every Neutron resource carries.
pub(crate) fn with_standard_attributes(obj: &NetObject, mut view: Map<String, Value>) -> Value {
    // The gateway's own bookkeeping (`tricircle:*`) is never shown.
    view.retain(|k, _| !k.starts_with("tricircle:"));
    view.insert("id".into(), json!(obj.id));
    view.insert("project_id".into(), json!(obj.project_id));
    view.insert("tenant_id".into(), json!(obj.project_id));
    view.insert("created_at".into(), json!(iso(&obj.created_at)));
    view.insert("updated_at".into(), json!(iso(&obj.updated_at)));
    view.entry("description").or_insert(json!(""));
    view.entry("tags").or_insert(json!([]));
    view.entry("revision_number").or_insert(json!(1));
    Value::Object(view)
}

/// Bump the revision of a stored body after a change.
pub(crate) fn next_revision(body: &mut Map<String, Value>) {
    let rev = body.get("revision_number").and_then(Value::as_i64).unwrap_or(1);
    body.insert("revision_number".into(), json!(rev + 1));
}

/// A new object with a fresh ID.
pub(crate) fn new_object(
    kind: &str,
    project_id: &str,
    network_id: Option<&str>,
    shared: bool,
    body: &Map<String, Value>,
) -> NetObject {
    let now = tricircle_store::now();
    NetObject {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        project_id: project_id.into(),
        network_id: network_id.map(str::to_string),
        shared,
        body: Value::Object(body.clone()).to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// A pod's Neutron answer as JSON (any failure named after the pod).
pub(crate) async fn pod_json(
    session: &tricircle_pod_client::PodSession,
    pod: &tricircle_store::Pod,
    req: &tricircle_pod_client::PodRequest,
) -> Result<Value> {
    use crate::pod_sessions::pod_error;
    session.call(req).await.map_err(|e| pod_error(pod, e))?.json().map_err(|e| pod_error(pod, e))
}
