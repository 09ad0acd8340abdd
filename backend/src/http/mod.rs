//! The whole router, built in one function so every route is visible in one place.

use std::sync::Arc;
use std::time::Duration;

use aide::axum::routing::{ApiMethodRouter, get, get_with, post};
use axum::Router;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get as get_page};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use triage_shared::actions::Role;
use triage_shared::prom::answer::QueryAnswer;
use triage_shared::{ApiError, ErrorKind};

use crate::error::{AppError, edge_response};
use crate::state::AppState;

pub mod assets;
mod audit;
mod auth;
mod environments;
pub mod extract;
mod jobs;
mod k8s;
mod kafka;
pub mod metrics;
pub mod openapi;
mod ops;
mod pg;
mod prom;
mod runbooks;
mod session;
mod version;

/// One API route: method, path under `/api`, the least role that may call it, and its handler
/// with the OpenAPI operation aide inferred from its extractors and answer type.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub role: Role,
    handler: ApiMethodRouter<AppState>,
}

fn api(role: Role, method: Method, path: &'static str, handler: ApiMethodRouter<AppState>) -> ApiRoute {
    ApiRoute { method, path, role, handler }
}

/// Every `/api` route with the role it needs. The router and the OpenAPI document are built from
/// this table only, so a route cannot exist without a role or a description, and tests walk it
/// as every role. `get_with` adds what a handler's types cannot say (streams, pre-serialized JSON).
pub fn api_routes() -> Vec<ApiRoute> {
    use Method as M;
    use Role::{Admin, Operator, Reader};
    vec![
        api(Reader, M::GET, "/openapi.json", get_with(openapi::serve, openapi::document_answer)),
        api(Reader, M::GET, "/version", get(version::get_version)),
        api(Reader, M::GET, "/whoami", get(session::whoami)),
        api(Reader, M::GET, "/environments", get(environments::list)),
        api(Reader, M::GET, "/approvals", get(environments::list_approvals)),
        api(Operator, M::POST, "/approvals/{id}/approve", post(environments::approve)),
        api(Operator, M::POST, "/approvals/{id}/reject", post(environments::reject)),
        api(Reader, M::GET, "/prom/query", get_with(prom::query, openapi::json::<QueryAnswer>)),
        api(Reader, M::GET, "/prom/query_range", get_with(prom::query_range, openapi::json::<QueryAnswer>)),
        api(Reader, M::GET, "/prom/series", get_with(prom::series, prom::series_docs)),
        api(Reader, M::GET, "/prom/labels", get(prom::labels)),
        api(Reader, M::GET, "/prom/label/{name}/values", get(prom::label_values)),
        api(Reader, M::GET, "/prom/alerts", get(prom::alerts)),
        api(Reader, M::GET, "/prom/rules", get(prom::rules)),
        api(Reader, M::GET, "/prom/metadata", get(prom::metadata)),
        api(Reader, M::GET, "/live", get_with(prom::live, prom::live_docs)),
        api(Reader, M::GET, "/k8s/namespaces", get(k8s::namespaces)),
        api(Reader, M::GET, "/k8s/nodes/top", get(k8s::top_nodes)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/pods", get(k8s::list_pods)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/pods/{name}", get(k8s::get_pod)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/pods/{name}/logs", get(k8s::pod_logs)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/deployments", get(k8s::list_deployments)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/events", get(k8s::list_events)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/top/pods", get(k8s::top_pods)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/services", get(k8s::list_services)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/networkpolicies", get(k8s::list_network_policies)),
        api(Reader, M::GET, "/k8s/namespaces/{ns}/deployments/{name}/secrets", get(k8s::deployment_secrets)),
        api(Operator, M::POST, "/k8s/namespaces/{ns}/deployments/{name}/scale", post(k8s::scale)),
        api(Operator, M::POST, "/k8s/namespaces/{ns}/deployments/{name}/restart", post(k8s::restart)),
        api(Operator, M::POST, "/k8s/namespaces/{ns}/pods/{name}/delete", post(k8s::delete_pod)),
        api(Operator, M::POST, "/k8s/namespaces/{ns}/pods/delete", post(k8s::delete_pods)),
        api(Operator, M::POST, "/k8s/namespaces/{ns}/emergency-restart", post(k8s::emergency_restart)),
        api(
            Reader,
            M::GET,
            "/k8s/namespaces/{ns}/deployments/{name}/rollout",
            get_with(k8s::rollout, k8s::rollout_docs),
        ),
        api(
            Reader,
            M::GET,
            "/k8s/namespaces/{ns}/pods/{name}/logs/follow",
            get_with(k8s::follow_logs, k8s::follow_logs_docs),
        ),
        api(Reader, M::GET, "/jobs/{id}", get(jobs::get_job)),
        api(Reader, M::GET, "/audit", get(audit::list)),
        api(Reader, M::GET, "/pg/targets", get(pg::list_targets)),
        api(Reader, M::GET, "/pg/{target}/statements", get(pg::list_statements)),
        api(Reader, M::GET, "/pg/{target}/activity", get(pg::get_activity)),
        api(Reader, M::GET, "/pg/{target}/index-advice", get(pg::get_index_advice)),
        api(Reader, M::GET, "/pg/{target}/tables", get(pg::list_tables)),
        api(Reader, M::GET, "/pg/{target}/snapshots", get(pg::list_snapshots)),
        api(Reader, M::POST, "/pg/{target}/snapshots", post(pg::take_snapshot)),
        api(Reader, M::GET, "/pg/{target}/diff", get(pg::get_diff)),
        api(Operator, M::POST, "/pg/{target}/reset", post(pg::reset_statements)),
        api(Reader, M::GET, "/kafka/cluster", get(kafka::cluster)),
        api(Reader, M::GET, "/kafka/topics", get(kafka::topics)),
        api(Reader, M::GET, "/kafka/topics/{topic}", get(kafka::topic)),
        api(Reader, M::GET, "/kafka/groups", get(kafka::groups)),
        api(Reader, M::GET, "/kafka/groups/{group}", get(kafka::group)),
        api(Operator, M::POST, "/kafka/groups/{group}/reset-offsets", post(kafka::reset_offsets)),
        api(Reader, M::GET, "/runbooks", get(runbooks::list_runbooks)),
        api(Admin, M::POST, "/runbooks/reload", post(runbooks::reload)),
        api(Reader, M::GET, "/runbooks/{id}", get(runbooks::get_runbook)),
        api(Reader, M::POST, "/runbooks/{id}/runs", post(runbooks::start_run)),
        api(Reader, M::GET, "/runs/{run_id}", get(runbooks::get_run)),
        api(
            Reader,
            M::GET,
            "/runs/{run_id}/events",
            get_with(runbooks::run_events, runbooks::run_events_docs),
        ),
        api(Reader, M::GET, "/runs/{run_id}/report.md", get_with(runbooks::run_report, openapi::markdown)),
    ]
}

