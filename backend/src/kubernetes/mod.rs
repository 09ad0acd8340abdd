//! Kubernetes through the `kube` client. This file is the client, its validation and its error
//! mapping; `views.rs` the read views, `secrets.rs` a deployment's Secret references,
//! `workloads.rs` ownership, `actions.rs` the guarded actions, `emergency.rs` the emergency
//! restart, `streams.rs` the event streams.
//!
//! Every name is validated (DNS-1123) and every namespace checked against the configured
//! allowlist before a request is made. API errors are mapped on their status code, never on
//! their text. Secret values are never fetched.

pub mod actions;
pub mod emergency;
mod secrets;
pub mod streams;
mod views;
pub mod workloads;

pub use views::{bytes, cpu_millicores, deployment_summary, pod_summary};

use triage_shared::k8s::{check_namespace, check_object_name};
use triage_shared::{ApiError, ErrorKind};

use crate::config::KubernetesSettings;

/// The answer of everything Kubernetes when no `[kubernetes]` section is configured.
pub fn not_configured() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "Kubernetes is not configured (add a [kubernetes] section)")
}

#[derive(Clone)]
pub struct K8s {
    pub client: kube::Client,
    pub namespaces: Vec<String>,
    /// `kubernetes.list_secret_names`.
    pub list_secret_names: bool,
    /// `kubernetes.check_secret_keys`.
    pub check_secret_keys: bool,
    /// `kubernetes.max_log_bytes`.
    pub max_log_bytes: i64,
}

/// Maps a `kube` error to the API error the user sees; `verb` and `resource` name the attempt.
pub fn map_error(e: kube::Error, verb: &str, resource: &str) -> ApiError {
    match e {
        kube::Error::Api(status) => {
            let kind = match status.code {
                400 => ErrorKind::BadRequest,
                401 => ErrorKind::Unauthenticated,
                403 => ErrorKind::Forbidden,
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                422 => ErrorKind::Unprocessable,
                429 => ErrorKind::RateLimited,
                504 => ErrorKind::Timeout,
                _ => ErrorKind::Upstream,
            };
            let message = match kind {
                ErrorKind::Forbidden => {
                    format!(
                        "forbidden: Triage's service account may not {verb} {resource} ({})",
                        status.message
                    )
                }
                ErrorKind::RateLimited => {
                    format!("the Kubernetes API is throttling requests; retry shortly ({})", status.message)
                }
                _ => format!("Kubernetes refused to {verb} {resource}: {}", status.message),
            };
            ApiError::new(kind, message).with_detail(serde_json::json!({
                "source": "kubernetes", "code": status.code, "reason": status.reason, "verb": verb, "resource": resource
            }))
        }
        other if is_timeout(&other) => ApiError::new(
            ErrorKind::Timeout,
            format!("the Kubernetes API did not answer in time to {verb} {resource}"),
        ),
        other => ApiError::new(
            ErrorKind::Unavailable,
            format!("cannot reach the Kubernetes API to {verb} {resource}: {other}"),
        ),
    }
}

/// Whether the error (or any error it wraps) is the client's read or connect timeout.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.is::<tokio::time::error::Elapsed>()
            || e.to_string().contains("timed out")
        {
            return true;
        }
        current = e.source();
    }
    false
}

impl K8s {
    pub async fn connect(settings: &KubernetesSettings) -> anyhow::Result<Self> {
        let options =
            kube::config::KubeConfigOptions { context: settings.context.clone(), ..Default::default() };
        let config = match &settings.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| anyhow::anyhow!("cannot read kubeconfig {}: {e}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
            }
            None if settings.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
            None => kube::Config::infer().await?,
        };
        let mut config = config;
        config.read_timeout = Some(std::time::Duration::from_secs(settings.timeout_secs));
        config.connect_timeout = Some(std::time::Duration::from_secs(5));
        // kube's default retry honours Retry-After up to 15 times with back-off to 1000 s: a
        // throttling API server would hold a console request for minutes. Triage does not retry;
        // the user sees "throttled, retry shortly" at once and the page's own refresh retries.
        config.default_retry = false;
        let client = kube::Client::try_from(config)?;
        Ok(Self {
            client,
            namespaces: settings.namespaces.clone(),
            list_secret_names: settings.list_secret_names,
            check_secret_keys: settings.check_secret_keys,
            max_log_bytes: settings.max_log_bytes.max(1024),
        })
    }

    /// The namespace, if valid and allowed.
    pub fn namespace<'a>(&self, ns: &'a str) -> Result<&'a str, ApiError> {
        check_namespace(ns).map_err(|m| ApiError::new(ErrorKind::BadRequest, m))?;
        if !self.namespaces.iter().any(|n| n == ns) {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                format!("namespace {ns:?} is not in Triage's allowlist ({})", self.namespaces.join(", ")),
            ));
        }
        Ok(ns)
    }

    pub fn name(name: &str) -> Result<&str, ApiError> {
        check_object_name(name).map_err(|m| ApiError::new(ErrorKind::BadRequest, m))?;
        Ok(name)
    }
}
