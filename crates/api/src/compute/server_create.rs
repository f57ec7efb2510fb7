//! `POST /compute/v2.1/servers`: Nova's create body parsed into a
//! `ServerSpec` (block device mappings and the `group` scheduler hint
//! included); the domain decides the rest.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};
use tricircle_common::Error;
use tricircle_core::compute::server_create::ServerSpec;

use super::NovaVersion;
use super::servers::with_links;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::url::base_url;

/// The keys of Nova's create body this gateway understands; any other key
/// is refused, as Nova's schema does.
const CREATE_KEYS: &[&str] = &[
    "name",
    "flavorRef",
    "imageRef",
    "availability_zone",
    "key_name",
    "networks",
    "metadata",
    "user_data",
    "security_groups",
    "min_count",
    "max_count",
    "config_drive",
    "description",
    "OS-DCF:diskConfig",
    "adminPass",
    "return_reservation_id",
    "tags",
    "hostname",
    "block_device_mapping_v2",
];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(Error::bad_request(message))
}

/// Nova's `security_groups`: `[{"name": N}, ...]`.
fn security_groups(server: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    match server.get("security_groups") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| {
                g.get("name").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                    bad("Invalid input for field/attribute security_groups: each needs a name.")
                })
            })
            .collect(),
        Some(_) => {
            Err(bad("Invalid input for field/attribute security_groups: it must be a list."))
        }
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The `group` scheduler hint (a group's UUID, or a list of one); other
/// hints name pod-local things the gateway cannot translate yet.
fn group_hint(body: &Value) -> Result<Option<String>, ApiError> {
    let hints = match body.get("os:scheduler_hints").or(body.get("OS-SCH-HNT:scheduler_hints")) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(h)) => h,
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute os:scheduler_hints. Value: {other}. It must be an object."
            )));
        }
    };
    if let Some(k) = hints.keys().find(|k| *k != "group") {
        return Err(bad(format!(
            "The scheduler hint '{}' is not supported by this cloud: only 'group' is.",
            tricircle_common::ids::truncate_for_message(k)
        )));
    }
    let invalid = |v: &Value| {
        bad(format!(
            "Invalid input for field/attribute group. Value: {}. It must be a server group's UUID.",
            tricircle_common::ids::truncate_for_message(&v.to_string())
        ))
    };
    match hints.get("group") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(g)) if is_uuid(g) => Ok(Some(g.clone())),
        Some(Value::Array(list)) => match list.as_slice() {
            [Value::String(g)] if is_uuid(g) => Ok(Some(g.clone())),
            [] => Ok(None),
            _ => Err(invalid(&Value::Array(list.clone()))),
        },
        Some(other) => Err(invalid(other)),
    }
}

/// The mappings as sent: a list of objects.
fn block_devices(server: &Map<String, Value>) -> Result<Vec<Value>, ApiError> {
    match server.get("block_device_mapping_v2") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => Ok(items.clone()),
        Some(_) => Err(bad(
            "Invalid input for field/attribute block_device_mapping_v2: it must be a list of objects.",
        )),
    }
}

pub async fn create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    h: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Invalid input: 'server' is a required property."))?;
    if let Some(k) = server.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
        return Err(bad(format!("Additional properties are not allowed ('{k}' was unexpected).")));
    }
    let string = |key: &str| -> Result<Option<String>, ApiError> {
        match server.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => {
                Err(bad(format!("Invalid input for field/attribute {key}: it must be a string.")))
            }
        }
    };
    for count in ["min_count", "max_count"] {
        if server.get(count).and_then(Value::as_i64).is_some_and(|n| n != 1) {
            return Err(bad(format!(
                "{count} other than 1 is not supported: create servers one at a time."
            )));
        }
    }
    let metadata: Map<String, Value> = match server.get("metadata") {
        None => Map::new(),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => m.clone(),
        Some(_) => {
            return Err(bad(
                "Invalid input for field/attribute metadata: it must map strings to strings.",
            ));
        }
    };
    let spec = ServerSpec {
        name: string("name")?
            .ok_or_else(|| bad("Invalid input: 'name' is a required property."))?,
        flavor_ref: string("flavorRef")?
            .ok_or_else(|| bad("Invalid input: 'flavorRef' is a required property."))?,
        image_ref: string("imageRef")?.filter(|i| !i.is_empty()),
        availability_zone: string("availability_zone")?,
        key_name: string("key_name")?,
        networks: server.get("networks").cloned(),
        metadata,
        user_data: string("user_data")?,
        microversion: Some(mv),
        block_devices: block_devices(server)?,
        group: group_hint(&body)?,
        security_groups: security_groups(server)?,
    };
    let (view, admin_pass) = s.app.server_create(&ctx, spec).await?;
    let base = base_url(s.public_url.as_deref(), &h);
    let mut view = with_links(&base, view);
    if let Some(p) = admin_pass {
        view["adminPass"] = json!(p);
    }
    let location =
        format!("{base}/compute/v2.1/servers/{}", view["id"].as_str().unwrap_or_default());
    let mut resp = (StatusCode::ACCEPTED, Json(json!({"server": view}))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_group_hint_is_a_uuid_and_the_only_hint() {
        let g = "3f1c2a9e-8a5b-4c1d-9e2f-0a1b2c3d4e5f";
        let hint = |h: serde_json::Value| super::group_hint(&json!({"os:scheduler_hints": h}));
        assert_eq!(hint(json!({"group": g})).unwrap().as_deref(), Some(g));
        assert_eq!(hint(json!({"group": [g]})).unwrap().as_deref(), Some(g));
        let legacy = json!({"OS-SCH-HNT:scheduler_hints": {"group": g}});
        assert_eq!(super::group_hint(&legacy).unwrap().as_deref(), Some(g));
        assert!(hint(json!({"group": "nope"})).is_err());
        assert!(hint(json!({"group": [g, g]})).is_err());
        assert!(hint(json!({"same_host": [g]})).is_err());
        assert!(hint(json!("x")).is_err());
        assert_eq!(super::group_hint(&json!({})).unwrap(), None);
    }
}
