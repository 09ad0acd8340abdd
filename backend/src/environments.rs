//! The environments one Triage serves: each has its own clients (Prometheus with its live hub
//! and answer cache, Kubernetes, PostgreSQL pools, Kafka), its own runbook check context and its
//! own protection, so one environment's upstream being slow or down never holds another's
//! answers, and nothing of one can appear in another's.
//!
//! A request names its environment in the `env` query parameter ([`requested`]); without it the
//! default (the first configured) answers. The role check (`auth::require_role`) and the
//! handlers' [`crate::http::extract::Env`] read the same parameter through [`requested`].

use std::sync::Arc;
use std::time::Duration;

use triage_shared::actions::Role;
use triage_shared::env::{ENV_PARAM, EnvironmentInfo, Protection, Upstreams};
use triage_shared::{ApiError, ErrorKind};

use crate::config::{EnvironmentSettings, LimitSettings, Settings};
use crate::kubernetes::K8s;
use crate::prometheus::live::LiveHub;
use crate::prometheus::{PromClient, PromError};
use crate::runbooks::checks::CheckContext;
use crate::store::Store;

/// One environment's clients and safeguards.
pub struct Environment {
    pub name: String,
    pub colour: String,
    pub protection: Protection,
    /// How long a pending approval waits (under `approval`).
    pub approval_ttl: Duration,
    pub alert_values: Vec<String>,
    prom: Option<Arc<PromClient>>,
    live: Option<Arc<LiveHub>>,
    k8s: Option<K8s>,
    pg: Option<Arc<crate::pg::PgTargets>>,
    kafka: Option<Arc<crate::kafka::Kafka>>,
    /// The clients this environment's runbook checks use.
    pub checks: Arc<CheckContext>,
}

impl Environment {
    /// Builds the clients of `settings` (the Kubernetes client, which connects asynchronously,
    /// is made by the caller). Nothing connects yet.
    pub fn new(
        settings: &EnvironmentSettings,
        k8s: Option<K8s>,
        store: &Store,
        limits: &LimitSettings,
        urls: &std::collections::BTreeMap<String, url::Url>,
    ) -> anyhow::Result<Self> {
        let at = |what: &str, e: String| anyhow::anyhow!("environment {}: {what}: {e}", settings.name);
        let prom = match &settings.prometheus {
            Some(p) => {
                Some(Arc::new(PromClient::new(p).map_err(|e| at("Prometheus client", e.to_string()))?))
            }
            None => None,
        };
        let live = prom
            .clone()
            .map(|p| LiveHub::new(p, limits.max_live_queries, limits.max_live_queries_per_caller));
        let pg = match &settings.postgres {
            Some(p) => Some(
                crate::pg::PgTargets::new(p, store.clone(), &settings.name)
                    .map_err(|e| at("PostgreSQL targets", e.message))?,
            ),
            None => None,
        };
        let kafka = match &settings.kafka {
            Some(k) => Some(crate::kafka::Kafka::new(k).map_err(|e| at("Kafka", e.message))?),
            None => None,
        };
        let checks = Arc::new(CheckContext {
            prom: prom.clone(),
            k8s: k8s.clone(),
            pg: pg.clone(),
            kafka: kafka.clone(),
            urls: urls.clone(),
            http: CheckContext::probe_client().map_err(|e| at("HTTP client", e.message))?,
        });
        Ok(Self {
            name: settings.name.clone(),
            colour: settings.colour.clone(),
            protection: settings.protection,
            approval_ttl: Duration::from_secs(settings.approval_ttl_secs),
            alert_values: settings.alert_values.clone(),
            prom,
            live,
            k8s,
            pg,
            kafka,
            checks,
        })
    }

    pub fn prom(&self) -> Result<&Arc<PromClient>, PromError> {
        self.prom.as_ref().ok_or(PromError::NotConfigured)
    }

    pub fn live(&self) -> Result<&Arc<LiveHub>, PromError> {
        self.live.as_ref().ok_or(PromError::NotConfigured)
    }

