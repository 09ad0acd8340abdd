//! The Kafka page in real headless Chromium against the sandbox's Kafka: three brokers, the
//! `events` topic's 24 partitions, `stream-processor-group` with members and lag; in incident
//! `kafka-connection` an unreachable broker said in words and a partition without leader while
//! the rest of the table stays; the offset reset of `audit-replayer` as an operator, through dry
//! run and typed confirmation to its audit id. Saves screenshots under `target/test-output/`.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use triage::config::{AuthSettings, Settings};
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_tests::paths::require_frontend;
use triage_tests::{Browser, TestApp, TestSandbox};

/// Retries `check` until it answers `Some`, for up to 20 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            match last_error {
                Some(e) => return Err(e.context(format!("timed out waiting for {what}"))),
                None => bail!("timed out waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn count(browser: &Browser, css: &str) -> anyhow::Result<usize> {
    Ok(browser.client.find_all(Locator::Css(css)).await?.len())
}

async fn wait_count(browser: &Browser, css: &str, n: usize) -> anyhow::Result<()> {
    eventually(&format!("{n} × {css}"), || async { Ok((count(browser, css).await? == n).then_some(())) })
        .await
        .with_context(|| format!("{css}: expected {n}"))
}

async fn text_of(browser: &Browser, css: &str) -> anyhow::Result<String> {
    Ok(browser.client.find(Locator::Css(css)).await?.text().await?)
}

/// Waits until the element matching `css` says `needle`, and answers its text.
async fn wait_text(browser: &Browser, css: &str, needle: &str) -> anyhow::Result<String> {
    eventually(&format!("{css} saying {needle:?}"), || async {
        let text = text_of(browser, css).await?;
        Ok(text.contains(needle).then_some(text))
    })
    .await
}

/// Empties an input the way a user would (the app sees an `input` event), then types `text`.
async fn type_into(browser: &Browser, testid: &str, text: &str) -> anyhow::Result<()> {
    browser
        .client
        .execute(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);
             e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![serde_json::json!(testid)],
        )
        .await?;
    browser.wait_testid(testid).await?.send_keys(text).await?;
    Ok(())
}

async fn press_escape(browser: &Browser) -> anyhow::Result<()> {
    let escape = '\u{E00C}';
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: escape })
        .then(KeyAction::Up { value: escape });
    browser.client.perform_actions(keys).await?;
    Ok(())
}

/// A Triage reading Kafka at `bootstrap`, the offset reset enabled, every caller `role`.
async fn kafka_app(bootstrap: &str, role: Role) -> anyhow::Result<TestApp> {
    let mut settings: Settings = serde_json::from_value(serde_json::json!({
        "kafka": { "bootstrap": bootstrap, "allow_offset_reset": true },
    }))?;
    settings.auth = AuthSettings::Local { local_role: role };
    TestApp::start_with(settings).await
}

