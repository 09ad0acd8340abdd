//! Fixtures created with real `kubectl` in the sandbox (`tests/fixtures/blast-radius.yaml`):
//! create, apply, apply again, delete; owner references from pod to controller; selectors by
//! expressions; scaling and deleting touch only what they own; the API server's refusals.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use triage_sandbox::Incident;
use triage_tests::TestSandbox;
use triage_tests::paths::blast_radius_fixture;

const NS: &str = "streaming-analytics";
const READY: Duration = Duration::from_secs(60);

async fn with_fixtures() -> anyhow::Result<TestSandbox> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let out = sb.apply_file(&blast_radius_fixture()).await?;
    for line in [
        "deployment.apps/checkout created",
        "deployment.apps/checkout-canary created",
        "statefulset.apps/cache created",
        "pod/debug-shell created",
    ] {
        anyhow::ensure!(out.contains(line), "{line} missing from: {out}");
    }
    sb.wait_pods_ready(NS, READY).await?;
    Ok(sb)
}

async fn json(sb: &TestSandbox, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = vec!["-n", NS];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    Ok(serde_json::from_str(&sb.kubectl(&all).await?)?)
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn name(o: &Value) -> String {
    o["metadata"]["name"].as_str().unwrap_or_default().to_owned()
}

fn uid(o: &Value) -> String {
    o["metadata"]["uid"].as_str().unwrap_or_default().to_owned()
}

/// The (kind, uid) of the object's controller.
fn controller(o: &Value) -> Option<(String, String)> {
    o["metadata"]["ownerReferences"].as_array()?.iter().find(|r| r["controller"] == true).map(|r| {
        (r["kind"].as_str().unwrap_or_default().to_owned(), r["uid"].as_str().unwrap_or_default().to_owned())
    })
}

/// Pod names by the name of the Deployment or StatefulSet owning them (through its ReplicaSet),
/// "" for bare pods: ownership as the cluster records it, not as labels suggest.
async fn pods_by_owner(sb: &TestSandbox) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for kind in ["deployments", "statefulsets"] {
        for o in items(&json(sb, &["get", kind]).await?) {
            owners.insert(uid(&o), name(&o));
        }
    }
    let rs_owner: BTreeMap<String, String> = items(&json(sb, &["get", "replicasets"]).await?)
        .iter()
        .filter_map(|rs| controller(rs).and_then(|(_, u)| owners.get(&u).map(|d| (uid(rs), d.clone()))))
        .collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in items(&json(sb, &["get", "pods"]).await?) {
        let owner = match controller(&p) {
            Some((kind, u)) if kind == "ReplicaSet" => rs_owner.get(&u).cloned().unwrap_or_default(),
            Some((_, u)) => owners.get(&u).cloned().unwrap_or_default(),
            None => String::new(),
        };
        out.entry(owner).or_default().insert(name(&p));
    }
    Ok(out)
}

fn pod_uids(list: &Value) -> BTreeMap<String, String> {
    items(list).iter().map(|p| (name(p), uid(p))).collect()
}

#[tokio::test]
async fn create_apply_apply_again_and_delete() -> anyhow::Result<()> {
    let sb = with_fixtures().await?;
    let again = sb.apply_file(&blast_radius_fixture()).await?;
    assert_eq!(again.lines().filter(|l| l.ends_with(" unchanged")).count(), 4, "{again}");

    // The same file with checkout at 3 replicas: client-side apply patches with the
    // last-applied annotation and only checkout is configured.
    let text = std::fs::read_to_string(blast_radius_fixture())?;
    let changed = text.replacen(
        "replicas: 2\n  selector:\n    matchExpressions",
        "replicas: 3\n  selector:\n    matchExpressions",
        1,
    );
    anyhow::ensure!(changed != text, "the fixture's checkout replica count moved");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("blast-radius-3.yaml");
    std::fs::write(&path, changed)?;
    let out = sb.apply_file(&path).await?;
    assert!(out.contains("deployment.apps/checkout configured"), "{out}");
    assert!(out.contains("deployment.apps/checkout-canary unchanged"), "{out}");
    sb.wait_pods_ready(NS, READY).await?;
    assert_eq!(pods_by_owner(&sb).await?.get("checkout").map(BTreeSet::len), Some(3));
    let d = json(&sb, &["get", "deployment", "checkout"]).await?;
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .is_some_and(|a| a.contains("\"replicas\":3")),
        "{}",
        d["metadata"]
    );

    let out = sb.kubectl(&["delete", "-f", path.to_str().unwrap_or_default()]).await?;
    for line in [
        "deployment.apps \"checkout\" deleted",
        "statefulset.apps \"cache\" deleted",
        "pod \"debug-shell\" deleted",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    sb.wait_pods_ready(NS, READY).await?;
    let left = pods_by_owner(&sb).await?;
    assert!(
        !left.contains_key("") && !left.contains_key("checkout") && !left.contains_key("cache"),
        "{left:?}"
    );
    assert_eq!(
        left.values().map(BTreeSet::len).sum::<usize>(),
        16,
        "only the platform's pods are left: {left:?}"
    );
    let rs = sb.kubectl(&["-n", NS, "get", "replicasets", "-o", "name"]).await?;
    assert!(!rs.contains("checkout"), "the ReplicaSets went with their deployments: {rs}");
    Ok(())
}

