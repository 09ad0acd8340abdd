//! Guarded actions end to end against the sandbox: the dry run shows the change and changes
//! nothing; the real run changes the sandbox (checked with real kubectl); destructive runs need
//! the typed name; readers are refused; every real run has an audit row with its outcome.

use serde_json::json;
use triage_sandbox::Incident;
use triage_shared::actions::{ActionOutcome, AuditEntry, AuditOutcome};
use triage_tests::{Postgres, TestApp, TestSandbox};

const NS: &str = "/api/k8s/namespaces/streaming-analytics";

async fn replicas(sb: &TestSandbox, deployment: &str) -> anyhow::Result<String> {
    Ok(sb
        .kubectl(&["get", "deployment", deployment, "-o", "jsonpath={.spec.replicas}"])
        .await?
        .trim()
        .to_owned())
}

#[tokio::test]
async fn scale_dry_run_then_real_with_audit() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let path = format!("{NS}/deployments/stream-processor/scale");

    let (status, body) = app.post_json(&path, &json!({"replicas": 12, "dry_run": true})).await?;
    assert_eq!(status, 200, "{body}");
    let dry: ActionOutcome = serde_json::from_value(body)?;
    assert!(dry.dry_run);
    assert_eq!(dry.summary, "replicas 6 → 12");
    assert!(!dry.needs_confirmation, "scaling up is not destructive");
    assert_eq!(dry.kubectl, "kubectl -n streaming-analytics scale deployment/stream-processor --replicas=12");
    assert_eq!(replicas(&sb, "stream-processor").await?, "6", "the dry run changed nothing");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert!(audit.is_empty(), "dry runs are not audited as actions");

    let (status, body) = app.post_json(&path, &json!({"replicas": 12})).await?;
    assert_eq!(status, 200, "{body}");
    let real: ActionOutcome = serde_json::from_value(body)?;
    assert_eq!(replicas(&sb, "stream-processor").await?, "12");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit.len(), 1);
    assert_eq!(Some(audit[0].id), real.audit_id);
    assert_eq!(audit[0].action, "scale");
    assert_eq!(audit[0].target, "deployment/streaming-analytics/stream-processor");
    assert_eq!(audit[0].outcome, AuditOutcome::Succeeded);
    assert_eq!(audit[0].dry_run_summary, "replicas 6 → 12");
    assert_eq!(audit[0].params["replicas"], 12);
    assert_eq!(audit[0].subject, "local");

    // Scaling down is destructive: refused without the typed name, done with it.
    let (status, body) = app.post_json(&path, &json!({"replicas": 3})).await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("type the target's name"),
        "{body}"
    );
    assert_eq!(replicas(&sb, "stream-processor").await?, "12");
    let (status, _) = app.post_json(&path, &json!({"replicas": 3, "confirm": "websocket-server"})).await?;
    assert_eq!(status, 400, "the wrong name does not confirm");
    let (status, body) = app.post_json(&path, &json!({"replicas": 3, "confirm": "stream-processor"})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(replicas(&sb, "stream-processor").await?, "3");

    // Invalid values are refused by Triage, and Kubernetes's own 404 is mapped.
    let (status, _) = app.post_json(&path, &json!({"replicas": -1})).await?;
    assert_eq!(status, 400);
    let (status, body) =
        app.post_json(&format!("{NS}/deployments/no-such-deployment/scale"), &json!({"replicas": 1})).await?;
    assert_eq!(status, 404, "{body}");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit.len(), 2, "refused requests leave no action in the audit log");
    Ok(())
}

