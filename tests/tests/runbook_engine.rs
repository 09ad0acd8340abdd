//! The runbook engine against the sandbox, a real Prometheus scraping it and (for the database
//! incidents and `healthy`) a real PostgreSQL under the sandbox's workload: for each of twelve
//! incidents the matching flow's top-ranked cause is the injected one; in `healthy` no flow ranks
//! a critical cause and no check errors; with Prometheus stopped its checks are `error` while the others complete; the
//! events stream and the Markdown report carry the verdicts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_shared::runbook::{RunEvent, RunStarted, RunState, RunbookSummary, StepState, Verdict};
use triage_tests::paths::workspace_root;
use triage_tests::sse::SseReader;
use triage_tests::{Postgres, Prometheus, TestApp, TestSandbox};

/// A sandbox in one incident, a Prometheus scraping it every second, and Triage reading both.
struct Env {
    app: TestApp,
    prom: Prometheus,
    sandbox: TestSandbox,
    /// The database the sandbox's workload runs against, when the incident needs one.
    _pg: Option<Postgres>,
}

fn settings(sandbox: &TestSandbox, prom_url: &str) -> Result<Settings> {
    let mut settings = triage_tests::app::kubernetes_settings(&sandbox.kubeconfig, Role::Admin);
    settings.prometheus = Some(triage::config::PrometheusSettings {
        timeout_secs: 5,
        ..TestApp::prometheus_settings(prom_url)?
    });
    settings.runbooks.dir = workspace_root().join("runbooks");
    settings.runbooks.check_timeout_secs = 10;
    // Kafka first-hand, from the sandbox's brokers; Secret and key existence for the client's
    // settings.
    settings.kafka = Some(serde_json::from_value(serde_json::json!({
        "bootstrap": sandbox.sandbox.kafka_bootstrap, "timeout_secs": 3,
    }))?);
    if let Some(k) = settings.kubernetes.as_mut() {
        k.list_secret_names = true;
        k.check_secret_keys = true;
    }
    settings
        .runbooks
        .urls
        .insert("health".to_owned(), format!("{}/health", sandbox.sandbox.metrics_url).parse()?);
    Ok(settings)
}

impl Env {
    async fn start(incident: Incident) -> Result<Self> {
        let sandbox = TestSandbox::start(incident).await?;
        let prom = Prometheus::start(&[("sandbox", sandbox.sandbox.metrics_addr.to_string())]).await?;
        let app = TestApp::start_with(settings(&sandbox, &prom.url)?).await?;
        Ok(Self { app, prom, sandbox, _pg: None })
    }

    /// Like [`Env::start`], with the sandbox's workload on a real PostgreSQL that Triage analyses.
    async fn start_with_postgres(incident: Incident) -> Result<Self> {
        let pg = Postgres::start().await?;
        let sandbox = TestSandbox::start_with(incident, Some(pg.conninfo("postgres"))).await?;
        let prom = Prometheus::start(&[("sandbox", sandbox.sandbox.metrics_addr.to_string())]).await?;
        let mut settings = settings(&sandbox, &prom.url)?;
        settings.postgres = Some(pg.analysis_settings("postgres"));
        let app = TestApp::start_with(settings).await?;
        Ok(Self { app, prom, sandbox, _pg: Some(pg) })
    }

    /// Starts a run with short windows (the sandbox's history is seconds old) and waits for it.
    async fn run(&self, runbook: &str) -> Result<RunState> {
        let params = serde_json::json!({"params": {"window": "1m", "rate_window": "20s"}});
        let (status, body) = self.app.post_json(&format!("/api/runbooks/{runbook}/runs"), &params).await?;
        anyhow::ensure!(status == 200, "starting {runbook} answered {status}: {body}");
        let started: RunStarted = serde_json::from_value(body)?;
        self.wait(&started.run_id).await
    }

