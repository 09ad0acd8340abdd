//! A private PostgreSQL 15 cluster with `pg_stat_statements`, on a free loopback port.
//!
//! `initdb` refuses to run as root, so as root the cluster is created and run as the `postgres`
//! system user (via `setpriv`, which execs, so the PID we hold is the postmaster's own).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::paths::free_port;
use crate::process::{ManagedChild, wait_until};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Postgres {
    pub port: u16,
    process: ManagedChild,
    /// `-c name=value` settings given at start, kept for a restart.
    settings: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command that runs as `postgres` when we are root, as ourselves otherwise.
fn pg_command(program: &str) -> Command {
    let path = Path::new(PG_BIN).join(program);
    if running_as_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

impl Postgres {
    pub async fn start() -> Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts with extra server settings, e.g. `("pg_stat_statements.max", "10000")`.
    pub async fn start_with(settings: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("triage-pg-").tempdir()?;
        if running_as_root() {
            let status = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status()?;
            if !status.success() {
                bail!("cannot hand {} to the postgres user", dir.path().display());
            }
        }
        let data = dir.path().join("data");
        let out = pg_command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C", "-D"])
            .arg(&data)
            .output()
            .context("cannot run initdb; is postgresql-15 installed? (`cargo xtask setup`)")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = free_port()?;
        let settings: Vec<(String, String)> =
            settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let process = spawn_server(dir.path(), port, &settings, "postgres.log").await?;
        Ok(Self { port, process, settings, dir })
    }

    /// Stops the server (fast shutdown: sessions are disconnected) and waits for it to exit.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port and data folder, after [`Postgres::stop`].
    pub async fn restart(&mut self) -> Result<()> {
        self.process.stop();
        self.process =
            spawn_server(self.dir.path(), self.port, &self.settings, "postgres-restarted.log").await?;
        Ok(())
    }

    /// A libpq connection string for `database` as the superuser.
    pub fn conninfo(&self, database: &str) -> String {
        conninfo(self.port, database)
    }

    /// Connects and drives the connection on a background task.
    pub async fn connect(&self, database: &str) -> Result<tokio_postgres::Client> {
        let (client, connection) =
            tokio_postgres::connect(&self.conninfo(database), tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// A `[postgres]` section with this cluster's `database` as the only target, named `main`,
    /// without periodic snapshots.
    pub fn analysis_settings(&self, database: &str) -> triage::config::PostgresSettings {
        triage::config::PostgresSettings {
            targets: vec![triage::config::PostgresTarget {
                name: "main".to_owned(),
                url: secrecy::SecretString::from(self.conninfo(database)),
            }],
            statement_timeout_ms: 5_000,
            connect_timeout_secs: 3,
            pool_size: 4,
            snapshot_interval_secs: 0,
            snapshot_retention_hours: 72,
            max_manual_snapshots: 100,
            manual_snapshot_retention_days: 30,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// Runs `postgres` on the cluster in `dir` and waits until it accepts connections.
async fn spawn_server(
    dir: &Path,
    port: u16,
    settings: &[(String, String)],
    log: &str,
) -> Result<ManagedChild> {
    let mut cmd = pg_command("postgres");
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "shared_preload_libraries=pg_stat_statements"])
        .args(["-c", "pg_stat_statements.track=all"])
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
    for (name, value) in settings {
        cmd.args(["-c", &format!("{name}={value}")]);
    }
    // The log lives in the (postgres-owned) folder; `postgres` writes it through our redirect.
    let mut process = ManagedChild::spawn("postgres", &mut cmd, Some(dir.join(log)))?.with_stop_signal("INT");
    wait_until(&mut process, Duration::from_secs(30), || async move {
        tokio_postgres::connect(&conninfo(port, "postgres"), tokio_postgres::NoTls).await.is_ok()
    })
    .await?;
    Ok(process)
}

fn conninfo(port: u16, database: &str) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname={database} connect_timeout=5")
}
