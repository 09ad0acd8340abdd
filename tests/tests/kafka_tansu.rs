//! Triage's Kafka views and offset reset against a real Kafka-compatible broker (Tansu), each
//! compared with what confluent-kafka (an independent client) reports for the same cluster.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use triage::config::{AuthSettings, Settings};
use triage_shared::actions::Role;
use triage_shared::kafka::{KafkaCluster, KafkaGroup, KafkaGroupList, KafkaTopic, LagState};
use triage_tests::TestApp;
use triage_tests::tansu::{HeldConsumer, Tansu, oracle};

fn settings(bootstrap: &str, reset: bool) -> Result<Settings> {
    let mut s: Settings = serde_json::from_value(json!({
        "kafka": {"bootstrap": bootstrap, "timeout_secs": 3, "allow_offset_reset": reset},
    }))?;
    s.auth = AuthSettings::Local { local_role: Role::Operator };
    Ok(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_agree_with_confluent_kafka_and_the_reset_moves_exactly_its_plan() -> Result<()> {
    let mut tansu = Tansu::start().await?;
    let b = tansu.bootstrap.clone();
    oracle(&b, &["create-topic", "orders", "4"]).await?;
    oracle(&b, &["produce", "orders", "40"]).await?;
    // A group that consumed and left (Empty), and one that stays (active).
    oracle(&b, &["consume", "idle-group", "orders", "40"]).await?;
    let held = HeldConsumer::join(&b, "busy-group", "orders", 4).await?;
    let app = TestApp::start_with(settings(&b, true)?).await?;

    // Cluster: the brokers confluent-kafka sees, each probed and answering ApiVersions.
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    let expected = oracle(&b, &["cluster"]).await?;
    let ids: Vec<i64> = cluster.brokers.iter().map(|b| i64::from(b.id)).collect();
    let oracle_ids: Vec<i64> =
        expected["brokers"].as_array().context("brokers")?.iter().filter_map(|b| b["id"].as_i64()).collect();
    assert_eq!(ids, oracle_ids);
    assert_eq!(cluster.controller.map(i64::from), expected["controller"].as_i64());
    let broker = &cluster.brokers[0];
    assert!(broker.reachable, "{broker:?}");
    assert!(broker.api_versions.iter().any(|v| v.name == "OffsetFetch"), "{:?}", broker.api_versions);
    assert!(cluster.unlisted.is_empty() && cluster.metadata_error.is_none());

    // Topic: partitions, leaders, replicas and ISR as confluent-kafka lists them; end offsets as
    // its ListOffsets answers.
    let topic: KafkaTopic = app.get_json("/api/kafka/topics/orders").await?;
    let theirs = &oracle(&b, &["topics"]).await?["orders"];
    for (ours, theirs) in topic.partitions.iter().zip(theirs.as_array().context("partitions")?) {
        assert_eq!(i64::from(ours.id), theirs["partition"].as_i64().unwrap_or(-1));
        assert_eq!(ours.leader.map(i64::from), theirs["leader"].as_i64());
        assert_eq!(json!(ours.replicas), theirs["replicas"]);
        assert_eq!(json!(ours.isr), theirs["isr"]);
    }
    assert_eq!(topic.partitions.len(), 4);
    let marks = oracle(&b, &["watermarks", "orders"]).await?;
    for o in &topic.end_offsets {
        assert_eq!(o.offset, marks[o.partition.to_string()]["high"].as_i64(), "{o:?}");
    }

    // Groups: both listed; the idle group's committed offsets and lag as confluent-kafka reads them.
    let list: KafkaGroupList = app.get_json("/api/kafka/groups").await?;
    let names: Vec<&str> = list.groups.iter().map(|g| g.id.as_str()).collect();
    assert!(names.contains(&"idle-group") && names.contains(&"busy-group"), "{names:?}");
    let idle: KafkaGroup = app.get_json("/api/kafka/groups/idle-group").await?;
    let committed = oracle(&b, &["offsets", "idle-group"]).await?;
    for row in &idle.partitions {
        assert_eq!(row.committed, committed["orders"][row.partition.to_string()].as_i64(), "{row:?}");
        let end = marks[row.partition.to_string()]["high"].as_i64();
        match (row.committed, end) {
            (Some(c), Some(e)) if c <= e => assert_eq!((row.lag, row.state), (Some(e - c), LagState::Known)),
            (Some(_), Some(_)) => assert_eq!((row.lag, row.state), (None, LagState::Negative)),
            _ => assert_ne!(row.state, LagState::Known),
        }
    }
    let missing = app.get_json::<Value>("/api/kafka/groups/no-such-group").await;
    ensure!(missing.is_err(), "an unknown group must be a 404, got {missing:?}");

    // The reset: refused while the group is active, dry run changes nothing, the real run moves
    // exactly the planned offsets and leaves an audit row.
    let reset = |group: &str, body: Value| {
        let path = format!("/api/kafka/groups/{group}/reset-offsets");
        let app = &app;
        async move { app.post_json(&path, &body).await }
    };
    let (status, body) =
        reset("busy-group", json!({"topic": "orders", "target": {"to": "earliest"}, "dry_run": true}))
            .await?;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("busy-group")), "{body}");
    let before = oracle(&b, &["offsets", "idle-group"]).await?;
    let (status, dry) =
        reset("idle-group", json!({"topic": "orders", "target": {"to": "shift", "by": -3}, "dry_run": true}))
            .await?;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(oracle(&b, &["offsets", "idle-group"]).await?, before, "the dry run changed offsets");
    let (status, refused) =
        reset("idle-group", json!({"topic": "orders", "target": {"to": "shift", "by": -3}})).await?;
    assert_eq!(status, 400, "a real run without the typed name must be refused: {refused}");
    let (status, done) = reset(
        "idle-group",
        json!({"topic": "orders", "target": {"to": "shift", "by": -3}, "confirm": "idle-group"}),
    )
    .await?;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["plan"], dry["plan"], "the run must do what its dry run planned");
    let after = oracle(&b, &["offsets", "idle-group"]).await?;
    for step in dry["plan"].as_array().context("plan")? {
        let p = step["partition"].to_string();
        assert_eq!(after["orders"][&p], step["to"], "partition {p}");
    }
    let audit: Value = app.get_json("/api/audit").await?;
    let id = done["audit_id"].as_i64().context("audit id")?;
    let entry =
        audit.as_array().and_then(|a| a.iter().find(|e| e["id"] == json!(id))).context("audit row")?;
    assert_eq!(entry["action"], "kafka-offset-reset");
    assert_eq!(entry["outcome"], "succeeded");

    // The broker down: the cluster view still answers within its timeouts, in words.
    drop(held);
    tansu.kill();
    let started = Instant::now();
    let cluster: KafkaCluster = app.get_json("/api/kafka/cluster").await?;
    ensure!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert!(cluster.metadata_error.is_some(), "{cluster:?}");
    let server = cluster.unlisted.first().context("the bootstrap server is listed")?;
    assert!(!server.reachable);
    assert_eq!(
        server.error.as_ref().map(|e| e.kind),
        Some(triage_shared::kafka::ConnectionErrorKind::Refused)
    );
    app.stop().await?;
    Ok(())
}

#[tokio::test]
async fn without_kafka_every_route_says_how_to_configure_it() -> Result<()> {
    let s = Settings { auth: AuthSettings::Local { local_role: Role::Operator }, ..Settings::default() };
    let app = TestApp::start_with(s).await?;
    let (status, body) = app
        .post_json(
            "/api/kafka/groups/g/reset-offsets",
            &json!({"topic": "t", "target": {"to": "latest"}, "dry_run": true}),
        )
        .await?;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("[kafka]")), "{body}");
    app.stop().await?;
    Ok(())
}
