//! PostgreSQL analysis: `pg_stat_statements` tops and window diffs, `pg_stat_activity`, index
//! advice, table sizes and bloat, and named read-only SQL checks. Every report carries the
//! numbers a runbook check judges, and `took_ms`, the server-side time spent producing it.

use serde::{Deserialize, Serialize};

/// How the statements list is ordered (biggest first; `hit-ratio` lowest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum StatementOrder {
    Mean,
    #[default]
    Total,
    Calls,
    Max,
    Stddev,
    Rows,
    HitRatio,
}

impl StatementOrder {
    pub const ALL: [StatementOrder; 7] =
        [Self::Total, Self::Mean, Self::Calls, Self::Max, Self::Stddev, Self::Rows, Self::HitRatio];

    /// The name used in URLs (`order=mean`).
    pub fn id(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Total => "total",
            Self::Calls => "calls",
            Self::Max => "max",
            Self::Stddev => "stddev",
            Self::Rows => "rows",
            Self::HitRatio => "hit-ratio",
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.id() == id)
    }
}

/// The query string of `GET /api/pg/{target}/statements?order=&database=&role=&limit=`, as the
/// console sends it and the backend reads it. `order` stays text on the wire so that an unknown
/// one is refused by name ([`StatementsParams::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatementsParams {
    /// How to rank (default `total`, also when empty); read by hand so an unknown one is named
    /// in the refusal.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schemars(schema_with = "order_schema"))]
    pub order: Option<String>,
    /// Only statements run in this database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Only statements run by this role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Most rows (default 50, at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `order` as [`StatementsParams::resolve`] reads it: a [`StatementOrder`], or empty for the default.
#[cfg(feature = "openapi")]
fn order_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let order = generator.subschema_for::<StatementOrder>();
    schemars::json_schema!({"anyOf": [order, {"const": ""}]})
}

impl StatementsParams {
    /// The parameters of one listing; empty filters are left out.
    pub fn new(order: StatementOrder, database: &str, role: &str, limit: u32) -> Self {
        let given = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        Self {
            order: Some(order.id().to_owned()),
            database: given(database),
            role: given(role),
            limit: Some(limit),
        }
    }

    /// The listing asked for, or the refusal of an unknown `order` in words.
    pub fn resolve(self) -> Result<StatementsQuery, String> {
        let order = match self.order.as_deref().filter(|o| !o.is_empty()) {
            None => StatementOrder::default(),
            Some(o) => StatementOrder::parse(o).ok_or_else(|| {
                let known: Vec<&str> = StatementOrder::ALL.iter().map(|o| o.id()).collect();
                format!("unknown order {o:?}; use one of {}", known.join(", "))
            })?,
        };
        Ok(StatementsQuery { order, database: self.database, role: self.role, limit: self.limit })
    }
}

/// The statements to list, as the analysis takes them (see [`StatementsParams`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatementsQuery {
    #[serde(default)]
    pub order: StatementOrder,
    /// Only statements run in this database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Only statements run by this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Most rows returned (default 50, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One `pg_stat_statements` entry. Times are milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatementRow {
    pub queryid: Option<i64>,
    pub database: Option<String>,
    pub role: Option<String>,
    /// The normalized text as PostgreSQL keeps it (constants replaced by `$1`, `$2`, …).
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub min_ms: f64,
    pub stddev_ms: f64,
    pub rows: i64,
    /// Shared-buffer hit ratio, 0..1; `None` when the statement touched no buffer.
    pub hit_ratio: Option<f64>,
    /// This statement's share of the total execution time of all statements, 0..100.
    pub share_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StatementsReport {
    pub target: String,
    pub order: StatementOrder,
    pub rows: Vec<StatementRow>,
    /// Statements known (after the database and role filters), of which `rows` is the top.
    pub statements: i64,
    /// Sum of `total_ms` over those statements.
    pub total_ms: f64,
    /// Databases that accept connections and roles that can log in, for the filters.
    pub databases: Vec<String>,
    pub roles: Vec<String>,
    /// `pg_stat_statements` version and whether the PostgreSQL 13+ column names were used.
    pub extension_version: String,
    pub exec_time_columns: bool,
    /// When the statistics were last reset (RFC 3339), when PostgreSQL says (14+).
    pub stats_reset: Option<String>,
    pub server_version: String,
    pub took_ms: f64,
}

