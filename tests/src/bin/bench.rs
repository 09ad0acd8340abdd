//! `cargo xtask bench`: Triage's benchmarks, each figure next to a baseline measured in the same
//! run on the same machine, printed as a ratio. Medians over repeated runs after a warm-up.
//!
//! (a) query latency through the release backend (its own process) vs the same request sent
//!     straight to Prometheus, for a small, a dashboard-size and a large answer;
//! (b) upstream Prometheus queries per refresh with 1, 50, 200 and 1,000 live viewers against as
//!     many viewers polling Prometheus themselves (counted by Prometheus itself, with its CPU time);
//! (c) chart draw time in headless Chromium vs uPlot drawing the same data in the same browser;
//! (d) PostgreSQL analysis over 5,000 distinct statements (top 50 + snapshot diff), end to end
//!     from the client, vs the same top 50 and a diff of two snapshot tables done in SQL;
//! (d2) index advice over 5,000 statements, parse-only and verified by the planner (HypoPG), vs
//!     the same reads in SQL and vs one hypothetical index per candidate, with PostgreSQL's own
//!     planning time as the floor;
//! (e) Kafka: 502 consumer groups listed with their lag through Triage vs confluent-kafka's
//!     AdminClient doing the same work;
//! (11) environments: Overview and the merged Alerts page with ten environments against one,
//!     and with one environment's Prometheus hung;
//! (12) Lighthouse's mobile profile on every page in light and dark theme, against Prometheus's UI.
//!
//! `triage-bench postgres` (or `bundle`, `first-load`, `proxy`, `fanout`, `chart`, `memory`,
//! `diagnose-all`, `large-cluster`, `throughput`, `index-advice`, `kafka`, `environments`, `lighthouse`) runs only the
//! named groups.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fantoccini::Locator;
use triage_shared::pg::{DiffReport, SnapshotInfo, StatementsReport};
use triage_shared::prom::LiveUpdate;
use triage_tests::paths::{require_frontend, workspace_root};
use triage_tests::sse::SseReader;
use triage_tests::{Browser, Postgres, Prometheus, TestApp};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[path = "bench/advice.rs"]
mod advice;
#[path = "bench/environments.rs"]
mod environments;
#[path = "bench/flows.rs"]
mod flows;
#[path = "bench/kafka.rs"]
mod kafka;
#[path = "bench/lighthouse.rs"]
mod lighthouse;
#[path = "bench/platform.rs"]
mod platform;
#[path = "bench/proxy.rs"]
mod proxy;

fn median(v: Vec<f64>) -> f64 {
    percentile(&sorted(v), 0.5)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

struct Row {
    figure: String,
    measured: String,
    baseline: String,
    ratio: String,
    target: String,
}

/// Waits until Prometheus has answered no range query for 2.5 s (the live loops poll every
/// second), so that a round counts only its own viewers' queries, not a previous loop's last ones.
async fn prometheus_quiet(prom: &Prometheus) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = prom.handler_requests("/api/v1/query_range").await?;
    loop {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let now = prom.handler_requests("/api/v1/query_range").await?;
        if now == last {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "Prometheus kept receiving range queries for 60 s");
        last = now;
    }
}

/// Once Prometheus is quiet, its range queries answered and CPU seconds so far.
async fn quiet_counters(prom: &Prometheus) -> Result<(f64, f64)> {
    prometheus_quiet(prom).await?;
    Ok((prom.handler_requests("/api/v1/query_range").await?, prometheus_cpu(prom).await?))
}

/// Prometheus's own CPU time so far, in seconds (`process_cpu_seconds_total`).
async fn prometheus_cpu(prom: &Prometheus) -> Result<f64> {
    let text = reqwest::get(format!("{}/metrics", prom.url)).await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
        .context("Prometheus reports no process_cpu_seconds_total")
}

