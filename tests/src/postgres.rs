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
    _dir: tempfile::TempDir,
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
        let mut cmd = pg_command("postgres");
        cmd.arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            .args(["-c", "pg_stat_statements.track=all"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        // The log lives in the (postgres-owned) folder; `postgres` writes it through our redirect.
        let mut process = ManagedChild::spawn("postgres", &mut cmd, Some(dir.path().join("postgres.log")))?
            .with_stop_signal("INT");
        wait_until(&mut process, Duration::from_secs(30), || async move {
            tokio_postgres::connect(&conninfo(port, "postgres"), tokio_postgres::NoTls).await.is_ok()
        })
        .await?;
        Ok(Self { port, process, _dir: dir })
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

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

fn conninfo(port: u16, database: &str) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname={database} connect_timeout=5")
}
