//! What every guarded action shares, whatever it acts on (Kubernetes or PostgreSQL): the role
//! check, the dry run answered with the plan, the target's name typed as confirmation when the
//! action is destructive, and the audit entry written before it runs and completed with its
//! outcome after.

use triage_shared::actions::{ActionOutcome, AuditOutcome, Identity, Role};
use triage_shared::{ApiError, ErrorKind};

use crate::store::{NewEntry, Store};

pub fn require(identity: &Identity, role: Role, what: &str) -> Result<(), ApiError> {
    if identity.role >= role {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            format!("{what} needs the {role:?} role; {} has {:?}", identity.subject, identity.role)
                .to_lowercase(),
        ))
    }
}

/// What an action will do, as its dry run described it.
pub(crate) struct Plan<'a> {
    pub action: &'static str,
    pub target: String,
    pub params: serde_json::Value,
    pub summary: String,
    /// The equivalent command (`kubectl …`, `psql …`).
    pub kubectl: String,
    /// What the user must type to confirm a destructive action; None when it is not destructive.
    pub confirm_with: Option<&'a str>,
}

/// The tail every action shares: a dry run answers with the plan; a real run checks the typed
/// confirmation, writes the audit entry, runs `act`, and records its outcome.
pub(crate) async fn guarded<F, Fut>(
    store: &Store,
    identity: &Identity,
    plan: Plan<'_>,
    dry_run: bool,
    confirm: Option<&str>,
    act: F,
) -> Result<ActionOutcome, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let needs_confirmation = plan.confirm_with.is_some();
    if dry_run {
        return Ok(ActionOutcome {
            dry_run: true,
            summary: plan.summary,
            needs_confirmation,
            kubectl: plan.kubectl,
            audit_id: None,
            approval: None,
        });
    }
    if let Some(expected) = plan.confirm_with
        && confirm != Some(expected)
    {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("this action is destructive: type the target's name ({expected}) to confirm it"),
        ));
    }
    let entry = NewEntry {
        identity: identity.clone(),
        action: plan.action.to_owned(),
        target: plan.target,
        params: plan.params,
        dry_run_summary: plan.summary.clone(),
    };
    let id = store.audit().begin(entry).await?;
    let result = act().await;
    let (outcome, error) = match &result {
        Ok(()) => (AuditOutcome::Succeeded, None),
        Err(e) => (AuditOutcome::Failed, Some(e.message.clone())),
    };
    // An action is acknowledged only once its outcome is committed: if that write fails the
    // caller hears so (the entry stays `pending`), never a plain success.
    if let Err(e) = store.audit().finish(id, outcome, error).await {
        tracing::error!(audit_id = id, "recording the outcome failed: {}", e.message);
        let what = if result.is_ok() { "was applied" } else { "failed" };
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "the action {what}, but its outcome could not be recorded (audit entry {id} stays pending): {}",
                e.message
            ),
        )
        .with_detail(serde_json::json!({"audit_id": id, "applied": result.is_ok()})));
    }
    result.map(|()| ActionOutcome {
        dry_run: false,
        summary: plan.summary,
        needs_confirmation,
        kubectl: plan.kubectl,
        audit_id: Some(id),
        approval: None,
    })
}
