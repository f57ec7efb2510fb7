//! Assembles the services under devstack's prefixes into one router.
//!
//! Each service gets its own request-id layer, its own "not found" fallback in its own error
//! shape, and (Nova, Cinder) microversion negotiation; a panic anywhere becomes a 500 in the
//! compute fault shape instead of a dropped connection.

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, http::Method};

use crate::http::{ApiError, Svc, request_id};
use crate::microversion::{self, Negotiator};
use crate::pod::Pod;
use crate::{cinder, control, glance, keystone, neutron, nova, versions};

fn not_found(svc: Svc, req: Request) -> Response {
    let kind = if svc == Svc::Network { "HTTPNotFound" } else { "NotFound" };
    let msg = match svc {
        Svc::Network => {
            format!("The resource could not be found. {} {}", req.method(), req.uri().path())
        }
        _ => "The resource could not be found.".to_string(),
    };
    if req.method() == Method::OPTIONS {
        return ApiError::new(svc, 405, "HTTPMethodNotAllowed", "Method not allowed")
            .into_response();
    }
    ApiError::new(svc, 404, kind, msg).into_response()
}

/// A service's router with its fallbacks and request id.
fn service(svc: Svc, inner: Router<Pod>, mv: Option<Negotiator>) -> Router<Pod> {
    let mut r = inner
        .fallback(move |req: Request| async move { not_found(svc, req) })
        .method_not_allowed_fallback(move || async move {
            ApiError::new(
                svc,
                405,
                "HTTPMethodNotAllowed",
                "The method is not allowed for the requested URL.",
            )
            .into_response()
        });
    if let Some(n) = mv {
        r = r.layer(from_fn(move |req: Request, next: Next| microversion::negotiate(n, req, next)));
    }
    r.layer(from_fn(move |req: Request, next: Next| request_id(svc, req, next)))
}

fn with_rid(svc: Svc, mr: MethodRouter<Pod>) -> MethodRouter<Pod> {
    mr.layer(from_fn(move |req: Request, next: Next| request_id(svc, req, next)))
}

fn panic_to_500(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(
        Svc::Compute,
        500,
        "HTTPInternalServerError",
        "Unexpected API Error. The sim pod hit a bug; see its log.",
    )
    .into_response()
}

/// The whole OpenStack surface plus `/sim`.
pub fn router(pod: Pod) -> Router {
    Router::new()
        .route("/identity", with_rid(Svc::Identity, get(versions::identity_root)))
        .nest("/identity/v3", service(Svc::Identity, keystone::router(), None))
        .route("/compute", get(versions::compute_root))
        .nest("/compute/v2.1", service(Svc::Compute, nova::router(), Some(microversion::NOVA)))
        .route("/volume", with_rid(Svc::Volume, get(versions::volume_root)))
        .nest("/volume/v3", service(Svc::Volume, cinder::router(), Some(microversion::CINDER)))
        .route("/networking", get(versions::network_root))
        .nest("/networking/v2.0", service(Svc::Network, neutron::router(), None))
        .route("/image", get(versions::image_root))
        .nest("/image/v2", service(Svc::Image, glance::router(), None))
        .nest("/sim", control::router())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_to_500))
        .layer(Extension(pod.clone()))
        .with_state(pod)
}

/// Only the control API (for the separate control listener).
pub fn control_router(pod: Pod) -> Router {
    Router::new().nest("/sim", control::router()).with_state(pod)
}
