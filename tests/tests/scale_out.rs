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
    settings.prometheus = Some(TestApp::prometheus_settings(prom_url)?);
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

/// Single sign-on across replicas: both backends share the session key and the store, and the
/// provider knows only the public address (the proxy). The login's steps alternate between the
/// replicas (one connection per request), and the session it ends with is accepted by each replica
/// directly; an operator's action through the proxy is audited with the user's identity on both.
#[tokio::test]
async fn a_login_on_one_replica_is_valid_on_the_other() -> Result<()> {
    use triage_tests::oidc::{Agent, Body, OidcProvider, session_key, sso_settings, user};
    use triage_tests::paths::free_port;

    let pg = Postgres::start().await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let provider_port = OidcProvider::reserve_port()?;
    let public_port = free_port()?;
    let key = session_key();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut settings = sso_settings(&OidcProvider::issuer_for(provider_port), public_port, &key)?;
        settings.kubernetes = triage_tests::app::kubernetes_settings(&sb.kubeconfig, Role::Reader).kubernetes;
        settings.store.postgres_url = Some(pg.conninfo("postgres").into());
        replicas.push(TestApp::start_with(settings).await?);
    }
    let proxy = TcpProxy::start_on(public_port, replicas.iter().map(|r| r.addr).collect()).await?;
    let provider = OidcProvider::start(provider_port, &[public_port]).await?;

    let agent = Agent::unpooled();
    let before = proxy.connections();
    let landed = provider.login(&agent, &proxy.url("/kubernetes?tab=pods"), &user("oscar")).await?;
    assert_eq!(landed.status, 200, "{}", landed.body);
    assert_eq!(landed.url.path(), "/kubernetes", "the deep link survived the login");
    assert!(proxy.connections() - before >= 3, "the login's steps went through the proxy");
    let session = agent.cookie(&proxy.url("/"), "triage_session").context("no session cookie")?;

    // Each replica, addressed directly, accepts the session made through the proxy.
    let mut tokens = Vec::new();
    for replica in &replicas {
        agent.set_cookie(&replica.url("/"), "triage_session", &session);
        let me = agent.get(&replica.url("/api/whoami")).await?;
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.json()["email"], "oscar@example.test");
        assert_eq!(me.json()["role"], "operator");
        tokens.push(me.json()["csrf_token"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(tokens[0], tokens[1], "the CSRF token is the session's, not the replica's");

    // An action through the proxy, audited once, with the identity, visible on both replicas.
    let scale = proxy.url("/api/k8s/namespaces/streaming-analytics/deployments/websocket-server/scale");
    let answer = agent
        .send(
            reqwest::Method::POST,
            &scale,
            &[("x-triage-csrf", &tokens[0])],
            Some(Body::Json(json!({"replicas": 4}))),
        )
        .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for replica in &replicas {
        let audit = agent.get(&replica.url("/api/audit")).await?;
        let entries: Vec<AuditEntry> = serde_json::from_str(&audit.body)?;
        assert_eq!(entries.len(), 1, "{}", audit.body);
        assert_eq!(entries[0].subject, "oscar");
        assert_eq!(entries[0].email.as_deref(), Some("oscar@example.test"));
        assert!(entries[0].groups.iter().any(|g| g == triage_tests::oidc::OPERATOR_GROUP));
    }
    Ok(())
}
