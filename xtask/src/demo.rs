//! `cargo xtask demo`: the console and what it watches, in the foreground.
//!
//! Ports on 127.0.0.1 (DESIGN.md): console 8080. Later parts of the demo (sandbox, Prometheus,
//! PostgreSQL, OpenID provider) join here on their documented ports.

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::procs::Supervisor;
use crate::{run_cmd, step};

const CONSOLE_ADDR: &str = "127.0.0.1:8080";

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let release = args.iter().any(|a| a == "--release");
    if let Some(unknown) = args.iter().find(|a| *a != "--release") {
        bail!("unknown demo option `{unknown}` (known: --release)");
    }
    let profile = if release { "release" } else { "debug" };
    step("build the console", || {
        let mut cmd = Command::new("cargo");
        cmd.args(["build", "-p", "triage", "--bin", "triage"]);
        if release {
            cmd.arg("--release");
        }
        run_cmd(&mut cmd)
    })?;
    if TcpStream::connect(CONSOLE_ADDR).is_ok() {
        bail!("something already listens on {CONSOLE_ADDR}; stop it (or the previous demo) first");
    }

    let demo_dir = root.join("target/demo");
    std::fs::create_dir_all(&demo_dir).context("cannot create target/demo")?;
    let config = demo_dir.join("triage.toml");
    std::fs::write(
        &config,
        format!("# Written by `cargo xtask demo`.\n[server]\nlisten = \"{CONSOLE_ADDR}\"\n\n[auth]\nmode = \"none\"\n"),
    )
    .context("cannot write the demo configuration")?;

    let mut sup = Supervisor::new()?;
    sup.spawn(
        "console",
        Command::new(root.join("target").join(profile).join("triage"))
            .arg("serve")
            .arg("--config")
            .arg(&config),
    )?;
    wait_for_port("console", CONSOLE_ADDR, Duration::from_secs(30), &sup)?;

    println!("\nTriage demo is up:");
    println!("  console     http://{CONSOLE_ADDR}/");
    println!("  health      http://{CONSOLE_ADDR}/healthz   metrics http://{CONSOLE_ADDR}/metrics");
    println!("\nPress Ctrl-C to stop everything.");
    if let Some(name) = sup.wait() {
        bail!("{name} stopped unexpectedly; see its output above");
    }
    println!("\nstopping…");
    Ok(())
}

fn wait_for_port(name: &str, addr: &str, timeout: Duration, sup: &Supervisor) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if sup.stopping() {
            bail!("interrupted");
        }
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{name} did not start listening on {addr} within {}s", timeout.as_secs())
}
