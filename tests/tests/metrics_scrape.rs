//! A real Prometheus scrapes Triage's `/metrics`: the exposition parses (the target is up), the
//! request counter carries its labels and count, its metadata (type and help) is read, and the
//! `TriageHighErrorRate` alert's expression evaluates over it.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use triage_tests::{Prometheus, TestApp};

/// The one sample value of an instant query's vector answer, if there is exactly one.
fn single_value(data: &serde_json::Value) -> Option<f64> {
    match data["result"].as_array().map(Vec::as_slice) {
        Some([one]) => one["value"][1].as_str().and_then(|v| v.parse().ok()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_request_metrics() -> Result<()> {
    let app = TestApp::start().await?;
    let prom = Prometheus::start(&[("triage", app.addr.to_string())]).await?;
    for _ in 0..5 {
        app.http.get(app.url("/api/version")).send().await?.error_for_status()?;
    }
    app.http.get(app.url("/api/nothing-here")).send().await?;

    let counter =
        r#"triage_http_requests_total{job="triage",method="GET",route="/api/version",status="200"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = single_value(&prom.query(r#"up{job="triage"}"#).await?);
        let count = single_value(&prom.query(counter).await?);
        if up == Some(1.0) && count == Some(5.0) {
            break;
        }
        if Instant::now() > deadline {
            bail!("Prometheus did not scrape the counter: up {up:?}, {counter} {count:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let not_found = prom.query(r#"triage_http_requests_total{job="triage",status="404"}"#).await?;
    assert!(single_value(&not_found).is_some_and(|v| v >= 1.0), "{not_found}");
    let buckets = prom
        .query(r#"count(triage_http_request_duration_seconds_bucket{job="triage",route="/api/version"})"#)
        .await?;
    assert_eq!(single_value(&buckets), Some(13.0), "12 bounds and +Inf: {buckets}");

    // Metadata: the counter's type and help text as the exposition declares them.
    let metadata: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/metadata", prom.url))
        .query(&[("metric", "triage_http_requests_total")])
        .send()
        .await?
        .json()
        .await?;
    let entries = metadata["data"]["triage_http_requests_total"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|m| m["type"] == "counter" && m["help"] == "HTTP requests answered, by route and status."),
        "{metadata}"
    );

    // The alert rule's expression (deploy/kubernetes/base/prometheus-rules.yaml) evaluates: no
    // 5xx answers, so no value above the threshold.
    let alert = prom
        .query(
            r#"sum(rate(triage_http_requests_total{status=~"5.."}[5m])) / clamp_min(sum(rate(triage_http_requests_total[5m])), 1e-9) > 0.05"#,
        )
        .await?;
    assert_eq!(alert["result"].as_array().map(Vec::len), Some(0), "{alert}");
    app.stop().await
}
