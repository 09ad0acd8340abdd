//! Index advice for the connected database: tables read mostly by large sequential scans, with
//! the index that would serve their filters (columns read from the predicates of the top
//! statements, else the most selective unindexed column in `pg_stats`); unused, duplicate and
//! redundant indexes. Each suggestion carries its `CREATE/DROP INDEX CONCURRENTLY` text; Triage
//! never runs DDL.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;
use triage_shared::pg::{AdviceKind, ColumnStats, IndexAdviceReport, IndexSuggestion, IndexUsage};

use super::statements::{extension, rfc3339};
use super::{MARKER, TxError};

/// A table is "sequential-scan heavy" when its sequential scans read at least this many rows
/// on average, at least this often, and more rows than its index scans fetched.
const MIN_ROWS_PER_SEQ_SCAN: i64 = 1000;
const MIN_SEQ_SCANS: i64 = 5;
/// Statements (by total time) whose predicates are read.
const TOP_STATEMENTS: i64 = 100;

struct TableInfo {
    relid: u32,
    schema: String,
    table: String,
    /// `quote_ident` of schema and table, for DDL.
    q_schema: String,
    q_table: String,
    seq_scan: i64,
    seq_tup_read: i64,
    idx_scan: i64,
    idx_tup_fetch: i64,
    live_rows: i64,
    bytes: i64,
}

struct IndexInfo {
    relid: u32,
    schema: String,
    table: String,
    name: String,
    q_schema: String,
    q_name: String,
    /// Column names in index order; `None` for an expression.
    columns: Vec<Option<String>>,
    unique: bool,
    backs_constraint: bool,
    partial: bool,
    expressions: bool,
    method: String,
    bytes: i64,
    idx_scan: i64,
    definition: String,
    valid: bool,
    /// Operator classes and collations, so "same columns" means the same index.
    signature: String,
}

impl IndexInfo {
    fn plain_btree(&self) -> bool {
        self.method == "btree" && !self.partial && !self.expressions && self.valid
    }

    fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.clone().unwrap_or_else(|| "(expression)".to_owned())).collect()
    }
}

