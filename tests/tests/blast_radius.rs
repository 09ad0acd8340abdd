//! Every action changes exactly what its plan names. Each test loads fixtures real clusters have
//! (a deployment whose selector is expressions only, two deployments whose pod labels overlap, a
//! StatefulSet and a bare pod sharing a label with a deployment) beside the sandbox's own
//! workloads, snapshots the whole namespace with real `kubectl`, runs one action through Triage,
//! snapshots again, and checks that every object that changed is one the plan named or one its
//! controllers made in answer (found from the cluster's own ownerReferences, not from Triage).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use triage_sandbox::Incident;
use triage_shared::actions::{AuditEntry, AuditOutcome};
use triage_tests::{TestApp, TestSandbox};

const NS: &str = "streaming-analytics";
const API: &str = "/api/k8s/namespaces/streaming-analytics";

/// (kind, name) of an object in the namespace.
type Key = (String, String);

/// What an action could change about an object: identity, labels, owner, spec, deletion.
#[derive(Debug, Clone, PartialEq)]
struct Obj {
    uid: String,
    owner_uid: Option<String>,
    fingerprint: Value,
}

struct Snapshot(BTreeMap<Key, Obj>);

impl Snapshot {
    async fn take(sb: &TestSandbox) -> anyhow::Result<Self> {
        let text = sb
            .kubectl(&[
                "-n",
                NS,
                "get",
                "pods,deployments.apps,replicasets.apps,statefulsets.apps,services",
                "-o",
                "json",
            ])
            .await?;
        let list: Value = serde_json::from_str(&text)?;
        let mut objects = BTreeMap::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let meta = &item["metadata"];
            let key = (
                item["kind"].as_str().unwrap_or_default().to_owned(),
                meta["name"].as_str().unwrap_or_default().to_owned(),
            );
            let owner_uid = meta["ownerReferences"]
                .as_array()
                .and_then(|o| o.iter().find(|r| r["controller"] == true))
                .and_then(|r| r["uid"].as_str())
                .map(str::to_owned);
            let fingerprint = json!({
                "labels": meta["labels"],
                "deleting": !meta["deletionTimestamp"].is_null(),
                "replicas": item["spec"]["replicas"],
                "template": item["spec"]["template"],
            });
            let uid = meta["uid"].as_str().unwrap_or_default().to_owned();
            objects.insert(key, Obj { uid, owner_uid, fingerprint });
        }
        Ok(Self(objects))
    }

    fn uid(&self, kind: &str, name: &str) -> Option<String> {
        self.0.get(&(kind.to_owned(), name.to_owned())).map(|o| o.uid.clone())
    }

    fn names(&self, kind: &str) -> BTreeSet<String> {
        self.0.keys().filter(|(k, _)| k == kind).map(|(_, n)| n.clone()).collect()
    }
}

/// Objects created, removed, replaced (new uid) or changed between the two snapshots.
fn changed(before: &Snapshot, after: &Snapshot) -> BTreeSet<Key> {
    let keys: BTreeSet<&Key> = before.0.keys().chain(after.0.keys()).collect();
    keys.into_iter().filter(|k| before.0.get(*k) != after.0.get(*k)).cloned().collect()
}

/// The named objects and everything their controllers own, transitively, in either snapshot.
fn family(before: &Snapshot, after: &Snapshot, roots: &[(&str, &str)]) -> BTreeSet<Key> {
    let all: Vec<(&Key, &Obj)> = before.0.iter().chain(after.0.iter()).collect();
    let mut members: BTreeSet<Key> = roots.iter().map(|(k, n)| ((*k).to_owned(), (*n).to_owned())).collect();
    let mut uids: BTreeSet<String> =
        all.iter().filter(|(k, _)| members.contains(*k)).map(|(_, o)| o.uid.clone()).collect();
    loop {
        let grown: Vec<(&Key, &Obj)> = all
            .iter()
            .filter(|(k, o)| !members.contains(*k) && o.owner_uid.as_ref().is_some_and(|u| uids.contains(u)))
            .copied()
            .collect();
        if grown.is_empty() {
            return members;
        }
        for (k, o) in grown {
            members.insert(k.clone());
            uids.insert(o.uid.clone());
        }
    }
}