/// A stored reading of `pg_stat_statements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SnapshotInfo {
    pub id: i64,
    pub target: String,
    /// RFC 3339, UTC.
    pub taken_at: String,
    /// Seconds since the Unix epoch.
    pub taken_at_unix: f64,
    /// `manual` (on demand) or `periodic`.
    pub kind: String,
    pub statements: i64,
}

/// `GET /api/pg/{target}/diff?from=&to=&from_time=&to_time=&limit=`: snapshot ids, or Unix
/// times (the last snapshot at or before `from_time`, the first at or after `to_time`). Without
/// `to` and `to_time` the end is a live reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DiffQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// What one statement added between the two readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DiffRow {
    pub queryid: Option<i64>,
    pub database: Option<String>,
    pub role: Option<String>,
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    /// Mean over the window's calls.
    pub mean_ms: f64,
    pub rows: i64,
    /// Share of the time added by all statements in the window, 0..100.
    pub share_pct: f64,
    /// Not present in the first reading: it ran only inside the window (or was evicted before).
    pub new_in_window: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DiffReport {
    pub target: String,
    pub from: SnapshotInfo,
    /// `None`: the end is a live reading taken for this report.
    pub to: Option<SnapshotInfo>,
    pub to_time: String,
    pub seconds: f64,
    /// Ranked by added total time.
    pub rows: Vec<DiffRow>,
    pub statements_changed: i64,
    pub total_added_ms: f64,
    /// Counters went down between the readings: statistics were reset inside the window, so the
    /// figures of the affected statements are a lower bound.
    pub reset_detected: bool,
    pub took_ms: f64,
}

/// One client backend of `pg_stat_activity`. Durations in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Session {
    pub pid: i32,
    pub database: Option<String>,
    pub user: Option<String>,
    pub application: String,
    pub client_addr: Option<String>,
    /// `active`, `idle`, `idle in transaction`, …
    pub state: String,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    pub backend_secs: Option<f64>,
    pub transaction_secs: Option<f64>,
    pub query_secs: Option<f64>,
    /// Time in the current state (for idle in transaction: how long it has been idle).
    pub state_secs: Option<f64>,
    pub query: String,
    pub blocked_by: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StateCount {
    pub state: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AppStateCount {
    pub application: String,
    pub state: String,
    pub count: i64,
}

/// A session that blocks others, and every session waiting on it (directly or further down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct BlockingChain {
    pub blocker: Session,
    /// Waiting sessions with their depth (1: waits on the blocker itself).
    pub blocked: Vec<(u32, Session)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ActivityReport {
    pub target: String,
    pub server_version: String,
    pub max_connections: i64,
    /// Slots only superusers (and, from 16, `pg_use_reserved_connections`) may use.
    pub reserved_connections: i64,
    /// Client backends connected now.
    pub total_connections: i64,
    /// `max_connections - reserved - total`: what ordinary roles can still open.
    pub available_connections: i64,
    pub idle_in_transaction: i64,
    pub longest_idle_in_transaction_secs: Option<f64>,
    pub longest_transaction_secs: Option<f64>,
    pub longest_query_secs: Option<f64>,
    pub by_state: Vec<StateCount>,
    pub by_application: Vec<AppStateCount>,
    /// Sessions that are not idle, longest first (idle in transaction by time in that state).
    pub sessions: Vec<Session>,
    pub sessions_truncated: bool,
    pub blocking: Vec<BlockingChain>,
    pub took_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AdviceKind {
    /// A sequential-scan-heavy table and the index that would serve its filters.
    CreateIndex,
    /// Never scanned since the statistics were reset.
    UnusedIndex,
    /// Same columns as another index.
    DuplicateIndex,
    /// Its columns are a leading prefix of another index's.
    RedundantIndex,
}

/// A column statistic from `pg_stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ColumnStats {
    pub column: String,
    /// `pg_stats.n_distinct`: positive a count, negative a fraction of the rows.
    pub n_distinct: Option<f64>,
    /// Estimated share of rows one value matches, 0..1 (lower is more selective).
    pub selectivity: Option<f64>,
    pub correlation: Option<f64>,
    pub null_frac: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IndexSuggestion {
    pub kind: AdviceKind,
    pub schema: String,
    pub table: String,
    /// Suggested (or existing) index columns, in index order.
    pub columns: Vec<String>,
    /// The existing index a drop suggestion is about.
    pub index: Option<String>,
    pub seq_scan: i64,
    pub seq_tup_read: i64,
    pub idx_scan: i64,
    pub live_rows: i64,
    pub table_bytes: i64,
    pub index_bytes: Option<i64>,
    /// Where the columns come from, and why this is suggested, in words.
    pub reason: String,
    /// The statement whose predicate names the columns, when one could be read.
    pub statement: Option<String>,
    pub column_stats: Vec<ColumnStats>,
    /// `CREATE INDEX CONCURRENTLY …` or `DROP INDEX CONCURRENTLY …`. Triage never runs it.
    pub ddl: String,
    /// A create suggestion the planner agreed with: with the index as a hypothetical one
    /// (HypoPG), it chose it for the statements in `planner`. `false`: the parser's reading of
    /// the statements (or `pg_stats`) alone.
    pub verified: bool,
    /// The statements the planner used the index for, costliest first.
    pub planner: Vec<PlannerEvidence>,
}

/// One statement planned without and with a suggested index (generic plans, `$n` unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PlannerEvidence {
    pub statement: String,
    pub total_ms: f64,
    /// Share of the execution time of every statement of the database, in percent.
    pub share_pct: f64,
    /// The planner's estimated total cost without and with the suggested indexes.
    pub cost_before: f64,
    pub cost_after: f64,
    /// The plan node it replaces, e.g. `Seq Scan on sessions`.
    pub before: String,
    /// The node that uses it, e.g. `Index Scan using the suggested index on sessions`.
    pub after: String,
}

/// Whether, and how, the advice was checked with the planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AdviceVerification {
    /// HypoPG's version, when the extension is installed in the target database.
    pub hypopg: Option<String>,
    /// Statements planned without and with the candidate indexes.
    pub statements_planned: u32,
    /// Candidates from the statements that the planner did not use, left out of the advice.
    pub candidates_rejected: u32,
    /// Statements PostgreSQL could not plan, with its reason (the first ten).
    pub failures: Vec<String>,
    /// In words: what was verified, or how to enable verification.
    pub message: String,
}

