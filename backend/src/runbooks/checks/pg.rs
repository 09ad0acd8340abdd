//! The PostgreSQL checks: top statements, activity, index advice, tables, and a runbook's named
//! read-only query with its parameters bound.

use std::collections::BTreeMap;

use triage_shared::runbook::{Evidence, Runbook};

use super::{CheckContext, Found, NotRun, bad_template};
use crate::pg::PgTargets;
use crate::runbooks::template::{self, Values};

fn resolve_target<'a>(
    ctx: &'a CheckContext,
    target: Option<&str>,
) -> Result<(&'a PgTargets, String), NotRun> {
    let pg = ctx.pg()?;
    let name = match target {
        Some(t) => t.to_owned(),
        None => pg
            .names()
            .into_iter()
            .next()
            .ok_or_else(|| NotRun::Skipped("no PostgreSQL target is configured".to_owned()))?,
    };
    Ok((pg, name))
}

fn statement_order(order: Option<&str>) -> triage_shared::pg::StatementOrder {
    use triage_shared::pg::StatementOrder;
    match order {
        Some("mean") => StatementOrder::Mean,
        Some("calls") => StatementOrder::Calls,
        Some("max") => StatementOrder::Max,
        Some("stddev") => StatementOrder::Stddev,
        Some("rows") => StatementOrder::Rows,
        _ => StatementOrder::Total,
    }
}

pub(super) async fn statements(
    ctx: &CheckContext,
    target: Option<&str>,
    order: Option<&str>,
    limit: Option<u32>,
) -> Result<Found, NotRun> {
    let (pg, name) = resolve_target(ctx, target)?;
    let query = triage_shared::pg::StatementsQuery {
        order: statement_order(order),
        database: None,
        role: None,
        limit: Some(limit.unwrap_or(20).clamp(1, 500)),
    };
    let report = pg.statements(&name, &query).await?;
    let mut v = BTreeMap::new();
    v.insert("statements".to_owned(), report.statements as f64);
    v.insert("top_mean_ms".to_owned(), report.rows.iter().map(|r| r.mean_ms).fold(0.0, f64::max));
    v.insert("top_total_ms".to_owned(), report.rows.iter().map(|r| r.total_ms).fold(0.0, f64::max));
    let rows = report
        .rows
        .iter()
        .take(20)
        .map(|r| {
            vec![
                r.query.chars().take(160).collect(),
                r.calls.to_string(),
                format!("{:.1}", r.mean_ms),
                format!("{:.1}", r.max_ms),
                format!("{:.0}", r.total_ms),
                format!("{:.1} %", r.share_pct),
            ]
        })
        .collect();
    Ok(Found::table(
        v,
        &["statement", "calls", "mean ms", "max ms", "total ms", "share"],
        rows,
        format!("pg_stat_statements on {name}, by {}", order.unwrap_or("total")),
    ))
}

pub(super) async fn activity(ctx: &CheckContext, target: Option<&str>) -> Result<Found, NotRun> {
    let (pg, name) = resolve_target(ctx, target)?;
    let r = pg.activity(&name).await?;
    let mut v = BTreeMap::new();
    v.insert("connections".to_owned(), r.total_connections as f64);
    v.insert("max_connections".to_owned(), r.max_connections as f64);
    let usable = (r.max_connections - r.reserved_connections).max(1) as f64;
    v.insert("usage_ratio".to_owned(), r.total_connections as f64 / usable);
    v.insert("idle_in_transaction".to_owned(), r.idle_in_transaction as f64);
    v.insert(
        "longest_idle_in_transaction_seconds".to_owned(),
        r.longest_idle_in_transaction_secs.unwrap_or(0.0),
    );
    v.insert("blocked".to_owned(), r.blocking.iter().map(|b| b.blocked.len()).sum::<usize>() as f64);
    let rows = r
        .by_application
        .iter()
        .map(|a| vec![a.application.clone(), a.state.clone(), a.count.to_string()])
        .collect();
    Ok(Found::table(v, &["application", "state", "connections"], rows, format!("pg_stat_activity on {name}")))
}

