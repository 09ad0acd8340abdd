//! Audit durability: the `triage` process is killed with SIGKILL while eight callers keep
//! actions in flight; after a restart every action that was acknowledged to its caller is in the
//! audit store with its outcome, for both stores (SQLite and PostgreSQL). And the PostgreSQL
//! store survives its database: restarted under running replicas, it is used again by the next
//! action, snapshot listing and run permalink; while it is down, an action is refused in
//! seconds and changes nothing, and once it is back actions run without restarting Triage.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use triage_sandbox::Incident;
use triage_shared::actions::{ActionOutcome, AuditEntry, AuditOutcome, Role};
use triage_shared::pg::SnapshotInfo;
use triage_shared::runbook::{RunStarted, RunState};
use triage_shared::{ErrorBody, ErrorKind};
use triage_tests::app::kubernetes_settings;
use triage_tests::paths::{free_port, workspace_root};
use triage_tests::triage_process::TriageProcess;
use triage_tests::{Postgres, TestApp, TestSandbox};

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
    // Eight callers keep actions in flight until the process dies, so the kill always lands
    // mid-burst, however fast the store acknowledges (a fixed batch could finish first).
    let acked = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let url = format!(
        "http://127.0.0.1:{port}/api/k8s/namespaces/streaming-analytics/deployments/stream-processor/scale"
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, acked, sent, url) = (http.clone(), acked.clone(), sent.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut unanswered = 0;
            while unanswered == 0 && sent.load(Ordering::SeqCst) < 10_000 {
                let i = sent.fetch_add(1, Ordering::SeqCst);
                let answer = http
                    .post(&url)
                    .header("x-triage-csrf", "1")
                    .json(&json!({"replicas": 6 + i % 5, "confirm": "stream-processor"}))
                    .send()
                    .await;
                let Ok(response) = answer else {
                    unanswered += 1;
                    continue;
                };
                if !response.status().is_success() {
                    unanswered += 1;
                    continue;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    unanswered += 1;
                    continue;
                };
                if let Some(id) = body["audit_id"].as_i64() {
                    ids.push(id);
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }
            (ids, unanswered)
        }));
    }
    while acked.load(Ordering::SeqCst) < 15 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
    assert!(status.success());
    let mut acknowledged = BTreeSet::new();
    let mut cut_off = 0;
    for t in tasks {
        let (ids, unanswered) = t.await?;
        acknowledged.extend(ids);
        cut_off += unanswered;
    }
    triage.child.stop();
    assert!(acknowledged.len() >= 15, "{} acknowledged", acknowledged.len());
    assert!(cut_off > 0, "the kill must land mid-burst: every caller was answered");

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

const SCALE: &str = "/api/k8s/namespaces/streaming-analytics/deployments/ml-inference/scale";

/// Triage on the sandbox, every caller an operator, with its store and its one analysis target
/// (`main`) both on `pg`'s `postgres` database.
async fn app_with_postgres_store(pg: &Postgres, sb: &TestSandbox) -> anyhow::Result<TestApp> {
    let mut settings = kubernetes_settings(&sb.kubeconfig, Role::Operator);
    settings.store.postgres_url = Some(pg.conninfo("postgres").into());
    settings.postgres = Some(pg.analysis_settings("postgres"));
    settings.runbooks.dir = workspace_root().join("runbooks");
    TestApp::start_with(settings).await
}

/// A real (audited) scale of `ml-inference`; returns the status and the body.
async fn scale(app: &TestApp, replicas: u32) -> anyhow::Result<(u16, serde_json::Value)> {
    app.post_json(SCALE, &json!({"replicas": replicas, "dry_run": false, "confirm": "ml-inference"})).await
}

/// `ml-inference`'s replicas as the Kubernetes API has them, through real kubectl.
async fn replicas(sb: &TestSandbox) -> anyhow::Result<String> {
    Ok(sb
        .kubectl(&["get", "deployment", "ml-inference", "-o", "jsonpath={.spec.replicas}"])
        .await?
        .trim()
        .to_owned())
}

/// Scales and expects success; returns the action's audit id.
async fn scale_ok(app: &TestApp, replicas: u32) -> anyhow::Result<i64> {
    let (status, body) = scale(app, replicas).await?;
    anyhow::ensure!(status == 200, "scale to {replicas} answered {status}: {body}");
    let outcome: ActionOutcome = serde_json::from_value(body)?;
    outcome.audit_id.context("a real action has an audit id")
}

fn succeeded(audit: &[AuditEntry], id: i64) -> bool {
    audit.iter().any(|e| e.id == id && e.outcome == AuditOutcome::Succeeded)
}

