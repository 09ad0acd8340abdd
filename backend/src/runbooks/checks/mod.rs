//! One function per check kind, one file per family (`prom`, `k8s`, `pg`, `http`, `kafka`), each given
//! only the [`CheckContext`], never the application state. Each resolves its templates for its destination (see
//! `template.rs`), asks its upstream through Triage's own clients, and returns named values and
//! the evidence; judging them is the engine's job.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use triage_shared::prom::Series;
use triage_shared::runbook::{Check, Evidence, Reduce, Runbook, Step};
use triage_shared::{ApiError, ErrorKind};

use url::Url;

use super::template::Values;
use crate::kafka::Kafka;
use crate::kubernetes::K8s;
use crate::pg::PgTargets;
use crate::prometheus::{PromClient, PromError};

mod http;
mod k8s;
mod kafka;
mod pg;
mod prom;

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub values: BTreeMap<String, f64>,
    pub evidence: Option<Evidence>,
    /// The resolved query or request, as run.
    pub query: Option<String>,
    /// The series the reduced value came from, for trend rules (`[unix s, value]`).
    pub trend: Option<Vec<[f64; 2]>>,
    /// A sentence about the data when there is nothing to judge (e.g. no series).
    pub note: Option<String>,
}

/// Why a check produced no values.
#[derive(Debug, Clone)]
pub enum NotRun {
    /// Its upstream is not configured or not built in; says nothing about the system.
    Skipped(String),
    /// It ran and failed.
    Failed(ApiError),
}

impl From<ApiError> for NotRun {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

fn bad_template(e: String) -> NotRun {
    NotRun::Failed(ApiError::new(ErrorKind::BadRequest, e))
}

/// Exactly the clients the checks use: each family asks only its own upstream, and one that is
/// absent makes its checks skipped, in the same words the API answers with.
#[derive(Clone)]
pub struct CheckContext {
    pub prom: Option<Arc<PromClient>>,
    pub k8s: Option<K8s>,
    pub pg: Option<Arc<PgTargets>>,
    pub kafka: Option<Arc<Kafka>>,
    /// `runbooks.urls`: the named bases `http_health` URLs are resolved against.
    pub urls: BTreeMap<String, Url>,
    /// The `http_health` probes' client: 5 s per request, redirects not followed.
    pub http: reqwest::Client,
}

impl CheckContext {
    /// The `http_health` probes' client.
    pub fn probe_client() -> Result<reqwest::Client, ApiError> {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("HTTP client: {e}")))
    }

    fn prom(&self) -> Result<&PromClient, NotRun> {
        self.prom.as_deref().ok_or_else(|| NotRun::Skipped(PromError::NotConfigured.to_string()))
    }

    fn k8s(&self) -> Result<&K8s, NotRun> {
        self.k8s.as_ref().ok_or_else(|| NotRun::Skipped(crate::kubernetes::not_configured().message))
    }

    fn kafka(&self) -> Result<&Kafka, NotRun> {
        self.kafka.as_deref().ok_or_else(|| NotRun::Skipped(crate::kafka::not_configured().message))
    }

    fn pg(&self) -> Result<&PgTargets, NotRun> {
        self.pg.as_deref().ok_or_else(|| NotRun::Skipped(crate::pg::not_configured().message))
    }
}

impl Found {
    /// Values with a table as their evidence, and the request that produced them.
    fn table(values: BTreeMap<String, f64>, columns: &[&str], rows: Vec<Vec<String>>, query: String) -> Self {
        Self {
            values,
            evidence: Some(Evidence::Table {
                columns: columns.iter().map(|c| (*c).to_owned()).collect(),
                rows,
            }),
            query: Some(query),
            ..Self::default()
        }
    }
}

