//! Typed calls to `/api/approvals*`: the actions of the current environment that wait for a
//! second operator, and the approval or rejection of one.

use triage_shared::ApiError;
use triage_shared::env::{Approval, ApprovalDecision, ApprovalQuery};

use super::{get_json, post_json, with_query};
use crate::format::url::query_string;

/// The current environment's approvals: pending ones only, or every one when `all`.
pub async fn approvals(all: bool) -> Result<Vec<Approval>, ApiError> {
    get_json(&with_query("/api/approvals", &query_string(&ApprovalQuery { all }))).await
}

/// Approves request `id`: the backend runs the action and answers with its audit id or error.
pub async fn approve(id: i64, decision: &ApprovalDecision) -> Result<Approval, ApiError> {
    post_json(&format!("/api/approvals/{id}/approve"), decision).await
}

/// Rejects request `id`; the action never runs.
pub async fn reject(id: i64, decision: &ApprovalDecision) -> Result<Approval, ApiError> {
    post_json(&format!("/api/approvals/{id}/reject"), decision).await
}