#[tokio::test]
async fn restart_and_delete_need_confirmation() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::MemoryLeak).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;

    let restart = format!("{NS}/deployments/ml-inference/restart");
    let (status, body) = app.post_json(&restart, &json!({"dry_run": true})).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body["needs_confirmation"].as_bool().unwrap_or(false));
    assert_eq!(body["kubectl"], "kubectl -n streaming-analytics rollout restart deployment/ml-inference");
    let annotations = sb
        .kubectl(&[
            "get",
            "deployment",
            "ml-inference",
            "-o",
            "jsonpath={.spec.template.metadata.annotations}",
        ])
        .await?;
    assert!(!annotations.contains("restartedAt"), "the dry run changed nothing: {annotations}");
    let (status, _) = app.post_json(&restart, &json!({})).await?;
    assert_eq!(status, 400, "a restart needs the typed name");
    let (status, body) = app.post_json(&restart, &json!({"confirm": "ml-inference"})).await?;
    assert_eq!(status, 200, "{body}");
    let out = sb.kubectl(&["rollout", "status", "deployment/ml-inference", "--timeout=90s"]).await?;
    assert!(out.contains("successfully rolled out"), "{out}");

    let pods = sb
        .kubectl(&["get", "pods", "-l", "app=websocket-server", "-o", "jsonpath={.items[0].metadata.name}"])
        .await?;
    let pod = pods.trim().to_owned();
    let delete = format!("{NS}/pods/{pod}/delete");
    let (status, body) = app.post_json(&delete, &json!({"force": true, "dry_run": true})).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body["summary"].as_str().unwrap_or_default().contains("replaces it"), "{body}");
    assert_eq!(
        body["kubectl"],
        format!("kubectl -n streaming-analytics delete pod {pod} --force --grace-period=0")
    );
    sb.kubectl(&["get", "pod", &pod]).await?; // still there after the dry run
    let (status, body) = app.post_json(&delete, &json!({"force": true, "confirm": pod})).await?;
    assert_eq!(status, 200, "{body}");
    let (ok, _, _) = sb.kubectl_raw(&["get", "pod", &pod]).await?;
    assert!(!ok, "the pod is gone");

    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["delete-pod", "restart"], "newest first");
    assert!(audit.iter().all(|e| e.outcome == AuditOutcome::Succeeded && e.finished_at.is_some()));
    Ok(())
}

#[tokio::test]
async fn readers_csrf_and_bad_targets_are_refused_before_kubernetes() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let reader = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;
    let (status, body) = reader
        .post_json(&format!("{NS}/deployments/stream-processor/scale"), &json!({"replicas": 9}))
        .await?;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["kind"], "forbidden");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("operator"), "{body}");
    assert_eq!(replicas(&sb, "stream-processor").await?, "6");
    let whoami: serde_json::Value = reader.get_json("/api/whoami").await?;
    assert_eq!(whoami["role"], "reader");

    let operator = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    // A state-changing request without the console's CSRF header.
    let response = operator
        .http
        .post(operator.url(&format!("{NS}/deployments/stream-processor/scale")))
        .json(&json!({"replicas": 9}))
        .send()
        .await?;
    assert_eq!(response.status(), 403);
    assert_eq!(replicas(&sb, "stream-processor").await?, "6");

    let (status, _) =
        operator.post_json(&format!("{NS}/deployments/Bad_Name/scale"), &json!({"replicas": 1})).await?;
    assert_eq!(status, 400);
    let (status, _) = operator
        .post_json("/api/k8s/namespaces/kube-system/deployments/x/scale", &json!({"replicas": 1}))
        .await?;
    assert_eq!(status, 403);
    let audit: Vec<AuditEntry> = operator.get_json("/api/audit").await?;
    assert!(audit.is_empty());
    Ok(())
}

#[tokio::test]
async fn audit_log_in_postgres() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let mut settings =
        triage_tests::app::kubernetes_settings(&sb.kubeconfig, triage_shared::actions::Role::Operator);
    settings.store.postgres_url = Some(pg.conninfo("postgres").into());
    let app = TestApp::start_with(settings).await?;
    let (status, body) =
        app.post_json(&format!("{NS}/deployments/websocket-server/scale"), &json!({"replicas": 4})).await?;
    assert_eq!(status, 200, "{body}");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, AuditOutcome::Succeeded);
    // The row is in PostgreSQL itself.
    let client = pg.connect("postgres").await?;
    let row = client.query_one("SELECT action, outcome FROM triage_audit", &[]).await?;
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("scale".to_owned(), "succeeded".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn forbidden_by_kubernetes_rbac_names_the_verb_and_resource() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    // kubectl as the sandbox's read-only user is refused by the API server.
    let (ok, _, err) = sb
        .kubectl_raw(&[
            "--context",
            "triage-sandbox-viewer",
            "scale",
            "deployment/stream-processor",
            "--replicas=2",
        ])
        .await?;
    assert!(!ok && err.contains("forbidden"), "{err}");

    // Triage connected as that user: an operator in Triage, but Kubernetes says no.
    let mut settings =
        triage_tests::app::kubernetes_settings(&sb.kubeconfig, triage_shared::actions::Role::Operator);
    if let Some(k) = settings.kubernetes.as_mut() {
        k.context = Some("triage-sandbox-viewer".to_owned());
    }
    let app = TestApp::start_with(settings).await?;
    let pods: serde_json::Value = app.get_json(&format!("{NS}/pods")).await?;
    assert_eq!(pods["items"].as_array().map_or(0, Vec::len), 16, "reads still work");
    let (status, body) =
        app.post_json(&format!("{NS}/deployments/stream-processor/scale"), &json!({"replicas": 2})).await?;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["kind"], "forbidden");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("forbidden:"), "{message}");
    assert!(message.contains("scale") && message.contains("deployment stream-processor"), "{message}");
    assert!(
        message.contains("cannot patch resource \"deployments/scale\""),
        "the API's own words: {message}"
    );
    assert_eq!(replicas(&sb, "stream-processor").await?, "6");
    Ok(())
}