    pub fn k8s(&self) -> Result<&K8s, ApiError> {
        self.k8s.as_ref().ok_or_else(crate::kubernetes::not_configured)
    }

    pub fn pg(&self) -> Result<&crate::pg::PgTargets, ApiError> {
        self.pg.as_deref().ok_or_else(crate::pg::not_configured)
    }

    pub fn kafka(&self) -> Result<&crate::kafka::Kafka, ApiError> {
        self.kafka.as_deref().ok_or_else(crate::kafka::not_configured)
    }

    /// What the guarded actions need to know of the environment.
    pub fn guard(&self) -> crate::guard::EnvGuard {
        crate::guard::EnvGuard {
            name: self.name.clone(),
            protection: self.protection,
            approval_ttl: self.approval_ttl,
        }
    }

    /// The environment as `role` (the caller's role here) sees it.
    pub fn info(&self, role: Option<Role>) -> EnvironmentInfo {
        EnvironmentInfo {
            name: self.name.clone(),
            colour: self.colour.clone(),
            protection: self.protection,
            role,
            alert_values: self.alert_values.clone(),
            approval_ttl_secs: (self.protection == Protection::Approval)
                .then_some(self.approval_ttl.as_secs()),
            upstreams: Upstreams {
                prometheus: self.prom.is_some(),
                kubernetes: self.k8s.is_some(),
                postgres: self.pg.is_some(),
                kafka: self.kafka.is_some(),
            },
        }
    }
}

/// Every environment, in configuration order; the first is the default.
pub struct Environments {
    list: Vec<Arc<Environment>>,
    pub alert_label: Option<String>,
}

impl Environments {
    /// Builds every environment of `settings`; `k8s` holds each one's Kubernetes client, by
    /// position.
    pub fn new(settings: &Settings, mut k8s: Vec<Option<K8s>>, store: &Store) -> anyhow::Result<Self> {
        let envs = settings.environments();
        k8s.resize_with(envs.len(), || None);
        let list = envs
            .iter()
            .zip(k8s)
            .map(|(env, k8s)| {
                Environment::new(env, k8s, store, &settings.limits, &settings.runbooks.urls).map(Arc::new)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if list.is_empty() {
            anyhow::bail!("no environment is configured");
        }
        Ok(Self { list, alert_label: settings.alerts.environment_label.clone() })
    }

    pub fn default_env(&self) -> &Arc<Environment> {
        &self.list[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Environment>> {
        self.list.iter()
    }

    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|e| e.name.clone()).collect()
    }

    /// The environment `name` names, or the default one for `None`.
    pub fn get(&self, name: Option<&str>) -> Result<&Arc<Environment>, ApiError> {
        match name {
            None => Ok(self.default_env()),
            Some(name) => {
                self.list.iter().find(|e| e.name == name).ok_or_else(|| unknown(name, &self.names()))
            }
        }
    }
}

/// The refusal of an environment name this Triage does not serve.
pub fn unknown(name: &str, known: &[String]) -> ApiError {
    let shown: String = name.chars().take(80).collect();
    ApiError::new(
        ErrorKind::NotFound,
        format!("unknown environment {shown:?}; this Triage serves {}", known.join(", ")),
    )
    .with_detail(serde_json::json!({ "param": ENV_PARAM, "in": "query", "known": known }))
}

/// The `env` query parameter of a request's query string, when there is one.
pub fn requested(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == ENV_PARAM).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_parameter_is_read_decoded_and_alone() {
        assert_eq!(requested(Some("query=up&env=prod-eu")).as_deref(), Some("prod-eu"));
        assert_eq!(requested(Some("env=a%2Fb")).as_deref(), Some("a/b"));
        assert_eq!(requested(Some("environment=x")), None);
        assert_eq!(requested(None), None);
    }

    #[test]
    fn an_unknown_name_is_refused_in_words() {
        let e = unknown("us-east-1", &["staging".to_owned(), "prod-eu".to_owned()]);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.contains("\"us-east-1\"") && e.message.contains("staging, prod-eu"),
            "{}",
            e.message
        );
    }
}