/// (b) N viewers of one live chart through Triage against the measured baseline: the same N
/// people each polling the same range query straight from Prometheus once a second, for as
/// many refreshes. Both count the queries Prometheus itself says it answered, and its CPU time.
async fn bench_fanout(app: &TestApp, prom: &Prometheus, rows: &mut Vec<Row>) -> Result<()> {
    const REFRESHES: usize = 5;
    for (round, viewers) in [1usize, 50, 200, 1_000].into_iter().enumerate() {
        println!("(b) fan-out: {viewers} viewers…");
        let query = format!("sum(rate(prometheus_http_requests_total[1m])) + {round}");
        let url = app.url(&format!(
            "/api/live?query={}&step=1&window=60&interval=1",
            query
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                })
                .collect::<String>()
        ));
        let (before, cpu_before) = quiet_counters(prom).await?;
        let mut tasks = Vec::new();
        for _ in 0..viewers {
            let http = app.http.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut reader = SseReader::connect(&http, &url).await?;
                let mut seen = Vec::new();
                while seen.len() < REFRESHES {
                    let event = tokio::time::timeout(Duration::from_secs(30), reader.next())
                        .await??
                        .context("stream ended")?;
                    let update: LiveUpdate = serde_json::from_str(&event.data)?;
                    seen.push(update.fetched_at.to_bits());
                }
                anyhow::Ok(seen)
            }));
        }
        let mut refreshes = BTreeSet::new();
        for t in tasks {
            refreshes.extend(t.await??);
        }
        let upstream = prom.handler_requests("/api/v1/query_range").await? - before;
        let cpu = prometheus_cpu(prom).await? - cpu_before;
        let per_refresh = upstream / refreshes.len() as f64;

        // The baseline: every viewer polls Prometheus itself.
        let (before, cpu_before) = quiet_counters(prom).await?;
        let mut tasks = Vec::new();
        for _ in 0..viewers {
            let http = app.http.clone();
            let (url, query) = (format!("{}/api/v1/query_range", prom.url), query.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut failed = 0usize;
                for _ in 0..REFRESHES {
                    tick.tick().await;
                    let end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
                    let (start, end) = ((end - 60).to_string(), end.to_string());
                    let answer = http
                        .get(&url)
                        .query(&[("query", query.as_str()), ("start", &start), ("end", &end), ("step", "1")])
                        .send()
                        .await;
                    // Prometheus serves 512 connections by default: with more pollers some wait
                    // past the client's timeout. Those are counted, not fatal.
                    let answered = match answer {
                        Ok(a) => a.status().is_success() && a.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if !answered {
                        failed += 1;
                    }
                }
                anyhow::Ok(failed)
            }));
        }
        let mut failed = 0;
        for t in tasks {
            failed += t.await??;
        }
        let direct = prom.handler_requests("/api/v1/query_range").await? - before;
        let direct_cpu = prometheus_cpu(prom).await? - cpu_before;
        let direct_per_refresh = direct / REFRESHES as f64;
        rows.push(Row {
            figure: format!("(b) upstream queries per refresh, {viewers} viewers (Prometheus's CPU time)"),
            measured: format!(
                "{per_refresh:.2} ({upstream:.0} queries / {} refreshes; {:.2} s CPU)",
                refreshes.len(),
                cpu
            ),
            baseline: format!(
                "{direct_per_refresh:.2} ({direct:.0} queries / {REFRESHES} polls each; {direct_cpu:.2} s CPU; \
                 {failed} polls failed or timed out), every viewer polling Prometheus"
            ),
            ratio: format!("{:.3}×", per_refresh / direct_per_refresh),
            target: "exactly 1 per refresh".to_owned(),
        });
    }
    Ok(())
}

