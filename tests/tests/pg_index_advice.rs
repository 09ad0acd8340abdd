//! Index advice against a real PostgreSQL 15 with `pg_stat_statements` and HypoPG, through the
//! HTTP API, on a workload written for it: a join through aliases where each side needs its own
//! index; a CTE; a subquery in `WHERE`; `ORDER BY … LIMIT` that wants a sort index; a filter too
//! unselective for any index (which the parser proposes and the planner refuses); a primary key and
//! a unique index that already cover a statement's leading column; a partial index that covers
//! its predicate. The same statements in a second database without HypoPG give the parser's
//! advice, marked as not verified. One cluster for the file: each scenario is its own database.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use tokio_postgres::Client;
use triage::config::Settings;
use triage_shared::actions::Role;
use triage_shared::pg::{AdviceKind, IndexAdviceReport, IndexSuggestion, StatementsReport};
use triage_tests::{Postgres, TestApp};

fn settings(pg: &Postgres, database: &str) -> Settings {
    let mut s = Settings { postgres: Some(pg.analysis_settings(database)), ..Settings::default() };
    s.auth = triage::config::AuthSettings::Local { local_role: Role::Reader };
    s
}

/// Tables and data: sizes and distributions chosen so that each statement's right index is
/// clear to the planner.
const SCHEMA: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL, email text NOT NULL);
    INSERT INTO customers SELECT g, 'region-' || (g % 1000), 'c' || g || '@example.com' FROM generate_series(1, 20000) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                         created_at timestamptz NOT NULL, total numeric NOT NULL);
    INSERT INTO orders SELECT g, 1 + g % 20000, CASE WHEN g % 2 = 0 THEN 'paid' ELSE 'open' END,
                              '2026-01-01'::timestamptz + g * interval '1 minute', g % 977
                       FROM generate_series(1, 200000) g;
    CREATE TABLE tickets (id int PRIMARY KEY, requester int NOT NULL, opened_at timestamptz NOT NULL, body text);
    INSERT INTO tickets SELECT g, g % 10000, '2026-01-01'::timestamptz + g * interval '1 second', repeat('x', 40)
                        FROM generate_series(1, 100000) g;
    CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL);
    INSERT INTO accounts SELECT g, 'a' || g || '@example.com' FROM generate_series(1, 20000) g;
    CREATE TABLE invoices (id int PRIMARY KEY, account_id int NOT NULL, amount numeric NOT NULL);
    INSERT INTO invoices SELECT g, 1 + g % 20000, g % 500 FROM generate_series(1, 100000) g;
    CREATE TABLE logs (id bigint PRIMARY KEY, level text NOT NULL, at timestamptz NOT NULL, message text);
    INSERT INTO logs SELECT g, (ARRAY['debug', 'info', 'warn', 'error'])[1 + g % 4],
                            '2026-01-01'::timestamptz + g * interval '1 second', 'message ' || g
                     FROM generate_series(1, 200000) g;
    CREATE TABLE sessions (id int PRIMARY KEY, active boolean NOT NULL, payload text);
    INSERT INTO sessions SELECT g, g % 2 = 0, repeat('p', 60) FROM generate_series(1, 100000) g;
    CREATE TABLE members (id int PRIMARY KEY, email text NOT NULL UNIQUE, plan text NOT NULL);
    INSERT INTO members SELECT g, 'm' || g || '@example.com', (ARRAY['free', 'pro'])[1 + g % 2] FROM generate_series(1, 50000) g;
    CREATE TABLE jobs (id int PRIMARY KEY, state text NOT NULL, run_at timestamptz NOT NULL);
    INSERT INTO jobs SELECT g, CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'done' END,
                            '2026-01-01'::timestamptz + g * interval '1 second'
                     FROM generate_series(1, 100000) g;
    CREATE INDEX jobs_pending_run_at ON jobs (run_at) WHERE state = 'pending';
    ANALYZE;
";

