//! Application state shared by every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use triage_shared::ApiError;

use crate::config::Settings;
use crate::kubernetes::K8s;
use crate::prometheus::live::LiveHub;
use crate::prometheus::{PromClient, PromError};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// Absent when `prometheus.url` is not configured; routes then answer 503 in words.
    prom: Option<Arc<PromClient>>,
    live: Option<Arc<LiveHub>>,
    k8s: Option<K8s>,
    /// Triage's own store: the audit log, finished runs and snapshots.
    pub store: Store,
    pub jobs: crate::kubernetes::emergency::Jobs,
    /// The loaded runbooks and their recent runs.
    pub runbooks: crate::runbooks::Runbooks,
    /// Absent when no `[postgres]` targets are configured.
    pg: Option<Arc<crate::pg::PgTargets>>,
    /// Absent when `[kafka]` is not configured.
    kafka: Option<Arc<crate::kafka::Kafka>>,
    /// Who may call: the local user, or single sign-on sessions (see `auth`).
    pub auth: Arc<crate::auth::Auth>,
    /// Open server-sent event streams, in all and per caller.
    pub streams: crate::limits::Limiter,
    /// Runbook runs whose checks are still running, in all and per caller.
    pub runs: crate::limits::Limiter,
    /// The clients runbook checks use, and nothing else of the state.
    pub checks: Arc<crate::runbooks::checks::CheckContext>,
    /// Cleared when shutdown begins so `/readyz` takes the replica out of rotation first.
    ready: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(settings: Settings, k8s: Option<K8s>, store: Store) -> anyhow::Result<Self> {
        let prom = match &settings.prometheus {
            Some(p) => Some(Arc::new(PromClient::new(p)?)),
            None => None,
        };
        let limits = &settings.limits;
        let live = prom
            .clone()
            .map(|p| LiveHub::new(p, limits.max_live_queries, limits.max_live_queries_per_caller));
        let streams = crate::limits::Limiter::new(
            "event streams",
            limits.max_streams,
            limits.max_streams_per_caller,
            5,
        );
        let runs = crate::limits::Limiter::new(
            "runbook runs in progress",
            limits.max_concurrent_runs,
            limits.max_concurrent_runs_per_caller,
            10,
        );
        let runbooks = crate::runbooks::Runbooks::load(&settings.runbooks);
        let pg = match &settings.postgres {
            Some(p) => Some(crate::pg::PgTargets::new(p, store.clone()).map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        let kafka = match &settings.kafka {
            Some(k) => Some(crate::kafka::Kafka::new(k).map_err(|e| anyhow::anyhow!("{}", e.message))?),
            None => None,
        };
        let auth = Arc::new(crate::auth::Auth::new(&settings.auth)?);
        let checks = Arc::new(crate::runbooks::checks::CheckContext {
            prom: prom.clone(),
            k8s: k8s.clone(),
            pg: pg.clone(),
            kafka: kafka.clone(),
            urls: settings.runbooks.urls.clone(),
            http: crate::runbooks::checks::CheckContext::probe_client()?,
        });
        Ok(Self {
            settings: Arc::new(settings),
            prom,
            live,
            k8s,
            store,
            jobs: crate::kubernetes::emergency::Jobs::default(),
            runbooks,
            pg,
            kafka,
            auth,
            streams,
            runs,
            checks,
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    pub fn prom(&self) -> Result<&Arc<PromClient>, PromError> {
        self.prom.as_ref().ok_or(PromError::NotConfigured)
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

    pub fn live(&self) -> Result<&Arc<LiveHub>, PromError> {
        self.live.as_ref().ok_or(PromError::NotConfigured)
    }

    /// What the runbook engine needs of the state, and nothing else.
    pub fn engine(&self) -> crate::runbooks::engine::Engine {
        crate::runbooks::engine::Engine {
            checks: self.checks.clone(),
            runbooks: self.runbooks.clone(),
            store: self.store.clone(),
            runs: self.runs.clone(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}