pub(super) async fn report(tx: &Client, target: &str) -> Result<IndexAdviceReport, TxError> {
    let tables = load_tables(tx).await?;
    let indexes = load_indexes(tx).await?;
    let stats_reset: Option<String> = tx
        .query_opt(
            &format!(
                "{MARKER} SELECT {} FROM pg_stat_database WHERE datname = current_database()",
                rfc3339("stats_reset")
            ),
            &[],
        )
        .await?
        .and_then(|r| r.get(0));

    let mut suggestions = Vec::new();
    let heavy: Vec<&TableInfo> = tables
        .iter()
        .filter(|t| {
            t.seq_scan >= MIN_SEQ_SCANS
                && t.seq_tup_read / t.seq_scan.max(1) >= MIN_ROWS_PER_SEQ_SCAN
                && t.seq_tup_read > t.idx_tup_fetch
        })
        .collect();
    if !heavy.is_empty() {
        // The statements are optional evidence: without the extension, pg_stats alone is used.
        let statements = match top_statements(tx).await {
            Ok(s) => s,
            Err(TxError::Api(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        for t in heavy {
            if let Some(s) = create_suggestion(tx, t, &indexes, &statements).await? {
                suggestions.push(s);
            }
        }
    }
    suggestions.sort_by_key(|s| std::cmp::Reverse(s.seq_tup_read));
    suggestions.extend(drop_suggestions(&tables, &indexes));

    let usage = indexes
        .iter()
        .map(|i| IndexUsage {
            schema: i.schema.clone(),
            table: i.table.clone(),
            index: i.name.clone(),
            columns: i.column_names(),
            idx_scan: i.idx_scan,
            bytes: i.bytes,
            unique: i.unique,
            definition: i.definition.clone(),
        })
        .collect();
    Ok(IndexAdviceReport {
        target: target.to_owned(),
        suggestions,
        indexes: usage,
        stats_reset,
        took_ms: 0.0,
    })
}

async fn load_tables(tx: &Client) -> Result<Vec<TableInfo>, TxError> {
    let rows = tx
        .query(
            &format!(
                "{MARKER} SELECT t.relid, t.schemaname::text, t.relname::text, quote_ident(t.schemaname),
                        quote_ident(t.relname), t.seq_scan, t.seq_tup_read, COALESCE(t.idx_scan, 0),
                        COALESCE(t.idx_tup_fetch, 0), t.n_live_tup, pg_relation_size(t.relid)
                 FROM pg_stat_user_tables t"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TableInfo {
            relid: r.get(0),
            schema: r.get(1),
            table: r.get(2),
            q_schema: r.get(3),
            q_table: r.get(4),
            seq_scan: r.get(5),
            seq_tup_read: r.get(6),
            idx_scan: r.get(7),
            idx_tup_fetch: r.get(8),
            live_rows: r.get(9),
            bytes: r.get(10),
        })
        .collect())
}

async fn load_indexes(tx: &Client) -> Result<Vec<IndexInfo>, TxError> {
    let rows = tx
        .query(
            &format!(
                "{MARKER} SELECT i.indrelid, n.nspname::text, c.relname::text, ic.relname::text,
                        quote_ident(n.nspname), quote_ident(ic.relname),
                        ARRAY(SELECT a.attname::text
                              FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                              LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                              ORDER BY k.ord),
                        i.indisunique OR i.indisprimary,
                        EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid),
                        i.indpred IS NOT NULL, i.indexprs IS NOT NULL, am.amname::text,
                        pg_relation_size(i.indexrelid), COALESCE(s.idx_scan, 0),
                        pg_get_indexdef(i.indexrelid), i.indisvalid,
                        i.indclass::text || ' ' || i.indcollation::text || ' ' || i.indoption::text
                 FROM pg_index i
                 JOIN pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_class c ON c.oid = i.indrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_am am ON am.oid = ic.relam
                 LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
                 ORDER BY n.nspname, c.relname, ic.relname"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| IndexInfo {
            relid: r.get(0),
            schema: r.get(1),
            table: r.get(2),
            name: r.get(3),
            q_schema: r.get(4),
            q_name: r.get(5),
            columns: r.get(6),
            unique: r.get(7),
            backs_constraint: r.get(8),
            partial: r.get(9),
            expressions: r.get(10),
            method: r.get(11),
            bytes: r.get(12),
            idx_scan: r.get(13),
            definition: r.get(14),
            valid: r.get(15),
            signature: r.get(16),
        })
        .collect())
}

/// (query text, total ms) of the top statements by total time.
async fn top_statements(tx: &Client) -> Result<Vec<(String, f64)>, TxError> {
    let sql = super::statements::top_sql(triage_shared::pg::StatementOrder::Total, &extension(tx).await?);
    let none: Option<String> = None;
    let rows = tx.query(&sql, &[&none, &none, &TOP_STATEMENTS]).await?;
    Ok(rows.iter().filter_map(|r| r.get::<_, Option<String>>(3).map(|q| (q, r.get::<_, f64>(5)))).collect())
}

