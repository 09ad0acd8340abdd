//! Guarded actions (scale, restart, delete pods), the caller's identity and role, and the audit
//! log. Every action is dry-run first, shows its `kubectl` equivalent, and is audited.

use serde::{Deserialize, Serialize};

/// What a caller may do. Readers see everything; operators may also act; admins may also
/// administer Triage itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Reader,
    Operator,
    Admin,
}

/// `GET /api/whoami`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub role: Role,
}

/// `POST /api/k8s/namespaces/{ns}/deployments/{name}/scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"replicas": 6, "dry_run": true})))]
pub struct ScaleRequest {
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = 1000)))]
    pub replicas: i32,
    /// Ask Kubernetes for a server-side dry run only (`dryRun=All`); nothing changes.
    #[serde(default)]
    pub dry_run: bool,
    /// The deployment's name, typed by the user; required when scaling down.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/k8s/namespaces/{ns}/deployments/{name}/restart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"dry_run": true})))]
pub struct RestartRequest {
    #[serde(default)]
    pub dry_run: bool,
    /// The deployment's name, typed by the user; always required for a real restart.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/k8s/namespaces/{ns}/pods/{name}/delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"force": false, "dry_run": true})))]
pub struct DeletePodRequest {
    /// Grace period 0 (`--force --grace-period=0`) instead of the pod's own.
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub dry_run: bool,
    /// The pod's name, typed by the user; always required for a real delete.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer to an action, dry run or real.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ActionOutcome {
    pub dry_run: bool,
    /// One line: `replicas 6 → 12`, `restart 4 pods of ml-inference`, `delete pod x (grace 0 s)`.
    pub summary: String,
    /// Whether a real run needs the target's name typed as confirmation.
    pub needs_confirmation: bool,
    /// The equivalent command, to reproduce by hand.
    pub kubectl: String,
    /// The audit entry of a real run.
    pub audit_id: Option<i64>,
    /// In an `approval` environment a real run waits here for a second operator instead of
    /// running.
    #[serde(default)]
    pub approval: Option<crate::env::Approval>,
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AuditOutcome {
    /// Written before the request was sent; an entry left pending means the process died.
    Pending,
    Succeeded,
    Failed,
}

/// One row of the audit log (append-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub subject: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// `scale`, `restart`, `delete-pod`, …
    pub action: String,
    /// `deployment/streaming-analytics/stream-processor`
    pub target: String,
    /// Parameters, e.g. `{"replicas": 12}`.
    pub params: serde_json::Value,
    /// What the dry run said would change.
    pub dry_run_summary: String,
    pub outcome: AuditOutcome,
    pub error: Option<String>,
    /// RFC 3339 time the outcome was recorded.
    pub finished_at: Option<String>,
    /// The environment the action ran in.
    #[serde(default = "default_env")]
    pub env: String,
    /// The operator's reason (required in `production` and `approval` environments).
    #[serde(default)]
    pub reason: Option<String>,
    /// The second operator who approved it (`approval` environments).
    #[serde(default)]
    pub approved_by: Option<String>,
}

fn default_env() -> String {
    crate::env::DEFAULT_ENV.to_owned()
}

/// `POST /api/k8s/namespaces/{ns}/emergency-restart`: the guide's complete restart as one
/// guarded sequence. Replica counts are recorded first and restored exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"deployments": ["websocket-server", "stream-processor"], "dry_run": true})))]
pub struct EmergencyRestartRequest {
    /// Deployments in restart order (scaled down in this order, back up in this order).
    pub deployments: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// The namespace's name, typed by the user; required for a real run.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Seconds to wait for pods to stop before force-deleting the stragglers (default 30).
    #[serde(default)]
    pub shutdown_wait_secs: Option<u64>,
    /// Seconds to wait for each rollout (default 300).
    #[serde(default)]
    pub rollout_timeout_secs: Option<u64>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "JobStepState"))]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

/// One step of a long action, with the command that does the same by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct JobStep {
    pub text: String,
    pub kubectl: String,
    pub state: StepState,
    pub detail: Option<String>,
}

/// A long action's progress (`GET /api/jobs/{id}`); for a dry run, the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub dry_run: bool,
    /// Replica counts recorded before anything changed.
    pub recorded: Vec<(String, i32)>,
    /// Per deployment, the pods the plan may force-delete (found by ownership, by name).
    #[serde(default)]
    pub pods: std::collections::BTreeMap<String, Vec<String>>,
    pub steps: Vec<JobStep>,
    pub finished: bool,
    pub error: Option<String>,
    pub audit_id: Option<i64>,
    /// Set when the restart waits for a second operator (an `approval` environment): nothing
    /// has run, and the job is not polled; it starts once approved.
    #[serde(default)]
    pub approval: Option<crate::env::Approval>,
}

/// `POST /api/k8s/namespaces/{ns}/pods/delete`: every pod matching a label selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"selector": "app=stream-processor", "dry_run": true})))]
pub struct DeletePodsRequest {
    /// Label selector, e.g. `app=stream-processor`; an empty selector is refused.
    pub selector: String,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub dry_run: bool,
    /// The selector, typed again by the user; always required for a real delete.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, in the operator's words; required in `production` and `approval` environments and
    /// kept in the audit entry.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The query string of `GET /api/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AuditQuery {
    /// Most entries, newest first (default 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}
