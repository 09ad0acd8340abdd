//! Every guarded action as one replayable request, so an action in an `approval` environment
//! can wait in the store (`store::approvals`) and run later, on any replica, exactly as it was
//! asked — planned again against the cluster as it then is, by the same function a direct call
//! uses. The emergency restart is among them: approved, it is planned again and started as a
//! background job like a direct one.

use serde::{Deserialize, Serialize};
use triage_shared::actions::{
    ActionOutcome, DeletePodRequest, DeletePodsRequest, EmergencyRestartRequest, Identity, Job,
    RestartRequest, ScaleRequest,
};
use triage_shared::env::{Approval, ApprovalState};
use triage_shared::kafka::{OffsetResetOutcome, OffsetResetRequest};
use triage_shared::pg::ResetRequest;
use triage_shared::{ApiError, ErrorKind};

use crate::environments::Environment;
use crate::guard::Actor;
use crate::kubernetes::emergency::Jobs;
use crate::store::Store;
use crate::store::approvals::shown;

/// One guarded action with everything it was asked with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ActionRequest {
    Scale { ns: String, name: String, body: ScaleRequest },
    Restart { ns: String, name: String, body: RestartRequest },
    DeletePod { ns: String, name: String, body: DeletePodRequest },
    DeletePods { ns: String, body: DeletePodsRequest },
    PgReset { target: String, body: ResetRequest },
    KafkaReset { group: String, body: OffsetResetRequest },
    EmergencyRestart { ns: String, body: EmergencyRestartRequest },
}

/// What an action answers: the Kafka reset has its own outcome (with the plan per partition),
/// the emergency restart its job.
pub enum Answer {
    Action(ActionOutcome),
    Kafka(OffsetResetOutcome),
    Job(Job),
}

impl Answer {
    fn audit_id(&self) -> Option<i64> {
        match self {
            Self::Action(o) => o.audit_id,
            Self::Kafka(o) => o.audit_id,
            Self::Job(j) => j.audit_id,
        }
    }
}

impl ActionRequest {
    fn reason(&self) -> Option<&str> {
        match self {
            Self::Scale { body, .. } => body.reason.as_deref(),
            Self::Restart { body, .. } => body.reason.as_deref(),
            Self::DeletePod { body, .. } => body.reason.as_deref(),
            Self::DeletePods { body, .. } => body.reason.as_deref(),
            Self::PgReset { body, .. } => body.reason.as_deref(),
            Self::KafkaReset { body, .. } => body.reason.as_deref(),
            Self::EmergencyRestart { body, .. } => body.reason.as_deref(),
        }
    }

    fn dry_run(&self) -> bool {
        match self {
            Self::Scale { body, .. } => body.dry_run,
            Self::Restart { body, .. } => body.dry_run,
            Self::DeletePod { body, .. } => body.dry_run,
            Self::DeletePods { body, .. } => body.dry_run,
            Self::PgReset { body, .. } => body.dry_run,
            Self::KafkaReset { body, .. } => body.dry_run,
            Self::EmergencyRestart { body, .. } => body.dry_run,
        }
    }

    /// Runs the request in `env` as `actor` through the action's own function (`jobs` holds
    /// the background jobs an emergency restart starts).
    async fn run(&self, env: &Environment, actor: &Actor<'_>, jobs: &Jobs) -> Result<Answer, ApiError> {
        use crate::kubernetes::{actions, emergency};
        Ok(match self {
            Self::Scale { ns, name, body } => {
                Answer::Action(actions::scale(env.k8s()?, actor, ns, name, body).await?)
            }
            Self::Restart { ns, name, body } => {
                Answer::Action(actions::restart(env.k8s()?, actor, ns, name, body).await?)
            }
            Self::DeletePod { ns, name, body } => {
                Answer::Action(actions::delete_pod(env.k8s()?, actor, ns, name, body).await?)
            }
            Self::DeletePods { ns, body } => {
                Answer::Action(actions::delete_pods(env.k8s()?, actor, ns, body).await?)
            }
            Self::PgReset { target, body } => Answer::Action(env.pg()?.reset(actor, target, body).await?),
            Self::KafkaReset { group, body } => {
                Answer::Kafka(env.kafka()?.reset_offsets(actor, group, body).await?)
            }
            Self::EmergencyRestart { ns, body } => {
                Answer::Job(emergency::start(env.k8s()?, actor, jobs, ns, body.clone()).await?)
            }
        })
    }
}

