//! Triage's Kubernetes views against the sandbox, each compared with what real `kubectl` says
//! about the same objects; validation and the namespace allowlist refuse bad requests first.

use std::collections::BTreeSet;

use serde_json::Value;
use triage_sandbox::Incident;
use triage_shared::k8s::{
    DeploymentSummary, EventSummary, NetworkPolicySummary, NodeUsage, PodDetail, PodList, PodLogs, PodUsage,
    RolloutState, ServiceSummary,
};
use triage_shared::{ErrorBody, ErrorKind};
use triage_tests::{TestApp, TestSandbox};

const NS: &str = "/api/k8s/namespaces/streaming-analytics";

async fn kubectl_json(sb: &TestSandbox, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    Ok(serde_json::from_str(&sb.kubectl(&all).await?)?)
}

#[tokio::test]
async fn views_match_kubectl() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::MemoryLeak).await?;
    let app = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;

    // Pods: same names, nodes, IPs and restart counts as `kubectl get pods -o json`.
    let ours: PodList = app.get_json(&format!("{NS}/pods")).await?;
    let theirs = kubectl_json(&sb, &["get", "pods"]).await?;
    let items = theirs["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(ours.items.len(), items.len());
    for k in &items {
        let name = k["metadata"]["name"].as_str().unwrap_or_default();
        let p =
            ours.items.iter().find(|p| p.name == name).ok_or_else(|| anyhow::anyhow!("{name} missing"))?;
        assert_eq!(p.node.as_deref(), k["spec"]["nodeName"].as_str(), "{name}");
        assert_eq!(p.ip.as_deref(), k["status"]["podIP"].as_str(), "{name}");
        assert_eq!(p.status, "Running", "{name}");
        assert_eq!(p.ready_containers, 1);
    }

    // Label selector and paging.
    let sp: PodList = app.get_json(&format!("{NS}/pods?selector=app%3Dstream-processor")).await?;
    assert_eq!(sp.items.len(), 6);
    let page: PodList = app.get_json(&format!("{NS}/pods?limit=5")).await?;
    assert_eq!(page.items.len(), 5);
    let token = page.continue_token.ok_or_else(|| anyhow::anyhow!("no continue token"))?;
    let next: PodList = app.get_json(&format!("{NS}/pods?limit=5&continue={token}")).await?;
    assert!(next.items.iter().all(|p| !page.items.contains(p)), "pages do not overlap");

    // Pod detail like `kubectl describe pod`.
    let name = sp.items[0].name.clone();
    let detail: PodDetail = app.get_json(&format!("{NS}/pods/{name}")).await?;
    let described = sb.kubectl(&["describe", "pod", &name]).await?;
    let owner = detail.controlled_by.clone().unwrap_or_default();
    assert!(described.contains(&format!("Controlled By:  {owner}")), "{owner} vs\n{described}");
    assert_eq!(detail.containers[0].limits.get("memory").map(String::as_str), Some("1024Mi"));
    assert!(described.contains("memory:  1Gi"));
    assert!(detail.conditions.iter().any(|c| c.kind == "Ready" && c.status == "True"));

    // Logs: our tail is a contiguous run of what kubectl prints right after.
    let logs: PodLogs = app.get_json(&format!("{NS}/pods/{name}/logs?tail=40")).await?;
    assert_eq!(logs.lines.len(), 40);
    let kubectl_logs = sb.kubectl(&["logs", &name, "--tail=80"]).await?;
    let theirs: Vec<&str> = kubectl_logs.lines().collect();
    let start = theirs
        .iter()
        .position(|l| *l == logs.lines[0])
        .ok_or_else(|| anyhow::anyhow!("first line not in kubectl's tail"))?;
    for (i, line) in logs.lines.iter().enumerate() {
        assert_eq!(theirs.get(start + i).copied(), Some(line.as_str()));
    }

    // Deployments with their rollout state.
    let deployments: Vec<DeploymentSummary> = app.get_json(&format!("{NS}/deployments")).await?;
    let theirs = kubectl_json(&sb, &["get", "deployments"]).await?;
    assert_eq!(deployments.len(), theirs["items"].as_array().map_or(0, Vec::len));
    // The loop below compares each one: it must have something to compare.
    assert!(!deployments.is_empty(), "no deployments listed: {theirs}");
    for d in &deployments {
        let k = theirs["items"]
            .as_array()
            .and_then(|i| i.iter().find(|x| x["metadata"]["name"] == d.name.as_str()))
            .cloned()
            .unwrap_or_default();
        assert_eq!(i64::from(d.desired), k["spec"]["replicas"].as_i64().unwrap_or(-1), "{}", d.name);
        assert_eq!(i64::from(d.ready), k["status"]["readyReplicas"].as_i64().unwrap_or(-1), "{}", d.name);
        assert_eq!(d.rollout, RolloutState::Complete, "{}", d.name);
    }

    // Top: the same pods and nodes as kubectl top, with requests and limits.
    let top: Vec<PodUsage> = app.get_json(&format!("{NS}/top/pods")).await?;
    let kubectl_top = sb.kubectl(&["top", "pods", "--no-headers"]).await?;
    let theirs: BTreeSet<&str> = kubectl_top.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let ours: BTreeSet<&str> = top.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(ours, theirs);
    let leaking = top
        .iter()
        .find(|p| p.name.starts_with("stream-processor"))
        .ok_or_else(|| anyhow::anyhow!("no sp"))?;
    assert_eq!(leaking.memory_limit_bytes, Some(1024.0 * 1024.0 * 1024.0));
    assert_eq!(leaking.cpu_request_millicores, Some(500.0));
    let nodes: Vec<NodeUsage> = app.get_json("/api/k8s/nodes/top").await?;
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.cpu_allocatable_millicores == Some(7800.0) && n.cpu_millicores > 0.0));

    // Services (with annotations) and network policies.
    let services: Vec<ServiceSummary> = app.get_json(&format!("{NS}/services")).await?;
    let ws =
        services.iter().find(|s| s.name == "websocket-server").ok_or_else(|| anyhow::anyhow!("no ws svc"))?;
    assert_eq!(ws.kind, "LoadBalancer");
    assert!(ws.annotations.keys().any(|k| k.contains("idle-timeout")));
    let policies: Vec<NetworkPolicySummary> = app.get_json(&format!("{NS}/networkpolicies")).await?;
    let kubectl_np = sb.kubectl(&["get", "networkpolicies", "--no-headers"]).await?;
    assert_eq!(policies.len(), kubectl_np.lines().count());

    // Events: warnings first.
    let events: Vec<EventSummary> = app.get_json(&format!("{NS}/events")).await?;
    let first_normal = events.iter().position(|e| e.kind == "Normal").unwrap_or(events.len());
    assert!(events[first_normal..].iter().all(|e| e.kind == "Normal"), "warnings come first");
    Ok(())
}

