//! Prometheus metrics of the HTTP layer: requests and latency by route,
//! method and status.
//!
//! The route label is the matched route template (`/admin/v1.0/pods/{pod_id}`),
//! never the raw path, so label cardinality stays bounded. Routing happens
//! inside the router, after the outer layer has started timing, so the inner
//! [`record_route`] layer writes the template into a slot the outer [`track`]
//! layer reads; requests that match no route are labelled `unmatched`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide Prometheus recorder (a process has one global recorder,
/// so every router in it shares this).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .expect("static bucket list is valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program);
        // then our handle renders only what we record through it, which is
        // still correct for /metrics.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

pub async fn track(mut req: Request, next: Next) -> Response {
    let slot = RouteSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let route = slot.0.get().cloned().unwrap_or_else(|| "unmatched".to_string());
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("tricircle_http_requests_total", &labels).increment(1);
    metrics::histogram!("tricircle_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn record_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(matched)) =
        (req.extensions().get::<RouteSlot>(), req.extensions().get::<MatchedPath>())
    {
        let _ = slot.0.set(matched.as_str().to_string());
    }
    next.run(req).await
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], {
        let h = handle();
        h.run_upkeep();
        h.render()
    })
}