async fn create_suggestion(
    tx: &Client,
    t: &TableInfo,
    indexes: &[IndexInfo],
    statements: &[(String, f64)],
) -> Result<Option<IndexSuggestion>, TxError> {
    let cols = tx
        .query(
            &format!(
                "{MARKER} SELECT a.attname::text, quote_ident(a.attname), s.n_distinct::float8,
                        s.correlation::float8, s.null_frac::float8
                 FROM pg_attribute a
                 LEFT JOIN pg_stats s ON s.schemaname = $2 AND s.tablename = $3 AND s.attname = a.attname
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum"
            ),
            &[&t.relid, &t.schema, &t.table],
        )
        .await?;
    let mut quoted: HashMap<String, String> = HashMap::new();
    let mut stats: HashMap<String, ColumnStats> = HashMap::new();
    for r in &cols {
        let name: String = r.get(0);
        quoted.insert(name.clone(), r.get(1));
        let n_distinct: Option<f64> = r.get(2);
        let selectivity = n_distinct.and_then(|n| {
            if n > 0.0 {
                Some(1.0 / n)
            } else if n < 0.0 && t.live_rows > 0 {
                Some(1.0 / (-n * t.live_rows as f64).max(1.0))
            } else {
                None
            }
        });
        stats.insert(
            name.clone(),
            ColumnStats { column: name, n_distinct, selectivity, correlation: r.get(3), null_frac: r.get(4) },
        );
    }
    let names: HashSet<&str> = quoted.keys().map(String::as_str).collect();
    let table_indexes: Vec<&IndexInfo> = indexes.iter().filter(|i| i.relid == t.relid).collect();
    let covered = |columns: &[String]| {
        table_indexes.iter().any(|i| {
            i.method == "btree"
                && !i.partial
                && i.valid
                && i.columns.len() >= columns.len()
                && i.columns[..columns.len()].iter().flatten().collect::<HashSet<_>>()
                    == columns.iter().collect::<HashSet<_>>()
        })
    };

    // First choice: the predicate of the costliest statement that reads this table.
    let mut chosen: Option<(Vec<String>, String, String)> = None;
    let mut filters_seen = false;
    for (query, total_ms) in statements {
        let Some(pred) = predicate_columns(query, &t.schema, &t.table, &names) else { continue };
        let columns = pred.index_columns();
        if columns.is_empty() {
            continue;
        }
        filters_seen = true;
        if covered(&columns) {
            continue;
        }
        let reason = format!(
            "{} sequential scans read {} rows ({} per scan on average) while index scans fetched {}; \
             the costliest statement reading {} ({:.0} ms in total) filters on {}{}",
            t.seq_scan,
            t.seq_tup_read,
            t.seq_tup_read / t.seq_scan.max(1),
            t.idx_tup_fetch,
            t.table,
            total_ms,
            columns.join(", "),
            if pred.range.is_empty() || pred.equality.is_empty() {
                String::new()
            } else {
                " (equality columns first, then the range column)".to_owned()
            }
        );
        chosen = Some((columns, reason, query.clone()));
        break;
    }
    // Otherwise, when no statement's filter could be read at all (an index already serving the
    // filters that were read means the scans are history): the most selective column that no
    // index leads with.
    if chosen.is_none() && !filters_seen {
        let leading: HashSet<&str> =
            table_indexes.iter().filter_map(|i| i.columns.first().and_then(|c| c.as_deref())).collect();
        let best = stats
            .values()
            .filter(|s| !leading.contains(s.column.as_str()))
            .filter(|s| s.selectivity.is_some_and(|sel| sel < 0.01))
            .min_by(|a, b| a.selectivity.unwrap_or(1.0).total_cmp(&b.selectivity.unwrap_or(1.0)));
        if let Some(s) = best {
            let reason = format!(
                "{} sequential scans read {} rows while index scans fetched {}; no top statement's predicate \
                 could be read, and {} is the most selective column without an index (pg_stats: n_distinct {}, \
                 correlation {})",
                t.seq_scan,
                t.seq_tup_read,
                t.idx_tup_fetch,
                s.column,
                s.n_distinct.map_or("?".to_owned(), |n| format!("{n}")),
                s.correlation.map_or("?".to_owned(), |c| format!("{c:.2}")),
            );
            chosen = Some((vec![s.column.clone()], reason, String::new()));
        }
    }
    let Some((columns, reason, statement)) = chosen else { return Ok(None) };
    let ddl = format!(
        "CREATE INDEX CONCURRENTLY ON {}.{} ({});",
        t.q_schema,
        t.q_table,
        columns
            .iter()
            .map(|c| quoted.get(c).cloned().unwrap_or_else(|| c.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let column_stats = columns.iter().filter_map(|c| stats.get(c).cloned()).collect();
    Ok(Some(IndexSuggestion {
        kind: AdviceKind::CreateIndex,
        schema: t.schema.clone(),
        table: t.table.clone(),
        columns,
        index: None,
        seq_scan: t.seq_scan,
        seq_tup_read: t.seq_tup_read,
        idx_scan: t.idx_scan,
        live_rows: t.live_rows,
        table_bytes: t.bytes,
        index_bytes: None,
        reason,
        statement: (!statement.is_empty()).then_some(statement),
        column_stats,
        ddl,
    }))
}

/// What makes two indexes the same: table, columns, method, operator classes and options.
type IndexShape<'a> = (u32, Vec<Option<String>>, &'a str, &'a str);

/// Unused, duplicate and redundant indexes. Indexes behind a constraint (primary key, unique,
/// exclusion) are never suggested for dropping.
fn drop_suggestions(tables: &[TableInfo], indexes: &[IndexInfo]) -> Vec<IndexSuggestion> {
    let table_of: HashMap<u32, &TableInfo> = tables.iter().map(|t| (t.relid, t)).collect();
    let droppable = |i: &IndexInfo| !i.backs_constraint && !i.unique;
    let suggestion = |i: &IndexInfo, kind: AdviceKind, reason: String| {
        let t = table_of.get(&i.relid);
        IndexSuggestion {
            kind,
            schema: i.schema.clone(),
            table: i.table.clone(),
            columns: i.column_names(),
            index: Some(i.name.clone()),
            seq_scan: t.map_or(0, |t| t.seq_scan),
            seq_tup_read: t.map_or(0, |t| t.seq_tup_read),
            idx_scan: i.idx_scan,
            live_rows: t.map_or(0, |t| t.live_rows),
            table_bytes: t.map_or(0, |t| t.bytes),
            index_bytes: Some(i.bytes),
            reason,
            statement: None,
            column_stats: Vec::new(),
            ddl: format!("DROP INDEX CONCURRENTLY {}.{};", i.q_schema, i.q_name),
        }
    };
    let mut out = Vec::new();
    let mut flagged: HashSet<(u32, &str)> = HashSet::new();
    // Duplicates: same table, same columns, same classes, no predicate or expression.
    let mut groups: HashMap<IndexShape<'_>, Vec<&IndexInfo>> = HashMap::new();
    for i in indexes.iter().filter(|i| !i.partial && !i.expressions && i.valid) {
        groups
            .entry((i.relid, i.columns.clone(), i.method.as_str(), i.signature.as_str()))
            .or_default()
            .push(i);
    }
    let mut group_list: Vec<_> = groups.into_values().filter(|g| g.len() > 1).collect();
    group_list.sort_by(|a, b| a[0].name.cmp(&b[0].name));
    for group in group_list {
        // Keep the one a constraint needs, else the most used.
        let keep = group
            .iter()
            .max_by_key(|i| (i.backs_constraint || i.unique, i.idx_scan))
            .map(|i| i.name.clone())
            .unwrap_or_default();
        for i in group.iter().filter(|i| i.name != keep && droppable(i)) {
            flagged.insert((i.relid, i.name.as_str()));
            out.push(suggestion(
                i,
                AdviceKind::DuplicateIndex,
                format!("same columns as {keep} ({}); one of them is enough", i.column_names().join(", ")),
            ));
        }
    }
    // Redundant: a plain b-tree whose columns lead a longer plain b-tree on the same table.
    for a in indexes.iter().filter(|i| i.plain_btree() && droppable(i)) {
        if flagged.contains(&(a.relid, a.name.as_str())) {
            continue;
        }
        let longer = indexes.iter().find(|b| {
            b.relid == a.relid
                && b.name != a.name
                && b.plain_btree()
                && b.columns.len() > a.columns.len()
                && b.columns[..a.columns.len()] == a.columns[..]
        });
        if let Some(b) = longer {
            flagged.insert((a.relid, a.name.as_str()));
            out.push(suggestion(
                a,
                AdviceKind::RedundantIndex,
                format!(
                    "its columns ({}) lead {} ({}), which serves the same lookups",
                    a.column_names().join(", "),
                    b.name,
                    b.column_names().join(", ")
                ),
            ));
        }
    }
    // Unused since the statistics were reset.
    for i in indexes.iter().filter(|i| i.idx_scan == 0 && i.valid && droppable(i)) {
        if flagged.contains(&(i.relid, i.name.as_str())) {
            continue;
        }
        out.push(suggestion(
            i,
            AdviceKind::UnusedIndex,
            format!(
                "never scanned since the statistics were reset, yet {} bytes to keep up to date on every write",
                i.bytes
            ),
        ));
    }
    out
}

/// The columns of one table a statement filters on.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Predicate {
    pub equality: Vec<String>,
    pub range: Vec<String>,
}

impl Predicate {
    /// B-tree order: equality columns, then the first range column.
    pub fn index_columns(&self) -> Vec<String> {
        let mut cols = self.equality.clone();
        if let Some(r) = self.range.iter().find(|r| !cols.contains(r)) {
            cols.push(r.clone());
        }
        cols
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Identifier or keyword, lower-cased unless it was quoted.
    Word(String, bool),
    Op(String),
    Dot,
    Other,
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Other);
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i.min(chars.len())].iter().collect(), true));
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect::<String>().to_lowercase(), false));
        } else if c == '.' && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            out.push(Tok::Dot);
            i += 1;
        } else if "<>=!~".contains(c) {
            let start = i;
            while i < chars.len() && "<>=!~".contains(chars[i]) {
                i += 1;
            }
            out.push(Tok::Op(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Other);
            i += 1;
        }
    }
    out
}

