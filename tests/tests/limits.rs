//! Nothing a caller sends grows Triage without bound: each test drives one input past its
//! configured limit through real HTTP and checks the refusal (in words, with the right status)
//! and that what the limit protects stayed bounded.

use triage_tests::TestApp;

/// Counts the `triage_http_requests_total` series in a `/metrics` answer.
fn request_series(metrics: &str) -> usize {
    metrics.lines().filter(|l| l.starts_with("triage_http_requests_total{")).count()
}

#[tokio::test]
async fn invented_http_methods_do_not_add_metric_series() -> anyhow::Result<()> {
    let app = TestApp::start().await?;
    let method = |name: &str| reqwest::Method::from_bytes(name.as_bytes());
    app.http.request(method("FOO0")?, app.url("/api/version")).send().await?;
    let first = app.http.get(app.url("/metrics")).send().await?.text().await?;
    for i in 1..200 {
        app.http.request(method(&format!("FOO{i}"))?, app.url("/api/version")).send().await?;
    }
    let after = app.http.get(app.url("/metrics")).send().await?.text().await?;
    assert!(!after.contains("FOO"), "invented methods are not label values: {after}");
    assert!(after.contains(r#"method="other""#), "{after}");
    // 199 more invented methods, and at most the `/metrics` read itself added a series.
    assert!(request_series(&after) <= request_series(&first) + 1, "{first}\n---\n{after}");
    app.stop().await
}

#[tokio::test]
async fn pod_logs_are_read_with_a_byte_limit() -> anyhow::Result<()> {
    let sb = triage_tests::TestSandbox::start(triage_sandbox::Incident::Healthy).await?;
    let mut settings =
        triage_tests::app::kubernetes_settings(&sb.kubeconfig, triage_shared::actions::Role::Reader);
    if let Some(k) = settings.kubernetes.as_mut() {
        k.max_log_bytes = 1024;
    }
    let app = TestApp::start_with(settings).await?;
    let pods = sb.kubectl(&["get", "pods", "-l", "app=ml-inference", "-o", "name"]).await?;
    let pod = pods.lines().next().and_then(|p| p.strip_prefix("pod/")).unwrap_or_default().to_owned();
    let full = sb.kubectl(&["logs", &pod, "--tail=10000"]).await?;
    assert!(full.len() > 4096, "the pod has more log than the limit ({} bytes)", full.len());
    let logs: triage_shared::k8s::PodLogs =
        app.get_json(&format!("/api/k8s/namespaces/streaming-analytics/pods/{pod}/logs?tail=10000")).await?;
    let bytes = logs.lines.join("\n").len();
    assert!(bytes <= 1024, "{bytes} bytes read");
    assert!(!logs.lines.is_empty());
    app.stop().await
}

fn live_url(app: &TestApp, query: &str, interval: u32) -> String {
    let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    app.url(&format!("/api/live?query={q}&step=1&window=60&interval={interval}"))
}

/// A gauge or counter's value in a `/metrics` answer.
async fn metric(app: &TestApp, name: &str) -> anyhow::Result<f64> {
    let text = app.http.get(app.url("/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{name} missing from /metrics:\n{text}"))
}

/// Polls `check` every 100 ms for up to `secs`; fails with `what` when it never holds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("{what} did not happen within {secs} s")
}

async fn error_of(
    response: reqwest::Response,
) -> anyhow::Result<(u16, Option<String>, triage_shared::ApiError)> {
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: triage_shared::ErrorBody = response.json().await?;
    Ok((status, retry_after, body.error))
}

#[tokio::test]
async fn a_live_loop_stops_as_soon_as_its_last_viewer_leaves() -> anyhow::Result<()> {
    let prom = triage_tests::Prometheus::start(&[]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    // An hourly refresh: a loop that waited for its next tick to notice would outlive the test.
    let mut reader = triage_tests::SseReader::connect(&app.http, &live_url(&app, "up", 3600)).await?;
    reader.next().await?;
    assert_eq!(metric(&app, "triage_live_queries").await?, 1.0);
    assert_eq!(metric(&app, "triage_event_streams").await?, 1.0);
    drop(reader);
    eventually(5, "the loop stopping", || async { Ok(metric(&app, "triage_live_queries").await? == 0.0) })
        .await?;
    eventually(5, "the stream slot coming back", || async {
        Ok(metric(&app, "triage_event_streams").await? == 0.0)
    })
    .await?;
    app.stop().await
}

#[tokio::test]
async fn distinct_live_queries_and_streams_are_capped_per_caller() -> anyhow::Result<()> {
    let prom = triage_tests::Prometheus::start(&[]).await?;
    let mut settings = triage::config::Settings {
        prometheus: Some(TestApp::prometheus_settings(&prom.url)?),
        ..Default::default()
    };
    settings.limits.max_live_queries_per_caller = 3;
    settings.limits.max_streams_per_caller = 5;
    let app = TestApp::start_with(settings).await?;
    let mut open = Vec::new();
    for i in 0..3 {
        open.push(
            triage_tests::SseReader::connect(&app.http, &live_url(&app, &format!("vector({i})"), 60)).await?,
        );
    }
    let refused = app.http.get(live_url(&app, "vector(3)", 60)).send().await?;
    let (status, retry_after, error) = error_of(refused).await?;
    assert_eq!(status, 429);
    assert_eq!(error.kind, triage_shared::ErrorKind::RateLimited);
    assert!(error.message.contains("3 distinct live queries"), "{}", error.message);
    assert!(retry_after.is_some(), "a 429 says when to retry");
    // Another viewer of a query already followed costs no new loop: allowed, up to the stream cap.
    open.push(triage_tests::SseReader::connect(&app.http, &live_url(&app, "vector(0)", 60)).await?);
    open.push(triage_tests::SseReader::connect(&app.http, &live_url(&app, "vector(0)", 60)).await?);
    let (status, _, error) = error_of(app.http.get(live_url(&app, "vector(0)", 60)).send().await?).await?;
    assert_eq!(status, 429, "the sixth stream of one caller");
    assert!(error.message.contains("event streams"), "{}", error.message);
    assert_eq!(metric(&app, "triage_live_queries").await?, 3.0, "refused subscriptions started no loop");
    // Closing one distinct query frees its place.
    open.remove(2);
    eventually(5, "a free place", || async { Ok(metric(&app, "triage_live_queries").await? == 2.0) }).await?;
    open.push(triage_tests::SseReader::connect(&app.http, &live_url(&app, "vector(3)", 60)).await?);
    drop(open);
    app.stop().await
}

#[tokio::test]
async fn concurrent_runbook_runs_are_capped_per_caller() -> anyhow::Result<()> {
    // Prometheus behind a proxy that never answers: the flow's PromQL checks stay running until
    // their timeout, so runs stay in progress long enough to count.
    let proxy = triage_tests::proxy::TcpProxy::start(vec!["127.0.0.1:9".parse()?]).await?;
    proxy.set_fault(triage_tests::proxy::Fault::Hang);
    let mut settings = triage::config::Settings {
        prometheus: Some(TestApp::prometheus_settings(&proxy.url(""))?),
        ..Default::default()
    };
    settings.runbooks.dir = triage_tests::paths::workspace_root().join("runbooks");
    settings.runbooks.check_timeout_secs = 3;
    settings.limits.max_concurrent_runs_per_caller = 2;
    let app = TestApp::start_with(settings).await?;
    let body = serde_json::json!({"params": {}});
    let start = || app.post_json("/api/runbooks/general-triage/runs", &body);
    for _ in 0..2 {
        let (status, body) = start().await?;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = start().await?;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("runbook runs"), "{body}");
    assert_eq!(metric(&app, "triage_runbook_runs_in_progress").await?, 2.0);
    // Once their checks time out the runs are finished and the caller may start again.
    eventually(15, "the runs finishing", || async {
        Ok(metric(&app, "triage_runbook_runs_in_progress").await? == 0.0)
    })
    .await?;
    let (status, body) = start().await?;
    assert_eq!(status, 200, "{body}");
    app.stop().await
}

#[tokio::test]
async fn on_demand_snapshots_are_kept_by_count() -> anyhow::Result<()> {
    let pg = triage_tests::Postgres::start().await?;
    pg.connect("postgres").await?.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    let mut settings =
        triage::config::Settings { postgres: Some(pg.analysis_settings("postgres")), ..Default::default() };
    if let Some(p) = settings.postgres.as_mut() {
        p.max_manual_snapshots = 3;
    }
    let app = TestApp::start_with(settings).await?;
    let mut taken = Vec::new();
    for _ in 0..5 {
        let (status, body) = app.post_json("/api/pg/main/snapshots", &serde_json::json!({})).await?;
        assert_eq!(status, 200, "{body}");
        taken.push(body["id"].as_i64().unwrap_or_default());
    }
    let kept: Vec<serde_json::Value> = app.get_json("/api/pg/main/snapshots").await?;
    let mut ids: Vec<i64> = kept.iter().filter_map(|s| s["id"].as_i64()).collect();
    ids.sort_unstable();
    assert_eq!(ids, taken[2..].to_vec(), "the newest three are kept");
    app.stop().await
}

#[tokio::test]
async fn stored_runs_are_kept_by_count() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = || {
        let mut s = triage::config::Settings::default();
        s.store.sqlite_path = dir.path().join("store.db");
        s.runbooks.dir = triage_tests::paths::workspace_root().join("runbooks");
        s.runbooks.max_stored_runs = 2;
        s
    };
    let app = TestApp::start_with(settings()).await?;
    let body = serde_json::json!({"params": {}});
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (status, started) = app.post_json("/api/runbooks/general-triage/runs", &body).await?;
        assert_eq!(status, 200, "{started}");
        let id = started["run_id"].as_str().unwrap_or_default().to_owned();
        // Nothing is configured, so every check errs at once and the run finishes quickly.
        eventually(20, "the run finishing", || async {
            let state: serde_json::Value = app.get_json(&format!("/api/runs/{id}")).await?;
            Ok(!state["finished_at"].is_null())
        })
        .await?;
        runs.push(id);
    }
    app.stop().await?;
    // A fresh process knows only the store: the oldest run is gone, the newest two answer.
    let fresh = TestApp::start_with(settings()).await?;
    for (i, id) in runs.iter().enumerate() {
        let status = fresh.http.get(fresh.url(&format!("/api/runs/{id}"))).send().await?.status().as_u16();
        assert_eq!(status, if i == 0 { 404 } else { 200 }, "run {i}");
    }
    fresh.stop().await
}

