//! A child process owned by a test: stopped by its PID when dropped (SIGTERM, then SIGKILL).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

pub struct ManagedChild {
    name: String,
    child: Child,
    /// Signal sent first on drop (`TERM`, or `INT` for PostgreSQL's fast shutdown).
    stop_signal: &'static str,
    log_path: Option<std::path::PathBuf>,
}

impl ManagedChild {
    /// Starts `cmd` with stdout and stderr appended to `log` (kept for failure messages).
    pub fn spawn(name: &str, cmd: &mut Command, log: Option<std::path::PathBuf>) -> Result<Self> {
        if let Some(path) = &log {
            let file =
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let err = file.try_clone()?;
            cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        Ok(Self { name: name.to_owned(), child, stop_signal: "TERM", log_path: log })
    }

    #[must_use]
    pub fn with_stop_signal(mut self, signal: &'static str) -> Self {
        self.stop_signal = signal;
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's output so far, for error messages.
    pub fn log(&self) -> String {
        self.log_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    /// Fails with the process's log if it has already exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} exited early ({status}); its output:\n{}", self.name, self.log());
        }
        Ok(())
    }

    /// Sends the stop signal and waits up to 10 s, then kills.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([format!("-{}", self.stop_signal), pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `probe` until it succeeds or `timeout` passes, checking the child is still alive.
pub async fn wait_until<F, Fut>(child: &mut ManagedChild, timeout: Duration, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        child.ensure_running()?;
        if probe().await {
            return Ok(());
        }
        if started.elapsed() > timeout {
            anyhow::bail!("{} not ready after {:?}; its output:\n{}", child.name, timeout, child.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident set size of process `pid` in KiB, from `/proc`.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}
