//! `/api/audit`: the audit log, newest first.

use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use serde::Deserialize;
use triage_shared::actions::AuditEntry;

use crate::error::AppError;
use crate::http::extract::Query;
use crate::state::AppState;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AuditQuery {
    /// Most entries, newest first (default 200).
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    Ok(Json(state.audit.list(q.limit.unwrap_or(200)).await?))
}
