//! PostgreSQL analysis against a real PostgreSQL 15 with `pg_stat_statements`, through the HTTP
//! API: a slow unindexed filter on `events(timestamp, event_type)` on top and the index advice
//! naming it, then the index the test creates showing as used; idle-in-transaction sessions and
//! a blocking chain; the window diff; the audited reset; read-only SQL checks refused when they
//! write; the missing extension's fix; PostgreSQL stopped and restarted under a running Triage.
//! Each test has its own cluster and its own deterministic workload.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use triage::config::Settings;
use triage_shared::actions::Role;
use triage_shared::pg::{
    ActivityReport, AdviceKind, DiffReport, IndexAdviceReport, SnapshotInfo, SqlParam, StatementsReport,
    TablesReport,
};
use triage_shared::{ApiError, ErrorBody, ErrorKind};
use triage_tests::pg_workload::{SLOW, is_slow, play, seed};
use triage_tests::{Postgres, TestApp};

fn settings(pg: &Postgres, role: Role) -> Settings {
    let mut s = Settings { postgres: Some(pg.analysis_settings("postgres")), ..Settings::default() };
    s.auth = triage::config::AuthSettings::Local { local_role: role };
    s
}

async fn get_error(app: &TestApp, path: &str) -> Result<(u16, ApiError)> {
    let response = app.http.get(app.url(path)).send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body: ErrorBody =
        serde_json::from_str(&text).with_context(|| format!("not an error body: {text}"))?;
    Ok((status, body.error))
}

