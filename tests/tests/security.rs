//! Security properties that hold for every route: the response headers (CSP that allows the wasm
//! and nothing else, no framing, no sniffing), bounded request bodies, and no secret value in any
//! API response or log line. The real `triage` binary runs with secrets in its configuration
//! (session key, PostgreSQL passwords in the analysis target and the store) while every route of
//! the route table is called, with good and with broken input.

use std::time::Duration;

use anyhow::Result;
use reqwest::Method;
use triage_sandbox::Incident;
use triage_tests::triage_process::TriageProcess;
use triage_tests::{Postgres, Prometheus, TestSandbox};

/// Values that must never leave Triage.
const SESSION_KEY: &str =
    "U2Vzc2lvbktleVNlY3JldFZhbHVlRm9yVHJpYWdlU2VjdXJpdHlUZXN0c09ubHlfXzEyMzQ1Njc4OTBhYmNkZWY=";
const TARGET_PASSWORD: &str = "target-pw-7c1f3e";
const STORE_PASSWORD: &str = "store-pw-90ab2d";

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
             [store]\npostgres_url = \"{} password={STORE_PASSWORD}\"\n",
            prom.url,
            sb.kubeconfig.display(),
            pg.conninfo("postgres"),
            pg.conninfo("postgres"),
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

    // A request body over the limit is refused before any handler reads it.
    let big = serde_json::json!({ "replicas": 3, "pad": "x".repeat(200 * 1024) });
    let response = http
        .post(triage.url("/api/k8s/namespaces/streaming-analytics/deployments/websocket-server/scale"))
        .header("x-triage-csrf", "1")
        .json(&big)
        .send()
        .await?;
    assert_eq!(response.status(), 413);

    // Every route, with plausible and with hostile path parameters and bodies; collect everything
    // Triage answers.
    let mut answers = String::new();
    for (method, path, _role) in triage::routes::route_table() {
        for (ns, name, target) in
            [("streaming-analytics", "websocket-server", "main"), ("kube-system", "..%2f..%2fetc", "nope")]
        {
            let url = triage.url(
                &path
                    .replace("{ns}", ns)
                    .replace("{name}", name)
                    .replace("{target}", target)
                    .replace("{id}", "1")
                    .replace("{runbook}", "general-triage"),
            );
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
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => anyhow::bail!("{method} {url}: {e}"),
            }
        }
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
