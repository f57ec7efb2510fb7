//! `/quotas`: Neutron's quota API (show, details, defaults; admins set,
//! reset and list per-project limits). The rules live in the core.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::{NeutronResult, parse_body};
use crate::ApiState;
use crate::auth::Caller;

pub(super) async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
) -> NeutronResult<Json<Value>> {
    Ok(Json(s.app.network_quota_list(&ctx).await?))
}

/// `GET /quotas/{project}`; `/quotas/project` and `/quotas/tenant` are
/// Neutron's "whose token is this" (no project ID is either word).
pub(super) async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(project): Path<String>,
) -> NeutronResult<Json<Value>> {
    if project == "project" || project == "tenant" {
        return Ok(Json(s.app.network_quota_whoami(&ctx, &project)?));
    }
    Ok(Json(s.app.network_quota_show(&ctx, &project, false).await?))
}

pub(super) async fn details(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(project): Path<String>,
) -> NeutronResult<Json<Value>> {
    Ok(Json(s.app.network_quota_show(&ctx, &project, true).await?))
}

pub(super) async fn defaults(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(project): Path<String>,
) -> NeutronResult<Json<Value>> {
    Ok(Json(s.app.network_quota_default(&ctx, &project).await?))
}

pub(super) async fn update(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(project): Path<String>,
    body: Bytes,
) -> NeutronResult<Json<Value>> {
    let body = parse_body(&body)?;
    Ok(Json(s.app.network_quota_update(&ctx, &project, &body).await?))
}

pub(super) async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Path(project): Path<String>,
) -> NeutronResult<StatusCode> {
    s.app.network_quota_delete(&ctx, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}
