//! The HTTP edge, over real HTTP against the real backend: which host names and origins Triage
//! answers to (DNS rebinding against the no-auth console, cross-site actions with and without
//! single sign-on), and that every `/api` failure before or inside a handler — a malformed body
//! or query, an oversized body, an unknown path, a wrong method, the request timeout — is the
//! JSON `ErrorBody` with the status of its kind.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_shared::{ErrorBody, ErrorKind};
use triage_tests::oidc::{Body, session_key, sso_settings, user};
use triage_tests::paths::free_port;
use triage_tests::proxy::{Fault, TcpProxy};
use triage_tests::{Agent, OidcProvider, Prometheus, TestApp, TestSandbox};

const NS: &str = "/api/k8s/namespaces/streaming-analytics";
/// The name a rebinding page gives itself after pointing its DNS record at 127.0.0.1.
const EVIL_HOST: &str = "evil.example:8080";

/// The answer's status and its `ErrorBody`, failing unless it is `application/json` with the
/// security headers, parses as one, and its kind carries exactly that status.
async fn error_body(what: &str, response: reqwest::Response) -> Result<(u16, ErrorBody)> {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let nosniff = response.headers().get("x-content-type-options").is_some_and(|v| v == "nosniff");
    let text = response.text().await?;
    anyhow::ensure!(nosniff, "{what}: {status} without the security headers: {text:?}");
    anyhow::ensure!(
        content_type.starts_with("application/json"),
        "{what}: answered {status} as {content_type:?}, not JSON: {text:?}"
    );
    let body: ErrorBody = serde_json::from_str(&text)
        .with_context(|| format!("{what}: {status} is not an ErrorBody: {text}"))?;
    anyhow::ensure!(
        body.error.kind.http_status() == status,
        "{what}: kind {:?} travels with {status}: {text}",
        body.error.kind
    );
    anyhow::ensure!(!body.error.message.trim().is_empty(), "{what}: empty message: {text}");
    Ok((status, body))
}

async fn replicas(sb: &TestSandbox, deployment: &str) -> Result<u32> {
    let text = sb.kubectl(&["get", "deployment", deployment, "-o", "jsonpath={.spec.replicas}"]).await?;
    text.trim().parse().with_context(|| format!("replicas of {deployment}: {text:?}"))
}

// ---------------------------------------------------------------------------------------------
// A. Who Triage answers to.

#[tokio::test]
async fn no_auth_answers_only_to_loopback_host_names() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let port = app.addr.port();
    let scale = app.url(&format!("{NS}/deployments/stream-processor/scale"));
    let before = replicas(&sb, "stream-processor").await?;

    // A rebinding page is "same origin" with itself: its Origin matches its Host. Only the host
    // name gives it away, for reads (pod logs, events) as for actions.
    let read = app.http.get(app.url(&format!("{NS}/pods"))).header("host", EVIL_HOST).send().await?;
    let (status, body) = error_body("rebinding read", read).await?;
    assert_eq!((status, body.error.kind), (403, ErrorKind::Forbidden), "{body:?}");
    assert!(
        body.error.message.contains("answers only to a loopback host name")
            && body.error.message.contains(&format!("this request named host {EVIL_HOST}")),
        "{}",
        body.error.message
    );
    let act = app
        .http
        .post(&scale)
        .header("host", EVIL_HOST)
        .header("origin", format!("http://{EVIL_HOST}"))
        .header("x-triage-csrf", "1")
        .json(&json!({"replicas": before + 5}))
        .send()
        .await?;
    let (status, body) = error_body("rebinding action", act).await?;
    assert_eq!((status, body.error.kind), (403, ErrorKind::Forbidden), "{body:?}");
    assert_eq!(replicas(&sb, "stream-processor").await?, before, "the refused scale changed nothing");
    let audit: serde_json::Value = app.get_json("/api/audit").await?;
    assert_eq!(audit, json!([]), "a refused request leaves no audit row");

    // Pages and the login routes are refused too, as plain text; probes answer any name.
    for path in ["/", "/kubernetes?ns=x", "/auth/login"] {
        let page = app.http.get(app.url(path)).header("host", EVIL_HOST).send().await?;
        assert_eq!(page.status(), 403, "{path}");
        assert!(page.headers()["content-type"].to_str()?.starts_with("text/plain"), "{path}");
        assert!(page.text().await?.contains("loopback host name"), "{path}");
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let probe = app.http.get(app.url(path)).header("host", "triage.monitoring.svc:8080").send().await?;
        assert_eq!(probe.status(), 200, "{path} answers any host name");
    }

    // Every loopback spelling is served, with or without a port.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("127.8.9.10:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ] {
        let me = app.http.get(app.url("/api/whoami")).header("host", &host).send().await?;
        assert_eq!(me.status(), 200, "Host: {host}");
    }
    let host = format!("localhost:{port}");
    let dry = app
        .http
        .post(&scale)
        .header("host", &host)
        .header("origin", format!("http://{host}"))
        .header("x-triage-csrf", "1")
        .json(&json!({"replicas": before + 5, "dry_run": true}))
        .send()
        .await?;
    assert_eq!(dry.status(), 200, "a loopback console may act: {}", dry.text().await?);
    Ok(())
}

