//! The Prometheus proxy against real Prometheus (Debian 2.42): exact values from a
//! deterministic history, Prometheus's own errors, limits, read-only paths, upstream down,
//! live updates and coalescing counted by Prometheus itself.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use triage_shared::prom::answer::QueryAnswer;
use triage_shared::prom::{LiveUpdate, QueryResult};
use triage_shared::{ErrorBody, ErrorKind};
use triage_tests::sse::SseReader;
use triage_tests::{Prometheus, TestApp};

const STEP: i64 = 15;
const SAMPLES: i64 = 240; // one hour

/// One hour of counters every 15 s, ending 3 hours ago (block-aligned history):
/// processed +10 and failed +1 per step; a latency histogram with +2 / +6 / +10 / +10 per step
/// in buckets le=10 / 50 / 100 / +Inf.
fn history() -> (String, i64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let start = (now - 3 * 3600) / 3600 * 3600;
    let mut om = String::new();
    om.push_str("# TYPE events_processed counter\n");
    for i in 0..SAMPLES {
        om.push_str(&format!(
            "events_processed_total{{job=\"sp\",instance=\"a\"}} {} {}\n",
            i * 10,
            start + i * STEP
        ));
    }
    om.push_str("# TYPE events_failed counter\n");
    for i in 0..SAMPLES {
        om.push_str(&format!(
            "events_failed_total{{job=\"sp\",instance=\"a\"}} {} {}\n",
            i,
            start + i * STEP
        ));
    }
    om.push_str("# TYPE event_processing_duration_ms histogram\n");
    for i in 0..SAMPLES {
        let t = start + i * STEP;
        for (le, per_step) in [("10", 2), ("50", 6), ("100", 10), ("+Inf", 10)] {
            om.push_str(&format!(
                "event_processing_duration_ms_bucket{{job=\"sp\",instance=\"a\",le=\"{le}\"}} {} {t}\n",
                i * per_step
            ));
        }
        om.push_str(&format!(
            "event_processing_duration_ms_sum{{job=\"sp\",instance=\"a\"}} {} {t}\n",
            i * 300
        ));
        om.push_str(&format!(
            "event_processing_duration_ms_count{{job=\"sp\",instance=\"a\"}} {} {t}\n",
            i * 10
        ));
    }
    om.push_str("# EOF\n");
    (om, start)
}

async fn instant(app: &TestApp, query: &str, time: i64) -> anyhow::Result<f64> {
    let response = app
        .http
        .get(app.url("/api/prom/query"))
        .query(&[("query", query), ("time", &time.to_string())])
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "{query}: {}", response.text().await?);
    let result: QueryResult = response.json::<QueryAnswer>().await?.0;
    result
        .series
        .first()
        .and_then(|s| s.points.first())
        .map(|p| p[1])
        .ok_or_else(|| anyhow::anyhow!("{query}: empty"))
}

