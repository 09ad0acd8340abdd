//! Kubernetes views as Triage sends them to the browser: what `kubectl get`/`describe`/`top`
//! show, already summarised, plus name validation shared by both sides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a container last ended (e.g. `OOMKilled`, exit code 137).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Termination {
    pub reason: String,
    pub exit_code: i32,
    pub finished_at: Option<String>,
}

/// One row of the pods table (`kubectl get pods -o wide` plus the last termination reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PodSummary {
    pub name: String,
    pub namespace: String,
    pub ready_containers: u32,
    pub total_containers: u32,
    /// As kubectl prints it: `Running`, `Pending`, `CrashLoopBackOff`, `Terminating`, …
    pub status: String,
    pub restarts: u32,
    pub last_termination: Option<Termination>,
    pub node: Option<String>,
    pub ip: Option<String>,
    pub created: Option<String>,
    pub age_seconds: i64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PodList {
    pub items: Vec<PodSummary>,
    /// Token for the next page, when the list was cut by `limit`.
    pub continue_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ContainerDetail {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restart_count: u32,
    /// `Running`, `Waiting` or `Terminated`, with the reason when there is one.
    pub state: String,
    pub state_reason: Option<String>,
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
    pub last_termination: Option<Termination>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// `kubectl describe pod`, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PodDetail {
    pub summary: PodSummary,
    pub controlled_by: Option<String>,
    pub qos_class: Option<String>,
    pub containers: Vec<ContainerDetail>,
    pub conditions: Vec<Condition>,
    pub events: Vec<EventSummary>,
}

/// Where a deployment's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "state", content = "message")]
pub enum RolloutState {
    Complete,
    Progressing(String),
    /// `ProgressDeadlineExceeded` or unavailable replicas with no progress.
    Stalled(String),
}

/// One place a deployment's pod template takes a value from a Secret. Names only: Triage never
/// reads a Secret's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SecretReference {
    pub secret: String,
    /// The key, when one key is referenced (`secretKeyRef`, a volume item).
    pub key: Option<String>,
    pub container: String,
    /// How: `env NAME`, `envFrom`, or `volume NAME`.
    pub via: String,
    /// Whether the Secret exists; `None` unless Triage may list Secret names.
    pub exists: Option<bool>,
    /// Whether the referenced key exists in the Secret; `None` when no single key is referenced
    /// or Triage may not check keys (`kubernetes.check_secret_keys`).
    #[serde(default)]
    pub key_exists: Option<bool>,
}

/// `GET /api/k8s/namespaces/{ns}/deployments/{name}/secrets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeploymentSecrets {
    pub deployment: String,
    pub references: Vec<SecretReference>,
    /// Whether existence was checked (`kubernetes.list_secret_names`).
    pub checked_existence: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeploymentSummary {
    pub name: String,
    pub namespace: String,
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    pub rollout: RolloutState,
    pub images: Vec<String>,
    pub selector: String,
    pub age_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EventSummary {
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    /// `pod/name`, `deployment/name`, …
    pub object: String,
    pub message: String,
    pub count: i32,
    pub last_seen: Option<String>,
    pub age_seconds: i64,
}

/// `kubectl top pod` plus the container's requests and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PodUsage {
    pub name: String,
    pub cpu_millicores: f64,
    pub memory_bytes: f64,
    pub cpu_request_millicores: Option<f64>,
    pub cpu_limit_millicores: Option<f64>,
    pub memory_request_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
}

/// `kubectl top node` with allocatable capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NodeUsage {
    pub name: String,
    pub cpu_millicores: f64,
    pub memory_bytes: f64,
    pub cpu_allocatable_millicores: Option<f64>,
    pub memory_allocatable_bytes: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ServiceSummary {
    pub name: String,
    pub kind: String,
    pub cluster_ip: Option<String>,
    pub ports: Vec<String>,
    pub selector: String,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NetworkPolicySummary {
    pub name: String,
    pub pod_selector: String,
    pub policy_types: Vec<String>,
    pub ingress_rules: usize,
    pub egress_rules: usize,
}

/// Log lines of one container, newest last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PodLogs {
    pub pod: String,
    pub previous: bool,
    pub lines: Vec<String>,
}

/// Why a name is not a valid Kubernetes object name, or Ok.
///
/// Object names are DNS-1123 subdomains: at most 253 characters of lowercase letters, digits,
/// `-` and `.`, starting and ending with a letter or digit.
pub fn check_object_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err(format!("{:?} is not a valid name: it must be 1 to 253 characters long", short(name)));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ok_edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let (first, last) = (name.chars().next(), name.chars().last());
    if !name.chars().all(ok_char) || !first.is_some_and(ok_edge) || !last.is_some_and(ok_edge) {
        return Err(format!(
            "{:?} is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
            short(name)
        ));
    }
    Ok(())
}

/// Namespaces are DNS-1123 labels: like object names but at most 63 characters and no dots.
pub fn check_namespace(name: &str) -> Result<(), String> {
    if name.len() > 63 || name.contains('.') {
        return Err(format!(
            "{:?} is not a valid namespace: at most 63 lowercase letters, digits and '-'",
            short(name)
        ));
    }
    check_object_name(name)
}

fn short(text: &str) -> String {
    if text.chars().count() > 64 {
        format!("{}…", text.chars().take(64).collect::<String>())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        for good in ["stream-processor", "a", "web.v2", "kafka-0", &"a".repeat(253)] {
            assert!(check_object_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Stream", "-x", "x-", "a/b", "../etc", "a b", "a\"}", &"a".repeat(254), "é"] {
            assert!(check_object_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces() {
        assert!(check_namespace("streaming-analytics").is_ok());
        assert!(check_namespace("a.b").is_err());
        assert!(check_namespace(&"a".repeat(64)).is_err());
    }
}

/// The query string of `GET /api/k8s/namespaces/{ns}/pods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PodQuery {
    /// Label selector, e.g. `app=stream-processor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Most pods in this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The previous page's `continue_token`.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
}

/// The query string of `GET /api/k8s/namespaces/{ns}/pods/{name}/logs` and of `…/logs/follow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LogQuery {
    /// How many of the last lines to send (default 200; when following 50, at most 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<i64>,
    /// The previous container's logs (after a restart).
    #[serde(default)]
    pub previous: bool,
}

/// The query string of `GET /api/k8s/namespaces/{ns}/deployments/{name}/rollout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RolloutQuery {
    /// How long to follow the rollout (default 300, 1 to 3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}
