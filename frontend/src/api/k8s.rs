//! Typed calls to `/api/k8s/*` and `/api/jobs/*`: the Kubernetes read views of one namespace and
//! the guarded actions (each a dry run first, then the confirmed run).

use triage_shared::ApiError;
use triage_shared::actions::{
    ActionOutcome, DeletePodRequest, DeletePodsRequest, EmergencyRestartRequest, Job, RestartRequest,
    ScaleRequest,
};
use triage_shared::k8s::{
    DeploymentSummary, EventSummary, LogQuery, NetworkPolicySummary, NodeUsage, PodDetail, PodList, PodLogs,
    PodQuery, PodUsage, ServiceSummary,
};

use super::{get_json, post_json};
use crate::format::url::{encode, query_string};

/// The namespaces Triage may look at; the first is the default.
pub async fn namespaces() -> Result<Vec<String>, ApiError> {
    get_json("/api/k8s/namespaces").await
}

fn ns_path(ns: &str) -> String {
    format!("/api/k8s/namespaces/{}", encode(ns))
}

/// One page of pods; `selector` is a label selector (`app=x`), empty for all.
pub async fn pods(
    ns: &str,
    selector: &str,
    limit: u32,
    continue_token: Option<&str>,
) -> Result<PodList, ApiError> {
    let params = PodQuery {
        selector: Some(selector.trim().to_owned()).filter(|s| !s.is_empty()),
        limit: Some(limit),
        continue_token: continue_token.map(str::to_owned),
    };
    get_json(&format!("{}/pods?{}", ns_path(ns), query_string(&params))).await
}

pub async fn pod(ns: &str, name: &str) -> Result<PodDetail, ApiError> {
    get_json(&format!("{}/pods/{}", ns_path(ns), encode(name))).await
}

pub async fn pod_logs(ns: &str, name: &str, tail: u32, previous: bool) -> Result<PodLogs, ApiError> {
    let params = LogQuery { tail: Some(i64::from(tail)), previous };
    get_json(&format!("{}/pods/{}/logs?{}", ns_path(ns), encode(name), query_string(&params))).await
}

pub async fn deployments(ns: &str) -> Result<Vec<DeploymentSummary>, ApiError> {
    get_json(&format!("{}/deployments", ns_path(ns))).await
}

pub async fn events(ns: &str) -> Result<Vec<EventSummary>, ApiError> {
    get_json(&format!("{}/events", ns_path(ns))).await
}

pub async fn top_pods(ns: &str) -> Result<Vec<PodUsage>, ApiError> {
    get_json(&format!("{}/top/pods", ns_path(ns))).await
}

pub async fn top_nodes() -> Result<Vec<NodeUsage>, ApiError> {
    get_json("/api/k8s/nodes/top").await
}

pub async fn services(ns: &str) -> Result<Vec<ServiceSummary>, ApiError> {
    get_json(&format!("{}/services", ns_path(ns))).await
}

pub async fn network_policies(ns: &str) -> Result<Vec<NetworkPolicySummary>, ApiError> {
    get_json(&format!("{}/networkpolicies", ns_path(ns))).await
}

pub async fn scale_deployment(ns: &str, name: &str, body: &ScaleRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/deployments/{}/scale", ns_path(ns), encode(name)), body).await
}

pub async fn restart_deployment(
    ns: &str,
    name: &str,
    body: &RestartRequest,
) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/deployments/{}/restart", ns_path(ns), encode(name)), body).await
}

pub async fn delete_pod(ns: &str, name: &str, body: &DeletePodRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/pods/{}/delete", ns_path(ns), encode(name)), body).await
}

/// Every pod of `ns` matching a label selector (`/pods/delete`).
pub async fn delete_pods(ns: &str, body: &DeletePodsRequest) -> Result<ActionOutcome, ApiError> {
    post_json(&format!("{}/pods/delete", ns_path(ns)), body).await
}

/// The guide's complete restart of `ns`: the plan for a dry run, the started job otherwise.
pub async fn emergency_restart(ns: &str, body: &EmergencyRestartRequest) -> Result<Job, ApiError> {
    post_json(&format!("{}/emergency-restart", ns_path(ns)), body).await
}

/// A long action's progress.
pub async fn job(id: &str) -> Result<Job, ApiError> {
    get_json(&format!("/api/jobs/{}", encode(id))).await
}
