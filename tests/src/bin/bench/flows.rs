//! (7) "Diagnose all": a ten-check flow's wall time against its slowest single check, both taken
//! from the same runs, against the sandbox, a real Prometheus scraping it and its health
//! endpoints. The flow is the shipped `general-triage` (eight checks) with two more steps of the
//! shipped kinds (`k8s-logs`, `k8s-deployment`), so all six cluster-facing kinds run at once.
//! Measured twice: over loopback, and with 20 ms added to every answer of Prometheus and of the
//! Kubernetes API (the harness's TCP proxy), as when Triage runs in another cluster or zone.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_shared::runbook::{RunStarted, RunState, StepState};
use triage_tests::paths::workspace_root;
use triage_tests::proxy::{Fault, TcpProxy};
use triage_tests::{Prometheus, TestApp, TestSandbox};

use super::{Row, median};

const FLOW: &str = "general-triage";

const EXTRA_STEPS: &str = r#"  - id: processor-log-errors
    title: Errors in the stream processors' logs
    explanation: Lines that name a failure in the last 300 lines of each stream processor.
    check:
      kind: k8s-logs
      namespace: "{{namespace}}"
      selector: app=stream-processor
      pattern: (?i)error|exception|timed out
      tail: 300
    rules:
      - op: above
        threshold: 20
        verdict: warning
        message: many error lines
    points_to: [processing-errors]
  - id: processor-rollout
    title: Stream processor rollout
    explanation: Replicas ready against desired, and when the last rollout started.
    check:
      kind: k8s-deployment
      namespace: "{{namespace}}"
      name: stream-processor
    rules:
      - metric: unavailable
        op: above
        threshold: 0
        verdict: warning
        message: replicas are unavailable
    points_to: [failing-pods]
"#;

/// `general-triage` with [`EXTRA_STEPS`] added, in a folder of its own.
fn ten_check_runbooks() -> Result<tempfile::TempDir> {
    let shipped = std::fs::read_to_string(workspace_root().join(format!("runbooks/{FLOW}.yaml")))?;
    let (steps, causes) = shipped.split_once("\ncauses:\n").context("the flow has no causes section")?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join(format!("{FLOW}.yaml")),
        format!("{steps}\n{EXTRA_STEPS}causes:\n{causes}"),
    )?;
    Ok(dir)
}

pub async fn diagnose_all(rows: &mut Vec<Row>) -> Result<()> {
    println!("(7) diagnose all: starting the sandbox and Prometheus…");
    let sandbox = TestSandbox::start(Incident::HighCpu).await?;
    let prom = Prometheus::start(&[("sandbox", sandbox.sandbox.metrics_addr.to_string())]).await?;
    let runbooks = ten_check_runbooks()?;
    tokio::time::sleep(Duration::from_secs(5)).await; // a few scrapes, so the checks have data

    for added in [None, Some(Duration::from_millis(20))] {
        // The proxies stay idle (no fault) over loopback, so both variants take the same path.
        let prom_proxy = TcpProxy::start(vec![prom.url.trim_start_matches("http://").parse()?]).await?;
        let api_proxy =
            TcpProxy::start(vec![sandbox.sandbox.api_url.trim_start_matches("http://").parse()?]).await?;
        if let Some(latency) = added {
            prom_proxy.set_fault(Fault::Latency(latency));
            api_proxy.set_fault(Fault::Latency(latency));
        }
        let kubeconfig = runbooks.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            std::fs::read_to_string(&sandbox.kubeconfig)?
                .replace(&sandbox.sandbox.api_url, &format!("http://{}", api_proxy.addr)),
        )?;
        let mut settings = triage_tests::app::kubernetes_settings(&kubeconfig, Role::Reader);
        let mut prometheus = TestApp::prometheus_settings(&format!("http://{}", prom_proxy.addr))?;
        prometheus.cache_ttl_ms = 0; // every run asks Prometheus afresh
        settings.prometheus = Some(prometheus);
        settings.runbooks.dir = runbooks.path().to_owned();
        settings
            .runbooks
            .urls
            .insert("health".to_owned(), format!("{}/health", sandbox.sandbox.metrics_url).parse()?);
        let app = TestApp::start_with(settings).await?;
        let where_ = match added {
            None => "over loopback".to_owned(),
            Some(l) => format!("with {} ms added to each upstream answer", l.as_millis()),
        };
        println!("(7) diagnose all, {where_}…");

        let (mut totals, mut slowest, mut sums) = (Vec::new(), Vec::new(), Vec::new());
        let mut checks = 0;
        for i in 0..23 {
            let run = run_once(&app).await?;
            let durations: Vec<f64> = run
                .steps
                .iter()
                .filter_map(|(_, s)| match s {
                    StepState::Done { result } => Some(result.duration_ms),
                    _ => None,
                })
                .collect();
            anyhow::ensure!(durations.len() == run.steps.len(), "a check of the run did not finish");
            checks = durations.len();
            let total = (run.finished_at.unwrap_or(run.started_at) - run.started_at) * 1000.0;
            if i >= 3 {
                totals.push(total);
                slowest.push(durations.iter().copied().fold(0.0, f64::max));
                sums.push(durations.iter().sum());
            }
        }
        let (total, slow, sum) = (median(totals), median(slowest), median(sums));
        println!(
            "(7) {checks} checks: run {total:.1} ms, slowest check {slow:.1} ms, all in turn {sum:.1} ms"
        );
        rows.push(Row {
            figure: format!("(7) diagnose all, {checks} checks, start to last verdict, {where_}"),
            measured: format!("{total:.1} ms"),
            baseline: format!(
                "{slow:.1} ms slowest check of the same run ({sum:.1} ms for all checks one after another)"
            ),
            ratio: format!("{:.2}×", total / slow),
            target: "≤ 1.2×".to_owned(),
        });
        app.stop().await?;
    }
    Ok(())
}

async fn run_once(app: &TestApp) -> Result<RunState> {
    let params = serde_json::json!({"params": {"rate_window": "1m"}});
    let (status, body) = app.post_json(&format!("/api/runbooks/{FLOW}/runs"), &params).await?;
    anyhow::ensure!(status == 200, "starting {FLOW} answered {status}: {body}");
    let started: RunStarted = serde_json::from_value(body)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state: RunState = app.get_json(&format!("/api/runs/{}", started.run_id)).await?;
        if state.finished_at.is_some() {
            return Ok(state);
        }
        anyhow::ensure!(Instant::now() < deadline, "the run did not finish in 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
