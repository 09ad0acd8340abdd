//! `/api/audit`: the audit log, newest first.

use axum::Json;
use axum::extract::State;
use triage_shared::actions::{AuditEntry, AuditQuery};

use crate::error::AppError;
use crate::http::extract::Query;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    Ok(Json(state.store.audit().list(q.limit.unwrap_or(200)).await?))
}
