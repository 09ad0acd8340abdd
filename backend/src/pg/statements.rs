//! `pg_stat_statements`: the top statements by a chosen measure, and full readings for the
//! window diff. Column names follow the installed extension: `total_exec_time`, `mean_exec_time`,
//! … (1.8+, PostgreSQL 13+) or `total_time`, `mean_time`, … before.

use std::collections::HashMap;

use tokio_postgres::Client;
use triage_shared::pg::{StatementOrder, StatementRow, StatementsQuery, StatementsReport};
use triage_shared::{ApiError, ErrorKind};

use super::snapshots::{Entry, Reading};
use super::{MARKER, TxError, extension_fix};

/// Turns a `timestamptz` expression into RFC 3339 text in UTC.
pub(super) fn rfc3339(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}

/// What the installed extension offers.
#[derive(Debug, Clone)]
pub(super) struct Extension {
    /// `quote_ident` of the extension's schema.
    schema: String,
    version: String,
    /// `*_exec_time` columns (1.8+) rather than `*_time`.
    exec_time: bool,
    /// The `toplevel` column (1.9+): nested statements are left out so time is not counted twice.
    toplevel: bool,
    /// The `pg_stat_statements_info` view (1.9+).
    info: bool,
}

impl Extension {
    /// Column names for (total, mean, max, min, stddev).
    fn time_columns(&self) -> [&'static str; 5] {
        if self.exec_time {
            ["total_exec_time", "mean_exec_time", "max_exec_time", "min_exec_time", "stddev_exec_time"]
        } else {
            ["total_time", "mean_time", "max_time", "min_time", "stddev_time"]
        }
    }

    /// `WHERE` conditions every statement view shares: not Triage's own, top level only.
    fn base_filter(&self) -> String {
        let mut w = format!("s.query NOT LIKE '{MARKER}%'");
        if self.toplevel {
            w.push_str(" AND s.toplevel");
        }
        w
    }
}

/// Finds the extension in the connected database, or says how to install it.
pub(super) async fn extension(tx: &Client) -> Result<Extension, TxError> {
    let row = tx
        .query_opt(
            &format!(
                "{MARKER} SELECT quote_ident(n.nspname), e.extversion, current_database()::text,
                        EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                                WHERE c.relname = 'pg_stat_statements' AND c.relnamespace = e.extnamespace
                                  AND a.attname = 'total_exec_time'),
                        EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                                WHERE c.relname = 'pg_stat_statements' AND c.relnamespace = e.extnamespace
                                  AND a.attname = 'toplevel'),
                        EXISTS (SELECT 1 FROM pg_class c
                                WHERE c.relname = 'pg_stat_statements_info' AND c.relnamespace = e.extnamespace)
                 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'pg_stat_statements'"
            ),
            &[],
        )
        .await?;
    let Some(row) = row else {
        let db: String =
            tx.query_one(&format!("{MARKER} SELECT current_database()::text"), &[]).await?.get(0);
        return Err(TxError::Api(
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "the pg_stat_statements extension is not installed in database {db}: {}",
                    extension_fix(&db)
                ),
            )
            .with_detail(serde_json::json!({"fix": extension_fix(&db)})),
        ));
    };
    Ok(Extension {
        schema: row.get(0),
        version: row.get(1),
        exec_time: row.get(3),
        toplevel: row.get(4),
        info: row.get(5),
    })
}

fn order_by(order: StatementOrder, ext: &Extension) -> String {
    let [total, mean, max, _, stddev] = ext.time_columns();
    match order {
        StatementOrder::Total => format!("s.{total} DESC"),
        StatementOrder::Mean => format!("s.{mean} DESC"),
        StatementOrder::Max => format!("s.{max} DESC"),
        StatementOrder::Stddev => format!("s.{stddev} DESC"),
        StatementOrder::Calls => "s.calls DESC".to_owned(),
        StatementOrder::Rows => "s.rows DESC".to_owned(),
        StatementOrder::HitRatio => {
            "s.shared_blks_hit::float8 / NULLIF(s.shared_blks_hit + s.shared_blks_read, 0) \
                                     ASC NULLS LAST, s.shared_blks_read DESC"
                .to_owned()
        }
    }
}

/// The SQL of the top-statements query; only closed enums and catalog data go into it.
pub(super) fn top_sql(order: StatementOrder, ext: &Extension) -> String {
    let [total, mean, max, min, stddev] = ext.time_columns();
    format!(
        "{MARKER} SELECT s.queryid, d.datname::text, r.rolname::text, s.query, s.calls,
                s.{total}, s.{mean}, s.{max}, s.{min}, s.{stddev}, s.rows,
                s.shared_blks_hit, s.shared_blks_read,
                count(*) OVER (), sum(s.{total}) OVER ()
         FROM {schema}.pg_stat_statements s
         LEFT JOIN pg_database d ON d.oid = s.dbid
         LEFT JOIN pg_roles r ON r.oid = s.userid
         WHERE {filter} AND ($1::text IS NULL OR d.datname = $1) AND ($2::text IS NULL OR r.rolname = $2)
         ORDER BY {order}
         LIMIT $3",
        schema = ext.schema,
        filter = ext.base_filter(),
        order = order_by(order, ext),
    )
}

