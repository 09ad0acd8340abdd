//! Triage's own store: one database holding the audit log ([`audit`]), finished runbook runs
//! ([`runs`]) and `pg_stat_statements` snapshots ([`snapshots`]), reached through [`Store`].
//!
//! It is an embedded SQLite file by default (WAL, `synchronous=FULL`: an acknowledged write
//! survives a crash) or PostgreSQL when several replicas share it. It is opened once at start,
//! and its migrations (`migrations.rs`) are applied then, never per call. PostgreSQL is reached
//! through a `deadpool-postgres` pool: a connection the database dropped (a restart, a network
//! cut) is replaced on the next checkout, and a checkout is bounded, so a database that is down
//! is answered with `unavailable` in seconds, never a hang.
//!
//! This module is the only one that knows which database it is. Each table's statements are
//! written once, in PostgreSQL's spelling (`sql.rs`), and run through two primitives, `query` and
//! `transaction`; the SQLite text is derived from it.

pub mod approvals;
pub mod audit;
mod migrations;
pub mod runs;
pub mod snapshots;
mod sql;

use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType};
use secrecy::{ExposeSecret, SecretString};

pub use audit::{AuditLog, NewEntry};
pub use runs::Runs;
pub use snapshots::Snapshots;
use sql::{Row, Sql, Value};

use crate::config::StoreSettings;

/// The store, opened once at start; cloning it shares the connection or the pool.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

/// Which database holds the store; private, so no other module can tell.
#[derive(Clone)]
enum Db {
    Sqlite(SqliteConn),
    Postgres(PgPool),
}

/// Longest wait for a free PostgreSQL connection, for opening one, and for checking that an
/// idle one still answers: a database that is down or stuck costs an action this, not a hang.
pub const PG_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store could not be used, in words; each table says what that means for its callers.
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
struct SqliteConn(Arc<std::sync::Mutex<rusqlite::Connection>>);

impl SqliteConn {
    /// Runs `f` with the connection on a blocking thread, since every SQLite call blocks.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || f(&mut conn.lock().unwrap_or_else(PoisonError::into_inner)))
            .await
            .map_err(|e| StoreError(format!("the store's task failed: {e}")))?
    }
}

/// The PostgreSQL store: a pool whose checkouts verify the connection first.
#[derive(Clone)]
struct PgPool(Pool);

impl PgPool {
    /// A live connection, within [`PG_CHECKOUT_TIMEOUT`] per step.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.0.get().await?)
    }
}

impl Store {
    /// Opens the store the settings name: PostgreSQL when `postgres_url` is set, else the SQLite file.
    pub async fn open(settings: &StoreSettings) -> anyhow::Result<Self> {
        match &settings.postgres_url {
            Some(url) => Self::open_postgres(url, settings.postgres_pool_size).await,
            None => Self::open_sqlite(&settings.sqlite_path),
        }
    }

    /// Opens (or creates) the SQLite file and applies its pending migrations.
    pub fn open_sqlite(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = rusqlite::Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the audit database {}: {e}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")?;
        conn.set_prepared_statement_cache_capacity(sql::STATEMENTS);
        migrations::apply_sqlite(&mut conn)?;
        Ok(Self { db: Db::Sqlite(SqliteConn(Arc::new(std::sync::Mutex::new(conn)))) })
    }

    /// Opens a pool of at most `pool_size` connections and applies the pending migrations; fails
    /// when the database cannot be reached now. Later outages are answered per request and
    /// recovered from.
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
        let mut client =
            pool.client().await.map_err(|e| anyhow::anyhow!("cannot connect to the audit database: {e}"))?;
        migrations::apply_postgres(&mut client)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the audit database's tables: {}", with_causes(&e)))?;
        Ok(Self { db: Db::Postgres(pool) })
    }

    /// The audit log.
    pub fn audit(&self) -> AuditLog<'_> {
        AuditLog::new(self)
    }

    /// Actions waiting for a second operator.
    pub fn approvals(&self) -> approvals::Approvals<'_> {
        approvals::Approvals::new(self)
    }

    /// Finished runbook runs.
    pub fn runs(&self) -> Runs<'_> {
        Runs::new(self)
    }

    /// `pg_stat_statements` snapshots and their statement texts.
    pub fn snapshots(&self) -> Snapshots<'_> {
        Snapshots::new(self)
    }

    /// Runs one statement and returns its rows (none for most writes).
    async fn query(&self, sql: &'static Sql, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        match &self.db {
            Db::Sqlite(conn) => conn.call(move |conn| sql::sqlite_step(conn, sql, &params)).await,
            Db::Postgres(pool) => sql::postgres_step(&pool.client().await?, sql, &params).await,
        }
    }

    /// Runs the statements in one transaction: all are committed, or none. Returns the rows of
    /// the last one.
    async fn transaction(&self, steps: Vec<(&'static Sql, Vec<Value>)>) -> Result<Vec<Row>, StoreError> {
        match &self.db {
            Db::Sqlite(conn) => {
                conn.call(move |conn| {
                    let tx = conn.transaction()?;
                    let mut rows = Vec::new();
                    for (sql, params) in &steps {
                        rows = sql::sqlite_step(&tx, sql, params)?;
                    }
                    tx.commit()?;
                    Ok(rows)
                })
                .await
            }
            Db::Postgres(pool) => {
                let mut client = pool.client().await?;
                let tx = client.transaction().await?;
                let mut rows = Vec::new();
                for (sql, params) in &steps {
                    rows = sql::postgres_step(&tx, sql, params).await?;
                }
                tx.commit().await?;
                Ok(rows)
            }
        }
    }
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_creates_every_table_of_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        drop(Store::open_sqlite(&path).expect("open"));
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
}