#[tokio::test]
async fn cross_site_actions_are_refused_in_no_auth_mode() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let scale = app.url(&format!("{NS}/deployments/stream-processor/scale"));
    let own = format!("http://{}", app.addr);
    let before = replicas(&sb, "stream-processor").await?;

    for (name, value) in [
        ("origin", "http://evil.example".to_owned()),
        // Another port on the same machine is another origin (another local web app).
        ("origin", format!("http://127.0.0.1:{}", app.addr.port() + 1)),
        ("origin", format!("https://{}", app.addr)),
        ("origin", "null".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
    ] {
        let response = app
            .http
            .post(&scale)
            .header(name, &value)
            .header("x-triage-csrf", "1")
            .json(&json!({"replicas": before + 5}))
            .send()
            .await?;
        let (status, body) = error_body(&format!("{name}: {value}"), response).await?;
        assert_eq!((status, body.error.kind), (403, ErrorKind::Csrf), "{name}: {value}: {body:?}");
        assert!(body.error.message.contains("own"), "{name}: {value}: {}", body.error.message);
    }
    assert_eq!(replicas(&sb, "stream-processor").await?, before, "no refused request acted");

    // The console's own pages (same origin, as a browser states it) and clients that state no
    // origin at all (curl) act as before.
    let ours = app
        .http
        .post(&scale)
        .header("origin", &own)
        .header("sec-fetch-site", "same-origin")
        .header("x-triage-csrf", "1")
        .json(&json!({"replicas": before + 1}))
        .send()
        .await?;
    assert_eq!(ours.status(), 200, "{}", ours.text().await?);
    assert_eq!(replicas(&sb, "stream-processor").await?, before + 1);
    let (status, body) = app
        .post_json(&format!("{NS}/deployments/stream-processor/scale"), &json!({"replicas": before + 2}))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(replicas(&sb, "stream-processor").await?, before + 2);

    // The missing CSRF header has its own kind too.
    let bare = app.http.post(&scale).json(&json!({"replicas": before + 3})).send().await?;
    let (status, body) = error_body("no CSRF header", bare).await?;
    assert_eq!((status, body.error.kind), (403, ErrorKind::Csrf));
    Ok(())
}

