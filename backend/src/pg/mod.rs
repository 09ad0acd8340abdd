//! PostgreSQL analysis targets: a small connection pool per configured database, and every
//! analysis (statements, window diff, activity, index advice, tables, named SQL checks) run in a
//! `READ ONLY` transaction with `SET LOCAL statement_timeout`. The only statement that is not
//! read-only is the audited `pg_stat_statements_reset()`.
//!
//! Every query Triage sends starts with [`MARKER`], so its own statements are left out of the
//! statement views. Errors become `ApiError`s in words: unreachable → 503, statement timeout →
//! 504, a write refused by the read-only transaction → 422, anything else PostgreSQL says → 502.

mod activity;
mod advice;
mod planner;
mod pool;
pub mod shape;
mod snapshots;
mod sql;
mod statements;
mod tables;

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use tokio_postgres::error::SqlState;
use triage_shared::actions::{ActionOutcome, Role};
use triage_shared::pg::{
    ActivityReport, DiffQuery, DiffReport, IndexAdviceReport, ResetRequest, SnapshotInfo, SqlParam,
    SqlResult, StatementsQuery, StatementsReport, TablesReport,
};
use triage_shared::{ApiError, ErrorKind};

use crate::config::PostgresSettings;
use crate::store::Store;

pub use snapshots::SnapshotStore;

/// Prefix of every statement Triage sends, so the statement views can leave them out.
pub const MARKER: &str = "/* triage */";

/// Runs `$body` (a future using the transaction `$tx`) in a `READ ONLY` transaction with the
/// statement timeout, on a pooled connection, bounded by the overall limit. Evaluates to
/// `Result<T, ApiError>`. A macro rather than a closure taking `&Transaction`: async closures
/// over a borrowed transaction do not name their lifetimes well.
macro_rules! read_only {
    ($self:expr, $target:expr, |$tx:ident| $body:expr) => {{
        let t = $self.target($target)?;
        let limit = $self.overall_limit(t);
        let timeout_ms = $self.statement_timeout.as_millis();
        let mut conn = t.pool.get(&t.name).await?;
        let result: Result<_, TxError> = match tokio::time::timeout(limit, async {
            // Sent by hand rather than through `Transaction`, so these carry the marker too.
            let $tx: &tokio_postgres::Client = conn.client_mut();
            $tx.batch_execute(&format!(
                "{MARKER} START TRANSACTION READ ONLY; {MARKER} SET LOCAL statement_timeout = {timeout_ms}"
            ))
            .await?;
            let value = $body.await?;
            $tx.batch_execute(&format!("{MARKER} ROLLBACK")).await?;
            Ok::<_, TxError>(value)
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(TxError::Api(ApiError::new(
                ErrorKind::Timeout,
                format!("PostgreSQL target {} did not answer within {} s", t.name, limit.as_secs()),
            ))),
        };
        finish(&t.name, conn, result)
    }};
}

/// Maps a transaction's outcome. After a failure the connection may still be inside the
/// transaction (or cut mid-way), so it is not reused.
fn finish<T>(target: &str, mut conn: pool::Conn, result: Result<T, TxError>) -> Result<T, ApiError> {
    if result.is_err() {
        conn.discard();
    }
    match result {
        Ok(v) => Ok(v),
        Err(TxError::Pg(e)) => Err(map_error(target, &e)),
        Err(TxError::Api(e)) => Err(e),
    }
}

/// The answer of every analysis when no `[[postgres.targets]]` are configured.
pub fn not_configured() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "PostgreSQL analysis is not configured (add [[postgres.targets]])")
}

/// The configured targets. Cheap to share: the pools are inside.
pub struct PgTargets {
    targets: Vec<Target>,
    statement_timeout: Duration,
    store: SnapshotStore,
    /// Retention of on-demand snapshots: count per target and age.
    manual_snapshots: (u32, Duration),
}

struct Target {
    name: String,
    pool: pool::Pool,
}

impl PgTargets {
    /// Builds the pools (no connection is opened until the first analysis) and starts the
    /// periodic snapshots, which stop when the last handle is dropped.
    pub fn new(settings: &PostgresSettings, store: Store, env: &str) -> Result<Arc<Self>, ApiError> {
        let mut targets = Vec::with_capacity(settings.targets.len());
        for t in &settings.targets {
            let mut config: tokio_postgres::Config = t.url.expose_secret().parse().map_err(|e| {
                ApiError::new(
                    ErrorKind::Internal,
                    format!("postgres target {}: bad connection string: {e}", t.name),
                )
            })?;
            config.connect_timeout(Duration::from_secs(settings.connect_timeout_secs));
            config.application_name("triage");
            let pool = pool::Pool::new(
                &t.name,
                config,
                settings.pool_size,
                Duration::from_secs(settings.connect_timeout_secs),
            )?;
            targets.push(Target { name: t.name.clone(), pool });
        }
        let this = Arc::new(Self {
            targets,
            statement_timeout: Duration::from_millis(settings.statement_timeout_ms),
            store: SnapshotStore::new(store, env),
            manual_snapshots: (
                settings.max_manual_snapshots.max(1),
                Duration::from_secs(u64::from(settings.manual_snapshot_retention_days.max(1)) * 86_400),
            ),
        });
        if settings.snapshot_interval_secs > 0 && tokio::runtime::Handle::try_current().is_ok() {
            let every = Duration::from_secs(settings.snapshot_interval_secs);
            let keep = Duration::from_secs(settings.snapshot_retention_hours.saturating_mul(3600));
            tokio::spawn(periodic_snapshots(Arc::downgrade(&this), every, keep));
        }
        Ok(this)
    }