#[tokio::test]
async fn owner_references_chain_every_pod_to_its_controller() -> anyhow::Result<()> {
    let sb = with_fixtures().await?;
    let deployments: BTreeMap<String, Value> =
        items(&json(&sb, &["get", "deployments"]).await?).into_iter().map(|d| (name(&d), d)).collect();
    let sets: BTreeMap<String, Value> =
        items(&json(&sb, &["get", "replicasets"]).await?).into_iter().map(|r| (uid(&r), r)).collect();
    let cache = json(&sb, &["get", "statefulset", "cache"]).await?;
    let pods = items(&json(&sb, &["get", "pods"]).await?);
    let by_name: BTreeMap<String, &Value> = pods.iter().map(|p| (name(p), p)).collect();

    for (deployment, replicas) in [("checkout", 2), ("checkout-canary", 1)] {
        let d = &deployments[deployment];
        let mine: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                controller(p).and_then(|(_, rs)| sets.get(&rs)).and_then(controller)
                    == Some(("Deployment".to_owned(), uid(d)))
            })
            .collect();
        assert_eq!(mine.len(), replicas, "{deployment}'s pods");
        for p in mine {
            let (kind, rs_uid) = controller(p).unwrap_or_default();
            let rs = &sets[&rs_uid];
            assert_eq!(kind, "ReplicaSet");
            let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap_or_default();
            assert_eq!(name(rs), format!("{deployment}-{hash}"));
            assert!(
                name(p).starts_with(&format!("{}-", name(rs))) && name(p).len() == name(rs).len() + 6,
                "{}",
                name(p)
            );
            // The template's labels plus the ReplicaSet's hash, nothing else.
            let mut want = d["spec"]["template"]["metadata"]["labels"].clone();
            want["pod-template-hash"] = Value::from(hash);
            assert_eq!(p["metadata"]["labels"], want);
        }
    }
    for ordinal in 0..2 {
        let p = by_name[&format!("cache-{ordinal}")];
        assert_eq!(controller(p), Some(("StatefulSet".to_owned(), uid(&cache))));
        assert_eq!(p["metadata"]["labels"]["app"], "cache");
        assert_eq!(p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], format!("cache-{ordinal}"));
    }
    assert!(by_name["debug-shell"]["metadata"]["ownerReferences"].is_null(), "a bare pod has no owner");
    // The platform's brokers are a StatefulSet's too.
    let kafka = json(&sb, &["get", "statefulset", "kafka"]).await?;
    assert_eq!(controller(by_name["kafka-1"]), Some(("StatefulSet".to_owned(), uid(&kafka))));

    // Labels overlap on purpose: checkout's own selector matches the StatefulSet's pods and the
    // bare pod too (NotIn holds where `track` is absent). Only ownership tells them apart.
    let selected = sb
        .kubectl(&["-n", NS, "get", "pods", "-l", "tier in (web),track notin (canary)", "-o", "name"])
        .await?;
    let selected: BTreeSet<String> =
        selected.lines().map(|l| l.trim_start_matches("pod/").to_owned()).collect();
    let owned = pods_by_owner(&sb).await?;
    let checkout = owned.get("checkout").cloned().unwrap_or_default();
    let mut expected: BTreeSet<String> = checkout.clone();
    expected.extend(["cache-0", "cache-1", "debug-shell"].map(str::to_owned));
    assert_eq!(selected, expected);
    assert_eq!(
        selected.iter().filter(|p| checkout.contains(*p)).count(),
        2,
        "exactly checkout's 2 pods are its own"
    );
    let canary =
        sb.kubectl(&["-n", NS, "get", "pods", "-l", "app=checkout,track=canary", "-o", "name"]).await?;
    assert_eq!(canary.lines().count(), 1, "{canary}");

    // The Scale subresource reports the whole selector as a string, as an autoscaler reads it.
    let scale = sb
        .kubectl(&["get", "--raw", "/apis/apps/v1/namespaces/streaming-analytics/deployments/checkout/scale"])
        .await?;
    let scale: Value = serde_json::from_str(&scale)?;
    assert_eq!(scale["status"]["selector"], "tier in (web),track notin (canary)");
    let wide = sb.kubectl(&["-n", NS, "get", "statefulsets", "-o", "wide"]).await?;
    assert!(wide.lines().next().is_some_and(|h| h.contains("READY") && h.contains("IMAGES")), "{wide}");
    assert!(wide.lines().any(|l| l.starts_with("cache ") && l.contains("2/2")), "{wide}");
    Ok(())
}