/// Pods created since `before` whose controller is `owner_uid`: a controller's replacements.
fn replacements(before: &Snapshot, after: &Snapshot, owner_uids: &BTreeSet<String>) -> BTreeSet<Key> {
    after
        .0
        .iter()
        .filter(|(k, o)| {
            k.0 == "Pod"
                && o.owner_uid.as_ref().is_some_and(|u| owner_uids.contains(u))
                && before.0.get(*k).is_none_or(|b| b.uid != o.uid)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn assert_within(changed: &BTreeSet<Key>, allowed: &BTreeSet<Key>, what: &str) {
    let outside: Vec<&Key> = changed.difference(allowed).collect();
    assert!(outside.is_empty(), "{what} changed objects outside its plan: {outside:?}\nchanged: {changed:?}");
}

async fn start() -> anyhow::Result<(TestSandbox, TestApp)> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/blast-radius.yaml");
    sb.apply_file(&fixtures).await?;
    sb.wait_pods_ready(NS, Duration::from_secs(60)).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    Ok((sb, app))
}

/// Waits until the namespace's pods are settled again after an action.
async fn settle(sb: &TestSandbox) -> anyhow::Result<Snapshot> {
    sb.wait_pods_ready(NS, Duration::from_secs(90)).await?;
    Snapshot::take(sb).await
}

async fn post_ok(app: &TestApp, path: &str, body: &Value) -> anyhow::Result<Value> {
    let (status, answer) = app.post_json(path, body).await?;
    anyhow::ensure!(status == 200, "{path} answered {status}: {answer}");
    Ok(answer)
}

#[tokio::test]
async fn scale_changes_only_the_deployment_and_what_it_owns() -> anyhow::Result<()> {
    let (sb, app) = start().await?;
    // checkout-canary's pods carry app=checkout too: a label-based reach would touch checkout.
    for (name, replicas) in [("checkout-canary", 2), ("checkout", 3)] {
        let before = Snapshot::take(&sb).await?;
        let body = json!({"replicas": replicas, "dry_run": false});
        post_ok(&app, &format!("{API}/deployments/{name}/scale"), &body).await?;
        let after = settle(&sb).await?;
        let diff = changed(&before, &after);
        assert!(diff.contains(&("Deployment".to_owned(), name.to_owned())), "{diff:?}");
        assert_within(&diff, &family(&before, &after, &[("Deployment", name)]), &format!("scaling {name}"));
    }
    Ok(())
}

#[tokio::test]
async fn restart_changes_only_the_deployment_and_what_it_owns() -> anyhow::Result<()> {
    let (sb, app) = start().await?;
    let before = Snapshot::take(&sb).await?;
    post_ok(&app, &format!("{API}/deployments/checkout/restart"), &json!({"confirm": "checkout"})).await?;
    let after = settle(&sb).await?;
    let diff = changed(&before, &after);
    let old_pods: BTreeSet<String> = before
        .names("Pod")
        .into_iter()
        .filter(|p| p.starts_with("checkout-") && !p.starts_with("checkout-canary"))
        .collect();
    assert!(
        old_pods.len() == 2 && old_pods.iter().all(|p| !after.names("Pod").contains(p)),
        "{old_pods:?} replaced"
    );
    assert_within(&diff, &family(&before, &after, &[("Deployment", "checkout")]), "restarting checkout");
    Ok(())
}

#[tokio::test]
async fn delete_pod_removes_that_pod_only() -> anyhow::Result<()> {
    let (sb, app) = start().await?;
    let before = Snapshot::take(&sb).await?;
    // A StatefulSet pod (recreated under the same name) and a bare pod (gone for good).
    for pod in ["cache-0", "debug-shell"] {
        let before = Snapshot::take(&sb).await?;
        post_ok(&app, &format!("{API}/pods/{pod}/delete"), &json!({"force": true, "confirm": pod})).await?;
        let after = settle(&sb).await?;
        let diff = changed(&before, &after);
        let owner: BTreeSet<String> = before
            .0
            .get(&("Pod".to_owned(), pod.to_owned()))
            .and_then(|o| o.owner_uid.clone())
            .into_iter()
            .collect();
        let mut allowed = replacements(&before, &after, &owner);
        allowed.insert(("Pod".to_owned(), pod.to_owned()));
        assert!(diff.contains(&("Pod".to_owned(), pod.to_owned())), "{pod} was deleted: {diff:?}");
        assert_within(&diff, &allowed, &format!("deleting {pod}"));
    }
    let after = Snapshot::take(&sb).await?;
    assert!(!after.names("Pod").contains("debug-shell"), "a bare pod does not come back");
    assert_ne!(before.uid("Pod", "cache-0"), after.uid("Pod", "cache-0"), "cache-0 is a new pod");
    Ok(())
}

#[tokio::test]
async fn delete_by_selector_deletes_exactly_the_listed_pods() -> anyhow::Result<()> {
    let (sb, app) = start().await?;
    let selector = "tier in (web),track notin (canary)";
    let path = format!("{API}/pods/delete");
    let plan = post_ok(&app, &path, &json!({"selector": selector, "force": true, "dry_run": true})).await?;
    assert_eq!(
        plan["kubectl"],
        "kubectl -n streaming-analytics delete pods -l 'tier in (web),track notin (canary)' --force --grace-period=0",
        "the selector is shell-quoted"
    );
    let before = Snapshot::take(&sb).await?;
    let outcome =
        post_ok(&app, &path, &json!({"selector": selector, "force": true, "confirm": selector})).await?;
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    let entry = audit.iter().find(|e| Some(e.id) == outcome["audit_id"].as_i64()).expect("audited");
    let planned: BTreeSet<Key> = entry.params["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|p| ("Pod".to_owned(), p.to_owned()))
        .collect();
    // checkout's two pods, cache's two and the bare debug-shell match; the canary does not.
    assert_eq!(planned.len(), 5, "{planned:?}");
    let after = settle(&sb).await?;
    let diff = changed(&before, &after);
    let owners: BTreeSet<String> =
        planned.iter().filter_map(|k| before.0.get(k)?.owner_uid.clone()).collect();
    let mut allowed = replacements(&before, &after, &owners);
    allowed.extend(planned.iter().cloned());
    assert!(planned.is_subset(&diff), "every listed pod was deleted: {diff:?}");
    assert_within(&diff, &allowed, "deleting by selector");
    Ok(())
}

#[tokio::test]
async fn emergency_restart_of_an_expressions_only_deployment_touches_only_its_pods() -> anyhow::Result<()> {
    let (sb, app) = start().await?;
    let path = format!("{API}/emergency-restart");
    let before = Snapshot::take(&sb).await?;
    let plan = post_ok(&app, &path, &json!({"deployments": ["checkout"], "dry_run": true})).await?;
    let own: Vec<String> = before
        .names("Pod")
        .into_iter()
        .filter(|p| p.starts_with("checkout-") && !p.starts_with("checkout-canary"))
        .collect();
    assert_eq!(plan["pods"]["checkout"], json!(own), "the plan lists checkout's pods by name");
    let id = plan["id"].as_str().unwrap_or_default();
    let hex = id.strip_prefix("emergency-").unwrap_or_default();
    assert!(hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()), "random job id: {id}");

    let job = post_ok(
        &app,
        &path,
        &json!({"deployments": ["checkout"], "confirm": NS, "shutdown_wait_secs": 5, "rollout_timeout_secs": 60}),
    )
    .await?;
    // The counts to restore are on record before anything is scaled.
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit[0].action, "emergency-restart");
    assert_eq!(audit[0].params["recorded"], json!([["checkout", 2]]));
    assert_eq!(Some(audit[0].id), job["audit_id"].as_i64());

    // One emergency restart per namespace at a time: the second names the first.
    let (status, second) =
        app.post_json(&path, &json!({"deployments": ["checkout-canary"], "confirm": NS})).await?;
    let job_id = job["id"].as_str().unwrap_or_default();
    assert_eq!(status, 409, "{second}");
    assert!(second["error"]["message"].as_str().unwrap_or_default().contains(job_id), "{second}");

    let mut finished = Value::Null;
    for _ in 0..300 {
        let j: Value = app.get_json(&format!("/api/jobs/{job_id}")).await?;
        if j["finished"] == true {
            finished = j;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(finished["error"], Value::Null, "{finished}");
    let after = settle(&sb).await?;
    let diff = changed(&before, &after);
    assert_within(&diff, &family(&before, &after, &[("Deployment", "checkout")]), "the emergency restart");
    for untouched in ["kafka-0", "kafka-1", "kafka-2", "cache-0", "cache-1", "debug-shell"] {
        assert_eq!(before.uid("Pod", untouched), after.uid("Pod", untouched), "{untouched} untouched");
    }
    let audit: Vec<AuditEntry> = app.get_json("/api/audit").await?;
    assert_eq!(audit[0].outcome, AuditOutcome::Succeeded);
    Ok(())
}

/// Per statement text, its call count: what a `pg_stat_statements_reset()` changes.
async fn statement_calls(client: &tokio_postgres::Client) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = client
        .query("SELECT query, calls FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'", &[])
        .await?;
    Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect())
}

async fn table_rows(client: &tokio_postgres::Client) -> anyhow::Result<Vec<String>> {
    let rows = client.query("SELECT format('%s:%s', id, note) FROM ledger ORDER BY id", &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[tokio::test]
async fn statistics_reset_changes_only_the_named_targets_statistics() -> anyhow::Result<()> {
    let (a, b) = (triage_tests::Postgres::start().await?, triage_tests::Postgres::start().await?);
    let mut clients = Vec::new();
    for pg in [&a, &b] {
        let client = pg.connect("postgres").await?;
        client
            .batch_execute(
                "CREATE EXTENSION pg_stat_statements;
                 CREATE TABLE ledger (id int PRIMARY KEY, note text);
                 INSERT INTO ledger SELECT g, 'row ' || g FROM generate_series(1, 50) g;",
            )
            .await?;
        for i in 0..10 {
            client.query("SELECT note FROM ledger WHERE id = $1", &[&i]).await?;
        }
        clients.push(client);
    }
    let mut settings =
        triage::config::Settings { postgres: Some(a.analysis_settings("postgres")), ..Default::default() };
    if let Some(pg) = settings.postgres.as_mut() {
        pg.targets[0].name = "a".to_owned();
        let mut second = b.analysis_settings("postgres").targets.remove(0);
        second.name = "b".to_owned();
        pg.targets.push(second);
    }
    settings.auth =
        triage::config::AuthSettings::Local { local_role: triage_shared::actions::Role::Operator };
    let app = TestApp::start_with(settings).await?;

    let before_a = (statement_calls(&clients[0]).await?, table_rows(&clients[0]).await?);
    let before_b = (statement_calls(&clients[1]).await?, table_rows(&clients[1]).await?);
    assert!(before_a.0.keys().any(|q| q.contains("FROM ledger WHERE id = $1")), "{:?}", before_a.0);
    post_ok(&app, "/api/pg/a/reset", &json!({"confirm": "a"})).await?;
    let after_a = (statement_calls(&clients[0]).await?, table_rows(&clients[0]).await?);
    let after_b = (statement_calls(&clients[1]).await?, table_rows(&clients[1]).await?);

    assert!(
        !after_a.0.keys().any(|q| q.contains("FROM ledger WHERE id = $1")),
        "a's statistics were reset: {:?}",
        after_a.0
    );
    assert_eq!(before_a.1, after_a.1, "a's data is untouched");
    // b: every statement counted before is still there with the same count (the test's own
    // reads of `ledger` came after the first reading, so they are not among them).
    for (query, calls) in &before_b.0 {
        assert_eq!(after_b.0.get(query), Some(calls), "b's {query:?}");
    }
    assert_eq!(before_b.1, after_b.1, "b's data is untouched");
    app.stop().await
}
