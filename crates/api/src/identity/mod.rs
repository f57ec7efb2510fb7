//! Keystone v3 at `/identity` (embedded identity, DESIGN §4): version
//! documents, tokens with a catalog that points at the gateway's own
//! prefixes, and domains, projects, users, roles and role assignments.
//!
//! Errors use Keystone's body, `{"error": {"code", "title", "message"}}`.
//! Collections carry Keystone's `links` object.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use tricircle_common::{Error, ErrorKind};
use tricircle_openstack_api::fault::keystone_error;

use crate::ApiState;

mod catalog;
mod resources;
mod tokens;
mod views;

pub use catalog::{SERVICES as GATEWAY_SERVICES, catalog};

/// An error rendered the way Keystone renders it.
#[derive(Debug)]
pub struct KeystoneError(pub Error);

impl From<Error> for KeystoneError {
    fn from(e: Error) -> Self {
        KeystoneError(e)
    }
}

impl From<crate::error::ApiError> for KeystoneError {
    fn from(e: crate::error::ApiError) -> Self {
        KeystoneError(e.0)
    }
}

impl IntoResponse for KeystoneError {
    fn into_response(self) -> Response {
        let err = self.0;
        match err.kind() {
            ErrorKind::Internal => tracing::error!(error = %err, "request failed"),
            ErrorKind::Unavailable => tracing::warn!(error = %err, "dependency unavailable"),
            _ => tracing::debug!(error = %err, "request refused"),
        }
        let status = axum::http::StatusCode::from_u16(err.status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(keystone_error(err.status(), err.external_message())))
            .into_response();
        if status == axum::http::StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Keystone uri=\"/identity\""),
            );
        }
        resp
    }
}

pub type KsResult<T> = Result<T, KeystoneError>;

/// The Keystone routes.
pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/identity", get(tokens::versions))
        .route("/identity/", get(tokens::versions))
        .route("/identity/v3", get(tokens::version))
        .route("/identity/v3/", get(tokens::version))
        .route(
            "/identity/v3/auth/tokens",
            post(tokens::issue).get(tokens::validate).head(tokens::check).delete(tokens::revoke),
        )
        .route("/identity/v3/auth/projects", get(tokens::auth_projects))
        .route("/identity/v3/auth/catalog", get(tokens::auth_catalog))
        .route("/identity/v3/domains", get(resources::domain_list).post(resources::domain_create))
        .route("/identity/v3/domains/{id}", get(resources::domain_show))
        .route(
            "/identity/v3/projects",
            get(resources::project_list).post(resources::project_create),
        )
        .route(
            "/identity/v3/projects/{id}",
            get(resources::project_show)
                .patch(resources::project_update)
                .delete(resources::project_delete),
        )
        .route("/identity/v3/users", get(resources::user_list).post(resources::user_create))
        .route(
            "/identity/v3/users/{id}",
            get(resources::user_show).patch(resources::user_update).delete(resources::user_delete),
        )
        .route("/identity/v3/users/{id}/password", post(resources::user_password))
        .route("/identity/v3/users/{id}/projects", get(resources::user_projects))
        .route("/identity/v3/roles", get(resources::role_list).post(resources::role_create))
        .route("/identity/v3/roles/{id}", get(resources::role_show).delete(resources::role_delete))
        .route("/identity/v3/projects/{p}/users/{u}/roles", get(resources::grant_list))
        .route(
            "/identity/v3/projects/{p}/users/{u}/roles/{r}",
            put(resources::grant)
                .head(resources::grant_check)
                .get(resources::grant_check)
                .delete(resources::ungrant),
        )
        .route("/identity/v3/role_assignments", get(resources::assignment_list))
}

/// In external-Keystone mode the gateway issues no tokens and keeps no
/// users: every `/identity` route answers 404 naming the Keystone to use.
/// Clients authenticate there, and that Keystone's catalog lists the
/// gateway's endpoints under its region (`tricircle endpoints register`),
/// as in upstream Tricircle; a proxy would hand out that Keystone's
/// catalog and links anyway, so clients would leave the gateway at once.
pub async fn refuse_when_external(
    axum::extract::State(state): axum::extract::State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match state.auth.external_keystone() {
        None => next.run(req).await,
        Some(url) => KeystoneError(Error::new(
            ErrorKind::NotFound,
            format!(
                "This gateway does not issue tokens: authenticate at the Keystone at {url} \
                 (auth_url) and use region {} for the gateway's services.",
                state.region
            ),
        ))
        .into_response(),
    }
}

/// Keystone's `links` object of a collection.
fn collection_links(self_url: String) -> Value {
    json!({"self": self_url, "previous": null, "next": null})
}

pub(crate) fn bad_request(message: impl Into<String>) -> KeystoneError {
    KeystoneError(Error::bad_request(message))
}