/// `(method, full path, role)` of every `/api` route, for tests and documentation.
pub fn route_table() -> Vec<(Method, String, Role)> {
    api_routes().into_iter().map(|r| (r.method, format!("/api{}", r.path), r.role)).collect()
}

/// Builds the application router: `/api` (JSON), the login routes, operational endpoints, then
/// the frontend. `auth::gate` sits in front of everything but the probes and the login routes.
pub fn router(state: AppState) -> Router {
    let timeout: Duration = state.settings.server.request_timeout();
    let csp = HeaderValue::from_str(&assets::content_security_policy())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));
    let mut api = Router::new();
    for route in api_routes() {
        let guard =
            middleware::from_fn_with_state((route.role, state.auth.clone()), crate::auth::require_role);
        api = api.route(route.path, MethodRouter::from(route.handler).route_layer(guard));
    }
    // Both fallbacks answer with the error body: `/api` never falls through to the SPA.
    let methods: Arc<Vec<(Method, &'static str)>> =
        Arc::new(api_routes().into_iter().map(|r| (r.method, r.path)).collect());
    let api = api.method_not_allowed_fallback(move |method: Method, OriginalUri(uri): OriginalUri| {
        let methods = methods.clone();
        async move { method_not_allowed(&methods, &method, uri.path()) }
    });
    let api = api.fallback(api_not_found);
    // One set of request metrics per router: recorded by `metrics::track`, read by `/metrics`.
    let request_metrics = Arc::new(metrics::HttpMetrics::default());

    Router::new()
        .nest("/api", api)
        // `nest` leaves `/api/` itself to the outer fallback, which is the SPA's index.html.
        .route("/api/", axum::routing::any(api_not_found))
        .route("/healthz", get_page(ops::healthz))
        .route("/readyz", get_page(ops::readyz))
        .route("/metrics", get_page(ops::metrics))
        .route(crate::auth::LOGIN_PATH, get_page(auth::login))
        .route(crate::auth::CALLBACK_PATH, get_page(auth::callback))
        .route(crate::auth::LOGOUT_PATH, get_page(auth::logout))
        .route(crate::auth::LOGGED_OUT_PATH, get_page(auth::logged_out))
        .fallback(assets::serve_frontend)
        .layer(middleware::from_fn_with_state(state.auth.clone(), crate::auth::gate))
        .layer(axum::Extension(request_metrics.clone()))
        .layer(middleware::from_fn_with_state(request_metrics, metrics::track))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(timeout, request_timeout))
        // Inside the header layers, so refusals carry the security headers too.
        .layer(middleware::from_fn(declared_body_limit))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(middleware::from_fn_with_state(csp, content_security_policy))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Largest request body Triage reads (every API body is a small JSON object); larger ones get 413.
