//! `/admin/v1.0/pods`: register, list, show and delete pods.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tricircle_common::PodId;
use tricircle_core::pods::{IdentityMode, PodCredentials, PodInfo, PodSpec};

use super::views::{
    Fault, IdentityModeView, PodBody, PodCreateBody, PodHealthView, PodStatusView, PodView,
    PodsBody,
};
use crate::ApiState;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::JsonBody;

impl From<PodInfo> for PodView {
    fn from(info: PodInfo) -> Self {
        let has_credentials = info.has_credentials();
        let c = info.calls;
        let p = info.pod;
        PodView {
            pod_id: p.pod_id.to_string(),
            region_name: p.region_name,
            az_name: p.az_name,
            pod_az_name: p.pod_az_name,
            dc_name: p.dc_name,
            auth_url: p.auth_url,
            identity: match info.identity {
                IdentityMode::Shared => IdentityModeView::Shared,
                IdentityMode::Mapped => IdentityModeView::Mapped,
            },
            endpoints: info.endpoints,
            has_credentials,
            health: PodHealthView {
                status: match p.health.ok {
                    Some(true) => PodStatusView::Up,
                    Some(false) => PodStatusView::Down,
                    None => PodStatusView::Unknown,
                },
                checked_at: p.health.checked_at,
                latency_ms: p.health.latency_ms,
                error: p.health.error,
                calls: c.calls,
                failures: c.failures,
                error_rate: if c.calls == 0 { 0.0 } else { c.failures as f64 / c.calls as f64 },
                mean_latency_ms: (c.calls > 0).then(|| c.latency_ms_total / c.calls as f64),
                last_success_at: c.last_success_at,
                last_failure_at: c.last_failure_at,
            },
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// List every pod.
#[utoipa::path(get, path = "/admin/v1.0/pods", tag = "pods", operation_id = "pod_list",
    security(("token" = [])),
    responses(
        (status = 200, description = "All pods, ordered by region name", body = PodsBody),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
    ))]
pub async fn pod_list(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
) -> ApiResult<Json<PodsBody>> {
    let pods = state.app.pod_list(&ctx).await?;
    Ok(Json(PodsBody { pods: pods.into_iter().map(PodView::from).collect() }))
}

/// Register a pod. A pod without `az_name` is the top region; there is at most one.
#[utoipa::path(post, path = "/admin/v1.0/pods", tag = "pods", operation_id = "pod_create",
    security(("token" = [])),
    request_body = PodCreateBody,
    responses(
        (status = 201, description = "The pod, without its credentials", body = PodBody),
        (status = 400, description = "Malformed body or invalid value", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 409, description = "Duplicate region, or a second top region", body = Fault),
        (status = 413, description = "Body too large", body = Fault),
        (status = 422, description = "Empty region_name", body = Fault),
    ))]
pub async fn pod_create(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    JsonBody(body): JsonBody<PodCreateBody>,
) -> ApiResult<(StatusCode, Json<PodBody>)> {
    let p = body.pod;
    let spec = PodSpec {
        region_name: p.region_name,
        az_name: p.az_name,
        pod_az_name: p.pod_az_name,
        dc_name: p.dc_name,
        auth_url: p.auth_url,
        identity: p.identity.map(|m| match m {
            IdentityModeView::Shared => IdentityMode::Shared,
            IdentityModeView::Mapped => IdentityMode::Mapped,
        }),
        endpoints: p.endpoints.unwrap_or_default(),
        credentials: p.credentials.map(|c| PodCredentials {
            username: c.username,
            password: c.password,
            project_name: c.project_name,
            user_domain_name: c.user_domain_name.unwrap_or_else(|| "Default".into()),
            project_domain_name: c.project_domain_name.unwrap_or_else(|| "Default".into()),
        }),
    };
    let pod = state.app.pod_create(&ctx, spec).await?;
    Ok((StatusCode::CREATED, Json(PodBody { pod: pod.into() })))
}

/// Show one pod.
#[utoipa::path(get, path = "/admin/v1.0/pods/{pod_id}", tag = "pods", operation_id = "pod_view",
    security(("token" = [])),
    params(("pod_id" = String, Path, format = Uuid, description = "The pod's ID")),
    responses(
        (status = 200, description = "The pod", body = PodBody),
        (status = 400, description = "The ID is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such pod", body = Fault),
    ))]
pub async fn pod_view(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(pod_id): Path<String>,
) -> ApiResult<Json<PodBody>> {
    let pod_id: PodId = pod_id.parse()?;
    Ok(Json(PodBody { pod: state.app.pod_get(&ctx, pod_id).await?.into() }))
}

/// Delete a pod that no routing references.
#[utoipa::path(delete, path = "/admin/v1.0/pods/{pod_id}", tag = "pods", operation_id = "pod_delete",
    security(("token" = [])),
    params(("pod_id" = String, Path, format = Uuid, description = "The pod's ID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The ID is not a UUID", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such pod", body = Fault),
        (status = 409, description = "Resources are still routed to the pod", body = Fault),
    ))]
pub async fn pod_delete(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(pod_id): Path<String>,
) -> ApiResult<StatusCode> {
    let pod_id: PodId = pod_id.parse()?;
    state.app.pod_delete(&ctx, pod_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
