//! Kafka read first-hand: brokers and the API versions each answers, topics with leaders,
//! replicas and ISR, consumer groups with members, assignments and per-partition lag, and the
//! guarded offset reset. Partial failure is part of every shape: a row carries its own error in
//! words, and the rest of the answer stays right.

use serde::{Deserialize, Serialize};

/// Why a connection to a broker failed, so the page can say it in words and the runbook can
/// point at the right cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionErrorKind {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens there (connection refused).
    Refused,
    /// No answer within the configured timeout.
    Timeout,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// SASL authentication failed.
    Authentication,
    /// The peer answered something that is not Kafka.
    Protocol,
    Other,
}

/// A failed connection or request, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaProblem {
    pub kind: ConnectionErrorKind,
    pub message: String,
}

/// One API a broker answers, with its version range (`kafka-broker-api-versions.sh`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ApiVersionRange {
    pub api_key: i16,
    /// `Metadata`, `OffsetFetch`, …; `unknown(N)` for a key this build does not name.
    pub name: String,
    pub min: i16,
    pub max: i16,
}

/// One broker of the cluster, as the metadata names it, and what a direct probe of it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaBroker {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub controller: bool,
    /// Partitions (of every topic) this broker leads.
    pub leaders: u32,
    /// Whether a direct connection answered `ApiVersions`.
    pub reachable: bool,
    /// Round trip of the probe's `ApiVersions`, when it answered.
    pub latency_ms: Option<f64>,
    pub api_versions: Vec<ApiVersionRange>,
    /// Why the probe failed, when it did.
    pub error: Option<KafkaProblem>,
}

/// `GET /api/kafka/cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaCluster {
    /// The configured bootstrap servers.
    pub bootstrap: String,
    pub cluster_id: Option<String>,
    pub controller: Option<i32>,
    /// Brokers the cluster's metadata lists, each probed directly.
    pub brokers: Vec<KafkaBroker>,
    /// Configured bootstrap servers that are not among the metadata's brokers (or every one of
    /// them when the metadata could not be read), each probed directly.
    pub unlisted: Vec<BootstrapServer>,
    /// Broker ids that partitions name as replicas but the metadata does not list: down, or
    /// removed without reassigning their partitions.
    pub missing_brokers: Vec<i32>,
    /// Why the cluster's metadata could not be read; the probes above are still answered.
    pub metadata_error: Option<KafkaProblem>,
    /// Whether this Triage allows the offset reset (configuration, off by default).
    pub reset_enabled: bool,
    /// `kafka-broker-api-versions.sh --bootstrap-server …`
    pub command: String,
    pub took_ms: f64,
}

/// A configured bootstrap server and what a direct probe of it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct BootstrapServer {
    /// `host:port` as configured.
    pub address: String,
    pub reachable: bool,
    pub latency_ms: Option<f64>,
    pub error: Option<KafkaProblem>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaPartition {
    pub id: i32,
    /// `None` when the partition has no leader.
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Fewer in-sync replicas than replicas.
    pub under_replicated: bool,
    /// The partition's error in words (no leader, replica not available, …).
    pub error: Option<String>,
}

/// Partitions led by one broker (the balance the guide asks about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct BrokerLeaders {
    pub broker: i32,
    pub leaders: u32,
}

/// One row of `GET /api/kafka/topics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaTopicSummary {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub under_replicated: u32,
    pub leaderless: u32,
    /// The topic's own error (e.g. not authorized), in words.
    pub error: Option<String>,
}

/// `GET /api/kafka/topics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaTopicList {
    pub topics: Vec<KafkaTopicSummary>,
    /// Leaders per broker over every listed topic; a broker that leads nothing is listed with 0.
    pub leaders_per_broker: Vec<BrokerLeaders>,
    pub took_ms: f64,
}

/// `GET /api/kafka/topics/{topic}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaTopic {
    pub name: String,
    pub partitions: Vec<KafkaPartition>,
    pub leaders_per_broker: Vec<BrokerLeaders>,
    /// Log-end offsets (high watermarks) per partition, `None` with the row's error when the
    /// partition's leader does not answer.
    pub end_offsets: Vec<PartitionOffset>,
    /// `kafka-topics.sh --describe --topic …`
    pub command: String,
    pub took_ms: f64,
}

