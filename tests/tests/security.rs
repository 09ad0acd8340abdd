//! Security properties that hold for every route: the response headers (CSP that allows the wasm
//! and nothing else, no framing, no sniffing), bounded request bodies, and no secret value in any
//! API response or log line. The real `triage` binary runs with secrets in its configuration
//! (session key, PostgreSQL passwords in the analysis target and the store) while every route of
//! the route table is called, with good and with broken input, the shipped runbooks loaded and a
//! real run among what is read.

use std::time::Duration;

use anyhow::{Context as _, Result};
use reqwest::Method;
use triage_sandbox::Incident;
use triage_tests::paths::workspace_root;
use triage_tests::triage_process::TriageProcess;
use triage_tests::{Postgres, Prometheus, TestSandbox};

/// Values that must never leave Triage.
const SESSION_KEY: &str =
    "U2Vzc2lvbktleVNlY3JldFZhbHVlRm9yVHJpYWdlU2VjdXJpdHlUZXN0c09ubHlfXzEyMzQ1Njc4OTBhYmNkZWY=";
const TARGET_PASSWORD: &str = "target-pw-7c1f3e";
const STORE_PASSWORD: &str = "store-pw-90ab2d";

/// Values for the path parameters of the route table, for one walk.
struct Walk<'a> {
    ns: &'a str,
    name: &'a str,
    target: &'a str,
    runbook: &'a str,
    run_id: &'a str,
    job: &'a str,
    topic: &'a str,
    group: &'a str,
    approval: &'a str,
}

