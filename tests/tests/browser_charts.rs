//! Charts in real headless Chromium from real Prometheus data: the Overview's live charts draw
//! on their canvas with a legend, Explore charts a query with 24 series, shows the hover
//! read-out, shows Prometheus's error inline and has a table view.

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
