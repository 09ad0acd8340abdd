//! What every guarded action shares, whatever it acts on (Kubernetes or PostgreSQL): the role
//! check, the dry run answered with the plan, the target's name typed as confirmation when the
//! action is destructive, and the audit entry written before it runs and completed with its
//! outcome after.

use triage_shared::actions::{ActionOutcome, AuditOutcome, Identity, Role};
use triage_shared::env::{Approval, MAX_REASON, Protection};
use triage_shared::{ApiError, ErrorKind};

use crate::store::approvals::NewApproval;
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

/// What the guarded actions need to know of the environment they act in.
#[derive(Debug, Clone)]
pub struct EnvGuard {
    pub name: String,
    pub protection: Protection,
    /// How long a pending approval waits (under `approval`).
    pub approval_ttl: std::time::Duration,
}

/// Who acts, where, and why: what every guarded action is given besides its own request.
pub struct Actor<'a> {
    pub store: &'a Store,
    pub identity: &'a Identity,
    pub env: EnvGuard,
    /// The operator's reason, from the request.
    pub reason: Option<&'a str>,
    /// The request as it is replayed once approved (see `crate::approvals`); needed in an
    /// `approval` environment.
    pub replay: Option<serde_json::Value>,
    /// Set when an approved request runs: the approval's id and who approved it.
    pub approved: Option<(i64, String)>,
}

impl Actor<'_> {
    /// Whether a real run must wait for a second operator instead of running now.
    pub(crate) fn waits_for_approval(&self) -> bool {
        self.env.protection == Protection::Approval && self.approved.is_none()
    }
}

/// Stores the request `actor` replays as waiting for a second operator of its environment.
pub(crate) async fn pending_approval(
    actor: &Actor<'_>,
    action: &str,
    target: String,
    summary: String,
    kubectl: String,
    reason: Option<&str>,
) -> Result<Approval, ApiError> {
    let request = actor.replay.clone().ok_or_else(|| {
        ApiError::new(
            ErrorKind::Conflict,
            format!("{action}: this action cannot wait for approval; run it in another way"),
        )
    })?;
    actor
        .store
        .approvals()
        .create(NewApproval {
            env: actor.env.name.clone(),
            action: action.to_owned(),
            target,
            summary,
            kubectl,
            request,
            requester: actor.identity.clone(),
            reason: reason.unwrap_or_default().to_owned(),
            ttl: actor.env.approval_ttl,
        })
        .await
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
    /// What the user types to confirm any action where every action needs it (`production` and
    /// `approval` environments): the target's own name.
    pub name: &'a str,
}

impl Plan<'_> {
    /// The text that must be typed to run this plan in `protection`, if any.
    fn confirmation(&self, protection: Protection) -> Option<&str> {
        self.confirm_with.or_else(|| protection.strict().then_some(self.name))
    }
}

/// The reason as given, checked against the environment's protection.
pub(crate) fn checked_reason<'a>(
    env: &EnvGuard,
    reason: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason
        && r.chars().count() > MAX_REASON
    {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("the reason is longer than {MAX_REASON} characters; say it in fewer words"),
        ));
    }
    if reason.is_none() && env.protection.strict() {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!(
                "{} is a {} environment: every action needs a written reason, kept in the audit log",
                env.name,
                env.protection.as_str()
            ),
        )
        .with_detail(serde_json::json!({ "param": "reason", "in": "body" })));
    }
    Ok(reason)
}

/// The tail every action shares: a dry run answers with the plan; a real run checks the typed
/// confirmation and the reason the environment demands, and then either waits for approval (an
/// `approval` environment, until a second operator approves) or writes the audit entry, runs
/// `act`, and records its outcome.
pub(crate) async fn guarded<F, Fut>(
    actor: &Actor<'_>,
    plan: Plan<'_>,
    dry_run: bool,
    confirm: Option<&str>,
    act: F,
) -> Result<ActionOutcome, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let expected = plan.confirmation(actor.env.protection);
    let needs_confirmation = expected.is_some();
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
    if let Some(expected) = expected
        && confirm != Some(expected)
    {
        let why = if plan.confirm_with.is_some() {
            "this action is destructive".to_owned()
        } else {
            format!("{} is a {} environment", actor.env.name, actor.env.protection.as_str())
        };
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("{why}: type the target's name ({expected}) to confirm it"),
        ));
    }
    let reason = checked_reason(&actor.env, actor.reason)?;
    if actor.waits_for_approval() {
        let approval = pending_approval(
            actor,
            plan.action,
            plan.target,
            plan.summary.clone(),
            plan.kubectl.clone(),
            reason,
        )
        .await?;
        return Ok(ActionOutcome {
            dry_run: false,
            summary: plan.summary,
            needs_confirmation,
            kubectl: plan.kubectl,
            audit_id: None,
            approval: Some(approval),
        });
    }
    let entry = NewEntry {
        identity: actor.identity.clone(),
        action: plan.action.to_owned(),
        target: plan.target,
        params: plan.params,
        dry_run_summary: plan.summary.clone(),
        env: actor.env.name.clone(),
        reason: reason.map(str::to_owned),
        approved_by: actor.approved.as_ref().map(|(_, by)| by.clone()),
    };
    let id = actor.store.audit().begin(entry).await?;
    let result = act().await;
    let (outcome, error) = match &result {
        Ok(()) => (AuditOutcome::Succeeded, None),
        Err(e) => (AuditOutcome::Failed, Some(e.message.clone())),
    };
    // An action is acknowledged only once its outcome is committed: if that write fails the
    // caller hears so (the entry stays `pending`), never a plain success.
    if let Err(e) = actor.store.audit().finish(id, outcome, error).await {
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