pub(super) async fn index_advice(ctx: &CheckContext, target: Option<&str>) -> Result<Found, NotRun> {
    use triage_shared::pg::AdviceKind;
    let (pg, name) = resolve_target(ctx, target)?;
    let r = pg.index_advice(&name).await?;
    let count = |k: AdviceKind| r.suggestions.iter().filter(|s| s.kind == k).count() as f64;
    let mut v = BTreeMap::new();
    v.insert("missing_index_candidates".to_owned(), count(AdviceKind::CreateIndex));
    v.insert("unused_indexes".to_owned(), count(AdviceKind::UnusedIndex));
    v.insert(
        "duplicate_indexes".to_owned(),
        count(AdviceKind::DuplicateIndex) + count(AdviceKind::RedundantIndex),
    );
    v.insert(
        "verified_missing_indexes".to_owned(),
        r.suggestions.iter().filter(|s| s.kind == AdviceKind::CreateIndex && s.verified).count() as f64,
    );
    let rows = r
        .suggestions
        .iter()
        .map(|s| {
            let planner = match (s.kind, s.verified) {
                (AdviceKind::CreateIndex, true) => "verified",
                (AdviceKind::CreateIndex, false) => "not verified",
                _ => "—",
            };
            vec![
                format!("{:?}", s.kind),
                format!("{}.{}", s.schema, s.table),
                s.columns.join(", "),
                planner.to_owned(),
                s.reason.clone(),
            ]
        })
        .collect();
    Ok(Found::table(
        v,
        &["advice", "table", "columns", "planner", "why"],
        rows,
        format!("index advice on {name}"),
    ))
}

pub(super) async fn tables(ctx: &CheckContext, target: Option<&str>) -> Result<Found, NotRun> {
    let (pg, name) = resolve_target(ctx, target)?;
    let r = pg.tables(&name).await?;
    let mut v = BTreeMap::new();
    v.insert("tables".to_owned(), r.tables.len() as f64);
    v.insert("max_dead_ratio".to_owned(), r.tables.iter().map(|t| t.dead_ratio).fold(0.0, f64::max));
    let rows = r
        .tables
        .iter()
        .take(20)
        .map(|t| {
            vec![
                format!("{}.{}", t.schema, t.table),
                format!("{:.1} MiB", t.total_bytes as f64 / 1_048_576.0),
                t.live_rows.to_string(),
                t.dead_rows.to_string(),
                format!("{:.1} %", t.dead_ratio * 100.0),
            ]
        })
        .collect();
    Ok(Found::table(
        v,
        &["table", "size", "live rows", "dead rows", "dead"],
        rows,
        format!("table sizes and dead tuples on {name}"),
    ))
}

pub(super) async fn sql(
    ctx: &CheckContext,
    runbook: &Runbook,
    target: Option<&str>,
    query: &str,
    params: &[String],
    values: &Values,
) -> Result<Found, NotRun> {
    use triage_shared::pg::SqlParam;
    let named = runbook
        .queries
        .iter()
        .find(|q| q.name == query)
        .ok_or_else(|| bad_template(format!("no query named {query}")))?;
    let bound: Vec<SqlParam> = params
        .iter()
        .map(|p| template::bound(p, values).map(SqlParam::Text))
        .collect::<Result<_, _>>()
        .map_err(bad_template)?;
    let (pg, name) = resolve_target(ctx, target)?;
    let r = pg.run_sql(&name, &named.sql, &bound).await?;
    let mut v = BTreeMap::new();
    v.insert("rows".to_owned(), r.rows.len() as f64);
    if let Some(first) = r
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(|x| x.as_f64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
    {
        v.insert("value".to_owned(), first);
    }
    let rows = r
        .rows
        .iter()
        .take(50)
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table { columns: r.columns.clone(), rows }),
        query: Some(format!("{}\n-- parameters (bound): {:?}", named.sql, bound)),
        ..Found::default()
    })
}
