//! The Tricircle admin API (`/admin/v1.0`): pods, resource routings,
//! jobs and audits, compatible with upstream Tricircle's shapes where that makes sense
//! (see `docs/admin-api.md` for each deliberate difference).
//!
//! Every handler is annotated for utoipa, and the router is built with
//! utoipa-axum, so the routes and the OpenAPI document come from the same
//! declarations; `docs/admin-openapi.json` is the committed copy, checked by
//! a test.

use std::sync::OnceLock;

use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;

mod audits;
mod jobs;
mod pods;
mod routings;
mod trace;
mod versions;
pub mod views;

/// The prefix of every admin route.
pub const PREFIX: &str = "/admin/v1.0";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tricircle admin API",
        version = "1.0",
        description = "Manage the pods (OpenStack regions) behind the gateway, the routings that \
                       say where each resource lives, and the durable jobs that work on them. \
                       Every operation except the version documents needs a token with the \
                       admin role in X-Auth-Token."
    ),
    tags(
        (name = "versions", description = "Version discovery"),
        (name = "pods", description = "OpenStack regions registered with the gateway"),
        (name = "routings", description = "Where the bottom copy of each top resource lives"),
        (name = "jobs", description = "Durable asynchronous work"),
        (name = "trace", description = "Whether a packet from a port reaches an IP, from the pods' state"),
        (name = "audits", description = "The periodic audit of each pod: orphans deleted, lost copies found, port claims given back"),
    ),
    modifiers(&TokenAuth),
)]
struct AdminApiDoc;

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
    }
}

/// The admin routes together with their OpenAPI description.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(AdminApiDoc::openapi())
        .routes(routes!(versions::admin_versions))
        .routes(routes!(versions::admin_version))
        .routes(routes!(pods::pod_list, pods::pod_create))
        .routes(routes!(pods::pod_view, pods::pod_delete))
        .routes(routes!(routings::routing_list, routings::routing_create))
        .routes(routes!(routings::routing_view, routings::routing_update, routings::routing_delete))
        .routes(routes!(jobs::job_list))
        .routes(routes!(jobs::job_list_detail))
        .routes(routes!(jobs::job_schemas))
        .routes(routes!(jobs::job_view, jobs::job_redo, jobs::job_delete))
        .routes(routes!(jobs::job_attempts))
        .routes(routes!(trace::network_trace))
        .routes(routes!(audits::audit_list))
        .routes(routes!(audits::audit_view, audits::audit_run))
        // Clients often ask for the version documents with a trailing slash.
        .route("/admin/", get(versions::admin_versions))
        .route("/admin/v1.0/", get(versions::admin_version))
        .route("/admin/v1.0/openapi.json", get(openapi_json))
}

/// The OpenAPI document of the admin API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}

/// The document as served and as committed: pretty JSON with a final newline.
pub fn openapi_json_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = openapi().to_pretty_json().expect("the OpenAPI document serializes");
        text.push('\n');
        text
    })
}

async fn openapi_json() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json_text())
}