/// (c) The chart's redraw with new data against uPlot's `setData`, like for like: both build
/// the chart once, then each redraw is timed until the canvas has its pixels (a 1-pixel
/// `getImageData`), the same data (S series of N/S points, alternating two phases), the same
/// canvas size, at device pixel ratios 1 and 2, in the same browser.
async fn bench_chart(app: &TestApp, rows: &mut Vec<Row>) -> Result<()> {
    const RUNS: usize = 9;
    let uplot_dir = workspace_root().join("tools/node_modules/uplot");
    let uplot = std::fs::read_to_string(uplot_dir.join("dist/uPlot.iife.min.js"))
        .with_context(|| format!("{} missing; run `cargo xtask setup`", uplot_dir.display()))?;
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(uplot_dir.join("package.json"))?)?;
    let version = package["version"].as_str().unwrap_or("?").to_owned();
    for ratio in [1.0, 2.0] {
        let browser = Browser::start_scaled(ratio).await?;
        for series in [1usize, 10, 50] {
            for points in [1_000usize, 10_000, 100_000, 1_000_000] {
                println!("(c) chart: {points} points in {series} series at pixel ratio {ratio}…");
                browser
                    .client
                    .goto(&app.url(&format!("/bench/chart?points={points}&series={series}&runs={RUNS}")))
                    .await?;
                let result = browser
                    .client
                    .wait()
                    .at_most(Duration::from_secs(180))
                    .for_element(Locator::Css("[data-testid=\"bench-result\"]"))
                    .await?;
                let ours: f64 = result.attr("data-median-ms").await?.unwrap_or_default().parse()?;
                let script = r#"
                    const [src, n, s, runs, done] = [arguments[0], arguments[1], arguments[2], arguments[3],
                                                     arguments[arguments.length - 1]];
                    (0, eval)(src);
                    const per = Math.floor(n / s);
                    const make = (phase) => {
                      const xs = new Float64Array(per);
                      for (let i = 0; i < per; i++) xs[i] = 1.7e9 + i;
                      const out = [xs];
                      for (let k = 0; k < s; k++) {
                        const ys = new Float64Array(per);
                        for (let i = 0; i < per; i++) {
                          ys[i] = Math.sin(i / 500 + k + phase) * 100 + Math.cos(i / 37) * 10 + k * 10;
                        }
                        out.push(ys);
                      }
                      return out;
                    };
                    const data = [make(0), make(1)];
                    const el = document.createElement('div');
                    document.body.appendChild(el);
                    const opts = { width: 1000, height: 300, series: [{}] };
                    for (let k = 0; k < s; k++) opts.series.push({ label: 'series ' + k, stroke: 'rgb(31,119,180)', width: 1.5 });
                    (async () => {
                      const u = new uPlot(opts, data[0], el);
                      // uPlot commits a draw in a microtask; the 1-pixel read waits for its pixels.
                      await new Promise(res => queueMicrotask(res));
                      u.ctx.getImageData(0, 0, 1, 1);
                      const times = [];
                      for (let r = 0; r < runs; r++) {
                        const t0 = performance.now();
                        u.setData(data[(r + 1) % 2]);
                        await new Promise(res => queueMicrotask(res));
                        u.ctx.getImageData(0, 0, 1, 1);
                        times.push(performance.now() - t0);
                      }
                      u.destroy();
                      el.remove();
                      times.sort((a, b) => a - b);
                      done(times[Math.floor(times.length / 2)]);
                    })();
                "#;
                let theirs = browser
                    .client
                    .execute_async(
                        script,
                        vec![
                            serde_json::json!(uplot),
                            serde_json::json!(points),
                            serde_json::json!(series),
                            serde_json::json!(RUNS),
                        ],
                    )
                    .await?
                    .as_f64()
                    .unwrap_or(f64::NAN);
                rows.push(Row {
                    figure: format!(
                        "(c) chart redraw, {points} points in {series} series, pixel ratio {ratio}"
                    ),
                    measured: format!("{ours:.2} ms"),
                    baseline: format!("{theirs:.2} ms uPlot {version} setData"),
                    ratio: format!("{:.2}×", ours / theirs),
                    target: "≤ 0.8×".to_owned(),
                });
            }
        }
        browser.close().await?;
    }
    Ok(())
}

/// 50 tables × 100 columns: `SELECT cJ FROM bT WHERE cJ = 1` is 5,000 distinct statements.
const PG_TABLES: usize = 50;
const PG_COLUMNS: usize = 100;

async fn run_distinct_statements(client: &tokio_postgres::Client) -> Result<()> {
    for t in 0..PG_TABLES {
        let batch: Vec<String> =
            (0..PG_COLUMNS).map(|c| format!("SELECT c{c} FROM b{t} WHERE c{c} = 1")).collect();
        client.batch_execute(&batch.join(";")).await?;
    }
    Ok(())
}

