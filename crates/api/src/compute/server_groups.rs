//! `/compute/v2.1/os-server-groups`: Nova's body shapes by microversion
//! (before 2.64 a one-element `policies` list and empty `metadata`; from
//! 2.64 `policy` and `rules`; `project_id` and `user_id` from 2.13), over
//! `core::compute::server_groups`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};
use tricircle_common::Error;
use tricircle_core::compute::server_groups::{
    AFFINITY, ANTI_AFFINITY, GroupView, SOFT_AFFINITY, SOFT_ANTI_AFFINITY, ServerGroupSpec,
};
use tricircle_pod_client::Microversion;

use super::NovaVersion;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

const POLICY_AND_RULES: Microversion = Microversion::new(2, 64);
const SOFT_POLICIES: Microversion = Microversion::new(2, 15);
const OWNER_FIELDS: Microversion = Microversion::new(2, 13);
/// From 2.75 Nova refuses query parameters it does not know.
const STRICT_QUERY: Microversion = Microversion::new(2, 75);

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(Error::bad_request(message))
}

pub(crate) fn view(g: &GroupView, mv: Microversion) -> Value {
    let mut v = json!({"id": g.group.id, "name": g.group.name, "members": g.members});
    if mv >= POLICY_AND_RULES {
        v["policy"] = json!(g.group.policy);
        v["rules"] = Value::Object(g.rules());
    } else {
        v["policies"] = json!([g.group.policy]);
        v["metadata"] = json!({});
    }
    if mv >= OWNER_FIELDS {
        v["project_id"] = json!(g.group.project_id);
        v["user_id"] = json!(g.group.user_id);
    }
    v
}

/// `limit` and `offset`: digits only, as Nova's schema says.
fn digits(name: &str, v: &str) -> Result<Option<u64>, ApiError> {
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "Invalid input for query parameters {name}. Value: {}. It must be a non-negative integer.",
            tricircle_common::ids::truncate_for_message(v)
        )));
    }
    Ok(v.parse().ok())
}

pub async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    uri: axum::http::Uri,
) -> ApiResult<Json<Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| bad(format!("Invalid query string: {e}.")))?;
    let max = s.app.settings().pagination_max_limit;
    let (mut all_projects, mut limit, mut offset) = (false, None, 0);
    for (k, v) in &pairs {
        match k.as_str() {
            "all_projects" => {
                all_projects =
                    !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off")
            }
            "limit" => limit = digits("limit", v)?,
            "offset" => offset = digits("offset", v)?.unwrap_or(0),
            other if mv >= STRICT_QUERY => {
                return Err(bad(format!(
                    "Additional properties are not allowed ('{}' was unexpected)",
                    tricircle_common::ids::truncate_for_message(other)
                )));
            }
            _ => {}
        }
    }
    // As Nova: no limit, or 0, means the largest page.
    let limit = limit.filter(|l| *l > 0).map_or(max, |l| l.min(u64::from(max)) as u32);
    let groups = s.app.server_group_list(&ctx, all_projects, limit, offset).await?;
    Ok(Json(json!({"server_groups": groups.iter().map(|g| view(g, mv)).collect::<Vec<_>>()})))
}

pub async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let g = s.app.server_group_get(&ctx, &id).await?;
    Ok(Json(json!({"server_group": view(&g, mv)})))
}