#[tokio::test]
async fn emergency_restart_restores_the_recorded_counts() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::MemoryLeak).await?;
    // Not the manifest's numbers: the sequence must restore what it recorded, not constants.
    sb.kubectl(&["scale", "deployment", "stream-processor", "--replicas=9"]).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let before = sb.kubectl(&["get", "pods", "-o", "name"]).await?;
    let path = format!("{NS}/emergency-restart");
    let order = json!(["stream-processor", "ml-inference", "websocket-server"]);

    let (status, plan) = app.post_json(&path, &json!({"deployments": order, "dry_run": true})).await?;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        plan["recorded"],
        json!([["stream-processor", 9], ["ml-inference", 4], ["websocket-server", 3]])
    );
    let steps: Vec<String> = plan["steps"]
        .as_array()
        .map(|s| s.iter().map(|x| x["text"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(steps.first().map(String::as_str), Some("scale stream-processor to 0"));
    assert!(steps.contains(&"scale stream-processor back to 9".to_owned()), "{steps:?}");
    assert_eq!(replicas(&sb, "stream-processor").await?, "9", "the plan changed nothing");

    let (status, _) = app.post_json(&path, &json!({"deployments": order})).await?;
    assert_eq!(status, 400, "needs the namespace typed");
    let (status, job) = app
        .post_json(
            &path,
            &json!({"deployments": order, "confirm": "streaming-analytics", "shutdown_wait_secs": 10, "rollout_timeout_secs": 90}),
        )
        .await?;
    assert_eq!(status, 200, "{job}");
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    let mut finished = serde_json::Value::Null;
    for _ in 0..240 {
        let j: serde_json::Value = app.get_json(&format!("/api/jobs/{id}")).await?;
        if j["finished"] == true {
            finished = j;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(finished["error"], serde_json::Value::Null, "{finished}");
    assert!(
        finished["steps"].as_array().is_some_and(|s| s.iter().all(|x| x["state"] == "done")),
        "{finished}"
    );
    assert_eq!(replicas(&sb, "stream-processor").await?, "9");
    assert_eq!(replicas(&sb, "ml-inference").await?, "4");
    assert_eq!(replicas(&sb, "websocket-server").await?, "3");
    let after = sb
        .kubectl(&[
            "get",
            "pods",
            "-o",
            "name",
            "-l",
            "app in (stream-processor,ml-inference,websocket-server)",
        ])
        .await?;
    assert_eq!(after.lines().count(), 16);
    assert!(after.lines().all(|p| !before.contains(p)), "every pod was replaced");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit[0].action, "emergency-restart");
    assert_eq!(audit[0].outcome, AuditOutcome::Succeeded);
    Ok(())
}

#[tokio::test]
async fn delete_pods_by_selector_deletes_exactly_the_previewed_pods() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let path = format!("{NS}/pods/delete");
    let (status, body) = app
        .post_json(&path, &json!({"selector": "app=ml-inference", "force": true, "dry_run": true}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let summary = body["summary"].as_str().unwrap_or_default().to_owned();
    assert!(summary.starts_with("delete 4 pods immediately"), "{summary}");
    assert_eq!(
        body["kubectl"],
        "kubectl -n streaming-analytics delete pods -l app=ml-inference --force --grace-period=0"
    );
    let before = sb.kubectl(&["get", "pods", "-l", "app=ml-inference", "-o", "name"]).await?;
    assert_eq!(before.lines().count(), 4);
    let (status, _) = app.post_json(&path, &json!({"selector": "app=ml-inference", "force": true})).await?;
    assert_eq!(status, 400, "needs the selector typed again");
    // A selector with no real requirement would match every pod: refused like the API server does.
    for empty in ["", " ", ",", "!!!", ",,app=ml-inference"] {
        let (status, body) = app.post_json(&path, &json!({"selector": empty, "dry_run": true})).await?;
        assert_eq!(status, 400, "{empty:?} would match everything: {body}");
    }
    let (status, body) = app
        .post_json(
            &path,
            &json!({"selector": "app=ml-inference", "force": true, "confirm": "app=ml-inference"}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    for old in before.lines() {
        let (ok, _, _) = sb.kubectl_raw(&["get", old]).await?;
        assert!(!ok, "{old} was deleted");
    }
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit[0].action, "delete-pods");
    assert_eq!(audit[0].params["pods"].as_array().map_or(0, Vec::len), 4);
    Ok(())
}