/// Runs the check of `step` with the run's validated `values`.
pub async fn run_check(
    ctx: &CheckContext,
    runbook: &Runbook,
    step: &Step,
    values: &Values,
) -> Result<Found, NotRun> {
    match &step.check {
        Check::Promql { query, range, reduce, .. } => {
            prom::promql(ctx, query, range.as_deref(), *reduce, values).await
        }
        Check::K8sPods { namespace, selector } => {
            k8s::pods(ctx, namespace, selector.as_deref(), values).await
        }
        Check::K8sDeployment { namespace, name } => k8s::deployment(ctx, namespace, name, values).await,
        Check::K8sEvents { namespace, reason } => {
            k8s::events(ctx, namespace, reason.as_deref(), values).await
        }
        Check::K8sLogs { namespace, selector, pattern, tail } => {
            k8s::logs(ctx, namespace, selector, pattern, tail.unwrap_or(200), values).await
        }
        Check::K8sTop { namespace, selector } => k8s::top(ctx, namespace, selector.as_deref(), values).await,
        Check::PgStatements { target, order, limit } => {
            pg::statements(ctx, target.as_deref(), order.as_deref(), *limit).await
        }
        Check::PgActivity { target } => pg::activity(ctx, target.as_deref()).await,
        Check::PgIndexAdvice { target } => pg::index_advice(ctx, target.as_deref()).await,
        Check::PgTables { target } => pg::tables(ctx, target.as_deref()).await,
        Check::Sql { target, query, params } => {
            pg::sql(ctx, runbook, target.as_deref(), query, params, values).await
        }
        Check::HttpHealth { urls } => http::health(ctx, urls, values).await,
        Check::KafkaGroupLag { group, topic } => kafka::group_lag(ctx, group, topic.as_deref(), values).await,
        Check::KafkaTopic { topic } => kafka::topic(ctx, topic, values).await,
        Check::KafkaBrokers {} => kafka::brokers(ctx).await,
        Check::K8sEnvRefs { namespace, deployment, prefix } => {
            k8s::env_refs(ctx, namespace, deployment, prefix.as_deref(), values).await
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Reduces series to one number and the series it came from.
pub fn reduce(series: &[Series], how: Reduce) -> Option<(f64, Vec<[f64; 2]>)> {
    let non_empty: Vec<&Series> = series.iter().filter(|s| !s.points.is_empty()).collect();
    if non_empty.is_empty() {
        return None;
    }
    let last = |s: &Series| s.points.last().map_or(f64::MIN, |p| p[1]);
    let max = |s: &Series| s.points.iter().map(|p| p[1]).fold(f64::MIN, f64::max);
    match how {
        Reduce::Last => {
            let s = non_empty.iter().max_by(|a, b| last(a).total_cmp(&last(b)))?;
            Some((last(s), s.points.clone()))
        }
        Reduce::Max => {
            let s = non_empty.iter().max_by(|a, b| max(a).total_cmp(&max(b)))?;
            Some((max(s), s.points.clone()))
        }
        Reduce::Avg => {
            // Mean per timestamp across series, then the mean of those.
            let mut by_time: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
            for s in &non_empty {
                for p in &s.points {
                    let e = by_time.entry((p[0] * 1000.0) as i64).or_default();
                    e.0 += p[1];
                    e.1 += 1;
                }
            }
            let points: Vec<[f64; 2]> =
                by_time.into_iter().map(|(t, (sum, n))| [t as f64 / 1000.0, sum / n as f64]).collect();
            let mean = points.iter().map(|p| p[1]).sum::<f64>() / points.len() as f64;
            Some((mean, points))
        }
    }
}

pub use triage_shared::prom::slope_per_minute;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_per_minute() {
        let points: Vec<[f64; 2]> = (0..10).map(|i| [f64::from(i) * 30.0, f64::from(i) * 5.0]).collect();
        let s = slope_per_minute(&points).expect("slope");
        assert!((s - 10.0).abs() < 1e-9, "{s}");
        assert!(slope_per_minute(&points[..2]).is_none());
    }

    #[test]
    fn reductions() {
        let s = |v: &[f64]| Series {
            labels: BTreeMap::new(),
            points: v.iter().enumerate().map(|(i, x)| [i as f64, *x]).collect(),
            last_text: None,
        };
        let series = vec![s(&[1.0, 9.0, 2.0]), s(&[3.0, 4.0, 5.0])];
        assert_eq!(reduce(&series, Reduce::Last).map(|r| r.0), Some(5.0));
        assert_eq!(reduce(&series, Reduce::Max).map(|r| r.0), Some(9.0));
        assert_eq!(reduce(&series, Reduce::Avg).map(|r| r.0), Some(4.0));
        assert!(reduce(&[], Reduce::Last).is_none());
    }
}
