//! (12) Lighthouse 12, the field's yardstick: every page of the release frontend in its default
//! mobile profile (simulated slow 4G and a 4× slower CPU), in light and dark theme, against a
//! Triage reading the sandbox's Prometheus, Kubernetes, Kafka and a PostgreSQL with a workload;
//! Prometheus's own UI (`/graph` with a drawn graph) scored by the same Lighthouse in the same
//! run is the baseline.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use triage::config::{KafkaSettings, Settings};
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_tests::app::kubernetes_settings;
use triage_tests::paths::workspace_root;
use triage_tests::{Postgres, Prometheus, TestApp, TestSandbox};

use crate::Row;

/// Lighthouse runs per page and theme (`TRIAGE_LIGHTHOUSE_RUNS`, default 3); the median run (by
/// performance score) is reported.
fn runs() -> usize {
    std::env::var("TRIAGE_LIGHTHOUSE_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(3)
}

const PAGES: [&str; 10] = [
    "/",
    "/runbooks",
    "/runbooks/kafka-consumer-lag",
    "/alerts",
    "/explore",
    "/kubernetes",
    "/postgres",
    "/kafka",
    "/approvals",
    "/audit",
];

/// One Lighthouse report, reduced to what the table shows.
#[derive(Debug, Clone)]
struct Scores {
    performance: f64,
    accessibility: f64,
    best_practices: f64,
    lcp_ms: f64,
    tbt_ms: f64,
    /// Accessibility audits that did not pass, by id.
    failing: Vec<String>,
    /// The elements they failed on (selector and snippet), for the progress output.
    offenders: Vec<String>,
}

fn category(report: &Value, name: &str) -> Result<f64> {
    report["categories"][name]["score"]
        .as_f64()
        .with_context(|| format!("the Lighthouse report has no {name} score"))
}

fn scores(report: &Value) -> Result<Scores> {
    let accessibility_audits = report["categories"]["accessibility"]["auditRefs"]
        .as_array()
        .context("the Lighthouse report lists no accessibility audits")?;
    let failing = accessibility_audits
        .iter()
        .filter_map(|r| r["id"].as_str())
        .filter(|id| {
            let audit = &report["audits"][*id];
            // Scored audits only: `null` means not applicable, manual or informative.
            audit["scoreDisplayMode"].as_str() == Some("binary") && audit["score"].as_f64() != Some(1.0)
        })
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let offenders = failing
        .iter()
        .flat_map(|id| {
            report["audits"][id.as_str()]["details"]["items"].as_array().into_iter().flatten().map(
                move |item| {
                    let node = &item["node"];
                    format!(
                        "{id}: {} {} {}",
                        node["selector"].as_str().unwrap_or_default(),
                        node["snippet"].as_str().unwrap_or_default(),
                        node["explanation"].as_str().unwrap_or_default().replace('\n', " ")
                    )
                },
            )
        })
        .collect();
    Ok(Scores {
        performance: category(report, "performance")?,
        accessibility: category(report, "accessibility")?,
        best_practices: category(report, "best-practices")?,
        lcp_ms: report["audits"]["largest-contentful-paint"]["numericValue"].as_f64().unwrap_or(f64::NAN),
        tbt_ms: report["audits"]["total-blocking-time"]["numericValue"].as_f64().unwrap_or(f64::NAN),
        failing,
        offenders,
    })
}

/// Runs Lighthouse once on `url`, in the dark theme when `dark`.
fn lighthouse(cli: &Path, url: &str, dark: bool, out: &Path) -> Result<Scores> {
    let scheme = if dark { 0 } else { 1 };
    let status = Command::new("node")
        .arg(cli)
        .arg(url)
        .args([
            "--quiet",
            "--output=json",
            "--only-categories=performance,accessibility,best-practices",
            &format!("--output-path={}", out.display()),
            &format!(
                "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
                 --blink-settings=preferredColorScheme={scheme}"
            ),
        ])
        .env("CHROME_PATH", "/usr/bin/chromium")
        .status()
        .context("cannot start node with Lighthouse")?;
    if !status.success() {
        bail!("Lighthouse failed on {url} ({status})");
    }
    let report: Value = serde_json::from_slice(&std::fs::read(out)?)
        .with_context(|| format!("cannot read Lighthouse's report {}", out.display()))?;
    if let Some(error) = report["runtimeError"]["message"].as_str() {
        bail!("Lighthouse on {url}: {error}");
    }
    scores(&report)
}

/// The median of `RUNS` runs by performance score.
fn median_run(cli: &Path, url: &str, dark: bool, out: &Path) -> Result<Scores> {
    let mut runs = Vec::new();
    for _ in 0..self::runs() {
        runs.push(lighthouse(cli, url, dark, out)?);
    }
    runs.sort_by(|a, b| a.performance.total_cmp(&b.performance));
    Ok(runs.swap_remove(runs.len() / 2))
}

fn summary(s: &Scores) -> String {
    format!(
        "perf {:.2}, a11y {:.2}, best practices {:.2}; LCP {:.1} s, TBT {:.0} ms{}",
        s.performance,
        s.accessibility,
        s.best_practices,
        s.lcp_ms / 1000.0,
        s.tbt_ms,
        if s.failing.is_empty() { String::new() } else { format!("; failing: {}", s.failing.join(", ")) }
    )
}

pub async fn lighthouse_pages(rows: &mut Vec<Row>) -> Result<()> {
    println!("(12) Lighthouse, every page in light and dark theme…");
    let cli = workspace_root().join("tools/bench/node_modules/lighthouse/cli/index.js");
    anyhow::ensure!(
        cli.exists(),
        "Lighthouse is not installed in tools/bench (cargo xtask bench installs it)"
    );
    let pg = Postgres::start().await?;
    let sb = TestSandbox::start_with(Incident::ConsumerLag, Some(pg.conninfo("postgres"))).await?;
    let prom = Prometheus::start(&[("sandbox", sb.sandbox.metrics_addr.to_string())]).await?;
    let mut settings: Settings = kubernetes_settings(&sb.kubeconfig, Role::Reader);
    settings.prometheus = Some(TestApp::prometheus_settings(&prom.url)?);
    settings.postgres = Some(pg.analysis_settings("postgres"));
    let kafka: KafkaSettings =
        serde_json::from_value(serde_json::json!({ "bootstrap": sb.sandbox.kafka_bootstrap }))?;
    settings.kafka = Some(kafka);
    settings.runbooks.dir = workspace_root().join("runbooks");
    let app = TestApp::start_with(settings).await?;
    // A few scrapes and workload rounds, so that every page has data to show.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("report.json");

    let baseline_url = format!("{}/graph?g0.expr=up&g0.tab=0", prom.url);
    let theirs =
        [median_run(&cli, &baseline_url, false, &out)?, median_run(&cli, &baseline_url, true, &out)?];
    println!("    Prometheus UI: light {} | dark {}", summary(&theirs[0]), summary(&theirs[1]));
    let baseline = format!(
        "Prometheus UI `/graph`: perf {:.2}/{:.2}, a11y {:.2}/{:.2}, LCP {:.1} s",
        theirs[0].performance,
        theirs[1].performance,
        theirs[0].accessibility,
        theirs[1].accessibility,
        theirs[0].lcp_ms / 1000.0
    );
    for page in PAGES {
        let url = app.url(page);
        let ours = [median_run(&cli, &url, false, &out)?, median_run(&cli, &url, true, &out)?];
        println!("    {page}: light {} | dark {}", summary(&ours[0]), summary(&ours[1]));
        for o in ours.iter().flat_map(|s| &s.offenders) {
            println!("      {o}");
        }
        rows.push(Row {
            figure: format!("(12) Lighthouse mobile, `{page}` (light / dark, median of {})", runs()),
            measured: format!("light: {} — dark: {}", summary(&ours[0]), summary(&ours[1])),
            baseline: baseline.clone(),
            ratio: format!("LCP {:.2}× Prometheus UI's", ours[0].lcp_ms / theirs[0].lcp_ms),
            target: "perf ≥ 0.95, a11y 1.0 in both themes".to_owned(),
        });
    }
    app.stop().await?;
    Ok(())
}
