//! (a) The Prometheus proxy: the release `triage` binary in its own process, asked the same
//! queries that are sent straight to Prometheus as the very request Triage sends upstream (a
//! POST form with the query, its times and Triage's `timeout`).
//!
//! Three sizes of answer over a Prometheus pre-filled with history: a small instant query, a
//! dashboard-size range query (24 series × 241 points, about 72 KB) and a large one (400 series
//! × 1,001 points, several MB). Every request has a distinct query text, so each goes upstream;
//! the same query repeated is a separate row, labelled as what it measures (Triage's answer
//! cache). One keep-alive connection per side, the two sides alternating request by request.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use triage_tests::Prometheus;
use triage_tests::triage_process::TriageProcess;

use super::{Row, median, percentile, sorted};

const STEP: u64 = 15;

/// OpenMetrics history: `dash` series over one hour and `big` series over 4 h 10 min, every
/// 15 s, ending at `end`.
fn history(end: u64) -> String {
    let mut om = String::from("# TYPE bench_value gauge\n");
    let mut add = |set: &str, series: u64, points: u64| {
        for s in 0..series {
            for p in 0..points {
                let t = end - (points - 1 - p) * STEP;
                let v = (s * 7 + p * 13) % 1000;
                om.push_str(&format!(
                    "bench_value{{set=\"{set}\",instance=\"host-{s:03}.example.internal:9100\"}} {v}.25 {t}\n"
                ));
            }
        }
    };
    add("dash", 24, 241);
    add("big", 400, 1001);
    om.push_str("# EOF\n");
    om
}

struct Case {
    name: &'static str,
    /// The query with `{i}` where a distinct `+ i * 0` goes.
    query: &'static str,
    /// `None`: instant; `Some(points)`: a range of that many points ending at the history's end.
    range_points: Option<u64>,
    requests: usize,
    target: &'static str,
}

fn one_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1).http1_only().build()?)
}

