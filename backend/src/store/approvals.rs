//! Actions waiting for a second operator (`approval` environments). A request is stored with
//! what its dry run said and the request itself, so it survives a restart and any replica can
//! run it once approved. Deciding is one conditional update (`WHERE state = 'pending'` and not
//! expired), so two operators approving at once run it once.

use std::time::Duration;

use triage_shared::actions::Identity;
use triage_shared::env::{Approval, ApprovalState};
use triage_shared::{ApiError, ErrorKind};

use super::sql::{Row, Sql};
use super::{Store, StoreError};

/// What is known when an action is requested.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub env: String,
    pub action: String,
    pub target: String,
    pub summary: String,
    pub kubectl: String,
    /// The request as it is replayed (`crate::approvals::ActionRequest`, as JSON).
    pub request: serde_json::Value,
    pub requester: Identity,
    pub reason: String,
    pub ttl: Duration,
}

/// A stored approval with what running it needs.
#[derive(Debug, Clone)]
pub struct StoredApproval {
    pub approval: Approval,
    pub request: serde_json::Value,
    pub requester: Identity,
}

/// Most approvals listed at once.
const MAX_LISTED: i64 = 500;

static CREATE: Sql = Sql::new(
    "INSERT INTO triage_approvals (env, action, target, summary, kubectl, request, requester, requested_by, reason, requested_at, expires_at, state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending') RETURNING id",
);

static EXPIRE: Sql =
    Sql::new("UPDATE triage_approvals SET state = 'expired' WHERE state = 'pending' AND expires_at < $1");

static LIST_PENDING: Sql = Sql::new(
    "SELECT id, env, action, target, summary, kubectl, request, requester, requested_by, reason, requested_at, expires_at, state, decided_by, audit_id, error, comment
     FROM triage_approvals WHERE env = $1 AND state = 'pending' ORDER BY id DESC LIMIT $2",
);

static LIST_ALL: Sql = Sql::new(
    "SELECT id, env, action, target, summary, kubectl, request, requester, requested_by, reason, requested_at, expires_at, state, decided_by, audit_id, error, comment
     FROM triage_approvals WHERE env = $1 ORDER BY id DESC LIMIT $2",
);

static GET: Sql = Sql::new(
    "SELECT id, env, action, target, summary, kubectl, request, requester, requested_by, reason, requested_at, expires_at, state, decided_by, audit_id, error, comment
     FROM triage_approvals WHERE id = $1 AND env = $2",
);

static DECIDE: Sql = Sql::new(
    "UPDATE triage_approvals SET state = $1, decided_by = $2, comment = $6
     WHERE id = $3 AND env = $4 AND state = 'pending' AND expires_at >= $5 RETURNING id",
);

static RESULT: Sql = Sql::new("UPDATE triage_approvals SET audit_id = $1, error = $2 WHERE id = $3");

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, format!("the approval store is unavailable: {e}"))
}

fn state_text(s: ApprovalState) -> &'static str {
    match s {
        ApprovalState::Pending => "pending",
        ApprovalState::Approved => "approved",
        ApprovalState::Rejected => "rejected",
        ApprovalState::Expired => "expired",
    }
}

fn state_from(text: &str) -> ApprovalState {
    match text {
        "approved" => ApprovalState::Approved,
        "rejected" => ApprovalState::Rejected,
        "expired" => ApprovalState::Expired,
        _ => ApprovalState::Pending,
    }
}

/// Who an identity is, as shown: the e-mail when known, else the subject.
pub fn shown(identity: &Identity) -> String {
    identity.email.clone().unwrap_or_else(|| identity.subject.clone())
}

fn now() -> i64 {
    super::unix_now() as i64
}

fn stored(mut row: Row) -> Result<StoredApproval, StoreError> {
    let id = row.int()?;
    let env = row.text()?;
    let action = row.text()?;
    let target = row.text()?;
    let summary = row.text()?;
    let kubectl = row.text()?;
    let request = serde_json::from_str(&row.text()?).map_err(|e| StoreError(format!("request: {e}")))?;
    let requester: Identity =
        serde_json::from_str(&row.text()?).map_err(|e| StoreError(format!("requester: {e}")))?;
    let requested_by = row.text()?;
    let reason = row.text()?;
    let requested_at = row.int()?;
    let expires_at = row.int()?;
    let mut state = state_from(&row.text()?);
    // Expiry is also judged on read, so an answer never shows a lapsed request as pending.
    if state == ApprovalState::Pending && expires_at < now() {
        state = ApprovalState::Expired;
    }
    let approval = Approval {
        id,
        env,
        action,
        target,
        summary,
        kubectl,
        requested_by,
        reason,
        requested_at,
        expires_at,
        state,
        decided_by: row.opt_text()?,
        audit_id: row.opt_int()?,
        error: row.opt_text()?,
        comment: row.opt_text()?,
    };
    Ok(StoredApproval { approval, request, requester })
}

/// The approvals' table, through [`Store::approvals`].
pub struct Approvals<'a> {
    store: &'a Store,
}