#[tokio::test]
async fn log_follows_rollouts_and_run_streams_share_the_per_caller_stream_cap() -> anyhow::Result<()> {
    let sb = triage_tests::TestSandbox::start(triage_sandbox::Incident::Healthy).await?;
    let mut settings =
        triage_tests::app::kubernetes_settings(&sb.kubeconfig, triage_shared::actions::Role::Operator);
    settings.limits.max_streams_per_caller = 2;
    settings.runbooks.dir = triage_tests::paths::workspace_root().join("runbooks");
    let app = TestApp::start_with(settings).await?;
    let pods = sb.kubectl(&["get", "pods", "-l", "app=ml-inference", "-o", "name"]).await?;
    let pod = pods.lines().next().and_then(|p| p.strip_prefix("pod/")).unwrap_or_default().to_owned();
    let ns = "/api/k8s/namespaces/streaming-analytics";
    let follow = app.url(&format!("{ns}/pods/{pod}/logs/follow?tail=1"));
    let rollout = app.url(&format!("{ns}/deployments/ml-inference/rollout?timeout_secs=60"));
    let first = triage_tests::SseReader::connect(&app.http, &follow).await?;
    let second = triage_tests::SseReader::connect(&app.http, &rollout).await?;
    for url in [follow.clone(), rollout.clone()] {
        let (status, retry_after, error) = error_of(app.http.get(&url).send().await?).await?;
        assert_eq!(status, 429, "{url}");
        assert!(error.message.contains("event streams"), "{}", error.message);
        assert!(retry_after.is_some());
    }
    let (status, started) =
        app.post_json("/api/runbooks/general-triage/runs", &serde_json::json!({"params": {}})).await?;
    assert_eq!(status, 200, "{started}");
    let events = app.url(&format!("/api/runs/{}/events", started["run_id"].as_str().unwrap_or_default()));
    assert_eq!(app.http.get(&events).send().await?.status(), 429, "a run's events count too");
    // A closed stream gives its place back.
    drop(first);
    eventually(5, "a free stream slot", || async { Ok(metric(&app, "triage_event_streams").await? == 1.0) })
        .await?;
    let mut third = triage_tests::SseReader::connect(&app.http, &events).await?;
    assert!(third.next().await?.is_some());
    drop((second, third));
    app.stop().await
}
