//! `/admin/v1.0/routings`: inspect and repair where resources live.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tricircle_common::{Error, PodId};
use tricircle_core::PageRequest;
use tricircle_core::paging::page_limit;
use tricircle_openstack_api::links::with_query;
use tricircle_store::{NewRouting, Routing, RoutingFilter, RoutingPatch};
use utoipa::IntoParams;

use super::PREFIX;
use super::views::{
    Fault, LinkView, RoutingBody, RoutingCreateBody, RoutingUpdateBody, RoutingView, RoutingsBody,
};
use crate::ApiState;
use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{JsonBody, QueryParams, parse_int};
use crate::url::base_url;

impl From<Routing> for RoutingView {
    fn from(r: Routing) -> Self {
        RoutingView {
            id: r.id,
            top_id: r.top_id,
            bottom_id: r.bottom_id,
            pod_id: r.pod_id.to_string(),
            project_id: r.project_id,
            resource_type: r.resource_type,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Equality filters and paging. Unknown parameters are refused.
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoutingListQuery {
    /// Only the routing with this id.
    #[param(value_type = Option<i64>)]
    id: Option<String>,
    top_id: Option<String>,
    bottom_id: Option<String>,
    #[param(format = Uuid)]
    pod_id: Option<String>,
    project_id: Option<String>,
    resource_type: Option<String>,
    /// Page size; 0 or absent means the configured maximum, larger values are clamped.
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// The id of the last routing of the previous page.
    #[param(value_type = Option<i64>)]
    marker: Option<String>,
}

fn routing_id(raw: &str) -> Result<i64, Error> {
    parse_int("routing ID", Some(raw)).map(|v| v.unwrap_or_default())
}

/// List routings, newest first, with equality filters and `limit`/`marker` paging.
#[utoipa::path(get, path = "/admin/v1.0/routings", tag = "routings", operation_id = "routing_list",
    security(("token" = [])),
    params(RoutingListQuery),
    responses(
        (status = 200, description = "A page of routings; `routings_links` has a next link when the page is full", body = RoutingsBody),
        (status = 400, description = "Unknown filter, bad limit or marker", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
    ))]
pub async fn routing_list(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    headers: HeaderMap,
    QueryParams(q): QueryParams<RoutingListQuery>,
) -> ApiResult<Json<RoutingsBody>> {
    let filter = RoutingFilter {
        id: parse_int("id", q.id.as_deref())?,
        top_id: q.top_id.clone(),
        bottom_id: q.bottom_id.clone(),
        pod_id: q.pod_id.as_deref().map(str::parse::<PodId>).transpose()?,
        project_id: q.project_id.clone(),
        resource_type: q.resource_type.clone(),
    };
    let limit = page_limit(
        parse_int("limit", q.limit.as_deref())?,
        state.app.settings().pagination_max_limit,
    )?;
    let marker = parse_int("marker", q.marker.as_deref())?;
    let page = state.app.routing_list(&ctx, filter, PageRequest { limit, marker }).await?;
    let routings_links = page.next_marker.map(|m| {
        let mut pairs = vec![("limit", limit.to_string()), ("marker", m.to_string())];
        for (k, v) in [
            ("id", &q.id),
            ("top_id", &q.top_id),
            ("bottom_id", &q.bottom_id),
            ("pod_id", &q.pod_id),
            ("project_id", &q.project_id),
            ("resource_type", &q.resource_type),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        let base = base_url(state.public_url.as_deref(), &headers);
        vec![LinkView::new("next", with_query(&format!("{base}{PREFIX}/routings"), &pairs))]
    });
    Ok(Json(RoutingsBody {
        routings: page.items.into_iter().map(RoutingView::from).collect(),
        routings_links,
    }))
}

/// Record a routing by hand (repair). The pod must exist.
#[utoipa::path(post, path = "/admin/v1.0/routings", tag = "routings", operation_id = "routing_create",
    security(("token" = [])),
    request_body = RoutingCreateBody,
    responses(
        (status = 201, description = "The routing", body = RoutingBody),
        (status = 400, description = "Malformed body, blank field, unknown type or pod", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 409, description = "The (top_id, resource_type, pod_id) routing exists", body = Fault),
        (status = 413, description = "Body too large", body = Fault),
    ))]
pub async fn routing_create(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    JsonBody(body): JsonBody<RoutingCreateBody>,
) -> ApiResult<(StatusCode, Json<RoutingBody>)> {
    let r = body.routing;
    let new = NewRouting {
        top_id: r.top_id,
        bottom_id: r.bottom_id,
        pod_id: r.pod_id.parse()?,
        project_id: r.project_id,
        resource_type: r.resource_type,
    };
    let routing = state.app.routing_create(&ctx, new).await?;
    Ok((StatusCode::CREATED, Json(RoutingBody { routing: routing.into() })))
}

/// Show one routing.
#[utoipa::path(get, path = "/admin/v1.0/routings/{routing_id}", tag = "routings", operation_id = "routing_view",
    security(("token" = [])),
    params(("routing_id" = i64, Path, description = "The routing's id")),
    responses(
        (status = 200, description = "The routing", body = RoutingBody),
        (status = 400, description = "The id is not an integer", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such routing", body = Fault),
    ))]
pub async fn routing_view(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<RoutingBody>> {
    let routing = state.app.routing_get(&ctx, routing_id(&id)?).await?;
    Ok(Json(RoutingBody { routing: routing.into() }))
}

/// Change fields of a routing; `bottom_id: null` clears it.
#[utoipa::path(put, path = "/admin/v1.0/routings/{routing_id}", tag = "routings", operation_id = "routing_update",
    security(("token" = [])),
    params(("routing_id" = i64, Path, description = "The routing's id")),
    request_body = RoutingUpdateBody,
    responses(
        (status = 200, description = "The updated routing", body = RoutingBody),
        (status = 400, description = "Malformed body, blank value, nothing to update, unknown type or pod", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such routing", body = Fault),
        (status = 409, description = "The change would duplicate another routing", body = Fault),
        (status = 413, description = "Body too large", body = Fault),
    ))]
pub async fn routing_update(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RoutingUpdateBody>,
) -> ApiResult<Json<RoutingBody>> {
    let id = routing_id(&id)?;
    let u = body.routing;
    let patch = RoutingPatch {
        top_id: u.top_id,
        bottom_id: u.bottom_id,
        pod_id: u.pod_id.as_deref().map(str::parse).transpose()?,
        project_id: u.project_id,
        resource_type: u.resource_type,
    };
    let routing = state.app.routing_update(&ctx, id, patch).await?;
    Ok(Json(RoutingBody { routing: routing.into() }))
}

/// Delete a routing (the bottom resource is not touched).
#[utoipa::path(delete, path = "/admin/v1.0/routings/{routing_id}", tag = "routings", operation_id = "routing_delete",
    security(("token" = [])),
    params(("routing_id" = i64, Path, description = "The routing's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not an integer", body = Fault),
        (status = 401, description = "No valid token", body = Fault),
        (status = 403, description = "The token lacks the admin role", body = Fault),
        (status = 404, description = "No such routing", body = Fault),
    ))]
pub async fn routing_delete(
    State(state): State<ApiState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.routing_delete(&ctx, routing_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
