//! Table sizes (table, indexes, TOAST), live and dead tuples, and the last (auto)vacuum and
//! analyze, for the connected database.

use tokio_postgres::Client;
use triage_shared::pg::{TableStats, TablesReport};

use super::statements::rfc3339;
use super::{MARKER, TxError};

/// Most tables listed, biggest first.
const MAX_TABLES: i64 = 500;

pub(super) async fn report(tx: &Client, target: &str) -> Result<TablesReport, TxError> {
    let sql = format!(
        "{MARKER} SELECT t.schemaname::text, t.relname::text,
                pg_relation_size(t.relid), pg_indexes_size(t.relid),
                COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0),
                pg_total_relation_size(t.relid),
                t.n_live_tup, t.n_dead_tup, t.seq_scan, COALESCE(t.idx_scan, 0),
                {}, {}, {}, {}, current_database()::text
         FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid
         ORDER BY pg_total_relation_size(t.relid) DESC, t.schemaname, t.relname
         LIMIT $1",
        rfc3339("t.last_vacuum"),
        rfc3339("t.last_autovacuum"),
        rfc3339("t.last_analyze"),
        rfc3339("t.last_autoanalyze"),
    );
    let rows = tx.query(&sql, &[&MAX_TABLES]).await?;
    let mut database = None;
    let tables = rows
        .iter()
        .map(|r| {
            database.get_or_insert_with(|| r.get::<_, String>(14));
            let (live, dead): (i64, i64) = (r.get(6), r.get(7));
            TableStats {
                schema: r.get(0),
                table: r.get(1),
                table_bytes: r.get(2),
                index_bytes: r.get(3),
                toast_bytes: r.get(4),
                total_bytes: r.get(5),
                live_rows: live,
                dead_rows: dead,
                dead_ratio: if live + dead > 0 { dead as f64 / (live + dead) as f64 } else { 0.0 },
                seq_scan: r.get(8),
                idx_scan: r.get(9),
                last_vacuum: r.get(10),
                last_autovacuum: r.get(11),
                last_analyze: r.get(12),
                last_autoanalyze: r.get(13),
            }
        })
        .collect();
    let database = match database {
        Some(d) => d,
        None => tx.query_one(&format!("{MARKER} SELECT current_database()::text"), &[]).await?.get(0),
    };
    Ok(TablesReport { target: target.to_owned(), database, tables, took_ms: 0.0 })
}
