//! The gateway's HTTP surface: one axum router with every API under its
//! prefix (DESIGN §4), plus health and metrics.
//!
//! Handlers are thin: they parse (with the extractors in [`extract`], which
//! turn every malformed input into a 400 in the API's own body shape),
//! authenticate (with the [`auth`] extractors), call one `tricircle-core`
//! function and render a view. Cross-cutting layers, outermost first:
//! request id and request log ([`request_id`]), metrics ([`metrics`]), the
//! JSON error safety net ([`fallback`]), panic catching.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tricircle_core::App;

pub mod admin;
pub mod auth;
pub mod compute;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod health;
pub mod identity;
pub mod image;
pub mod metrics;
pub mod networking;
pub mod request_id;
mod url;
pub mod volume;

pub use auth::{Authenticator, BootstrapTokenAuth, EmbeddedIdentityAuth, ExternalKeystoneAuth};
pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    pub auth: Arc<dyn Authenticator>,
    /// The URL clients reach us at, when configured (links, catalogs).
    pub public_url: Option<String>,
    /// The top region's name, in the catalogs of the gateway's tokens.
    pub region: String,
}

/// Limits of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
}

/// The whole HTTP application.
pub fn router(state: ApiState, http: &HttpSettings) -> Router {
    // Install the recorder before the first request is counted.
    metrics::handle();
    let (admin, _) = admin::router().split_for_parts();
    Router::new()
        .merge(admin)
        .merge(health::router())
        .merge(identity::router().route_layer(middleware::from_fn_with_state(
            state.clone(),
            identity::refuse_when_external,
        )))
        .merge(compute::router())
        .merge(image::router())
        .merge(networking::router())
        .merge(volume::router())
        .fallback(fallback::not_found)
        .route_layer(middleware::from_fn(metrics::record_route))
        .with_state(state)
        .layer(middleware::from_fn(auth::caller_scope))
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(fallback::panic_response))
        .layer(middleware::from_fn(fallback::json_errors))
        .layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn(request_id::layer))
}