pub async fn proxy(rows: &mut Vec<Row>) -> Result<()> {
    println!("(a) proxy overhead: pre-filling Prometheus…");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let end = (now - 120) / STEP * STEP;
    let prom = Prometheus::start_with_history(&history(end), &[]).await?;
    let dir = tempfile::tempdir()?;
    let triage = TriageProcess::start(
        dir.path(),
        &format!(
            "[log]\nfilter = \"warn\"\n[prometheus]\nurl = \"{}\"\n[store]\nsqlite_path = \"{}\"\n",
            prom.url,
            dir.path().join("triage.db").display()
        ),
        "triage.log",
    )
    .await?;
    let (direct, proxied) = (one_client()?, one_client()?);
    // Triage's own upstream timeout, so the direct request is byte for byte the same form.
    let timeout = "20s";
    let cases = [
        Case {
            name: "small instant query",
            query: "sum by (set) (bench_value) + {i} * 0",
            range_points: None,
            requests: 2_000,
            target: "within 60 µs",
        },
        Case {
            name: "dashboard range query (24 series × 241 points, ~72 KB)",
            query: "bench_value{set=\"dash\"} + {i} * 0",
            range_points: Some(241),
            requests: 600,
            target: "≤ 1.1×",
        },
        Case {
            name: "large range query (400 series × 1,001 points)",
            query: "bench_value{set=\"big\"} + {i} * 0",
            range_points: Some(1001),
            requests: 60,
            target: "≤ 1.2×",
        },
    ];
    for case in &cases {
        println!("(a) proxy overhead: {}…", case.name);
        let form_for = |query: String| -> Vec<(&'static str, String)> {
            match case.range_points {
                None => {
                    vec![("query", query), ("time", format!("{end}.000")), ("timeout", timeout.to_owned())]
                }
                Some(points) => vec![
                    ("query", query),
                    ("start", format!("{}.000", end - (points - 1) * STEP)),
                    ("end", format!("{end}.000")),
                    ("step", STEP.to_string()),
                    ("timeout", timeout.to_owned()),
                ],
            }
        };
        let (direct_path, proxy_path) = match case.range_points {
            None => ("/api/v1/query", "/api/prom/query"),
            Some(_) => ("/api/v1/query_range", "/api/prom/query_range"),
        };
        let (mut d_ms, mut t_ms, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut d_bytes, mut t_bytes) = (0usize, 0usize);
        let warm_up = case.requests / 10;
        for i in 0..case.requests + warm_up {
            let query = case.query.replace("{i}", &i.to_string());
            let form = form_for(query);
            // Triage takes the same parameters in the query string of a GET (minus `timeout`,
            // which it adds itself).
            let params: Vec<_> = form.iter().filter(|(k, _)| *k != "timeout").cloned().collect();
            let mut pair = [0.0f64; 2];
            for side in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
                let started = Instant::now();
                let response = if side == 0 {
                    direct.post(format!("{}{direct_path}", prom.url)).form(&form).send().await?
                } else {
                    proxied.get(triage.url(proxy_path)).query(&params).send().await?
                };
                anyhow::ensure!(response.status().is_success(), "{}: HTTP {}", case.name, response.status());
                let body = response.bytes().await?;
                pair[side] = started.elapsed().as_secs_f64() * 1000.0;
                if side == 0 { d_bytes = body.len() } else { t_bytes = body.len() }
            }
            if i >= warm_up {
                d_ms.push(pair[0]);
                t_ms.push(pair[1]);
                diffs.push(pair[1] - pair[0]);
            }
        }
        let overhead_us = median(diffs) * 1000.0;
        let (d_ms, t_ms) = (sorted(d_ms), sorted(t_ms));
        let (d50, t50) = (percentile(&d_ms, 0.5), percentile(&t_ms, 0.5));
        rows.push(Row {
            figure: format!(
                "(a) {} through Triage, p50 (answer {} KB from Prometheus, {} KB from Triage)",
                case.name,
                d_bytes / 1024,
                t_bytes / 1024
            ),
            measured: format!("{t50:.3} ms"),
            baseline: format!("{d50:.3} ms, the same request straight to Prometheus"),
            ratio: format!("{:.2}× (+{overhead_us:.0} µs, median of paired differences)", t50 / d50),
            target: case.target.to_owned(),
        });
        let (d99, t99) = (percentile(&d_ms, 0.99), percentile(&t_ms, 0.99));
        rows.push(Row {
            figure: format!("(a) {} through Triage, p99", case.name),
            measured: format!("{t99:.3} ms"),
            baseline: format!("{d99:.3} ms straight to Prometheus"),
            ratio: format!("{:.2}×", t99 / d99),
            target: "—".to_owned(),
        });
    }

    // An answer-cache hit: the same dashboard query asked again within `cache_ttl_ms` is answered
    // from Triage's memory, against Prometheus computing it each time.
    println!("(a) proxy overhead: answer-cache hits…");
    let form = form_for_repeated(end, timeout);
    let params: Vec<_> = form.iter().filter(|(k, _)| *k != "timeout").cloned().collect();
    let (mut d_ms, mut t_ms) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..600 {
        if Instant::now() > deadline {
            break;
        }
        for side in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
            let started = Instant::now();
            let response = if side == 0 {
                direct.post(format!("{}/api/v1/query_range", prom.url)).form(&form).send().await?
            } else {
                proxied.get(triage.url("/api/prom/query_range")).query(&params).send().await?
            };
            anyhow::ensure!(response.status().is_success(), "repeated: HTTP {}", response.status());
            response.bytes().await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if side == 0 { d_ms.push(ms) } else { t_ms.push(ms) }
        }
    }
    let (d, t) = (median(d_ms), median(t_ms));
    rows.push(Row {
        figure: "(a) the same dashboard range query repeated: an answer-cache hit in Triage, p50".to_owned(),
        measured: format!("{t:.3} ms"),
        baseline: format!("{d:.3} ms, Prometheus computing it each time"),
        ratio: format!("{:.2}×", t / d),
        target: "≤ 1.0× (the cache pays)".to_owned(),
    });
    let rss = triage.rss_kib()?;
    println!("(a) Triage's RSS after the proxy group: {} MiB", rss / 1024);
    Ok(())
}

fn form_for_repeated(end: u64, timeout: &str) -> Vec<(&'static str, String)> {
    vec![
        ("query", "bench_value{set=\"dash\"}".to_owned()),
        ("start", format!("{}.000", end - 240 * STEP)),
        ("end", format!("{end}.000")),
        ("step", STEP.to_string()),
        ("timeout", timeout.to_owned()),
    ]
}