async fn run<F, Fut>(incident: Incident, role: Role, name: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce(TestApp, Browser) -> Fut,
    Fut: Future<Output = (TestApp, Browser, anyhow::Result<()>)>,
{
    require_frontend()?;
    let sb = TestSandbox::start(incident).await?;
    let app = kafka_app(&sb.sandbox.kafka_bootstrap, role).await?;
    let browser = Browser::start().await?;
    let (app, browser, result) = body(app, browser).await;
    let _ = browser.screenshot(name).await;
    browser.close().await?;
    app.stop().await?;
    drop(sb);
    result
}

#[tokio::test]
async fn brokers_topics_and_groups_in_the_browser() -> anyhow::Result<()> {
    run(Incident::Healthy, Role::Reader, "kafka-healthy-final", |app, browser| async move {
        let result = healthy(&app, &browser).await;
        (app, browser, result)
    })
    .await
}

async fn healthy(app: &TestApp, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/kafka")).await?;
    browser.wait_testid("page-kafka").await?;

    // Brokers: three, each reachable with its latency; Enter opens a broker's API versions.
    wait_count(browser, "[data-testid=kafka-broker-row]", 3).await?;
    assert_eq!(count(browser, "[data-testid=kafka-broker-row] .badge.ok").await?, 3, "all reachable");
    let cmd = text_of(browser, "[data-testid=kubectl]").await?;
    assert!(cmd.contains("kafka-broker-api-versions.sh --bootstrap-server"), "{cmd}");
    client.find(Locator::Css("[data-testid=kafka-broker-row]")).await?.send_keys("\u{E007}").await?;
    wait_text(browser, "[data-testid=kafka-api-versions]", "Metadata").await?;
    browser.screenshot("kafka-brokers").await?;

    // Topics: `events` has 24 partitions; its page is a permalink.
    client.find(Locator::Css("[data-testid=kafka-tab-topics]")).await?.click().await?;
    browser.wait_testid("kafka-topics").await?;
    client.find(Locator::Css("[data-testid=kafka-topic-row][data-topic=events] a")).await?.click().await?;
    wait_count(browser, "[data-testid=kafka-partition-row]", 24).await?;
    assert!(client.current_url().await?.path().ends_with("/kafka/topics/events"));
    wait_text(browser, "[data-testid=kafka-partition-warning]", "never decreased").await?;
    let cmd = text_of(browser, "[data-testid=kubectl]").await?;
    assert!(cmd.contains("kafka-topics.sh") && cmd.contains("events"), "{cmd}");
    browser.screenshot("kafka-topic-events").await?;

    // The group by its permalink: members and lag per partition.
    client.goto(&app.url("/kafka/groups/stream-processor-group")).await?;
    browser.wait_testid("kafka-group-partitions").await?;
    eventually("members", || async {
        Ok((count(browser, "[data-testid=kafka-member-row]").await? > 0).then_some(()))
    })
    .await?;
    let lags = count(browser, "[data-testid=kafka-lag-row]").await?;
    assert!(lags > 0, "per-partition lag rows");
    browser.wait_testid("kafka-lag-bars").await?;
    let head = text_of(browser, "[data-testid=kafka-group-head]").await?;
    assert!(head.contains("total lag"), "{head}");
    // A reader is told why the reset is not offered.
    wait_text(browser, "[data-testid=kafka-reset-unavailable]", "operators only; you are a reader").await?;
    browser.screenshot("kafka-group").await?;
    client.execute("window.scrollTo(0, 650)", vec![]).await?;
    browser.screenshot("kafka-group-lag").await?;
    Ok(())
}

#[tokio::test]
async fn an_unreachable_broker_and_a_leaderless_partition_are_said_in_words() -> anyhow::Result<()> {
    run(Incident::KafkaConnection, Role::Reader, "kafka-connection-final", |app, browser| async move {
        let result = connection(&app, &browser).await;
        (app, browser, result)
    })
    .await
}

async fn connection(app: &TestApp, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/kafka/brokers")).await?;
    eventually("an unreachable broker", || async {
        Ok((count(browser, "[data-testid=kafka-broker-row] .badge.crit").await? > 0).then_some(()))
    })
    .await?;
    let errors = client
        .find_all(Locator::Css("[data-testid=kafka-broker-row].crit [data-testid=kafka-broker-error]"))
        .await?;
    let mut said = String::new();
    for e in errors {
        said.push_str(&e.text().await?);
    }
    assert!(!said.trim().is_empty(), "the unreachable broker's error is in words");
    browser.screenshot("kafka-connection-brokers").await?;

    client.goto(&app.url("/kafka/topics/events")).await?;
    wait_count(browser, "[data-testid=kafka-partition-row]", 24).await?;
    let leaderless = client
        .find_all(Locator::XPath("//tr[@data-testid='kafka-partition-row'][.//*[contains(., 'no leader')]]"))
        .await?;
    assert!(!leaderless.is_empty(), "a partition is flagged without leader");
    let with_offsets = count(browser, "[data-testid=kafka-partition-row]:not(.warn)").await?;
    assert!(with_offsets > 0, "the rest of the table is present");
    browser.screenshot("kafka-connection-topic").await?;
    Ok(())
}

#[tokio::test]
async fn operator_resets_the_offsets_of_an_idle_group() -> anyhow::Result<()> {
    run(Incident::Healthy, Role::Operator, "kafka-reset-final", |app, browser| async move {
        let result = reset(&app, &browser).await;
        (app, browser, result)
    })
    .await
}

async fn reset(app: &TestApp, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/kafka/groups/audit-replayer")).await?;
    browser.wait_testid("kafka-reset-open").await?.click().await?;
    browser.wait_testid("kafka-reset-dialog").await?;
    // Escape closes; open again.
    press_escape(browser).await?;
    wait_count(browser, "[data-testid=kafka-reset-dialog]", 0).await?;
    browser.wait_testid("kafka-reset-open").await?.click().await?;
    browser.wait_testid("kafka-reset-dialog").await?;

    let submit = browser.wait_testid("kafka-reset-submit").await?;
    assert!(!submit.is_enabled().await?, "no real reset before a dry run");
    browser.wait_testid("kafka-reset-dry-run").await?.click().await?;
    browser.wait_testid("kafka-reset-plan").await?;
    assert!(count(browser, "[data-testid=kafka-reset-plan-row]").await? > 0, "the plan has rows");
    let cmd = text_of(browser, "[data-testid=kafka-reset-dialog] [data-testid=kubectl]").await?;
    assert!(cmd.contains("--reset-offsets") && cmd.contains("--dry-run"), "{cmd}");
    browser.screenshot("kafka-reset-plan").await?;

    type_into(browser, "kafka-reset-confirm", "audit-replaye").await?;
    assert!(
        !browser.wait_testid("kafka-reset-submit").await?.is_enabled().await?,
        "a wrong name keeps it off"
    );
    type_into(browser, "kafka-reset-confirm", "audit-replayer").await?;
    let submit = browser.wait_testid("kafka-reset-submit").await?;
    eventually("the reset enabled", || async { Ok(submit.is_enabled().await?.then_some(())) }).await?;
    submit.click().await?;
    let audit = wait_text(browser, "[data-testid=kafka-reset-audit]", "audit #").await?;
    assert!(audit.trim_start_matches("audit #").parse::<i64>().is_ok(), "{audit}");
    browser.screenshot("kafka-reset-done").await?;
    Ok(())
}
