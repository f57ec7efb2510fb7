//! Rendering errors for the admin API (and any surface that uses Nova-style
//! faults): `{"itemNotFound": {"code": 404, "message": "..."}}`.
//!
//! This is the single place where an error becomes a response, so it is also
//! where internal details are logged (inside the request's span, which
//! carries the request id) and dropped from what the client sees.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tricircle_common::{Error, ErrorKind};
use tricircle_openstack_api::fault::nova_fault;

/// An [`Error`] on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        match err.kind() {
            ErrorKind::Internal => tracing::error!(error = %err, "request failed"),
            ErrorKind::Unavailable => tracing::warn!(error = %err, "dependency unavailable"),
            _ if err.internal_detail().is_some() => tracing::info!(error = %err, "request refused"),
            _ => tracing::debug!(error = %err, "request refused"),
        }
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response =
            (status, Json(nova_fault(err.status(), err.external_message()))).into_response();
        if err.kind() == ErrorKind::Unavailable {
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("5"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
