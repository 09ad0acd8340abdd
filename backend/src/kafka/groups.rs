//! Consumer groups: the list with state, members and total lag, and one group's members,
//! assignments and per-partition committed offset, log end and lag.
//!
//! Committed offsets are read as the group (a handle with that `group.id` that never
//! subscribes, so it never joins). Log ends are read once per answer, from each partition's
//! leader. A partition whose numbers are not both known carries a state saying which is missing;
//! a committed offset past the log end is flagged, never shown as a negative lag.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::StreamExt;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;
use rdkafka::topic_partition_list::Offset;
use triage_shared::commands;
use triage_shared::kafka::{
    GroupPartitionLag, KafkaGroup, KafkaGroupList, KafkaGroupSummary, KafkaMember, LagState,
    TopicPartitionRef,
};
use triage_shared::{ApiError, ErrorKind};

use super::views::LogEnd;
use super::{Kafka, Metadata, TopicMeta, check_name};

/// A group as DescribeGroups reported it, copied out of librdkafka.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<KafkaMember>,
}

/// Committed offsets of one group: `(topic, partition) → offset`, or why none could be read.
pub type Committed = Result<BTreeMap<(String, i32), i64>, String>;

impl Kafka {
    /// Every group's description (ListGroups then DescribeGroups on every broker), or one's.
    pub async fn describe_groups(&self, group: Option<String>) -> Result<Vec<GroupDescription>, ApiError> {
        let handle = self.shared.clone();
        let timeout = self.timeout();
        self.blocking(move || {
            let list = handle
                .fetch_group_list(group.as_deref(), timeout)
                .map_err(|e| super::api_error(&e, handle.context(), "listing consumer groups"))?;
            Ok(list
                .groups()
                .iter()
                .map(|g| GroupDescription {
                    id: g.name().to_owned(),
                    state: g.state().to_owned(),
                    protocol_type: g.protocol_type().to_owned(),
                    protocol: g.protocol().to_owned(),
                    members: g
                        .members()
                        .iter()
                        .map(|m| {
                            let (assignment, assignment_error) = decode_assignment(m.assignment());
                            KafkaMember {
                                member_id: m.id().to_owned(),
                                client_id: m.client_id().to_owned(),
                                host: m.client_host().to_owned(),
                                assignment,
                                assignment_error,
                            }
                        })
                        .collect(),
                })
                .collect())
        })
        .await
    }