/// Polls `/api/runs/{id}` on `app` until the run is there and finished (404 while it is not).
async fn finished_run(app: &TestApp, id: &str) -> anyhow::Result<RunState> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.http.get(app.url(&format!("/api/runs/{id}"))).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        match status {
            200 => {
                let state: RunState = serde_json::from_str(&text)?;
                if state.finished_at.is_some() {
                    return Ok(state);
                }
            }
            404 => {}
            _ => anyhow::bail!("GET /api/runs/{id} answered {status}: {text}"),
        }
        anyhow::ensure!(Instant::now() < deadline, "run {id} never finished: {status} {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_restarted_under_running_replicas_is_used_again() -> anyhow::Result<()> {
    let mut pg = Postgres::start().await?;
    pg.connect("postgres").await?.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    // Two replicas sharing the store: a run finished on one is read back through the other.
    let (a, b) = (app_with_postgres_store(&pg, &sb).await?, app_with_postgres_store(&pg, &sb).await?);

    // Both replicas hold store connections that the restart will kill.
    let before = scale_ok(&a, 3).await?;
    let (status, snapshot) = a.post_json("/api/pg/main/snapshots", &json!({})).await?;
    assert_eq!(status, 200, "{snapshot}");
    let snapshot: SnapshotInfo = serde_json::from_value(snapshot)?;
    let audit: Vec<AuditEntry> = b.get_json("/api/audit").await?;
    assert!(succeeded(&audit, before), "{audit:?}");

    pg.restart().await?;
    let started = Instant::now();
    let after = scale_ok(&a, 4).await.context("the first action after the database restarted")?;
    eprintln!("first action after the restart: {:?}", started.elapsed());
    assert_eq!(replicas(&sb).await?, "4");
    for app in [&a, &b] {
        let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
        assert!(succeeded(&audit, before) && succeeded(&audit, after), "{audit:?}");
        let snapshots: Vec<SnapshotInfo> = app.get_json("/api/pg/main/snapshots").await?;
        assert!(snapshots.iter().any(|s| s.id == snapshot.id), "{snapshots:?}");
    }

    // A run finished on `a` after the restart is stored, and `b` (which never ran it, so it
    // has it only from the store) answers its permalink.
    let (status, body) = a.post_json("/api/runbooks/memory-leak/runs", &json!({"params": {}})).await?;
    assert_eq!(status, 200, "{body}");
    let run: RunStarted = serde_json::from_value(body)?;
    let on_a = finished_run(&a, &run.run_id).await?;
    let on_b = finished_run(&b, &run.run_id).await?;
    assert_eq!((on_b.runbook.as_str(), on_b.finished_at), ("memory-leak", on_a.finished_at));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_with_the_postgres_store_down_is_refused_fast_and_changes_nothing() -> anyhow::Result<()> {
    let mut pg = Postgres::start().await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = app_with_postgres_store(&pg, &sb).await?;
    let first = scale_ok(&app, 3).await?;
    assert_eq!(replicas(&sb).await?, "3");

    pg.stop();
    let started = Instant::now();
    let (status, body) = scale(&app, 5).await?;
    let took = started.elapsed();
    eprintln!("refused with the store down in {took:?}: {status} {body}");
    let refused: ErrorBody = serde_json::from_value(body)?;
    assert_eq!((status, refused.error.kind), (503, ErrorKind::Unavailable), "{}", refused.error.message);
    assert!(
        refused.error.message.starts_with("the audit store is unavailable, so no action can run: "),
        "{}",
        refused.error.message
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(replicas(&sb).await?, "3", "an action that could not be audited must not run");

    // Back without restarting Triage: the next action runs and is on record.
    pg.restart().await?;
    let started = Instant::now();
    let second = scale_ok(&app, 5).await.context("the first action after the database came back")?;
    eprintln!("first action after the database came back: {:?}", started.elapsed());
    assert_eq!(replicas(&sb).await?, "5");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(
        audit.iter().map(|e| e.id).collect::<Vec<_>>(),
        [second, first],
        "the refused one left no row"
    );
    assert!(succeeded(&audit, first) && succeeded(&audit, second), "{audit:?}");
    Ok(())
}

/// The outcome row cannot be written (a trigger in the store's real PostgreSQL refuses every
/// UPDATE of the audit table, as a full disk or a revoked grant would): the action has run, so
/// the caller hears that it ran *and* that its outcome is not on record, never a plain success.
#[tokio::test]
async fn an_outcome_that_cannot_be_recorded_is_not_acknowledged_as_success() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = app_with_postgres_store(&pg, &sb).await?;
    pg.connect("postgres")
        .await?
        .batch_execute(
            "CREATE FUNCTION refuse_outcome() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;
             CREATE TRIGGER refuse_outcome BEFORE UPDATE ON triage_audit
               FOR EACH ROW EXECUTE FUNCTION refuse_outcome();",
        )
        .await?;
    let (status, body) = scale(&app, 2).await?;
    let error: ErrorBody = serde_json::from_value(body)?;
    assert_eq!((status, error.error.kind), (503, ErrorKind::Unavailable), "{}", error.error.message);
    assert!(
        error.error.message.contains("was applied, but its outcome could not be recorded"),
        "{}",
        error.error.message
    );
    assert_eq!(replicas(&sb).await?, "2", "the action itself ran");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, AuditOutcome::Pending, "the row says what is known: it began");
    assert_eq!(error.error.detail.as_ref().and_then(|d| d["audit_id"].as_i64()), Some(audit[0].id));
    Ok(())
}
