//! Liveness, readiness and metrics: unauthenticated, for load balancers and
//! Prometheus.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

use crate::ApiState;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::render))
}

/// The process is up and serving.
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

/// The process can do useful work: its database answers.
async fn readyz(State(state): State<ApiState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    match state.app.ready().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "ok", "database": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "database": "unreachable"})),
            )
        }
    }
}
