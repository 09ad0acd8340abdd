//! `/api/kafka/*`: the cluster, topics and consumer groups read first-hand, and the guarded
//! offset reset.

use axum::Json;
use axum::extract::State;
use triage_shared::kafka::{
    KafkaCluster, KafkaGroup, KafkaGroupList, KafkaTopic, KafkaTopicList, OffsetResetOutcome,
    OffsetResetRequest,
};

use crate::approvals::{ActionRequest, Answer};
use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{Env, JsonBody, Path};
use crate::state::AppState;

pub async fn cluster(env: Env) -> Result<Json<KafkaCluster>, AppError> {
    Ok(Json(env.kafka()?.cluster().await?))
}

pub async fn topics(env: Env) -> Result<Json<KafkaTopicList>, AppError> {
    Ok(Json(env.kafka()?.topics().await?))
}

pub async fn topic(env: Env, Path(topic): Path<String>) -> Result<Json<KafkaTopic>, AppError> {
    Ok(Json(env.kafka()?.topic(&topic).await?))
}

pub async fn groups(env: Env) -> Result<Json<KafkaGroupList>, AppError> {
    Ok(Json(env.kafka()?.groups().await?))
}

pub async fn group(env: Env, Path(group): Path<String>) -> Result<Json<KafkaGroup>, AppError> {
    Ok(Json(env.kafka()?.group(&group).await?))
}

pub async fn reset_offsets(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(group): Path<String>,
    JsonBody(req): JsonBody<OffsetResetRequest>,
) -> Result<Json<OffsetResetOutcome>, AppError> {
    match crate::approvals::submit(
        &env,
        &state.store,
        &state.jobs,
        &identity,
        ActionRequest::KafkaReset { group, body: req },
    )
    .await?
    {
        Answer::Kafka(outcome) => Ok(Json(outcome)),
        Answer::Action(_) | Answer::Job(_) => {
            Err(AppError::Internal(anyhow::anyhow!("the offset reset answered as another action")))
        }
    }
}
