//! schemathesis (PyPI, pinned in `tests/schemathesis/requirements.txt`, installed by `cargo xtask
//! setup`) against the live backend, reading its own `GET /api/openapi.json`: every operation with
//! generated valid and invalid input, against the sandbox's Kubernetes, a real Prometheus scraping
//! it and a real PostgreSQL target, in local mode as an operator so the actions run their checks.
//! No answer may be a 5xx, and every answer must have a documented status, content type, headers
//! and schema; invalid input must be refused. Nothing is excluded: the emergency restart's real
//! run needs the namespace typed as confirmation, which generated bodies do not carry, so only its
//! plan and refusals are exercised.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use triage_sandbox::Incident;
use triage_shared::actions::{Job, Role};
use triage_shared::runbook::{RunStarted, RunbookSummary};
use triage_shared::{ErrorBody, ErrorKind};
use triage_tests::paths::{test_output_dir, workspace_root};
use triage_tests::{Postgres, Prometheus, TestApp, TestSandbox};

/// Cases per operation in the fuzzing phase (the examples, coverage and stateful phases add their
/// own), and the seed, so a failure is found again by the same run.
const MAX_EXAMPLES: u32 = 20;
const SEED: u64 = 20_261_201;
/// The whole run is stopped after this long (it takes about a minute on 2 cores).
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// Every check but three that judge what a schema cannot say here: whether a schema-valid request
/// must succeed (PromQL grammar, typed confirmations, configured range limits are the handlers'),
/// and authentication (any CSRF value is valid in local mode; there is one local user).
const EXCLUDED_CHECKS: &str = "positive_data_acceptance,ignored_auth,object_level_authorization";

/// Values the path parameters (and PromQL and selectors) are drawn from half of the time, so
/// generated requests reach real objects — and their answers' schemas are checked — as well as
/// being refused in words.
struct Known {
    namespaces: Vec<String>,
    names: Vec<String>,
    targets: Vec<String>,
    ids: Vec<String>,
    run_ids: Vec<String>,
}

