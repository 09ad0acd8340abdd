//! Finished runs in Triage's store (the audit log's SQLite file or PostgreSQL database), as JSON,
//! so a run's permalink survives a restart and answers on every replica. The tables are created
//! when the store is opened (`audit.rs`).

use triage_shared::runbook::RunState;
use triage_shared::{ApiError, ErrorKind};

use crate::audit::AuditStore;

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, format!("the run store is unavailable: {e}"))
}

/// Stores (or replaces) a run's state.
pub async fn save(store: &AuditStore, state: &RunState) -> Result<(), ApiError> {
    let json = serde_json::to_string(state).map_err(unavailable)?;
    let (id, runbook, started) = (state.run_id.clone(), state.runbook.clone(), state.started_at);
    match store {
        AuditStore::Sqlite(conn) => {
            conn.call(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO runbook_runs (run_id, runbook, started_at, state) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![id, runbook, started, json],
                )
            })
            .await
            .map_err(unavailable)?;
        }
        AuditStore::Postgres(pool) => {
            pool.query(
                "INSERT INTO triage_runbook_runs (run_id, runbook, started_at, state) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id) DO UPDATE SET state = EXCLUDED.state",
                &[&id, &runbook, &started, &json],
            )
            .await
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// Keeps the store's finished runs to the newest `count`, none older than `max_age`.
pub async fn prune(store: &AuditStore, count: u32, max_age: std::time::Duration) -> Result<(), ApiError> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let before = now - max_age.as_secs_f64();
    let count = i64::from(count);
    match store {
        AuditStore::Sqlite(conn) => {
            conn.call(move |conn| {
                conn.execute(
                    "DELETE FROM runbook_runs WHERE started_at < ?1 OR run_id NOT IN
                       (SELECT run_id FROM runbook_runs ORDER BY started_at DESC LIMIT ?2)",
                    rusqlite::params![before, count],
                )
            })
            .await
            .map_err(unavailable)?;
        }
        AuditStore::Postgres(pool) => {
            pool.query(
                "DELETE FROM triage_runbook_runs WHERE started_at < $1 OR run_id NOT IN
                   (SELECT run_id FROM triage_runbook_runs ORDER BY started_at DESC LIMIT $2)",
                &[&before, &count],
            )
            .await
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// A stored run, if there is one with this id.
pub async fn load(store: &AuditStore, id: &str) -> Result<Option<RunState>, ApiError> {
    let id = id.to_owned();
    let json: Option<String> = match store {
        AuditStore::Sqlite(conn) => conn
            .call(move |conn| {
                let mut stmt = conn.prepare("SELECT state FROM runbook_runs WHERE run_id = ?1")?;
                let mut rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
                rows.next().transpose()
            })
            .await
            .map_err(unavailable)?,
        AuditStore::Postgres(pool) => pool
            .query("SELECT state FROM triage_runbook_runs WHERE run_id = $1", &[&id])
            .await
            .map_err(unavailable)?
            .first()
            .map(|r| r.get::<_, String>(0)),
    };
    json.map(|j| serde_json::from_str(&j).map_err(|e| unavailable(format!("stored run is unreadable: {e}"))))
        .transpose()
}