impl<'a> Approvals<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Stores a request; it waits `ttl` for a decision.
    pub async fn create(&self, a: NewApproval) -> Result<Approval, ApiError> {
        let requested_at = now();
        let expires_at = requested_at + a.ttl.as_secs() as i64;
        let requester = serde_json::to_string(&a.requester).map_err(unavailable)?;
        let requested_by = shown(&a.requester);
        let params = vec![
            a.env.clone().into(),
            a.action.clone().into(),
            a.target.clone().into(),
            a.summary.clone().into(),
            a.kubectl.clone().into(),
            a.request.to_string().into(),
            requester.into(),
            requested_by.clone().into(),
            a.reason.clone().into(),
            requested_at.into(),
            expires_at.into(),
        ];
        let mut rows = self.store.query(&CREATE, params).await.map_err(unavailable)?;
        let id = match rows.first_mut() {
            Some(row) => row.int().map_err(unavailable)?,
            None => return Err(unavailable("the new request's id was not returned")),
        };
        Ok(Approval {
            id,
            env: a.env,
            action: a.action,
            target: a.target,
            summary: a.summary,
            kubectl: a.kubectl,
            requested_by,
            reason: a.reason,
            requested_at,
            expires_at,
            state: ApprovalState::Pending,
            decided_by: None,
            audit_id: None,
            error: None,
            comment: None,
        })
    }

    /// The environment's approvals, newest first: pending ones only unless `all`.
    pub async fn list(&self, env: &str, all: bool) -> Result<Vec<Approval>, ApiError> {
        self.store.query(&EXPIRE, vec![now().into()]).await.map_err(unavailable)?;
        let sql = if all { &LIST_ALL } else { &LIST_PENDING };
        let rows = self
            .store
            .query(sql, vec![env.to_owned().into(), MAX_LISTED.into()])
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|r| stored(r).map(|s| s.approval)).collect::<Result<_, _>>().map_err(unavailable)
    }

    /// One approval of the environment `env`.
    pub async fn get(&self, env: &str, id: i64) -> Result<StoredApproval, ApiError> {
        let mut rows =
            self.store.query(&GET, vec![id.into(), env.to_owned().into()]).await.map_err(unavailable)?;
        match rows.pop() {
            Some(row) => stored(row).map_err(unavailable),
            None => Err(ApiError::new(ErrorKind::NotFound, format!("no approval request {id} in {env}"))),
        }
    }

    /// Moves a pending, unexpired request to `state` with the decider's `comment`; false when it
    /// was not (any more) pending.
    pub async fn decide(
        &self,
        env: &str,
        id: i64,
        state: ApprovalState,
        by: &str,
        comment: Option<&str>,
    ) -> Result<bool, ApiError> {
        let params = vec![
            state_text(state).into(),
            by.to_owned().into(),
            id.into(),
            env.to_owned().into(),
            now().into(),
            comment.map(str::to_owned).into(),
        ];
        let rows = self.store.query(&DECIDE, params).await.map_err(unavailable)?;
        Ok(!rows.is_empty())
    }

    /// Records how the approved run went.
    pub async fn record(
        &self,
        id: i64,
        audit_id: Option<i64>,
        error: Option<String>,
    ) -> Result<(), ApiError> {
        self.store
            .query(&RESULT, vec![audit_id.into(), error.into(), id.into()])
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_shared::actions::Role;

    fn who(name: &str) -> Identity {
        Identity {
            subject: name.into(),
            email: Some(format!("{name}@example.com")),
            groups: vec![],
            role: Role::Operator,
        }
    }

    fn request(ttl: Duration) -> NewApproval {
        NewApproval {
            env: "prod".into(),
            action: "scale".into(),
            target: "deployment/ns/x".into(),
            summary: "replicas 1 → 3".into(),
            kubectl: "kubectl scale".into(),
            request: serde_json::json!({"scale": {"replicas": 3}}),
            requester: who("ana"),
            reason: "load".into(),
            ttl,
        }
    }

    #[tokio::test]
    async fn a_request_is_decided_once_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.db");
        let store = Store::open_sqlite(&path).expect("open");
        let created = store.approvals().create(request(Duration::from_secs(600))).await.expect("create");
        assert_eq!(created.state, ApprovalState::Pending);
        drop(store);
        let store = Store::open_sqlite(&path).expect("reopen");
        let listed = store.approvals().list("prod", false).await.expect("list");
        assert_eq!(listed.len(), 1, "the pending request survives reopening the store");
        assert_eq!(listed[0].requested_by, "ana@example.com");
        let got = store.approvals().get("prod", created.id).await.expect("get");
        assert_eq!(got.requester, who("ana"));
        assert_eq!(got.request["scale"]["replicas"], 3);
        assert!(store.approvals().get("staging", created.id).await.is_err(), "another environment's id");
        assert!(
            !store
                .approvals()
                .decide("staging", created.id, ApprovalState::Approved, "bo", None)
                .await
                .expect("decide")
        );
        assert!(
            store
                .approvals()
                .decide("prod", created.id, ApprovalState::Approved, "bo", Some("ok"))
                .await
                .expect("decide")
        );
        assert!(
            !store
                .approvals()
                .decide("prod", created.id, ApprovalState::Approved, "cy", None)
                .await
                .expect("decide"),
            "a decided request is not decided again"
        );
        assert!(store.approvals().list("prod", false).await.expect("list").is_empty());
        let all = store.approvals().list("prod", true).await.expect("list all");
        assert_eq!(
            (all[0].state, all[0].decided_by.as_deref(), all[0].comment.as_deref()),
            (ApprovalState::Approved, Some("bo"), Some("ok"))
        );
    }

    #[tokio::test]
    async fn an_expired_request_cannot_be_approved() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("s.db")).expect("open");
        let mut expired = request(Duration::ZERO);
        expired.ttl = Duration::ZERO;
        let created = store.approvals().create(expired).await.expect("create");
        // expires_at = requested_at: expired once the clock moves past it.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            !store
                .approvals()
                .decide("prod", created.id, ApprovalState::Approved, "bo", None)
                .await
                .expect("decide")
        );
        let all = store.approvals().list("prod", true).await.expect("list");
        assert_eq!(all[0].state, ApprovalState::Expired);
    }
}
