//! Typed calls to `/api/runbooks/*` and `/api/runs/*`: the flows, their runs, a run's events
//! and its incident report.

use gloo_net::http::Request;
use triage_shared::runbook::{RunStarted, RunState, Runbook, RunbookSummary, StartRun};
use triage_shared::{ApiError, ErrorKind};

use super::{decode, get_json, post_json};
use crate::env;
use crate::format::url::encode;

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

/// The path of a run's server-sent events, in the current environment.
pub fn run_events_url(run_id: &str) -> String {
    env::href(&format!("/api/runs/{}/events", encode(run_id)))
}

/// The path of a run's Markdown incident report, in the current environment.
pub fn run_report_url(run_id: &str) -> String {
    env::href(&format!("/api/runs/{}/report.md", encode(run_id)))
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
