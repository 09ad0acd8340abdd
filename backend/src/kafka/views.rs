//! Brokers and topics: the cluster's metadata with every broker probed, the partitions of each
//! topic with their leaders, replicas and ISR, and log offsets read from each partition's
//! leader. A partition without a leader, or whose leader does not answer, carries its own error
//! and the rest of the answer stays right.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::future::join_all;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;
use rdkafka::topic_partition_list::Offset;
use triage_shared::commands;
use triage_shared::kafka::{
    BootstrapServer, BrokerLeaders, KafkaBroker, KafkaCluster, KafkaPartition, KafkaTopic, KafkaTopicList,
    KafkaTopicSummary, PartitionOffset,
};
use triage_shared::{ApiError, ErrorKind};

use super::probe::probe;
use super::{Kafka, Metadata, TopicMeta, check_name};

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Which end of a partition's log to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    Start,
    End,
    /// The first offset at or after this time (milliseconds since the epoch).
    At(i64),
}

impl Kafka {
    /// `GET /api/kafka/cluster`.
    pub async fn cluster(&self) -> Result<KafkaCluster, ApiError> {
        let started = Instant::now();
        let timeout = self.timeout();
        let bootstrap = self.settings.bootstrap.clone();
        let (metadata, metadata_error) = match self.metadata_or_problem().await {
            Ok(md) => (Some(md), None),
            Err(problem) => (None, Some(problem)),
        };
        let listed: Vec<(i32, String, i32)> =
            metadata.as_ref().map(|m| m.brokers.clone()).unwrap_or_default();
        let unlisted: Vec<(String, String, i32)> = self
            .settings
            .servers()
            .into_iter()
            .filter_map(|s| {
                let (host, port) = s.rsplit_once(':')?;
                let port: i32 = port.parse().ok()?;
                let in_metadata = listed.iter().any(|(_, h, p)| h == host && *p == port);
                (!in_metadata).then(|| (s.clone(), host.to_owned(), port))
            })
            .collect();
        let security = self.probe_security();
        let listed_probes =
            join_all(listed.iter().map(|(_, host, port)| probe(host, *port, timeout, security)));
        let unlisted_probes =
            join_all(unlisted.iter().map(|(_, host, port)| probe(host, *port, timeout, security)));
        let (listed_probes, unlisted_probes) = tokio::join!(listed_probes, unlisted_probes);

        // Cluster id, controller and racks come from the first probe whose metadata answered.
        let first = listed_probes
            .iter()
            .chain(unlisted_probes.iter())
            .find(|p| p.cluster_id.is_some() || p.controller.is_some());
        let controller = first.and_then(|p| p.controller);
        let mut cluster_id = first.and_then(|p| p.cluster_id.clone());
        if cluster_id.is_none() && metadata.is_some() {
            // The probe reads no metadata over SCRAM (it has no SCRAM client); librdkafka knows
            // the cluster id from its own metadata calls.
            let handle = self.shared.clone();
            cluster_id = self
                .blocking(move || {
                    use rdkafka::consumer::Consumer as _;
                    Ok(handle.client().fetch_cluster_id(timeout))
                })
                .await
                .ok()
                .flatten();
        }
        let racks: BTreeMap<i32, Option<String>> =
            first.map(|p| p.racks.iter().cloned().collect()).unwrap_or_default();
        let leaders = metadata.as_ref().map(leader_counts).unwrap_or_default();
        let brokers = listed
            .iter()
            .zip(listed_probes)
            .map(|((id, host, port), p)| KafkaBroker {
                id: *id,
                host: host.clone(),
                port: *port,
                rack: racks.get(id).cloned().flatten(),
                controller: controller == Some(*id),
                leaders: leaders.get(id).copied().unwrap_or(0),
                reachable: p.error.is_none(),
                latency_ms: p.latency_ms,
                api_versions: p.api_versions,
                error: p.error,
            })
            .collect();
        let unlisted = unlisted
            .into_iter()
            .zip(unlisted_probes)
            .map(|((address, _, _), p)| BootstrapServer {
                address,
                reachable: p.error.is_none(),
                latency_ms: p.latency_ms,
                error: p.error,
            })
            .collect();
        let missing_brokers = metadata.as_ref().map(missing_brokers).unwrap_or_default();
        Ok(KafkaCluster {
            command: commands::kafka_broker_api_versions(&bootstrap),
            bootstrap,
            cluster_id,
            controller,
            brokers,
            unlisted,
            missing_brokers,
            metadata_error,
            reset_enabled: self.settings.allow_offset_reset,
            took_ms: ms(started),
        })
    }

