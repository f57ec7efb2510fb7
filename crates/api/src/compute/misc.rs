//! Version documents, availability zones and limits.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use tricircle_core::compute::server_groups::{MAX_GROUPS_PER_PROJECT, MAX_MEMBERS_PER_GROUP};

use super::{MAX, MIN};
use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::url::base_url;

fn v21(base: &str) -> Value {
    json!({
        "id": "v2.1", "status": "CURRENT", "version": MAX.to_string(), "min_version": MIN.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

pub async fn versions(State(s): State<ApiState>, h: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [v21(&base_url(s.public_url.as_deref(), &h))]}))
}

pub async fn version(State(s): State<ApiState>, h: HeaderMap) -> Json<Value> {
    Json(json!({"version": v21(&base_url(s.public_url.as_deref(), &h))}))
}

pub async fn availability_zones(
    State(s): State<ApiState>,
    Caller(_ctx): Caller,
) -> ApiResult<Json<Value>> {
    let zones = s.app.availability_zones().await?;
    let info: Vec<Value> = zones
        .iter()
        .map(
            |z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": null}),
        )
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}

/// Nova's absolute limits; quotas are not enforced yet, so maxima are -1
/// (unlimited) and the totals count the caller's servers, except server
/// groups and their members, whose Nova defaults the gateway enforces.
pub async fn limits(State(s): State<ApiState>, Caller(ctx): Caller) -> ApiResult<Json<Value>> {
    let project = ctx.auth.project_id.clone().unwrap_or_default();
    let servers = s
        .app
        .store()
        .resource_list("server", Some(&project))
        .await
        .map_err(tricircle_common::Error::from)?;
    let groups =
        s.app.store().server_group_count(&project).await.map_err(tricircle_common::Error::from)?;
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalInstances": -1, "maxTotalCores": -1, "maxTotalRAMSize": -1, "maxServerMeta": 128,
        "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240, "maxTotalKeypairs": 100,
        "maxServerGroups": MAX_GROUPS_PER_PROJECT, "maxServerGroupMembers": MAX_MEMBERS_PER_GROUP, "maxTotalFloatingIps": -1,
        "maxSecurityGroups": -1, "maxSecurityGroupRules": -1,
        "totalInstancesUsed": servers.len(), "totalCoresUsed": 0, "totalRAMUsed": 0,
        "totalServerGroupsUsed": groups, "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0,
    }}})))
}
