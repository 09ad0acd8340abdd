//! The audit log: who did what, to which target, what the dry run said, and how it ended.
//!
//! An entry is written *before* an action is sent (outcome `pending`) and updated with its
//! outcome after, so an action whose process died mid-way is still on record. The store is an
//! embedded SQLite file by default (WAL, `synchronous=FULL`: an acknowledged entry survives a
//! crash) or PostgreSQL when several replicas share it. The API can only list entries.

use std::path::Path;
use std::sync::Arc;

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
    Sqlite(Arc<std::sync::Mutex<rusqlite::Connection>>),
    Postgres(Arc<tokio::sync::Mutex<tokio_postgres::Client>>),
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
    );";

const POSTGRES_SCHEMA: &str = "
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
    );";

impl AuditStore {
    pub fn open_sqlite(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = rusqlite::Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open the audit database {}: {e}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")?;
        conn.execute_batch(SQLITE_SCHEMA)?;
        Ok(Self::Sqlite(Arc::new(std::sync::Mutex::new(conn))))
    }

    pub async fn open_postgres(url: &SecretString) -> anyhow::Result<Self> {
        let (client, connection) = tokio_postgres::connect(url.expose_secret(), tokio_postgres::NoTls)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the audit database: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!("audit database connection ended: {e}");
            }
        });
        client.batch_execute(POSTGRES_SCHEMA).await?;
        Ok(Self::Postgres(Arc::new(tokio::sync::Mutex::new(client))))
    }

    /// Records an action about to run; returns its id. The caller must not act if this fails.
    pub async fn begin(&self, e: NewEntry) -> Result<i64, ApiError> {
        let groups = serde_json::to_string(&e.identity.groups).unwrap_or_else(|_| "[]".to_owned());
        let params = e.params.to_string();
        let at = now();
        match self {
            Self::Sqlite(conn) => {
                let conn = conn.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    conn.execute(
                        "INSERT INTO audit (at, subject, email, groups, action, target, params, dry_run_summary, outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                        rusqlite::params![at, e.identity.subject, e.identity.email, groups, e.action, e.target, params, e.dry_run_summary],
                    )?;
                    Ok::<i64, rusqlite::Error>(conn.last_insert_rowid())
                })
                .await
                .map_err(unavailable)?
                .map_err(unavailable)
            }
            Self::Postgres(client) => {
                let client = client.lock().await;
                let row = client
                    .query_one(
                        "INSERT INTO triage_audit (at, subject, email, groups, action, target, params, dry_run_summary, outcome)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') RETURNING id",
                        &[&at, &e.identity.subject, &e.identity.email, &groups, &e.action, &e.target, &params, &e.dry_run_summary],
                    )
                    .await
                    .map_err(unavailable)?;
                Ok(row.get::<_, i64>(0))
            }
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
                let conn = conn.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    conn.execute(
                        "UPDATE audit SET outcome = ?1, error = ?2, finished_at = ?3 WHERE id = ?4 AND outcome = 'pending'",
                        rusqlite::params![outcome, error, finished, id],
                    )
                })
                .await
                .map_err(unavailable)?
                .map_err(unavailable)?;
            }
            Self::Postgres(client) => {
                client
                    .lock()
                    .await
                    .execute(
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
        let rows: Vec<Row> = match self {
            Self::Sqlite(conn) => {
                let conn = conn.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let mut stmt = conn.prepare(
                        "SELECT id, at, subject, email, groups, action, target, params, dry_run_summary, outcome, error, finished_at
                         FROM audit ORDER BY id DESC LIMIT ?1",
                    )?;
                    let rows = stmt
                        .query_map([limit], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok::<_, rusqlite::Error>(rows)
                })
                .await
                .map_err(unavailable)?
                .map_err(unavailable)?
            }
            Self::Postgres(client) => client
                .lock()
                .await
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
