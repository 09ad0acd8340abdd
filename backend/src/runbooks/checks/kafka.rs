//! The Kafka checks, read from Kafka itself through Triage's own client (`crate::kafka`): a
//! consumer group's lag per partition, a topic's partitions and leaders, and every broker's
//! reachability. Each shows the `kafka-*.sh` command that reads the same thing.

use std::collections::BTreeMap;

use super::{CheckContext, Found, NotRun, bad_template};
use crate::runbooks::template::{self, Values};

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

pub(super) async fn group_lag(
    ctx: &CheckContext,
    group: &str,
    topic: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let group = template::kafka_name(group, values, "a consumer group id").map_err(bad_template)?;
    let topic =
        topic.map(|t| template::kafka_name(t, values, "a topic name")).transpose().map_err(bad_template)?;
    let g = ctx.kafka()?.group(&group).await?;
    let rows: Vec<_> = g.partitions.iter().filter(|p| topic.as_ref().is_none_or(|t| &p.topic == t)).collect();
    let known: Vec<i64> = rows.iter().filter_map(|r| r.lag).collect();
    let mut v = BTreeMap::new();
    v.insert("total_lag".to_owned(), known.iter().sum::<i64>() as f64);
    v.insert("max_partition_lag".to_owned(), known.iter().copied().max().unwrap_or(0) as f64);
    v.insert("partitions".to_owned(), rows.len() as f64);
    v.insert("partitions_unknown".to_owned(), (rows.len() - known.len()) as f64);
    v.insert("members".to_owned(), g.members.len() as f64);
    let unowned = if g.members.is_empty() { 0 } else { rows.iter().filter(|r| r.owner.is_none()).count() };
    v.insert("unowned_partitions".to_owned(), unowned as f64);
    let table = rows
        .iter()
        .map(|r| {
            let lag = match r.lag {
                Some(l) => l.to_string(),
                None => r.error.clone().unwrap_or_else(|| format!("{:?}", r.state).to_lowercase()),
            };
            vec![
                format!("{}/{}", r.topic, r.partition),
                opt(r.committed),
                opt(r.end_offset),
                lag,
                r.owner.clone().unwrap_or_else(|| "—".to_owned()),
            ]
        })
        .collect();
    let mut found =
        Found::table(v, &["partition", "committed", "log end", "lag", "owner"], table, g.command.clone());
    found.note = g.error.map(|e| format!("{} {e}", g.state));
    if rows.is_empty() {
        found.note = Some(match &topic {
            Some(t) => format!("the group has no offsets on topic {t}"),
            None => "the group has no committed offsets and no assignment".to_owned(),
        });
    }
    Ok(found)
}

pub(super) async fn topic(ctx: &CheckContext, topic: &str, values: &Values) -> Result<Found, NotRun> {
    let topic = template::kafka_name(topic, values, "a topic name").map_err(bad_template)?;
    let t = ctx.kafka()?.topic(&topic).await?;
    let leaders: Vec<u32> = t.leaders_per_broker.iter().map(|b| b.leaders).collect();
    let max = leaders.iter().copied().max().unwrap_or(0);
    let min = leaders.iter().copied().min().unwrap_or(0);
    let mean =
        if leaders.is_empty() { 0.0 } else { f64::from(leaders.iter().sum::<u32>()) / leaders.len() as f64 };
    let mut v = BTreeMap::new();
    v.insert("partitions".to_owned(), t.partitions.len() as f64);
    v.insert("leaderless".to_owned(), t.partitions.iter().filter(|p| p.leader.is_none()).count() as f64);
    v.insert(
        "under_replicated".to_owned(),
        t.partitions.iter().filter(|p| p.under_replicated).count() as f64,
    );
    v.insert("max_leaders_per_broker".to_owned(), f64::from(max));
    v.insert("min_leaders_per_broker".to_owned(), f64::from(min));
    v.insert("leader_skew".to_owned(), if mean > 0.0 { f64::from(max) / mean } else { 0.0 });
    let mut rows: Vec<Vec<String>> = t
        .leaders_per_broker
        .iter()
        .map(|b| vec![format!("broker {}", b.broker), format!("leads {} partitions", b.leaders)])
        .collect();
    for p in t.partitions.iter().filter(|p| p.leader.is_none() || p.under_replicated) {
        let what = match (&p.leader, &p.error) {
            (None, Some(e)) => format!("no leader: {e}"),
            (None, None) => "no leader".to_owned(),
            (Some(_), _) => format!("under-replicated: ISR {:?} of replicas {:?}", p.isr, p.replicas),
        };
        rows.push(vec![format!("partition {}", p.id), what]);
    }
    Ok(Found::table(v, &["what", "state"], rows, t.command))
}

pub(super) async fn brokers(ctx: &CheckContext) -> Result<Found, NotRun> {
    let c = ctx.kafka()?.cluster().await?;
    let unreachable = c.brokers.iter().filter(|b| !b.reachable).count()
        + c.unlisted.iter().filter(|s| !s.reachable).count();
    let mut v = BTreeMap::new();
    v.insert("brokers".to_owned(), c.brokers.len() as f64);
    v.insert("unreachable".to_owned(), unreachable as f64);
    v.insert("missing".to_owned(), c.missing_brokers.len() as f64);
    v.insert("metadata_error".to_owned(), if c.metadata_error.is_some() { 1.0 } else { 0.0 });
    let state = |reachable: bool,
                 latency: Option<f64>,
                 error: Option<&triage_shared::kafka::KafkaProblem>| match (reachable, error)
    {
        (_, Some(e)) => {
            format!("unreachable ({}): {}", format!("{:?}", e.kind).to_lowercase(), e.message)
        }
        (true, None) => {
            format!("reachable{}", latency.map(|l| format!(", {l:.1} ms")).unwrap_or_default())
        }
        (false, None) => "unreachable".to_owned(),
    };
    let mut rows: Vec<Vec<String>> = c
        .brokers
        .iter()
        .map(|b| {
            vec![
                format!("broker {}", b.id),
                format!("{}:{}", b.host, b.port),
                state(b.reachable, b.latency_ms, b.error.as_ref()),
            ]
        })
        .collect();
    for s in &c.unlisted {
        rows.push(vec![
            "bootstrap server not in the metadata".to_owned(),
            s.address.clone(),
            state(s.reachable, s.latency_ms, s.error.as_ref()),
        ]);
    }
    for id in &c.missing_brokers {
        rows.push(vec![
            format!("broker {id}"),
            "—".to_owned(),
            "named as a replica but not listed by the metadata: down or removed".to_owned(),
        ]);
    }
    let mut found = Found::table(v, &["broker", "address", "state"], rows, c.command);
    found.note = c.metadata_error.map(|e| format!("the metadata could not be read: {}", e.message));
    Ok(found)
}
