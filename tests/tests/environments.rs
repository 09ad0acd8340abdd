//! Several environments in one Triage, against real servers: two sandboxes (two clusters, each
//! with its own brokers) and two Prometheus servers, each scraping one of them.
//!
//! - every view and runbook check answers from the environment the request names, compared with
//!   `kubectl --kubeconfig` of each cluster, and Prometheus's `up` names that environment's sandbox;
//! - an action in one environment reaches only that cluster (each sandbox's access log), and an
//!   emergency restart holds its namespace in its own environment only;
//! - the same live query in two environments is polled and answered per environment;
//! - `production` wants the target typed and a reason for a scale-up, kept in the audit entry;
//! - per-environment roles through the real OpenID provider, refusals in words;
//! - `approval`: the requester cannot approve, a second operator can, expiry, and a restart of
//!   Triage keeps the pending approval; the emergency restart waits and then runs as its job;
//! - one cluster hanging or stopped: the other environment answers while it waits;
//! - an unknown environment is a 404 naming the known ones.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_sandbox::api::ApiFault;
use triage_shared::actions::{ActionOutcome, AuditEntry, Job};
use triage_shared::env::{Approval, ApprovalState, Environments, Protection};
use triage_shared::prom::LiveUpdate;
use triage_shared::runbook::{RunState, StepState};
use triage_tests::oidc::{Body, Page, session_key, sso_settings, user};
use triage_tests::paths::{free_port, workspace_root};
use triage_tests::{Agent, OidcProvider, Prometheus, SseReader, TestApp, TestSandbox};

const NS: &str = "streaming-analytics";

/// One environment's settings as `[[environments]]` would hold them.
fn env(name: &str, protection: &str, sb: &TestSandbox, prom: Option<&Prometheus>, extra: Value) -> Value {
    let mut e = json!({
        "name": name,
        "protection": protection,
        "kubernetes": {
            "kubeconfig": sb.kubeconfig,
            "namespaces": [NS],
            "timeout_secs": 3,
        },
    });
    if let Some(prom) = prom {
        e["prometheus"] = json!({"url": prom.url, "timeout_secs": 5});
    }
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        e.extend(extra.clone());
    }
    e
}

fn settings(envs: Vec<Value>) -> anyhow::Result<Settings> {
    let mut s: Settings = serde_json::from_value(json!({
        "environments": envs,
        "alerts": {"environment_label": "cluster"},
        "runbooks": {"dir": workspace_root().join("runbooks")},
    }))?;
    s.auth = triage::config::AuthSettings::Local { local_role: triage_shared::actions::Role::Operator };
    s.validate()?;
    Ok(s)
}

async fn replicas(sb: &TestSandbox, deployment: &str) -> anyhow::Result<String> {
    Ok(sb
        .kubectl(&["-n", NS, "get", "deployment", deployment, "-o", "jsonpath={.spec.replicas}"])
        .await?
        .trim()
        .to_owned())
}

/// The pod names `kubectl` lists in the namespace, sorted.
async fn kubectl_pods(sb: &TestSandbox) -> anyhow::Result<Vec<String>> {
    let out = sb.kubectl(&["-n", NS, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]).await?;
    let mut names: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    names.sort();
    Ok(names)
}

