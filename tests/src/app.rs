//! The Triage backend, in-process on port 0, talking real HTTP.

use std::net::SocketAddr;

use anyhow::Result;
use tokio::sync::oneshot;
use triage::config::Settings;
use triage::startup::Application;
use triage_shared::actions::Role;

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// Holds the audit database unless the test chose its own store.
    _store_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts the backend with default settings on a free port.
    pub async fn start() -> Result<Self> {
        Self::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Result<Self> {
        Self::start_on(settings, 0).await
    }

    /// Like [`TestApp::start_with`] on a chosen loopback port (when a URL in the settings, such
    /// as the login callback, must name the port before the server starts).
    pub async fn start_on(mut settings: Settings, port: u16) -> Result<Self> {
        let store_dir = tempfile::Builder::new().prefix("triage-store-").tempdir()?;
        if settings.store.sqlite_path == triage::config::StoreSettings::default().sqlite_path {
            settings.store.sqlite_path = store_dir.path().join("triage.db");
        }
        settings.server.listen = SocketAddr::from(([127, 0, 0, 1], port));
        settings.server.shutdown_grace_secs = 2;
        // A chosen port that was just given up (a restart) can still be held for a moment, by
        // the old listener's last connections or by a parallel test's outgoing connection that
        // the kernel gave that number: retry for a few seconds before failing.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let app = loop {
            match Application::build(settings.clone()).await {
                Ok(app) => break app,
                Err(e)
                    if port != 0
                        && e.to_string().contains("cannot listen on")
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(Self { addr, http, _store_dir: store_dir, shutdown: Some(tx), task: Some(task) })
    }

    /// Starts the backend with Prometheus at `prom_url`.
    pub async fn start_with_prometheus(prom_url: &str) -> Result<Self> {
        let settings =
            Settings { prometheus: Some(Self::prometheus_settings(prom_url)?), ..Settings::default() };
        Self::start_with(settings).await
    }

    /// The settings tests use for Prometheus at `prom_url`: the defaults with a 10 s timeout.
    pub fn prometheus_settings(prom_url: &str) -> Result<triage::config::PrometheusSettings> {
        Ok(triage::config::PrometheusSettings {
            url: prom_url.parse()?,
            timeout_secs: 10,
            max_range_secs: 31 * 86_400,
            max_points: 11_000,
            max_response_mib: 64,
            cache_ttl_ms: 1000,
        })
    }

    /// Starts the backend against a Kubernetes API (the sandbox) through `kubeconfig`, allowed
    /// to see `streaming-analytics` only.
    pub async fn start_with_kubernetes(kubeconfig: &std::path::Path) -> Result<Self> {
        Self::start_with(kubernetes_settings(kubeconfig, Role::Reader)).await
    }

    /// Like [`TestApp::start_with_kubernetes`], with every caller an operator (may act).
    pub async fn start_with_kubernetes_as_operator(kubeconfig: &std::path::Path) -> Result<Self> {
        Self::start_with(kubernetes_settings(kubeconfig, Role::Operator)).await
    }

    /// POSTs JSON with the CSRF header the console sends; returns the status and the body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<(u16, serde_json::Value)> {
        let response = self.http.post(self.url(path)).header("x-triage-csrf", "1").json(body).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
    }

    /// GETs `path` and decodes JSON, failing with the body on a non-2xx answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.http.get(self.url(path)).send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "GET {path} answered {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server gracefully and waits for it to finish.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Settings for a backend that reads the sandbox through `kubeconfig`, with `role` for callers.
pub fn kubernetes_settings(kubeconfig: &std::path::Path, role: Role) -> Settings {
    let mut settings = Settings {
        kubernetes: Some(triage::config::KubernetesSettings {
            kubeconfig: Some(kubeconfig.to_owned()),
            context: None,
            namespaces: vec!["streaming-analytics".to_owned()],
            timeout_secs: 10,
            list_secret_names: false,
            check_secret_keys: false,
            max_log_bytes: 4 << 20,
        }),
        ..Settings::default()
    };
    settings.auth = triage::config::AuthSettings::Local { local_role: role };
    settings
}
