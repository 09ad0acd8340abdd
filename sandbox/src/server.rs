//! Starting the sandbox: the Kubernetes API listener, the metrics/health/control listener, the
//! simulation clock, the kubeconfig file and (optionally) the PostgreSQL workload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, Shared, lock};
use crate::incident::Incident;
use crate::world::World;

#[derive(Debug, Clone)]
pub struct Options {
    pub api_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub kubeconfig: Option<PathBuf>,
    pub incident: Incident,
    /// libpq connection string of the PostgreSQL the workload runs against.
    pub postgres: Option<String>,
    pub seed: u64,
    /// One address per Kafka broker (port 0 picks a free one).
    pub kafka_addrs: Vec<SocketAddr>,
    /// Idle consumer groups to add beside `audit-replayer` (`bench-group-00000`, …), at most
    /// `MAX_IDLE_GROUPS` in all.
    pub extra_groups: usize,
    /// When set, the Kafka brokers require this SASL login (PLAIN or SCRAM) (off by default).
    pub kafka_sasl: Option<crate::kafka::SaslUser>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            api_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig: None,
            incident: Incident::Healthy,
            postgres: None,
            seed: 7,
            kafka_addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0)); crate::kafka::BROKERS],
            extra_groups: 0,
            kafka_sasl: None,
        }
    }
}

/// A running sandbox. Dropping it stops every task it started.
pub struct Sandbox {
    pub api_url: String,
    pub metrics_url: String,
    pub metrics_addr: SocketAddr,
    pub kubeconfig: Option<PathBuf>,
    /// The Kafka brokers' `host:port` list, comma-separated, as clients take it.
    pub kafka_bootstrap: String,
    /// Kafka requests served per API.
    pub kafka_requests: crate::kafka::RequestCounts,
    /// Delays the Kafka brokers' answers per API (reliability tests).
    pub kafka_delays: crate::kafka::ReplyDelays,
    pub world: Shared,
    /// Every request the Kubernetes API served.
    pub access_log: api::AccessLog,
    /// Makes the Kubernetes API fail on purpose (reliability tests).
    pub api_faults: api::FaultSwitch,
    control: Control,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct Control {
    world: Shared,
    incident: Arc<watch::Sender<Incident>>,
}

impl Control {
    fn set(&self, incident: Incident) {
        lock(&self.world).set_incident(incident);
        self.incident.send_replace(incident);
    }
}

impl Sandbox {
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        let api_listener = TcpListener::bind(options.api_addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {} for the Kubernetes API: {e}", options.api_addr)
        })?;
        let metrics_listener = TcpListener::bind(options.metrics_addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} for metrics: {e}", options.metrics_addr))?;
        let api_addr = api_listener.local_addr()?;
        let metrics_addr = metrics_listener.local_addr()?;
        let api_url = format!("http://{api_addr}");
        let mut world = World::new(options.incident, options.seed);
        world.api_addr = api_addr.to_string();
        world.platform.add_idle_groups(options.extra_groups);
        let world: Shared = Arc::new(Mutex::new(world));
        let (tx, rx) = watch::channel(options.incident);
        let control = Control { world: world.clone(), incident: Arc::new(tx) };

        if let Some(path) = &options.kubeconfig {
            write_kubeconfig(path, &api_url)?;
        }