    async fn wait(&self, run_id: &str) -> Result<RunState> {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let state: RunState = self.app.get_json(&format!("/api/runs/{run_id}")).await?;
            if state.finished_at.is_some() {
                return Ok(state);
            }
            if Instant::now() > deadline {
                bail!("run {run_id} did not finish: {state:#?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn describe(state: &RunState) -> String {
    let mut out = format!("run of {}:\n", state.runbook);
    for (id, step) in &state.steps {
        if let StepState::Done { result } = step {
            out.push_str(&format!("  {id}: {:?} — {}\n", result.verdict, result.summary));
        }
    }
    for c in &state.causes {
        out.push_str(&format!(
            "  cause {} score {} ({:?}) from {:?}\n",
            c.cause, c.score, c.verdict, c.evidence
        ));
    }
    out
}

/// Waits until Prometheus has `seconds` of the sandbox's samples, so rates over 20 s are real.
async fn wait_for_history(prom: &Prometheus, seconds: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    loop {
        let data = prom
            .query(&format!(
                "count_over_time(up{{job=\"sandbox\", service=\"stream-processor\"}}[{seconds}s])"
            ))
            .await?;
        let have = data["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        if have >= seconds as f64 * 0.9 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("Prometheus has only {have} samples of the sandbox after waiting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One incident: its flow's top cause must be the injected one.
async fn check_incident(incident: Incident, runbook: &'static str, expected: &'static str) -> Result<String> {
    let env = if matches!(incident, Incident::PoolExhaustion | Incident::SlowQueries) {
        Env::start_with_postgres(incident).await?
    } else {
        Env::start(incident).await?
    };
    if incident == Incident::ModelLoading {
        // Running pods keep their model; the failure shows when new pods must load it.
        env.sandbox
            .kubectl(&["rollout", "restart", "deployment/ml-inference", "-n", "streaming-analytics"])
            .await?;
    }
    wait_for_history(&env.prom, 25).await?;
    let state = env.run(runbook).await?;
    let text = describe(&state);
    let top = state.causes.first().with_context(|| format!("{incident}: no cause ranked\n{text}"))?;
    anyhow::ensure!(
        top.cause == expected,
        "{incident}: top cause is {} instead of {expected}\n{text}",
        top.cause
    );
    anyhow::ensure!(
        matches!(top.verdict, Verdict::Critical),
        "{incident}: the injected cause should be supported by a critical verdict\n{text}"
    );
    // The fixes come with the run's values in place, ready to show or to apply.
    let fixes = state.fixes.get(expected).with_context(|| format!("{incident}: no fixes for {expected}"))?;
    anyhow::ensure!(!fixes.is_empty(), "{incident}: the top cause offers no fix");
    let json = serde_json::to_string(&state.fixes)?;
    anyhow::ensure!(!json.contains("{{"), "{incident}: unresolved placeholder in the fixes: {json}");
    // The Kafka checks read the incident first-hand.
    let step = |id: &str| state.steps.iter().find(|(s, _)| s == id).map(|(_, s)| s);
    let verdict = |id: &str| match step(id) {
        Some(StepState::Done { result }) => Some(result.verdict),
        _ => None,
    };
    let evidence = |id: &str| match step(id) {
        Some(StepState::Done { result }) => serde_json::to_string(&result.evidence).unwrap_or_default(),
        _ => String::new(),
    };
    let kafka_steps: &[(&str, Verdict)] = match incident {
        Incident::KafkaConnection => &[
            ("broker-reachability", Verdict::Critical),
            ("topic-leaders", Verdict::Critical),
            ("client-kafka-settings", Verdict::Critical),
        ],
        Incident::PartitionImbalance => &[("partition-leaders", Verdict::Critical)],
        Incident::ConsumerLag => &[("partition-leaders", Verdict::Ok)],
        _ => &[],
    };
    for (id, expected) in kafka_steps {
        anyhow::ensure!(
            verdict(id) == Some(*expected),
            "{incident}: step {id} should be {expected:?}\n{text}"
        );
    }
    if incident == Incident::KafkaConnection {
        let settings = evidence("client-kafka-settings");
        anyhow::ensure!(
            settings.contains("KAFKA_SASL_PASSWORD") && settings.contains("has no key kafka-password"),
            "the missing key is named: {settings}"
        );
        anyhow::ensure!(
            !settings.contains("bm90LWEtcmVhbC1wYXNzd29yZA"),
            "a Secret value reached the evidence"
        );
        anyhow::ensure!(evidence("topic-leaders").contains("partition 7"), "{}", evidence("topic-leaders"));
    }
    if incident == Incident::ConsumerLag {
        assert!(json.contains(r#""action":"scale","namespace":"streaming-analytics","deployment":"stream-processor","replicas":"12""#), "{json}");
    }
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_incident_ranks_its_injected_cause_first() -> Result<()> {
    let started = Instant::now();
    let cases = [
        (Incident::ConsumerLag, "kafka-consumer-lag", "insufficient-consumers"),
        (Incident::PartitionImbalance, "kafka-consumer-lag", "partition-imbalance"),
        (Incident::KafkaConnection, "kafka-connection", "authentication"),
        (Incident::WebsocketDrops, "websocket-drops", "client-keepalive"),
        (Incident::WebsocketMemory, "websocket-memory", "connection-state-leak"),
        (Incident::MlLatency, "ml-latency", "batching"),
        (Incident::ModelLoading, "ml-model-loading", "registry-unreachable"),
        (Incident::HighCpu, "high-cpu", "cpu-saturation"),
        (Incident::MemoryLeak, "memory-leak", "memory-leak"),
        (Incident::ErrorRate, "high-error-rate", "bad-input"),
        (Incident::PoolExhaustion, "db-pool-exhaustion", "connection-leak"),
        (Incident::SlowQueries, "db-slow-queries", "missing-index"),
    ];
    let runs = cases.map(|(incident, runbook, cause)| tokio::spawn(check_incident(incident, runbook, cause)));
    let mut failures = Vec::new();
    for (run, (incident, ..)) in futures::future::join_all(runs).await.into_iter().zip(cases) {
        match run {
            Ok(Ok(text)) => eprintln!("{incident} ok:\n{text}"),
            Ok(Err(e)) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(format!("{incident}: task failed: {e}")),
        }
    }
    eprintln!("{} incidents in {:.1} s", cases.len(), started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthy_platform_ranks_nothing_critical_in_any_flow() -> Result<()> {
    let env = Env::start_with_postgres(Incident::Healthy).await?;
    let list: Vec<RunbookSummary> = env.app.get_json("/api/runbooks").await?;
    assert_eq!(list.len(), 14, "all shipped flows are served");
    wait_for_history(&env.prom, 25).await?;
    let mut problems = Vec::new();
    for summary in &list {
        let state = env.run(&summary.id).await?;
        let text = describe(&state);
        if state.causes.iter().any(|c| c.verdict == Verdict::Critical) {
            problems.push(format!("healthy, yet a critical cause:\n{text}"));
        }
        for (id, step) in &state.steps {
            match step {
                StepState::Done { result } if result.verdict == Verdict::Error => {
                    problems.push(format!("{}: step {id} errored: {}", summary.id, result.summary));
                }
                StepState::Done { .. } => {}
                other => problems.push(format!("{}: step {id} not done: {other:?}", summary.id)),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_down_errors_its_checks_only_and_the_report_and_stream_carry_the_verdicts() -> Result<()> {
    let mut env = Env::start(Incident::Healthy).await?;
    wait_for_history(&env.prom, 5).await?;
    env.prom.stop();
    let started = Instant::now();
    let (status, body) = env
        .app
        .post_json(
            "/api/runbooks/general-triage/runs",
            &serde_json::json!({"params": {"rate_window": "20s"}}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let run: RunStarted = serde_json::from_value(body)?;

    // The stream: everything from the start, each check once, ending after `finished`.
    let mut sse =
        SseReader::connect(&env.app.http, &env.app.url(&format!("/api/runs/{}/events", run.run_id))).await?;
    let mut events = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(30), sse.next()).await?? {
        events.push(serde_json::from_str::<RunEvent>(&e.data)?);
    }
    assert!(matches!(events.first(), Some(RunEvent::Started { .. })), "{events:?}");
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })), "the stream ends after finished");
    let finished: Vec<&RunEvent> =
        events.iter().filter(|e| matches!(e, RunEvent::CheckFinished { .. })).collect();
    assert_eq!(finished.len(), 8, "one result per step");
    assert!(started.elapsed() < Duration::from_secs(20), "an unreachable Prometheus must not stall the run");

    let state = env.wait(&run.run_id).await?;
    let text = describe(&state);
    let mut verdicts = BTreeMap::new();
    for (id, step) in &state.steps {
        let StepState::Done { result } = step else { panic!("{id} not done\n{text}") };
        verdicts.insert(id.clone(), (result.verdict, result.error.clone()));
    }
    for promql in ["error-rate", "processing-latency", "consumer-lag", "processing-rate"] {
        let (verdict, error) = &verdicts[promql];
        assert_eq!(*verdict, Verdict::Error, "{promql} should error with Prometheus down\n{text}");
        assert!(error.as_ref().is_some_and(|e| e.message.contains("Prometheus")), "{promql}: {error:?}");
    }
    for other in ["pod-status", "resources", "health-endpoints", "oom-events"] {
        let (verdict, _) = &verdicts[other];
        assert!(
            matches!(verdict, Verdict::Ok | Verdict::Warning | Verdict::Critical),
            "{other} does not depend on Prometheus and must complete\n{text}"
        );
    }
    assert_eq!(verdicts["health-endpoints"].0, Verdict::Ok, "{text}");

    // A late subscriber gets the whole run again, and the stream ends.
    let mut late =
        SseReader::connect(&env.app.http, &env.app.url(&format!("/api/runs/{}/events", run.run_id))).await?;
    let mut replayed = 0;
    while let Some(_e) = tokio::time::timeout(Duration::from_secs(10), late.next()).await?? {
        replayed += 1;
    }
    assert_eq!(replayed, events.len(), "late subscribers get every event so far");

    // Before any action, the report's action section says so and names no action.
    let row = "| local | — | scale | deployment/streaming-analytics/stream-processor | — | Succeeded |";
    let report_url = env.app.url(&format!("/api/runs/{}/report.md", run.run_id));
    let before = env.app.http.get(&report_url).send().await?.error_for_status()?.text().await?;
    let actions_before = before.split("## Actions taken since the run started").nth(1).unwrap_or_default();
    assert!(actions_before.contains("None recorded in the audit log."), "{before}");
    assert!(!actions_before.contains("| scale |"), "no action yet:\n{before}");

    // An action taken after the run started, in its namespace, appears in the report.
    let (status, body) = env
        .app
        .post_json(
            "/api/k8s/namespaces/streaming-analytics/deployments/stream-processor/scale",
            &serde_json::json!({"replicas": 7}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");

    // The report has the parameters, every verdict with its summary, and the timestamps.
    let response = env.app.http.get(&report_url).send().await?;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str()?.starts_with("text/markdown"));
    let report = response.text().await?;
    for needle in [
        "# Incident report: General triage",
        "| rate\\_window | `20s` |", // text is escaped for Markdown: renders as rate_window
        "| Pod status | ",
        "ERROR",
        "Started:",
        "Finished:",
        "## Actions taken since the run started",
    ] {
        assert!(report.contains(needle), "report lacks {needle:?}:\n{report}");
    }
    // The action itself: who did what to which target, and how it went.
    let actions = report.split("## Actions taken since the run started").nth(1).unwrap_or_default();
    assert!(actions.lines().any(|l| l.ends_with(row)), "report lacks the scale action {row:?}:\n{report}");
    assert!(!actions.contains("None recorded in the audit log."), "{report}");
    for (id, step) in &state.steps {
        let StepState::Done { result } = step else { continue };
        let word = format!("{:?}", result.verdict).to_uppercase();
        assert!(report.contains(&word), "report lacks the verdict of {id}:\n{report}");
    }

    // Unknown run and runbook ids answer 404 in words; bad parameters 400 naming them.
    let missing = env.app.http.get(env.app.url("/api/runs/nope")).send().await?;
    assert_eq!(missing.status(), 404);
    let (status, body) = env.app.post_json("/api/runbooks/no-such-flow/runs", &serde_json::json!({})).await?;
    assert_eq!(status, 404, "{body}");
    let (status, body) = env
        .app
        .post_json("/api/runbooks/memory-leak/runs", &serde_json::json!({"params": {"deployment": "../etc"}}))
        .await?;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("deployment")), "{body}");
    let (status, body) = env
        .app
        .post_json(
            "/api/runbooks/memory-leak/runs",
            &serde_json::json!({"params": {"window": "5m] or vector(1)"}}),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("window")), "{body}");
    drop(env.sandbox);
    Ok(())
}
