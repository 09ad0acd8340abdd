//! (d2) Index advice over 5,000 distinct statements (50 tables × 100 columns, `SELECT cJ FROM
//! bT WHERE cJ = $1`, 2,000 rows each), the top 50 run more often: parse-only (no HypoPG: the top
//! 100 read with PostgreSQL's parser) and verified by the planner (HypoPG: the top 50 planned
//! without and with the candidates), each end to end from the client with Triage's server time.
//!
//! Baselines from the same client in the same run: for parse-only, the catalog and statement reads
//! the advice needs done in SQL; for verification, Dexter's documented approach of one
//! hypothetical index per candidate (plan, create it, plan again, reset) done in SQL; and the
//! floor, the planning time PostgreSQL itself reports for those plans (`EXPLAIN (SUMMARY)`).

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use tokio_postgres::Client;
use triage_shared::pg::{AdviceKind, IndexAdviceReport};
use triage_tests::{Postgres, TestApp};

use super::{Row, median};

const TABLES: usize = 50;
const COLUMNS: usize = 100;
const ROWS: usize = 2_000;
/// The statements the planner checks.
const TOP: usize = 50;
const ROUNDS: usize = 8;

async fn setup(client: &Client) -> Result<()> {
    client.batch_execute("CREATE EXTENSION pg_stat_statements").await?;
    for t in 0..TABLES {
        let cols: Vec<String> = (0..COLUMNS).map(|c| format!("c{c} int")).collect();
        let values: Vec<String> = (0..COLUMNS).map(|_| "(random() * 1000000)::int".to_owned()).collect();
        client
            .batch_execute(&format!(
                "CREATE TABLE b{t} ({}); INSERT INTO b{t} SELECT {} FROM generate_series(1, {ROWS}); ANALYZE b{t}",
                cols.join(", "),
                values.join(", ")
            ))
            .await?;
    }
    // The statements under study, not the set-up's, lead pg_stat_statements.
    client.batch_execute("SELECT pg_stat_statements_reset()").await?;
    for t in 0..TABLES {
        let batch: Vec<String> =
            (0..COLUMNS).map(|c| format!("SELECT c{c} FROM b{t} WHERE c{c} = 1")).collect();
        client.batch_execute(&batch.join(";")).await?;
    }
    // The top 50 by total time: b0's first 50 columns, run ten times more.
    for _ in 0..10 {
        let batch: Vec<String> = (0..TOP).map(|c| format!("SELECT c{c} FROM b0 WHERE c{c} = 1")).collect();
        client.batch_execute(&batch.join(";")).await?;
    }
    Ok(())
}

/// A generic plan of `query` (one `$1`): PostgreSQL's planning ms, the total cost, and whether a
/// hypothetical index is in it.
async fn generic_plan(client: &Client, query: &str) -> Result<(f64, f64, bool)> {
    client.batch_execute(&format!("PREPARE dexter AS {query}")).await?;
    let row = client.query_one("EXPLAIN (FORMAT JSON, SUMMARY) EXECUTE dexter(NULL)", &[]).await?;
    client.batch_execute("DEALLOCATE dexter").await?;
    let v: Value = row.try_get(0)?;
    let planning = v[0]["Planning Time"].as_f64().context("no planning time")?;
    let cost = v[0]["Plan"]["Total Cost"].as_f64().context("no cost")?;
    Ok((planning, cost, v.to_string().contains("btree_")))
}

/// Dexter's approach, from the client: per statement, a generic plan, then per candidate a
/// hypothetical index, a plan, and a reset. Gives (elapsed ms, PostgreSQL's own planning ms).
async fn one_hypothetical_index_per_candidate(client: &Client) -> Result<(f64, f64)> {
    let started = Instant::now();
    client
        .batch_execute("START TRANSACTION READ ONLY; SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    let rows = client
        .query(
            "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND query LIKE 'SELECT c% FROM b% WHERE c% = $1' ORDER BY total_exec_time DESC LIMIT $1",
            &[&(TOP as i64)],
        )
        .await?;
    ensure!(rows.len() == TOP, "only {} statements", rows.len());
    let mut planning = 0.0;
    let mut used = 0;
    for r in &rows {
        let query: String = r.get(0);
        // The bench's own statements: `SELECT cJ FROM bT WHERE cJ = $1`, one candidate each.
        let (column, table) = query
            .strip_prefix("SELECT ")
            .and_then(|rest| rest.split_once(" FROM "))
            .and_then(|(c, rest)| rest.split_once(" WHERE ").map(|(t, _)| (c.to_owned(), t.to_owned())))
            .context("an unexpected statement")?;
        let (p_before, before, _) = generic_plan(client, &query).await?;
        client
            .query_one(
                "SELECT indexrelid FROM hypopg_create_index($1)",
                &[&format!("CREATE INDEX ON {table} ({column})")],
            )
            .await?;
        let (p_after, after, uses) = generic_plan(client, &query).await?;
        client.batch_execute("SELECT hypopg_reset()").await?;
        planning += p_before + p_after;
        if uses && after < before {
            used += 1;
        }
    }
    client.batch_execute("ROLLBACK").await?;
    ensure!(used == TOP, "the planner used {used} of {TOP} hypothetical indexes");
    Ok((started.elapsed().as_secs_f64() * 1000.0, planning))
}

/// The reads the parse-only advice needs, in SQL: tables, indexes, the top 100 statements, the
/// catalog of the tables they name.
async fn catalog_reads(client: &Client) -> Result<f64> {
    let started = Instant::now();
    client
        .query("SELECT relid, schemaname, relname, seq_scan, seq_tup_read FROM pg_stat_user_tables", &[])
        .await?;
    client
        .query(
            "SELECT i.indrelid, ic.relname, pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid)
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid",
            &[],
        )
        .await?;
    let top = client
        .query("SELECT query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 100", &[])
        .await?;
    ensure!(top.len() == 100);
    client
        .query(
            "SELECT c.relname, ARRAY(SELECT attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0)
             FROM pg_class c WHERE c.relname LIKE 'b%' AND c.relkind = 'r'",
            &[],
        )
        .await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

async fn advice(app: &TestApp) -> Result<(f64, IndexAdviceReport)> {
    let started = Instant::now();
    let r: IndexAdviceReport = app.get_json("/api/pg/main/index-advice").await?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, r))
}

