//! A real Prometheus (Debian's package) on a free loopback port, with its own TSDB folder.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::paths::free_port;
use crate::process::{ManagedChild, wait_until};

pub struct Prometheus {
    pub url: String,
    port: u16,
    process: ManagedChild,
    dir: tempfile::TempDir,
}

/// Runs Prometheus with `dir/prometheus.yml` and its TSDB in `dir/data`; returns once ready.
async fn spawn(dir: &std::path::Path, port: u16) -> Result<ManagedChild> {
    let mut process = ManagedChild::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn"),
        Some(dir.join("prometheus.log")),
    )
    .context("is the Debian package `prometheus` installed? (`cargo xtask setup`)")?;
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let http = reqwest::Client::new();
    wait_until(&mut process, Duration::from_secs(20), || {
        let req = http.get(&ready).send();
        async move { req.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await?;
    Ok(process)
}

impl Prometheus {
    /// Starts Prometheus scraping itself (job `prometheus`) and `targets` (`(job, "host:port")`)
    /// every second.
    pub async fn start(targets: &[(&str, String)]) -> Result<Self> {
        let port = free_port()?;
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
        let own = ("prometheus", format!("127.0.0.1:{port}"));
        for (job, addr) in std::iter::once(&own).chain(targets) {
            config.push_str(&format!(
                "  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            ));
        }
        Self::start_on(port, &config).await
    }

    /// Starts Prometheus with a complete configuration file body.
    pub async fn start_with_config(config: &str) -> Result<Self> {
        Self::start_on(free_port()?, config).await
    }

    /// Starts Prometheus over a TSDB pre-filled from OpenMetrics text (timestamps in seconds,
    /// ending with `# EOF`) by `promtool tsdb create-blocks-from openmetrics`.
    pub async fn start_with_history(openmetrics: &str, targets: &[(&str, String)]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("triage-prom-").tempdir()?;
        let input = dir.path().join("history.om");
        std::fs::write(&input, openmetrics)?;
        let data = dir.path().join("data");
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .context("cannot run promtool (Debian package `prometheus`)")?;
        anyhow::ensure!(
            out.status.success(),
            "promtool failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port()?;
        let config = scrape_config(port, targets);
        Self::start_in(dir, port, &config).await
    }

    async fn start_on(port: u16, config: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("triage-prom-").tempdir()?;
        Self::start_in(dir, port, config).await
    }

    async fn start_in(dir: tempfile::TempDir, port: u16, config: &str) -> Result<Self> {
        std::fs::write(dir.path().join("prometheus.yml"), config)?;
        let process = spawn(dir.path(), port).await?;
        Ok(Self { url: format!("http://127.0.0.1:{port}"), port, process, dir })
    }

    /// Starts Prometheus again after [`Prometheus::stop`], on the same port with the same data.
    pub async fn restart(&mut self) -> Result<()> {
        self.process.stop();
        self.process = spawn(self.dir.path(), self.port).await?;
        Ok(())
    }

    /// Requests Prometheus itself counted for `handler` (from its own `/metrics`, not a scrape).
    pub async fn handler_requests(&self, handler: &str) -> Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.url)).await?.text().await?;
        let needle = format!("handler=\"{handler}\"");
        Ok(text
            .lines()
            .filter(|l| l.starts_with("prometheus_http_requests_total{") && l.contains(&needle))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum())
    }

    /// Stops Prometheus now (the handle stays, so the test can check what Triage does then).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Runs an instant query straight against Prometheus and returns the JSON `data` field.
    pub async fn query(&self, promql: &str) -> Result<serde_json::Value> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(body["status"] == "success", "query {promql} failed: {body}");
        Ok(body["data"].clone())
    }
}

/// Scrape configuration: Prometheus itself plus `targets`, every second.
fn scrape_config(port: u16, targets: &[(&str, String)]) -> String {
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
    let own = ("prometheus", format!("127.0.0.1:{port}"));
    for (job, addr) in std::iter::once(&own).chain(targets) {
        config.push_str(&format!(
            "  - job_name: \"{job}\"\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ));
    }
    config
}