    /// Configured target names; the first is the default.
    pub fn names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    fn target(&self, name: &str) -> Result<&Target, ApiError> {
        self.targets.iter().find(|t| t.name == name).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                format!("no PostgreSQL target named {name:?}; configured: {}", self.names().join(", ")),
            )
        })
    }

    /// Upper bound of one whole analysis: a black-holed server must not hang a request.
    fn overall_limit(&self, t: &Target) -> Duration {
        self.statement_timeout * 3 + t.pool.connect_timeout() + Duration::from_secs(1)
    }

    pub async fn statements(&self, target: &str, q: &StatementsQuery) -> Result<StatementsReport, ApiError> {
        let started = Instant::now();
        let mut report = read_only!(self, target, |tx| statements::top(tx, target, q))?;
        report.took_ms = ms_since(started);
        Ok(report)
    }

    pub async fn activity(&self, target: &str) -> Result<ActivityReport, ApiError> {
        let started = Instant::now();
        let mut report = read_only!(self, target, |tx| activity::report(tx, target))?;
        report.took_ms = ms_since(started);
        Ok(report)
    }

    pub async fn index_advice(&self, target: &str) -> Result<IndexAdviceReport, ApiError> {
        let started = Instant::now();
        let mut report = read_only!(self, target, |tx| advice::report(tx, target))?;
        report.took_ms = ms_since(started);
        Ok(report)
    }

    pub async fn tables(&self, target: &str) -> Result<TablesReport, ApiError> {
        let started = Instant::now();
        let mut report = read_only!(self, target, |tx| tables::report(tx, target))?;
        report.took_ms = ms_since(started);
        Ok(report)
    }

    /// A named read-only check: runs `sql` with bound `params` in a READ ONLY transaction with
    /// the statement timeout.
    pub async fn run_sql(&self, target: &str, sql: &str, params: &[SqlParam]) -> Result<SqlResult, ApiError> {
        let started = Instant::now();
        let text = format!("{MARKER} {sql}");
        let mut result = read_only!(self, target, |tx| sql::run(tx, &text, params))?;
        result.took_ms = ms_since(started);
        Ok(result)
    }

    /// Takes a snapshot of `pg_stat_statements` into Triage's store.
    pub async fn take_snapshot(&self, target: &str, kind: &str) -> Result<SnapshotInfo, ApiError> {
        let reading = self.reading(target).await?;
        let saved = self.store.save(target, kind, &reading).await?;
        if kind != "periodic" {
            let (count, age) = self.manual_snapshots;
            self.store.prune_manual(target, count, age).await?;
        }
        Ok(saved)
    }

    pub async fn snapshots(&self, target: &str) -> Result<Vec<SnapshotInfo>, ApiError> {
        self.target(target)?;
        self.store.list(target).await
    }

    /// What changed between two readings, ranked by added total time.
    pub async fn diff(&self, target: &str, q: &DiffQuery) -> Result<DiffReport, ApiError> {
        let started = Instant::now();
        self.target(target)?;
        let (from_info, from) = match (q.from, q.from_time) {
            (Some(id), _) => self.store.load(target, id).await?,
            (None, Some(t)) => self.store.load_at_or_before(target, t).await?,
            (None, None) => {
                return Err(ApiError::new(
                    ErrorKind::BadRequest,
                    "name the start of the window: from (a snapshot id) or from_time (Unix seconds)",
                ));
            }
        };
        let (to_info, to) = match (q.to, q.to_time) {
            (Some(id), _) => {
                let (info, r) = self.store.load(target, id).await?;
                (Some(info), r)
            }
            (None, Some(t)) => match self.store.load_at_or_after(target, t).await? {
                Some((info, r)) => (Some(info), r),
                None => (None, self.reading(target).await?),
            },
            (None, None) => (None, self.reading(target).await?),
        };
        let limit = q.limit.unwrap_or(50).clamp(1, 1000) as usize;
        let mut report = snapshots::diff(target, from_info, &from, to_info, &to, limit)?;
        let missing: Vec<i64> =
            report.rows.iter().filter(|r| r.query.is_empty()).filter_map(|r| r.queryid).collect();
        if !missing.is_empty() {
            let texts = self.store.texts(target, missing).await?;
            for row in &mut report.rows {
                if row.query.is_empty()
                    && let Some(text) = row.queryid.and_then(|id| texts.get(&id))
                {
                    row.query.clone_from(text);
                }
            }
        }
        report.took_ms = ms_since(started);
        Ok(report)
    }

    async fn reading(&self, target: &str) -> Result<snapshots::Reading, ApiError> {
        read_only!(self, target, |tx| statements::reading(tx))
    }

    /// `pg_stat_statements_reset()`: operators only, dry run first, the target's name typed as
    /// confirmation, audited before and after.
    pub async fn reset(
        &self,
        actor: &crate::guard::Actor<'_>,
        target: &str,
        req: &ResetRequest,
    ) -> Result<ActionOutcome, ApiError> {
        crate::guard::require(actor.identity, Role::Operator, "resetting query statistics")?;
        let t = self.target(target)?;
        let plan = crate::guard::Plan {
            action: "pg-stat-statements-reset",
            target: format!("postgres/{}", t.name),
            params: serde_json::json!({}),
            summary: format!(
                "forget every pg_stat_statements entry of {} (all databases); window diffs across this moment show the reset",
                t.name
            ),
            kubectl: "psql -c 'SELECT pg_stat_statements_reset()'".to_owned(),
            confirm_with: Some(t.name.as_str()),
            name: t.name.as_str(),
        };
        let timeout_ms = self.statement_timeout.as_millis();
        crate::guard::guarded(actor, plan, req.dry_run, req.confirm.as_deref(), || async {
            let mut conn = t.pool.get(&t.name).await?;
            let result = async {
                let tx = conn.client_mut().transaction().await?;
                tx.batch_execute(&format!("{MARKER} SET LOCAL statement_timeout = {timeout_ms}")).await?;
                tx.execute(&format!("{MARKER} SELECT pg_stat_statements_reset()"), &[]).await?;
                tx.commit().await
            }
            .await;
            result.map_err(|e| {
                if connection_lost(&e) {
                    conn.discard();
                }
                map_error(&t.name, &e)
            })
        })
        .await
    }
}

