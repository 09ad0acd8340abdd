//! Index advice for the connected database.
//!
//! **Create** suggestions come from the statements that take the most time: each is read with
//! PostgreSQL's own parser ([`super::shape`]), every column resolved to its table, and the
//! predicates an index could serve give candidates per table (equality columns, then one range or
//! sort column; each join key). A candidate that an existing index already covers (see
//! [`covers`]: the same leading columns, a unique index whose columns the statement fixes, or a
//! partial index whose predicate fixes some of them) is never proposed, and only tables read
//! mostly by large sequential scans get candidates (elsewhere an index saves next to nothing).
//!
//! With HypoPG installed in the target database, the planner decides: the top statements are
//! planned generically without the candidates and with them as hypothetical indexes, and a
//! candidate is kept only when the planner uses it in place of a sequential scan and the
//! statement's estimated cost falls by at least [`MIN_COST_SAVING`]; the suggestion shows the costs, the plan node it replaces and the
//! statements it helps. Without HypoPG the parser's reading stands for sequential-scan-heavy
//! tables, marked as not verified (and, when no statement names a usable predicate, the most
//! selective column without an index in `pg_stats`).
//!
//! **Drop** suggestions: unused, duplicate and redundant indexes, by the same coverage rule.
//! Every suggestion carries its `CREATE/DROP INDEX CONCURRENTLY` text; Triage never runs DDL.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;
use triage_shared::pg::{
    AdviceKind, AdviceVerification, ColumnStats, IndexAdviceReport, IndexSuggestion, IndexUsage,
    PlannerEvidence,
};

use super::shape::{self, Catalog, Shape, TableName};
use super::statements::{extension, rfc3339};
use super::{MARKER, TxError, planner};

/// A table is "sequential-scan heavy" when its sequential scans read at least this many rows
/// on average, at least this often, and more rows than its index scans fetched.
const MIN_ROWS_PER_SEQ_SCAN: i64 = 1000;
const MIN_SEQ_SCANS: i64 = 5;
/// Statements (by total time) whose predicates are read.
const TOP_STATEMENTS: i64 = 100;
/// Statements (by total time) planned with and without the candidates.
const PLANNED_STATEMENTS: usize = 50;
/// A candidate is kept when the planner uses it and the estimated cost falls at least this much.
const MIN_COST_SAVING: f64 = 0.10;
/// Planning failures reported, at most.
const MAX_FAILURES: usize = 10;

const ENABLE_VERIFICATION: &str = "Not verified by the planner: install HypoPG in the target database \
    (CREATE EXTENSION hypopg; Debian and PGDG package postgresql-NN-hypopg; offered by RDS, Cloud SQL and \
    Azure) and Triage plans the top statements with each suggestion as a hypothetical index, keeping \
    only those the planner uses.";

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

impl TableInfo {
    fn name(&self) -> TableName {
        TableName::new(&self.schema, &self.table)
    }

    fn seq_scan_heavy(&self) -> bool {
        self.seq_scan >= MIN_SEQ_SCANS
            && self.seq_tup_read / self.seq_scan.max(1) >= MIN_ROWS_PER_SEQ_SCAN
            && self.seq_tup_read > self.idx_tup_fetch
    }
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
    /// A partial index's predicate, as `pg_get_expr` prints it.
    predicate: Option<String>,
    /// The columns a partial index's predicate fixes (`status = 'open'`, `deleted_at IS NULL`).
    predicate_fixes: Vec<String>,
}

impl IndexInfo {
    fn plain_btree(&self) -> bool {
        self.method == "btree" && !self.partial && !self.expressions && self.valid
    }

    fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.clone().unwrap_or_else(|| "(expression)".to_owned())).collect()
    }
}

/// Whether `index` leads with `columns`: the first `eq` of them in any order (each compared for
/// equality), the rest in place.
fn leads(index: &[Option<String>], columns: &[String], eq: usize) -> bool {
    let Some(prefix) = index.get(..columns.len()) else { return false };
    let Some(prefix) = prefix.iter().map(Option::as_deref).collect::<Option<Vec<&str>>>() else {
        return false;
    };
    let eq = eq.min(columns.len());
    let a: HashSet<&str> = prefix[..eq].iter().copied().collect();
    let b: HashSet<&str> = columns[..eq].iter().map(String::as_str).collect();
    a == b && prefix[eq..].iter().zip(&columns[eq..]).all(|(x, y)| *x == y)
}