pub async fn index_advice(rows: &mut Vec<Row>) -> Result<()> {
    println!("(d2) index advice over 5,000 distinct statements…");
    let pg = Postgres::start_with(&[("pg_stat_statements.max", "10000")]).await?;
    let client = pg.connect("postgres").await?;
    setup(&client).await?;
    let settings = triage::config::Settings {
        postgres: Some(pg.analysis_settings("postgres")),
        ..triage::config::Settings::default()
    };
    let app = TestApp::start_with(settings).await?;

    // Parse-only.
    let (mut ours, mut server, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let (e2e, r) = advice(&app).await?;
        ensure!(r.verification.hypopg.is_none());
        let creates = r.suggestions.iter().filter(|s| s.kind == AdviceKind::CreateIndex).count();
        ensure!(creates >= 1, "no parse-only suggestion");
        let sql = catalog_reads(&client).await?;
        if i > 0 {
            ours.push(e2e);
            server.push(r.took_ms);
            base.push(sql);
        }
    }
    let (ours, server, base) = (median(ours), median(server), median(base));
    println!(
        "  parse-only: {ours:.1} ms end to end ({server:.1} ms server); the same reads in SQL {base:.1} ms"
    );
    rows.push(Row {
        figure: "(d2) index advice over 5,000 distinct statements, parse-only (top 100 read with PostgreSQL's parser, no HypoPG)".to_owned(),
        measured: format!("{ours:.1} ms end to end ({server:.1} ms server)"),
        baseline: format!("{base:.1} ms: the catalog and statement reads it needs, in SQL from the client"),
        ratio: format!("{:.2}×", ours / base),
        target: "—".to_owned(),
    });

    // Verified by the planner.
    client.batch_execute("CREATE EXTENSION hypopg").await?;
    let (mut ours, mut server, mut dexter, mut floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut planned = 0;
    for i in 0..ROUNDS {
        let (e2e, r) = advice(&app).await?;
        ensure!(
            r.verification.hypopg.is_some() && r.verification.failures.is_empty(),
            "{:?}",
            r.verification
        );
        let verified =
            r.suggestions.iter().filter(|s| s.kind == AdviceKind::CreateIndex && s.verified).count();
        ensure!(verified == TOP, "{verified} verified suggestions, not {TOP}: {:?}", r.verification);
        planned = r.verification.statements_planned;
        let (d, f) = one_hypothetical_index_per_candidate(&client).await?;
        if i > 0 {
            ours.push(e2e);
            server.push(r.took_ms);
            dexter.push(d);
            floor.push(f);
        }
    }
    let (ours, server, dexter, floor) = (median(ours), median(server), median(dexter), median(floor));
    println!(
        "  verified: {ours:.1} ms end to end ({server:.1} ms server, {planned} statements); one index per candidate \
         {dexter:.1} ms; PostgreSQL's planning {floor:.1} ms"
    );
    rows.push(Row {
        figure: format!(
            "(d2) index advice verified by the planner: top {TOP} of 5,000 statements planned without and with HypoPG's hypothetical indexes"
        ),
        measured: format!("{ours:.1} ms end to end ({server:.1} ms server)"),
        baseline: format!(
            "{dexter:.1} ms: one hypothetical index per candidate (Dexter's approach) in SQL from the client; floor: \
             {floor:.1} ms PostgreSQL's own planning time for those plans"
        ),
        ratio: format!("{:.2}×", ours / dexter),
        target: "—".to_owned(),
    });
    app.stop().await?;
    Ok(())
}