#[tokio::test]
async fn scaling_changes_only_the_scaled_workloads_pods() -> anyhow::Result<()> {
    let sb = with_fixtures().await?;
    let before = pod_uids(&json(&sb, &["get", "pods"]).await?);
    let out = sb.kubectl(&["-n", NS, "scale", "deployment", "checkout", "--replicas=3"]).await?;
    assert!(out.contains("deployment.apps/checkout scaled"), "{out}");
    sb.wait_pods_ready(NS, READY).await?;
    let after = pod_uids(&json(&sb, &["get", "pods"]).await?);
    let owned = pods_by_owner(&sb).await?;
    let checkout = owned.get("checkout").cloned().unwrap_or_default();
    assert_eq!(checkout.len(), 3);
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(checkout.contains(added[0]));
    for (pod, id) in &before {
        assert_eq!(after.get(pod), Some(id), "{pod} was left as it was");
    }

    let out = sb.kubectl(&["-n", NS, "scale", "statefulset", "cache", "--replicas=3"]).await?;
    assert!(out.contains("statefulset.apps/cache scaled"), "{out}");
    sb.wait_pods_ready(NS, READY).await?;
    let now = pod_uids(&json(&sb, &["get", "pods"]).await?);
    assert!(now.contains_key("cache-2"));
    assert_eq!(now.len(), after.len() + 1);
    Ok(())
}

#[tokio::test]
async fn deleted_statefulset_pod_returns_under_its_name_and_a_bare_pod_does_not() -> anyhow::Result<()> {
    let sb = with_fixtures().await?;
    let before = json(&sb, &["get", "pod", "cache-1"]).await?;
    sb.kubectl(&["-n", NS, "delete", "pod", "cache-1"]).await?;
    sb.wait_pods_ready(NS, READY).await?;
    let after = json(&sb, &["get", "pod", "cache-1"]).await?;
    assert_ne!(uid(&after), uid(&before), "a new pod under the same name");
    assert_eq!(controller(&after), controller(&before));

    let canary_before = pods_by_owner(&sb).await?.get("checkout-canary").cloned().unwrap_or_default();
    let victim = canary_before.iter().next().cloned().unwrap_or_default();
    sb.kubectl(&["-n", NS, "delete", "pod", &victim, "--wait=false"]).await?;
    sb.kubectl(&["-n", NS, "delete", "pod", "debug-shell"]).await?;
    sb.wait_pods_ready(NS, READY).await?;
    let owned = pods_by_owner(&sb).await?;
    let canary = owned.get("checkout-canary").cloned().unwrap_or_default();
    assert!(canary.len() == 1 && !canary.contains(&victim), "{canary:?} replaced {victim}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ok, _, err) = sb.kubectl_raw(&["-n", NS, "get", "pod", "debug-shell"]).await?;
    assert!(!ok && err.contains("pods \"debug-shell\" not found"), "a bare pod stays deleted: {err}");
    Ok(())
}

async fn write(dir: &Path, file: &str, text: &str) -> anyhow::Result<String> {
    let path = dir.join(file);
    tokio::fs::write(&path, text).await?;
    Ok(path.to_string_lossy().into_owned())
}

#[tokio::test]
async fn the_api_server_refuses_what_a_real_one_refuses() -> anyhow::Result<()> {
    let sb = with_fixtures().await?;
    let dir = tempfile::tempdir()?;
    let mismatch = write(
        dir.path(),
        "mismatch.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: mismatched, namespace: streaming-analytics}\n\
         spec:\n  selector: {matchLabels: {app: checkout, track: canary}}\n  template:\n    metadata: {labels: {app: checkout, track: stable}}\n\
         \x20   spec: {containers: [{name: web, image: registry.example.com/fixtures/web:1.0}]}\n",
    )
    .await?;
    let (ok, _, err) = sb.kubectl_raw(&["apply", "-f", &mismatch]).await?;
    assert!(!ok);
    assert!(
        err.contains("The Deployment \"mismatched\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"checkout\", \"track\":\"stable\"}: `selector` does not match template `labels`"),
        "{err}"
    );
    // The same refusal as the API answers it: 422, reason Invalid, the field in the causes.
    let body = sb.kubectl(&["create", "-f", &mismatch, "--dry-run=client", "-o", "json"]).await?;
    let client = sb.kube_client().await?;
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(client, NS);
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_str(&body)?;
    match api.create(&kube::api::PostParams::default(), &d).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"), "{status:?}");
        }
        other => panic!("expected 422, got {other:?}"),
    }

    let (ok, _, err) =
        sb.kubectl_raw(&["create", "-f", blast_radius_fixture().to_str().unwrap_or_default()]).await?;
    assert!(!ok);
    assert!(
        err.contains("Error from server (AlreadyExists)")
            && err.contains("deployments.apps \"checkout\" already exists"),
        "{err}"
    );
    assert!(err.contains("pods \"debug-shell\" already exists"), "{err}");

    let typo = write(
        dir.path(),
        "typo.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: typo, namespace: streaming-analytics}\n\
         spec: {containers: [{name: shell, image: registry.example.com/fixtures/toolbox:1.0, imagePulPolicy: Always}]}\n",
    )
    .await?;
    let (ok, _, err) = sb.kubectl_raw(&["apply", "-f", &typo]).await?;
    assert!(
        !ok && err.contains("strict decoding error: unknown field \"spec.containers[0].imagePulPolicy\""),
        "{err}"
    );
    let bad_name = write(
        dir.path(),
        "name.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: Debug_Shell, namespace: streaming-analytics}\n\
         spec: {containers: [{name: shell, image: registry.example.com/fixtures/toolbox:1.0}]}\n",
    )
    .await?;
    let (ok, _, err) = sb.kubectl_raw(&["apply", "-f", &bad_name]).await?;
    assert!(
        !ok && err.contains("metadata.name: Invalid value: \"Debug_Shell\": a lowercase RFC 1123 subdomain"),
        "{err}"
    );
    Ok(())
}