/// Retries `check` every 250 ms until it gives `Some`, for up to `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn slow_filter_tops_the_statements_and_gets_index_advice_then_the_index_is_used() -> Result<()> {
    let pg = Postgres::start().await?;
    seed(&pg).await?;
    play(&pg, 30, 300).await?;
    let app = TestApp::start_with(settings(&pg, Role::Reader)).await?;

    let targets: Vec<String> = app.get_json("/api/pg/targets").await?;
    assert_eq!(targets, ["main"]);

    for order in ["mean", "total", "max"] {
        let r: StatementsReport = app.get_json(&format!("/api/pg/main/statements?order={order}")).await?;
        let top = r.rows.first().context("no statements")?;
        assert!(is_slow(&top.query), "by {order}, the top statement is {:?}", top.query);
        assert_eq!(top.calls, 30, "{top:?}");
        assert!(top.mean_ms > 0.0 && top.max_ms >= top.mean_ms && top.stddev_ms >= 0.0, "{top:?}");
        assert!(top.hit_ratio.is_some(), "{top:?}");
        assert!(r.exec_time_columns, "PostgreSQL 15 has the *_exec_time columns");
        assert!(
            r.rows.iter().all(|s| !s.query.contains("/* triage */")),
            "Triage's own queries are left out"
        );
        assert!(
            !r.rows.iter().any(|s| s.query.starts_with("START TRANSACTION")
                || s.query.starts_with("SET LOCAL")
                || s.query == "ROLLBACK"),
            "nor its transaction statements: {:#?}",
            r.rows
        );
        assert!(r.databases.contains(&"postgres".to_owned()) && r.roles.contains(&"postgres".to_owned()));
        eprintln!(
            "by {order}: {:.1} ms mean, {:.1} ms max over {} calls; took {:.1} ms",
            top.mean_ms, top.max_ms, top.calls, r.took_ms
        );
    }
    let by_calls: StatementsReport = app.get_json("/api/pg/main/statements?order=calls&limit=3").await?;
    assert_eq!(by_calls.rows.len(), 3);
    assert_eq!(by_calls.rows[0].calls, 300, "a lookup ran 300 times: {:?}", by_calls.rows[0]);
    // Filters are bound: a role that ran nothing has no statements, and odd text is just text.
    let none: StatementsReport =
        app.get_json("/api/pg/main/statements?role=nobody%27%20OR%201%3D1--").await?;
    assert!(none.rows.is_empty(), "{:?}", none.rows);
    let (status, e) = get_error(&app, "/api/pg/main/statements?order=fastest").await?;
    assert_eq!((status, e.kind), (400, ErrorKind::BadRequest), "{e:?}");
    let (status, e) = get_error(&app, "/api/pg/other/statements").await?;
    assert_eq!((status, e.kind), (404, ErrorKind::NotFound), "{e:?}");

    // The advice names the table and the filter's columns, with the DDL to run by hand.
    let advice: IndexAdviceReport = eventually(15, "index advice for events", || async {
        let r: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
        Ok(r.suggestions
            .iter()
            .any(|s| s.kind == AdviceKind::CreateIndex && s.table == "events")
            .then_some(r))
    })
    .await?;
    let create = advice
        .suggestions
        .iter()
        .find(|s| s.kind == AdviceKind::CreateIndex)
        .context("no create-index suggestion")?;
    eprintln!("advice: {}\n  {}", create.ddl, create.reason);
    assert_eq!(create.columns, ["event_type", "timestamp"], "equality column first, then the range");
    assert_eq!(create.ddl, "CREATE INDEX CONCURRENTLY ON public.events (event_type, \"timestamp\");");
    assert!(create.statement.as_deref().is_some_and(is_slow), "{create:?}");
    assert!(create.seq_scan >= 30 && create.seq_tup_read >= 30 * 200_000, "{create:?}");
    assert_eq!(create.column_stats.len(), 2, "pg_stats for both columns: {create:?}");
    // No HypoPG in this database: the parser's advice, marked so, with the way to verify it.
    assert!(!create.verified && create.planner.is_empty(), "{create:?}");
    assert_eq!(advice.verification.hypopg, None);
    assert!(advice.verification.message.contains("CREATE EXTENSION hypopg"), "{:?}", advice.verification);

    // The test creates the index; the filter uses it, and the advice stops asking for it.
    let client = pg.connect("postgres").await?;
    client.batch_execute("CREATE INDEX events_type_time_idx ON events (event_type, timestamp)").await?;
    let recent = std::time::SystemTime::now() - Duration::from_secs(600);
    for _ in 0..10 {
        client.query_one(SLOW, &[&recent, &"purchase"]).await?;
    }
    drop(client);
    let advice: IndexAdviceReport = eventually(15, "the new index used", || async {
        let r: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
        Ok(r.indexes.iter().any(|i| i.index == "events_type_time_idx" && i.idx_scan > 0).then_some(r))
    })
    .await?;
    assert!(
        !advice.suggestions.iter().any(|s| s.kind == AdviceKind::CreateIndex && s.table == "events"),
        "the filter is served now: {:#?}",
        advice.suggestions
    );
    let used = advice.indexes.iter().find(|i| i.index == "events_type_time_idx").context("index listed")?;
    assert_eq!(used.columns, ["event_type", "timestamp"]);
    // events_user_id_idx is used by the lookups; a fresh unused index is flagged with its DROP.
    assert!(!advice.suggestions.iter().any(|s| s.index.as_deref() == Some("events_user_id_idx")));
    assert!(
        !advice.suggestions.iter().any(|s| s.index.as_deref() == Some("events_pkey")),
        "constraints are kept"
    );

    // Duplicate and redundant indexes, and an unused one.
    let client = pg.connect("postgres").await?;
    client
        .batch_execute(
            "CREATE INDEX events_user_id_copy ON events (user_id);
             CREATE INDEX events_payload_idx ON events USING gin (payload);",
        )
        .await?;
    drop(client);
    let advice: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
    let kinds: Vec<(AdviceKind, String)> =
        advice.suggestions.iter().filter_map(|s| s.index.clone().map(|i| (s.kind, i))).collect();
    assert!(kinds.contains(&(AdviceKind::DuplicateIndex, "events_user_id_copy".to_owned())), "{kinds:?}");
    assert!(kinds.contains(&(AdviceKind::UnusedIndex, "events_payload_idx".to_owned())), "{kinds:?}");
    let drop_ddl = advice
        .suggestions
        .iter()
        .find(|s| s.index.as_deref() == Some("events_user_id_copy"))
        .map(|s| s.ddl.clone())
        .unwrap_or_default();
    assert_eq!(drop_ddl, "DROP INDEX CONCURRENTLY public.events_user_id_copy;");

    // Tables: sizes and dead tuples after a delete.
    let client = pg.connect("postgres").await?;
    client.batch_execute("DELETE FROM events WHERE event_id % 10 = 0").await?;
    drop(client);
    let tables: TablesReport = eventually(15, "dead tuples counted", || async {
        let r: TablesReport = app.get_json("/api/pg/main/tables").await?;
        Ok(r.tables.iter().any(|t| t.table == "events" && t.dead_rows > 0).then_some(r))
    })
    .await?;
    let events = tables.tables.iter().find(|t| t.table == "events").context("events listed")?;
    assert!((events.dead_ratio - 0.1).abs() < 0.02, "{events:?}");
    assert!(events.total_bytes >= events.table_bytes + events.index_bytes, "{events:?}");
    assert!(events.last_analyze.is_some(), "ANALYZE ran in the seed: {events:?}");
    assert_eq!(tables.database, "postgres");
    app.stop().await
}

