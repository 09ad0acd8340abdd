//! What the demo's Postgres page shows for the sandbox's two database incidents, through the
//! API, against the sandbox's own workload on a real PostgreSQL 15: `slow-queries` puts the
//! unindexed `events` filter on top with advice for `events (event_type, timestamp)`;
//! `pool-exhaustion` shows 60 `stream-processor` sessions idle in transaction.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::{oneshot, watch};
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_sandbox::workload::{self, POOL_EXHAUSTION_CONNECTIONS};
use triage_shared::pg::{ActivityReport, AdviceKind, IndexAdviceReport, StatementsReport};
use triage_tests::pg_workload::is_slow;
use triage_tests::{Postgres, TestApp};

async fn poll<T>(secs: u64, what: &str, mut check: impl AsyncFnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_sandbox_incidents_show_on_the_postgres_views() -> Result<()> {
    let pg = Postgres::start().await?;
    workload::prepare(&pg.conninfo("postgres")).await?;
    let (incident, incident_rx) = watch::channel(Incident::SlowQueries);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(workload::run(pg.conninfo("postgres"), incident_rx, async move {
        let _ = stop_rx.await;
    }));
    let app = TestApp::start_with(Settings {
        postgres: Some(pg.analysis_settings("postgres")),
        ..Settings::default()
    })
    .await?;

    let top = poll(30, "the slow filter on top by total and by mean", async || {
        let total: StatementsReport = app.get_json("/api/pg/main/statements?order=total").await?;
        let mean: StatementsReport = app.get_json("/api/pg/main/statements?order=mean").await?;
        let on_top = |r: &StatementsReport| r.rows.first().is_some_and(|s| is_slow(&s.query));
        Ok((on_top(&total) && on_top(&mean)).then_some(total))
    })
    .await?;
    eprintln!("slow-queries: {:.1} ms mean over {} calls", top.rows[0].mean_ms, top.rows[0].calls);
    let advice = poll(30, "advice for events", async || {
        let r: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
        Ok(r.suggestions.into_iter().find(|s| s.kind == AdviceKind::CreateIndex && s.table == "events"))
    })
    .await?;
    eprintln!("advice: {}", advice.ddl);
    assert_eq!(advice.columns, ["event_type", "timestamp"]);
    // The sandbox installs HypoPG: the planner agreed, replacing the sequential scan.
    assert!(advice.verified, "{advice:?}");
    let evidence = advice.planner.first().context("the planner's evidence")?;
    assert!(evidence.before.starts_with("Seq Scan on events"), "{evidence:?}");
    assert!(evidence.cost_after < evidence.cost_before, "{evidence:?}");

    incident.send_replace(Incident::PoolExhaustion);
    let wanted = i64::try_from(POOL_EXHAUSTION_CONNECTIONS)?;
    let activity = poll(30, "the leaked connections", async || {
        let r: ActivityReport = app.get_json("/api/pg/main/activity").await?;
        let leaked = r
            .by_application
            .iter()
            .find(|a| a.application == "stream-processor" && a.state == "idle in transaction")
            .map_or(0, |a| a.count);
        Ok((leaked >= wanted).then_some(r))
    })
    .await?;
    eprintln!(
        "pool-exhaustion: {} of {} connections, {} idle in transaction",
        activity.total_connections, activity.max_connections, activity.idle_in_transaction
    );
    assert!(activity.total_connections > wanted && activity.idle_in_transaction >= wanted);
    assert!(activity.available_connections < 40, "{activity:#?}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task).await???;
    app.stop().await
}