pub(super) async fn top(tx: &Client, target: &str, q: &StatementsQuery) -> Result<StatementsReport, TxError> {
    let ext = extension(tx).await?;
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 1000));
    let database = q.database.as_deref().filter(|s| !s.is_empty());
    let role = q.role.as_deref().filter(|s| !s.is_empty());
    let rows = tx.query(&top_sql(q.order, &ext), &[&database, &role, &limit]).await?;
    let mut statements = 0;
    let mut total_ms = 0.0;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        statements = r.get::<_, i64>(13);
        total_ms = r.get::<_, Option<f64>>(14).unwrap_or(0.0);
        let (hit, read): (i64, i64) = (r.get(11), r.get(12));
        let total: f64 = r.get(5);
        out.push(StatementRow {
            queryid: r.get(0),
            database: r.get(1),
            role: r.get(2),
            query: r.get::<_, Option<String>>(3).unwrap_or_default(),
            calls: r.get(4),
            total_ms: total,
            mean_ms: r.get(6),
            max_ms: r.get(7),
            min_ms: r.get(8),
            stddev_ms: r.get(9),
            rows: r.get(10),
            hit_ratio: (hit + read > 0).then(|| hit as f64 / (hit + read) as f64),
            share_pct: 0.0,
        });
    }
    for row in &mut out {
        row.share_pct = if total_ms > 0.0 { row.total_ms / total_ms * 100.0 } else { 0.0 };
    }
    // The filter choices: databases one can connect to and roles that can log in (cheap, unlike
    // a second pass over pg_stat_statements), with the server's version.
    let names = tx
        .query_one(
            &format!(
                "{MARKER} SELECT ARRAY(SELECT datname::text FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1),
                        ARRAY(SELECT rolname::text FROM pg_roles WHERE rolcanlogin ORDER BY 1),
                        current_setting('server_version')"
            ),
            &[],
        )
        .await?;
    let (databases, roles, server_version): (Vec<String>, Vec<String>, String) =
        (names.get(0), names.get(1), names.get(2));
    let stats_reset = stats_reset(tx, &ext).await?;
    Ok(StatementsReport {
        target: target.to_owned(),
        order: q.order,
        rows: out,
        statements,
        total_ms,
        databases,
        roles,
        extension_version: ext.version.clone(),
        exec_time_columns: ext.exec_time,
        stats_reset,
        server_version,
        took_ms: 0.0,
    })
}

async fn stats_reset(tx: &Client, ext: &Extension) -> Result<Option<String>, TxError> {
    if !ext.info {
        return Ok(None);
    }
    let sql =
        format!("{MARKER} SELECT {} FROM {}.pg_stat_statements_info", rfc3339("stats_reset"), ext.schema);
    Ok(tx.query_opt(&sql, &[]).await?.and_then(|r| r.get(0)))
}

/// Every statement's counters now, with its text, for a snapshot or the end of a window.
pub(super) async fn reading(tx: &Client) -> Result<Reading, TxError> {
    let ext = extension(tx).await?;
    let [total, ..] = ext.time_columns();
    let sql = format!(
        "{MARKER} SELECT s.queryid, s.dbid, s.userid, d.datname::text, r.rolname::text, s.query, s.calls,
                s.{total}, s.rows, extract(epoch FROM clock_timestamp())::float8
         FROM {schema}.pg_stat_statements s
         LEFT JOIN pg_database d ON d.oid = s.dbid
         LEFT JOIN pg_roles r ON r.oid = s.userid
         WHERE {filter} AND s.queryid IS NOT NULL",
        schema = ext.schema,
        filter = ext.base_filter(),
    );
    let rows = tx.query(&sql, &[]).await?;
    let mut entries = Vec::with_capacity(rows.len());
    let mut texts = HashMap::with_capacity(rows.len());
    let mut taken_at_unix = None;
    for r in &rows {
        let queryid: i64 = r.get(0);
        taken_at_unix.get_or_insert(r.get::<_, f64>(9));
        if let Some(text) = r.get::<_, Option<String>>(5) {
            texts.insert(queryid, text);
        }
        entries.push(Entry {
            queryid,
            dbid: r.get(1),
            userid: r.get(2),
            database: r.get(3),
            role: r.get(4),
            calls: r.get(6),
            total_ms: r.get(7),
            rows: r.get(8),
        });
    }
    let taken_at_unix = match taken_at_unix {
        Some(t) => t,
        None => tx
            .query_one(&format!("{MARKER} SELECT extract(epoch FROM clock_timestamp())::float8"), &[])
            .await?
            .get(0),
    };
    Ok(Reading { taken_at_unix, stats_reset: stats_reset(tx, &ext).await?, entries, texts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(exec_time: bool, toplevel: bool) -> Extension {
        Extension { schema: "public".into(), version: "1.7".into(), exec_time, toplevel, info: false }
    }

    #[test]
    fn postgres_12_column_names_are_used_for_old_extensions() {
        let sql = top_sql(StatementOrder::Mean, &ext(false, false));
        assert!(
            sql.contains("s.mean_time") && sql.contains("s.total_time") && sql.contains("s.stddev_time"),
            "{sql}"
        );
        assert!(!sql.contains("exec_time"), "{sql}");
        assert!(!sql.contains("toplevel"), "{sql}");
        assert!(sql.contains("ORDER BY s.mean_time DESC"), "{sql}");
    }

    #[test]
    fn postgres_13_column_names_and_top_level_only() {
        let sql = top_sql(StatementOrder::Max, &ext(true, true));
        assert!(sql.contains("s.max_exec_time") && sql.contains("s.toplevel"), "{sql}");
        assert!(sql.contains("ORDER BY s.max_exec_time DESC"), "{sql}");
        assert!(sql.contains("NOT LIKE '/* triage */%'"), "Triage's own statements are left out: {sql}");
    }

    #[test]
    fn filters_are_bound_not_spliced() {
        let sql = top_sql(StatementOrder::Total, &ext(true, true));
        assert!(sql.contains("d.datname = $1") && sql.contains("r.rolname = $2") && sql.contains("LIMIT $3"));
    }
}
