//! The sandbox's database workload against a real PostgreSQL 15: the seed and its schema, the
//! `slow-queries` and `pool-exhaustion` incidents as Triage would see them, and surviving lost
//! connections. Each test starts its own cluster.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use triage_sandbox::Incident;
use triage_sandbox::workload::{self, POOL_EXHAUSTION_CONNECTIONS, SEED_ROWS};
use triage_tests::Postgres;

const SERVICES: [&str; 3] = ["websocket-server", "stream-processor", "ml-inference"];

/// A running `workload::run`, stopped when dropped (its shutdown future resolves).
struct Workload {
    incident: watch::Sender<Incident>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<()>>,
}

impl Workload {
    fn start(conninfo: String, incident: Incident) -> Self {
        let (incident, incident_rx) = watch::channel(incident);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(workload::run(conninfo, incident_rx, async move {
            let _ = stop_rx.await;
        }));
        Self { incident, stop, task }
    }

    fn switch(&self, incident: Incident) {
        self.incident.send_replace(incident);
    }

    /// Signals shutdown and expects `run` to return `Ok` promptly.
    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .context("run did not return within 10 s of shutdown")??
    }
}

/// Statements of this database in pg_stat_statements, without utility statements and without
/// this test's own monitoring queries, best first by `order` (a column name chosen by the test).
async fn top_statements(client: &tokio_postgres::Client, order: &str) -> Result<Vec<(String, f64)>> {
    let sql = format!(
        "SELECT query, {order}::float8 FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND toplevel
           AND query ~* '^\\s*(select|insert|update|delete|with)\\M'
           AND query NOT ILIKE '%pg_stat_%'
         ORDER BY {order} DESC LIMIT 5"
    );
    let rows = client.query(&sql, &[]).await?;
    Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, f64>(1))).collect())
}

/// Lower-case with whitespace collapsed, so assertions do not depend on the SQL's layout.
fn normalized(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn is_slow_query(sql: &str) -> bool {
    let sql = normalized(sql);
    sql.starts_with("select")
        && sql.contains("from events")
        && sql.contains("timestamp > $1")
        && sql.contains("event_type = $2")
}

async fn count_events(client: &tokio_postgres::Client) -> Result<i64> {
    Ok(client.query_one("SELECT count(*) FROM events", &[]).await?.get(0))
}

/// Client backends of this database in state `state` for `application_name`.
async fn backends(client: &tokio_postgres::Client, application_name: &str, state: &str) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND datname = current_database()
               AND application_name = $1 AND state = $2",
            &[&application_name, &state],
        )
        .await?;
    Ok(row.get(0))
}