/// The group a create body asks for, checked as Nova's schema for `mv`.
fn parse_create(body: &Value, mv: Microversion) -> Result<ServerGroupSpec, ApiError> {
    let Some(outer) = body.as_object() else {
        return Err(bad("The request body must be a JSON object."));
    };
    let fields = match outer.get("server_group") {
        Some(Value::Object(f)) => f,
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute server_group. Value: {other}. It must be an object."
            )));
        }
        None => return Err(bad("'server_group' is a required property")),
    };
    let new_shape = mv >= POLICY_AND_RULES;
    // Required properties first, as Nova reports them before extra ones.
    let required = |key: &str| {
        bad(format!(
            "Invalid input for field/attribute server_group. '{key}' is a required property"
        ))
    };
    for key in ["name", if new_shape { "policy" } else { "policies" }] {
        if !fields.contains_key(key) {
            return Err(required(key));
        }
    }
    let allowed: &[&str] =
        if new_shape { &["name", "policy", "rules"] } else { &["name", "policies"] };
    if let Some(k) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!(
            "Invalid input for field/attribute server_group. Additional properties are not allowed ('{}' was unexpected)",
            tricircle_common::ids::truncate_for_message(k)
        )));
    }
    let name = match fields.get("name") {
        Some(Value::String(n)) => n.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute name. Value: {other}. It must be a string."
            )));
        }
        None => return Err(required("name")),
    };
    let (policy, rules) = if new_shape {
        let policy = match fields.get("policy") {
            Some(Value::String(p)) => p.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute policy. Value: {other}. It must be a string."
                )));
            }
            None => return Err(required("policy")),
        };
        let rules = match fields.get("rules") {
            None => Map::new(),
            Some(Value::Object(r)) => r.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute rules. Value: {other}. It must be an object."
                )));
            }
        };
        (policy, rules)
    } else {
        let list = match fields.get("policies") {
            Some(Value::Array(l)) => l,
            Some(other) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute policies. Value: {other}. It must be a list of one policy."
                )));
            }
            None => return Err(required("policies")),
        };
        let mut known = vec![ANTI_AFFINITY, AFFINITY];
        if mv >= SOFT_POLICIES {
            known.extend([SOFT_ANTI_AFFINITY, SOFT_AFFINITY]);
        }
        let policy = match list.as_slice() {
            [Value::String(p)] if known.contains(&p.as_str()) => p.clone(),
            [other] => {
                return Err(bad(format!(
                    "Invalid input for field/attribute policies. Value: {other}. It must be one of {}.",
                    known.join(", ")
                )));
            }
            [] => {
                return Err(bad(
                    "Invalid input for field/attribute policies. Value: []. It must have one policy.",
                ));
            }
            _ => {
                return Err(bad(format!(
                    "Invalid input for field/attribute policies. Value: {}. It must have one policy only.",
                    Value::Array(list.clone())
                )));
            }
        };
        (policy, Map::new())
    };
    Ok(ServerGroupSpec { name, policy, rules })
}

pub async fn create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let spec = parse_create(&body, mv)?;
    let g = s.app.server_group_create(&ctx, spec).await?;
    // Nova answers 200, not 201, for a new group.
    Ok(Json(json!({"server_group": view(&g, mv)})))
}

pub async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.server_group_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tricircle_pod_client::Microversion;

    use super::parse_create;

    #[test]
    fn create_bodies_follow_the_microversion() {
        let (v21, v215, v264) =
            (Microversion::new(2, 1), Microversion::new(2, 15), Microversion::new(2, 64));
        let old = json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}});
        assert_eq!(parse_create(&old, v21).unwrap().policy, "anti-affinity");
        assert!(parse_create(&old, v264).is_err(), "2.64 wants policy");
        let soft = json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}});
        assert!(parse_create(&soft, v21).is_err(), "soft policies from 2.15");
        assert_eq!(parse_create(&soft, v215).unwrap().policy, "soft-affinity");
        let two = json!({"server_group": {"name": "g", "policies": ["affinity", "anti-affinity"]}});
        assert!(parse_create(&two, v21).is_err());
        let new = json!({"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}});
        let spec = parse_create(&new, v264).unwrap();
        assert_eq!(
            (spec.policy.as_str(), spec.rules["max_server_per_host"].as_i64()),
            ("anti-affinity", Some(2))
        );
        assert!(parse_create(&new, v215).is_err(), "rules before 2.64");
        assert!(parse_create(&json!({"server_group": {"policy": "affinity"}}), v264).is_err());
        assert!(
            parse_create(
                &json!({"server_group": {"name": "g", "policy": "affinity", "x": 1}}),
                v264
            )
            .is_err()
        );
        assert!(
            parse_create(&json!({"server_group": {"name": 5, "policy": "affinity"}}), v264)
                .is_err()
        );
        assert!(parse_create(&json!([1]), v264).is_err());
    }
}