pub const MAX_REQUEST_BODY: usize = 64 * 1024;

/// Refuses a body whose declared length is over [`MAX_REQUEST_BODY`] on every route, before
/// anything reads it; undeclared (chunked) bodies meet the same limit in the body extractor.
async fn declared_body_limit(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return edge_response(request.uri().path(), extract::body_too_large());
    }
    next.run(request).await
}

/// Bounds every request by `server.request_timeout_secs` until its answer starts (streams run on
/// after their headers), then answers 504 in words.
async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, secs = limit.as_secs(), "request timed out");
            edge_response(
                &path,
                ApiError::new(
                    ErrorKind::Timeout,
                    format!(
                        "Triage gave up on this request after {} s (server.request_timeout_secs); what it \
                         waits on is slow or not answering, try again or narrow the request",
                        limit.as_secs()
                    ),
                ),
            )
        }
    }
}

/// A known `/api` path with a method it does not take: 405 naming the ones it does.
fn method_not_allowed(routes: &[(Method, &'static str)], method: &Method, path: &str) -> AppError {
    let relative = path.strip_prefix("/api").unwrap_or(path);
    let allowed: Vec<&str> = routes
        .iter()
        .filter(|(_, template)| matches_template(template, relative))
        .map(|(m, _)| m.as_str())
        .collect();
    AppError::Api(
        ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!("{path} does not take {method}; it takes {}", allowed.join(", ")),
        )
        .with_detail(serde_json::json!({ "allowed": allowed })),
    )
}

/// Whether a concrete path fits a route template (`{param}` stands for one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts == ps || (ts.starts_with('{') && !ps.is_empty()) => {}
            _ => return false,
        }
    }
}

/// Sets the Content-Security-Policy on every response that has none. The chart benchmark page
/// (`/bench/…`, not linked from the console) is left without one: it evaluates uPlot's source in
/// the page to draw the same data for comparison.
async fn content_security_policy(State(csp): State<HeaderValue>, request: Request, next: Next) -> Response {
    let bench = request.uri().path().starts_with("/bench/");
    let mut response = next.run(request).await;
    if !bench {
        response.headers_mut().entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
    }
    response
}

/// Unknown `/api/…` paths get the JSON error body, never the SPA's index.html.
async fn api_not_found(OriginalUri(uri): OriginalUri) -> AppError {
    AppError::not_found(format!("no API route {}", uri.path()))
}

/// Header that every state-changing API request must carry (checked by `auth::gate`).
pub use triage_shared::auth::CSRF_HEADER;