    /// `GET /api/kafka/topics`.
    pub async fn topics(&self) -> Result<KafkaTopicList, ApiError> {
        let started = Instant::now();
        let md = self.metadata(None).await?;
        let mut topics: Vec<KafkaTopicSummary> = md
            .user_topics()
            .map(|t| KafkaTopicSummary {
                name: t.name.clone(),
                partitions: t.partitions.len() as u32,
                replication_factor: t.partitions.iter().map(|p| p.replicas.len() as u32).max().unwrap_or(0),
                under_replicated: t.partitions.iter().filter(|p| p.isr.len() < p.replicas.len()).count()
                    as u32,
                leaderless: t.partitions.iter().filter(|p| !has_leader(&md, p.leader)).count() as u32,
                error: t.error.clone(),
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(KafkaTopicList { topics, leaders_per_broker: leaders_per_broker(&md), took_ms: ms(started) })
    }

    /// `GET /api/kafka/topics/{topic}`.
    pub async fn topic(&self, name: &str) -> Result<KafkaTopic, ApiError> {
        check_name("topic", name)?;
        let started = Instant::now();
        let md = self.metadata(Some(name.to_owned())).await?;
        let topic = find_topic(&md, name)?.clone();
        let partitions: Vec<KafkaPartition> = topic
            .partitions
            .iter()
            .map(|p| {
                let leader = has_leader(&md, p.leader).then_some(p.leader);
                let error = match (&p.error, leader) {
                    (Some(e), _) => Some(e.clone()),
                    (None, None) if p.leader >= 0 => {
                        Some(format!("leader {} is not among the cluster's brokers (down?)", p.leader))
                    }
                    (None, None) => Some("no leader".to_owned()),
                    (None, Some(_)) => None,
                };
                KafkaPartition {
                    id: p.id,
                    leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    under_replicated: p.isr.len() < p.replicas.len(),
                    error,
                }
            })
            .collect();
        let ends = self.log_offsets(&md, std::slice::from_ref(&topic), LogEnd::End).await;
        let end_offsets = topic
            .partitions
            .iter()
            .map(|p| match ends.get(&(topic.name.clone(), p.id)) {
                Some(Ok(o)) => PartitionOffset { partition: p.id, offset: Some(*o), error: None },
                Some(Err(e)) => PartitionOffset { partition: p.id, offset: None, error: Some(e.clone()) },
                None => PartitionOffset { partition: p.id, offset: None, error: Some("not read".to_owned()) },
            })
            .collect();
        let mut leaders_md = md.clone();
        leaders_md.topics.retain(|t| t.name == name);
        Ok(KafkaTopic {
            name: topic.name.clone(),
            partitions,
            leaders_per_broker: leaders_per_broker(&leaders_md),
            end_offsets,
            command: commands::kafka_topics_describe(&self.settings.bootstrap, Some(name)),
            took_ms: ms(started),
        })
    }

    /// Log offsets of every partition of `topics`, asked of each partition's leader separately
    /// so that one leader that does not answer costs only its own partitions. A partition
    /// without a leader is not asked (librdkafka would wait for one until the timeout).
    pub async fn log_offsets(
        &self,
        md: &Metadata,
        topics: &[TopicMeta],
        which: LogEnd,
    ) -> BTreeMap<(String, i32), Result<i64, String>> {
        let mut out = BTreeMap::new();
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        for t in topics {
            for p in &t.partitions {
                if has_leader(md, p.leader) {
                    by_leader.entry(p.leader).or_default().push((t.name.clone(), p.id));
                } else {
                    out.insert(
                        (t.name.clone(), p.id),
                        Err("no leader: its offsets cannot be read".to_owned()),
                    );
                }
            }
        }
        let asks = by_leader.into_iter().map(|(leader, parts)| {
            let handle = self.shared.clone();
            let timeout = self.timeout();
            async move {
                let wanted = parts.clone();
                let answer = self
                    .blocking(move || {
                        let mut tpl = TopicPartitionList::with_capacity(wanted.len());
                        for (t, p) in &wanted {
                            let offset = match which {
                                LogEnd::Start => Offset::Beginning,
                                LogEnd::End => Offset::End,
                                LogEnd::At(ms) => Offset::Offset(ms),
                            };
                            tpl.add_partition_offset(t, *p, offset)
                                .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
                        }
                        let got = handle.offsets_for_times(tpl, timeout).map_err(|e| {
                            super::api_error(
                                &e,
                                handle.context(),
                                &format!("reading offsets from broker {leader}"),
                            )
                        })?;
                        Ok(got
                            .elements()
                            .iter()
                            .map(|e| {
                                let value = match (e.error(), e.offset()) {
                                    (Err(err), _) => Err(err.to_string()),
                                    (Ok(()), Offset::Offset(o)) => Ok(o),
                                    // No message at or after the time: the log end, as Kafka's
                                    // own reset tool takes it.
                                    (Ok(()), Offset::End) => Ok(-1),
                                    (Ok(()), other) => Err(format!("the broker answered {other:?}")),
                                };
                                ((e.topic().to_owned(), e.partition()), value)
                            })
                            .collect::<Vec<_>>())
                    })
                    .await;
                (parts, answer)
            }
        });
        for (parts, answer) in join_all(asks).await {
            match answer {
                Ok(values) => out.extend(values),
                Err(e) => {
                    for key in parts {
                        out.insert(key, Err(e.message.clone()));
                    }
                }
            }
        }
        out
    }
}

pub fn find_topic<'a>(md: &'a Metadata, name: &str) -> Result<&'a TopicMeta, ApiError> {
    match md.topics.iter().find(|t| t.name == name) {
        Some(t) if t.partitions.is_empty() && t.error.is_some() => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no topic named {name:?}: {}", t.error.clone().unwrap_or_default()),
        )),
        Some(t) => Ok(t),
        None => Err(ApiError::new(ErrorKind::NotFound, format!("no topic named {name:?}"))),
    }
}

