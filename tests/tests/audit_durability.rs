//! Audit durability: the `triage` process is killed with SIGKILL while 100 actions run
//! concurrently; after a restart every action that was acknowledged to its caller is in the
//! audit store with its outcome, for both stores (SQLite and PostgreSQL).

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use triage_sandbox::Incident;
use triage_shared::actions::{AuditEntry, AuditOutcome};
use triage_tests::paths::free_port;
use triage_tests::triage_process::TriageProcess;
use triage_tests::{Postgres, TestSandbox};

async fn start(
    config: &std::path::Path,
    port: u16,
    log: std::path::PathBuf,
) -> anyhow::Result<TriageProcess> {
    TriageProcess::start_with_config(config.to_owned(), port, log).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_actions_survive_sigkill_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite_path = \"{}\"", dir.path().join("audit.db").display());
    sigkill_during_a_burst(&store, dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_actions_survive_sigkill_postgres() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let dir = tempfile::tempdir()?;
    let store = format!("postgres_url = \"{}\"", pg.conninfo("postgres"));
    sigkill_during_a_burst(&store, dir.path()).await
}

/// `store` is the body of the `[store]` section.
async fn sigkill_during_a_burst(store: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let port = free_port()?;
    let config = dir.join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[auth]\nlocal_role = \"operator\"\n\
             [kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\n\
             [store]\n{store}\n",
            sb.kubeconfig.display(),
        ),
    )?;
    let mut triage = start(&config, port, dir.join("first.log")).await?;
    let pid = triage.child.pid();

    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?;
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let http = http.clone();
        let acked = acked.clone();
        let url = format!(
            "http://127.0.0.1:{port}/api/k8s/namespaces/streaming-analytics/deployments/stream-processor/scale"
        );
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .header("x-triage-csrf", "1")
                .json(&json!({"replicas": 6 + i % 5, "confirm": "stream-processor"}))
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body: serde_json::Value = response.json().await.ok()?;
            acked.fetch_add(1, Ordering::SeqCst);
            body["audit_id"].as_i64()
        }));
    }
    // Kill the backend mid-way through the burst.
    while acked.load(Ordering::SeqCst) < 15 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
    assert!(status.success());
    let mut acknowledged = BTreeSet::new();
    for t in tasks {
        if let Some(id) = t.await? {
            acknowledged.insert(id);
        }
    }
    triage.child.stop();
    assert!(acknowledged.len() >= 15, "{} acknowledged", acknowledged.len());
    assert!(acknowledged.len() < 100, "the kill must land mid-burst ({} acknowledged)", acknowledged.len());

    let _triage = start(&config, port, dir.join("second.log")).await?;
    let audit: Vec<AuditEntry> =
        http.get(format!("http://127.0.0.1:{port}/api/audit?limit=1000")).send().await?.json().await?;
    let stored: BTreeSet<i64> =
        audit.iter().filter(|e| e.outcome == AuditOutcome::Succeeded).map(|e| e.id).collect();
    let missing: Vec<&i64> = acknowledged.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but not stored as succeeded: {missing:?}");
    println!(
        "{} acknowledged, {} rows stored ({} pending: started when the process died)",
        acknowledged.len(),
        audit.len(),
        audit.iter().filter(|e| e.outcome == AuditOutcome::Pending).count()
    );
    Ok(())
}
