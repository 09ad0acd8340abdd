//! A real Kafka-compatible broker: Tansu (in-memory storage) on a free port, stopped by its PID
//! when dropped, and the confluent-kafka oracle (`tests/kafka/oracle.py`) to drive and read it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::paths::{free_port, workspace_root};
use crate::process::{ManagedChild, wait_until};

/// Where `cargo xtask setup` unpacks the pinned Tansu binary.
pub fn tansu_binary() -> PathBuf {
    workspace_root().join("target/tools/tansu/tansu")
}

/// The Python with confluent-kafka that `cargo xtask setup` installs.
pub fn oracle_python() -> PathBuf {
    workspace_root().join("target/tools/kafka/bin/python")
}

pub struct Tansu {
    pub bootstrap: String,
    pub port: u16,
    child: ManagedChild,
    _dir: tempfile::TempDir,
}

impl Tansu {
    pub async fn start() -> Result<Self> {
        let bin = tansu_binary();
        if !bin.exists() {
            bail!("{} is missing; run `cargo xtask setup`", bin.display());
        }
        let dir = tempfile::Builder::new().prefix("triage-tansu-").tempdir()?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(&bin);
        cmd.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir.path());
        let mut child = ManagedChild::spawn("tansu", &mut cmd, Some(dir.path().join("tansu.log")))?;
        let bootstrap = format!("127.0.0.1:{port}");
        let probe = bootstrap.clone();
        wait_until(&mut child, Duration::from_secs(20), move || {
            let probe = probe.clone();
            async move { oracle(&probe, &["cluster"]).await.is_ok() }
        })
        .await
        .context("Tansu did not answer metadata")?;
        Ok(Self { bootstrap, port, child, _dir: dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Stops the broker (as a crash would: the port then refuses connections).
    pub fn kill(&mut self) {
        self.child.stop();
    }
}

/// Runs one oracle subcommand and parses its JSON answer (the last line it prints).
pub async fn oracle(bootstrap: &str, args: &[&str]) -> Result<serde_json::Value> {
    let script = workspace_root().join("tests/kafka/oracle.py");
    let out = tokio::process::Command::new(oracle_python())
        .arg(&script)
        .arg(args[0])
        .arg(bootstrap)
        .args(&args[1..])
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run the confluent-kafka oracle")?;
    if !out.status.success() {
        bail!("oracle {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("null");
    serde_json::from_str(last).with_context(|| format!("oracle {} printed {text:?}", args.join(" ")))
}

/// A consumer that stays in `group` until dropped (the oracle's `consume --hold`), once it has
/// its assignment.
pub struct HeldConsumer {
    child: tokio::process::Child,
}

impl HeldConsumer {
    pub async fn join(bootstrap: &str, group: &str, topic: &str, count: u32) -> Result<Self> {
        use tokio::io::AsyncBufReadExt;
        let script = workspace_root().join("tests/kafka/oracle.py");
        let mut child = tokio::process::Command::new(oracle_python())
            .arg(&script)
            .args(["consume", bootstrap, group, topic, &count.to_string(), "--hold", "600"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the held consumer")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(line) = lines.next_line().await? {
                if line.trim() == "ready" {
                    return Ok::<bool, anyhow::Error>(true);
                }
            }
            Ok(false)
        })
        .await
        .context("the held consumer got no assignment within 90 s")??;
        if !ready {
            bail!("the held consumer exited before it was assigned partitions");
        }
        Ok(Self { child })
    }
}

impl Drop for HeldConsumer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
