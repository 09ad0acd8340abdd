//! Charts in real headless Chromium from real Prometheus data: the Overview's live charts draw
//! on their canvas with a legend, Explore charts a query with 24 series, shows the hover
//! read-out, shows Prometheus's error inline and has a table view; and a page left by a full
//! navigation (kept in the browser's back-forward cache) gives its live streams back and opens
//! them again when it comes back; and charts are drawn at the screen's pixel ratio (1, 1.5, 2),
//! light and dark, with sharp grid lines and the hover read-out where the pointer is.

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

/// The chart `testid`'s canvas: its backing size, its size on the page in CSS pixels, the page's
/// `devicePixelRatio`, and how many of its pixel rows and columns are a grid line drawn sharp:
/// at least 40% of the plot's width (height) exactly `grid` (a line on a half pixel would be two
/// rows of a blend).
async fn canvas_facts(browser: &Browser, testid: &str, grid: [u8; 3]) -> anyhow::Result<serde_json::Value> {
    let script = format!(
        "const c = document.querySelector('[data-testid=\"{testid}\"] canvas');
         const r = c.getBoundingClientRect();
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         const [gr, gg, gb] = arguments[0];
         let sharp = 0;
         for (let y = 0; y < c.height; y++) {{
           let same = 0;
           for (let x = Math.floor(c.width * 0.2); x < Math.floor(c.width * 0.9); x++) {{
             const i = (y * c.width + x) * 4;
             if (d[i] === gr && d[i + 1] === gg && d[i + 2] === gb) same++;
           }}
           if (same >= c.width * 0.7 * 0.4) sharp++;
         }}
         let sharpColumns = 0;
         for (let x = 0; x < c.width; x++) {{
           let same = 0;
           for (let y = Math.floor(c.height * 0.1); y < Math.floor(c.height * 0.8); y++) {{
             const i = (y * c.width + x) * 4;
             if (d[i] === gr && d[i + 1] === gg && d[i + 2] === gb) same++;
           }}
           if (same >= c.height * 0.7 * 0.4) sharpColumns++;
         }}
         return {{width: c.width, height: c.height, cssWidth: r.width, cssHeight: r.height,
                  ratio: window.devicePixelRatio, sharpRows: sharp, sharpColumns}};"
    );
    Ok(browser.client.execute(&script, vec![serde_json::json!(grid)]).await?)
}

#[tokio::test]
async fn charts_are_drawn_at_the_screens_pixel_ratio_sharp_in_both_themes() -> anyhow::Result<()> {
    require_frontend()?;
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let prom = Prometheus::start(&[("sandbox", sb.sandbox.metrics_addr.to_string())]).await?;
    let app = TestApp::start_with_prometheus(&prom.url).await?;
    let mut result = Ok(());
    for ratio in [1.0, 1.5, 2.0] {
        let browser = Browser::start_scaled(ratio).await?;
        let outcome = at_ratio(&app, &browser, ratio).await;
        let _ = browser.screenshot(&format!("charts-dpr-{ratio}")).await;
        browser.close().await?;
        if let Err(e) = outcome {
            result = Err(e.context(format!("at devicePixelRatio {ratio}")));
            break;
        }
    }
    app.stop().await?;
    result
}

async fn at_ratio(app: &TestApp, browser: &Browser, ratio: f64) -> anyhow::Result<()> {
    let client = &browser.client;
    // The themes' grid colours (see `frontend/src/chart/mod.rs`).
    for (theme, grid) in [("light", [232, 235, 239]), ("dark", [44, 51, 59])] {
        client.goto(&app.url("/")).await?;
        // Once the console has started (it remembers the theme it began with), choose the theme
        // and load the page again.
        wait_drawn(browser, "chart-consumer-lag").await?;
        client
            .execute("localStorage.setItem('triage.theme', arguments[0]);", vec![serde_json::json!(theme)])
            .await?;
        client.refresh().await?;
        let applied = client.execute("return document.documentElement.dataset.theme;", vec![]).await?;
        assert_eq!(applied.as_str(), Some(theme), "the page took the theme");
        wait_drawn(browser, "chart-consumer-lag").await?;
        // The lines need a few scrapes; the grid is there from the first draw.
        let facts = canvas_facts(browser, "chart-consumer-lag", grid).await?;
        browser.screenshot(&format!("charts-dpr-{ratio}-{theme}")).await?;
        let num = |k: &str| facts[k].as_f64().unwrap_or(f64::NAN);
        assert_eq!(num("ratio"), ratio, "{theme}: the browser's ratio: {facts}");
        // Within a device pixel: the layout's width may be fractional.
        assert!((num("width") - num("cssWidth") * ratio).abs() <= 1.0, "{theme}: backing width: {facts}");
        assert!((num("height") - num("cssHeight") * ratio).abs() <= 1.0, "{theme}: backing height: {facts}");
        // This chart's grid: two lines across (0 is the axis), three time lines down.
        assert!(
            num("sharpRows") >= 2.0 && num("sharpColumns") >= 3.0,
            "{theme}: grid lines on whole device pixels: {facts}"
        );
    }
    // The read-out follows the pointer in CSS pixels: just inside the plot's left edge (which a
    // device-pixel geometry would put outside the plot at ratio 2), and at 60% of the width.
    for at in ["r.left + 90", "r.left + r.width * 0.6"] {
        client
            .execute(
                &format!(
                    "const c = document.querySelector('[data-testid=\"chart-consumer-lag\"] canvas');
                     const r = c.getBoundingClientRect();
                     c.dispatchEvent(new MouseEvent('mousemove', {{clientX: {at}, clientY: r.top + r.height / 2, bubbles: true}}));"
                ),
                vec![],
            )
            .await?;
        let crosshair = client
            .execute(
                &format!(
                    "const c = document.querySelector('[data-testid=\"chart-consumer-lag\"] canvas');
                     const r = c.getBoundingClientRect();
                     const x = document.querySelector('[data-testid=\"chart-consumer-lag\"] .crosshair');
                     return x ? [parseFloat(x.style.left), Math.round({at} - r.left)] : null;"
                ),
                vec![],
            )
            .await?;
        let pair: Option<(f64, f64)> = serde_json::from_value(crosshair)?;
        let (drawn_at, pointer) = pair.ok_or_else(|| anyhow::anyhow!("no read-out at {at}"))?;
        assert!((drawn_at - pointer).abs() <= 1.0, "crosshair at {drawn_at} px, pointer at {pointer} px");
        let tooltip = browser.wait_testid("chart-tooltip").await?.text().await?;
        assert!(tooltip.contains("stream-processor-group"), "{tooltip}");
    }
    Ok(())
}
