//! `/api/k8s/*`: Kubernetes read views (namespace-scoped, allowlisted, names validated), the
//! guarded actions, the emergency restart and the event streams.

use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::State;
use triage_shared::k8s::{
    DeploymentSummary, EventSummary, LogQuery, NetworkPolicySummary, NodeUsage, PodDetail, PodList, PodLogs,
    PodQuery, PodUsage, RolloutQuery, ServiceSummary,
};

use triage_shared::actions::{
    ActionOutcome, DeletePodRequest, DeletePodsRequest, EmergencyRestartRequest, Job, RestartRequest,
    ScaleRequest,
};

use crate::approvals::{ActionRequest, Answer};
use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{Env, JsonBody, Path, Query};
use crate::http::openapi;
use crate::state::AppState;

pub async fn namespaces(env: Env) -> Result<Json<Vec<String>>, AppError> {
    Ok(Json(env.k8s()?.namespaces.clone()))
}

pub async fn list_pods(
    env: Env,
    Path(ns): Path<String>,
    Query(q): Query<PodQuery>,
) -> Result<Json<PodList>, AppError> {
    let pods = env.k8s()?.list_pods(&ns, q.selector.as_deref(), q.limit, q.continue_token.as_deref()).await?;
    Ok(Json(pods))
}

pub async fn get_pod(
    env: Env,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<PodDetail>, AppError> {
    Ok(Json(env.k8s()?.pod_detail(&ns, &name).await?))
}

pub async fn pod_logs(
    env: Env,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Json<PodLogs>, AppError> {
    Ok(Json(env.k8s()?.pod_logs(&ns, &name, q.tail.unwrap_or(200), q.previous).await?))
}

pub async fn list_deployments(
    env: Env,
    Path(ns): Path<String>,
) -> Result<Json<Vec<DeploymentSummary>>, AppError> {
    Ok(Json(env.k8s()?.list_deployments(&ns).await?))
}

pub async fn list_events(env: Env, Path(ns): Path<String>) -> Result<Json<Vec<EventSummary>>, AppError> {
    Ok(Json(env.k8s()?.list_events(&ns).await?))
}

pub async fn top_pods(env: Env, Path(ns): Path<String>) -> Result<Json<Vec<PodUsage>>, AppError> {
    Ok(Json(env.k8s()?.top_pods(&ns).await?))
}

pub async fn top_nodes(env: Env) -> Result<Json<Vec<NodeUsage>>, AppError> {
    Ok(Json(env.k8s()?.top_nodes().await?))
}

pub async fn list_services(env: Env, Path(ns): Path<String>) -> Result<Json<Vec<ServiceSummary>>, AppError> {
    Ok(Json(env.k8s()?.list_services(&ns).await?))
}

pub async fn deployment_secrets(
    env: Env,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<triage_shared::k8s::DeploymentSecrets>, AppError> {
    Ok(Json(env.k8s()?.deployment_secrets(&ns, &name).await?))
}

pub async fn list_network_policies(
    env: Env,
    Path(ns): Path<String>,
) -> Result<Json<Vec<NetworkPolicySummary>>, AppError> {
    Ok(Json(env.k8s()?.list_network_policies(&ns).await?))
}

pub async fn scale(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path((ns, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<ScaleRequest>,
) -> Result<Json<ActionOutcome>, AppError> {
    action(&env, &state, &identity, ActionRequest::Scale { ns, name, body: req }).await
}

pub async fn restart(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path((ns, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<RestartRequest>,
) -> Result<Json<ActionOutcome>, AppError> {
    action(&env, &state, &identity, ActionRequest::Restart { ns, name, body: req }).await
}

pub async fn delete_pod(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path((ns, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<DeletePodRequest>,
) -> Result<Json<ActionOutcome>, AppError> {
    action(&env, &state, &identity, ActionRequest::DeletePod { ns, name, body: req }).await
}

pub async fn emergency_restart(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(ns): Path<String>,
    JsonBody(req): JsonBody<EmergencyRestartRequest>,
) -> Result<Json<Job>, AppError> {
    let request = ActionRequest::EmergencyRestart { ns, body: req };
    match crate::approvals::submit(&env, &state.store, &state.jobs, &identity, request).await? {
        Answer::Job(job) => Ok(Json(job)),
        Answer::Action(_) | Answer::Kafka(_) => {
            Err(AppError::Internal(anyhow::anyhow!("the emergency restart answered as another action")))
        }
    }
}

/// `GET /api/k8s/namespaces/{ns}/deployments/{name}/rollout` (server-sent events).
pub async fn rollout(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<RolloutQuery>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let permit = state.streams.acquire(&identity.subject)?;
    let timeout = std::time::Duration::from_secs(q.timeout_secs.unwrap_or(300).clamp(1, 3600));
    let response =
        crate::kubernetes::streams::rollout(env.k8s()?, &ns, &name, timeout).await?.into_response();
    Ok(crate::limits::held_by(response, permit))
}

pub fn rollout_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    openapi::event_stream(
        op,
        "The rollout's progress until it is complete or `timeout_secs` pass.",
        vec![
            openapi::event::<DeploymentSummary>("rollout", "The deployment, on every change."),
            openapi::event::<DeploymentSummary>("done", "The rollout is complete."),
            openapi::event::<triage_shared::ApiError>("rollout-error", "Watching failed."),
            openapi::empty_event("end", "The last event."),
        ],
    )
}

/// `GET /api/k8s/namespaces/{ns}/pods/{name}/logs/follow?tail=` (server-sent events).
pub async fn follow_logs(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let permit = state.streams.acquire(&identity.subject)?;
    let response = crate::kubernetes::streams::follow_logs(env.k8s()?, &ns, &name, q.tail.unwrap_or(50))
        .await?
        .into_response();
    Ok(crate::limits::held_by(response, permit))
}

pub fn follow_logs_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    openapi::event_stream(
        op,
        "The pod's log lines as they are written, from the last `tail` lines on.",
        vec![
            openapi::event::<String>("line", "One log line, as a JSON string."),
            openapi::event::<String>("log-error", "Reading the log failed, in words."),
            openapi::empty_event("end", "The container stopped or Kubernetes closed the stream."),
        ],
    )
}

pub async fn delete_pods(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(ns): Path<String>,
    JsonBody(req): JsonBody<DeletePodsRequest>,
) -> Result<Json<ActionOutcome>, AppError> {
    action(&env, &state, &identity, ActionRequest::DeletePods { ns, body: req }).await
}

/// A guarded Kubernetes action, at once or waiting for approval (see `crate::approvals`).
async fn action(
    env: &Env,
    state: &AppState,
    identity: &triage_shared::actions::Identity,
    request: ActionRequest,
) -> Result<Json<ActionOutcome>, AppError> {
    match crate::approvals::submit(env, &state.store, &state.jobs, identity, request).await? {
        Answer::Action(outcome) => Ok(Json(outcome)),
        Answer::Kafka(_) | Answer::Job(_) => {
            Err(AppError::Internal(anyhow::anyhow!("a Kubernetes action answered as another kind")))
        }
    }
}
