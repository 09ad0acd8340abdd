//! `/api/environments` and `/api/approvals*`: the environments this Triage serves, as the caller
//! sees them, and the actions waiting for a second operator.

use axum::Json;
use axum::extract::State;
use triage_shared::env::{Approval, ApprovalDecision, ApprovalQuery, Environments};

use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{Env, JsonBody, Path, Query};
use crate::state::AppState;

/// `GET /api/environments`: every environment with the caller's role in it.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Json<Environments> {
    let roles = state.auth.roles(&caller);
    let role_in = |name: &str| roles.iter().find(|r| r.env == name).and_then(|r| r.role);
    Json(Environments {
        default: state.envs.default_env().name.clone(),
        alert_label: state.envs.alert_label.clone(),
        environments: state.envs.iter().map(|e| e.info(role_in(&e.name))).collect(),
    })
}

/// `GET /api/approvals`: the environment's pending approvals (all with `all=true`).
pub async fn list_approvals(
    env: Env,
    State(state): State<AppState>,
    Query(q): Query<ApprovalQuery>,
) -> Result<Json<Vec<Approval>>, AppError> {
    Ok(Json(state.store.approvals().list(&env.name, q.all).await?))
}

/// `POST /api/approvals/{id}/approve` (operators of the environment, not the requester).
pub async fn approve(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(id): Path<i64>,
    JsonBody(decision): JsonBody<ApprovalDecision>,
) -> Result<Json<Approval>, AppError> {
    Ok(Json(
        crate::approvals::approve(&env, &state.store, &state.jobs, &identity, id, &decision.comment).await?,
    ))
}

/// `POST /api/approvals/{id}/reject` (operators of the environment, the requester included).
pub async fn reject(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(id): Path<i64>,
    JsonBody(decision): JsonBody<ApprovalDecision>,
) -> Result<Json<Approval>, AppError> {
    Ok(Json(crate::approvals::reject(&env, &state.store, &identity, id, &decision.comment).await?))
}