/// How an existing index is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IndexUsage {
    pub schema: String,
    pub table: String,
    pub index: String,
    pub columns: Vec<String>,
    pub idx_scan: i64,
    pub bytes: i64,
    pub unique: bool,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IndexAdviceReport {
    pub target: String,
    pub suggestions: Vec<IndexSuggestion>,
    pub indexes: Vec<IndexUsage>,
    /// When the database's statistics were last reset (RFC 3339): "unused" means since then.
    pub stats_reset: Option<String>,
    pub verification: AdviceVerification,
    pub took_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TableStats {
    pub schema: String,
    pub table: String,
    pub table_bytes: i64,
    pub index_bytes: i64,
    pub toast_bytes: i64,
    pub total_bytes: i64,
    pub live_rows: i64,
    pub dead_rows: i64,
    /// `dead / (live + dead)`, 0..1.
    pub dead_ratio: f64,
    pub seq_scan: i64,
    pub idx_scan: i64,
    /// RFC 3339, UTC.
    pub last_vacuum: Option<String>,
    pub last_autovacuum: Option<String>,
    pub last_analyze: Option<String>,
    pub last_autoanalyze: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TablesReport {
    pub target: String,
    pub database: String,
    /// Biggest first.
    pub tables: Vec<TableStats>,
    pub took_ms: f64,
}

/// A bound parameter of a named read-only SQL check (`$1`, `$2`, … in order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "type", content = "value")]
pub enum SqlParam {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The answer of a read-only SQL check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SqlResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than were returned.
    pub truncated: bool,
    pub took_ms: f64,
}

/// `POST /api/pg/{target}/reset`: `pg_stat_statements_reset()`, an audited operator action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"dry_run": true})))]
pub struct ResetRequest {
    #[serde(default)]
    pub dry_run: bool,
    /// The target's name, typed by the user; required for a real reset.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_round_trip() {
        for o in StatementOrder::ALL {
            assert_eq!(StatementOrder::parse(o.id()), Some(o));
            let json = serde_json::to_value(o).expect("serialize");
            assert_eq!(json, serde_json::json!(o.id()));
        }
        assert_eq!(StatementOrder::parse("nope"), None);
    }

    #[test]
    fn sql_params_are_tagged() {
        let p = vec![SqlParam::Text("click".into()), SqlParam::Int(3), SqlParam::Bool(true)];
        let json = serde_json::to_value(&p).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!([{"type": "text", "value": "click"}, {"type": "int", "value": 3}, {"type": "bool", "value": true}])
        );
        let back: Vec<SqlParam> = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, p);
    }
}
