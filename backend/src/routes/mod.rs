//! The whole router, built in one function so every route is visible in one place.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::state::AppState;
use crate::{assets, metrics};

mod k8s;
mod ops;
mod prom;
mod runbooks;
mod version;

/// Builds the application router: `/api` (JSON), operational endpoints, then the frontend.
pub fn router(state: AppState) -> Router {
    let timeout: Duration = state.settings.server.request_timeout();
    let api = Router::new()
        .route("/version", get(version::get_version))
        .route("/prom/query", get(prom::query))
        .route("/prom/query_range", get(prom::query_range))
        .route("/prom/series", get(prom::series))
        .route("/prom/labels", get(prom::labels))
        .route("/prom/label/{name}/values", get(prom::label_values))
        .route("/prom/alerts", get(prom::alerts))
        .route("/prom/rules", get(prom::rules))
        .route("/prom/metadata", get(prom::metadata))
        .route("/live", get(prom::live))
        .route("/k8s/namespaces", get(k8s::namespaces))
        .route("/k8s/nodes/top", get(k8s::top_nodes))
        .route("/k8s/namespaces/{ns}/pods", get(k8s::list_pods))
        .route("/k8s/namespaces/{ns}/pods/{name}", get(k8s::get_pod))
        .route("/k8s/namespaces/{ns}/pods/{name}/logs", get(k8s::pod_logs))
        .route("/k8s/namespaces/{ns}/deployments", get(k8s::list_deployments))
        .route("/k8s/namespaces/{ns}/events", get(k8s::list_events))
        .route("/k8s/namespaces/{ns}/top/pods", get(k8s::top_pods))
        .route("/k8s/namespaces/{ns}/services", get(k8s::list_services))
        .route("/k8s/namespaces/{ns}/networkpolicies", get(k8s::list_network_policies))
        .route("/k8s/namespaces/{ns}/deployments/{name}/scale", post(k8s::scale))
        .route("/k8s/namespaces/{ns}/deployments/{name}/restart", post(k8s::restart))
        .route("/k8s/namespaces/{ns}/pods/{name}/delete", post(k8s::delete_pod))
        .route("/k8s/namespaces/{ns}/pods/delete", post(k8s::delete_pods))
        .route("/k8s/namespaces/{ns}/emergency-restart", post(k8s::emergency_restart))
        .route("/k8s/namespaces/{ns}/deployments/{name}/rollout", get(k8s::rollout))
        .route("/k8s/namespaces/{ns}/pods/{name}/logs/follow", get(k8s::follow_logs))
        .route("/jobs/{id}", get(k8s::get_job))
        .route("/whoami", get(k8s::whoami))
        .route("/audit", get(k8s::audit))
        .route("/runbooks", get(runbooks::list_runbooks))
        .route("/runbooks/reload", post(runbooks::reload))
        .route("/runbooks/{id}", get(runbooks::get_runbook))
        .route("/runbooks/{id}/runs", post(runbooks::start_run))
        .route("/runs/{run_id}", get(runbooks::get_run))
        .route("/runs/{run_id}/events", get(runbooks::run_events))
        .route("/runs/{run_id}/report.md", get(runbooks::run_report))
        .fallback(api_not_found)
        .layer(middleware::from_fn(require_csrf_header));

    Router::new()
        .nest("/api", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(assets::serve_frontend)
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, timeout))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Unknown `/api/…` paths get the JSON error body, never the SPA's index.html.
async fn api_not_found(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> AppError {
    AppError::not_found(format!("no API route {}", uri.path()))
}

/// Header that every state-changing API request must carry. Browsers cannot add a custom header
/// to a cross-site form post or a simple request without a CORS preflight, which Triage never
/// grants, so its presence proves the request came from the console's own scripts.
pub const CSRF_HEADER: &str = "x-triage-csrf";

async fn require_csrf_header(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let safe = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if !safe && !request.headers().contains_key(CSRF_HEADER) {
        return AppError::Api(triage_shared::ApiError::new(
            triage_shared::ErrorKind::Forbidden,
            format!("state-changing requests must carry the {CSRF_HEADER} header"),
        ))
        .into_response();
    }
    next.run(request).await
}