impl Walk<'_> {
    /// `path` with every `{param}` filled. A parameter the walk has no value for is an error, so
    /// a new route parameter cannot leave its routes unwalked (they would only answer 404).
    fn fill(&self, path: &str) -> Result<String> {
        let mut out = String::with_capacity(path.len() + 32);
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            let close =
                rest[open..].find('}').map(|i| open + i).context(format!("unclosed parameter in {path}"))?;
            let param = &rest[open + 1..close];
            let value = match param {
                "ns" => self.ns,
                "name" => self.name,
                "target" => self.target,
                "run_id" => self.run_id,
                "topic" => self.topic,
                "group" => self.group,
                "id" if path.starts_with("/api/runbooks/") => self.runbook,
                "id" if path.starts_with("/api/jobs/") => self.job,
                "id" if path.starts_with("/api/approvals/") => self.approval,
                _ => anyhow::bail!("the route walk has no value for `{{{param}}}` in {path}: give it one"),
            };
            out.push_str(&rest[..open]);
            out.push_str(value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_bodies_and_secrets() -> Result<()> {
    let pg = Postgres::start().await?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let prom = Prometheus::start(&[]).await?;
    let dir = tempfile::tempdir()?;
    let triage = TriageProcess::start(
        dir.path(),
        &format!(
            "[auth]\nlocal_role = \"admin\"\nsession_key = \"{SESSION_KEY}\"\n\
             [prometheus]\nurl = \"{}\"\n\
             [kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\n\
             [postgres]\n[[postgres.targets]]\nname = \"main\"\nurl = \"{} password={TARGET_PASSWORD}\"\n\
             [store]\npostgres_url = \"{} password={STORE_PASSWORD}\"\n\
             [runbooks]\ndir = \"{}\"\n",
            prom.url,
            sb.kubeconfig.display(),
            pg.conninfo("postgres"),
            pg.conninfo("postgres"),
            workspace_root().join("runbooks").display(),
        ),
        "triage.log",
    )
    .await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;

    // Headers, on a page and on the API.
    for path in ["/", "/runbooks/x?a=b", "/api/version"] {
        let response = http.get(triage.url(path)).send().await?;
        let headers = response.headers();
        let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        for part in
            ["default-src 'self'", "'wasm-unsafe-eval'", "frame-ancestors 'none'", "object-src 'none'"]
        {
            assert!(csp.contains(part), "{path}: CSP {csp:?} lacks {part}");
        }
        assert!(!csp.contains("'unsafe-eval'"), "{path}: CSP allows eval: {csp}");
        assert!(csp.contains("'sha256-"), "{path}: the inline loader is allowed by hash: {csp}");
        assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
        assert_eq!(headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]));
        assert_eq!(headers.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"same-origin"[..]));
    }

    // A real run, so the run routes answer with its payload (parameters, results, report);
    // started first: the refused oversized body below ends its connection.
    let started = http
        .post(triage.url("/api/runbooks/general-triage/runs"))
        .header("x-triage-csrf", "1")
        .json(&serde_json::json!({"params": {}}))
        .send()
        .await?;
    anyhow::ensure!(started.status() == 200, "starting a run answered {}", started.status());
    let run: triage_shared::runbook::RunStarted = started.json().await?;

    // A request body over the limit is refused before any handler reads it.
    let big = serde_json::json!({ "replicas": 3, "pad": "x".repeat(200 * 1024) });
    let response = http
        .post(triage.url("/api/k8s/namespaces/streaming-analytics/deployments/websocket-server/scale"))
        .header("x-triage-csrf", "1")
        .json(&big)
        .send()
        .await?;
    assert_eq!(response.status(), 413);

    let good = Walk {
        ns: "streaming-analytics",
        name: "websocket-server",
        target: "main",
        runbook: "general-triage",
        run_id: &run.run_id,
        job: "1",
        topic: "events",
        group: "stream-processor-group",
        approval: "1",
    };
    let hostile = Walk {
        ns: "kube-system",
        name: "..%2f..%2fetc",
        target: "nope",
        runbook: "..%2f..%2fetc",
        run_id: "..%2f..%2fetc",
        job: "..%2f..%2fetc",
        topic: "..%2f..%2fetc",
        group: "..%2f..%2fetc",
        approval: "..%2f..%2fetc",
    };

    // Every route, with plausible and with hostile path parameters and bodies; collect everything
    // Triage answers.
    let mut answers = String::new();
    let mut walked = Vec::new();
    for (method, path, _role) in triage::http::route_table() {
        for walk in [&good, &hostile] {
            let url = triage.url(&walk.fill(&path)?);
            // Streams: read only the first bytes.
            let request = if method == Method::GET {
                http.get(&url).timeout(Duration::from_secs(3))
            } else {
                http.request(method.clone(), &url)
                    .header("x-triage-csrf", "1")
                    .json(&serde_json::json!({ "dry_run": true, "replicas": "x", "confirm": "../.." }))
            };
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let body = match tokio::time::timeout(Duration::from_secs(2), response.bytes()).await {
                        Ok(Ok(b)) => String::from_utf8_lossy(&b).into_owned(),
                        _ => String::new(),
                    };
                    answers.push_str(&format!("{method} {url} {status}\n{body}\n"));
                    walked.push((method.clone(), url.clone(), status.as_u16(), body));
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => anyhow::bail!("{method} {url}: {e}"),
            }
        }
    }
    // The run's own routes were reached with the real run and answered with its payload.
    for (suffix, needle) in [("", run.run_id.as_str()), ("/report.md", "# Incident report: General triage")] {
        let url = triage.url(&format!("/api/runs/{}{suffix}", run.run_id));
        let answer = walked.iter().find(|(m, u, _, _)| *m == Method::GET && *u == url);
        assert!(
            answer.is_some_and(|(_, _, status, body)| *status == 200 && body.contains(needle)),
            "GET {url} was not walked with the run: {answer:?}"
        );
    }

    // PostgreSQL made unreachable: the errors that follow must not quote the connection string.
    drop(pg);
    for path in ["/api/pg/main/statements", "/api/pg/main/activity", "/api/audit"] {
        let response = http.get(triage.url(path)).send().await?;
        answers.push_str(&response.text().await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = triage.child.log();
    for secret in [SESSION_KEY, TARGET_PASSWORD, STORE_PASSWORD] {
        assert!(!answers.contains(secret), "a response contains a secret ({secret})");
        assert!(!log.contains(secret), "the log contains a secret ({secret})");
    }
    assert!(answers.len() > 10_000, "the walk produced answers ({} bytes)", answers.len());
    assert!(!log.contains("panicked"), "the backend panicked:\n{log}");
    Ok(())
}

/// Values of the sandbox's Kubernetes Secrets (base64 as stored, and decoded): Triage may name a
/// Secret and its keys, never show what is in it.
const KUBERNETES_SECRET_DATA: [&str; 5] = [
    "bm90LWEtcmVhbC1wYXNzd29yZA==",
    "not-a-real-password",
    "c3RyZWFtaW5n",
    "c2FuZGJveC1vbmx5",
    "sandbox-only",
];

/// With single sign-on: a real login at the real OpenID provider (so the client secret is used
/// in the token exchange), every GET route walked as an admin, a forged callback, and a login
/// while the provider is down. Neither the OIDC client secret nor the session key nor any
/// Kubernetes Secret value appears in an answer or in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_client_secret_and_kubernetes_secret_values_stay_inside() -> Result<()> {
    use triage_tests::oidc::{ADMIN_GROUP, Agent, Body, CLIENT_ID, CLIENT_SECRET, OidcProvider, user};

    let sb = TestSandbox::start(Incident::Healthy).await?;
    let provider_port = OidcProvider::reserve_port()?;
    let port = triage_tests::paths::free_port()?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [auth]\nmode = \"oidc\"\nsession_key = \"{SESSION_KEY}\"\n\
             [auth.oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             redirect_url = \"http://127.0.0.1:{port}/auth/callback\"\nadmin_groups = [\"{ADMIN_GROUP}\"]\n\
             [kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\nlist_secret_names = true\n\
             [store]\nsqlite_path = \"{}\"\n\
             [runbooks]\ndir = \"{}\"\n",
            OidcProvider::issuer_for(provider_port),
            sb.kubeconfig.display(),
            dir.path().join("triage.db").display(),
            workspace_root().join("runbooks").display(),
        ),
    )?;
    let triage = TriageProcess::start_with_config(config, port, dir.path().join("triage.log")).await?;
    let provider = OidcProvider::start(provider_port, &[port]).await?;

    let agent = Agent::new();
    let landed = provider.login(&agent, &triage.url("/kubernetes"), &user("alma")).await?;
    assert_eq!(landed.status, 200, "{}", landed.body);
    let mut answers = String::new();
    let me = agent.get(&triage.url("/api/whoami")).await?;
    assert!(me.body.contains("admin"), "logged in as an admin: {}", me.body);
    answers.push_str(&me.body);

    // The secret-names view must name the Secrets (so the walk really reached them).
    let names = agent
        .get(&triage.url("/api/k8s/namespaces/streaming-analytics/deployments/stream-processor/secrets"))
        .await?;
    assert_eq!(names.status, 200, "{}", names.body);
    assert!(names.body.contains("stream-processor-credentials"), "{}", names.body);
    answers.push_str(&names.body);

    // A real run, so the run routes answer with its payload.
    let who: triage_shared::auth::WhoAmI = serde_json::from_str(&me.body)?;
    let csrf = who.csrf_token.context("a session has a CSRF token")?;
    let started = agent
        .send(
            Method::POST,
            &triage.url("/api/runbooks/general-triage/runs"),
            &[("x-triage-csrf", csrf.as_str())],
            Some(Body::Json(serde_json::json!({"params": {}}))),
        )
        .await?;
    assert_eq!(started.status, 200, "{}", started.body);
    let run: triage_shared::runbook::RunStarted = serde_json::from_str(&started.body)?;
    let walk = Walk {
        ns: "streaming-analytics",
        name: "stream-processor",
        target: "main",
        runbook: "general-triage",
        run_id: &run.run_id,
        job: "1",
        topic: "events",
        group: "stream-processor-group",
        approval: "1",
    };
    let mut run_answered = false;
    for (method, path, _role) in triage::http::route_table() {
        if method != Method::GET {
            continue;
        }
        let url = triage.url(&walk.fill(&path)?);
        // Streams never end: a few seconds of them is enough.
        if let Ok(page) = tokio::time::timeout(Duration::from_secs(3), agent.get(&url)).await {
            let page = page?;
            run_answered |=
                path == "/api/runs/{run_id}" && page.status == 200 && page.body.contains(&run.run_id);
            answers.push_str(&format!("GET {url} {}\n{}\n", page.status, page.body));
        }
    }
    assert!(run_answered, "the walk read the run {}", run.run_id);
    // A pod's detail carries its environment (secretKeyRef names only).
    let pods = agent.get(&triage.url("/api/k8s/namespaces/streaming-analytics/pods")).await?;
    let pod: serde_json::Value = serde_json::from_str(&pods.body)?;
    let first = pod["items"][0]["name"].as_str().unwrap_or_default().to_owned();
    answers.push_str(
        &agent.get(&triage.url(&format!("/api/k8s/namespaces/streaming-analytics/pods/{first}"))).await?.body,
    );

    // A forged callback, and a login while the provider is down.
    answers.push_str(&agent.get(&triage.url("/auth/callback?code=forged&state=forged")).await?.body);
    drop(provider); // stopped by PID
    // Discovery is cached, so the login starts; its callback then meets the dead provider at
    // the code exchange, and that error page is read too.
    let fresh = Agent::new();
    let start = fresh.get(&triage.url("/auth/login")).await?;
    let state = start
        .location
        .as_ref()
        .and_then(|l| l.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()))
        .unwrap_or_default();
    assert!(
        !state.is_empty(),
        "the login started from the cached discovery: {} {:?}",
        start.status,
        start.location
    );
    let down = fresh.get(&triage.url(&format!("/auth/callback?code=any&state={state}"))).await?;
    assert!(down.status >= 500, "login with the provider down: {} {}", down.status, down.body);
    answers.push_str(&down.body);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = triage.child.log();
    for secret in [CLIENT_SECRET, SESSION_KEY].into_iter().chain(KUBERNETES_SECRET_DATA) {
        assert!(!answers.contains(secret), "a response contains a secret ({secret})");
        assert!(!log.contains(secret), "the log contains a secret ({secret})");
    }
    assert!(answers.len() > 5_000, "the walk produced answers ({} bytes)", answers.len());
    assert!(!log.contains("panicked"), "the backend panicked:\n{log}");
    Ok(())
}
