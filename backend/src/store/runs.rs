//! Finished runbook runs, as JSON, so a run's permalink survives a restart and answers on every
//! replica.

use triage_shared::runbook::RunState;
use triage_shared::{ApiError, ErrorKind};

use super::Store;
use super::sql::Sql;

/// The finished runs' table, through [`Store::runs`].
pub struct Runs<'a> {
    store: &'a Store,
}

static SAVE: Sql = Sql::new(
    "INSERT INTO triage_runbook_runs (run_id, runbook, started_at, state) VALUES ($1, $2, $3, $4)
     ON CONFLICT (run_id) DO UPDATE SET runbook = EXCLUDED.runbook, started_at = EXCLUDED.started_at, state = EXCLUDED.state",
);

static PRUNE: Sql = Sql::new(
    "DELETE FROM triage_runbook_runs WHERE started_at < $1 OR run_id NOT IN
       (SELECT run_id FROM triage_runbook_runs ORDER BY started_at DESC LIMIT $2)",
);

static LOAD: Sql = Sql::new("SELECT state FROM triage_runbook_runs WHERE run_id = $1");

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, format!("the run store is unavailable: {e}"))
}

impl<'a> Runs<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Stores (or replaces) a run's state.
    pub async fn save(&self, state: &RunState) -> Result<(), ApiError> {
        let json = serde_json::to_string(state).map_err(unavailable)?;
        let params = vec![
            state.run_id.clone().into(),
            state.runbook.clone().into(),
            state.started_at.into(),
            json.into(),
        ];
        self.store.query(&SAVE, params).await.map_err(unavailable)?;
        Ok(())
    }

    /// Keeps the finished runs to the newest `count`, none older than `max_age`.
    pub async fn prune(&self, count: u32, max_age: std::time::Duration) -> Result<(), ApiError> {
        let before = super::unix_now() - max_age.as_secs_f64();
        self.store.query(&PRUNE, vec![before.into(), i64::from(count).into()]).await.map_err(unavailable)?;
        Ok(())
    }

    /// A stored run, if there is one with this id.
    pub async fn load(&self, id: &str) -> Result<Option<RunState>, ApiError> {
        let mut rows = self.store.query(&LOAD, vec![id.into()]).await.map_err(unavailable)?;
        let Some(row) = rows.first_mut() else { return Ok(None) };
        let json = row.text().map_err(unavailable)?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| unavailable(format!("stored run is unreadable: {e}")))
    }
}
