//! The audit log: who did what, to which target, what the dry run said, and how it ended.
//!
//! An entry is written *before* an action is sent (outcome `pending`) and updated with its
//! outcome after, so an action whose process died mid-way is still on record. The store is an
//! embedded SQLite file by default (WAL, `synchronous=FULL`: an acknowledged entry survives a
//! crash) or PostgreSQL when several replicas share it. The API can only list entries.
//!
//! The same store keeps finished runbook runs (`runbooks::store`) and `pg_stat_statements`
//! snapshots (`pg::snapshots`); every table is created here, once, when the store is opened.
//! PostgreSQL is reached through a `deadpool-postgres` pool: a connection the database dropped
//! (a restart, a network cut) is replaced on the next checkout, and a checkout is bounded, so a
//! database that is down is answered with `unavailable` in seconds, never a hang.

use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType};
use secrecy::{ExposeSecret, SecretString};
use triage_shared::actions::{AuditEntry, AuditOutcome, Identity};
use triage_shared::{ApiError, ErrorKind};

/// What is known before the action runs.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub identity: Identity,
    pub action: String,
    pub target: String,
    pub params: serde_json::Value,
    pub dry_run_summary: String,
}

#[derive(Clone)]
pub enum AuditStore {
    Sqlite(SqliteConn),
    Postgres(PgPool),
}

/// Longest wait for a free PostgreSQL connection, for opening one, and for checking that an
/// idle one still answers: a database that is down or stuck costs an action this, not a hang.
pub const PG_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store could not be used, in words; each user of the store says what that means for it.
#[derive(Debug)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self(with_causes(&e))
    }
}

/// The error and its causes: `tokio-postgres` keeps the telling part ("Connection refused", the
/// server's message) in the source, not in its own text ("error connecting to server").
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        let secs = PG_CHECKOUT_TIMEOUT.as_secs();
        Self(match e {
            PoolError::Timeout(TimeoutType::Wait) => {
                format!("every connection to its PostgreSQL stayed busy for {secs} s")
            }
            PoolError::Timeout(TimeoutType::Create) => {
                format!("its PostgreSQL did not accept a connection within {secs} s")
            }
            PoolError::Timeout(TimeoutType::Recycle) => {
                format!("its PostgreSQL did not answer within {secs} s")
            }
            PoolError::Backend(e) => format!("cannot reach its PostgreSQL: {}", with_causes(&e)),
            other => other.to_string(),
        })
    }
}

/// The SQLite store: one connection (SQLite serializes writers anyway), used on blocking threads.
#[derive(Clone)]
pub struct SqliteConn(Arc<std::sync::Mutex<rusqlite::Connection>>);

impl SqliteConn {
    /// Runs `f` with the connection on a blocking thread, since every SQLite call blocks.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || f(&mut conn.lock().unwrap_or_else(PoisonError::into_inner)))
            .await
            .map_err(|e| StoreError(format!("the store's task failed: {e}")))?
            .map_err(StoreError::from)
    }
}

/// The PostgreSQL store: a pool whose checkouts verify the connection first.
#[derive(Clone)]
pub struct PgPool(Pool);

impl PgPool {
    /// A live connection, within [`PG_CHECKOUT_TIMEOUT`] per step; for transactions.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.0.get().await?)
    }

    /// Runs one statement on a pooled connection (prepared once per connection) and returns its rows.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        format!("the audit store is unavailable, so no action can run: {e}"),
    )
}

fn outcome_text(o: AuditOutcome) -> &'static str {
    match o {
        AuditOutcome::Pending => "pending",
        AuditOutcome::Succeeded => "succeeded",
        AuditOutcome::Failed => "failed",
    }
}

fn outcome_from(text: &str) -> AuditOutcome {
    match text {
        "succeeded" => AuditOutcome::Succeeded,
        "failed" => AuditOutcome::Failed,
        _ => AuditOutcome::Pending,
    }
}

fn now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    jiff::Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
}