/// The run's configuration (`schemathesis.toml`): the CSRF header on every request, one worker
/// (Python 3.11's `ast.parse`, which hypothesis calls, is not thread-safe), streams cut short
/// (they never end by design), and the known values.
fn config(known: &Known) -> String {
    let list = |values: &[String]| {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut text = format!(
        r#"seed = {SEED}
workers = 1
request-timeout = 10
max-stream-events = 2

[headers]
"x-triage-csrf" = "1"

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"

[reports]
directory = "{reports}"
[reports.junit]
enabled = true

[[operations]]
# Streams are cut after two events or 2 s (the request timeout is their total): a live query, a
# log or a rollout follows on by design.
include-path-regex = "/(live|rollout|follow|events)$"
request-timeout = 2
"#,
        reports = test_output_dir().join("schemathesis").display(),
    );
    let queries = ["up".to_owned(), "sum by (service) (up)".to_owned()];
    let selectors = ["app=stream-processor".to_owned()];
    let dictionaries: [(&str, &str, &[String]); 7] = [
        ("path.ns", "ns", &known.namespaces),
        ("path.name", "name", &known.names),
        ("path.target", "target", &known.targets),
        ("path.id", "id", &known.ids),
        ("path.run_id", "run_id", &known.run_ids),
        ("query.query", "promql", &queries),
        ("body.selector", "selector", &selectors),
    ];
    text.push_str("\n[parameters]\n");
    for (key, name, _) in &dictionaries {
        text.push_str(&format!("\"{key}\" = {{ dictionary = \"{name}\", probability = 0.5 }}\n"));
    }
    for (_, name, values) in &dictionaries {
        text.push_str(&format!("\n[dictionaries.{name}]\nvalues = {}\n", list(values)));
    }
    text
}

fn schemathesis_bin() -> Result<std::path::PathBuf> {
    let bin = workspace_root().join("target/tools/schemathesis/bin/schemathesis");
    if bin.exists() {
        Ok(bin)
    } else {
        bail!(
            "{} is missing: run `cargo xtask setup` (it installs tests/schemathesis/requirements.txt)",
            bin.display()
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_generated_input_as_documented() -> Result<()> {
    let bin = schemathesis_bin()?;
    let pg = Postgres::start().await?;
    // As a real target has it; the sandbox's workload creates it too, but only once it runs.
    pg.connect("postgres").await?.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await?;
    let sandbox = TestSandbox::start_with(Incident::Healthy, Some(pg.conninfo("postgres"))).await?;
    let prom = Prometheus::start(&[("sandbox", sandbox.sandbox.metrics_addr.to_string())]).await?;
    let mut settings = triage_tests::app::kubernetes_settings(&sandbox.kubeconfig, Role::Operator);
    settings.prometheus = Some(TestApp::prometheus_settings(&prom.url)?);
    settings.postgres = Some(pg.analysis_settings("postgres"));
    // A real broker with a topic and an idle group, so the Kafka operations answer from Kafka.
    let tansu = triage_tests::tansu::Tansu::start().await?;
    triage_tests::tansu::oracle(&tansu.bootstrap, &["create-topic", "events", "2"]).await?;
    triage_tests::tansu::oracle(&tansu.bootstrap, &["produce", "events", "4"]).await?;
    triage_tests::tansu::oracle(&tansu.bootstrap, &["consume", "idle-group", "events", "4"]).await?;
    settings.kafka = Some(serde_json::from_value(serde_json::json!({
        "bootstrap": tansu.bootstrap, "timeout_secs": 3, "allow_offset_reset": true,
    }))?);
    settings.runbooks.dir = workspace_root().join("runbooks");
    settings.runbooks.check_timeout_secs = 5;
    settings
        .runbooks
        .urls
        .insert("health".to_owned(), format!("{}/health", sandbox.sandbox.metrics_url).parse()?);
    let app = TestApp::start_with(settings).await?;

    // One run and one job to exist, so their ids are among the known values.
    let (status, started) =
        app.post_json("/api/runbooks/general-triage/runs", &serde_json::json!({"params": {}})).await?;
    anyhow::ensure!(status == 200, "starting a run answered {status}: {started}");
    let run: RunStarted = serde_json::from_value(started)?;
    let (status, job) = app
        .post_json(
            "/api/k8s/namespaces/streaming-analytics/emergency-restart",
            &serde_json::json!({"deployments": ["stream-processor"], "dry_run": true}),
        )
        .await?;
    anyhow::ensure!(status == 200, "an emergency restart's plan answered {status}: {job}");
    let job: Job = serde_json::from_value(job)?;
    let runbooks: Vec<RunbookSummary> = app.get_json("/api/runbooks").await?;
    let mut ids: Vec<String> = runbooks.into_iter().map(|r| r.id).collect();
    ids.push(job.id);
    let known = Known {
        namespaces: vec!["streaming-analytics".to_owned()],
        // Three deployments and a StatefulSet's pod, whose name does not change.
        names: ["stream-processor", "websocket-server", "ml-inference", "kafka-0"].map(str::to_owned).into(),
        targets: vec!["main".to_owned()],
        ids,
        run_ids: vec![run.run_id],
    };

    let work = tempfile::Builder::new().prefix("triage-schemathesis-").tempdir()?;
    let config_path = work.path().join("schemathesis.toml");
    std::fs::write(&config_path, config(&known))?;
    let url = app.url("/api/openapi.json");
    let started = Instant::now();
    let mut command = tokio::process::Command::new(&bin);
    command
        .arg("--config-file")
        .arg(&config_path)
        .args(["--no-color", "run", &url, "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS])
        .current_dir(work.path())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .with_context(|| format!("schemathesis ran longer than {} s", RUN_LIMIT.as_secs()))?
        .context("cannot run schemathesis")?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Its own summary line ("N generated, N passed") with the time, for RELIABILITY.md's figures.
    let cases = stdout.lines().find(|l| l.contains(" generated, ")).unwrap_or("no summary").trim();
    println!("{stdout}\n{stderr}\nschemathesis: {cases} in {:.1} s", elapsed.as_secs_f64());
    anyhow::ensure!(
        output.status.success(),
        "schemathesis found failures (exit {:?}); see above",
        output.status.code()
    );
    Ok(())
}

/// What schemathesis does not generate: numbers that parse but name no moment (`NaN`, `inf`,
/// `1e400`) where a time is wanted, and `/api/` itself. Each is refused in words, before any
/// upstream is asked (no Prometheus or PostgreSQL is configured here).
#[tokio::test]
async fn times_that_name_no_moment_and_the_bare_api_path_are_refused_in_words() -> Result<()> {
    let app = TestApp::start().await?;
    for (path, param) in [
        ("/api/prom/query?query=up&time=NaN", "time"),
        ("/api/prom/query?query=up&time=inf", "time"),
        ("/api/prom/series?match[]=up&start=1e400", "start"),
        ("/api/prom/series?match[]=up&end=-inf", "end"),
        ("/api/pg/main/diff?from_time=NaN", "from_time"),
        ("/api/pg/main/diff?from=1&to_time=inf", "to_time"),
    ] {
        let response = app.http.get(app.url(path)).send().await?;
        let status = response.status().as_u16();
        let body: ErrorBody = response.json().await.with_context(|| format!("{path}: not the error body"))?;
        assert_eq!((status, body.error.kind), (400, ErrorKind::BadRequest), "{path}: {body:?}");
        assert!(body.error.message.contains("is not a time"), "{path}: {}", body.error.message);
        let named = body.error.detail.as_ref().and_then(|d| d.get("param")).cloned();
        assert_eq!(named, Some(serde_json::json!(param)), "{path}");
    }
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response =
            app.http.request(method.clone(), app.url("/api/")).header("x-triage-csrf", "1").send().await?;
        let status = response.status().as_u16();
        let body: ErrorBody =
            response.json().await.with_context(|| format!("{method} /api/: not the error body"))?;
        assert_eq!((status, body.error.kind), (404, ErrorKind::NotFound), "{method} /api/");
    }
    Ok(())
}
