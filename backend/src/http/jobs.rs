//! `/api/jobs/{id}`: a background job (the emergency restart) as far as it has come.

use axum::Json;
use axum::extract::State;
use triage_shared::actions::Job;

use crate::error::AppError;
use crate::http::extract::Path;
use crate::state::AppState;

pub async fn get_job(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Job>, AppError> {
    state.jobs.get(&id).map(Json).ok_or_else(|| AppError::not_found(format!("no job {id}")))
}