/// Every kubectl the machine has (1.27 to 1.33 beside the dispatcher) validates against the
/// sandbox by default: 1.27 and 1.28 through `/openapi/v2`, later ones through `/openapi/v3`.
#[tokio::test]
async fn every_kubectl_version_creates_and_applies_with_validation_on() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let dir = tempfile::tempdir()?;
    let versions: Vec<std::path::PathBuf> = (27..=33)
        .map(|minor| Path::new("/usr/lib/google-cloud-sdk/bin").join(format!("kubectl.1.{minor}")))
        .filter(|p| p.exists())
        .collect();
    if versions.is_empty() {
        eprintln!("no versioned kubectl binaries here; only the one on PATH is covered by the other tests");
        return Ok(());
    }
    for binary in versions {
        let minor = binary.extension().and_then(|e| e.to_str()).unwrap_or_default().to_owned();
        let manifest = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: v{minor}, namespace: streaming-analytics}}\n\
             spec:\n  replicas: REPLICAS\n  selector: {{matchExpressions: [{{key: kubectl, operator: In, values: ['{minor}']}}]}}\n\
             \x20 template:\n    metadata: {{labels: {{kubectl: '{minor}'}}}}\n\
             \x20   spec: {{containers: [{{name: web, image: registry.example.com/fixtures/web:1.0}}]}}\n"
        );
        let run = |replicas: &str| {
            let file = dir.path().join(format!("v{minor}-{replicas}.yaml"));
            let text = manifest.replace("REPLICAS", replicas);
            let cache = dir.path().join(format!("cache-{minor}"));
            let kubeconfig = sb.kubeconfig.clone();
            let binary = binary.clone();
            async move {
                tokio::fs::write(&file, text).await?;
                let out = tokio::process::Command::new(&binary)
                    .arg(format!("--kubeconfig={}", kubeconfig.display()))
                    .arg(format!("--cache-dir={}", cache.display()))
                    .args(["apply", "-f"])
                    .arg(&file)
                    .output()
                    .await?;
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                anyhow::ensure!(out.status.success(), "{} apply failed: {text}", binary.display());
                anyhow::Ok(text)
            }
        };
        assert!(run("1").await?.contains(&format!("deployment.apps/v{minor} created")));
        assert!(run("2").await?.contains(&format!("deployment.apps/v{minor} configured")));
    }
    sb.wait_pods_ready(NS, READY).await?;
    Ok(())
}