/// The one coverage rule: an existing valid b-tree already serves lookups on `columns` (the
/// first `eq` compared for equality) when it leads with them; when it is unique and the
/// statement fixes all its columns (one row at most is found already); or when it is partial, its
/// predicate fixes some of the equality columns and it leads with the rest.
fn covers(i: &IndexInfo, columns: &[String], eq: usize) -> bool {
    if i.method != "btree" || !i.valid {
        return false;
    }
    let fixed = &columns[..eq.min(columns.len())];
    if !i.partial {
        let unique_hit = i.unique
            && !i.columns.is_empty()
            && i.columns.iter().all(|c| c.as_ref().is_some_and(|c| fixed.contains(c)));
        return unique_hit || leads(&i.columns, columns, eq);
    }
    if i.predicate_fixes.is_empty() || !i.predicate_fixes.iter().all(|p| fixed.contains(p)) {
        return false;
    }
    let free: Vec<String> = fixed.iter().filter(|c| !i.predicate_fixes.contains(c)).cloned().collect();
    let free_eq = free.len();
    let rest: Vec<String> = free.into_iter().chain(columns[fixed.len()..].iter().cloned()).collect();
    leads(&i.columns, &rest, free_eq)
}

/// A top statement and what it asks of each table.
struct Statement {
    query: String,
    total_ms: f64,
    share_pct: f64,
    shape: Option<Shape>,
}

/// A candidate index on one table, with the statements that want it.
struct Candidate {
    table: TableName,
    columns: Vec<String>,
    eq: usize,
    /// Indexes into the statements, costliest first.
    statements: Vec<usize>,
    evidence: Vec<PlannerEvidence>,
}