/// Runs every scenario's statement enough times to lead `pg_stat_statements`, with constants
/// (so the normalized text has `$n`) and bound parameters alike.
async fn workload(client: &Client) -> Result<()> {
    for i in 0..8 {
        let region = format!("region-{}", i * 37);
        client
            .query(
                "SELECT o.id, o.total FROM orders o JOIN customers AS c ON c.id = o.customer_id WHERE region = $1",
                &[&region],
            )
            .await?;
        client
            .query(
                "WITH mine AS (SELECT id, opened_at FROM tickets WHERE requester = $1)
                 SELECT m.id FROM mine m ORDER BY m.opened_at DESC",
                &[&(i * 11)],
            )
            .await?;
        let email = format!("a{}@example.com", i * 101 + 1);
        client
            .query(
                "SELECT * FROM invoices WHERE account_id IN (SELECT id FROM accounts WHERE email = $1)",
                &[&email],
            )
            .await?;
        client
            .query("SELECT id, message FROM logs WHERE level = 'error' ORDER BY at DESC LIMIT 20", &[])
            .await?;
        client.query("SELECT id, payload FROM sessions WHERE active = $1", &[&(i % 2 == 0)]).await?;
        client
            .query("SELECT * FROM customers WHERE id = $1 AND region = $2", &[&(i + 1), &"region-1"])
            .await?;
        let member = format!("m{}@example.com", i + 1);
        client.query("SELECT * FROM members WHERE email = $1 AND plan = $2", &[&member, &"pro"]).await?;
        client
            .query(
                "SELECT * FROM jobs WHERE state = 'pending' AND run_at < '2026-06-01'::timestamptz ORDER BY run_at LIMIT 10",
                &[],
            )
            .await?;
    }
    Ok(())
}

async fn database(pg: &Postgres, name: &str, hypopg: bool) -> Result<()> {
    let admin = pg.connect("postgres").await?;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    let client = pg.connect(name).await?;
    let extensions = if hypopg {
        "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg;"
    } else {
        "CREATE EXTENSION pg_stat_statements;"
    };
    client.batch_execute(extensions).await?;
    client.batch_execute(SCHEMA).await?;
    workload(&client).await
}

fn creates(r: &IndexAdviceReport) -> Vec<&IndexSuggestion> {
    r.suggestions.iter().filter(|s| s.kind == AdviceKind::CreateIndex).collect()
}

fn shapes(r: &IndexAdviceReport) -> BTreeSet<String> {
    creates(r).iter().map(|s| format!("{}({})", s.table, s.columns.join(", "))).collect()
}

async fn index_count(client: &Client) -> Result<i64> {
    Ok(client.query_one("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'", &[]).await?.get(0))
}