#[tokio::test]
async fn idle_in_transaction_sessions_and_blocking_chains_are_shown() -> Result<()> {
    let pg = Postgres::start().await?;
    let admin = pg.connect("postgres").await?;
    admin
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 0)",
        )
        .await?;
    let app = TestApp::start_with(settings(&pg, Role::Reader)).await?;

    let connect_as = |app_name: &'static str| {
        let conninfo = format!("{} application_name={app_name}", pg.conninfo("postgres"));
        async move {
            let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            anyhow::Ok(client)
        }
    };
    let mut leaked = Vec::new();
    for _ in 0..5 {
        let c = connect_as("leaky-worker").await?;
        c.batch_execute("BEGIN; SELECT 1").await?;
        leaked.push(c);
    }
    // A holds a row lock and goes idle in its transaction; B waits for it, C waits behind B.
    let a = connect_as("billing").await?;
    a.batch_execute("BEGIN; UPDATE accounts SET balance = 1 WHERE id = 1").await?;
    let b = connect_as("billing").await?;
    let c = connect_as("billing").await?;
    let a_pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
    let b_pid: i32 = b.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
    let c_pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
    let b_task = tokio::spawn(async move {
        b.batch_execute("BEGIN; UPDATE accounts SET balance = 2 WHERE id = 1; COMMIT").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c_task =
        tokio::spawn(async move { c.batch_execute("UPDATE accounts SET balance = 3 WHERE id = 1").await });
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let r: ActivityReport = app.get_json("/api/pg/main/activity").await?;
    eprintln!(
        "{} of {} connections, {} idle in transaction, longest {:?} s",
        r.total_connections, r.max_connections, r.idle_in_transaction, r.longest_idle_in_transaction_secs
    );
    assert_eq!(r.max_connections, 100);
    assert_eq!(r.reserved_connections, 3);
    assert!(r.total_connections >= 9, "5 leaked + 3 billing + Triage: {r:#?}");
    assert_eq!(r.available_connections, r.max_connections - r.reserved_connections - r.total_connections);
    assert_eq!(r.idle_in_transaction, 6, "5 leaked + A: {r:#?}");
    assert!(r.longest_idle_in_transaction_secs.is_some_and(|s| s >= 1.0), "{r:#?}");
    let leaky = r
        .by_application
        .iter()
        .find(|a| a.application == "leaky-worker" && a.state == "idle in transaction")
        .context("leaky-worker by state")?;
    assert_eq!(leaky.count, 5);
    let listed = r
        .sessions
        .iter()
        .filter(|s| s.application == "leaky-worker" && s.state == "idle in transaction")
        .count();
    assert_eq!(listed, 5, "each leaked session is listed with its application");
    assert!(r.sessions.iter().all(|s| s.state != "idle"), "idle sessions are counted, not listed");
    let chain = r.blocking.iter().find(|ch| ch.blocker.pid == a_pid).context("A blocks")?;
    let blocked: Vec<(u32, i32)> = chain.blocked.iter().map(|(d, s)| (*d, s.pid)).collect();
    assert!(blocked.contains(&(1, b_pid)), "{blocked:?}");
    assert!(blocked.iter().any(|(d, p)| *p == c_pid && *d >= 1), "{blocked:?}");
    let waiting = chain.blocked.iter().find(|(_, s)| s.pid == b_pid).context("B listed")?;
    assert_eq!(waiting.1.wait_event_type.as_deref(), Some("Lock"), "{waiting:?}");

    a.batch_execute("COMMIT").await?;
    b_task.await??;
    c_task.await??;
    drop(leaked);
    let r: ActivityReport = eventually(10, "the sessions gone", || async {
        let r: ActivityReport = app.get_json("/api/pg/main/activity").await?;
        Ok((r.idle_in_transaction == 0).then_some(r))
    })
    .await?;
    assert!(r.blocking.is_empty(), "{:#?}", r.blocking);
    app.stop().await
}

async fn run_diff_scenario(pg: &Postgres, app: &TestApp) -> Result<()> {
    let client = pg.connect("postgres").await?;
    // Before the window: many cheap calls and one heavy statement, which the diff must ignore.
    for i in 0..200 {
        client.query_one("SELECT $1::int + 1", &[&i]).await?;
    }
    client.query_one("SELECT count(*) FROM generate_series(1, 3000000)", &[]).await?;
    let (status, a) = app.post_json("/api/pg/main/snapshots", &serde_json::json!({})).await?;
    assert_eq!(status, 200, "{a}");
    let a: SnapshotInfo = serde_json::from_value(a)?;
    assert!(a.statements >= 2, "{a:?}");
    // Inside the window: a statement never seen before, and more of the cheap one.
    for _ in 0..5 {
        client
            .query_one(
                "SELECT count(*) FROM generate_series(1, $1::int) AS g WHERE g % 7 = 0",
                &[&300_000i32],
            )
            .await?;
    }
    for i in 0..50 {
        client.query_one("SELECT $1::int + 1", &[&i]).await?;
    }
    let (status, b) = app.post_json("/api/pg/main/snapshots", &serde_json::json!({})).await?;
    assert_eq!(status, 200, "{b}");
    let b: SnapshotInfo = serde_json::from_value(b)?;

    let d: DiffReport = app.get_json(&format!("/api/pg/main/diff?from={}&to={}", a.id, b.id)).await?;
    let first = d.rows.first().context("an empty diff")?;
    eprintln!(
        "window {:.1} s: first {:?} ({:.1} ms, {} calls); took {:.1} ms",
        d.seconds, first.query, first.total_ms, first.calls, d.took_ms
    );
    assert!(first.query.contains("generate_series($2, $1::int)"), "{:#?}", d.rows);
    assert!(first.new_in_window);
    assert_eq!(first.calls, 5);
    let cheap = d.rows.iter().find(|r| r.query.contains("$1::int + $2")).context("the cheap one")?;
    assert_eq!(cheap.calls, 50, "only the window's calls count");
    assert!(
        !d.rows.iter().any(|r| r.query == "SELECT count(*) FROM generate_series($1, $2)"),
        "ran before the window: {:#?}",
        d.rows
    );
    assert!(!d.reset_detected);
    assert_eq!(d.to.as_ref().map(|t| t.id), Some(b.id));

    // The same window by time, and a live end.
    let by_time: DiffReport = app
        .get_json(&format!(
            "/api/pg/main/diff?from_time={}&to_time={}",
            a.taken_at_unix + 0.001,
            b.taken_at_unix - 0.001
        ))
        .await?;
    assert_eq!((by_time.from.id, by_time.to.as_ref().map(|t| t.id)), (a.id, Some(b.id)));
    assert_eq!(by_time.rows.first().map(|r| r.calls), Some(5));
    let live: DiffReport = app.get_json(&format!("/api/pg/main/diff?from={}", a.id)).await?;
    assert!(live.to.is_none());
    assert!(
        live.rows.first().is_some_and(|r| r.query.contains("generate_series($2, $1::int)")),
        "{:#?}",
        live.rows
    );

    let list: Vec<SnapshotInfo> = app.get_json("/api/pg/main/snapshots").await?;
    assert_eq!(list.iter().map(|s| s.id).take(2).collect::<Vec<_>>(), [b.id, a.id], "newest first");
    let (status, e) = get_error(app, &format!("/api/pg/main/diff?from={}&to={}", b.id, a.id)).await?;
    assert_eq!((status, e.kind), (400, ErrorKind::BadRequest), "{e:?}");
    let (status, e) = get_error(app, "/api/pg/main/diff?from=999999").await?;
    assert_eq!((status, e.kind), (404, ErrorKind::NotFound), "{e:?}");
    let (status, e) = get_error(app, "/api/pg/main/diff").await?;
    assert_eq!(status, 400, "{e:?}");
    // Snapshots are POSTs: the CSRF header is required.
    let response = app.http.post(app.url("/api/pg/main/snapshots")).send().await?;
    assert_eq!(response.status().as_u16(), 403);
    Ok(())
}

#[tokio::test]
async fn window_diff_ranks_a_statement_run_only_between_snapshots_first() -> Result<()> {
    let pg = Postgres::start().await?;
    let admin = pg.connect("postgres").await?;
    admin.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    admin.batch_execute("CREATE DATABASE triage_store").await?;

    // Snapshots in the default SQLite store.
    let app = TestApp::start_with(settings(&pg, Role::Reader)).await?;
    run_diff_scenario(&pg, &app).await?;
    app.stop().await?;

    // The same with Triage's store in PostgreSQL, from fresh statistics.
    admin.batch_execute("SELECT pg_stat_statements_reset()").await?;
    let mut s = settings(&pg, Role::Reader);
    s.store.postgres_url = Some(secrecy::SecretString::from(pg.conninfo("triage_store")));
    let app = TestApp::start_with(s).await?;
    run_diff_scenario(&pg, &app).await?;
    app.stop().await?;

    // Periodic snapshots, here every second.
    let mut s = settings(&pg, Role::Reader);
    if let Some(p) = s.postgres.as_mut() {
        p.snapshot_interval_secs = 1;
    }
    let app = TestApp::start_with(s).await?;
    let periodic = eventually(10, "two periodic snapshots", || async {
        let list: Vec<SnapshotInfo> = app.get_json("/api/pg/main/snapshots").await?;
        let n = list.iter().filter(|s| s.kind == "periodic").count();
        Ok((n >= 2).then_some(n))
    })
    .await?;
    eprintln!("{periodic} periodic snapshots");
    app.stop().await
}

#[tokio::test]
async fn reset_is_an_audited_operator_action() -> Result<()> {
    let pg = Postgres::start().await?;
    let client = pg.connect("postgres").await?;
    client.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    for i in 0..20 {
        client.query_one("SELECT $1::int * 2", &[&i]).await?;
    }

    let reader = TestApp::start_with(settings(&pg, Role::Reader)).await?;
    let (status, body) =
        reader.post_json("/api/pg/main/reset", &serde_json::json!({"dry_run": true})).await?;
    assert_eq!(status, 403, "{body}");
    reader.stop().await?;

    // As the README recommends for Triage's role: read-only unless a transaction asks otherwise.
    client.batch_execute("ALTER DATABASE postgres SET default_transaction_read_only = on").await?;
    let app = TestApp::start_with(settings(&pg, Role::Operator)).await?;
    let (status, dry) = app.post_json("/api/pg/main/reset", &serde_json::json!({"dry_run": true})).await?;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["needs_confirmation"], true);
    assert!(dry["kubectl"].as_str().is_some_and(|c| c.contains("pg_stat_statements_reset()")), "{dry}");
    let before: StatementsReport = app.get_json("/api/pg/main/statements").await?;
    assert!(before.rows.iter().any(|r| r.query.contains("$1::int * $2")), "{:#?}", before.rows);
    let (status, body) =
        app.post_json("/api/pg/main/reset", &serde_json::json!({"confirm": "wrong"})).await?;
    assert_eq!(status, 400, "{body}");
    let (status, done) = app.post_json("/api/pg/main/reset", &serde_json::json!({"confirm": "main"})).await?;
    assert_eq!(status, 200, "{done}");
    let after: StatementsReport = app.get_json("/api/pg/main/statements").await?;
    assert!(!after.rows.iter().any(|r| r.query.contains("$1::int * $2")), "{:#?}", after.rows);
    assert!(after.stats_reset.is_some());
    let audit: Vec<Value> = app.get_json("/api/audit").await?;
    let entry = audit.iter().find(|e| e["action"] == "pg-stat-statements-reset").context("audited")?;
    assert_eq!(entry["outcome"], "succeeded");
    assert_eq!(entry["target"], "postgres/main");
    assert_eq!(Some(entry["id"].clone()), done.get("audit_id").cloned());
    app.stop().await
}

