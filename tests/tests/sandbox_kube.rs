//! The `kube` crate (as Triage uses it) against the sandbox: typed reads, paging, logs, events,
//! dry-run and real scale, rollout restart awaited through a watch, deletes, metrics.k8s.io.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams, Preconditions,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use triage_sandbox::Incident;
use triage_tests::TestSandbox;

const NS: &str = "streaming-analytics";

#[tokio::test]
async fn typed_reads_paging_logs_and_events() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let client = sb.kube_client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);

    let sp = pods.list(&ListParams::default().labels("app=stream-processor")).await?;
    assert_eq!(sp.items.len(), 6);
    let pod = &sp.items[0];
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let container = &status.container_statuses.unwrap_or_default()[0];
    assert!(container.ready);
    let limits =
        pod.spec.as_ref().and_then(|s| s.containers[0].resources.as_ref()).and_then(|r| r.limits.clone());
    assert_eq!(limits.and_then(|l| l.get("memory").cloned()).map(|q| q.0), Some("1024Mi".to_owned()));

    // Paging: 5 per page, following `continue`, yields every pod exactly once.
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(5);
    loop {
        let page = pods.list(&params).await?;
        assert!(page.items.len() <= 5);
        seen.extend(page.items.iter().filter_map(|p| p.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => {
                params = ListParams::default().limit(5).continue_token(&token)
            }
            _ => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (16, 16));

    let logs = pods
        .logs(&name, &LogParams { tail_lines: Some(10), timestamps: true, ..LogParams::default() })
        .await?;
    assert_eq!(logs.lines().count(), 10);
    assert!(logs.lines().all(|l| l.starts_with("20")), "timestamps first: {logs}");

    let missing = pods.get("no-such-pod").await.expect_err("must be 404");
    match missing {
        kube::Error::Api(status) => assert_eq!(status.code, 404),
        other => panic!("expected an API error, got {other:?}"),
    }

    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    assert_eq!(
        services.list(&ListParams::default()).await?.items.len(),
        5,
        "the four services and the guide's websocket-service"
    );
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), NS);
    assert_eq!(policies.list(&ListParams::default()).await?.items.len(), 2);
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(nodes.list(&ListParams::default()).await?.items.len(), 3);

    // Deleting a pod gracefully records a Killing event about it.
    pods.delete(&name, &DeleteParams::default()).await?;
    let events: Api<Event> = Api::namespaced(client, NS);
    let about = events.list(&ListParams::default().fields(&format!("involvedObject.name={name}"))).await?;
    assert!(about.items.iter().any(|e| e.reason.as_deref() == Some("Killing")), "{:?}", about.items);
    Ok(())
}

#[tokio::test]
async fn scale_dry_run_then_real_then_restart() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let client = sb.kube_client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);

    let patch = Patch::Merge(json!({"spec": {"replicas": 12}}));
    let dry: Scale =
        deployments.patch_scale("stream-processor", &PatchParams::default().dry_run(), &patch).await?;
    assert_eq!(dry.spec.and_then(|s| s.replicas), Some(12), "the dry run shows the change");
    let unchanged = deployments.get("stream-processor").await?;
    assert_eq!(unchanged.spec.and_then(|s| s.replicas), Some(6), "and changes nothing");

    let real: Scale = deployments.patch_scale("stream-processor", &PatchParams::default(), &patch).await?;
    assert_eq!(real.spec.and_then(|s| s.replicas), Some(12));
    let done =
        await_condition(deployments.clone(), "stream-processor", conditions::is_deployment_completed());
    tokio::time::timeout(Duration::from_secs(60), done).await??;
    let d = deployments.get("stream-processor").await?;
    assert_eq!(d.status.and_then(|s| s.ready_replicas), Some(12));

    let before = d.metadata.generation.unwrap_or_default();
    deployments.restart("websocket-server").await?;
    let restarted = deployments.get("websocket-server").await?;
    assert!(restarted.metadata.generation.unwrap_or_default() >= before);
    let annotations =
        restarted.spec.and_then(|s| s.template.metadata).and_then(|m| m.annotations).unwrap_or_default();
    assert!(annotations.keys().any(|k| k.ends_with("/restartedAt")), "{annotations:?}");
    let done =
        await_condition(deployments.clone(), "websocket-server", conditions::is_deployment_completed());
    tokio::time::timeout(Duration::from_secs(60), done).await??;

    // Invalid replicas are refused with 422 and change nothing.
    let bad = deployments
        .patch_scale(
            "stream-processor",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": -1}})),
        )
        .await
        .expect_err("negative replicas must be refused");
    match bad {
        kube::Error::Api(status) => assert_eq!(status.code, 422),
        other => panic!("expected an API error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn pod_and_node_metrics() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::HighCpu).await?;
    let client = sb.kube_client().await?;
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics");
    let pod_metrics: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &ApiResource::from_gvk_with_plural(&gvk, "pods"));
    let list = pod_metrics.list(&ListParams::default()).await?;
    assert_eq!(list.items.len(), 16);
    // High CPU: every stream-processor runs at its 1-core limit (reported in nanocores).
    for m in list
        .items
        .iter()
        .filter(|m| m.metadata.name.as_deref().is_some_and(|n| n.starts_with("stream-processor")))
    {
        let cpu = m.data["containers"][0]["usage"]["cpu"].as_str().unwrap_or_default();
        let nanos: f64 = cpu.trim_end_matches('n').parse()?;
        assert!(nanos > 0.9e9, "{cpu}");
    }
    let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "NodeMetrics");
    let node_metrics: Api<DynamicObject> =
        Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "nodes"));
    assert_eq!(node_metrics.list(&ListParams::default()).await?.items.len(), 3);
    Ok(())
}