pub(super) async fn report(tx: &Client, target: &str) -> Result<IndexAdviceReport, TxError> {
    let tables = load_tables(tx).await?;
    let mut indexes = load_indexes(tx).await?;
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

    // The statements are optional evidence: without the extension, pg_stats alone is used.
    let mut statements = match top_statements(tx).await {
        Ok(s) => s,
        Err(TxError::Api(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let parsed: Vec<Option<shape::Parsed>> = statements.iter().map(|s| shape::parse(&s.query).ok()).collect();
    let catalog = catalog(tx, &parsed).await?;
    for (s, p) in statements.iter_mut().zip(&parsed) {
        s.shape = p.as_ref().and_then(|p| shape::analyze_parsed(p, &catalog).ok());
    }
    for i in indexes.iter_mut().filter(|i| i.partial) {
        i.predicate_fixes = predicate_fixes(i, &catalog);
    }
    // Advice is about tables read mostly by large sequential scans: elsewhere an index the
    // planner would take still saves next to nothing (a healthy workload's cheap lookups).
    let heavy: HashSet<TableName> =
        tables.iter().filter(|t| t.seq_scan_heavy()).map(TableInfo::name).collect();
    let mut candidates = candidates(&statements, &indexes);
    candidates.retain(|c| heavy.contains(&c.table));

    let hypopg = planner::hypopg(tx).await?;
    let by_name: HashMap<TableName, &TableInfo> = tables.iter().map(|t| (t.name(), t)).collect();
    let mut suggestions = Vec::new();
    let verification = match hypopg {
        Some(version) => {
            let mut v = verify(tx, &statements, &mut candidates, &tables).await?;
            v.hypopg = Some(version);
            let kept: Vec<&TableInfo> = candidates
                .iter()
                .filter(|c| !c.evidence.is_empty())
                .filter_map(|c| by_name.get(&c.table).copied())
                .collect();
            let stats = column_stats(tx, &kept).await?;
            for c in candidates.iter_mut().filter(|c| !c.evidence.is_empty()) {
                let Some(t) = by_name.get(&c.table) else { continue };
                c.evidence.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
                let best = &c.evidence[0];
                let reason = format!(
                    "the planner uses it: {} → {}, estimated cost {:.0} → {:.0} for a statement taking {:.1} % of \
                     the database's statement time{}",
                    best.before,
                    best.after,
                    best.cost_before,
                    best.cost_after,
                    best.share_pct,
                    match c.evidence.len() {
                        1 => String::new(),
                        n => format!(" ({n} statements helped)"),
                    }
                );
                let statement = Some(best.statement.clone());
                let evidence = std::mem::take(&mut c.evidence);
                let table_stats = stats.get(&t.relid).unwrap_or(&NO_STATS);
                suggestions.push(suggestion_with(t, &c.columns, reason, statement, evidence, table_stats));
            }
            v
        }
        None => {
            let heavy: Vec<&TableInfo> = tables.iter().filter(|t| t.seq_scan_heavy()).collect();
            let stats = column_stats(tx, &heavy).await?;
            for t in heavy {
                let table_stats = stats.get(&t.relid).unwrap_or(&NO_STATS);
                suggestions.extend(parser_suggestion(t, &statements, &candidates, &indexes, table_stats));
            }
            AdviceVerification {
                hypopg: None,
                statements_planned: 0,
                candidates_rejected: 0,
                failures: Vec::new(),
                message: ENABLE_VERIFICATION.to_owned(),
            }
        }
    };
    suggestions.sort_by(|a, b| {
        let time = |s: &IndexSuggestion| s.planner.first().map_or(0.0, |e| e.total_ms);
        time(b).total_cmp(&time(a)).then(b.seq_tup_read.cmp(&a.seq_tup_read))
    });
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
        verification,
        took_ms: 0.0,
    })
}

/// The tables the statements name (with their columns) and the search path, so names resolve
/// as the server resolves them.
async fn catalog(tx: &Client, parsed: &[Option<shape::Parsed>]) -> Result<Catalog, TxError> {
    let mut names: Vec<String> = parsed.iter().flatten().flat_map(shape::Parsed::relation_names).collect();
    names.sort();
    names.dedup();
    let search_path: Vec<String> =
        tx.query_one(&format!("{MARKER} SELECT current_schemas(false)::text[]"), &[]).await?.get(0);
    let rows = tx
        .query(
            &format!(
                "{MARKER} SELECT n.nspname::text, c.relname::text,
                        ARRAY(SELECT a.attname::text FROM pg_attribute a
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'm') AND c.relname::text = ANY($1)
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            ),
            &[&names],
        )
        .await?;
    let tables = rows.iter().map(|r| (TableName { schema: r.get(0), table: r.get(1) }, r.get(2))).collect();
    Ok(Catalog { search_path, tables })
}

/// The columns a partial index's predicate fixes, read with the same parser.
fn predicate_fixes(i: &IndexInfo, catalog: &Catalog) -> Vec<String> {
    let Some(predicate) = &i.predicate else { return Vec::new() };
    let table = TableName::new(&i.schema, &i.table);
    let Some(columns) = catalog.tables.get(&table) else { return Vec::new() };
    // The server's own text of the predicate, parsed locally against this one table; it is
    // never sent anywhere.
    let one = Catalog {
        search_path: vec![i.schema.clone()],
        tables: HashMap::from([(table.clone(), columns.clone())]),
    };
    let sql = format!("SELECT 1 FROM {}.{} WHERE {predicate}", quote(&i.schema), quote(&i.table));
    shape::analyze(&sql, &one)
        .ok()
        .and_then(|s| s.tables.get(&table).map(|u| u.equality.clone()))
        .unwrap_or_default()
}

/// The start of a statement on one line, for a message.
fn excerpt(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

fn plural(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('x')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}xes"),
        _ => format!("{n} {what}s"),
    }
}

