//! Typed calls to `/api/kafka/*`: the cluster's brokers, topics and consumer groups, and the
//! guarded offset reset.

use triage_shared::ApiError;
use triage_shared::kafka::{
    KafkaCluster, KafkaGroup, KafkaGroupList, KafkaTopic, KafkaTopicList, OffsetResetOutcome,
    OffsetResetRequest,
};

use super::{get_json, post_json};
use crate::format::url::encode;

pub async fn cluster() -> Result<KafkaCluster, ApiError> {
    get_json("/api/kafka/cluster").await
}

pub async fn topics() -> Result<KafkaTopicList, ApiError> {
    get_json("/api/kafka/topics").await
}

pub async fn topic(name: &str) -> Result<KafkaTopic, ApiError> {
    get_json(&format!("/api/kafka/topics/{}", encode(name))).await
}

pub async fn groups() -> Result<KafkaGroupList, ApiError> {
    get_json("/api/kafka/groups").await
}

pub async fn group(id: &str) -> Result<KafkaGroup, ApiError> {
    get_json(&format!("/api/kafka/groups/{}", encode(id))).await
}

/// A dry run or, with `confirm` set to the group's name, the real reset (operators only).
pub async fn reset_offsets(group: &str, req: &OffsetResetRequest) -> Result<OffsetResetOutcome, ApiError> {
    post_json(&format!("/api/kafka/groups/{}/reset-offsets", encode(group)), req).await
}