/// PIDs of the workload's backends, by service.
async fn service_pids(client: &tokio_postgres::Client) -> Result<Vec<(String, i32)>> {
    let rows = client
        .query(
            "SELECT application_name, pid FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND application_name = ANY($1)",
            &[&SERVICES.as_slice()],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[tokio::test]
async fn prepare_is_idempotent_and_leaves_the_timestamp_index_missing() -> Result<()> {
    let pg = Postgres::start().await?;
    let conninfo = pg.conninfo("postgres");
    let client = pg.connect("postgres").await?;

    let started = Instant::now();
    workload::prepare(&conninfo).await?;
    let first = count_events(&client).await?;
    assert_eq!(first, SEED_ROWS, "an empty table is seeded once");
    eprintln!("prepare on an empty database took {:?}", started.elapsed());

    workload::prepare(&conninfo).await?;
    assert_eq!(count_events(&client).await?, first, "a second prepare must not seed again");

    // Realistic spread: a dozen types, thousands of users, two days of history.
    let row = client
        .query_one(
            "SELECT count(DISTINCT event_type), count(DISTINCT user_id),
                    extract(epoch FROM max(timestamp) - min(timestamp))::float8 / 3600
             FROM events",
            &[],
        )
        .await?;
    let (types, users, hours): (i64, i64, f64) = (row.get(0), row.get(1), row.get::<_, f64>(2));
    assert!(types >= 10, "only {types} event types");
    assert!(users >= 1000, "only {users} users");
    assert!(hours > 40.0, "events span only {hours:.1} h");

    // The planner must look users up by index but scan the whole table for the incident's filter.
    let plan = |sql: &'static str| {
        let client = &client;
        async move {
            let rows = client.query(sql, &[]).await?;
            anyhow::Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n"))
        }
    };
    let by_user = plan("EXPLAIN SELECT * FROM events WHERE user_id = 42").await?;
    assert!(by_user.contains("events_user_id_idx"), "user lookups should use the index:\n{by_user}");
    let by_type = plan(
        "EXPLAIN SELECT count(*) FROM events
         WHERE timestamp > now() - interval '1 hour' AND event_type = 'click'",
    )
    .await?;
    assert!(by_type.contains("Seq Scan on events"), "the slow-queries filter must seq-scan:\n{by_type}");
    Ok(())
}

#[tokio::test]
async fn slow_queries_make_the_unindexed_filter_the_top_statement() -> Result<()> {
    let pg = Postgres::start().await?;
    let client = pg.connect("postgres").await?;
    workload::prepare(&pg.conninfo("postgres")).await?;
    let workload = Workload::start(pg.conninfo("postgres"), Incident::Healthy);

    // Healthy first: baseline traffic shows up, the slow filter does not.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let top = top_statements(&client, "calls").await?;
        if top.len() >= 3 {
            assert!(
                !top.iter().any(|(q, _)| is_slow_query(q)),
                "the slow query runs while healthy: {top:#?}"
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("no baseline traffic after 20 s: {top:#?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    workload.switch(Incident::SlowQueries);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let by_total = top_statements(&client, "total_exec_time").await?;
        let by_mean = top_statements(&client, "mean_exec_time").await?;
        let top_total = by_total.first().is_some_and(|(q, _)| is_slow_query(q));
        let top_mean = by_mean.first().is_some_and(|(q, _)| is_slow_query(q));
        if top_total && top_mean {
            eprintln!("by total_exec_time: {by_total:#?}\nby mean_exec_time: {by_mean:#?}");
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "after 20 s the slow query is not on top.\nby total_exec_time: {by_total:#?}\n\
                 by mean_exec_time: {by_mean:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    workload.stop().await
}

#[tokio::test]
async fn pool_exhaustion_leaks_idle_transactions_until_it_ends() -> Result<()> {
    let pg = Postgres::start().await?;
    let client = pg.connect("postgres").await?;
    workload::prepare(&pg.conninfo("postgres")).await?;
    let workload = Workload::start(pg.conninfo("postgres"), Incident::Healthy);
    let wanted = i64::try_from(POOL_EXHAUSTION_CONNECTIONS)?;
    assert!(wanted >= 40, "the leak should be large enough to exhaust a pool");

    // Wait for the baseline, then check that healthy traffic leaves nothing idle in transaction.
    let deadline = Instant::now() + Duration::from_secs(20);
    while service_pids(&client).await?.len() < SERVICES.len() {
        if Instant::now() > deadline {
            bail!("the services did not connect within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(backends(&client, "stream-processor", "idle in transaction").await?, 0);

    workload.switch(Incident::PoolExhaustion);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let idle = backends(&client, "stream-processor", "idle in transaction").await?;
        if idle >= wanted {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {idle} of {wanted} stream-processor backends idle in transaction after 20 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Ending the incident rolls the leaked transactions back and closes their connections; the
    // service's own connection stays.
    workload.switch(Incident::Healthy);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let idle = backends(&client, "stream-processor", "idle in transaction").await?;
        let pids = service_pids(&client).await?;
        let connected = pids.iter().filter(|(app, _)| app == "stream-processor").count();
        if idle == 0 && connected == 1 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "10 s after the incident ended: {idle} stream-processor backends idle in transaction, \
                 {connected} connected (want 0 and 1)"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Shutdown closes every connection of the workload.
    workload.stop().await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = service_pids(&client).await?;
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("connections left after shutdown: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

#[tokio::test]
async fn lost_connections_are_reestablished() -> Result<()> {
    let pg = Postgres::start().await?;
    let client = pg.connect("postgres").await?;
    workload::prepare(&pg.conninfo("postgres")).await?;
    let workload = Workload::start(pg.conninfo("postgres"), Incident::Healthy);

    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        let pids = service_pids(&client).await?;
        if pids.len() >= SERVICES.len() {
            break pids;
        }
        if Instant::now() > deadline {
            bail!("the services did not connect within 20 s: {pids:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let old: HashSet<i32> = before.iter().map(|(_, pid)| *pid).collect();

    // As an administrator (or a restart) would: every workload backend is killed.
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND application_name = ANY($1)",
            &[&SERVICES.as_slice()],
        )
        .await?;

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pids = service_pids(&client).await?;
        let back: HashSet<&str> =
            pids.iter().filter(|(_, pid)| !old.contains(pid)).map(|(app, _)| app.as_str()).collect();
        if back.len() == SERVICES.len() {
            break;
        }
        if Instant::now() > deadline {
            bail!("not every service reconnected within 15 s: {pids:?} (old pids {old:?})");
        }
        assert!(!workload.task.is_finished(), "run ended after losing its connections");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // They are not only connected but working again.
    let inserted = count_events(&client).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_events(&client).await? <= inserted {
        if Instant::now() > deadline {
            bail!("no new events within 10 s of reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    workload.stop().await
}

#[tokio::test]
async fn an_unreachable_database_does_not_end_run() -> Result<()> {
    // Nothing listens on port 1 of loopback.
    let workload =
        Workload::start("host=127.0.0.1 port=1 user=postgres dbname=postgres".to_owned(), Incident::Healthy);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!workload.task.is_finished(), "run ended while the database was unreachable");
    workload.stop().await
}