/// An identifier in double quotes, for SQL Triage writes itself.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every uncovered candidate of the statements, each with the statements that want it.
fn candidates(statements: &[Statement], indexes: &[IndexInfo]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for (n, s) in statements.iter().enumerate() {
        let Some(shape) = &s.shape else { continue };
        for (table, u) in &shape.tables {
            for (columns, eq) in u.candidates() {
                let covered = indexes
                    .iter()
                    .filter(|i| i.schema == table.schema && i.table == table.table)
                    .any(|i| covers(i, &columns, eq));
                if covered {
                    continue;
                }
                match out.iter_mut().find(|c| c.table == *table && c.columns == columns) {
                    Some(c) => c.statements.push(n),
                    None => out.push(Candidate {
                        table: table.clone(),
                        columns,
                        eq,
                        statements: vec![n],
                        evidence: Vec::new(),
                    }),
                }
            }
        }
    }
    out
}

/// Plans the top statements that have candidates without them, then with every candidate as a
/// hypothetical index; records, per candidate, the statements whose plan uses it at a lower cost.
async fn verify(
    tx: &Client,
    statements: &[Statement],
    candidates: &mut [Candidate],
    tables: &[TableInfo],
) -> Result<AdviceVerification, TxError> {
    let mut wanted: Vec<usize> = candidates.iter().flat_map(|c| c.statements.iter().copied()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted.retain(|&n| statements[n].shape.as_ref().is_some_and(|s| s.plannable));
    wanted.truncate(PLANNED_STATEMENTS);
    let mut failures = Vec::new();
    let mut fail = |query: &str, why: String| {
        if failures.len() < MAX_FAILURES {
            failures.push(format!("{}: {why}", excerpt(query)));
        }
    };
    tx.batch_execute(&format!("{MARKER} SET LOCAL plan_cache_mode = force_generic_plan")).await?;
    let mut before = Vec::new();
    for &n in &wanted {
        let s = &statements[n];
        let params = s.shape.as_ref().map_or(0, |s| s.params);
        match planner::generic_plan(tx, &s.query, params).await? {
            Ok(plan) => before.push((n, plan)),
            Err(why) => fail(&s.query, why),
        }
    }
    let in_play: HashSet<usize> = before.iter().map(|(n, _)| *n).collect();
    let quoted: HashMap<TableName, String> =
        tables.iter().map(|t| (t.name(), format!("{}.{}", t.q_schema, t.q_table))).collect();
    planner::reset(tx).await?;
    let mut ddl = Vec::new();
    let mut wanted_candidates = Vec::new();
    for (k, c) in candidates.iter().enumerate() {
        if !c.statements.iter().any(|n| in_play.contains(n)) {
            continue;
        }
        let Some(table) = quoted.get(&c.table) else { continue };
        ddl.push(format!(
            "CREATE INDEX ON {table} ({})",
            c.columns.iter().map(|col| quote(col)).collect::<Vec<_>>().join(", ")
        ));
        wanted_candidates.push(k);
    }
    let mut names: Vec<(String, usize)> = Vec::new();
    let created = if ddl.is_empty() { Vec::new() } else { planner::hypothetical(tx, &ddl).await? };
    for ((outcome, k), text) in created.into_iter().zip(wanted_candidates).zip(&ddl) {
        match outcome {
            Ok(name) => names.push((name, k)),
            Err(why) => fail(text, why),
        }
    }
    let mut planned = 0;
    let result = async {
        for (n, plan_before) in &before {
            let s = &statements[*n];
            let params = s.shape.as_ref().map_or(0, |s| s.params);
            let plan_after = match planner::generic_plan(tx, &s.query, params).await? {
                Ok(p) => p,
                Err(why) => {
                    fail(&s.query, why);
                    continue;
                }
            };
            planned += 1;
            if plan_after.total_cost > plan_before.total_cost * (1.0 - MIN_COST_SAVING) {
                continue;
            }
            for (name, k) in &names {
                let Some(scan) = plan_after.uses_index(name) else { continue };
                let c = &mut candidates[*k];
                // A missing index replaces a sequential scan; one that only betters an index
                // scan already there (a longer key for a sort, say) is not what this advice is for.
                let Some(replaced) = plan_before.scan_of(&c.table.schema, &c.table.table) else { continue };
                if !replaced.node_type.ends_with("Seq Scan") {
                    continue;
                }
                let before_node = replaced.describe(None);
                c.evidence.push(PlannerEvidence {
                    statement: s.query.clone(),
                    total_ms: s.total_ms,
                    share_pct: s.share_pct,
                    cost_before: plan_before.total_cost,
                    cost_after: plan_after.total_cost,
                    before: before_node,
                    after: scan.describe(Some("the suggested index")),
                });
            }
        }
        Ok::<_, TxError>(())
    }
    .await;
    planner::reset(tx).await?;
    result?;
    let rejected = names.iter().filter(|(_, k)| candidates[*k].evidence.is_empty()).count();
    let kept = names.len() - rejected;
    Ok(AdviceVerification {
        hypopg: None,
        statements_planned: planned,
        candidates_rejected: u32::try_from(rejected).unwrap_or(u32::MAX),
        message: format!(
            "Verified by the planner with HypoPG: {} planned without and with {} as hypothetical indexes; {kept} \
             used at a lower estimated cost {} suggested, {rejected} the planner did not use {} left out.",
            plural(planned as usize, "statement"),
            plural(names.len(), "candidate index"),
            if kept == 1 { "is" } else { "are" },
            if rejected == 1 { "is" } else { "are" },
        ),
        failures,
    })
}

/// Without the planner: for a sequential-scan-heavy table, the costliest statement's uncovered
/// candidate; when no statement names a usable predicate, the most selective column without an
/// index.
fn parser_suggestion(
    t: &TableInfo,
    statements: &[Statement],
    candidates: &[Candidate],
    indexes: &[IndexInfo],
    stats: &TableStats,
) -> Option<IndexSuggestion> {
    let name = t.name();
    let reads = |s: &Statement| {
        s.shape.as_ref().and_then(|sh| sh.tables.get(&name)).is_some_and(|u| !u.candidates().is_empty())
    };
    let best = candidates
        .iter()
        .filter(|c| c.table == name)
        .filter_map(|c| c.statements.first().map(|&n| (n, c)))
        .min_by_key(|(n, c)| (*n, usize::from(c.eq == 0 && c.columns.len() == 1)));
    if let Some((n, c)) = best {
        let s = &statements[n];
        let reason = format!(
            "{} sequential scans read {} rows ({} per scan on average) while index scans fetched {}; the \
             costliest statement reading {} ({:.0} ms in total) filters on {}{}",
            t.seq_scan,
            t.seq_tup_read,
            t.seq_tup_read / t.seq_scan.max(1),
            t.idx_tup_fetch,
            t.table,
            s.total_ms,
            c.columns.join(", "),
            if c.eq > 0 && c.eq < c.columns.len() {
                " (equality columns first, then the range or sort column)"
            } else {
                ""
            }
        );
        return Some(suggestion_with(t, &c.columns, reason, Some(s.query.clone()), Vec::new(), stats));
    }
    // Statements read the table's predicates and an index covers them: the scans are history.
    if statements.iter().any(reads) {
        return None;
    }
    let leading: HashSet<&str> = indexes
        .iter()
        .filter(|i| i.relid == t.relid)
        .filter_map(|i| i.columns.first().and_then(|c| c.as_deref()))
        .collect();
    let s = stats
        .values()
        .filter(|s| !leading.contains(s.0.column.as_str()))
        .filter(|s| s.0.selectivity.is_some_and(|sel| sel < 0.01))
        .min_by(|a, b| {
            a.0.selectivity
                .unwrap_or(1.0)
                .total_cmp(&b.0.selectivity.unwrap_or(1.0))
                .then(a.0.column.cmp(&b.0.column))
        })?;
    let reason = format!(
        "{} sequential scans read {} rows while index scans fetched {}; no top statement's predicate could be \
         read, and {} is the most selective column without an index (pg_stats: n_distinct {}, correlation {})",
        t.seq_scan,
        t.seq_tup_read,
        t.idx_tup_fetch,
        s.0.column,
        s.0.n_distinct.map_or("?".to_owned(), |n| format!("{n}")),
        s.0.correlation.map_or("?".to_owned(), |c| format!("{c:.2}")),
    );
    let column = s.0.column.clone();
    Some(suggestion_with(t, &[column], reason, None, Vec::new(), stats))
}

/// `pg_stats` and `quote_ident` of every column of a table, by name.
type TableStats = HashMap<String, (ColumnStats, String)>;

static NO_STATS: std::sync::LazyLock<TableStats> = std::sync::LazyLock::new(HashMap::new);

/// [`TableStats`] of each of `tables`, by `relid`, in one query.
async fn column_stats(tx: &Client, tables: &[&TableInfo]) -> Result<HashMap<u32, TableStats>, TxError> {
    if tables.is_empty() {
        return Ok(HashMap::new());
    }
    let relids: Vec<u32> = tables.iter().map(|t| t.relid).collect();
    let live: HashMap<u32, i64> = tables.iter().map(|t| (t.relid, t.live_rows)).collect();
    let rows = tx
        .query(
            &format!(
                "{MARKER} SELECT a.attrelid, a.attname::text, quote_ident(a.attname), s.n_distinct::float8,
                        s.correlation::float8, s.null_frac::float8
                 FROM pg_attribute a
                 JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
                 WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped"
            ),
            &[&relids],
        )
        .await?;
    let mut out: HashMap<u32, TableStats> = HashMap::new();
    for r in &rows {
        let relid: u32 = r.get(0);
        let name: String = r.get(1);
        let n_distinct: Option<f64> = r.get(3);
        let live_rows = live.get(&relid).copied().unwrap_or(0);
        let selectivity = n_distinct.and_then(|n| {
            if n > 0.0 {
                Some(1.0 / n)
            } else if n < 0.0 && live_rows > 0 {
                Some(1.0 / (-n * live_rows as f64).max(1.0))
            } else {
                None
            }
        });
        let stats = ColumnStats {
            column: name.clone(),
            n_distinct,
            selectivity,
            correlation: r.get(4),
            null_frac: r.get(5),
        };
        out.entry(relid).or_default().insert(name, (stats, r.get(2)));
    }
    Ok(out)
}

fn suggestion_with(
    t: &TableInfo,
    columns: &[String],
    reason: String,
    statement: Option<String>,
    planner: Vec<PlannerEvidence>,
    stats: &TableStats,
) -> IndexSuggestion {
    let ddl = format!(
        "CREATE INDEX CONCURRENTLY ON {}.{} ({});",
        t.q_schema,
        t.q_table,
        columns
            .iter()
            .map(|c| stats.get(c).map_or_else(|| quote(c), |s| s.1.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    IndexSuggestion {
        kind: AdviceKind::CreateIndex,
        schema: t.schema.clone(),
        table: t.table.clone(),
        columns: columns.to_vec(),
        index: None,
        seq_scan: t.seq_scan,
        seq_tup_read: t.seq_tup_read,
        idx_scan: t.idx_scan,
        live_rows: t.live_rows,
        table_bytes: t.bytes,
        index_bytes: None,
        reason,
        statement,
        column_stats: columns.iter().filter_map(|c| stats.get(c).map(|s| s.0.clone())).collect(),
        ddl,
        verified: !planner.is_empty(),
        planner,
    }
}

/// The top statements of the connected database by total time, with their share of it.
async fn top_statements(tx: &Client) -> Result<Vec<Statement>, TxError> {
    let sql = super::statements::top_sql(triage_shared::pg::StatementOrder::Total, &extension(tx).await?);
    let database: String =
        tx.query_one(&format!("{MARKER} SELECT current_database()::text"), &[]).await?.get(0);
    let none: Option<String> = None;
    let rows = tx.query(&sql, &[&Some(database), &none, &TOP_STATEMENTS]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let query = r.get::<_, Option<String>>(3)?;
            let total_ms: f64 = r.get(5);
            let all = r.get::<_, Option<f64>>(14).unwrap_or(0.0);
            let share_pct = if all > 0.0 { total_ms / all * 100.0 } else { 0.0 };
            Some(Statement { query, total_ms, share_pct, shape: None })
        })
        .collect())
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
                        i.indclass::text || ' ' || i.indcollation::text || ' ' || i.indoption::text,
                        pg_get_expr(i.indpred, i.indrelid)
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
            predicate: r.get(17),
            predicate_fixes: Vec::new(),
        })
        .collect())
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
            verified: false,
            planner: Vec::new(),
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
        // The same rule as for a candidate: the longer index leads with this one's columns, the
        // last of them (a range or sort column) in place.
        let Some(columns) = a.columns.iter().cloned().collect::<Option<Vec<String>>>() else { continue };
        let longer = indexes.iter().find(|b| {
            b.relid == a.relid
                && b.name != a.name
                && b.plain_btree()
                && b.columns.len() > a.columns.len()
                && leads(&b.columns, &columns, columns.len().saturating_sub(1))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn index(columns: &[Option<&str>], unique: bool, predicate_fixes: &[&str]) -> IndexInfo {
        IndexInfo {
            relid: 1,
            schema: "public".to_owned(),
            table: "orders".to_owned(),
            name: "i".to_owned(),
            q_schema: "public".to_owned(),
            q_name: "i".to_owned(),
            columns: columns.iter().map(|c| c.map(str::to_owned)).collect(),
            unique,
            backs_constraint: unique,
            partial: !predicate_fixes.is_empty(),
            expressions: columns.iter().any(Option::is_none),
            method: "btree".to_owned(),
            bytes: 0,
            idx_scan: 0,
            definition: String::new(),
            valid: true,
            signature: String::new(),
            predicate: None,
            predicate_fixes: predicate_fixes.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn cols(v: &[&str]) -> Vec<String> {
        v.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn a_primary_key_the_statement_fixes_covers_any_composite_it_would_lead() {
        let pkey = index(&[Some("id")], true, &[]);
        assert!(covers(&pkey, &cols(&["id", "status"]), 2), "one row is found by the key already");
        assert!(covers(&pkey, &cols(&["id"]), 1));
        assert!(!covers(&pkey, &cols(&["status", "created_at"]), 1));
        assert!(covers(&pkey, &cols(&["id"]), 0), "a range over the key: it leads with it");
    }

    #[test]
    fn leading_columns_equality_in_any_order_the_range_in_place() {
        let i = index(&[Some("customer_id"), Some("created_at")], false, &[]);
        assert!(covers(&i, &cols(&["customer_id"]), 1));
        assert!(covers(&i, &cols(&["customer_id", "created_at"]), 1));
        assert!(!covers(&i, &cols(&["created_at"]), 0), "created_at does not lead");
        assert!(covers(&i, &cols(&["created_at", "customer_id"]), 2), "two equality columns, any order");
        assert!(
            !covers(&i, &cols(&["created_at", "customer_id"]), 1),
            "customer_id as the range column is not in place"
        );
        assert!(!covers(&i, &cols(&["customer_id", "created_at", "status"]), 2), "longer than the index");
        let expression = index(&[None, Some("created_at")], false, &[]);
        assert!(!covers(&expression, &cols(&["created_at"]), 1));
        let mut hash = index(&[Some("customer_id")], false, &[]);
        hash.method = "hash".to_owned();
        assert!(!covers(&hash, &cols(&["customer_id"]), 1));
        let mut invalid = index(&[Some("customer_id")], false, &[]);
        invalid.valid = false;
        assert!(
            !covers(&invalid, &cols(&["customer_id"]), 1),
            "an index left invalid by a failed build serves nothing"
        );
    }

    #[test]
    fn a_partial_index_covers_when_the_statement_fixes_its_predicate() {
        let pending = index(&[Some("created_at")], false, &["status"]);
        assert!(covers(&pending, &cols(&["status", "created_at"]), 1));
        assert!(covers(&pending, &cols(&["status"]), 1));
        assert!(!covers(&pending, &cols(&["created_at"]), 0), "without the predicate's column, not usable");
        assert!(!covers(&pending, &cols(&["status", "customer_id"]), 2));
    }

    #[test]
    fn excerpts_are_one_line_and_bounded() {
        assert_eq!(excerpt("SELECT *\n  FROM orders"), "SELECT * FROM orders");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).chars().count(), 121);
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(plural(1, "candidate index"), "1 candidate index");
        assert_eq!(plural(8, "candidate index"), "8 candidate indexes");
        assert_eq!(plural(0, "statement"), "0 statements");
    }
}
