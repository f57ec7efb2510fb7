//! Version discovery documents (unauthenticated, as in every OpenStack API).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use super::PREFIX;
use super::views::LinkView;
use crate::ApiState;
use crate::url::base_url;

/// The one version of the admin API.
const VERSION: &str = "1.0";
const UPDATED: &str = "2026-11-25T00:00:00Z";

#[derive(Serialize, ToSchema)]
pub struct VersionEntry {
    id: String,
    status: String,
    updated: String,
    links: Vec<LinkView>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionsBody {
    versions: Vec<VersionEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionBody {
    version: String,
    links: Vec<LinkView>,
}

/// List the versions of the admin API.
#[utoipa::path(get, path = "/admin", tag = "versions", operation_id = "admin_versions",
    responses((status = 200, description = "The available versions", body = VersionsBody)))]
pub async fn admin_versions(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Json<VersionsBody> {
    let base = base_url(state.public_url.as_deref(), &headers);
    Json(VersionsBody {
        versions: vec![VersionEntry {
            id: format!("v{VERSION}"),
            status: "CURRENT".into(),
            updated: UPDATED.into(),
            links: vec![LinkView::new("self", format!("{base}{PREFIX}/"))],
        }],
    })
}

/// Describe version 1.0 and link its collections.
#[utoipa::path(get, path = "/admin/v1.0", tag = "versions", operation_id = "admin_version",
    responses((status = 200, description = "Version 1.0", body = VersionBody)))]
pub async fn admin_version(State(state): State<ApiState>, headers: HeaderMap) -> Json<VersionBody> {
    let base = base_url(state.public_url.as_deref(), &headers);
    let link = |rel: &str, path: &str| LinkView::new(rel, format!("{base}{PREFIX}{path}"));
    Json(VersionBody {
        version: VERSION.into(),
        links: vec![
            link("self", "/"),
            link("jobs", "/jobs"),
            link("pods", "/pods"),
            link("routings", "/routings"),
        ],
    })
}