/// Whether `leader` is a broker the metadata lists (a leader id of a broker that is gone is no
/// leader at all for a client).
pub fn has_leader(md: &Metadata, leader: i32) -> bool {
    leader >= 0 && md.broker_listed(leader)
}

fn leader_counts(md: &Metadata) -> BTreeMap<i32, u32> {
    let mut counts = BTreeMap::new();
    for t in md.user_topics() {
        for p in &t.partitions {
            if has_leader(md, p.leader) {
                *counts.entry(p.leader).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Leaders per listed broker, 0 included, by broker id.
fn leaders_per_broker(md: &Metadata) -> Vec<BrokerLeaders> {
    let counts = leader_counts(md);
    let mut ids: BTreeSet<i32> = md.brokers.iter().map(|(id, _, _)| *id).collect();
    ids.extend(counts.keys());
    ids.into_iter()
        .map(|broker| BrokerLeaders { broker, leaders: counts.get(&broker).copied().unwrap_or(0) })
        .collect()
}

fn missing_brokers(md: &Metadata) -> Vec<i32> {
    let mut missing = BTreeSet::new();
    for t in &md.topics {
        for p in &t.partitions {
            for r in &p.replicas {
                if !md.broker_listed(*r) {
                    missing.insert(*r);
                }
            }
        }
    }
    missing.into_iter().collect()
}