#[tokio::test]
async fn cross_site_actions_are_refused_with_single_sign_on() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let provider_port = OidcProvider::reserve_port()?;
    let port = free_port()?;
    let mut settings = sso_settings(&OidcProvider::issuer_for(provider_port), port, &session_key())?;
    settings.kubernetes = triage_tests::app::kubernetes_settings(&sb.kubeconfig, Role::Reader).kubernetes;
    let app = TestApp::start_on(settings, port).await?;
    let provider = OidcProvider::start(provider_port, &[port]).await?;
    let agent = Agent::new();
    let landed = provider.login(&agent, &app.url("/auth/login"), &user("oscar")).await?;
    assert_eq!(landed.url.path(), "/", "{}", landed.body);
    let me = agent.get(&app.url("/api/whoami")).await?.json();
    let csrf = me["csrf_token"].as_str().context("csrf token")?.to_owned();
    let scale = app.url(&format!("{NS}/deployments/stream-processor/scale"));
    let own = format!("http://127.0.0.1:{port}");
    let post = |headers: Vec<(&'static str, String)>, replicas: u32| {
        let (agent, scale, csrf) = (&agent, &scale, &csrf);
        async move {
            let mut all: Vec<(&str, &str)> = vec![("x-triage-csrf", csrf.as_str())];
            all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
            agent.send(Method::POST, scale, &all, Some(Body::Json(json!({"replicas": replicas})))).await
        }
    };
    let before = replicas(&sb, "stream-processor").await?;

    // A valid session and its token are not enough when the browser says another site sent it.
    for (name, value) in [
        ("origin", "https://evil.example".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
    ] {
        let page = post(vec![(name, value.clone())], before + 5).await?;
        assert_eq!(page.status, 403, "{name}: {value}: {}", page.body);
        assert_eq!(page.json()["error"]["kind"], "csrf", "{name}: {value}: {}", page.body);
    }
    assert_eq!(replicas(&sb, "stream-processor").await?, before, "no refused request acted");

    // Same origin acts; so does the public origin (`auth.oidc.redirect_url`) when a proxy in
    // front has rewritten Host to an internal name.
    let ours =
        post(vec![("origin", own.clone()), ("sec-fetch-site", "same-origin".to_owned())], before + 1).await?;
    assert_eq!(ours.status, 200, "{}", ours.body);
    let proxied =
        post(vec![("origin", own), ("host", "triage.triage.svc:8080".to_owned())], before + 2).await?;
    assert_eq!(proxied.status, 200, "{}", proxied.body);
    assert_eq!(replicas(&sb, "stream-processor").await?, before + 2);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// B. One error shape, everywhere.

/// POST routes that read no body (an oversized one is still refused before them).
const BODYLESS_POSTS: [&str; 2] = ["/api/runbooks/reload", "/api/pg/{target}/snapshots"];

/// The typed query parameters of each route: a value of the wrong type is a 400 naming it.
const TYPED_QUERY: [(&str, &[&str]); 11] = [
    ("/api/prom/query", &["time"]),
    ("/api/prom/query_range", &["start", "end", "step"]),
    ("/api/prom/series", &["start", "end"]),
    ("/api/k8s/namespaces/{ns}/pods", &["limit"]),
    ("/api/k8s/namespaces/{ns}/pods/{name}/logs", &["tail", "previous"]),
    ("/api/k8s/namespaces/{ns}/deployments/{name}/rollout", &["timeout_secs"]),
    ("/api/k8s/namespaces/{ns}/pods/{name}/logs/follow", &["tail"]),
    ("/api/audit", &["limit"]),
    ("/api/pg/{target}/statements", &["limit"]),
    ("/api/pg/{target}/diff", &["from", "to", "from_time", "to_time", "limit"]),
    ("/api/live", &["step", "window", "interval"]),
];

fn concrete(template: &str) -> String {
    template
        .replace("{ns}", "streaming-analytics")
        .replace("{name}", "x")
        .replace("{target}", "main")
        // An approval's id is a number; every other `{id}` is text.
        .replace("/approvals/{id}", "/approvals/1")
        .replace("{id}", "x")
        .replace("{run_id}", "x")
}

#[tokio::test]
async fn every_api_route_answers_malformed_input_with_the_error_body() -> Result<()> {
    let settings = Settings {
        auth: triage::config::AuthSettings::Local { local_role: Role::Admin },
        ..Settings::default()
    };
    let app = TestApp::start_with(settings).await?;
    let http = &app.http;
    let table = triage::http::route_table();
    let send = |method: Method, path: &str| http.request(method, app.url(path)).header("x-triage-csrf", "1");
    let oversized = vec![b' '; triage::http::MAX_REQUEST_BODY + 1];
    let mut checked = 0usize;

    for (method, template, _) in &table {
        let path = concrete(template);
        let what = |case: &str| format!("{method} {template} ({case})");

        // An oversized body, declared up front: 413 on every route, read or not.
        let response = send(method.clone(), &path)
            .header("content-type", "application/json")
            .body(oversized.clone())
            .send()
            .await?;
        let (status, body) = error_body(&what("oversized"), response).await?;
        assert_eq!((status, body.error.kind), (413, ErrorKind::TooLarge), "{}", what("oversized"));
        assert!(body.error.message.contains("64 KiB"), "{}", body.error.message);

        // An unknown path beside it.
        let unknown = format!("/api/no-such{}", template.trim_start_matches("/api"));
        let (status, body) =
            error_body(&what("unknown"), send(method.clone(), &concrete(&unknown)).send().await?).await?;
        assert_eq!((status, body.error.kind), (404, ErrorKind::NotFound), "{}", what("unknown"));

        // Methods the route does not take: 405 naming the ones it does.
        let takes: Vec<&Method> = table.iter().filter(|(_, t, _)| t == template).map(|(m, _, _)| m).collect();
        for wrong in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS]
        {
            if takes.contains(&&wrong) {
                continue;
            }
            let case = format!("{wrong} instead");
            let (status, body) = error_body(&what(&case), send(wrong.clone(), &path).send().await?).await?;
            assert_eq!((status, body.error.kind), (405, ErrorKind::MethodNotAllowed), "{}", what(&case));
            assert!(body.error.message.contains(method.as_str()), "{}: {}", what(&case), body.error.message);
        }

        // A path parameter that is not text.
        if let Some(at) = template.find('{') {
            let end = template[at..].find('}').map_or(template.len(), |e| at + e + 1);
            let bad = concrete(&format!("{}%FF{}", &template[..at], &template[end..]));
            let (status, body) =
                error_body(&what("%FF"), send(method.clone(), &bad).json(&json!({})).send().await?).await?;
            assert_eq!((status, body.error.kind), (400, ErrorKind::BadRequest), "{}: {body:?}", what("%FF"));
            assert!(body.error.message.contains("path parameter"), "{}", body.error.message);
        }

        if *method == Method::POST && !BODYLESS_POSTS.contains(&template.as_str()) {
            let cases: [(&str, reqwest::RequestBuilder, &str); 4] = [
                (
                    "bad JSON",
                    send(Method::POST, &path)
                        .header("content-type", "application/json")
                        .body("{\"dry_run\": "),
                    "not valid JSON",
                ),
                ("not an object", send(Method::POST, &path).json(&json!([1, 2])), "the request body"),
                (
                    "wrong field types",
                    send(Method::POST, &path).json(&json!({
                        "dry_run": "yes", "replicas": "x", "deployments": "x", "selector": 1,
                        "force": "no", "confirm": 5, "params": 3
                    })),
                    "field ",
                ),
                ("no content type", send(Method::POST, &path).body("{}"), "Content-Type: application/json"),
            ];
            for (case, request, words) in cases {
                let (status, body) = error_body(&what(case), request.send().await?).await?;
                assert_eq!(
                    (status, body.error.kind),
                    (400, ErrorKind::BadRequest),
                    "{}: {body:?}",
                    what(case)
                );
                assert!(body.error.message.contains(words), "{}: {}", what(case), body.error.message);
            }
        }

        if *method == Method::GET {
            let params = TYPED_QUERY.iter().find(|(t, _)| t == template).map_or(&[][..], |(_, p)| *p);
            for param in params {
                let url = format!("{path}?query=up&{param}=abc");
                let case = format!("{param}=abc");
                let (status, body) = error_body(&what(&case), send(Method::GET, &url).send().await?).await?;
                assert_eq!(
                    (status, body.error.kind),
                    (400, ErrorKind::BadRequest),
                    "{}: {body:?}",
                    what(&case)
                );
                assert!(body.error.message.contains(param), "{}: {}", what(&case), body.error.message);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, table.len());

    // A body over the limit that declares no length (chunked) meets it while being read.
    let chunks = futures::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 8 * 1024]))),
    );
    let response = send(Method::POST, &format!("{NS}/deployments/x/scale"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await?;
    let (status, body) = error_body("chunked oversized", response).await?;
    assert_eq!((status, body.error.kind), (413, ErrorKind::TooLarge));

    // Missing required parameters name what is missing.
    let (status, body) =
        error_body("no query", send(Method::GET, "/api/prom/query_range?query=up").send().await?).await?;
    assert_eq!(status, 400);
    assert!(body.error.message.contains("start"), "{}", body.error.message);
    app.stop().await
}

#[tokio::test]
async fn a_request_over_the_server_timeout_is_a_504_error_body() -> Result<()> {
    let prom = Prometheus::start(&[]).await?;
    let prom_addr = prom.url.trim_start_matches("http://").trim_end_matches('/').parse()?;
    let proxy = TcpProxy::start(vec![prom_addr]).await?;
    let mut settings =
        Settings { prometheus: Some(TestApp::prometheus_settings(&proxy.url("/"))?), ..Settings::default() };
    settings.server.request_timeout_secs = 1;
    let app = TestApp::start_with(settings).await?;

    // Prometheus's address accepts and never answers; its own timeout (10 s) is longer than the
    // server's (1 s).
    proxy.set_fault(Fault::Hang);
    let started = Instant::now();
    let response = app.http.get(app.url("/api/prom/query?query=up")).send().await?;
    let elapsed = started.elapsed();
    let (status, body) = error_body("hanging Prometheus", response).await?;
    assert_eq!((status, body.error.kind), (504, ErrorKind::Timeout), "{body:?}");
    assert!(body.error.message.contains("server.request_timeout_secs"), "{}", body.error.message);
    assert!(elapsed < Duration::from_secs(4), "answered after {elapsed:?}");

    // The abandoned upstream call is not reused: with Prometheus answering again, so is Triage.
    proxy.set_fault(Fault::None);
    let ok = app.http.get(app.url("/api/prom/query?query=up")).send().await?;
    assert_eq!(ok.status(), 200, "{}", ok.text().await?);
    app.stop().await
}