async fn bench_postgres(rows: &mut Vec<Row>) -> Result<()> {
    println!("(d) postgres: 5,000 distinct statements…");
    let pg = Postgres::start_with(&[("pg_stat_statements.max", "10000")]).await?;
    let client = pg.connect("postgres").await?;
    client.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    for t in 0..PG_TABLES {
        let cols: Vec<String> = (0..PG_COLUMNS).map(|c| format!("c{c} int")).collect();
        client.batch_execute(&format!("CREATE TABLE b{t} ({})", cols.join(", "))).await?;
    }
    run_distinct_statements(&client).await?;
    let settings = triage::config::Settings {
        postgres: Some(pg.analysis_settings("postgres")),
        ..triage::config::Settings::default()
    };
    let app = TestApp::start_with(settings).await?;
    // The baseline does the same work in SQL from the same client: each of Triage's two
    // snapshots is also taken as a table, then the top 50 by total time and the top 50 of the
    // difference between the snapshots are queried.
    const SNAPSHOT_SQL: &str =
        "SELECT userid, dbid, queryid, calls, total_exec_time, rows FROM pg_stat_statements";
    let (a, _) = snapshot(&app).await?;
    client.batch_execute(&format!("CREATE TEMP TABLE snap_a AS {SNAPSHOT_SQL}")).await?;
    run_distinct_statements(&client).await?;
    let (b, snapshot_ms) = snapshot(&app).await?;
    client.batch_execute(&format!("CREATE TEMP TABLE snap_b AS {SNAPSHOT_SQL}")).await?;
    anyhow::ensure!(b.statements >= 5000, "only {} statements in the snapshot", b.statements);

    const TOP_SQL: &str = "SELECT s.queryid, s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows, \
         s.shared_blks_hit, s.shared_blks_read FROM pg_stat_statements s ORDER BY s.total_exec_time DESC LIMIT 50";
    const DIFF_SQL: &str = "SELECT b.queryid, s.query, b.calls - coalesce(a.calls, 0) AS calls, \
         b.total_exec_time - coalesce(a.total_exec_time, 0) AS total, b.rows - coalesce(a.rows, 0) AS rows \
         FROM snap_b b LEFT JOIN snap_a a USING (userid, dbid, queryid) \
         LEFT JOIN pg_stat_statements s USING (userid, dbid, queryid) \
         WHERE b.calls > coalesce(a.calls, 0) ORDER BY total DESC LIMIT 50";

    let (mut ours, mut server, mut top_ms, mut diff_ms, mut live_ms, mut raw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut statements = 0;
    for i in 0..25 {
        let started = Instant::now();
        let top: StatementsReport = app.get_json("/api/pg/main/statements?order=total&limit=50").await?;
        let diff: DiffReport =
            app.get_json(&format!("/api/pg/main/diff?from={}&to={}&limit=50", a.id, b.id)).await?;
        let end_to_end = started.elapsed().as_secs_f64() * 1000.0;
        let live: DiffReport = app.get_json(&format!("/api/pg/main/diff?from={}&limit=50", a.id)).await?;
        anyhow::ensure!(
            diff.statements_changed >= 5000,
            "the diff saw {} statements",
            diff.statements_changed
        );
        statements = top.statements;
        let started = Instant::now();
        let top_rows = client.query(TOP_SQL, &[]).await?;
        let diff_rows = client.query(DIFF_SQL, &[]).await?;
        let raw_ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(top_rows.len() == 50 && diff_rows.len() == 50, "the SQL baseline found too few rows");
        if i >= 5 {
            ours.push(end_to_end);
            server.push(top.took_ms + diff.took_ms);
            top_ms.push(top.took_ms);
            diff_ms.push(diff.took_ms);
            live_ms.push(live.took_ms);
            raw.push(raw_ms);
        }
    }
    let (ours, server, top_ms, diff_ms, live_ms, raw) =
        (sorted(ours), sorted(server), sorted(top_ms), sorted(diff_ms), sorted(live_ms), sorted(raw));
    let median = |v: &[f64]| percentile(v, 0.5);
    println!(
        "(d) {statements} statements: end to end {:.1} ms; server: top {:.1} ms, diff between snapshots {:.1} ms, \
         diff to now {:.1} ms, snapshot {:.0} ms; SQL baseline {:.1} ms",
        median(&ours),
        median(&top_ms),
        median(&diff_ms),
        median(&live_ms),
        snapshot_ms,
        median(&raw)
    );
    rows.push(Row {
        figure: format!(
            "(d) Postgres analysis over {statements} distinct statements (top 50 + snapshot diff), end to end from the client"
        ),
        measured: format!(
            "{:.1} ms (p95 {:.1}; server side {:.1}: top {:.1} + diff {:.1}; diff to now {:.1})",
            median(&ours),
            percentile(&ours, 0.95),
            median(&server),
            median(&top_ms),
            median(&diff_ms),
            median(&live_ms)
        ),
        baseline: format!(
            "{:.1} ms: the same top 50 and the diff of two snapshot tables, in SQL from the client",
            median(&raw)
        ),
        ratio: format!("{:.2}×", median(&ours) / median(&raw)),
        target: "≤ 100 ms".to_owned(),
    });
    app.stop().await?;
    Ok(())
}

/// Takes a snapshot through the API; returns it and the request's time in ms.
async fn snapshot(app: &TestApp) -> Result<(SnapshotInfo, f64)> {
    let started = Instant::now();
    let (status, body) = app.post_json("/api/pg/main/snapshots", &serde_json::json!({})).await?;
    anyhow::ensure!(status == 200, "snapshot failed: {body}");
    let info: SnapshotInfo = serde_json::from_value(body)?;
    Ok((info, started.elapsed().as_secs_f64() * 1000.0))
}

fn machine_facts() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let version = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    format!(
        "{cores} cores; {}; {}; {}",
        version("prometheus", "--version"),
        version("chromium", "--version"),
        version("rustc", "--version")
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |group: &str| only.is_empty() || only.iter().any(|g| g == group);
    let mut rows = Vec::new();
    if wanted("bundle") {
        platform::bundle(&mut rows).await?;
    }
    if wanted("first-load") {
        platform::first_load(&mut rows).await?;
    }
    if wanted("proxy") {
        proxy::proxy(&mut rows).await?;
    }
    if wanted("fanout") || wanted("chart") {
        require_frontend()?;
        let prom = Prometheus::start(&[]).await?;
        // The fan-out's viewers stand for many people: one caller's stream limit is raised.
        let mut settings = triage::config::Settings {
            prometheus: Some(TestApp::prometheus_settings(&prom.url)?),
            ..Default::default()
        };
        settings.limits.max_streams_per_caller = 2_000;
        let app = TestApp::start_with(settings).await?;
        if wanted("chart") {
            bench_chart(&app, &mut rows).await?;
        }
        if wanted("fanout") {
            bench_fanout(&app, &prom, &mut rows).await?;
        }
        app.stop().await?;
    }
    if wanted("memory") {
        platform::viewer_memory(&mut rows).await?;
    }
    if wanted("diagnose-all") {
        flows::diagnose_all(&mut rows).await?;
    }
    if wanted("large-cluster") {
        platform::large_cluster(&mut rows).await?;
    }
    if wanted("throughput") {
        platform::throughput(&mut rows).await?;
    }
    if wanted("postgres") {
        bench_postgres(&mut rows).await?;
    }
    if wanted("index-advice") {
        advice::index_advice(&mut rows).await?;
    }
    if wanted("kafka") {
        kafka::kafka_groups(&mut rows).await?;
    }
    if wanted("environments") {
        environments::environments(&mut rows).await?;
    }
    if wanted("lighthouse") {
        lighthouse::lighthouse_pages(&mut rows).await?;
    }

    let mut out = String::new();
    let _ = writeln!(out, "# Triage benchmarks\n\nMachine: {}\n", machine_facts());
    let _ = writeln!(
        out,
        "| figure | measured | baseline (same run) | ratio | target |\n| --- | --- | --- | --- | --- |"
    );
    for r in &rows {
        let _ =
            writeln!(out, "| {} | {} | {} | {} | {} |", r.figure, r.measured, r.baseline, r.ratio, r.target);
    }
    println!("\n{out}");
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("BENCHMARKS.md"), &out)?;
    println!("written to target/bench/BENCHMARKS.md");
    Ok(())
}
