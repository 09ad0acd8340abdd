//! Several Triage replicas behind one address, as a Kubernetes Service runs them: two backends
//! share one PostgreSQL store, a round-robin TCP proxy spreads connections over them (one
//! connection per request here, so consecutive requests alternate). Audit entries written through
//! either replica appear in one ordered list on both; live streams work through either; each
//! replica still asks Prometheus once per refresh however many viewers it has.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::{AuditEntry, AuditOutcome, Role};
use triage_shared::prom::LiveUpdate;
use triage_tests::proxy::TcpProxy;
use triage_tests::{Postgres, Prometheus, SseReader, TestApp, TestSandbox};

/// A client that opens a new connection for every request, so the proxy alternates replicas.
fn unpooled() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(30)).build()?)
}

fn replica_settings(base: &Settings, store: &str, prom_url: &str) -> Result<Settings> {
    let mut settings = base.clone();
    settings.store.postgres_url = Some(store.to_owned().into());
    settings.prometheus = Some(triage::config::PrometheusSettings {
        url: prom_url.parse()?,
        timeout_secs: 10,
        max_range_secs: 31 * 86_400,
        max_points: 11_000,
    });
    Ok(settings)
}

#[tokio::test]
async fn two_replicas_share_the_audit_log_and_serve_live_streams() -> Result<()> {
    let pg = Postgres::start().await?;
    let prom = Prometheus::start(&[]).await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let base = triage_tests::app::kubernetes_settings(&sb.kubeconfig, Role::Operator);
    let store = pg.conninfo("postgres");
    let a = TestApp::start_with(replica_settings(&base, &store, &prom.url)?).await?;
    let b = TestApp::start_with(replica_settings(&base, &store, &prom.url)?).await?;
    let proxy = TcpProxy::start(vec![a.addr, b.addr]).await?;
    let http = unpooled()?;

    // Six scale actions through the Service address: three land on each replica.
    let path = "/api/k8s/namespaces/streaming-analytics/deployments/websocket-server/scale";
    let mut acknowledged = Vec::new();
    for replicas in [4, 5, 6, 7, 8, 9] {
        let response = http
            .post(proxy.url(path))
            .header("x-triage-csrf", "1")
            .json(&json!({ "replicas": replicas }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        assert_eq!(status, 200, "{body}");
        acknowledged.push(body["audit_id"].as_i64().context("audit id")?);
    }
    assert_eq!(proxy.connections(), 6);
    let served = |app: &TestApp| {
        let http = http.clone();
        let url = app.url("/metrics");
        async move {
            let text = http.get(url).send().await?.text().await?;
            Ok::<f64, anyhow::Error>(
                text.lines()
                    .filter(|l| l.starts_with("triage_http_requests_total") && l.contains("/scale"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum(),
            )
        }
    };
    assert_eq!((served(&a).await?, served(&b).await?), (3.0, 3.0), "the proxy spread the actions");

    // Both replicas show the same list: all six, newest first, in the order they were made.
    let list_a: Vec<AuditEntry> = a.get_json("/api/audit").await?;
    let list_b: Vec<AuditEntry> = b.get_json("/api/audit").await?;
    assert_eq!(list_a, list_b);
    let ids: Vec<i64> = list_a.iter().map(|e| e.id).collect();
    let mut expected = acknowledged.clone();
    expected.reverse();
    assert_eq!(ids, expected);
    let replicas: Vec<i64> =
        list_a.iter().rev().map(|e| e.params["replicas"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(replicas, vec![4, 5, 6, 7, 8, 9]);
    assert!(list_a.iter().all(|e| e.outcome == AuditOutcome::Succeeded));

    // Live streams through the Service address: viewers land on both replicas; each replica
    // polls Prometheus once per refresh for all of its viewers.
    let before = prom.handler_requests("/api/v1/query_range").await?;
    let query = "rate(prometheus_http_requests_total%5B1m%5D)";
    let url = proxy.url(&format!("/api/live?query={query}&step=1&window=60&interval=2"));
    let mut viewers = Vec::new();
    for _ in 0..20 {
        let http = http.clone();
        let url = url.clone();
        viewers.push(tokio::spawn(async move {
            let mut reader = SseReader::connect(&http, &url).await?;
            let mut stamps = Vec::new();
            while stamps.len() < 3 {
                let event = tokio::time::timeout(Duration::from_secs(20), reader.next())
                    .await??
                    .context("stream ended")?;
                let update: LiveUpdate = serde_json::from_str(&event.data)?;
                stamps.push(update.fetched_at.to_bits());
            }
            anyhow::Ok(stamps)
        }));
    }
    let mut by_sequence: BTreeMap<u64, usize> = BTreeMap::new();
    let mut distinct = BTreeSet::new();
    for v in viewers {
        let stamps = v.await??;
        *by_sequence.entry(stamps[0]).or_default() += 1;
        distinct.extend(stamps);
    }
    let upstream = prom.handler_requests("/api/v1/query_range").await? - before;
    // Viewers of one replica share its polls, so they see the same first update; with two
    // replicas there are two (occasionally three, when a poll lands as viewers join) groups.
    assert!((2..=3).contains(&by_sequence.len()), "viewers per first update: {by_sequence:?}");
    let polls = distinct.len() as f64;
    assert!(
        upstream >= polls && upstream <= polls + 2.0,
        "{upstream} upstream queries for {polls} refreshes"
    );
    assert!(polls <= 10.0, "20 viewers × 3 updates took {polls} refreshes over two replicas");
    Ok(())
}
