//! Application state shared by every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use triage_shared::ApiError;

use crate::config::Settings;
use crate::environments::{Environment, Environments};
use crate::kubernetes::K8s;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// Every environment's clients; a request names its own (`env=`).
    pub envs: Arc<Environments>,
    /// Triage's own store: the audit log, finished runs, snapshots and pending approvals.
    pub store: Store,
    pub jobs: crate::kubernetes::emergency::Jobs,
    /// The loaded runbooks and their recent runs.
    pub runbooks: crate::runbooks::Runbooks,
    /// Who may call: the local user, or single sign-on sessions (see `auth`).
    pub auth: Arc<crate::auth::Auth>,
    /// Open server-sent event streams, in all and per caller.
    pub streams: crate::limits::Limiter,
    /// Runbook runs whose checks are still running, in all and per caller.
    pub runs: crate::limits::Limiter,
    /// Cleared when shutdown begins so `/readyz` takes the replica out of rotation first.
    ready: Arc<AtomicBool>,
}

impl AppState {
    /// `k8s` holds each environment's Kubernetes client, in the order of
    /// `Settings::environments`.
    pub fn new(settings: Settings, k8s: Vec<Option<K8s>>, store: Store) -> anyhow::Result<Self> {
        let limits = &settings.limits;
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
        let envs = Arc::new(Environments::new(&settings, k8s, &store)?);
        let auth = Arc::new(crate::auth::Auth::new(&settings.auth, &settings.environments())?);
        Ok(Self {
            settings: Arc::new(settings),
            envs,
            store,
            jobs: crate::kubernetes::emergency::Jobs::default(),
            runbooks,
            auth,
            streams,
            runs,
            ready: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The environment `name` names (`None`: the default one).
    pub fn env(&self, name: Option<&str>) -> Result<Arc<Environment>, ApiError> {
        self.envs.get(name).cloned()
    }

    /// What the runbook engine needs of the state for a run in `env`, and nothing else.
    pub fn engine(&self, env: &Environment) -> crate::runbooks::engine::Engine {
        crate::runbooks::engine::Engine {
            env: env.name.clone(),
            checks: env.checks.clone(),
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
