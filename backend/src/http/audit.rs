//! `/api/audit`: the audit log, newest first.

use axum::Json;
use axum::extract::State;
use triage_shared::actions::{AuditEntry, AuditQuery};

use crate::error::AppError;
use crate::http::extract::{Env, Query};
use crate::state::AppState;

/// The audit entries of the request's environment.
pub async fn list(
    env: Env,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    Ok(Json(state.store.audit().list(&env.name, q.limit.unwrap_or(200)).await?))
}
