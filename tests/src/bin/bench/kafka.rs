//! (e) Kafka consumer groups: `GET /api/kafka/groups` over the sandbox's two groups and 500 idle
//! ones on the 24-partition `events` (every group described, its committed offsets and the log
//! ends read, total lag per group), end to end through Triage, against confluent-kafka's
//! AdminClient doing the same work (`oracle.py describe-all --serve`, one client kept across
//! rounds as Triage keeps its own, timed inside Python). Rounds alternate which side goes first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::kafka::KafkaGroupList;
use triage_tests::paths::workspace_root;
use triage_tests::tansu::oracle_python;
use triage_tests::{TestApp, TestSandbox};

use super::{Row, median};

const EXTRA_GROUPS: usize = 500;
/// The sandbox's own groups: `stream-processor-group` (live) and `audit-replayer`.
const GROUPS: usize = EXTRA_GROUPS + 2;
/// The sandbox's group with members, whose offsets move four times a second: its committed
/// offsets can be read after the log ends of the same answer, and then show past them.
const LIVE_GROUP: &str = "stream-processor-group";
/// Rounds per side; the first warms up (connections, coordinators) and is not counted.
const ROUNDS: usize = 6;

/// `oracle.py describe-all BOOTSTRAP --serve`: one round per line written to it.
struct DescribeAll {
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl DescribeAll {
    /// Starts the oracle and waits until its AdminClient exists; returns it and how long that took.
    async fn start(bootstrap: &str) -> Result<(Self, f64)> {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(oracle_python())
            .arg(workspace_root().join("tests/kafka/oracle.py"))
            .args(["describe-all", bootstrap, "--serve"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the confluent-kafka oracle (`cargo xtask setup` installs it)")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let first = lines.next_line().await?;
        ensure!(first.as_deref() == Some("ready"), "the oracle printed {first:?} instead of ready");
        Ok((Self { stdin, lines, _child: child }, started.elapsed().as_secs_f64() * 1000.0))
    }

    /// One round: the oracle's answer, `{"groups", "took_ms", "rows"}`.
    async fn round(&mut self) -> Result<Value> {
        self.stdin.write_all(b"go\n").await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
            .await
            .context("the oracle did not answer within 120 s")??
            .context("the oracle exited")?;
        serde_json::from_str(&line).with_context(|| format!("the oracle printed {line:?}"))
    }
}

/// Group → (state, members) as each side reports it, states compared without case
/// (librdkafka's `Stable`, confluent-kafka's `STABLE`).
type Described = BTreeMap<String, (String, u64)>;

fn triage_side(list: &KafkaGroupList) -> Result<Described> {
    ensure!(!list.truncated, "Triage truncated the list at {} groups", list.groups.len());
    let mut out = BTreeMap::new();
    for g in &list.groups {
        ensure!(g.error.is_none(), "Triage: group {}: {:?}", g.id, g.error);
        // The live group's lag may be unknown: see `LIVE_GROUP`.
        ensure!(g.members > 0 || g.total_lag.is_some(), "Triage: group {} has no known lag", g.id);
        out.insert(g.id.clone(), (g.state.to_lowercase(), u64::from(g.members)));
    }
    Ok(out)
}

fn oracle_side(answer: &Value) -> Result<Described> {
    let rows = answer["rows"].as_object().context("the oracle's answer has no rows")?;
    let mut out = BTreeMap::new();
    for (id, row) in rows {
        ensure!(row.get("error").is_none(), "confluent-kafka: group {id}: {}", row["error"]);
        let live = row["members"].as_u64().unwrap_or(0) > 0;
        ensure!(live || row["total_lag"].is_i64(), "confluent-kafka: group {id} has no known lag");
        let state = row["state"].as_str().unwrap_or_default().to_lowercase();
        out.insert(id.clone(), (state, row["members"].as_u64().unwrap_or(0)));
    }
    Ok(out)
}

pub async fn kafka_groups(rows: &mut Vec<Row>) -> Result<()> {
    println!("(e) kafka: {GROUPS} consumer groups over a 24-partition topic…");
    let sb = TestSandbox::start_with_groups(Incident::Healthy, EXTRA_GROUPS).await?;
    let bootstrap = sb.sandbox.kafka_bootstrap.clone();
    // The defaults otherwise (max_groups 2000, concurrency 8), as an operator would run it.
    let settings: Settings = serde_json::from_value(json!({"kafka": {"bootstrap": bootstrap}}))?;
    let app = TestApp::start_with(settings).await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let (mut oracle, oracle_startup_ms) = DescribeAll::start(&bootstrap).await?;

    let (mut ours, mut server, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first_ours, mut first_theirs) = (0.0, 0.0);
    for round in 0..ROUNDS {
        let (mut t, mut s, mut p, mut live_unknown) = (0.0, 0.0, 0.0, None);
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let started = Instant::now();
                let response = http.get(app.url("/api/kafka/groups")).send().await?;
                let status = response.status();
                let body = response.text().await?;
                t = started.elapsed().as_secs_f64() * 1000.0;
                ensure!(status.is_success(), "GET /api/kafka/groups answered {status}: {body}");
                let list: KafkaGroupList = serde_json::from_str(&body)?;
                s = list.took_ms;
                live_unknown = list.groups.iter().find(|g| g.id == LIVE_GROUP).map(|g| g.partitions_unknown);
                let triage = triage_side(&list)?;
                ensure!(triage.len() == GROUPS, "Triage listed {} groups, not {GROUPS}", triage.len());
            } else {
                let answer = oracle.round().await?;
                p = answer["took_ms"].as_f64().context("the oracle's answer has no took_ms")?;
                let theirs = oracle_side(&answer)?;
                ensure!(theirs.len() == GROUPS, "confluent-kafka saw {} groups, not {GROUPS}", theirs.len());
            }
        }
        println!(
            "    round {round}: Triage {t:.0} ms (server {s:.0} ms; {LIVE_GROUP}: {live_unknown:?} partitions of unknown lag), confluent-kafka {p:.0} ms{}",
            if round == 0 { " (warm-up)" } else { "" }
        );
        if round == 0 {
            (first_ours, first_theirs) = (t, p);
        } else {
            ours.push(t);
            server.push(s);
            theirs.push(p);
        }
    }
    // Both sides saw the same groups in the same states with the same number of members.
    let triage = triage_side(&app.get_json::<KafkaGroupList>("/api/kafka/groups").await?)?;
    let confluent = oracle_side(&oracle.round().await?)?;
    ensure!(triage == confluent, "Triage and confluent-kafka disagree on the groups");

    let repetitions = ours.len();
    let (o, s, t) = (median(ours), median(server), median(theirs));
    println!(
        "(e) {GROUPS} groups, {repetitions} repetitions: Triage {o:.0} ms, confluent-kafka {t:.0} ms, {:.2}×",
        o / t
    );
    rows.push(Row {
        figure: format!("(e) Kafka: {GROUPS} consumer groups (24 partitions) listed with lag, end to end"),
        measured: format!(
            "{o:.0} ms (server side {s:.0} ms; first request {first_ours:.0} ms; median of {repetitions})"
        ),
        baseline: format!(
            "{t:.0} ms confluent-kafka AdminClient, timed in Python (first round {first_theirs:.0} ms; \
             start-up and client {oracle_startup_ms:.0} ms, not counted)"
        ),
        ratio: format!("{:.2}×", o / t),
        target: "— (AKHQ answers 504 at ~10,000 groups)".to_owned(),
    });
    app.stop().await?;
    Ok(())
}
