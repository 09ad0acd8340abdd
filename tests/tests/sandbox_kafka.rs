//! The sandbox's Kafka brokers speak the Kafka protocol: `kcat` (librdkafka from Debian) and
//! confluent-kafka (librdkafka from its wheel) read them, and Triage's views agree with both.
//! The incidents reach the protocol: `partition-imbalance` moves leaders, `kafka-connection`
//! takes a broker away and leaves a partition without leader, which costs Triage only those rows.
//!
//! The sandbox's offsets move four times a second, so a value Triage reports is checked to lie
//! between what confluent-kafka read just before and just after it (offsets only grow).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use triage::config::{AuthSettings, Settings};
use triage_sandbox::Incident;
use triage_sandbox::kafka::{DOWN_BROKER, LEADERLESS};
use triage_shared::actions::Role;
use triage_shared::kafka::{
    ConnectionErrorKind, KafkaCluster, KafkaGroup, KafkaGroupList, KafkaTopic, LagState,
};
use triage_tests::tansu::oracle;
use triage_tests::{TestApp, TestSandbox};

fn settings(bootstrap: &str) -> Result<Settings> {
    let mut s: Settings = serde_json::from_value(json!({
        "kafka": {"bootstrap": bootstrap, "timeout_secs": 3, "allow_offset_reset": true},
    }))?;
    s.auth = AuthSettings::Local { local_role: Role::Operator };
    Ok(s)
}

/// `kcat -L -J`: the metadata as Debian's kcat reads it.
async fn kcat_metadata(bootstrap: &str) -> Result<Value> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("kcat").args(["-b", bootstrap, "-L", "-J", "-m", "10"]).output(),
    )
    .await
    .context("kcat did not finish in 30 s")?
    .context("cannot run kcat (installed by `cargo xtask setup`)")?;
    ensure!(out.status.success(), "kcat failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).context("kcat printed no JSON")
}

/// Leaders per broker id, from kcat's partition list.
fn kcat_leaders(md: &Value) -> Result<BTreeMap<i64, u32>> {
    let topic = md["topics"]
        .as_array()
        .context("topics")?
        .iter()
        .find(|t| t["topic"] == "events")
        .context("events")?;
    let mut out = BTreeMap::new();
    for p in topic["partitions"].as_array().context("partitions")? {
        if let Some(l) = p["leader"].as_i64().filter(|l| *l >= 0) {
            *out.entry(l).or_insert(0) += 1;
        }
    }
    Ok(out)
}

fn triage_leaders(topic: &KafkaTopic) -> BTreeMap<i64, u32> {
    topic
        .leaders_per_broker
        .iter()
        .filter(|b| b.leaders > 0)
        .map(|b| (i64::from(b.broker), b.leaders))
        .collect()
}

