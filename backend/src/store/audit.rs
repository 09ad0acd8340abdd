//! The audit log: who did what, to which target, what the dry run said, and how it ended.
//!
//! An entry is written *before* an action is sent (outcome `pending`) and updated with its
//! outcome after, so an action whose process died mid-way is still on record. The API can only
//! list entries.

use triage_shared::actions::{AuditEntry, AuditOutcome, Identity};
use triage_shared::{ApiError, ErrorKind};

use super::sql::{Row, Sql};
use super::{Store, StoreError};

/// What is known before the action runs.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub identity: Identity,
    pub action: String,
    pub target: String,
    pub params: serde_json::Value,
    pub dry_run_summary: String,
    pub env: String,
    pub reason: Option<String>,
    /// The second operator who approved the action (`approval` environments).
    pub approved_by: Option<String>,
}

/// The audit log's table, through [`Store::audit`].
pub struct AuditLog<'a> {
    store: &'a Store,
}

static BEGIN: Sql = Sql::new(
    "INSERT INTO triage_audit (at, subject, email, groups, action, target, params, dry_run_summary, outcome, env, reason, approved_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11) RETURNING id",
);

static FINISH: Sql = Sql::new(
    "UPDATE triage_audit SET outcome = $1, error = $2, finished_at = $3 WHERE id = $4 AND outcome = 'pending'",
);

static LIST: Sql = Sql::new(
    "SELECT id, at, subject, email, groups, action, target, params, dry_run_summary, outcome, error, finished_at, env, reason, approved_by
     FROM triage_audit WHERE env = $2 ORDER BY id DESC LIMIT $1",
);

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

fn entry(mut row: Row) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.int()?,
        at: row.text()?,
        subject: row.text()?,
        email: row.opt_text()?,
        groups: serde_json::from_str(&row.text()?).unwrap_or_default(),
        action: row.text()?,
        target: row.text()?,
        params: serde_json::from_str(&row.text()?).unwrap_or(serde_json::Value::Null),
        dry_run_summary: row.text()?,
        outcome: outcome_from(&row.text()?),
        error: row.opt_text()?,
        finished_at: row.opt_text()?,
        env: row.text()?,
        reason: row.opt_text()?,
        approved_by: row.opt_text()?,
    })
}

impl<'a> AuditLog<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Records an action about to run; returns its id. The caller must not act if this fails.
    pub async fn begin(&self, e: NewEntry) -> Result<i64, ApiError> {
        let groups = serde_json::to_string(&e.identity.groups).unwrap_or_else(|_| "[]".to_owned());
        let params = vec![
            now().into(),
            e.identity.subject.into(),
            e.identity.email.into(),
            groups.into(),
            e.action.into(),
            e.target.into(),
            e.params.to_string().into(),
            e.dry_run_summary.into(),
            e.env.into(),
            e.reason.into(),
            e.approved_by.into(),
        ];
        let mut rows = self.store.query(&BEGIN, params).await.map_err(unavailable)?;
        match rows.first_mut() {
            Some(row) => row.int().map_err(unavailable),
            None => Err(unavailable("the new entry's id was not returned")),
        }
    }

    /// Records how an action ended.
    pub async fn finish(
        &self,
        id: i64,
        outcome: AuditOutcome,
        error: Option<String>,
    ) -> Result<(), ApiError> {
        let params = vec![outcome_text(outcome).into(), error.into(), now().into(), id.into()];
        self.store.query(&FINISH, params).await.map_err(unavailable)?;
        Ok(())
    }

    /// The newest `limit` entries of the environment `env`, newest first.
    pub async fn list(&self, env: &str, limit: u32) -> Result<Vec<AuditEntry>, ApiError> {
        let limit = i64::from(limit.clamp(1, 10_000));
        let rows =
            self.store.query(&LIST, vec![limit.into(), env.to_owned().into()]).await.map_err(unavailable)?;
        rows.into_iter().map(entry).collect::<Result<_, _>>().map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_shared::actions::Role;

    #[tokio::test]
    async fn sqlite_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("a/audit.db")).expect("open");
        let identity = Identity {
            subject: "ana".into(),
            email: Some("ana@example.com".into()),
            groups: vec!["sre".into()],
            role: Role::Operator,
        };
        let audit = store.audit();
        let id = audit
            .begin(NewEntry {
                identity,
                action: "scale".into(),
                target: "deployment/ns/x".into(),
                params: serde_json::json!({"replicas": 3}),
                dry_run_summary: "replicas 1 → 3".into(),
                env: "default".into(),
                reason: None,
                approved_by: None,
            })
            .await
            .expect("begin");
        let pending = audit.list("default", 10).await.expect("list");
        assert_eq!(pending[0].outcome, AuditOutcome::Pending);
        assert_eq!(pending[0].error, None);
        audit.finish(id, AuditOutcome::Succeeded, None).await.expect("finish");
        // An outcome is written once: a second finish does not rewrite history.
        audit.finish(id, AuditOutcome::Failed, Some("late".into())).await.expect("finish again");
        let done = audit.list("default", 10).await.expect("list");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id, id);
        assert_eq!(done[0].outcome, AuditOutcome::Succeeded);
        assert_eq!(done[0].email.as_deref(), Some("ana@example.com"));
        assert_eq!(done[0].groups, vec!["sre".to_owned()]);
        assert_eq!(done[0].params["replicas"], 3);
        assert!(done[0].finished_at.is_some());
    }
}
