//! Headless Chromium driven over WebDriver (Debian's chromium + chromedriver).

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};

use crate::paths::{free_port, test_output_dir};
use crate::process::{ManagedChild, wait_until};

pub struct Browser {
    pub client: Client,
    /// chromedriver's base URL, for its Chromium-only endpoints.
    driver_url: String,
    _profile: tempfile::TempDir,
    _driver: ManagedChild,
}

/// Chromium flags for root on a closed network (see DESIGN.md).
const CHROME_ARGS: [&str; 10] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,860",
];

impl Browser {
    pub async fn start() -> Result<Self> {
        Self::start_with(&[]).await
    }

    /// A browser whose screen has `ratio` device pixels per CSS pixel (`devicePixelRatio`).
    pub async fn start_scaled(ratio: f64) -> Result<Self> {
        Self::start_with(&[format!("--force-device-scale-factor={ratio}")]).await
    }

    /// A browser started with `extra` Chromium flags besides the usual ones.
    pub async fn start_with(extra: &[String]) -> Result<Self> {
        let port = free_port()?;
        let profile = tempfile::Builder::new().prefix("triage-chrome-").tempdir()?;
        let log = profile.path().join("chromedriver.log");
        let mut driver = ManagedChild::spawn(
            "chromedriver",
            Command::new("chromedriver").arg(format!("--port={port}")),
            Some(log),
        )
        .context("is the Debian package `chromium-driver` installed? (`cargo xtask setup`)")?;
        let status = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        wait_until(&mut driver, Duration::from_secs(20), || {
            let req = http.get(&status).send();
            async move { req.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await?;

        let mut args: Vec<String> = CHROME_ARGS.iter().map(|s| (*s).to_owned()).collect();
        args.extend(extra.iter().cloned());
        args.push(format!("--user-data-dir={}", profile.path().join("profile").display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .with_context(|| {
                format!("cannot open a Chromium session; chromedriver said:\n{}", driver.log())
            })?;
        Ok(Self {
            client,
            driver_url: format!("http://127.0.0.1:{port}"),
            _profile: profile,
            _driver: driver,
        })
    }

    /// Emulates a slower network for what the page loads from now on (chromedriver's network
    /// conditions, the same emulation as DevTools' throttling): `latency_ms` added to each
    /// request and `bytes_per_sec` down and up.
    pub async fn throttle_network(&self, latency_ms: u64, bytes_per_sec: u64) -> Result<()> {
        let session = self.client.session_id().await?.context("the browser has no WebDriver session")?;
        let url = format!("{}/session/{session}/chromium/network_conditions", self.driver_url);
        let body = serde_json::json!({ "network_conditions": {
            "offline": false,
            "latency": latency_ms,
            "download_throughput": bytes_per_sec,
            "upload_throughput": bytes_per_sec,
        }});
        let response = reqwest::Client::new().post(&url).json(&body).send().await?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "chromedriver refused network conditions: {}",
            response.text().await?
        );
        Ok(())
    }

    /// Waits up to 15 s for an element with `data-testid=id`.
    pub async fn wait_testid(&self, id: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(&format!("[data-testid=\"{id}\"]")))
            .await
            .with_context(|| format!("no element with data-testid={id} appeared"))
    }

    /// A property (`textContent`, `value`, …) of the element with `data-testid=id`, found again
    /// when the page re-rendered it between finding and reading (a stale element), for up to 15 s.
    pub async fn testid_prop(&self, id: &str, prop: &str) -> Result<Option<String>> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match self.wait_testid(id).await?.prop(prop).await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_stale_element_reference() && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Saves a PNG screenshot under `target/test-output/` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<std::path::PathBuf> {
        let png = self.client.screenshot().await?;
        let path = test_output_dir().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the WebDriver session (Chromium exits), then chromedriver is stopped on drop.
    pub async fn close(self) -> Result<()> {
        self.client.clone().close().await?;
        Ok(())
    }
}