#[tokio::test]
async fn exact_values_errors_and_limits() -> anyhow::Result<()> {
    let (om, start) = history();
    let prom = Prometheus::start_with_history(&om, &[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    let at = start + 30 * 60; // mid-history, aligned to a sample

    let rate = instant(&app, "rate(events_processed_total[5m])", at).await?;
    assert!((rate - 10.0 / 15.0).abs() < 1e-9, "rate {rate}");
    let ratio = instant(&app, "rate(events_failed_total[5m]) / rate(events_processed_total[5m])", at).await?;
    assert!((ratio - 0.1).abs() < 1e-9, "error ratio {ratio}");
    // Median: rank 5 of 10 falls in (10, 50] holding ranks 2..6 → 10 + 40 × 3/4 = 40.
    let p50 =
        instant(&app, "histogram_quantile(0.5, rate(event_processing_duration_ms_bucket[5m]))", at).await?;
    assert!((p50 - 40.0).abs() < 1e-9, "p50 {p50}");

    // A range query: one point per step, all equal.
    let response = app
        .http
        .get(app.url("/api/prom/query_range"))
        .query(&[
            ("query", "rate(events_processed_total[1m])".to_owned()),
            ("start", (at - 600).to_string()),
            ("end", at.to_string()),
            ("step", "60".to_owned()),
        ])
        .send()
        .await?;
    // A successful answer is Prometheus's own, forwarded byte for byte (no parse, no re-encoding):
    // the same query asked straight of Prometheus answers exactly the same bytes.
    let through = response.bytes().await?;
    let form = [
        ("query", "rate(events_processed_total[1m])".to_owned()),
        ("start", (at - 600).to_string()),
        ("end", at.to_string()),
        ("step", "60".to_owned()),
    ];
    let direct =
        reqwest::Client::new().post(format!("{}/api/v1/query_range", prom.url)).form(&form).send().await?;
    assert_eq!(direct.status(), 200);
    assert_eq!(through, direct.bytes().await?, "the proxy forwards Prometheus's answer unchanged");
    let range: QueryResult = serde_json::from_slice::<QueryAnswer>(&through)?.0;
    assert_eq!(range.series.len(), 1);
    assert_eq!(range.series[0].points.len(), 11);
    assert!(
        range.series[0].points.iter().all(|p| (p[1] - 10.0 / 15.0).abs() < 1e-9),
        "{:?}",
        range.series[0].points
    );

    // Prometheus's own parse error reaches the user as a 400 with its text.
    let response = app
        .http
        .get(app.url("/api/prom/query"))
        .query(&[("query", "rate(events_processed_total[5m]")])
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    let body: ErrorBody = response.json().await?;
    assert_eq!(body.error.kind, ErrorKind::BadRequest);
    assert!(body.error.message.contains("parse error"), "{}", body.error.message);
    assert_eq!(
        body.error.detail.as_ref().map(|d| d["error_type"].clone()),
        Some(serde_json::json!("bad_data"))
    );

    // An execution error (two right-hand series for one match group) is a 422 with its text.
    let response = app
        .http
        .get(app.url("/api/prom/query"))
        .query(&[
            ("query", "events_processed_total + on(job) {__name__=~\"events_(processed|failed)_total\"}"),
            ("time", &at.to_string()),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), 422);
    let body: ErrorBody = response.json().await?;
    assert_eq!(body.error.kind, ErrorKind::Unprocessable);
    assert!(body.error.message.contains("duplicate series"), "{}", body.error.message);

    // Limits are checked before Prometheus is asked.
    let response = app
        .http
        .get(app.url("/api/prom/query_range"))
        .query(&[("query", "up"), ("start", "0"), ("end", "86400"), ("step", "1")])
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    let body: ErrorBody = response.json().await?;
    assert!(body.error.message.contains("11000"), "{}", body.error.message);
    Ok(())
}

#[tokio::test]
async fn only_the_read_api_is_reachable() -> anyhow::Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    for path in [
        "/api/prom/admin/tsdb/delete_series?match[]=up",
        "/api/prom/admin/tsdb/snapshot",
        "/api/prom/../../-/quit",
        "/api/prom/api/v1/admin/tsdb/clean_tombstones",
        "/api/prom/query/../admin/tsdb/snapshot",
        "/api/prom/write",
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::PUT] {
            // With the console's CSRF header, so the request meets the router rather than the guard.
            let response =
                app.http.request(method.clone(), app.url(path)).header("x-triage-csrf", "1").send().await?;
            let status = response.status();
            let body = response.text().await?;
            // Dot segments are resolved by the client, so `/api/prom/../../-/quit` arrives as
            // `/-/quit` and meets the console's SPA fallback, never Prometheus.
            assert!(
                matches!(status.as_u16(), 404 | 405)
                    || (status == 200 && body.contains("<title>Triage</title>")),
                "{method} {path} answered {status}: {body}"
            );
        }
    }
    // Label names are validated before they become a path segment.
    for name in ["..%2F..%2Fadmin", "a%2Fb", "9lives"] {
        let status = app.http.get(app.url(&format!("/api/prom/label/{name}/values"))).send().await?.status();
        assert_eq!(status, 400, "label {name}");
    }
    let ok = app.http.get(app.url("/api/prom/label/job/values")).send().await?;
    assert_eq!(ok.status(), 200);
    // Prometheus itself saw no admin or lifecycle request.
    let admin = prom.handler_requests("/api/v1/admin/tsdb/:cmd").await?
        + prom.handler_requests("/api/v1/admin/tsdb/delete_series").await?
        + prom.handler_requests("/api/v1/admin/tsdb/snapshot").await?
        + prom.handler_requests("/-/quit").await?;
    assert_eq!(admin, 0.0);
    let ready = reqwest::get(format!("{}/-/ready", prom.url)).await?.status();
    assert_eq!(ready, 200, "Prometheus is still running");
    Ok(())
}

