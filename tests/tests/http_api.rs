//! The backend over real HTTP: operational endpoints, the error shape, the SPA fallback, metrics
//! and graceful shutdown.

use triage_shared::{ErrorBody, ErrorKind, VersionInfo};
use triage_tests::TestApp;
use triage_tests::paths::require_frontend;

#[tokio::test]
async fn health_ready_and_version() -> anyhow::Result<()> {
    let app = TestApp::start().await?;
    let health = app.http.get(app.url("/healthz")).send().await?;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await?, "ok");
    let ready = app.http.get(app.url("/readyz")).send().await?;
    assert_eq!(ready.status(), 200);

    let version: VersionInfo = app.http.get(app.url("/api/version")).send().await?.json().await?;
    assert_eq!(version.name, "triage");
    assert_eq!(version.version, env!("CARGO_PKG_VERSION"));
    app.stop().await
}

#[tokio::test]
async fn unknown_api_route_is_a_json_404() -> anyhow::Result<()> {
    let app = TestApp::start().await?;
    let response = app.http.get(app.url("/api/does-not-exist")).send().await?;
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"].to_str()?.starts_with("application/json"),
        "error bodies are JSON"
    );
    let body: ErrorBody = response.json().await?;
    assert_eq!(body.error.kind, ErrorKind::NotFound);
    assert!(body.error.message.contains("/api/does-not-exist"), "{}", body.error.message);
    app.stop().await
}

#[tokio::test]
async fn deep_links_load_the_app_and_missing_assets_do_not() -> anyhow::Result<()> {
    require_frontend()?;
    let app = TestApp::start().await?;
    for path in ["/", "/runbooks/kafka-consumer-lag?namespace=streaming-analytics&group=g", "/explore"] {
        let response = app.http.get(app.url(path)).send().await?;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        let html = response.text().await?;
        assert!(html.contains("<title>Triage</title>"), "{path} did not serve the app");
        assert!(html.contains("_bg.wasm"), "{path}: index.html does not load the wasm");
    }
    let icon = app.http.get(app.url("/favicon.svg")).send().await?;
    assert_eq!(icon.status(), 200, "the favicon is served at a stable URL");
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    let missing = app.http.get(app.url("/stale-bundle-0000.js")).send().await?;
    assert_eq!(missing.status(), 404, "a missing asset must not fall back to index.html");

    // Fingerprinted assets are cacheable forever and served compressed.
    let html = app.http.get(app.url("/")).send().await?.text().await?;
    let wasm = html
        .split('"')
        .find(|s| s.ends_with("_bg.wasm"))
        .ok_or_else(|| anyhow::anyhow!("no wasm URL in index.html"))?
        .to_owned();
    let response = app.http.get(app.url(&wasm)).header("accept-encoding", "gzip").send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/wasm");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(response.headers()["cache-control"].to_str()?.contains("immutable"));

    // The build's brotli copy is served as it is (nothing compressed per request), with the
    // original's type; without an accepted encoding the plain file comes back.
    let dist = triage_tests::paths::workspace_root().join("dist");
    let name = wasm.trim_start_matches('/');
    let response =
        app.http.get(app.url(&wasm)).header("accept-encoding", "gzip, deflate, br, zstd").send().await?;
    assert_eq!(response.headers()["content-encoding"], "br");
    assert_eq!(response.headers()["content-type"], "application/wasm");
    assert_eq!(response.headers()["vary"], "accept-encoding");
    assert_eq!(response.bytes().await?.as_ref(), std::fs::read(dist.join(format!("{name}.br")))?.as_slice());
    let response = app.http.get(app.url(&wasm)).header("accept-encoding", "br;q=0, identity").send().await?;
    assert!(response.headers().get("content-encoding").is_none());
    assert_eq!(response.bytes().await?.as_ref(), std::fs::read(dist.join(name))?.as_slice());
    let page = app.http.get(app.url("/runbooks")).header("accept-encoding", "br").send().await?;
    assert_eq!(page.headers()["content-encoding"], "br");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    app.stop().await
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() -> anyhow::Result<()> {
    let app = TestApp::start().await?;
    for _ in 0..3 {
        app.http.get(app.url("/api/version")).send().await?.error_for_status()?;
    }
    app.http.get(app.url("/api/nothing-here")).send().await?;
    let text = app.http.get(app.url("/metrics")).send().await?.text().await?;
    assert!(
        text.contains(r#"triage_http_requests_total{method="GET",route="/api/version",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"status="404""#), "{text}");
    assert!(text.contains("triage_http_request_duration_seconds_bucket"), "{text}");
    app.stop().await
}

#[tokio::test]
async fn security_headers_are_set() -> anyhow::Result<()> {
    let app = TestApp::start().await?;
    let response = app.http.get(app.url("/api/version")).send().await?;
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "same-origin");
    app.stop().await
}

#[tokio::test]
async fn graceful_shutdown_stops_accepting() -> anyhow::Result<()> {
    let app = TestApp::start().await?;
    let url = app.url("/healthz");
    let http = app.http.clone();
    assert_eq!(http.get(&url).send().await?.status(), 200);
    app.stop().await?;
    assert!(http.get(&url).send().await.is_err(), "the listener must be closed after shutdown");
    Ok(())
}
