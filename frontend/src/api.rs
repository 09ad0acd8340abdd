//! Typed calls to the backend. Every function returns `Result<T, ApiError>`; a response without
//! the JSON error body (a proxy's 502, a dropped connection) still becomes an `ApiError` in words.

pub mod pg;

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use triage_shared::actions::{
    ActionOutcome, AuditEntry, AuditQuery, DeletePodRequest, DeletePodsRequest, EmergencyRestartRequest,
    Identity, Job, RestartRequest, ScaleRequest,
};
use triage_shared::auth::{CSRF_HEADER, WhoAmI};
use triage_shared::k8s::{
    DeploymentSummary, EventSummary, LogQuery, NetworkPolicySummary, NodeUsage, PodDetail, PodList, PodLogs,
    PodQuery, PodUsage, ServiceSummary,
};
use triage_shared::prom::{Alert, InstantParams, QueryResult, RangeParams};
use triage_shared::runbook::{RunStarted, RunState, Runbook, RunbookSummary, StartRun};
use triage_shared::{ApiError, ErrorBody, ErrorKind, VersionInfo};

pub async fn get_version() -> Result<VersionInfo, ApiError> {
    get_json("/api/version").await
}

fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

/// A query-parameter type of `triage_shared` as a query string: every field that is set, each
/// name and value encoded.
fn query_string<T: Serialize>(params: &T) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(params) else {
        return String::new();
    };
    let pairs = fields.iter().filter_map(|(name, value)| {
        let text = match value {
            serde_json::Value::Null => return None,
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        Some(format!("{}={}", encode(name), encode(&text)))
    });
    pairs.collect::<Vec<_>>().join("&")
}

pub async fn query_range(query: &str, start: f64, end: f64, step: f64) -> Result<QueryResult, ApiError> {
    let params = RangeParams { query: query.to_owned(), start: millis(start), end: millis(end), step };
    get_json(&format!("/api/prom/query_range?{}", query_string(&params))).await
}

/// Unix seconds to the millisecond, as the console has always sent them.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

pub async fn query(query: &str, time: Option<f64>) -> Result<QueryResult, ApiError> {
    let params = InstantParams { query: query.to_owned(), time: time.map(millis) };
    get_json(&format!("/api/prom/query?{}", query_string(&params))).await
}

pub async fn alerts() -> Result<Vec<Alert>, ApiError> {
    get_json("/api/prom/alerts").await
}

/// The caller's identity and role (`/api/whoami`).
pub async fn whoami() -> Result<Identity, ApiError> {
    get_json("/api/whoami").await
}

/// The session: identity, role, logout link and CSRF token (remembered for [`post_json`]).
pub async fn session() -> Result<WhoAmI, ApiError> {
    let who: WhoAmI = get_json("/api/whoami").await?;
    CSRF_TOKEN.with(|t| *t.borrow_mut() = Some(who.csrf_token.clone().unwrap_or_else(|| "1".to_owned())));
    Ok(who)
}

thread_local! {
    /// The session's CSRF token; `"1"` in no-auth mode, where only the header's presence counts.
    static CSRF_TOKEN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

async fn csrf_token() -> String {
    if let Some(token) = CSRF_TOKEN.with(|t| t.borrow().clone()) {
        return token;
    }
    session().await.ok().and_then(|w| w.csrf_token).unwrap_or_else(|| "1".to_owned())
}

/// The namespaces Triage may look at; the first is the default.
pub async fn k8s_namespaces() -> Result<Vec<String>, ApiError> {
    get_json("/api/k8s/namespaces").await
}

fn ns_path(ns: &str) -> String {
    format!("/api/k8s/namespaces/{}", encode(ns))
}

/// One page of pods; `selector` is a label selector (`app=x`), empty for all.
pub async fn k8s_pods(
    ns: &str,
    selector: &str,
    limit: u32,
    continue_token: Option<&str>,
) -> Result<PodList, ApiError> {
    let params = PodQuery {
        selector: Some(selector.trim().to_owned()).filter(|s| !s.is_empty()),
        limit: Some(limit),
        continue_token: continue_token.map(str::to_owned),
    };
    get_json(&format!("{}/pods?{}", ns_path(ns), query_string(&params))).await
}

pub async fn k8s_pod(ns: &str, name: &str) -> Result<PodDetail, ApiError> {
    get_json(&format!("{}/pods/{}", ns_path(ns), encode(name))).await
}

pub async fn k8s_pod_logs(ns: &str, name: &str, tail: u32, previous: bool) -> Result<PodLogs, ApiError> {
    let params = LogQuery { tail: Some(i64::from(tail)), previous };
    get_json(&format!("{}/pods/{}/logs?{}", ns_path(ns), encode(name), query_string(&params))).await
}

pub async fn k8s_deployments(ns: &str) -> Result<Vec<DeploymentSummary>, ApiError> {
    get_json(&format!("{}/deployments", ns_path(ns))).await
}

pub async fn k8s_events(ns: &str) -> Result<Vec<EventSummary>, ApiError> {
    get_json(&format!("{}/events", ns_path(ns))).await
}

pub async fn k8s_top_pods(ns: &str) -> Result<Vec<PodUsage>, ApiError> {
    get_json(&format!("{}/top/pods", ns_path(ns))).await
}

pub async fn k8s_top_nodes() -> Result<Vec<NodeUsage>, ApiError> {
    get_json("/api/k8s/nodes/top").await
}

pub async fn k8s_services(ns: &str) -> Result<Vec<ServiceSummary>, ApiError> {
    get_json(&format!("{}/services", ns_path(ns))).await
}

pub async fn k8s_network_policies(ns: &str) -> Result<Vec<NetworkPolicySummary>, ApiError> {
    get_json(&format!("{}/networkpolicies", ns_path(ns))).await
}

pub async fn scale_deployment(ns: &str, name: &str, body: &ScaleRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/deployments/{}/scale", ns_path(ns), encode(name)), body).await
}

pub async fn restart_deployment(
    ns: &str,
    name: &str,
    body: &RestartRequest,
) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/deployments/{}/restart", ns_path(ns), encode(name)), body).await
}

