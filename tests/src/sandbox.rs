//! The simulated platform, in-process on free ports, with its kubeconfig in a temp folder, and
//! real `kubectl` pointed at it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
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
        Self::start_options(Options { incident, postgres, ..Options::default() }).await
    }

    /// Starts the sandbox with `extra_groups` idle consumer groups (`bench-group-00000`, …)
    /// committed on `events`, beside its own two.
    pub async fn start_with_groups(incident: Incident, extra_groups: usize) -> Result<Self> {
        Self::start_options(Options { incident, extra_groups, ..Options::default() }).await
    }

    /// Starts the sandbox with brokers that require the SASL login (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) of `username`/`password`.
    pub async fn start_with_sasl(incident: Incident, username: &str, password: &str) -> Result<Self> {
        let sasl =
            triage_sandbox::kafka::SaslUser { username: username.to_owned(), password: password.to_owned() };
        Self::start_options(Options { incident, kafka_sasl: Some(sasl), ..Options::default() }).await
    }

    /// Starts the sandbox from `options`, its kubeconfig written to a temp folder.
    async fn start_options(options: Options) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("triage-sandbox-").tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let sandbox = Sandbox::start(Options { kubeconfig: Some(kubeconfig.clone()), ..options }).await?;
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

    /// `kubectl apply -f PATH` (client-side apply, as an operator would run it); its output.
    pub async fn apply_file(&self, path: &Path) -> Result<String> {
        let path = path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))?;
        self.kubectl(&["apply", "-f", path]).await
    }

    /// Waits until the namespace has settled: every pod Running and Ready and none terminating,
    /// and every Deployment and StatefulSet owning exactly its desired number of pods, all of the
    /// current template. Checked every 100 ms and accepted only when two checks in a row see the
    /// same pods, so a pod that was just deleted and is not yet replaced is not missed.
    pub async fn wait_pods_ready(&self, ns: &str, timeout: Duration) -> Result<()> {
        let client = self.kube_client().await?;
        let deadline = Instant::now() + timeout;
        let mut previous: Option<BTreeSet<String>> = None;
        loop {
            let state = settled(&client, ns).await?;
            match state {
                Ok(uids) if previous.as_ref() == Some(&uids) => return Ok(()),
                Ok(uids) => previous = Some(uids),
                Err(why) => {
                    previous = None;
                    if Instant::now() >= deadline {
                        bail!("namespace {ns} did not settle within {timeout:?}: {why}");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

fn uid(meta: &ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

/// The uid of the controller that owns `meta`, if any.
fn controller_uid(meta: &ObjectMeta) -> Option<String> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true)).map(|r| r.uid.clone())
}

/// The namespace's pod uids when it has settled (see `wait_pods_ready`), else why not.
async fn settled(client: &kube::Client, ns: &str) -> Result<std::result::Result<BTreeSet<String>, String>> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns).list(&ListParams::default()).await?.items;
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), ns).list(&ListParams::default()).await?.items;
    let deployments =
        Api::<Deployment>::namespaced(client.clone(), ns).list(&ListParams::default()).await?.items;
    let stateful =
        Api::<StatefulSet>::namespaced(client.clone(), ns).list(&ListParams::default()).await?.items;
    for p in &pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let status = p.status.clone().unwrap_or_default();
        let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
        if p.metadata.deletion_timestamp.is_some() {
            return Ok(Err(format!("pod {name} is terminating")));
        }
        if status.phase.as_deref() != Some("Running") || !ready {
            return Ok(Err(format!("pod {name} is {:?}, ready {ready}", status.phase)));
        }
    }
    let mut owned: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pods {
        if let Some(owner) = controller_uid(&p.metadata) {
            *owned.entry(owner).or_default() += 1;
        }
    }
    for d in &deployments {
        let name = d.metadata.name.clone().unwrap_or_default();
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = d.status.clone().unwrap_or_default();
        let have: usize = sets
            .iter()
            .filter(|rs| controller_uid(&rs.metadata) == Some(uid(&d.metadata)))
            .map(|rs| owned.get(&uid(&rs.metadata)).copied().unwrap_or(0))
            .sum();
        let current = status.observed_generation >= d.metadata.generation
            && status.updated_replicas.unwrap_or(0) == want;
        if have != usize::try_from(want).unwrap_or(0) || !current {
            return Ok(Err(format!(
                "deployment {name} owns {have} of {want} pods (rollout current: {current})"
            )));
        }
    }
    for s in &stateful {
        let name = s.metadata.name.clone().unwrap_or_default();
        let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = s.status.clone().unwrap_or_default();
        let have = owned.get(&uid(&s.metadata)).copied().unwrap_or(0);
        let current =
            status.current_revision == status.update_revision && status.updated_replicas.unwrap_or(0) == want;
        if have != usize::try_from(want).unwrap_or(0) || !current {
            return Ok(Err(format!(
                "statefulset {name} owns {have} of {want} pods (rollout current: {current})"
            )));
        }
    }
    Ok(Ok(pods.iter().map(|p| uid(&p.metadata)).collect()))
}