const NOT_ALIAS: &[&str] = &[
    "where",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "on",
    "using",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "union",
    "except",
    "intersect",
    "for",
    "natural",
    "window",
    "returning",
    "set",
    "lateral",
];

/// Reads which columns of `schema.table` the statement compares, by a token scan (not a full
/// parser): `col = $1`, `alias.col IN (…)`, `$1 < col`, `col BETWEEN …`, `col LIKE …`.
/// `None` when the statement does not read the table.
pub(super) fn predicate_columns(
    sql: &str,
    schema: &str,
    table: &str,
    columns: &HashSet<&str>,
) -> Option<Predicate> {
    let toks = tokenize(sql);
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w, _)) => Some(w.as_str()),
        _ => None,
    };
    // Where the table is named after FROM / JOIN (or UPDATE / DELETE FROM), and its aliases.
    let mut names: HashSet<String> = HashSet::new();
    let mut found = false;
    let mut i = 0;
    while i < toks.len() {
        if matches!(word(i), Some("from" | "join" | "update")) {
            let mut j = i + 1;
            let (first, second) =
                (word(j), (toks.get(j + 1) == Some(&Tok::Dot)).then(|| word(j + 2)).flatten());
            let matched = match (first, second) {
                (Some(s), Some(t)) if s == schema && t == table => {
                    j += 3;
                    true
                }
                (Some(t), None) if t == table => {
                    j += 1;
                    true
                }
                _ => false,
            };
            if matched {
                found = true;
                names.insert(table.to_owned());
                if word(j) == Some("as") {
                    j += 1;
                }
                if let Some(alias) = word(j).filter(|w| !NOT_ALIAS.contains(w)) {
                    names.insert(alias.to_owned());
                }
            }
        }
        i += 1;
    }
    if !found {
        return None;
    }
    let start = toks
        .iter()
        .position(|t| matches!(t, Tok::Word(w, false) if w == "where" || w == "on"))
        .unwrap_or(toks.len());
    let mut pred = Predicate::default();
    let push = |list: &mut Vec<String>, col: &str| {
        if !list.iter().any(|c| c == col) {
            list.push(col.to_owned());
        }
    };
    let mut i = start;
    while i < toks.len() {
        // A column reference: `col` or `alias.col`, with the alias one of the table's names.
        let (col, next) = match (&toks[i], toks.get(i + 1), toks.get(i + 2)) {
            (Tok::Word(q, _), Some(Tok::Dot), Some(Tok::Word(c, _))) => {
                if names.contains(q.as_str()) {
                    (Some(c.as_str()), i + 3)
                } else {
                    (None, i + 3)
                }
            }
            (Tok::Word(c, _), _, _) if i == 0 || toks[i - 1] != Tok::Dot => (Some(c.as_str()), i + 1),
            _ => (None, i + 1),
        };
        if let Some(col) = col.filter(|c| columns.contains(c)) {
            let after = toks.get(next);
            let before = (i > 0).then(|| &toks[i - 1]);
            let op_after = match after {
                Some(Tok::Op(op)) => Some(op.as_str()),
                Some(Tok::Word(w, false)) => Some(w.as_str()),
                _ => None,
            };
            let not_after = matches!(op_after, Some("not"));
            let op_after = if not_after { word(next + 1) } else { op_after };
            match op_after {
                Some("=") | Some("in") | Some("is") => push(&mut pred.equality, col),
                Some("<" | ">" | "<=" | ">=" | "between" | "like" | "ilike") => push(&mut pred.range, col),
                _ => match before {
                    // `$1 = col`, `$1 < col`
                    Some(Tok::Op(op)) if op == "=" => push(&mut pred.equality, col),
                    Some(Tok::Op(op)) if ["<", ">", "<=", ">="].contains(&op.as_str()) => {
                        push(&mut pred.range, col)
                    }
                    _ => {}
                },
            }
        }
        i = next;
    }
    Some(pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> HashSet<&'static str> {
        ["event_id", "event_type", "user_id", "timestamp", "payload"].into_iter().collect()
    }

    #[test]
    fn the_slow_query_names_type_then_timestamp() {
        let sql = "SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM events
                   WHERE timestamp > $1 AND event_type = $2";
        let p = predicate_columns(sql, "public", "events", &cols()).expect("reads events");
        assert_eq!(p.equality, ["event_type"]);
        assert_eq!(p.range, ["timestamp"]);
        assert_eq!(p.index_columns(), ["event_type", "timestamp"]);
    }

    #[test]
    fn aliases_schemas_and_reversed_comparisons() {
        let sql = "select e.event_id from public.events as e join users u on u.id = e.user_id
                   where $1 <= e.\"timestamp\" and e.event_type in ($2, $3) and u.user_id = $4";
        let p = predicate_columns(sql, "public", "events", &cols()).expect("reads events");
        assert_eq!(p.equality, ["user_id", "event_type"], "u.user_id belongs to another table");
        assert_eq!(p.range, ["timestamp"]);
    }

    #[test]
    fn other_tables_and_strings_do_not_count() {
        assert_eq!(
            predicate_columns("SELECT 1 FROM users WHERE user_id = $1", "public", "events", &cols()),
            None
        );
        let p = predicate_columns(
            "SELECT * FROM events WHERE payload::text = 'user_id = 3'",
            "public",
            "events",
            &cols(),
        )
        .expect("reads events");
        assert_eq!(p.index_columns(), Vec::<String>::new(), "a cast is not a plain comparison: {p:?}");
    }

    #[test]
    fn updates_and_not_in() {
        let p = predicate_columns(
            "UPDATE events SET payload = $1 WHERE event_id NOT IN ($2)",
            "public",
            "events",
            &cols(),
        )
        .expect("reads events");
        assert_eq!(p.equality, ["event_id"]);
    }
}
