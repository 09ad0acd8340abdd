//! `/api/pg/*`: PostgreSQL analysis of the configured targets (read-only), snapshots for the
//! window diff, and the audited statistics reset.

use axum::Json;
use axum::extract::State;
use triage_shared::actions::ActionOutcome;
use triage_shared::pg::{
    ActivityReport, DiffQuery, DiffReport, IndexAdviceReport, ResetRequest, SnapshotInfo, StatementsParams,
    StatementsReport, TablesReport,
};

use crate::approvals::{ActionRequest, Answer};
use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{Env, JsonBody, Path, Query, seconds};
use crate::state::AppState;

/// Configured target names; the first is the default.
pub async fn list_targets(env: Env) -> Result<Json<Vec<String>>, AppError> {
    Ok(Json(env.pg()?.names()))
}

pub async fn list_statements(
    env: Env,
    Path(target): Path<String>,
    Query(p): Query<StatementsParams>,
) -> Result<Json<StatementsReport>, AppError> {
    let q = p.resolve().map_err(AppError::bad_request)?;
    Ok(Json(env.pg()?.statements(&target, &q).await?))
}

pub async fn get_activity(env: Env, Path(target): Path<String>) -> Result<Json<ActivityReport>, AppError> {
    Ok(Json(env.pg()?.activity(&target).await?))
}

pub async fn get_index_advice(
    env: Env,
    Path(target): Path<String>,
) -> Result<Json<IndexAdviceReport>, AppError> {
    Ok(Json(env.pg()?.index_advice(&target).await?))
}

pub async fn list_tables(env: Env, Path(target): Path<String>) -> Result<Json<TablesReport>, AppError> {
    Ok(Json(env.pg()?.tables(&target).await?))
}

pub async fn list_snapshots(
    env: Env,
    Path(target): Path<String>,
) -> Result<Json<Vec<SnapshotInfo>>, AppError> {
    Ok(Json(env.pg()?.snapshots(&target).await?))
}

/// Takes a snapshot now (state-changing for Triage's store only; any role may).
pub async fn take_snapshot(env: Env, Path(target): Path<String>) -> Result<Json<SnapshotInfo>, AppError> {
    Ok(Json(env.pg()?.take_snapshot(&target, "manual").await?))
}

pub async fn get_diff(
    env: Env,
    Path(target): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<DiffReport>, AppError> {
    q.from_time.map(|t| seconds("from_time", t)).transpose()?;
    q.to_time.map(|t| seconds("to_time", t)).transpose()?;
    Ok(Json(env.pg()?.diff(&target, &q).await?))
}

pub async fn reset_statements(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(target): Path<String>,
    JsonBody(req): JsonBody<ResetRequest>,
) -> Result<Json<ActionOutcome>, AppError> {
    match crate::approvals::submit(
        &env,
        &state.store,
        &state.jobs,
        &identity,
        ActionRequest::PgReset { target, body: req },
    )
    .await?
    {
        Answer::Action(outcome) => Ok(Json(outcome)),
        Answer::Kafka(_) | Answer::Job(_) => {
            Err(AppError::Internal(anyhow::anyhow!("the statistics reset answered as another action")))
        }
    }
}