/// A partition's offset, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PartitionOffset {
    pub partition: i32,
    pub offset: Option<i64>,
    pub error: Option<String>,
}

/// One row of `GET /api/kafka/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaGroupSummary {
    pub id: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Dead`, or what the
    /// broker said.
    pub state: String,
    pub members: u32,
    /// Sum of every partition's lag where it is known; `None` when none is.
    pub total_lag: Option<i64>,
    /// Partitions whose lag is unknown (no committed offset, no end offset, or negative).
    pub partitions_unknown: u32,
    /// Why the group's offsets could not be read, when they could not.
    pub error: Option<String>,
}

/// `GET /api/kafka/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaGroupList {
    pub groups: Vec<KafkaGroupSummary>,
    /// More groups exist than the configured limit; the first `groups.len()` by name are listed.
    pub truncated: bool,
    pub took_ms: f64,
}

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaMember {
    pub member_id: String,
    /// Empty when the broker does not report it.
    pub client_id: String,
    pub host: String,
    /// `topic/partition` pairs; `None` when the broker did not report the assignment (or it
    /// could not be decoded, see `assignment_error`).
    pub assignment: Option<Vec<TopicPartitionRef>>,
    pub assignment_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TopicPartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// What is known about one partition's lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LagState {
    /// Committed and end offsets both known; `lag` is their difference.
    Known,
    /// The group has committed nothing for this partition.
    NoCommit,
    /// The log-end offset could not be read (see the row's error).
    NoEndOffset,
    /// The committed offset is past the log end the broker reports: never shown as a number.
    Negative,
}

/// One partition of a group's topic (`kafka-consumer-groups.sh --describe`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct GroupPartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub end_offset: Option<i64>,
    /// Only when `state` is `known`.
    pub lag: Option<i64>,
    pub state: LagState,
    /// The member assigned this partition, when the broker reports assignments.
    pub owner: Option<String>,
    pub error: Option<String>,
}

/// `GET /api/kafka/groups/{group}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KafkaGroup {
    pub id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignor (`range`, `cooperative-sticky`, …).
    pub protocol: String,
    pub members: Vec<KafkaMember>,
    /// Every partition of every topic the group has committed to or is assigned.
    pub partitions: Vec<GroupPartitionLag>,
    pub total_lag: Option<i64>,
    /// The group's own error (unknown group, coordinator not available), in words.
    pub error: Option<String>,
    /// `kafka-consumer-groups.sh --describe --group …`
    pub command: String,
    pub took_ms: f64,
}

/// Where an offset reset moves the group's committed offsets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "to", rename_all = "kebab-case")]
pub enum ResetTarget {
    /// The log start of each partition (replay everything retained).
    Earliest,
    /// The log end (skip everything not yet consumed).
    Latest,
    /// The first offset at or after this time (RFC 3339).
    Timestamp { at: String },
    /// Move each committed offset by `by` (negative replays, positive skips).
    Shift { by: i64 },
}

/// `POST /api/kafka/groups/{group}/reset-offsets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"topic": "events", "target": {"to": "shift", "by": -1000}, "dry_run": true})))]
pub struct OffsetResetRequest {
    pub topic: String,
    pub target: ResetTarget,
    #[serde(default)]
    pub dry_run: bool,
    /// The group's name, typed by the user; required for a real reset.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One partition of an offset reset's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OffsetMove {
    pub partition: i32,
    /// `None` when the group had committed nothing for the partition.
    pub from: Option<i64>,
    pub to: i64,
    /// Messages consumed again (`from - to` when moving back).
    pub replayed: i64,
    /// Messages never consumed (`to - from` when moving forward).
    pub skipped: i64,
}

/// The answer to an offset reset, dry run or real.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OffsetResetOutcome {
    pub dry_run: bool,
    pub summary: String,
    pub plan: Vec<OffsetMove>,
    /// `kafka-consumer-groups.sh --reset-offsets … --dry-run` (or `--execute` for a real run).
    pub command: String,
    pub audit_id: Option<i64>,
    /// In an `approval` environment a real run waits here for a second operator.
    #[serde(default)]
    pub approval: Option<crate::env::Approval>,
}