#[tokio::test]
async fn sql_checks_are_read_only_bound_and_time_limited() -> Result<()> {
    let pg = Postgres::start().await?;
    seed(&pg).await?;
    let store_dir = tempfile::tempdir()?;
    let store = triage::store::Store::open_sqlite(&store_dir.path().join("t.db"))?;
    let mut cfg = pg.analysis_settings("postgres");
    cfg.statement_timeout_ms = 500;
    let targets = triage::pg::PgTargets::new(&cfg, store, "default").map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(targets.names(), ["main"]);

    // The guide's "events in the last hour", with bound parameters.
    let r = targets
        .run_sql(
            "main",
            "SELECT count(*) AS events, $2::text AS kind, $3::float8 * 2 AS twice, $4::bool AS flag,
                    max(timestamp) AS newest, 1.50::numeric AS price
             FROM events WHERE timestamp > now() - $1::text::interval AND event_type = $2",
            &[
                SqlParam::Text("1 hour".into()),
                SqlParam::Text("click".into()),
                SqlParam::Float(1.25),
                SqlParam::Bool(true),
            ],
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(r.columns, ["events", "kind", "twice", "flag", "newest", "price"]);
    let row = &r.rows[0];
    assert!(row[0].as_i64().is_some_and(|n| n > 0 && n < 5000), "{row:?}");
    assert_eq!(
        (&row[1], &row[2], &row[3], &row[5]),
        (&Value::from("click"), &Value::from(2.5), &Value::from(true), &Value::from(1.5))
    );
    assert!(row[4].as_str().is_some_and(|t| t.ends_with('Z')), "{row:?}");
    // A value that looks like SQL stays a value.
    let r = targets
        .run_sql(
            "main",
            "SELECT count(*) FROM events WHERE event_type = $1",
            &[SqlParam::Text("x' OR '1'='1".into())],
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(r.rows[0][0], Value::from(0));

    // Writes are refused by PostgreSQL itself, and said so.
    for sql in [
        "DELETE FROM events WHERE event_id = $1",
        "WITH gone AS (DELETE FROM events WHERE event_id = $1 RETURNING 1) SELECT count(*) FROM gone",
        "SELECT nextval('events_event_id_seq') + $1",
    ] {
        let e = targets.run_sql("main", sql, &[SqlParam::Int(1)]).await.expect_err("a write must fail");
        assert_eq!(e.kind, ErrorKind::Unprocessable, "{sql}: {e:?}");
        assert!(e.message.contains("read-only"), "{sql}: {}", e.message);
        assert_eq!(e.detail.as_ref().and_then(|d| d["sqlstate"].as_str()), Some("25006"), "{e:?}");
    }
    // One statement only: a second one cannot end the transaction first.
    let e = targets.run_sql("main", "COMMIT; DELETE FROM events", &[]).await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Unprocessable, "{e:?}");
    let count: i64 =
        pg.connect("postgres").await?.query_one("SELECT count(*) FROM events", &[]).await?.get(0);
    assert_eq!(count, 200_000, "nothing was deleted");

    // The statement timeout applies.
    let started = Instant::now();
    let e = targets.run_sql("main", "SELECT pg_sleep(5)", &[]).await.expect_err("timeout");
    assert_eq!(e.kind, ErrorKind::Timeout, "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The connection is still good afterwards.
    let r = targets.run_sql("main", "SELECT 1 AS one", &[]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(r.rows, [[Value::from(1)]]);
    Ok(())
}

#[tokio::test]
async fn missing_extension_says_how_to_install_it() -> Result<()> {
    let pg = Postgres::start().await?;
    let app = TestApp::start_with(settings(&pg, Role::Reader)).await?;
    let (status, e) = get_error(&app, "/api/pg/main/statements").await?;
    assert_eq!((status, e.kind), (503, ErrorKind::Unavailable), "{e:?}");
    assert!(
        e.message.contains("shared_preload_libraries")
            && e.message.contains("CREATE EXTENSION pg_stat_statements"),
        "{}",
        e.message
    );
    assert!(e.message.contains("database postgres"), "{}", e.message);
    // Activity does not need the extension.
    let r: ActivityReport = app.get_json("/api/pg/main/activity").await?;
    assert!(r.total_connections >= 1);
    pg.connect("postgres").await?.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    let r: StatementsReport = app.get_json("/api/pg/main/statements").await?;
    assert_eq!(r.extension_version, "1.10");
    app.stop().await?;

    // Not configured at all: a 503 in words.
    let bare = TestApp::start().await?;
    let (status, e) = get_error(&bare, "/api/pg/targets").await?;
    assert_eq!((status, e.kind), (503, ErrorKind::Unavailable));
    assert!(e.message.contains("[[postgres.targets]]"), "{}", e.message);
    bare.stop().await
}

#[tokio::test]
async fn postgres_restarting_gives_a_clear_error_then_recovers() -> Result<()> {
    let mut pg = Postgres::start().await?;
    pg.connect("postgres").await?.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    let app = TestApp::start_with(settings(&pg, Role::Reader)).await?;
    // Fill the pool with connections that the restart will kill.
    let _: ActivityReport = app.get_json("/api/pg/main/activity").await?;
    let _: StatementsReport = app.get_json("/api/pg/main/statements").await?;

    pg.stop();
    let started = Instant::now();
    let (status, e) = get_error(&app, "/api/pg/main/activity").await?;
    eprintln!("while stopped ({:?}): {status} {}", started.elapsed(), e.message);
    assert_eq!((status, e.kind), (503, ErrorKind::Unavailable), "{e:?}");
    assert!(e.message.contains("PostgreSQL target main"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let (status, _) = get_error(&app, "/api/pg/main/statements").await?;
    assert_eq!(status, 503);

    pg.restart().await?;
    let r: ActivityReport =
        app.get_json("/api/pg/main/activity").await.context("the first request after the restart")?;
    assert!(r.total_connections >= 1);
    let r: StatementsReport = app.get_json("/api/pg/main/statements").await?;
    assert!(r.rows.iter().all(|s| !s.query.contains("/* triage */")));
    app.stop().await
}