#[tokio::test]
async fn prometheus_down_is_a_clear_503_in_time() -> anyhow::Result<()> {
    let mut prom = Prometheus::start(&[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    prom.stop();
    let started = std::time::Instant::now();
    let response = app.http.get(app.url("/api/prom/query")).query(&[("query", "up")]).send().await?;
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    assert_eq!(response.status(), 503);
    let body: ErrorBody = response.json().await?;
    assert_eq!(body.error.kind, ErrorKind::Unavailable);
    assert!(body.error.message.contains("cannot reach Prometheus"), "{}", body.error.message);
    Ok(())
}

/// Ten series of 11,000 points each: about 1.7 MiB of JSON from Prometheus, from nothing stored.
fn large_range_query() -> String {
    (1..=10)
        .map(|i| format!("label_replace(vector({i}), \"s\", \"{i}\", \"\", \"\")"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused_in_words() -> anyhow::Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let mut settings = triage::config::Settings::default();
    let mut prometheus = TestApp::prometheus_settings(&prom.url)?;
    prometheus.max_response_mib = 1;
    settings.prometheus = Some(prometheus);
    let app = TestApp::start_with(settings).await?;
    let end = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let (start, end) = ((end - 10_999).to_string(), end.to_string());
    let params = [("query", large_range_query()), ("start", start), ("end", end), ("step", "1".to_owned())];
    let response = app.http.get(app.url("/api/prom/query_range")).query(&params).send().await?;
    assert_eq!(response.status(), 422);
    let body: ErrorBody = response.json().await?;
    assert!(body.error.message.contains("larger than 1 MiB"), "{}", body.error.message);
    assert!(body.error.message.contains("narrow the query"), "{}", body.error.message);

    // The same query under the default limit is answered in full.
    let roomy = TestApp::start_with_prometheus(&prom.url).await?;
    let response = roomy.http.get(roomy.url("/api/prom/query_range")).query(&params).send().await?;
    assert_eq!(response.status(), 200);
    let result: QueryResult = response.json::<QueryAnswer>().await?.0;
    assert_eq!(result.series.len(), 10);
    assert!(result.series.iter().all(|s| s.points.len() == 11_000));
    Ok(())
}

/// Every read of Prometheus goes through the same bounded reader, not only the query routes:
/// 60,000 distinct label values (about 1.4 MiB of JSON) are refused under a 1 MiB limit.
#[tokio::test]
async fn every_read_endpoint_is_bounded() -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() - 600;
    let mut history = String::from("# TYPE wide gauge\n");
    for i in 0..60_000 {
        history.push_str(&format!("wide{{job=\"t\",instance=\"i\",v=\"value-number-{i:08}\"}} 1 {now}\n"));
    }
    history.push_str("# EOF\n");
    let prom = Prometheus::start_with_history(&history, &[]).await?;
    let mut settings = triage::config::Settings::default();
    let mut prometheus = TestApp::prometheus_settings(&prom.url)?;
    prometheus.max_response_mib = 1;
    settings.prometheus = Some(prometheus);
    let app = TestApp::start_with(settings).await?;
    let (start, end) = ((now - 60).to_string(), (now + 60).to_string());
    for (path, query) in [
        ("/api/prom/label/v/values", vec![]),
        (
            "/api/prom/series",
            vec![("match[]", "wide".to_owned()), ("start", start.clone()), ("end", end.clone())],
        ),
    ] {
        let response = app.http.get(app.url(path)).query(&query).send().await?;
        assert_eq!(response.status(), 422, "{path}");
        let body: ErrorBody = response.json().await?;
        assert!(body.error.message.contains("larger than 1 MiB"), "{path}: {}", body.error.message);
    }
    // Under the default limit the same read is answered in full.
    let roomy = TestApp::start_with_prometheus(&prom.url).await?;
    let values: serde_json::Value = roomy.get_json("/api/prom/label/v/values").await?;
    assert_eq!(values.as_array().map_or(0, Vec::len), 60_000);
    Ok(())
}

#[tokio::test]
async fn identical_queries_share_one_upstream_call_and_errors_are_asked_again() -> anyhow::Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let mut settings = triage::config::Settings::default();
    let mut prometheus = TestApp::prometheus_settings(&prom.url)?;
    prometheus.cache_ttl_ms = 30_000; // long enough that the test, not the clock, decides
    settings.prometheus = Some(prometheus);
    let app = TestApp::start_with(settings).await?;
    let query = "vector(41) + 1";
    let before = prom.handler_requests("/api/v1/query").await?;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let request = app.http.get(app.url("/api/prom/query")).query(&[("query", query)]).send();
        tasks.push(tokio::spawn(async move {
            let response = request.await?;
            anyhow::ensure!(response.status() == 200, "status {}", response.status());
            Ok(response.json::<QueryAnswer>().await?.0)
        }));
    }
    for t in tasks {
        let result = t.await??;
        assert_eq!(result.series.first().and_then(|s| s.points.first()).map(|p| p[1]), Some(42.0));
    }
    let after = prom.handler_requests("/api/v1/query").await?;
    assert_eq!(after - before, 1.0, "40 identical queries reached Prometheus {} times", after - before);

    // A different query, or the same one at another time, is asked for.
    let at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64 - 60;
    assert_eq!(instant(&app, query, at).await?, 42.0);
    assert_eq!(prom.handler_requests("/api/v1/query").await? - after, 1.0);

    // Errors are not kept: a bad query reaches Prometheus each time it is asked.
    let before = prom.handler_requests("/api/v1/query").await?;
    for _ in 0..3 {
        let response =
            app.http.get(app.url("/api/prom/query")).query(&[("query", "rate(up[1m]")]).send().await?;
        assert_eq!(response.status(), 400);
    }
    assert_eq!(prom.handler_requests("/api/v1/query").await? - before, 3.0);
    Ok(())
}

fn live_url(app: &TestApp, query: &str, interval: u32) -> String {
    let q: String = url_encode(query);
    app.url(&format!("/api/live?query={q}&step=1&window=60&interval={interval}"))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn live_updates_arrive_from_a_scraped_target() -> anyhow::Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    let mut reader = SseReader::connect(&app.http, &live_url(&app, "up{job=\"prometheus\"}", 1)).await?;
    let mut stamps = Vec::new();
    let mut saw_up = false;
    // Prometheus scrapes itself within its first seconds; wait for that sample to stream in.
    while stamps.len() < 3 || (!saw_up && stamps.len() < 20) {
        let event = tokio::time::timeout(Duration::from_secs(15), reader.next())
            .await??
            .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
        assert_eq!(event.event, "update", "{}", event.data);
        let update: LiveUpdate = serde_json::from_str(&event.data)?;
        saw_up |= update.result.series.iter().any(|s| s.points.iter().any(|p| p[1] == 1.0));
        stamps.push(update.fetched_at);
    }
    assert!(stamps.windows(2).all(|w| w[1] > w[0]), "fresh data each time: {stamps:?}");
    assert!(saw_up, "the scraped target appears with up=1");

    // A bad query arrives as a typed error event, not a dead stream.
    let mut bad = SseReader::connect(&app.http, &live_url(&app, "sum(", 1)).await?;
    let event = tokio::time::timeout(Duration::from_secs(15), bad.next())
        .await??
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert_eq!(event.event, "query-error");
    assert!(event.data.contains("parse error"), "{}", event.data);
    Ok(())
}

#[tokio::test]
async fn fifty_viewers_share_one_upstream_query_per_refresh() -> anyhow::Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    let before = prom.handler_requests("/api/v1/query_range").await?;
    let url = live_url(&app, "rate(prometheus_http_requests_total[1m])", 2);
    let mut viewers = Vec::new();
    for _ in 0..50 {
        let http = app.http.clone();
        let url = url.clone();
        viewers.push(tokio::spawn(async move {
            let mut reader = SseReader::connect(&http, &url).await?;
            let mut seen = Vec::new();
            while seen.len() < 3 {
                let event = tokio::time::timeout(Duration::from_secs(20), reader.next())
                    .await??
                    .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
                let update: LiveUpdate = serde_json::from_str(&event.data)?;
                seen.push(update.fetched_at.to_bits());
            }
            anyhow::Ok(seen)
        }));
    }
    let mut distinct = BTreeSet::new();
    for v in viewers {
        distinct.extend(v.await??);
    }
    let after = prom.handler_requests("/api/v1/query_range").await?;
    let upstream = after - before;
    // Every poll is seen by the viewers; at most one more may be in flight as we read.
    let polls = distinct.len() as f64;
    assert!(
        upstream >= polls && upstream <= polls + 1.0,
        "{upstream} upstream queries for {polls} refreshes"
    );
    assert!(polls <= 5.0, "50 viewers × 3 updates took {polls} refreshes");

    // Everyone left: the poll loop stops, Prometheus gets no more queries.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = prom.handler_requests("/api/v1/query_range").await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        prom.handler_requests("/api/v1/query_range").await?,
        settled,
        "polling stopped with no viewers"
    );
    Ok(())
}

#[tokio::test]
async fn a_reconnecting_viewer_gets_the_latest_update_at_once() -> anyhow::Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    // A slow refresh (30 s) makes "at once" distinguishable from "at the next refresh".
    let url = live_url(&app, "up", 30);
    let mut first = SseReader::connect(&app.http, &url).await?;
    let event = tokio::time::timeout(Duration::from_secs(15), first.next())
        .await??
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    let original: LiveUpdate = serde_json::from_str(&event.data)?;
    // A second viewer (or the same one reconnecting) joins while the first stays.
    let started = std::time::Instant::now();
    let mut again = SseReader::connect(&app.http, &url).await?;
    let event = tokio::time::timeout(Duration::from_secs(5), again.next())
        .await??
        .ok_or_else(|| anyhow::anyhow!("ended"))?;
    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?}", started.elapsed());
    let resumed: LiveUpdate = serde_json::from_str(&event.data)?;
    assert_eq!(resumed, original, "the joiner gets the cached latest update");
    drop(first);
    Ok(())
}
