//! Typed calls to `/api/pg/*`: PostgreSQL analysis of the configured targets.

use triage_shared::ApiError;
use triage_shared::actions::ActionOutcome;
use triage_shared::pg::{
    ActivityReport, DiffReport, IndexAdviceReport, ResetRequest, SnapshotInfo, StatementOrder,
    StatementsParams, StatementsReport, TablesReport,
};

use super::{get_json, post_json};
use crate::format::url::{encode, query_string};

fn target_path(target: &str) -> String {
    format!("/api/pg/{}", encode(target))
}

/// The configured targets; the first is the default.
pub async fn targets() -> Result<Vec<String>, ApiError> {
    get_json("/api/pg/targets").await
}

pub async fn statements(
    target: &str,
    order: StatementOrder,
    database: &str,
    role: &str,
) -> Result<StatementsReport, ApiError> {
    let params = StatementsParams::new(order, database, role, 100);
    get_json(&format!("{}/statements?{}", target_path(target), query_string(&params))).await
}

pub async fn activity(target: &str) -> Result<ActivityReport, ApiError> {
    get_json(&format!("{}/activity", target_path(target))).await
}

pub async fn index_advice(target: &str) -> Result<IndexAdviceReport, ApiError> {
    get_json(&format!("{}/index-advice", target_path(target))).await
}

pub async fn tables(target: &str) -> Result<TablesReport, ApiError> {
    get_json(&format!("{}/tables", target_path(target))).await
}

pub async fn snapshots(target: &str) -> Result<Vec<SnapshotInfo>, ApiError> {
    get_json(&format!("{}/snapshots", target_path(target))).await
}

pub async fn take_snapshot(target: &str) -> Result<SnapshotInfo, ApiError> {
    post_json(&format!("{}/snapshots", target_path(target)), &serde_json::json!({})).await
}

/// What changed from snapshot `from` to snapshot `to`, or to now when `to` is `None`.
pub async fn diff(target: &str, from: i64, to: Option<i64>) -> Result<DiffReport, ApiError> {
    let mut url = format!("{}/diff?from={from}&limit=100", target_path(target));
    if let Some(to) = to {
        url.push_str(&format!("&to={to}"));
    }
    get_json(&url).await
}

pub async fn reset(target: &str, body: &ResetRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/reset", target_path(target)), body).await
}