#[tokio::test]
async fn created_workloads_through_kube() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let client = sb.kube_client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let checkout: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "checkout"},
        "spec": {"replicas": 2,
                 "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]},
                                                   {"key": "track", "operator": "NotIn", "values": ["canary"]}]},
                 "template": {"metadata": {"labels": {"tier": "web", "track": "stable"}},
                              "spec": {"containers": [{"name": "web", "image": "registry.example.com/fixtures/web:1.0"}]}}}
    }))?;
    let created = deployments.create(&PostParams::default(), &checkout).await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    let spec = created.spec.clone().unwrap_or_default();
    assert_eq!(spec.strategy.and_then(|s| s.type_).as_deref(), Some("RollingUpdate"), "defaulted");
    let again = deployments.create(&PostParams::default(), &checkout).await.expect_err("a duplicate");
    match again {
        kube::Error::Api(status) => assert_eq!((status.code, status.reason.as_str()), (409, "AlreadyExists")),
        other => panic!("expected 409, got {other:?}"),
    }
    let scale: Scale = deployments.get_scale("checkout").await?;
    assert_eq!(scale.status.map(|s| s.selector), Some(Some("tier in (web),track notin (canary)".to_owned())));
    let done = await_condition(deployments.clone(), "checkout", conditions::is_deployment_completed());
    tokio::time::timeout(Duration::from_secs(30), done).await??;

    // Pods belong to the deployment through its ReplicaSet's uid.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let listed = pods.list(&ListParams::default().labels("tier in (web),track notin (canary)")).await?;
    assert_eq!(listed.items.len(), 2);
    let rs_api: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(client.clone(), NS);
    for p in &listed.items {
        let owner = p.metadata.owner_references.clone().unwrap_or_default();
        let rs = rs_api.get(&owner[0].name).await?;
        assert_eq!(rs.metadata.uid.as_deref(), Some(owner[0].uid.as_str()));
        let up = rs.metadata.owner_references.unwrap_or_default();
        assert_eq!(
            (up[0].kind.as_str(), up[0].uid.as_str(), up[0].controller),
            ("Deployment", uid.as_str(), Some(true))
        );
    }

    // A delete that names another uid is refused, as a real API server refuses it.
    let victim = listed.items[0].metadata.name.clone().unwrap_or_default();
    let stale = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("not-this-pod".to_owned()), resource_version: None }),
        ..DeleteParams::default()
    };
    match pods.delete(&victim, &stale).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409);
            assert!(
                status.message.contains("Precondition failed: UID in precondition: not-this-pod"),
                "{}",
                status.message
            );
        }
        other => panic!("expected 409, got {other:?}"),
    }

    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let kafka = sets.get("kafka").await?;
    assert_eq!(kafka.spec.and_then(|s| s.replicas), Some(3));
    let broker = pods.get("kafka-0").await?;
    let owner = broker.metadata.owner_references.unwrap_or_default();
    assert_eq!((owner[0].kind.as_str(), Some(owner[0].uid.clone())), ("StatefulSet", kafka.metadata.uid));

    deployments.delete("checkout", &DeleteParams::background()).await?;
    assert!(
        rs_api
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .all(|rs| { rs.metadata.owner_references.iter().flatten().all(|o| o.uid != uid) }),
        "its ReplicaSets went with it"
    );
    Ok(())
}
