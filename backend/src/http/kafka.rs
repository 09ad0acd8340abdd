//! `/api/kafka/*`: the cluster, topics and consumer groups read first-hand, and the guarded
//! offset reset.

use axum::Json;
use axum::extract::State;
use triage_shared::kafka::{
    KafkaCluster, KafkaGroup, KafkaGroupList, KafkaTopic, KafkaTopicList, OffsetResetOutcome,
    OffsetResetRequest,
};

use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{JsonBody, Path};
use crate::state::AppState;

pub async fn cluster(State(state): State<AppState>) -> Result<Json<KafkaCluster>, AppError> {
    Ok(Json(state.kafka()?.cluster().await?))
}

pub async fn topics(State(state): State<AppState>) -> Result<Json<KafkaTopicList>, AppError> {
    Ok(Json(state.kafka()?.topics().await?))
}

pub async fn topic(
    State(state): State<AppState>,
    Path(topic): Path<String>,
) -> Result<Json<KafkaTopic>, AppError> {
    Ok(Json(state.kafka()?.topic(&topic).await?))
}

pub async fn groups(State(state): State<AppState>) -> Result<Json<KafkaGroupList>, AppError> {
    Ok(Json(state.kafka()?.groups().await?))
}

pub async fn group(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<KafkaGroup>, AppError> {
    Ok(Json(state.kafka()?.group(&group).await?))
}

pub async fn reset_offsets(
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(group): Path<String>,
    JsonBody(req): JsonBody<OffsetResetRequest>,
) -> Result<Json<OffsetResetOutcome>, AppError> {
    Ok(Json(state.kafka()?.reset_offsets(&state.store, &identity, &group, &req).await?))
}