pub async fn delete_pod(ns: &str, name: &str, body: &DeletePodRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/pods/{}/delete", ns_path(ns), encode(name)), body).await
}

/// Every pod of `ns` matching a label selector (`/pods/delete`).
pub async fn delete_pods(ns: &str, body: &DeletePodsRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/pods/delete", ns_path(ns)), body).await
}

/// The guide's complete restart of `ns`: the plan for a dry run, the started job otherwise.
pub async fn emergency_restart(ns: &str, body: &EmergencyRestartRequest) -> Result<Job, ApiError> {
    post_json(&format!("{}/emergency-restart", ns_path(ns)), body).await
}

/// A long action's progress.
pub async fn job(id: &str) -> Result<Job, ApiError> {
    get_json(&format!("/api/jobs/{}", encode(id))).await
}

pub async fn runbooks() -> Result<Vec<RunbookSummary>, ApiError> {
    get_json("/api/runbooks").await
}

pub async fn runbook(id: &str) -> Result<Runbook, ApiError> {
    get_json(&format!("/api/runbooks/{}", encode(id))).await
}

/// Starts a run of every check of runbook `id` with `params` (validated by the backend).
pub async fn start_run(id: &str, body: &StartRun) -> Result<RunStarted, ApiError> {
    post_json(&format!("/api/runbooks/{}/runs", encode(id)), body).await
}

pub async fn run_state(run_id: &str) -> Result<RunState, ApiError> {
    get_json(&format!("/api/runs/{}", encode(run_id))).await
}

/// The path of a run's server-sent events.
pub fn run_events_url(run_id: &str) -> String {
    format!("/api/runs/{}/events", encode(run_id))
}

/// The path of a run's Markdown incident report.
pub fn run_report_url(run_id: &str) -> String {
    format!("/api/runs/{}/report.md", encode(run_id))
}

/// A run's Markdown incident report.
pub async fn run_report(run_id: &str) -> Result<String, ApiError> {
    let response = Request::get(&run_report_url(run_id)).send().await.map_err(|e| {
        ApiError::new(ErrorKind::Unavailable, format!("cannot reach the Triage backend: {e}"))
    })?;
    if !response.ok() {
        return decode::<String>(response).await;
    }
    response
        .text()
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot read the report: {e}")))
}

/// The audit log, newest first.
pub async fn audit(limit: u32) -> Result<Vec<AuditEntry>, ApiError> {
    get_json(&format!("/api/audit?{}", query_string(&AuditQuery { limit: Some(limit) }))).await
}

/// POSTs `body` as JSON with the CSRF header the backend requires, and decodes the answer like
/// [`get_json`].
pub async fn post_json<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    let send = |token: String| async move {
        Request::post(path)
            .header(CSRF_HEADER, &token)
            .json(body)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot encode the request: {e}")))?
            .send()
            .await
            .map_err(|e| {
                ApiError::new(ErrorKind::Unavailable, format!("cannot reach the Triage backend: {e}"))
            })
    };
    let response = send(csrf_token().await).await?;
    if response.status() != 403 {
        return decode(response).await;
    }
    let refused: Result<T, ApiError> = decode(response).await;
    match refused {
        // The session changed since the token was read (a new login, perhaps in another tab):
        // the request was refused before it did anything; read the token again and retry once.
        Err(e) if e.kind == ErrorKind::Csrf => {
            CSRF_TOKEN.with(|t| *t.borrow_mut() = None);
            decode(send(csrf_token().await).await?).await
        }
        other => other,
    }
}

/// GETs `path` and decodes the JSON body, or the API's error body.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let response = Request::get(path).send().await.map_err(|e| {
        ApiError::new(ErrorKind::Unavailable, format!("cannot reach the Triage backend: {e}"))
    })?;
    decode(response).await
}

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let status = response.status();
    if status == 401 {
        // The session ended (single sign-on): log in again and come back to this page.
        if let Some(location) = web_sys::window().map(|w| w.location()) {
            let here = format!(
                "{}{}",
                location.pathname().unwrap_or_default(),
                location.search().unwrap_or_default()
            );
            let _ = location.set_href(&format!("/auth/login?return_to={}", encode(&here)));
        }
    }
    if response.ok() {
        return response.json::<T>().await.map_err(|e| {
            ApiError::new(ErrorKind::Internal, format!("the backend answered with an unexpected body: {e}"))
        });
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(body.error),
        Err(_) => Err(ApiError::new(
            ErrorKind::from_http_status(status),
            format!("the backend answered HTTP {status} {}", response.status_text()),
        )),
    }
}