async fn error_of(app: &TestApp, path: &str) -> anyhow::Result<(u16, ErrorBody)> {
    let response = app.http.get(app.url(path)).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn bad_names_and_namespaces_are_refused_first() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;
    let (status, body) = error_of(&app, &format!("{NS}/pods/Not_A_Name")).await?;
    assert_eq!(status, 400);
    assert!(body.error.message.contains("not a valid name"), "{}", body.error.message);
    let (status, body) = error_of(&app, &format!("{NS}/pods/..%2F..%2Fsecrets")).await?;
    assert_eq!(status, 400, "{}", body.error.message);
    let (status, body) = error_of(&app, "/api/k8s/namespaces/kube-system/pods").await?;
    assert_eq!(status, 403);
    assert_eq!(body.error.kind, ErrorKind::Forbidden);
    assert!(body.error.message.contains("allowlist"), "{}", body.error.message);
    let (status, body) = error_of(&app, &format!("{NS}/pods/no-such-pod")).await?;
    assert_eq!(status, 404);
    assert!(body.error.message.contains("no-such-pod"), "{}", body.error.message);

    // Without a [kubernetes] section the views say so.
    let bare = TestApp::start().await?;
    let (status, body) = error_of(&bare, &format!("{NS}/pods")).await?;
    assert_eq!(status, 503);
    assert!(body.error.message.contains("not configured"), "{}", body.error.message);
    Ok(())
}
