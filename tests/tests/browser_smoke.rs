//! Browser smoke test: the app mounts in real headless Chromium, navigation works, deep links
//! land on their page with their parameters, the theme is remembered, and each page's code is
//! fetched only when the page first opens (the bundle is split by page). Saves screenshots under
//! `target/test-output/`.

use fantoccini::Locator;
use triage_tests::paths::require_frontend;
use triage_tests::{Browser, TestApp};

#[tokio::test]
async fn app_mounts_navigates_and_opens_deep_links() -> anyhow::Result<()> {
    require_frontend()?;
    let mut settings = triage::config::Settings::default();
    settings.runbooks.dir = triage_tests::paths::workspace_root().join("runbooks");
    let app = TestApp::start_with(settings).await?;
    let browser = Browser::start().await?;
    let result = scenario(&app, &browser).await;
    // Screenshot whatever state we reached, pass or fail, for whoever reads the CI log.
    let shot = browser.screenshot("smoke-final").await;
    browser.close().await?;
    app.stop().await?;
    result?;
    shot?;
    Ok(())
}

async fn scenario(app: &TestApp, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/")).await?;
    browser.wait_testid("app-shell").await?;
    browser.wait_testid("page-overview").await?;
    // The footer shows what /api/version answered: the typed API call works from the wasm.
    let version = browser.wait_testid("backend-version").await?.text().await?;
    assert!(version.contains("triage"), "footer says {version:?}");
    browser.screenshot("smoke-overview").await?;
    let mut loaded = wasm_loaded(browser).await?;
    assert_eq!(loaded.len(), 1, "Overview loads the main module alone, got {loaded:?}");

    // Navigation by clicking the nav links (client-side routing, no reload). Each page but
    // Overview fetches its own chunk the first time it opens, and nothing when it opens again.
    for (link, page, path) in [
        ("nav-explore", "page-explore", "/explore"),
        ("nav-kubernetes", "page-kubernetes", "/kubernetes"),
        ("nav-postgres", "page-postgres", "/postgres"),
        ("nav-alerts", "page-alerts", "/alerts"),
        ("nav-audit", "page-audit", "/audit"),
        ("nav-runbooks", "page-runbooks", "/runbooks"),
        ("nav-overview", "page-overview", "/"),
    ] {
        browser.wait_testid(link).await?.click().await?;
        browser.wait_testid(page).await?;
        let url = client.current_url().await?;
        assert_eq!(url.path(), path, "clicking {link}");
        let current = client
            .find(Locator::Css(&format!("[data-testid=\"{link}\"]")))
            .await?
            .attr("aria-current")
            .await?;
        assert_eq!(current.as_deref(), Some("page"), "{link} is not marked as the current page");
        let now = wasm_loaded(browser).await?;
        let fetched: Vec<&String> = now.iter().filter(|f| !loaded.contains(f)).collect();
        if page == "page-overview" {
            assert!(fetched.is_empty(), "back on Overview, {fetched:?} were fetched");
        } else {
            assert!(!fetched.is_empty(), "{page} opened without fetching a chunk of its own");
        }
        loaded = now;
    }
    browser.wait_testid("nav-explore").await?.click().await?;
    browser.wait_testid("page-explore").await?;
    assert_eq!(wasm_loaded(browser).await?, loaded, "a page opened again fetches no chunk");
    browser.wait_testid("nav-overview").await?.click().await?;
    browser.wait_testid("page-overview").await?;

    // A deep link, as an alert's runbook_url would open it.
    client
        .goto(
            &app.url(
                "/runbooks/kafka-consumer-lag?namespace=streaming-analytics&consumer_group=stream-processor-group",
            ),
        )
        .await?;
    let id = browser.testid_prop("runbook-id", "textContent").await?;
    assert_eq!(id.as_deref().map(str::trim), Some("kafka-consumer-lag"));
    let ns = browser.testid_prop("param-namespace", "value").await?;
    assert_eq!(ns.as_deref(), Some("streaming-analytics"), "namespace field");
    let group = browser.testid_prop("param-consumer_group", "value").await?;
    assert_eq!(group.as_deref(), Some("stream-processor-group"), "consumer group field");
    browser.screenshot("smoke-deep-link").await?;
    // The deep link asked for the flow page's chunks while the document was parsed (preloads
    // beside the main module), and the loader took those answers: every file fetched once.
    let fetches = client
        .execute(
            "return performance.getEntriesByType('resource')\
             .filter(e => new URL(e.name).pathname.endsWith('.wasm'))\
             .map(e => [new URL(e.name).pathname, e.initiatorType]);",
            vec![],
        )
        .await?;
    let fetches: Vec<(String, String)> = serde_json::from_value(fetches)?;
    let flow: Vec<&(String, String)> =
        fetches.iter().filter(|(p, _)| p.contains("runbook_flow_page")).collect();
    assert_eq!(flow.len(), 1, "the flow page's own chunk, once: {fetches:?}");
    assert_eq!(flow[0].1, "link", "preloaded by the document, not fetched once the app routed: {fetches:?}");
    let mut paths: Vec<&String> = fetches.iter().map(|(p, _)| p).collect();
    let all = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), all, "a file fetched twice (a preload the loader did not use): {fetches:?}");

    // Unknown page: the app says so instead of showing nothing.
    client.goto(&app.url("/no-such-page")).await?;
    browser.wait_testid("page-not-found").await?;

    // Theme: toggling changes <html data-theme> and survives a reload.
    let theme = || async {
        client
            .execute("return document.documentElement.getAttribute('data-theme');", vec![])
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
    };
    let before = theme().await?;
    browser.wait_testid("theme-toggle").await?.click().await?;
    let after = theme().await?;
    assert_ne!(before, after, "the toggle must change the theme");
    client.refresh().await?;
    browser.wait_testid("app-shell").await?;
    assert_eq!(theme().await?, after, "the theme must be remembered across reloads");
    Ok(())
}

/// The wasm files the page has fetched so far (Resource Timing), each once, in the order fetched.
async fn wasm_loaded(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let names = browser
        .client
        .execute(
            "return [...new Set(performance.getEntriesByType('resource')\
             .map(e => new URL(e.name).pathname).filter(p => p.endsWith('.wasm')))];",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(names)?)
}
