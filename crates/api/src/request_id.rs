//! `x-openstack-request-id` on every response, and one span per request.
//!
//! A client's own id is kept when it has the standard `req-<uuid>` form (so
//! a caller can follow one id through the gateway and the pods); anything
//! else is replaced by a fresh one. Every log line of the request carries
//! the id through the span, and one line records the outcome.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tricircle_common::RequestId;

pub const HEADER: &str = "x-openstack-request-id";

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_default();
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();
    // The path only: query strings may carry filters we need not log.
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request done"
        )
    });
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
