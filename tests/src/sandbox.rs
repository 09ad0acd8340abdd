//! The simulated platform, in-process on free ports, with its kubeconfig in a temp folder, and
//! real `kubectl` pointed at it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use triage_sandbox::Incident;
use triage_sandbox::server::{Options, Sandbox};

pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl TestSandbox {
    pub async fn start(incident: Incident) -> Result<Self> {
        Self::start_with(incident, None).await
    }

    /// Starts the sandbox; with `postgres`, its workload runs against that database.
    pub async fn start_with(incident: Incident, postgres: Option<String>) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("triage-sandbox-").tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let sandbox = Sandbox::start(Options {
            kubeconfig: Some(kubeconfig.clone()),
            incident,
            postgres,
            ..Options::default()
        })
        .await?;
        Ok(Self { sandbox, kubeconfig, dir })
    }

    /// Runs real `kubectl` against the sandbox; fails with its stderr when it fails.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        let (ok, stdout, stderr) = self.kubectl_raw(args).await?;
        if !ok {
            bail!("kubectl {} failed: {stderr}", args.join(" "));
        }
        Ok(stdout)
    }

    /// Runs `kubectl`, returning (success, stdout, stderr).
    pub async fn kubectl_raw(&self, args: &[&str]) -> Result<(bool, String, String)> {
        let out = tokio::process::Command::new("kubectl")
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.dir.path().join("kube-cache").display()))
            .args(args)
            .output()
            .await
            .context("cannot run kubectl")?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// A `kube` client configured from the sandbox's kubeconfig, as Triage would build one.
    pub async fn kube_client(&self) -> Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await?;
        Ok(kube::Client::try_from(config)?)
    }
}