        let (kafka, mut tasks) = crate::kafka::start(
            world.clone(),
            &options.kafka_addrs,
            control.incident.subscribe(),
            options.kafka_sasl.clone(),
        )
        .await?;
        let kafka_bootstrap = kafka.bootstrap();
        let kafka_requests = kafka.served.clone();
        let kafka_delays = kafka.delays.clone();
        let access_log = api::AccessLog::default();
        let api_faults = api::FaultSwitch::default();
        let api_router = api::router(world.clone(), access_log.clone(), api_faults.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(api_listener, api_router).await {
                tracing::error!("Kubernetes API server stopped: {e}");
            }
        }));
        let side_router = side_router(control.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, side_router).await {
                tracing::error!("metrics server stopped: {e}");
            }
        }));
        let clock_world = world.clone();
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(250));
            let mut last = Instant::now();
            loop {
                interval.tick().await;
                let now = Instant::now();
                let dt = (now - last).as_secs_f64().min(2.0);
                last = now;
                lock(&clock_world).tick(dt);
            }
        }));
        if let Some(conninfo) = options.postgres.clone() {
            tasks.push(tokio::spawn(async move {
                // Seeding can fail while PostgreSQL is still starting: retry until it works.
                loop {
                    match crate::workload::prepare(&conninfo).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!("preparing the database workload failed, retrying: {e:#}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                if let Err(e) = crate::workload::run(conninfo, rx, std::future::pending()).await {
                    tracing::error!("database workload stopped: {e:#}");
                }
            }));
        }
        tracing::info!(%api_url, metrics = %metrics_addr, %kafka_bootstrap, incident = %options.incident, "sandbox running");
        Ok(Self {
            api_url,
            metrics_url: format!("http://{metrics_addr}"),
            metrics_addr,
            kubeconfig: options.kubeconfig,
            kafka_bootstrap,
            kafka_requests,
            kafka_delays,
            world,
            access_log,
            api_faults,
            control,
            tasks,
        })
    }

    pub fn set_incident(&self, incident: Incident) {
        self.control.set(incident);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub fn write_kubeconfig(path: &Path, server: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Two users: `sandbox-operator` may do everything; `sandbox-viewer` (served under the
    // `/viewer` prefix, since clients send no credentials over plain HTTP) may only read, and its
    // writes get 403 Forbidden as an API server's RBAC would answer.
    let ns = crate::world::NAMESPACE;
    let text = format!(
        "# Written by triage-sandbox: a simulated cluster, not a real one.\n\
         apiVersion: v1\nkind: Config\nclusters:\n\
         - name: triage-sandbox\n  cluster:\n    server: {server}\n\
         - name: triage-sandbox-viewer\n  cluster:\n    server: {server}{}\n\
         contexts:\n\
         - name: triage-sandbox\n  context:\n    cluster: triage-sandbox\n    user: sandbox-operator\n    namespace: {ns}\n\
         - name: triage-sandbox-viewer\n  context:\n    cluster: triage-sandbox-viewer\n    user: sandbox-viewer\n    namespace: {ns}\n\
         current-context: triage-sandbox\nusers:\n- name: sandbox-operator\n  user: {{}}\n- name: sandbox-viewer\n  user: {{}}\n",
        crate::api::VIEWER_PREFIX
    );
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write kubeconfig {}: {e}", path.display()))
}

fn side_router(control: Control) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health_all))
        .route("/health/{service}", get(health_one))
        .route("/control/incident", get(get_incident).post(set_incident).put(set_incident))
        .with_state(control)
}

async fn metrics(State(c): State<Control>) -> Response {
    let text = crate::metrics::render(&lock(&c.world));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn get_incident(State(c): State<Control>) -> Response {
    let w = lock(&c.world);
    axum::Json(json!({"incident": w.incident, "since": crate::store::rfc3339(w.incident_since)}))
        .into_response()
}

#[derive(serde::Deserialize)]
struct IncidentQuery {
    name: Option<String>,
}

async fn set_incident(
    State(c): State<Control>,
    Query(q): Query<IncidentQuery>,
    body: axum::body::Bytes,
) -> Response {
    let from_body = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["incident"].as_str().map(str::to_owned));
    let Some(name) = q.name.or(from_body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "give ?name=INCIDENT or {\"incident\": \"…\"}"})),
        )
            .into_response();
    };
    match name.parse::<Incident>() {
        Ok(incident) => {
            c.set(incident);
            axum::Json(json!({"incident": incident})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e.to_string()}))).into_response(),
    }
}

async fn health_all(State(c): State<Control>) -> Response {
    let w = lock(&c.world);
    let services: Vec<serde_json::Value> = ["websocket-server", "stream-processor", "ml-inference"]
        .iter()
        .map(|s| crate::health::service_health(&w, s).1)
        .collect();
    axum::Json(json!({"services": services})).into_response()
}

async fn health_one(State(c): State<Control>, UrlPath(service): UrlPath<String>) -> Response {
    let w = lock(&c.world);
    if crate::world::app_spec(&service).is_none() {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": format!("no service {service}")})))
            .into_response();
    }
    let (code, body) = crate::health::service_health(&w, &service);
    (code, axum::Json(body)).into_response()
}