    /// The committed offsets of `group` on every partition of `topics`.
    pub async fn committed(&self, group: &str, topics: &[TopicMeta]) -> Committed {
        let wanted: Vec<(String, i32)> =
            topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.id))).collect();
        if wanted.is_empty() {
            return Ok(BTreeMap::new());
        }
        let handle = self.group_handle(group).map_err(|e| e.message)?;
        let timeout = self.timeout();
        let group = group.to_owned();
        self.blocking(move || {
            let mut tpl = TopicPartitionList::with_capacity(wanted.len());
            for (t, p) in &wanted {
                tpl.add_partition(t, *p);
            }
            let got = handle.committed_offsets(tpl, timeout).map_err(|e| {
                super::api_error(
                    &e,
                    handle.context(),
                    &format!("reading the committed offsets of group {group:?}"),
                )
            })?;
            Ok(got
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
                    _ => None,
                })
                .collect())
        })
        .await
        .map_err(|e| e.message)
    }

    /// `GET /api/kafka/groups`.
    pub async fn groups(&self) -> Result<KafkaGroupList, ApiError> {
        let started = Instant::now();
        let (md, mut groups) = tokio::try_join!(self.metadata(None), self.describe_groups(None))?;
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        let truncated = groups.len() > self.settings.max_groups;
        groups.truncate(self.settings.max_groups);
        let topics = self.bounded_topics(&md)?;
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        // Committed offsets first, log ends after (see `group`).
        let mut batched = self.committed_many(&md, &ids, &topics).await.unwrap_or_default();
        // Groups the batched read did not answer for are read one by one through librdkafka.
        let groups: Vec<(GroupDescription, Option<Committed>)> = groups
            .into_iter()
            .map(|g| {
                let c = batched.remove(&g.id);
                (g, c)
            })
            .collect();
        let committed = futures::stream::iter(groups)
            .map(|(g, committed)| {
                let topics = &topics;
                async move {
                    match committed {
                        Some(c) => (g, c),
                        None => {
                            let c = self.committed(&g.id, topics).await;
                            (g, c)
                        }
                    }
                }
            })
            .buffered(self.settings.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let ends = self.log_offsets(&md, &topics, LogEnd::End).await;
        let rows = committed.into_iter().map(|(g, c)| summary(&g, c, &ends)).collect();
        Ok(KafkaGroupList { groups: rows, truncated, took_ms: started.elapsed().as_secs_f64() * 1000.0 })
    }

    /// `GET /api/kafka/groups/{group}`.
    pub async fn group(&self, id: &str) -> Result<KafkaGroup, ApiError> {
        check_name("group", id)?;
        let started = Instant::now();
        let (md, described) =
            tokio::try_join!(self.metadata(None), self.describe_groups(Some(id.to_owned())))?;
        let description = described.into_iter().find(|g| g.id == id);
        let topics = self.bounded_topics(&md)?;
        // Committed offsets first, log ends after, as kafka-consumer-groups.sh reads them: a
        // commit never passes the log end it was made at, so read in this order a live group's
        // lag is never spuriously negative (read the other way round, a group that keeps up
        // commits past the ends read a moment before, and every row would be flagged).
        let committed = self.committed(id, &topics).await;
        let ends = self.log_offsets(&md, &topics, LogEnd::End).await;
        let (committed, error) = match committed {
            Ok(c) => (c, None),
            Err(e) => (BTreeMap::new(), Some(e)),
        };
        let description = match description {
            Some(d) if !(d.state == "Dead" && d.members.is_empty() && committed.is_empty()) => d,
            _ if error.is_none() => {
                return Err(ApiError::new(ErrorKind::NotFound, format!("no consumer group named {id:?}")));
            }
            _ => GroupDescription {
                id: id.to_owned(),
                state: "Unknown".to_owned(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
        };
        let partitions = partition_rows(&description, &committed, &ends, &md);
        let total_lag = total(&partitions);
        Ok(KafkaGroup {
            id: description.id.clone(),
            state: description.state.clone(),
            protocol_type: description.protocol_type.clone(),
            protocol: description.protocol.clone(),
            members: description.members,
            partitions,
            total_lag,
            error,
            command: commands::kafka_groups_describe(&self.settings.bootstrap, Some(id)),
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// The user topics, refused when they hold more partitions than one answer reads.
    fn bounded_topics(&self, md: &Metadata) -> Result<Vec<TopicMeta>, ApiError> {
        let topics: Vec<TopicMeta> = md.user_topics().cloned().collect();
        let partitions: usize = topics.iter().map(|t| t.partitions.len()).sum();
        if partitions > self.settings.max_partitions {
            return Err(ApiError::new(
                ErrorKind::TooLarge,
                format!(
                    "the cluster has {partitions} partitions, more than kafka.max_partitions ({}) read for one answer",
                    self.settings.max_partitions
                ),
            ));
        }
        Ok(topics)
    }
}

/// A member's assignment from its raw bytes: `None` with a reason when the broker did not
/// report one or it does not decode.
pub fn decode_assignment(raw: Option<&[u8]>) -> (Option<Vec<TopicPartitionRef>>, Option<String>) {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return (None, Some("assignment not reported by the broker".to_owned()));
    };
    if raw.len() < 2 {
        return (None, Some("the assignment is too short to decode".to_owned()));
    }
    let version = i16::from_be_bytes([raw[0], raw[1]]);
    let mut buf = bytes::Bytes::copy_from_slice(&raw[2..]);
    // Versions above the newest this build knows keep the newest's layout (Kafka's rule:
    // fields are only ever added at the end).
    let version = version.clamp(0, 3);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(a) => {
            let mut out: Vec<TopicPartitionRef> = a
                .assigned_partitions
                .iter()
                .flat_map(|tp| {
                    tp.partitions
                        .iter()
                        .map(|p| TopicPartitionRef { topic: tp.topic.to_string(), partition: *p })
                })
                .collect();
            out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            (Some(out), None)
        }
        Err(e) => (None, Some(format!("the assignment does not decode as the consumer protocol: {e}"))),
    }
}

/// One partition's lag from what is known of it.
pub fn lag_of(
    committed: Option<i64>,
    end: Option<&Result<i64, String>>,
) -> (Option<i64>, LagState, Option<String>) {
    match (committed, end) {
        (_, Some(Err(e))) => (None, LagState::NoEndOffset, Some(e.clone())),
        (_, None) => (None, LagState::NoEndOffset, Some("log end not read".to_owned())),
        (None, Some(Ok(_))) => (None, LagState::NoCommit, None),
        (Some(c), Some(Ok(e))) if c > *e => (
            None,
            LagState::Negative,
            Some(format!("committed offset {c} is past the log end {e} the broker reports")),
        ),
        (Some(c), Some(Ok(e))) => (Some(e - c), LagState::Known, None),
    }
}

/// Rows for every partition the group is assigned or has committed to.
fn partition_rows(
    g: &GroupDescription,
    committed: &BTreeMap<(String, i32), i64>,
    ends: &BTreeMap<(String, i32), Result<i64, String>>,
    md: &Metadata,
) -> Vec<GroupPartitionLag> {
    let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in &g.members {
        for tp in m.assignment.iter().flatten() {
            owners.insert((tp.topic.clone(), tp.partition), m.member_id.clone());
        }
    }
    let mut keys: BTreeSet<(String, i32)> = committed.keys().cloned().collect();
    keys.extend(owners.keys().cloned());
    // A topic the group uses: every one of its partitions is shown, so a partition it never
    // committed to is seen as such rather than missing.
    let topics: BTreeSet<String> = keys.iter().map(|(t, _)| t.clone()).collect();
    for t in md.topics.iter().filter(|t| topics.contains(&t.name)) {
        keys.extend(t.partitions.iter().map(|p| (t.name.clone(), p.id)));
    }
    keys.into_iter()
        .map(|key| {
            let c = committed.get(&key).copied();
            let end = ends.get(&key);
            let (lag, state, error) = lag_of(c, end);
            GroupPartitionLag {
                owner: owners.get(&key).cloned(),
                end_offset: end.and_then(|e| e.as_ref().ok().copied()),
                topic: key.0,
                partition: key.1,
                committed: c,
                lag,
                state,
                error,
            }
        })
        .collect()
}

fn total(rows: &[GroupPartitionLag]) -> Option<i64> {
    let known: Vec<i64> = rows.iter().filter_map(|r| r.lag).collect();
    (!known.is_empty()).then(|| known.iter().sum())
}

fn summary(
    g: &GroupDescription,
    committed: Committed,
    ends: &BTreeMap<(String, i32), Result<i64, String>>,
) -> KafkaGroupSummary {
    match committed {
        Ok(c) => {
            let md = Metadata { brokers: Vec::new(), topics: Vec::new() };
            let rows = partition_rows(g, &c, ends, &md);
            KafkaGroupSummary {
                id: g.id.clone(),
                state: g.state.clone(),
                members: g.members.len() as u32,
                total_lag: total(&rows),
                partitions_unknown: rows.iter().filter(|r| r.state != LagState::Known).count() as u32,
                error: None,
            }
        }
        Err(e) => KafkaGroupSummary {
            id: g.id.clone(),
            state: g.state.clone(),
            members: g.members.len() as u32,
            total_lag: None,
            partitions_unknown: 0,
            error: Some(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn lag_states_never_show_a_negative_number() {
        assert_eq!(lag_of(Some(5), Some(&Ok(12))), (Some(7), LagState::Known, None));
        assert_eq!(lag_of(None, Some(&Ok(12))).1, LagState::NoCommit);
        let (lag, state, error) = lag_of(Some(100), Some(&Ok(1)));
        assert_eq!((lag, state), (None, LagState::Negative));
        assert!(error.is_some_and(|e| e.contains("past the log end")));
        assert_eq!(lag_of(Some(1), Some(&Err("no leader".into()))).1, LagState::NoEndOffset);
    }

    #[test]
    fn assignments_decode_or_say_why() {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("events")))
                .with_partitions(vec![3, 1]),
        ]);
        let mut raw = bytes::BytesMut::new();
        raw.extend_from_slice(&1i16.to_be_bytes());
        a.encode(&mut raw, 1).expect("encodes");
        let (got, err) = decode_assignment(Some(&raw));
        assert_eq!(err, None);
        let got = got.expect("decoded");
        assert_eq!(got.iter().map(|t| t.partition).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(decode_assignment(Some(&[])).1.as_deref(), Some("assignment not reported by the broker"));
        assert!(decode_assignment(Some(&[0, 0, 0xff])).1.is_some());
    }
}
