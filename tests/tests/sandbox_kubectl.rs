//! Real `kubectl` against the sandbox's Kubernetes API: each command's output is checked.

use std::time::Duration;

use triage_sandbox::Incident;
use triage_tests::TestSandbox;

async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..240 {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

fn data_lines(output: &str) -> Vec<&str> {
    output.lines().skip(1).filter(|l| !l.trim().is_empty()).collect()
}

#[tokio::test]
async fn get_describe_and_logs() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let out = sb.kubectl(&["get", "pods", "-o", "wide"]).await?;
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"] {
        assert!(header.contains(column), "missing column {column}: {header}");
    }
    let rows = data_lines(&out);
    assert_eq!(rows.len(), 3 + 6 + 4 + 3, "{out}");
    assert!(rows.iter().all(|r| r.contains("1/1") && r.contains("Running")), "{out}");
    assert_eq!(rows.iter().filter(|r| r.starts_with("stream-processor-")).count(), 6);
    assert!(rows.iter().any(|r| r.contains("node-2")), "pods spread over nodes: {out}");

    let pod = rows
        .iter()
        .find(|r| r.starts_with("stream-processor-"))
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no stream-processor pod"))?
        .to_owned();
    let described = sb.kubectl(&["describe", "pod", &pod]).await?;
    assert!(described.contains(&format!("Name:             {pod}")), "{described}");
    assert!(described.contains("Controlled By:  ReplicaSet/stream-processor-"), "{described}");
    assert!(described.contains("memory:  1Gi"), "limits shown: {described}");
    assert!(described.contains("Ready             True"), "{described}");

    let logs = sb.kubectl(&["logs", &pod, "--tail=100"]).await?;
    assert_eq!(logs.lines().count(), 100, "tail=100 gives exactly 100 lines");
    assert!(logs.lines().all(|l| l.starts_with("INFO")), "{logs}");

    let (ok, _, err) = sb.kubectl_raw(&["get", "pod", "no-such-pod"]).await?;
    assert!(!ok);
    assert!(err.contains("pods \"no-such-pod\" not found"), "{err}");
    Ok(())
}

#[tokio::test]
async fn scale_restart_and_rollout_status() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let out = sb.kubectl(&["scale", "deployment", "stream-processor", "--replicas=9"]).await?;
    assert!(out.contains("deployment.apps/stream-processor scaled"), "{out}");
    eventually("9 ready stream-processors", || async {
        let ready = sb
            .kubectl(&["get", "deployment", "stream-processor", "-o", "jsonpath={.status.readyReplicas}"])
            .await?;
        Ok(ready.trim() == "9")
    })
    .await?;
    let pods = sb.kubectl(&["get", "pods", "-l", "app=stream-processor"]).await?;
    assert_eq!(data_lines(&pods).len(), 9, "{pods}");

    let before = sb.kubectl(&["get", "pods", "-l", "app=ml-inference", "-o", "name"]).await?;
    let out = sb.kubectl(&["rollout", "restart", "deployment", "ml-inference"]).await?;
    assert!(out.contains("deployment.apps/ml-inference restarted"), "{out}");
    let status = sb.kubectl(&["rollout", "status", "deployment", "ml-inference", "--timeout=90s"]).await?;
    assert!(status.contains("deployment \"ml-inference\" successfully rolled out"), "{status}");
    eventually("old ml-inference pods gone", || async {
        let after = sb.kubectl(&["get", "pods", "-l", "app=ml-inference", "-o", "name"]).await?;
        Ok(after.lines().count() == 4 && after.lines().all(|p| !before.contains(p)))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn top_pods_and_nodes() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let pods = sb.kubectl(&["top", "pods"]).await?;
    assert!(pods.lines().next().unwrap_or_default().contains("CPU(cores)"), "{pods}");
    assert_eq!(data_lines(&pods).len(), 16, "{pods}");
    assert!(data_lines(&pods).iter().all(|l| l.contains('m') && l.contains("Mi")), "{pods}");
    let nodes = sb.kubectl(&["top", "nodes"]).await?;
    assert!(nodes.contains("CPU(%)") && nodes.contains("MEMORY(%)"), "{nodes}");
    assert_eq!(data_lines(&nodes).len(), 3, "{nodes}");
    assert!(data_lines(&nodes).iter().all(|l| l.contains('%')), "{nodes}");
    Ok(())
}

#[tokio::test]
async fn network_policies_and_services() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let out = sb.kubectl(&["get", "networkpolicies"]).await?;
    assert!(out.contains("allow-stream-processor-to-kafka") && out.contains("app=kafka"), "{out}");
    assert!(out.contains("default-deny-ingress"), "{out}");
    let svc = sb.kubectl(&["describe", "service", "websocket-server"]).await?;
    assert!(svc.contains("Selector:          app=websocket-server"), "{svc}");
    assert!(svc.contains("Type:              LoadBalancer"), "{svc}");
    assert!(svc.contains("connection-idle-timeout: 60"), "annotations shown: {svc}");
    assert!(svc.contains(":8080"), "endpoints listed: {svc}");
    Ok(())
}

#[tokio::test]
async fn force_delete_replaces_the_pod() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let names = sb.kubectl(&["get", "pods", "-l", "app=websocket-server", "-o", "name"]).await?;
    let victim = names.lines().next().ok_or_else(|| anyhow::anyhow!("no pods"))?.to_owned();
    let short = victim.trim_start_matches("pod/").to_owned();
    let out = sb.kubectl(&["delete", "pod", &short, "--force", "--grace-period=0"]).await?;
    assert!(out.contains(&format!("pod \"{short}\" force deleted")), "{out}");
    let (ok, _, err) = sb.kubectl_raw(&["get", "pod", &short]).await?;
    assert!(!ok && err.contains("not found"), "{err}");
    eventually("a replacement pod", || async {
        let now = sb.kubectl(&["get", "pods", "-l", "app=websocket-server", "-o", "name"]).await?;
        Ok(now.lines().count() == 3 && !now.contains(&victim))
    })
    .await?;
    Ok(())
}
