//! Many consumer groups: with 500 idle groups beside its own two, the sandbox's groups are all
//! listed by Triage, each with its lag, as confluent-kafka's AdminClient describes them
//! (`oracle.py describe-all`, the bench's baseline); and `kafka.max_groups` cuts the list by name
//! and says so. Not timed: `cargo xtask bench kafka` measures it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, ensure};
use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::kafka::KafkaGroupList;
use triage_tests::tansu::oracle;
use triage_tests::{TestApp, TestSandbox};

const EXTRA_GROUPS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_idle_groups_are_all_listed_with_their_lag_as_confluent_kafka_sees_them() -> Result<()> {
    let sb = TestSandbox::start_with_groups(Incident::Healthy, EXTRA_GROUPS).await?;
    let bootstrap = sb.sandbox.kafka_bootstrap.clone();
    let settings: Settings = serde_json::from_value(json!({"kafka": {"bootstrap": bootstrap}}))?;
    let app = TestApp::start_with(settings).await?;

    let fetches = sb.sandbox.kafka_requests.get("OffsetFetch");
    let list: KafkaGroupList = app.get_json("/api/kafka/groups").await?;
    // Batched: a few OffsetFetch requests per coordinator (50 groups each), not one per group.
    let used = sb.sandbox.kafka_requests.get("OffsetFetch") - fetches;
    ensure!(used <= 15, "{used} OffsetFetch requests for {} groups", EXTRA_GROUPS + 2);
    ensure!(!list.truncated, "truncated at {} groups", list.groups.len());
    ensure!(list.groups.len() == EXTRA_GROUPS + 2, "Triage listed {} groups", list.groups.len());
    for g in &list.groups {
        ensure!(g.error.is_none(), "group {}: {:?}", g.id, g.error);
        // The live group's offsets move while the list is read, so only the idle ones' lag is fixed.
        if g.members == 0 {
            ensure!(g.total_lag.is_some() && g.partitions_unknown == 0, "group {}: {g:?}", g.id);
        }
    }
    let ids: Vec<&str> = list.groups.iter().map(|g| g.id.as_str()).collect();
    for i in [0, 1, EXTRA_GROUPS - 1] {
        ensure!(ids.contains(&format!("bench-group-{i:05}").as_str()), "bench-group-{i:05} missing");
    }
    ensure!(ids.contains(&"stream-processor-group") && ids.contains(&"audit-replayer"));

    // The same groups, states and member counts as confluent-kafka's AdminClient describes them.
    let theirs = oracle(&bootstrap, &["describe-all"]).await?;
    ensure!(theirs["groups"] == EXTRA_GROUPS + 2, "confluent-kafka saw {} groups", theirs["groups"]);
    let theirs: BTreeMap<String, (String, u64)> = theirs["rows"]
        .as_object()
        .context("rows")?
        .iter()
        .map(|(id, r)| {
            let state = r["state"].as_str().unwrap_or_default().to_lowercase();
            (id.clone(), (state, r["members"].as_u64().unwrap_or(0)))
        })
        .collect();
    let ours: BTreeMap<String, (String, u64)> =
        list.groups.iter().map(|g| (g.id.clone(), (g.state.to_lowercase(), u64::from(g.members)))).collect();
    ensure!(ours == theirs, "Triage and confluent-kafka disagree on the groups");
    app.stop().await?;

    // A lower limit: the first groups by name, and the answer says it is cut.
    let settings: Settings =
        serde_json::from_value(json!({"kafka": {"bootstrap": bootstrap, "max_groups": 100}}))?;
    let app = TestApp::start_with(settings).await?;
    let cut: KafkaGroupList = app.get_json("/api/kafka/groups").await?;
    ensure!(
        cut.truncated && cut.groups.len() == 100,
        "{} groups, truncated {}",
        cut.groups.len(),
        cut.truncated
    );
    let first: Vec<&str> = ids.iter().take(100).copied().collect();
    ensure!(cut.groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>() == first);
    app.stop().await?;
    Ok(())
}