fn committed_of(offsets: &Value, partition: i32) -> Option<i64> {
    offsets["events"][partition.to_string()].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_confluent_kafka_and_triage_read_the_same_cluster_and_the_reset_moves_only_its_plan()
-> Result<()> {
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let b = sb.sandbox.kafka_bootstrap.clone();
    let app = TestApp::start_with(settings(&b)?).await?;

    // Brokers: three, as kcat and confluent-kafka list them, each answering ApiVersions.
    let md = kcat_metadata(&b).await?;
    let kcat_ids: Vec<i64> =
        md["brokers"].as_array().context("brokers")?.iter().filter_map(|b| b["id"].as_i64()).collect();
    assert_eq!(kcat_ids, vec![0, 1, 2]);
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    let theirs = oracle(&b, &["cluster"]).await?;
    assert_eq!(cluster.cluster_id.as_deref(), theirs["cluster_id"].as_str());
    assert_eq!(cluster.controller.map(i64::from), md["controllerid"].as_i64());
    assert_eq!(cluster.brokers.iter().map(|b| i64::from(b.id)).collect::<Vec<_>>(), kcat_ids);
    for broker in &cluster.brokers {
        assert!(broker.reachable && broker.error.is_none(), "{broker:?}");
        assert!(broker.api_versions.iter().any(|v| v.name == "DescribeGroups"), "{:?}", broker.api_versions);
        assert_eq!(broker.rack.as_deref().map(|r| r.starts_with("zone-")), Some(true), "{broker:?}");
    }
    assert!(cluster.unlisted.is_empty() && cluster.missing_brokers.is_empty(), "{cluster:?}");

    // The topic: 24 partitions, 8 leaders each, as kcat counts them.
    let topic: KafkaTopic = app.get_json("/api/kafka/topics/events").await?;
    assert_eq!(topic.partitions.len(), 24);
    assert_eq!(triage_leaders(&topic), kcat_leaders(&md)?);
    assert_eq!(triage_leaders(&topic).values().copied().collect::<Vec<_>>(), vec![8, 8, 8]);

    // The consumer group: its members and their partitions as confluent-kafka describes them,
    // its committed and end offsets between two confluent-kafka reads.
    let before = oracle(&b, &["offsets", "stream-processor-group"]).await?;
    let ends_before = oracle(&b, &["watermarks", "events"]).await?;
    let group: KafkaGroup = app.get_json("/api/kafka/groups/stream-processor-group").await?;
    let after = oracle(&b, &["offsets", "stream-processor-group"]).await?;
    let ends_after = oracle(&b, &["watermarks", "events"]).await?;
    let described = oracle(&b, &["groups", "stream-processor-group"]).await?;
    let theirs = described.as_array().and_then(|g| g.first()).context("group described")?;
    assert_eq!(theirs["state"], "STABLE");
    let mut ours: Vec<(String, Vec<i32>)> = group
        .members
        .iter()
        .map(|m| (m.client_id.clone(), m.assignment.iter().flatten().map(|a| a.partition).collect()))
        .collect();
    let mut oracle_members: Vec<(String, Vec<i32>)> = theirs["members"]
        .as_array()
        .context("members")?
        .iter()
        .map(|m| {
            let parts = m["assignment"].as_array().map_or_else(Vec::new, |a| {
                a.iter().filter_map(|tp| tp[1].as_i64().and_then(|p| i32::try_from(p).ok())).collect()
            });
            (m["client_id"].as_str().unwrap_or_default().to_owned(), parts)
        })
        .collect();
    ours.sort();
    oracle_members.sort();
    assert_eq!(ours, oracle_members);
    let pods = triage_sandbox::api::lock(&sb.sandbox.world).platform.consumer_names.len();
    assert!(pods > 0 && group.members.len() == pods, "{} members, {pods} consumer pods", group.members.len());
    assert_eq!(group.partitions.len(), 24);
    for row in &group.partitions {
        let (lo, hi) = (committed_of(&before, row.partition), committed_of(&after, row.partition));
        let c = row.committed.context("every partition has a commit")?;
        ensure!(
            lo.is_some_and(|lo| lo <= c) && hi.is_some_and(|hi| c <= hi),
            "committed {c} not in {lo:?}..{hi:?}"
        );
        let key = row.partition.to_string();
        let (elo, ehi) = (ends_before[&key]["high"].as_i64(), ends_after[&key]["high"].as_i64());
        let e = row.end_offset.context("every partition has a leader")?;
        ensure!(
            elo.is_some_and(|lo| lo <= e) && ehi.is_some_and(|hi| e <= hi),
            "end {e} not in {elo:?}..{ehi:?}"
        );
        assert_eq!((row.state, row.lag), (LagState::Known, Some(e - c)), "{row:?}");
        assert!(row.owner.is_some(), "{row:?}");
    }

    // Groups: both listed, the idle one Empty, its total lag between what confluent-kafka's reads
    // before and after give; the committed offsets read in one batched OffsetFetch per
    // coordinator.
    let idle_committed = oracle(&b, &["offsets", "audit-replayer"]).await?;
    let ends_before = oracle(&b, &["watermarks", "events"]).await?;
    let fetches = sb.sandbox.kafka_requests.get("OffsetFetch");
    let list: KafkaGroupList = app.get_json("/api/kafka/groups").await?;
    let used = sb.sandbox.kafka_requests.get("OffsetFetch") - fetches;
    assert!((1..=3).contains(&used), "at most one OffsetFetch per coordinator, not per group: {used}");
    let ends_after = oracle(&b, &["watermarks", "events"]).await?;
    let lag_bound = |ends: &Value| -> i64 {
        (0..24)
            .map(|p: i32| {
                let key = p.to_string();
                ends[&key]["high"].as_i64().unwrap_or(0) - committed_of(&idle_committed, p).unwrap_or(0)
            })
            .sum()
    };
    let idle = list.groups.iter().find(|g| g.id == "audit-replayer").context("audit-replayer listed")?;
    let total = idle.total_lag.context("the idle group's lag")?;
    ensure!(
        lag_bound(&ends_before) <= total && total <= lag_bound(&ends_after),
        "total lag {total} not in {}..{}",
        lag_bound(&ends_before),
        lag_bound(&ends_after)
    );
    let states: BTreeMap<&str, &str> =
        list.groups.iter().map(|g| (g.id.as_str(), g.state.as_str())).collect();
    assert_eq!(states.get("stream-processor-group").map(|s| s.to_lowercase()), Some("stable".to_owned()));
    assert_eq!(states.get("audit-replayer").map(|s| s.to_lowercase()), Some("empty".to_owned()));

    // The reset: refused on the live group (confluent-kafka's own commit is refused too), and
    // on the idle group it moves exactly the planned offsets.
    let reset = |group: &str, body: Value| {
        let path = format!("/api/kafka/groups/{group}/reset-offsets");
        let app = &app;
        async move { app.post_json(&path, &body).await }
    };
    let (status, body) = reset(
        "stream-processor-group",
        json!({"topic": "events", "target": {"to": "latest"}, "dry_run": true}),
    )
    .await?;
    assert_eq!(status, 409, "{body}");
    let refused = oracle(&b, &["alter", "stream-processor-group", "events", "3", "0"]).await?;
    assert_eq!(refused["altered"], 0, "{refused}");
    let live_before = oracle(&b, &["offsets", "stream-processor-group"]).await?;

    oracle(&b, &["alter", "audit-replayer", "events", "5", "40"]).await?;
    let replayer_before = oracle(&b, &["offsets", "audit-replayer"]).await?;
    assert_eq!(committed_of(&replayer_before, 5), Some(40));
    let (status, dry) = reset(
        "audit-replayer",
        json!({"topic": "events", "target": {"to": "shift", "by": -15}, "dry_run": true}),
    )
    .await?;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        oracle(&b, &["offsets", "audit-replayer"]).await?,
        replayer_before,
        "the dry run changed offsets"
    );
    let (status, done) = reset(
        "audit-replayer",
        json!({"topic": "events", "target": {"to": "shift", "by": -15}, "confirm": "audit-replayer"}),
    )
    .await?;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["plan"], dry["plan"], "the run must do what its dry run planned");
    let replayer_after = oracle(&b, &["offsets", "audit-replayer"]).await?;
    for p in 0..24 {
        let step = dry["plan"].as_array().and_then(|s| s.iter().find(|s| s["partition"] == json!(p)));
        match step {
            Some(step) => assert_eq!(json!(committed_of(&replayer_after, p)), step["to"], "partition {p}"),
            None => assert_eq!(
                committed_of(&replayer_after, p),
                committed_of(&replayer_before, p),
                "partition {p}"
            ),
        }
    }
    assert_eq!(committed_of(&replayer_after, 5), Some(25), "40 shifted by -15");
    // The live group was not touched: none of its offsets went back.
    let live_after = oracle(&b, &["offsets", "stream-processor-group"]).await?;
    for p in 0..24 {
        ensure!(
            committed_of(&live_after, p) >= committed_of(&live_before, p),
            "partition {p} of the live group moved back"
        );
    }
    app.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imbalance_and_a_lost_broker_show_as_kcat_sees_them_and_cost_only_their_rows() -> Result<()> {
    let sb = TestSandbox::start(Incident::PartitionImbalance).await?;
    let b = sb.sandbox.kafka_bootstrap.clone();
    let app = TestApp::start_with(settings(&b)?).await?;

    let topic: KafkaTopic = app.get_json("/api/kafka/topics/events").await?;
    assert_eq!(triage_leaders(&topic), kcat_leaders(&kcat_metadata(&b).await?)?);
    assert_eq!(triage_leaders(&topic).values().copied().collect::<Vec<_>>(), vec![16, 6, 2]);

    sb.sandbox.set_incident(Incident::KafkaConnection);
    let down_addr = b.split(',').nth(DOWN_BROKER as usize).context("three brokers")?.to_owned();
    // The broker's port refuses connections once the incident is on.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(&down_addr).await.is_ok() {
        ensure!(Instant::now() < deadline, "{down_addr} still accepts connections");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let md = kcat_metadata(&b).await?;
    let kcat_ids: Vec<i64> =
        md["brokers"].as_array().context("brokers")?.iter().filter_map(|b| b["id"].as_i64()).collect();
    assert_eq!(kcat_ids, vec![0, 1]);

    let started = Instant::now();
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    ensure!(started.elapsed() < Duration::from_secs(10), "the cluster view took {:?}", started.elapsed());
    assert_eq!(cluster.brokers.iter().map(|b| i64::from(b.id)).collect::<Vec<_>>(), kcat_ids);
    assert_eq!(cluster.missing_brokers, vec![DOWN_BROKER], "{cluster:?}");
    let gone =
        cluster.unlisted.iter().find(|s| s.address == down_addr).context("the lost broker's address")?;
    assert!(!gone.reachable);
    assert_eq!(gone.error.as_ref().map(|e| e.kind), Some(ConnectionErrorKind::Refused), "{gone:?}");
    assert!(gone.error.as_ref().is_some_and(|e| e.message.contains(&down_addr)), "{gone:?}");

    let topic: KafkaTopic = app.get_json("/api/kafka/topics/events").await?;
    for p in &topic.partitions {
        let kcat_p = &md["topics"][0]["partitions"][usize::try_from(p.id)?];
        assert_eq!(
            p.leader.map(i64::from),
            kcat_p["leader"].as_i64().filter(|l| *l >= 0),
            "partition {}",
            p.id
        );
        assert!(!p.isr.contains(&DOWN_BROKER), "{p:?}");
        if p.id == LEADERLESS as i32 {
            assert!(p.leader.is_none() && p.error.is_some(), "{p:?}");
        }
    }
    for o in &topic.end_offsets {
        if o.partition == LEADERLESS as i32 {
            assert!(o.offset.is_none() && o.error.is_some(), "{o:?}");
        } else {
            assert!(o.offset.is_some() && o.error.is_none(), "{o:?}");
        }
    }

    // The group: every row but the leaderless partition's has its lag.
    let group: KafkaGroup = app.get_json("/api/kafka/groups/stream-processor-group").await?;
    for row in &group.partitions {
        if row.partition == LEADERLESS as i32 {
            assert_eq!((row.state, row.lag), (LagState::NoEndOffset, None), "{row:?}");
            assert!(row.committed.is_some(), "{row:?}");
        } else {
            assert_eq!(row.state, LagState::Known, "{row:?}");
        }
    }

    // Back to healthy: the broker listens on the same port again.
    sb.sandbox.set_incident(Incident::Healthy);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(&down_addr).await.is_err() {
        ensure!(Instant::now() < deadline, "{down_addr} did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await?;
    Ok(())
}

/// Total lag of `stream-processor-group` as Triage reads it from Kafka.
async fn kafka_total_lag(app: &TestApp) -> Result<i64> {
    let group: KafkaGroup = app.get_json("/api/kafka/groups/stream-processor-group").await?;
    ensure!(group.partitions.iter().all(|p| p.state == LagState::Known), "{group:?}");
    group.total_lag.context("a total lag")
}

/// One number and its sample time from an instant Prometheus query.
async fn prom_value(prom: &triage_tests::Prometheus, query: &str) -> Result<Option<(f64, f64)>> {
    let data = prom.query(query).await?;
    let v = &data["result"][0]["value"];
    Ok(v[0].as_f64().zip(v[1].as_str().and_then(|s| s.parse().ok())))
}

/// Prometheus's `kafka_consumer_lag` and Kafka's own offsets tell the same story, and scaling the
/// consumers drains the lag as Kafka reports it; the guide's own `kubectl` commands find the
/// names it uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_and_prometheus_agree_on_the_lag_and_scaling_drains_it() -> Result<()> {
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let prom = triage_tests::Prometheus::start(&[("sandbox", sb.sandbox.metrics_addr.to_string())]).await?;
    let app = TestApp::start_with(settings(&sb.sandbox.kafka_bootstrap)?).await?;

    // The lag as Kafka reports it, against Prometheus's last scrape before that read: they may
    // differ only by what the lag grew in between (at most the produce rate, 2,400/s here).
    let query = r#"sum(kafka_consumer_lag{group="stream-processor-group"})"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    let scraped = loop {
        if let Some(v) = prom_value(&prom, query).await?
            && v.1 > 0.0
        {
            break v;
        }
        ensure!(Instant::now() < deadline, "Prometheus has no kafka_consumer_lag yet");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let read_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
    let from_kafka = kafka_total_lag(&app).await? as f64;
    let from_prom = scraped.1;
    // An instant query answers at its own evaluation time; the sample's time is `timestamp()`.
    let at = prom_value(&prom, r#"max(timestamp(kafka_consumer_lag{group="stream-processor-group"}))"#)
        .await?
        .context("sample time")?
        .1;
    let allowed = 2400.0 * (read_at - at + 1.0);
    ensure!(
        (from_kafka - from_prom).abs() <= allowed,
        "Kafka says {from_kafka}, Prometheus said {from_prom} {:.1} s earlier (allowed {allowed})",
        read_at - at
    );
    ensure!(from_kafka > 0.0, "the consumer-lag incident has lag");
    eprintln!("lag: Kafka {from_kafka}, Prometheus {from_prom} ({:.2} s earlier)", read_at - at);

    // Scaling the consumers to 12: Kafka lists 12 members and the lag it reports falls.
    let before = kafka_total_lag(&app).await?;
    sb.kubectl(&["scale", "deployment/stream-processor", "-n", "streaming-analytics", "--replicas=12"])
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let group: KafkaGroup = app.get_json("/api/kafka/groups/stream-processor-group").await?;
        if group.members.len() == 12 {
            break;
        }
        ensure!(Instant::now() < deadline, "still {} members", group.members.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let first = kafka_total_lag(&app).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = kafka_total_lag(&app).await?;
    ensure!(second < first, "the lag does not fall after scaling: {before} → {first} → {second}");
    eprintln!("lag after scaling to 12: {before} → {first} → {second}");

    // The guide's names: `websocket-service` and `streaming-secrets`, as it spells the commands.
    let service =
        sb.kubectl(&["describe", "service", "websocket-service", "-n", "streaming-analytics"]).await?;
    assert!(service.contains("app=websocket-server") && service.contains("8080"), "{service}");
    let secret = sb
        .kubectl(&["get", "secret", "streaming-secrets", "-n", "streaming-analytics", "-o", "yaml"])
        .await?;
    assert!(secret.contains("kafka-password:") && secret.contains("kafka-username:"), "{secret}");
    app.stop().await?;
    Ok(())
}

/// SASL against the sandbox's brokers (Tansu 0.6.0 cannot complete any SASL login), by PLAIN,
/// SCRAM-SHA-256 and SCRAM-SHA-512: the right password reads the cluster, topics and groups as
/// confluent-kafka does with it; a wrong one is an authentication error in words; the password is
/// in no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_logins_read_the_cluster_and_a_wrong_password_is_refused_in_words() -> Result<()> {
    const PASSWORD: &str = "s3cret-login-Pa55";
    let sb = TestSandbox::start_with_sasl(Incident::Healthy, "triage", PASSWORD).await?;
    let b = sb.sandbox.kafka_bootstrap.clone();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let with = |password: &str| -> Result<Settings> {
            let mut s: Settings = serde_json::from_value(json!({
                "kafka": {"bootstrap": b, "timeout_secs": 3,
                          "sasl": {"mechanism": mechanism, "username": "triage", "password": password}},
            }))?;
            s.auth = AuthSettings::Local { local_role: Role::Reader };
            Ok(s)
        };

        // The independent client logs in and reads the same cluster.
        let login = json!({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
                           "sasl.username": "triage", "sasl.password": PASSWORD});
        let theirs = triage_tests::tansu::oracle_with(&login, &b, &["cluster"]).await?;

        let app = TestApp::start_with(with(PASSWORD)?).await?;
        let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
        assert!(cluster.metadata_error.is_none(), "{mechanism}: {cluster:?}");
        assert_eq!(cluster.cluster_id.as_deref(), theirs["cluster_id"].as_str(), "{mechanism}");
        assert_eq!(cluster.brokers.len(), 3, "{mechanism}: {cluster:?}");
        assert!(cluster.brokers.iter().all(|b| b.reachable), "{mechanism}: {cluster:?}");
        let topic: KafkaTopic = app.get_json("/api/kafka/topics/events").await?;
        assert_eq!(topic.partitions.len(), 24, "{mechanism}");
        assert!(topic.end_offsets.iter().all(|o| o.offset.is_some()), "{mechanism}: {:?}", topic.end_offsets);
        let group: KafkaGroup = app.get_json("/api/kafka/groups/audit-replayer").await?;
        assert!(group.partitions.iter().all(|p| p.committed.is_some()), "{mechanism}: {group:?}");
        let list = app.http.get(app.url("/api/kafka/groups")).send().await?.text().await?;
        assert!(list.contains("stream-processor-group"), "{mechanism}: {list}");
        assert!(!list.contains(PASSWORD));
        app.stop().await?;

        // A wrong password: refused, said as an authentication failure.
        let app = TestApp::start_with(with("not-the-password")?).await?;
        let started = Instant::now();
        let body = app.http.get(app.url("/api/kafka/cluster")).send().await?.text().await?;
        ensure!(started.elapsed() < Duration::from_secs(15), "{mechanism}: took {:?}", started.elapsed());
        assert!(!body.contains(PASSWORD) && !body.contains("not-the-password"), "{body}");
        let cluster: KafkaCluster = serde_json::from_str(&body)?;
        let error =
            cluster.metadata_error.with_context(|| format!("{mechanism}: the metadata cannot be read"))?;
        assert_eq!(error.kind, ConnectionErrorKind::Authentication, "{mechanism}: {error:?}");
        assert!(error.message.to_lowercase().contains("authentication"), "{mechanism}: {error:?}");
        app.stop().await?;
    }
    Ok(())
}

/// A group that keeps up (lag 0, committing as fast as the log grows) reads as lag 0 on every
/// partition, read after read: never as committed past the log end, which happens when the log
/// ends are read before the committed offsets. The brokers answer ListOffsets 400 ms late (the
/// offsets of the moment they were asked), as a loaded broker does, which made every row of the
/// live group "committed past the log end" while the ends were read first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_keeps_up_is_never_flagged_as_past_the_log_end() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    sb.sandbox.kafka_delays.set("ListOffsets", 400);
    let app = TestApp::start_with(settings(&sb.sandbox.kafka_bootstrap)?).await?;
    for read in 0..8 {
        let group: KafkaGroup = app.get_json("/api/kafka/groups/stream-processor-group").await?;
        let flagged: Vec<_> = group.partitions.iter().filter(|p| p.state != LagState::Known).collect();
        ensure!(flagged.is_empty(), "read {read}: {flagged:?}");
        let list: KafkaGroupList = app.get_json("/api/kafka/groups").await?;
        let live = list.groups.iter().find(|g| g.id == "stream-processor-group").context("listed")?;
        ensure!(live.partitions_unknown == 0 && live.total_lag.is_some(), "read {read}: {live:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    app.stop().await?;
    Ok(())
}
