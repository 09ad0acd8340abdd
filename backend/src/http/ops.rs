//! Operational endpoints for Kubernetes probes and Prometheus: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::http::metrics::HttpMetrics;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: not shutting down. (Upstreams being down does not make Triage unready: it must
/// keep answering with clear errors precisely when they are.)
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    }
}

/// Triage's own metrics: the request series the edge recorded, then what callers hold open now.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(metrics): Extension<Arc<HttpMetrics>>,
) -> impl IntoResponse {
    let mut text = metrics.render();
    crate::http::metrics::render_gauges(
        &mut text,
        &state.streams,
        &state.runs,
        state.envs.iter().filter_map(|e| e.live().ok()).map(|l| &**l),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}