/// Runs a request from a caller in `env`: at once, or (a real run in an `approval` environment)
/// stored to wait for a second operator.
pub async fn submit(
    env: &Environment,
    store: &Store,
    jobs: &Jobs,
    identity: &Identity,
    request: ActionRequest,
) -> Result<Answer, ApiError> {
    let replay = (!request.dry_run())
        .then(|| serde_json::to_value(&request))
        .transpose()
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("the request could not be kept: {e}")))?;
    let actor = Actor { store, identity, env: env.guard(), reason: request.reason(), replay, approved: None };
    request.run(env, &actor, jobs).await
}

/// `approver` approves request `id` of `env`: it runs as its requester, with both named in the
/// audit entry. The requester cannot approve their own request, and a request is run once.
pub async fn approve(
    env: &Environment,
    store: &Store,
    jobs: &Jobs,
    approver: &Identity,
    id: i64,
    comment: &str,
) -> Result<Approval, ApiError> {
    let comment = checked_comment(comment)?;
    let stored = store.approvals().get(&env.name, id).await?;
    if stored.requester.subject == approver.subject {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "you requested this action ({}, request {id}); another operator of {} must approve it",
                stored.approval.summary, env.name
            ),
        ));
    }
    let request: ActionRequest = serde_json::from_value(stored.request.clone())
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("request {id} cannot be read back: {e}")))?;
    let by = shown(approver);
    if !store.approvals().decide(&env.name, id, ApprovalState::Approved, &by, comment).await? {
        return Err(not_pending(store, env, id).await);
    }
    let actor = Actor {
        store,
        identity: &stored.requester,
        env: env.guard(),
        reason: request.reason(),
        replay: None,
        approved: Some((id, by)),
    };
    let (audit_id, error) = match request.run(env, &actor, jobs).await {
        Ok(answer) => (answer.audit_id(), None),
        Err(e) => (None, Some(e.message)),
    };
    store.approvals().record(id, audit_id, error).await?;
    Ok(store.approvals().get(&env.name, id).await?.approval)
}

/// `decider` rejects request `id` of `env` (the requester may withdraw their own).
pub async fn reject(
    env: &Environment,
    store: &Store,
    decider: &Identity,
    id: i64,
    comment: &str,
) -> Result<Approval, ApiError> {
    let comment = checked_comment(comment)?;
    store.approvals().get(&env.name, id).await?;
    if !store.approvals().decide(&env.name, id, ApprovalState::Rejected, &shown(decider), comment).await? {
        return Err(not_pending(store, env, id).await);
    }
    Ok(store.approvals().get(&env.name, id).await?.approval)
}

/// The decider's note, trimmed; `None` when empty, refused when longer than a reason may be.
fn checked_comment(comment: &str) -> Result<Option<&str>, ApiError> {
    let comment = comment.trim();
    if comment.chars().count() > triage_shared::env::MAX_REASON {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("the comment is longer than {} characters", triage_shared::env::MAX_REASON),
        ));
    }
    Ok((!comment.is_empty()).then_some(comment))
}

/// Why request `id` can no longer be decided, in words.
async fn not_pending(store: &Store, env: &Environment, id: i64) -> ApiError {
    let state = match store.approvals().get(&env.name, id).await {
        Ok(s) => s.approval,
        Err(e) => return e,
    };
    let how = match state.state {
        ApprovalState::Expired => "expired unapproved; ask for it again".to_owned(),
        ApprovalState::Approved => {
            format!("was already approved by {}", state.decided_by.unwrap_or_default())
        }
        ApprovalState::Rejected => format!("was rejected by {}", state.decided_by.unwrap_or_default()),
        ApprovalState::Pending => "is still pending".to_owned(),
    };
    ApiError::new(ErrorKind::Conflict, format!("request {id} ({}) {how}", state.summary))
}
