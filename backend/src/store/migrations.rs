//! The store's schema as a numbered list of migrations, applied once when the store is opened.
//!
//! Each database records the last version applied: SQLite in its file header (`PRAGMA
//! user_version`), PostgreSQL — where the database may be shared — in `triage_migrations`.
//! Opening applies the migrations above that version, in order, in one transaction, and records
//! each; a store already at the newest version runs no schema statement at all. Version 1 is the
//! schema from before versions were recorded, written with `IF NOT EXISTS`, so a store created
//! then (its tables there, no version) is taken as version 1 without change. A migration is never
//! edited once released: a change to the schema is a new entry at the end.

use deadpool_postgres::GenericClient;
use rusqlite::TransactionBehavior;

/// One step of the schema, spelled for each database.
struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        // The audit log, finished runs (`runs`), and snapshots with their statement texts (`snapshots`).
        sqlite: "
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
        );",
        postgres: "
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
        );",
    },
    Migration {
        version: 2,
        // Environments: each audit entry's environment, reason and approver; pending approvals.
        sqlite: "
        ALTER TABLE audit ADD COLUMN env TEXT NOT NULL DEFAULT 'default';
        ALTER TABLE audit ADD COLUMN reason TEXT;
        ALTER TABLE audit ADD COLUMN approved_by TEXT;
        CREATE INDEX audit_env_id ON audit (env, id);
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            env TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            summary TEXT NOT NULL,
            kubectl TEXT NOT NULL,
            request TEXT NOT NULL,
            requester TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            requested_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            state TEXT NOT NULL,
            decided_by TEXT,
            audit_id INTEGER,
            error TEXT,
            comment TEXT
        );
        CREATE INDEX approvals_env_state ON approvals (env, state);",
        postgres: "
        ALTER TABLE triage_audit ADD COLUMN env TEXT NOT NULL DEFAULT 'default';
        ALTER TABLE triage_audit ADD COLUMN reason TEXT;
        ALTER TABLE triage_audit ADD COLUMN approved_by TEXT;
        CREATE INDEX triage_audit_env_id ON triage_audit (env, id);
        CREATE TABLE triage_approvals (
            id BIGSERIAL PRIMARY KEY,
            env TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            summary TEXT NOT NULL,
            kubectl TEXT NOT NULL,
            request TEXT NOT NULL,
            requester TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            requested_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            state TEXT NOT NULL,
            decided_by TEXT,
            audit_id BIGINT,
            error TEXT,
            comment TEXT
        );
        CREATE INDEX triage_approvals_env_state ON triage_approvals (env, state);",
    },
];

/// The newest version this Triage knows.
fn newest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

fn warn_if_newer(found: i64) {
    if found > newest() {
        tracing::warn!(
            found,
            known = newest(),
            "the store's schema is newer than this Triage knows (a newer replica migrated it); using it as it is"
        );
    }
}

/// Applies SQLite's pending migrations. The write lock is taken first (`IMMEDIATE`), so two
/// processes opening one file do not both apply them.
pub(super) fn apply_sqlite(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    warn_if_newer(current);
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sqlite)?;
        tx.pragma_update(None, "user_version", m.version)?;
    }
    tx.commit()
}

/// Applies PostgreSQL's pending migrations. Replicas starting together take an advisory lock
/// first: one applies them, the others then find them recorded.
pub(super) async fn apply_postgres(
    client: &mut deadpool_postgres::Object,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('triage schema'));
         CREATE TABLE IF NOT EXISTS triage_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL);",
    )
    .await?;
    let current: i64 =
        tx.query_one("SELECT COALESCE(max(version), 0) FROM triage_migrations", &[]).await?.get(0);
    warn_if_newer(current);
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.postgres).await?;
        tx.execute("INSERT INTO triage_migrations (version, applied_at) VALUES ($1, now())", &[&m.version])
            .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }

    #[test]
    fn a_sqlite_store_is_migrated_once_and_an_unversioned_one_is_adopted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.db");
        // A store from before versions were recorded: its tables, user_version 0.
        let mut conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(MIGRATIONS[0].sqlite).expect("old schema");
        conn.execute("INSERT INTO runbook_runs VALUES ('r', 'rb', 1.0, '{}')", []).expect("row");
        apply_sqlite(&mut conn).expect("adopt");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(version, newest());
        let kept: i64 = conn.query_row("SELECT count(*) FROM runbook_runs", [], |r| r.get(0)).expect("count");
        assert_eq!(kept, 1, "adopting changes no data");
        // Opening again applies nothing: no schema statement runs, so none can fail.
        conn.execute_batch("DROP TABLE pg_statement_texts").expect("drop");
        apply_sqlite(&mut conn).expect("again");
        let texts: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'pg_statement_texts'", [], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(texts, 0, "an applied migration is not run again");
    }
}
