//! The safety net: whatever the router or a layer answers on its own (404
//! for an unknown path, 405 for a wrong method, 413, a caught panic) still
//! reaches the client as a JSON error body of the right API, never as an
//! empty or plain-text body and never with a Rust debug string.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tricircle_common::Error;
use tricircle_openstack_api::fault::{keystone_error, neutron_error, nova_fault, reason_phrase};

use crate::error::ApiError;

/// Any path no route matched, answered in the body of the API that owns
/// the prefix.
pub async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let err = Error::new(
        tricircle_common::ErrorKind::NotFound,
        format!(
            "The resource could not be found: no API at {}.",
            tricircle_common::ids::truncate_for_message(path)
        ),
    );
    if path.starts_with("/identity") {
        crate::identity::KeystoneError(err).into_response()
    } else {
        ApiError(err).into_response()
    }
}

/// The error body of the API that owns `path`.
fn body_for(path: &str, status: u16, message: &str) -> Value {
    if path.starts_with("/identity") {
        keystone_error(status, message)
    } else if path.starts_with("/networking") {
        neutron_error(reason_phrase(status).replace(' ', "").as_str(), message)
    } else {
        nova_fault(status, message)
    }
}

fn default_message(status: StatusCode) -> String {
    match status.as_u16() {
        405 => "The method is not allowed on this resource.".to_string(),
        413 => "The request body is too large.".to_string(),
        415 => "The request body must be JSON (Content-Type: application/json).".to_string(),
        s => format!("{s} {}", reason_phrase(s)),
    }
}

/// Replace non-JSON error bodies with the API's JSON error body.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let body = body_for(&path, status.as_u16(), &default_message(status));
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// A handler panicked: log it (the panic hook already printed the message
/// inside the request span) and answer 500 without details.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError(Error::internal("handler panicked")).into_response()
}
