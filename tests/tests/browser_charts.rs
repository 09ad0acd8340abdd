//! Charts in real headless Chromium from real Prometheus data: the Overview's live charts draw
//! on their canvas with a legend, Explore charts a query with 24 series, shows the hover
//! read-out, shows Prometheus's error inline and has a table view; and a page left by a full
//! navigation (kept in the browser's back-forward cache) gives its live streams back and opens
//! them again when it comes back.

use std::time::Duration;

use fantoccini::Locator;
use triage_sandbox::Incident;
use triage_tests::paths::require_frontend;
use triage_tests::{Browser, Prometheus, TestApp, TestSandbox};

/// Distinct colours drawn on the canvas inside `selector` (1 means blank).
async fn canvas_colours(browser: &Browser, selector: &str) -> anyhow::Result<u64> {
    let script = format!(
        "const c = document.querySelector('{selector} canvas');
         if (!c || !c.width) return 0;
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         const seen = new Set();
         for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
         return seen.size;"
    );
    Ok(browser.client.execute(&script, vec![]).await?.as_u64().unwrap_or(0))
}

async fn wait_drawn(browser: &Browser, testid: &str) -> anyhow::Result<()> {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(&format!("[data-testid=\"{testid}\"][data-drawn=\"true\"]")))
        .await
        .map(drop)
        .map_err(|e| anyhow::anyhow!("chart {testid} was not drawn: {e}"))
}

#[tokio::test]
async fn overview_and_explore_draw_real_data() -> anyhow::Result<()> {
    require_frontend()?;
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let prom = Prometheus::start(&[("sandbox", sb.sandbox.metrics_addr.to_string())]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    let browser = Browser::start().await?;
    let result = scenario(&app, &browser).await;
    let _ = browser.screenshot("charts-final").await;
    browser.close().await?;
    app.stop().await?;
    result
}

async fn scenario(app: &TestApp, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/")).await?;
    for id in ["processing-rate", "error-rate", "latency-p95", "consumer-lag"] {
        wait_drawn(browser, &format!("chart-{id}")).await?;
        let colours = canvas_colours(browser, &format!("[data-testid=\"chart-{id}\"]")).await?;
        assert!(colours > 3, "chart {id} canvas looks blank ({colours} colours)");
    }
    let legend = client
        .find(Locator::Css("[data-testid=\"chart-consumer-lag\"] [data-testid=\"legend-item\"]"))
        .await?;
    assert!(legend.text().await?.contains("stream-processor-group"), "legend names the group");
    browser.screenshot("overview").await?;

    // Explore, from a shareable URL: one series per partition.
    client.goto(&app.url("/explore?query=kafka_consumer_lag&range=5m")).await?;
    wait_drawn(browser, "explore-chart").await?;
    let items = client
        .find_all(Locator::Css("[data-testid=\"explore-chart\"] [data-testid=\"legend-item\"]"))
        .await?;
    assert_eq!(items.len(), 24, "one legend entry per partition");
    assert!(items[0].text().await?.contains("partition="), "compact labels show what differs");
    let value = client.find(Locator::Css("[data-testid=\"promql-input\"]")).await?.prop("value").await?;
    assert_eq!(value.as_deref(), Some("kafka_consumer_lag"), "the editor shows the URL's query");

    // Hover read-out over the middle of the plot.
    client
        .execute(
            "const c = document.querySelector('[data-testid=\"explore-chart\"] canvas');
             const r = c.getBoundingClientRect();
             c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.6, clientY: r.top + r.height / 2, bubbles: true}));",
            vec![],
        )
        .await?;
    let tooltip = browser.wait_testid("chart-tooltip").await?.text().await?;
    assert!(tooltip.contains("partition="), "tooltip lists series values: {tooltip}");
    browser.screenshot("explore").await?;

    // Prometheus's error, inline.
    client.goto(&app.url("/explore?query=sum(rate(kafka_consumer_lag[5m]&range=5m")).await?;
    let error = browser.wait_testid("chart-error").await?.text().await?;
    assert!(error.contains("parse error"), "{error}");

    // Table view of an instant query.
    client.goto(&app.url("/explore?query=count(kafka_consumer_lag)&range=5m&view=table")).await?;
    let table = browser.wait_testid("result-table").await?.text().await?;
    assert!(table.contains("24"), "{table}");
    Ok(())
}

/// The backend's count of server-sent-event streams open now.
async fn open_streams(app: &TestApp) -> anyhow::Result<f64> {
    let text = app.http.get(app.url("/metrics")).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("triage_event_streams ").and_then(|v| v.trim().parse().ok()))
        .ok_or_else(|| anyhow::anyhow!("triage_event_streams missing from /metrics:\n{text}"))
}

async fn streams_become(app: &TestApp, want: f64, when: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = open_streams(app).await?;
        if now == want {
            return Ok(());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{when}: {now} streams open, expected {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A browser allows six connections per host to plain-HTTP Triage, cached pages included: the
/// Overview's four live streams, left open by a page in the back-forward cache, would starve
/// the next pages. Full navigations back and forth: the hidden page holds none, the page that
/// comes back opens its four again, and every visit draws every chart.
#[tokio::test]
async fn pages_left_behind_give_their_live_streams_back() -> anyhow::Result<()> {
    require_frontend()?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let prom = Prometheus::start(&[("sandbox", sb.sandbox.metrics_addr.to_string())]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    let browser = Browser::start().await?;
    let result = async {
        let charts = ["processing-rate", "error-rate", "latency-p95", "consumer-lag"];
        for visit in 0..3 {
            browser.client.goto(&app.url("/")).await?;
            for id in charts {
                wait_drawn(&browser, &format!("chart-{id}")).await?;
            }
            streams_become(&app, 4.0, &format!("Overview, visit {visit}")).await?;
            browser.client.goto(&app.url("/audit")).await?;
            browser.wait_testid("page-audit").await?;
            streams_become(&app, 0.0, &format!("the Overview of visit {visit} left behind")).await?;
        }
        // Back to the cached Overview: its streams open again and its charts are live.
        browser.client.back().await?;
        browser.wait_testid("page-overview").await?;
        streams_become(&app, 4.0, "the Overview back from the cache").await?;
        for id in charts {
            wait_drawn(&browser, &format!("chart-{id}")).await?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = browser.screenshot("charts-back-forward").await;
    browser.close().await?;
    app.stop().await?;
    result
}