/// A failure inside a transaction: PostgreSQL's own, or one already in words.
#[derive(Debug)]
pub(crate) enum TxError {
    Pg(tokio_postgres::Error),
    Api(ApiError),
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<ApiError> for TxError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// The session is gone: server restarted or stopped, backend terminated, network broken.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| {
            let code = c.code();
            code.starts_with("08") || code.starts_with("57P")
        })
        || (e.code().is_none() && e.as_db_error().is_none())
}

/// What the fix is when `pg_stat_statements` cannot be read.
pub(crate) fn extension_fix(database: &str) -> String {
    format!(
        "add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart PostgreSQL, \
         then run CREATE EXTENSION pg_stat_statements; in database {database}"
    )
}

/// PostgreSQL's error in words, with the right kind.
pub(crate) fn map_error(target: &str, e: &tokio_postgres::Error) -> ApiError {
    let Some(db) = e.as_db_error() else {
        let cause = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
        return ApiError::new(
            ErrorKind::Unavailable,
            format!("PostgreSQL target {target} is unreachable ({cause})"),
        )
        .with_detail(serde_json::json!({"target": target}));
    };
    let code = db.code();
    let detail = serde_json::json!({"target": target, "sqlstate": code.code(), "postgres": db.message()});
    let (kind, message) = if *code == SqlState::QUERY_CANCELED {
        (ErrorKind::Timeout, format!("PostgreSQL target {target} cancelled the query: {}", db.message()))
    } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        (
            ErrorKind::Unprocessable,
            format!(
                "PostgreSQL refused a write in Triage's read-only transaction on {target}: {}",
                db.message()
            ),
        )
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        (
            ErrorKind::Unprocessable,
            format!(
                "Triage's role on {target} lacks a privilege: {} (see the recommended GRANTs in the README)",
                db.message()
            ),
        )
    } else if code.code().starts_with("57P")
        || code.code().starts_with("08")
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        (ErrorKind::Unavailable, format!("PostgreSQL target {target} is unavailable: {}", db.message()))
    } else if db.message().contains("pg_stat_statements must be loaded") {
        (
            ErrorKind::Unavailable,
            format!("pg_stat_statements is not loaded on {target}: {}", extension_fix("the target database")),
        )
    } else if code.code().starts_with("42") || code.code().starts_with("22") {
        (ErrorKind::Unprocessable, format!("PostgreSQL target {target} refused the query: {}", db.message()))
    } else {
        (ErrorKind::Upstream, format!("PostgreSQL target {target} answered an error: {}", db.message()))
    };
    ApiError::new(kind, message).with_detail(detail)
}

/// Takes a snapshot of every target every `every`, and deletes periodic ones older than `keep`.
async fn periodic_snapshots(targets: Weak<PgTargets>, every: Duration, keep: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(this) = targets.upgrade() else { return };
        for name in this.names() {
            if let Err(e) = this.take_snapshot(&name, "periodic").await {
                tracing::warn!(target_name = %name, "periodic pg_stat_statements snapshot failed: {}", e.message);
            }
            if let Err(e) = this.store.prune(&name, keep).await {
                tracing::warn!(target_name = %name, "pruning old snapshots failed: {}", e.message);
            }
        }
    }
}
