//! Environments: the several clusters (each with its own Kubernetes, Prometheus, PostgreSQL
//! targets and Kafka) one Triage serves, each with its own access and its own protection.
//!
//! Every `/api` request names its environment in the `env` query parameter ([`ENV_PARAM`]);
//! without it the request is about the default environment (the first configured).

use serde::{Deserialize, Serialize};

use crate::actions::Role;

/// The query parameter that names the environment of any `/api` request and of console URLs.
pub const ENV_PARAM: &str = "env";

/// Name of the environment a configuration without `[[environments]]` describes.
pub const DEFAULT_ENV: &str = "default";

/// Longest environment name (a DNS label).
pub const MAX_ENV_NAME: usize = 63;

/// Whether `name` is a usable environment name: 1 to 63 lowercase letters, digits and `-`,
/// starting with a letter (a DNS-1123 label, so it is safe in URLs, file names and labels).
pub fn check_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ENV_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an environment name: use 1 to {MAX_ENV_NAME} lowercase letters, digits and `-`, starting with a letter"
        ))
    }
}

/// How carefully actions in an environment are guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protection {
    /// Dry run first, the target's name typed for destructive actions, every action audited.
    #[default]
    Standard,
    /// As standard, and every action (scale-ups included) needs the target's name typed and a
    /// written reason, stored in the audit entry.
    Production,
    /// As production, and an action waits until a second operator of the environment (not the
    /// requester) approves it within the configured time.
    Approval,
}

impl Protection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Production => "production",
            Self::Approval => "approval",
        }
    }

    /// Whether every action needs a typed confirmation and a reason.
    pub fn strict(self) -> bool {
        self >= Self::Production
    }
}

/// Which upstreams an environment has configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Upstreams {
    pub prometheus: bool,
    pub kubernetes: bool,
    pub postgres: bool,
    pub kafka: bool,
}

/// One environment as the caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EnvironmentInfo {
    pub name: String,
    /// Display colour, `#rrggbb`.
    pub colour: String,
    pub protection: Protection,
    /// The caller's role here; absent when the caller may not use this environment at all.
    #[serde(default)]
    pub role: Option<Role>,
    /// Values of the alert label (see [`Environments::alert_label`]) that mean this environment.
    #[serde(default)]
    pub alert_values: Vec<String>,
    /// Seconds a pending approval waits before it expires (under `approval` protection).
    #[serde(default)]
    pub approval_ttl_secs: Option<u64>,
    pub upstreams: Upstreams,
}

/// `GET /api/environments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Environments {
    /// The environment of a request that names none.
    pub default: String,
    /// The alert label whose value names the environment an alert fired in (e.g. `cluster`).
    #[serde(default)]
    pub alert_label: Option<String>,
    pub environments: Vec<EnvironmentInfo>,
}

impl Environments {
    pub fn get(&self, name: &str) -> Option<&EnvironmentInfo> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The environment an alert label's value (or an `env=` value) names.
    pub fn resolve(&self, value: &str) -> Option<&EnvironmentInfo> {
        self.get(value)
            .or_else(|| self.environments.iter().find(|e| e.alert_values.iter().any(|v| v == value)))
    }
}

/// The caller's role in one environment (`GET /api/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EnvRole {
    pub env: String,
    /// Absent: no access to this environment.
    pub role: Option<Role>,
}

/// Where a pending approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalState {
    Pending,
    /// Approved and run; the audit entry holds the outcome.
    Approved,
    Rejected,
    Expired,
}

/// An action waiting for a second operator (`GET /api/approvals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Approval {
    pub id: i64,
    pub env: String,
    /// `scale`, `restart`, …
    pub action: String,
    pub target: String,
    /// What the dry run said would change when it was requested.
    pub summary: String,
    /// The equivalent command.
    pub kubectl: String,
    pub requested_by: String,
    pub reason: String,
    /// Unix seconds.
    pub requested_at: i64,
    pub expires_at: i64,
    pub state: ApprovalState,
    #[serde(default)]
    pub decided_by: Option<String>,
    /// The audit entry of the approved run.
    #[serde(default)]
    pub audit_id: Option<i64>,
    /// Why the approved run failed, in words.
    #[serde(default)]
    pub error: Option<String>,
    /// The decider's note.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /api/approvals/{id}/approve` and `/reject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ApprovalDecision {
    /// A note kept with the decision (may be empty; at most [`MAX_REASON`] characters).
    pub comment: String,
}

/// The query string of `GET /api/approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ApprovalQuery {
    /// Also list decided and expired approvals (default: pending only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// Most characters of an action's reason.
pub const MAX_REASON: usize = 2_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert!(check_env_name("prod-eu").is_ok());
        assert!(check_env_name("default").is_ok());
        for bad in ["", "Prod", "-a", "a-", "1a", "a b", "a/b", &"a".repeat(64)] {
            assert!(check_env_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn protection_orders_by_strictness() {
        assert!(!Protection::Standard.strict());
        assert!(Protection::Production.strict());
        assert!(Protection::Approval.strict());
    }

    #[test]
    fn alert_values_resolve_to_their_environment() {
        let env = |name: &str, values: &[&str]| EnvironmentInfo {
            name: name.to_owned(),
            colour: "#000000".to_owned(),
            protection: Protection::Standard,
            role: None,
            alert_values: values.iter().map(|v| (*v).to_owned()).collect(),
            approval_ttl_secs: None,
            upstreams: Upstreams::default(),
        };
        let all = Environments {
            default: "staging".to_owned(),
            alert_label: Some("cluster".to_owned()),
            environments: vec![env("staging", &[]), env("prod-eu", &["eu-west-1"])],
        };
        assert_eq!(all.resolve("eu-west-1").map(|e| e.name.as_str()), Some("prod-eu"));
        assert_eq!(all.resolve("staging").map(|e| e.name.as_str()), Some("staging"));
        assert!(all.resolve("us-east-1").is_none());
    }
}