#[tokio::test]
async fn the_planner_keeps_only_the_indexes_it_uses_and_the_parser_alone_says_so() -> Result<()> {
    let pg = Postgres::start().await?;
    database(&pg, "verified", true).await?;
    database(&pg, "parsed", false).await?;

    let app = TestApp::start_with(settings(&pg, "verified")).await?;
    let client = pg.connect("verified").await?;
    let indexes_before = index_count(&client).await?;
    let r: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
    for s in creates(&r) {
        eprintln!("{}({}) — {}", s.table, s.columns.join(", "), s.reason);
    }
    eprintln!("{:?}", r.verification);
    let expected: BTreeSet<String> = [
        // The join: each side its own index, neither led by the customers' primary key.
        "customers(region)",
        "orders(customer_id)",
        // The CTE's filter, resolved to its base table.
        "tickets(requester)",
        // The subquery in WHERE: its filter, and the outer side's semi-join key.
        "accounts(email)",
        "invoices(account_id)",
        // ORDER BY … LIMIT: the equality column, then the sort.
        "logs(level, at)",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(shapes(&r), expected, "{:#?}", creates(&r));
    // Not `sessions(active)`: half the rows match, and the planner keeps its sequential scan.
    // Rejected: that one, and `logs(level)`, which loses to `logs(level, at)`.
    assert_eq!(r.verification.candidates_rejected, 2, "{:?}", r.verification);
    assert_eq!(r.verification.hypopg.as_deref().map(|v| !v.is_empty()), Some(true));
    assert!(r.verification.failures.is_empty(), "{:?}", r.verification.failures);
    // The five statements with uncovered candidates (the primary key, the unique index and the
    // partial index cover the other three's).
    assert_eq!(r.verification.statements_planned, 5, "{:?}", r.verification);
    for s in creates(&r) {
        assert!(s.verified, "{s:?}");
        let e = s.planner.first().context("evidence")?;
        assert!(e.cost_after < e.cost_before * 0.9, "{e:?}");
        assert!(e.after.contains("the suggested index"), "{e:?}");
        assert!(e.after.ends_with(&format!("on {}", s.table)), "{e:?}");
        assert!(e.share_pct > 0.0 && e.share_pct <= 100.0 && e.total_ms > 0.0, "{e:?}");
        assert!(s.ddl.starts_with("CREATE INDEX CONCURRENTLY ON public."), "{}", s.ddl);
        assert!(s.reason.starts_with("the planner uses it"), "{}", s.reason);
    }
    let orders = creates(&r).into_iter().find(|s| s.table == "orders").context("orders")?;
    assert_eq!(orders.planner[0].before, "Seq Scan on orders", "{:?}", orders.planner);
    assert_eq!(orders.ddl, "CREATE INDEX CONCURRENTLY ON public.orders (customer_id);");
    let logs = creates(&r).into_iter().find(|s| s.table == "logs").context("logs")?;
    assert!(logs.planner[0].statement.contains("ORDER BY at DESC LIMIT"), "{:?}", logs.planner);

    // Nothing was created, nothing is left behind: the same advice again (a hypothetical index
    // left in a pooled session would lower the "before" costs), and Triage's own statements stay
    // out of the statement list.
    assert_eq!(index_count(&client).await?, indexes_before, "the advice created no index");
    let again: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
    let plans = |r: &IndexAdviceReport| -> Vec<(String, Vec<String>, f64, f64, String, String)> {
        creates(r)
            .iter()
            .flat_map(|s| {
                s.planner.iter().map(|e| {
                    (
                        s.table.clone(),
                        s.columns.clone(),
                        e.cost_before,
                        e.cost_after,
                        e.before.clone(),
                        e.after.clone(),
                    )
                })
            })
            .collect()
    };
    assert_eq!(plans(&again), plans(&r), "the same plans, before and after");
    let statements: StatementsReport = app.get_json("/api/pg/main/statements?order=calls&limit=1000").await?;
    assert!(
        !statements.rows.iter().any(|s| {
            let q = s.query.to_lowercase();
            q.contains("hypopg_") || q.contains("triage_advice") || q.contains("explain")
        }),
        "{:#?}",
        statements.rows.iter().map(|s| &s.query).collect::<Vec<_>>()
    );
    app.stop().await?;

    // Without HypoPG: the parser's advice for the sequential-scan-heavy tables, unverified, with
    // the way to turn verification on; the unselective filter is among it (the planner would
    // refuse it), and what an index covers already is still absent.
    let app = TestApp::start_with(settings(&pg, "parsed")).await?;
    let r: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
    for s in creates(&r) {
        eprintln!("parser: {}({}) — {}", s.table, s.columns.join(", "), s.reason);
    }
    assert_eq!(r.verification.hypopg, None);
    assert!(r.verification.message.contains("CREATE EXTENSION hypopg"), "{}", r.verification.message);
    assert!(creates(&r).iter().all(|s| !s.verified && s.planner.is_empty()));
    let parsed = shapes(&r);
    assert!(parsed.contains("sessions(active)"), "{parsed:?}");
    assert!(parsed.contains("orders(customer_id)"), "{parsed:?}");
    for covered in ["members", "jobs"] {
        assert!(!parsed.iter().any(|s| s.starts_with(&format!("{covered}("))), "{covered}: {parsed:?}");
    }
    assert!(
        !parsed.iter().any(|s| s.starts_with("customers(id")),
        "never a composite led by the primary key: {parsed:?}"
    );
    app.stop().await?;
    Ok(())
}
