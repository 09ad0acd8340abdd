//! The real `triage` binary as a separate process: for tests that kill it, read its memory, or
//! grep its log (an in-process backend shares all three with the test).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;

use crate::paths::free_port;
use crate::process::{ManagedChild, wait_until};

pub struct TriageProcess {
    pub port: u16,
    pub child: ManagedChild,
    pub config: PathBuf,
}

/// The `triage` binary of the same profile as the running one: beside it (a benchmark in
/// `target/release/`), or beside its `deps/` folder (a test in `target/debug/deps/`).
pub fn triage_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let bin = if dir.join("triage").is_file() {
        dir.join("triage")
    } else {
        dir.parent().map(|d| d.join("triage")).unwrap_or_default()
    };
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run `cargo build -p triage` (cargo xtask test does)",
        bin.display()
    );
    Ok(bin)
}

impl TriageProcess {
    /// Writes `[server] listen` on a free port followed by `config` (TOML) into `dir/triage.toml`
    /// and starts `triage serve` with it, logging to `dir/{log_name}`; returns once `/readyz` answers.
    pub async fn start(dir: &Path, config: &str, log_name: &str) -> Result<Self> {
        let port = free_port()?;
        let path = dir.join("triage.toml");
        std::fs::write(&path, format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{config}"))?;
        Self::start_with_config(path, port, dir.join(log_name)).await
    }

    /// Starts again with an existing configuration file (same port), e.g. after a kill.
    pub async fn start_with_config(config: PathBuf, port: u16, log: PathBuf) -> Result<Self> {
        let mut child = ManagedChild::spawn(
            "triage",
            Command::new(triage_binary()?).arg("serve").arg("--config").arg(&config).stdin(Stdio::null()),
            Some(log),
        )?;
        let url = format!("http://127.0.0.1:{port}/readyz");
        let http = reqwest::Client::new();
        wait_until(&mut child, Duration::from_secs(20), || {
            let r = http.get(&url).send();
            async move { r.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await?;
        Ok(Self { port, child, config })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Resident set size in KiB, from `/proc`.
    pub fn rss_kib(&self) -> Result<u64> {
        crate::process::rss_kib(self.child.pid())
    }
}