/// Every table of the SQLite store: the audit log, finished runs (`runbooks::store`) and
/// snapshots with their statement texts (`pg::snapshots`).
const SQLITE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT,
        groups TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        params TEXT NOT NULL,
        dry_run_summary TEXT NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT,
        finished_at TEXT
    );
    CREATE TABLE IF NOT EXISTS runbook_runs (
        run_id TEXT PRIMARY KEY,
        runbook TEXT NOT NULL,
        started_at REAL NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pg_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        taken_at REAL NOT NULL,
        kind TEXT NOT NULL,
        statements INTEGER NOT NULL,
        data BLOB NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS pg_snapshots_target_time ON pg_snapshots (target, taken_at);
    CREATE TABLE IF NOT EXISTS pg_statement_texts (
        target TEXT NOT NULL,
        queryid INTEGER NOT NULL,
        query TEXT NOT NULL,
        PRIMARY KEY (target, queryid)
    );";

/// The same tables in PostgreSQL, prefixed `triage_`. Replicas starting together take an
/// advisory lock first, since concurrent `CREATE TABLE IF NOT EXISTS` can still collide.
const POSTGRES_SCHEMA: &str = "
    BEGIN;
    SELECT pg_advisory_xact_lock(hashtext('triage schema'));
    CREATE TABLE IF NOT EXISTS triage_audit (
        id BIGSERIAL PRIMARY KEY,
        at TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT,
        groups TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        params TEXT NOT NULL,
        dry_run_summary TEXT NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT,
        finished_at TEXT
    );
    CREATE TABLE IF NOT EXISTS triage_runbook_runs (
        run_id TEXT PRIMARY KEY,
        runbook TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS triage_pg_snapshots (
        id BIGSERIAL PRIMARY KEY,
        target TEXT NOT NULL,
        taken_at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        statements BIGINT NOT NULL,
        data BYTEA NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS triage_pg_snapshots_target_time ON triage_pg_snapshots (target, taken_at);
    CREATE TABLE IF NOT EXISTS triage_pg_statement_texts (
        target TEXT NOT NULL,
        queryid BIGINT NOT NULL,
        query TEXT NOT NULL,
        PRIMARY KEY (target, queryid)
    );
    COMMIT;";

type Row = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl AuditStore {
    pub fn open_sqlite(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = rusqlite::Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the audit database {}: {e}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")?;
        conn.execute_batch(SQLITE_SCHEMA)?;
        Ok(Self::Sqlite(SqliteConn(Arc::new(std::sync::Mutex::new(conn)))))
    }

    /// Opens a pool of at most `pool_size` connections and creates the tables; fails when the
    /// database cannot be reached now. Later outages are answered per request and recovered from.
    pub async fn open_postgres(url: &SecretString, pool_size: usize) -> anyhow::Result<Self> {
        let config: tokio_postgres::Config =
            url.expose_secret().parse().map_err(|e: tokio_postgres::Error| {
                anyhow::anyhow!(
                    "store.postgres_url is not a PostgreSQL connection string: {}",
                    with_causes(&e)
                )
            })?;
        // Verified: an idle connection is asked a trivial query before use, so one that a
        // restart or a network cut killed without closing the socket is replaced, not handed out.
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Verified },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .wait_timeout(Some(PG_CHECKOUT_TIMEOUT))
            .create_timeout(Some(PG_CHECKOUT_TIMEOUT))
            .recycle_timeout(Some(PG_CHECKOUT_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the audit database pool: {e}"))?;
        let pool = PgPool(pool);
        pool.client()
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the audit database: {e}"))?
            .batch_execute(POSTGRES_SCHEMA)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the audit database's tables: {}", with_causes(&e)))?;
        Ok(Self::Postgres(pool))
    }

    /// Records an action about to run; returns its id. The caller must not act if this fails.
    pub async fn begin(&self, e: NewEntry) -> Result<i64, ApiError> {
        let groups = serde_json::to_string(&e.identity.groups).unwrap_or_else(|_| "[]".to_owned());
        let params = e.params.to_string();
        let at = now();
        match self {
            Self::Sqlite(conn) => conn
                .call(move |conn| {
                    conn.execute(
                        "INSERT INTO audit (at, subject, email, groups, action, target, params, dry_run_summary, outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                        rusqlite::params![at, e.identity.subject, e.identity.email, groups, e.action, e.target, params, e.dry_run_summary],
                    )?;
                    Ok(conn.last_insert_rowid())
                })
                .await
                .map_err(unavailable),
            Self::Postgres(pool) => pool
                .query(
                    "INSERT INTO triage_audit (at, subject, email, groups, action, target, params, dry_run_summary, outcome)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') RETURNING id",
                    &[&at, &e.identity.subject, &e.identity.email, &groups, &e.action, &e.target, &params, &e.dry_run_summary],
                )
                .await
                .map_err(unavailable)?
                .first()
                .map(|row| row.get::<_, i64>(0))
                .ok_or_else(|| unavailable("the new entry's id was not returned")),
        }
    }

    /// Records how an action ended.
    pub async fn finish(
        &self,
        id: i64,
        outcome: AuditOutcome,
        error: Option<String>,
    ) -> Result<(), ApiError> {
        let finished = now();
        let outcome = outcome_text(outcome);
        match self {
            Self::Sqlite(conn) => {
                conn.call(move |conn| {
                    conn.execute(
                        "UPDATE audit SET outcome = ?1, error = ?2, finished_at = ?3 WHERE id = ?4 AND outcome = 'pending'",
                        rusqlite::params![outcome, error, finished, id],
                    )
                })
                .await
                .map_err(unavailable)?;
            }
            Self::Postgres(pool) => {
                pool.query(
                    "UPDATE triage_audit SET outcome = $1, error = $2, finished_at = $3 WHERE id = $4 AND outcome = 'pending'",
                    &[&outcome, &error, &finished, &id],
                )
                .await
                .map_err(unavailable)?;
            }
        }
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<AuditEntry>, ApiError> {
        let limit = i64::from(limit.clamp(1, 10_000));
        let rows: Vec<Row> = match self {
            Self::Sqlite(conn) => conn
                .call(move |conn| {
                    let mut stmt = conn.prepare(
                        "SELECT id, at, subject, email, groups, action, target, params, dry_run_summary, outcome, error, finished_at
                         FROM audit ORDER BY id DESC LIMIT ?1",
                    )?;
                    stmt.query_map([limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?))
                    })?
                    .collect()
                })
                .await
                .map_err(unavailable)?,
            Self::Postgres(pool) => pool
                .query(
                    "SELECT id, at, subject, email, groups, action, target, params, dry_run_summary, outcome, error, finished_at
                     FROM triage_audit ORDER BY id DESC LIMIT $1",
                    &[&limit],
                )
                .await
                .map_err(unavailable)?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8), r.get(9), r.get(10), r.get(11)))
                .collect(),
        };
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    at,
                    subject,
                    email,
                    groups,
                    action,
                    target,
                    params,
                    dry_run_summary,
                    outcome,
                    error,
                    finished_at,
                )| AuditEntry {
                    id,
                    at,
                    subject,
                    email,
                    groups: serde_json::from_str(&groups).unwrap_or_default(),
                    action,
                    target,
                    params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                    dry_run_summary,
                    outcome: outcome_from(&outcome),
                    error,
                    finished_at,
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_shared::actions::Role;

    #[test]
    fn opening_creates_every_table_of_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        drop(AuditStore::open_sqlite(&path).expect("open"));
        let conn = rusqlite::Connection::open(&path).expect("reopen");
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("prepare");
        let tables: Vec<String> =
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
        for table in ["audit", "pg_snapshots", "pg_statement_texts", "runbook_runs"] {
            assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
        }
    }

    #[tokio::test]
    async fn sqlite_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = AuditStore::open_sqlite(&dir.path().join("a/audit.db")).expect("open");
        let identity = Identity {
            subject: "ana".into(),
            email: Some("ana@example.com".into()),
            groups: vec!["sre".into()],
            role: Role::Operator,
        };
        let id = store
            .begin(NewEntry {
                identity,
                action: "scale".into(),
                target: "deployment/ns/x".into(),
                params: serde_json::json!({"replicas": 3}),
                dry_run_summary: "replicas 1 → 3".into(),
            })
            .await
            .expect("begin");
        let pending = store.list(10).await.expect("list");
        assert_eq!(pending[0].outcome, AuditOutcome::Pending);
        store.finish(id, AuditOutcome::Succeeded, None).await.expect("finish");
        // An outcome is written once: a second finish does not rewrite history.
        store.finish(id, AuditOutcome::Failed, Some("late".into())).await.expect("finish again");
        let done = store.list(10).await.expect("list");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].outcome, AuditOutcome::Succeeded);
        assert_eq!(done[0].groups, vec!["sre".to_owned()]);
        assert_eq!(done[0].params["replicas"], 3);
        assert!(done[0].finished_at.is_some());
    }
}