async fn triage_pods(app: &TestApp, env: &str) -> anyhow::Result<Vec<String>> {
    let list: Value = app.get_json(&format!("/api/k8s/namespaces/{NS}/pods?limit=500&env={env}")).await?;
    let mut names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn each_environment_answers_from_its_own_cluster_and_acts_only_there() -> anyhow::Result<()> {
    let staging = TestSandbox::start(Incident::ConsumerLag).await?;
    let prod = TestSandbox::start(Incident::MemoryLeak).await?;
    // Make the two clusters differ where the views show it.
    prod.kubectl(&["-n", NS, "scale", "deployment", "websocket-server", "--replicas=5"]).await?;
    let prom_staging = Prometheus::start(&[("sandbox", staging.sandbox.metrics_addr.to_string())]).await?;
    let prom_prod = Prometheus::start(&[("sandbox", prod.sandbox.metrics_addr.to_string())]).await?;
    let app = TestApp::start_with(settings(vec![
        env("staging", "standard", &staging, Some(&prom_staging), json!({})),
        env(
            "prod-eu",
            "production",
            &prod,
            Some(&prom_prod),
            json!({"colour": "#c92a2a", "alert_values": ["eu-west-1"]}),
        ),
    ])?)
    .await?;

    let envs: Environments = app.get_json("/api/environments").await?;
    assert_eq!(envs.default, "staging");
    assert_eq!(envs.alert_label.as_deref(), Some("cluster"));
    let names: Vec<&str> = envs.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["staging", "prod-eu"]);
    assert_eq!(envs.resolve("eu-west-1").map(|e| e.protection), Some(Protection::Production));
    assert!(envs.environments.iter().all(|e| e.upstreams.kubernetes && e.upstreams.prometheus));

    // Views: each environment's pods are its own cluster's, as kubectl of each lists them.
    let (staging_pods, prod_pods) = (kubectl_pods(&staging).await?, kubectl_pods(&prod).await?);
    assert_ne!(staging_pods, prod_pods, "the two clusters differ");
    assert_eq!(triage_pods(&app, "staging").await?, staging_pods);
    assert_eq!(triage_pods(&app, "prod-eu").await?, prod_pods);
    assert_eq!(triage_pods(&app, "").await.ok(), None, "an empty env= is no environment");
    let default_pods: Value = app.get_json(&format!("/api/k8s/namespaces/{NS}/pods?limit=500")).await?;
    assert_eq!(
        default_pods["items"].as_array().map(Vec::len),
        Some(staging_pods.len()),
        "no env= is the default"
    );

    // Prometheus: `up` comes from the environment's own Prometheus, which scrapes its sandbox.
    for (name, sb) in [("staging", &staging), ("prod-eu", &prod)] {
        let want = sb.sandbox.metrics_addr.to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let triage_shared::prom::answer::QueryAnswer(up) = app
                .get_json(&format!("/api/prom/query?query=up%7Bjob%3D%22sandbox%22%7D&env={name}"))
                .await?;
            let instances: Vec<&str> =
                up.series.iter().filter_map(|s| s.labels.get("instance").map(String::as_str)).collect();
            if !instances.is_empty() {
                assert!(
                    instances.iter().all(|i| *i == want),
                    "{name} answers from its own Prometheus: {instances:?}"
                );
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{name}'s Prometheus has not scraped its sandbox");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // An unknown environment is refused in words, naming the known ones.
    let res =
        app.http.get(app.url("/api/k8s/namespaces/streaming-analytics/pods?env=us-east-1")).send().await?;
    assert_eq!(res.status().as_u16(), 404);
    let body: Value = res.json().await?;
    assert!(message(&body).contains("us-east-1") && message(&body).contains("staging, prod-eu"), "{body}");

    // An action in staging reaches only staging's cluster.
    staging.sandbox.access_log.clear();
    prod.sandbox.access_log.clear();
    let scale = |env: &str| format!("/api/k8s/namespaces/{NS}/deployments/stream-processor/scale?env={env}");
    let before_prod = replicas(&prod, "stream-processor").await?;
    let (status, body) = app.post_json(&scale("staging"), &json!({"replicas": 9})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(replicas(&staging, "stream-processor").await?, "9");
    assert_eq!(replicas(&prod, "stream-processor").await?, before_prod, "prod's deployment is untouched");
    let changes: Vec<_> =
        prod.sandbox.access_log.requests().into_iter().filter(|r| r.method != "GET").collect();
    assert!(changes.is_empty(), "prod's API saw a change during staging's action: {changes:?}");
    assert!(
        staging
            .sandbox
            .access_log
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with("/stream-processor/scale")),
        "staging's API saw the scale"
    );

    // Production: a scale-up needs the name typed and a reason.
    let (status, body) = app.post_json(&scale("prod-eu"), &json!({"replicas": 8, "dry_run": true})).await?;
    assert_eq!(status, 200, "{body}");
    let dry: ActionOutcome = serde_json::from_value(body)?;
    assert!(dry.needs_confirmation, "every action in production is confirmed, scale-ups too");
    let (status, body) = app.post_json(&scale("prod-eu"), &json!({"replicas": 8})).await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).contains("prod-eu is a production environment")
            && message(&body).contains("stream-processor"),
        "{body}"
    );
    let (status, body) =
        app.post_json(&scale("prod-eu"), &json!({"replicas": 8, "confirm": "stream-processor"})).await?;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("reason"), "{body}");
    let (status, body) = app
        .post_json(&scale("prod-eu"), &json!({"replicas": 8, "confirm": "stream-processor", "reason": "   "}))
        .await?;
    assert_eq!(status, 400, "a blank reason is no reason: {body}");
    assert_eq!(replicas(&prod, "stream-processor").await?, before_prod, "refused runs change nothing");
    let reason = "lag after the 14:00 deploy; more consumers";
    let (status, body) = app
        .post_json(
            &scale("prod-eu"),
            &json!({"replicas": 8, "confirm": "stream-processor", "reason": reason}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(replicas(&prod, "stream-processor").await?, "8");
    assert_eq!(replicas(&staging, "stream-processor").await?, "9", "staging is untouched by prod's action");

    // Runbook checks read their environment's cluster: staging wants 9 stream-processors, prod-eu 8.
    for (name, want) in [("staging", 9.0), ("prod-eu", 8.0)] {
        let (status, body) = app
            .post_json(
                &format!("/api/runbooks/emergency-restart/runs?env={name}"),
                &json!({"params": {"namespace": NS}}),
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let run: RunState = app.get_json(&format!("/api/runs/{run_id}?env={name}")).await?;
            let step = run.steps.iter().find(|(id, _)| id == "stream-processor").map(|(_, s)| s.clone());
            if let Some(StepState::Done { result }) = step {
                assert_eq!(result.values.get("desired"), Some(&want), "{name}'s check: {result:?}");
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{name}'s run did not check the deployment");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Audit entries carry their environment; each environment lists only its own.
    let prod_audit: Vec<AuditEntry> = app.get_json("/api/audit?env=prod-eu").await?;
    assert_eq!(prod_audit.len(), 1);
    assert_eq!((prod_audit[0].env.as_str(), prod_audit[0].reason.as_deref()), ("prod-eu", Some(reason)));
    let staging_audit: Vec<AuditEntry> = app.get_json("/api/audit?env=staging").await?;
    assert_eq!(staging_audit.len(), 1);
    assert_eq!((staging_audit[0].env.as_str(), staging_audit[0].reason.as_deref()), ("staging", None));

    // Runs carry their environment and are shown only in it.
    let (status, body) = app
        .post_json("/api/runbooks/memory-leak/runs?env=prod-eu", &json!({"params": {"namespace": NS}}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let run_id = body["run_id"].as_str().unwrap_or_default().to_owned();
    let run: Value = app.get_json(&format!("/api/runs/{run_id}?env=prod-eu")).await?;
    assert_eq!(run["env"], "prod-eu");
    let res = app.http.get(app.url(&format!("/api/runs/{run_id}?env=staging"))).send().await?;
    assert_eq!(res.status().as_u16(), 404, "a prod run is not shown in staging");
    let body: Value = res.json().await?;
    assert!(message(&body).contains("env=prod-eu"), "{body}");

    // The same live query in both environments at once: each is polled against its own
    // Prometheus and answers with its own sandbox only (coalescing stays per environment).
    let range = "/api/v1/query_range";
    let (staging_polls, prod_polls) =
        (prom_staging.handler_requests(range).await?, prom_prod.handler_requests(range).await?);
    let live = |name: &str| {
        app.url(&format!(
            "/api/live?query=up%7Bjob%3D%22sandbox%22%7D&step=1&window=60&interval=1&env={name}"
        ))
    };
    let mut readers = Vec::new();
    for (name, own, other) in [("staging", &staging, &prod), ("prod-eu", &prod, &staging)] {
        readers.push((name, own, other, SseReader::connect(&app.http, &live(name)).await?));
    }
    for (name, own, other, reader) in &mut readers {
        let deadline = Instant::now() + Duration::from_secs(30);
        let instances: Vec<String> = loop {
            let event = tokio::time::timeout(Duration::from_secs(15), reader.next())
                .await??
                .ok_or_else(|| anyhow::anyhow!("{name}'s live stream ended"))?;
            assert_eq!(event.event, "update", "{name}: {}", event.data);
            let update: LiveUpdate = serde_json::from_str(&event.data)?;
            let seen: Vec<String> = update
                .result
                .series
                .iter()
                .filter_map(|s| s.labels.get("instance").cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !seen.is_empty() {
                break seen;
            }
            anyhow::ensure!(Instant::now() < deadline, "{name}'s live query found no sandbox");
        };
        let (own, other) = (own.sandbox.metrics_addr.to_string(), other.sandbox.metrics_addr.to_string());
        assert_eq!(instances, vec![own], "{name}'s live answer is its own sandbox's, not {other}");
    }
    drop(readers);
    assert!(prom_staging.handler_requests(range).await? > staging_polls, "staging's Prometheus was polled");
    assert!(prom_prod.handler_requests(range).await? > prod_polls, "prod-eu's Prometheus was polled");

    // An emergency restart in one environment does not hold the same namespace of the other:
    // the two are different clusters' namespaces.
    let restart = |name: &str| format!("/api/k8s/namespaces/{NS}/emergency-restart?env={name}");
    let all = json!(["stream-processor", "ml-inference", "websocket-server"]);
    let (status, first) = app
        .post_json(&restart("staging"), &json!({"deployments": all, "confirm": NS, "shutdown_wait_secs": 10}))
        .await?;
    assert_eq!(status, 200, "{first}");
    let (status, second) = app
        .post_json(
            &restart("prod-eu"),
            &json!({"deployments": ["ml-inference"], "confirm": NS, "reason": "same namespace, other cluster"}),
        )
        .await?;
    let first_job: Job =
        app.get_json(&format!("/api/jobs/{}", first["id"].as_str().unwrap_or_default())).await?;
    assert!(!first_job.finished, "staging's restart was still running when prod-eu's was asked");
    assert_eq!(status, 200, "staging's restart does not block prod-eu's: {second}");
    let (status, again) =
        app.post_json(&restart("staging"), &json!({"deployments": ["ml-inference"], "confirm": NS})).await?;
    assert_eq!(status, 409, "but a second one in staging's namespace waits: {again}");
    for job in [&first, &second] {
        let id = job["id"].as_str().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !app.get_json::<Job>(&format!("/api/jobs/{id}")).await?.finished {
            anyhow::ensure!(Instant::now() < deadline, "job {id} did not finish");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    app.stop().await?;
    Ok(())
}

/// A backend with SSO and environments, and the provider that knows it.
struct Sso {
    provider: OidcProvider,
    app: TestApp,
    port: u16,
    settings: Settings,
}

async fn start_sso(envs: Vec<Value>, store: &std::path::Path) -> anyhow::Result<Sso> {
    let provider_port = OidcProvider::reserve_port()?;
    let port = free_port()?;
    let mut settings = settings(envs)?;
    settings.auth = sso_settings(&OidcProvider::issuer_for(provider_port), port, &session_key())?.auth;
    settings.store.sqlite_path = store.to_owned();
    let app = TestApp::start_on(settings.clone(), port).await?;
    let provider = OidcProvider::start(provider_port, &[port]).await?;
    Ok(Sso { provider, app, port, settings })
}

/// Logs `who` in and returns the agent with its session and CSRF token.
async fn logged_in(sso: &Sso, who: &str) -> anyhow::Result<(Agent, String)> {
    let agent = Agent::new();
    let page = sso.provider.login(&agent, &sso.app.url("/auth/login"), &user(who)).await?;
    anyhow::ensure!(
        page.url.path() == "/",
        "login of {who} ended at {} {}: {}",
        page.status,
        page.url,
        page.body
    );
    let csrf = csrf_of(&agent, &sso.app).await?;
    Ok((agent, csrf))
}

async fn csrf_of(agent: &Agent, app: &TestApp) -> anyhow::Result<String> {
    let me = agent.get(&app.url("/api/whoami")).await?;
    anyhow::ensure!(me.status == 200, "whoami: {} {}", me.status, me.body);
    me.json()["csrf_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no csrf token: {}", me.body))
}

async fn post(agent: &Agent, csrf: &str, url: &str, body: Value) -> anyhow::Result<Page> {
    agent.send(reqwest::Method::POST, url, &[("x-triage-csrf", csrf)], Some(Body::Json(body))).await
}

#[tokio::test]
async fn roles_and_approvals_per_environment_through_the_real_provider() -> anyhow::Result<()> {
    let staging = TestSandbox::start(Incident::ConsumerLag).await?;
    let prod = TestSandbox::start(Incident::ConsumerLag).await?;
    let store_dir = tempfile::tempdir()?;
    let store = store_dir.path().join("triage.db");
    let prod_access =
        json!({"access": {"operator_groups": ["prod-operators"], "admin_groups": ["triage-admins"]}});
    let mut short = prod_access.clone();
    short["approval_ttl_secs"] = json!(1);
    let envs = vec![
        env("staging", "standard", &staging, None, json!({})),
        env("prod", "approval", &prod, None, prod_access),
        env("canary", "approval", &staging, None, short),
    ];
    let mut sso = start_sso(envs, &store).await?;
    let scale = |port: u16, env: &str| {
        format!(
            "http://127.0.0.1:{port}/api/k8s/namespaces/{NS}/deployments/stream-processor/scale?env={env}"
        )
    };

    // oscar operates staging but only reads prod, and is told so.
    let (oscar, oscar_csrf) = logged_in(&sso, "oscar").await?;
    let me = oscar.get(&sso.app.url("/api/whoami")).await?.json();
    let roles: Vec<(String, Value)> = me["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["env"].as_str().unwrap_or_default().to_owned(), r["role"].clone()))
        .collect();
    assert_eq!(
        roles,
        [
            ("staging".to_owned(), json!("operator")),
            ("prod".to_owned(), json!("reader")),
            ("canary".to_owned(), json!("reader"))
        ]
    );
    let ok = post(&oscar, &oscar_csrf, &scale(sso.port, "staging"), json!({"replicas": 7})).await?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(replicas(&staging, "stream-processor").await?, "7");
    let refused = post(
        &oscar,
        &oscar_csrf,
        &scale(sso.port, "prod"),
        json!({"replicas": 9, "confirm": "stream-processor", "reason": "try"}),
    )
    .await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(message(&refused.json()), "operators of prod only; oscar@example.test is a reader there");
    let envs: Environments = serde_json::from_str(&oscar.get(&sso.app.url("/api/environments")).await?.body)?;
    assert_eq!(envs.get("prod").and_then(|e| e.role), Some(triage_shared::actions::Role::Reader));
    assert_eq!(envs.get("prod").and_then(|e| e.approval_ttl_secs), Some(900));

    // pia (prod-operators) asks for a scale in prod: it waits, nothing changes.
    let before = replicas(&prod, "stream-processor").await?;
    prod.sandbox.access_log.clear();
    let (pia, pia_csrf) = logged_in(&sso, "pia").await?;
    let reason = "lag rising; more consumers";
    let asked = post(
        &pia,
        &pia_csrf,
        &scale(sso.port, "prod"),
        json!({"replicas": 9, "confirm": "stream-processor", "reason": reason}),
    )
    .await?;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let outcome: ActionOutcome = serde_json::from_str(&asked.body)?;
    let pending = outcome.approval.ok_or_else(|| anyhow::anyhow!("no pending approval: {}", asked.body))?;
    assert_eq!((pending.state, outcome.audit_id), (ApprovalState::Pending, None));
    assert_eq!(pending.requested_by, "pia@example.test");
    assert_eq!(replicas(&prod, "stream-processor").await?, before, "a pending action changes nothing");
    // Planning it asked Kubernetes for a server-side dry run; nothing else but reads.
    let changes: Vec<_> = prod
        .sandbox
        .access_log
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.query.contains("dryRun=All"))
        .collect();
    assert!(changes.is_empty(), "a pending action changed prod: {changes:?}");
    let audit: Vec<AuditEntry> =
        serde_json::from_str(&pia.get(&sso.app.url("/api/audit?env=prod")).await?.body)?;
    assert!(audit.is_empty(), "a pending action is not yet an audited action");

    // The requester cannot approve; a reader of prod cannot either.
    let approve = |port: u16, id: i64| format!("http://127.0.0.1:{port}/api/approvals/{id}/approve?env=prod");
    let own = post(&pia, &pia_csrf, &approve(sso.port, pending.id), json!({"comment": ""})).await?;
    assert_eq!(own.status, 403, "{}", own.body);
    assert!(message(&own.json()).contains("another operator of prod must approve it"), "{}", own.body);
    let by_reader = post(&oscar, &oscar_csrf, &approve(sso.port, pending.id), json!({"comment": ""})).await?;
    assert_eq!(by_reader.status, 403, "{}", by_reader.body);
    // The request is not visible from another environment.
    let elsewhere = post(
        &oscar,
        &oscar_csrf,
        &approve(sso.port, pending.id).replace("env=prod", "env=staging"),
        json!({"comment": ""}),
    )
    .await?;
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.body);

    // A restart of Triage keeps the pending approval (it lives in the store).
    let Sso { provider, app, port, settings } = sso;
    app.stop().await?;
    let app = TestApp::start_on(settings.clone(), port).await?;
    sso = Sso { provider, app, port, settings };
    let (alma, alma_csrf) = logged_in(&sso, "alma").await?;
    let listed: Vec<Approval> =
        serde_json::from_str(&alma.get(&sso.app.url("/api/approvals?env=prod")).await?.body)?;
    assert_eq!(
        listed.iter().map(|a| a.id).collect::<Vec<_>>(),
        [pending.id],
        "the pending approval survived the restart"
    );
    assert_eq!(listed[0].reason, reason);

    // A second operator approves: it runs once, with both identities audited.
    let approved =
        post(&alma, &alma_csrf, &approve(sso.port, pending.id), json!({"comment": "checked the lag panel"}))
            .await?;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let approved: Approval = serde_json::from_str(&approved.body)?;
    assert_eq!(
        (approved.state, approved.decided_by.as_deref(), approved.error.as_deref()),
        (ApprovalState::Approved, Some("alma@example.test"), None)
    );
    assert_eq!(approved.comment.as_deref(), Some("checked the lag panel"));
    assert_eq!(replicas(&prod, "stream-processor").await?, "9");
    assert_eq!(replicas(&staging, "stream-processor").await?, "7", "staging is untouched");
    let audit: Vec<AuditEntry> =
        serde_json::from_str(&alma.get(&sso.app.url("/api/audit?env=prod")).await?.body)?;
    assert_eq!(audit.len(), 1);
    assert_eq!(Some(audit[0].id), approved.audit_id);
    assert_eq!(
        (
            audit[0].subject.as_str(),
            audit[0].approved_by.as_deref(),
            audit[0].reason.as_deref(),
            audit[0].env.as_str()
        ),
        ("pia", Some("alma@example.test"), Some(reason), "prod")
    );
    let again = post(&alma, &alma_csrf, &approve(sso.port, pending.id), json!({"comment": ""})).await?;
    assert_eq!(again.status, 409, "an approved request runs once: {}", again.body);
    assert!(message(&again.json()).contains("already approved by alma@example.test"), "{}", again.body);

    // Expiry: canary's requests wait one second.
    let (pia, pia_csrf) = logged_in(&sso, "pia").await?;
    let asked = post(
        &pia,
        &pia_csrf,
        &scale(sso.port, "canary"),
        json!({"replicas": 2, "confirm": "stream-processor", "reason": "canary"}),
    )
    .await?;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let outcome: ActionOutcome = serde_json::from_str(&asked.body)?;
    let waiting = outcome.approval.ok_or_else(|| anyhow::anyhow!("no pending approval: {}", asked.body))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all: Vec<Approval> =
            serde_json::from_str(&alma.get(&sso.app.url("/api/approvals?env=canary&all=true")).await?.body)?;
        if all.iter().any(|a| a.id == waiting.id && a.state == ApprovalState::Expired) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "canary's request did not expire: {all:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let late = post(
        &alma,
        &alma_csrf,
        &approve(sso.port, waiting.id).replace("env=prod", "env=canary"),
        json!({"comment": ""}),
    )
    .await?;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(message(&late.json()).contains("expired"), "{}", late.body);
    assert_eq!(replicas(&staging, "stream-processor").await?, "7", "the expired request never ran");

    // The emergency restart waits like any other action, then runs as a job once approved.
    let restart = format!("http://127.0.0.1:{}/api/k8s/namespaces/{NS}/emergency-restart?env=prod", sso.port);
    let inference = ["get", "pods", "-o", "name", "-l", "app=ml-inference"];
    let (prod_before, staging_before) = (prod.kubectl(&inference).await?, staging.kubectl(&inference).await?);
    let why = "inference stuck after the model push";
    let asked = post(
        &pia,
        &pia_csrf,
        &restart,
        json!({"deployments": ["ml-inference"], "confirm": NS, "reason": why,
               "shutdown_wait_secs": 10, "rollout_timeout_secs": 90}),
    )
    .await?;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let job: Job = serde_json::from_str(&asked.body)?;
    let waiting = job.approval.ok_or_else(|| anyhow::anyhow!("the restart did not wait: {}", asked.body))?;
    assert_eq!(
        (waiting.state, waiting.action.as_str(), job.audit_id),
        (ApprovalState::Pending, "emergency-restart", None)
    );
    assert_eq!(prod.kubectl(&inference).await?, prod_before, "a pending restart changes nothing");
    let own = post(&pia, &pia_csrf, &approve(sso.port, waiting.id), json!({"comment": ""})).await?;
    assert_eq!(own.status, 403, "the requester cannot approve their restart: {}", own.body);
    let approved = post(&alma, &alma_csrf, &approve(sso.port, waiting.id), json!({"comment": "ok"})).await?;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let approved: Approval = serde_json::from_str(&approved.body)?;
    assert_eq!((approved.state, approved.error.as_deref()), (ApprovalState::Approved, None));
    let audit: Vec<AuditEntry> =
        serde_json::from_str(&alma.get(&sso.app.url("/api/audit?env=prod")).await?.body)?;
    let entry = audit
        .iter()
        .find(|e| Some(e.id) == approved.audit_id)
        .ok_or_else(|| anyhow::anyhow!("no audit entry {:?} in {audit:?}", approved.audit_id))?;
    assert_eq!(
        (
            entry.action.as_str(),
            entry.subject.as_str(),
            entry.approved_by.as_deref(),
            entry.reason.as_deref()
        ),
        ("emergency-restart", "pia", Some("alma@example.test"), Some(why))
    );
    let job_id = entry.params["job"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished: Job = loop {
        let page = alma.get(&sso.app.url(&format!("/api/jobs/{job_id}"))).await?;
        anyhow::ensure!(page.status == 200, "job {job_id}: {} {}", page.status, page.body);
        let job: Job = serde_json::from_str(&page.body)?;
        if job.finished {
            break job;
        }
        anyhow::ensure!(Instant::now() < deadline, "the approved restart did not finish: {job:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(finished.error, None, "{finished:?}");
    assert_eq!(replicas(&prod, "ml-inference").await?, "4", "restored to its recorded count");
    let prod_after = prod.kubectl(&inference).await?;
    assert_eq!(prod_after.lines().count(), 4);
    assert!(prod_after.lines().all(|p| !prod_before.contains(p)), "every prod pod was replaced");
    assert_eq!(staging.kubectl(&inference).await?, staging_before, "staging's pods are untouched");
    sso.app.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_hanging_or_stopped_cluster_does_not_hold_the_other_environment() -> anyhow::Result<()> {
    let staging = TestSandbox::start(Incident::ConsumerLag).await?;
    let prod = TestSandbox::start(Incident::ConsumerLag).await?;
    let app = TestApp::start_with(settings(vec![
        env("staging", "standard", &staging, None, json!({})),
        env("prod", "standard", &prod, None, json!({})),
    ])?)
    .await?;
    let pods = |env: &str| app.url(&format!("/api/k8s/namespaces/{NS}/pods?env={env}"));
    let timed = |url: String| {
        let http = app.http.clone();
        async move {
            let started = Instant::now();
            let res = http.get(url).send().await?;
            let status = res.status().as_u16();
            let body: Value = res.json().await?;
            anyhow::Ok((status, body, started.elapsed()))
        }
    };
    let (status, _, healthy) = timed(pods("staging")).await?;
    assert_eq!(status, 200);

    // prod's API accepts requests and never answers: prod's page waits for its timeout, while
    // staging answers in the meantime.
    prod.sandbox.api_faults.set(ApiFault::Hang);
    let hanging = tokio::spawn(timed(pods("prod")));
    let (status, _, while_hanging) = timed(pods("staging")).await?;
    assert_eq!(status, 200);
    assert!(!hanging.is_finished(), "prod's request is still waiting when staging has answered");
    let (status, body, prod_wait) = hanging.await??;
    assert!((502..=504).contains(&status), "{status} {body}");
    assert!(!message(&body).is_empty(), "the timeout is said in words: {body}");
    prod.sandbox.api_faults.set(ApiFault::None);

    // prod's cluster gone: its pages fail in words at once, staging's keep answering.
    drop(prod);
    let (status, body, prod_down) = timed(pods("prod")).await?;
    assert!((502..=504).contains(&status), "{status} {body}");
    assert!(!message(&body).is_empty(), "{body}");
    let (status, _, while_down) = timed(pods("staging")).await?;
    assert_eq!(status, 200);
    println!(
        "staging pods: {healthy:?} healthy, {while_hanging:?} while prod hung ({prod_wait:?} until prod's timeout), \
         {while_down:?} with prod stopped ({prod_down:?} for prod's refusal)"
    );
    app.stop().await?;
    Ok(())
}
