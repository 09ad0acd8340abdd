//! Environments in real headless Chromium, against two sandboxes: the picker keeps `env=` in the
//! URL, a production environment carries its banner, an alert link resolves its `cluster` label
//! to the environment (or says in words that it names none Triage serves), and a scale-up in
//! production asks for the typed name and a reason, then reaches only that cluster. Saves
//! screenshots under `target/test-output/`.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;
use fantoccini::Locator;
use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::{AuditEntry, Role};
use triage_tests::paths::{require_frontend, workspace_root};
use triage_tests::{Browser, TestApp, TestSandbox};

const NS: &str = "streaming-analytics";

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

async fn wait_text(browser: &Browser, testid: &str, needle: &str) -> anyhow::Result<String> {
    eventually(&format!("{testid} saying {needle:?}"), || async {
        let text = browser.wait_testid(testid).await?.text().await?;
        Ok(text.contains(needle).then_some(text))
    })
    .await
}

async fn type_into(browser: &Browser, testid: &str, text: &str) -> anyhow::Result<()> {
    browser
        .client
        .execute(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);
             e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![json!(testid)],
        )
        .await?;
    browser.wait_testid(testid).await?.send_keys(text).await?;
    Ok(())
}

async fn replicas(sb: &TestSandbox, deployment: &str) -> anyhow::Result<String> {
    Ok(sb
        .kubectl(&["-n", NS, "get", "deploy", deployment, "-o", "jsonpath={.spec.replicas}"])
        .await?
        .trim()
        .to_owned())
}

fn settings(staging: &TestSandbox, prod: &TestSandbox) -> anyhow::Result<Settings> {
    let k8s = |sb: &TestSandbox| json!({"kubeconfig": sb.kubeconfig, "namespaces": [NS], "timeout_secs": 5});
    let mut s: Settings = serde_json::from_value(json!({
        "alerts": {"environment_label": "cluster"},
        "runbooks": {"dir": workspace_root().join("runbooks")},
        "environments": [
            {"name": "staging", "colour": "#2f9e44", "kubernetes": k8s(staging)},
            {"name": "prod-eu", "colour": "#c92a2a", "protection": "production", "alert_values": ["eu-west-1"], "kubernetes": k8s(prod)},
        ],
    }))?;
    s.auth = triage::config::AuthSettings::Local { local_role: Role::Operator };
    Ok(s)
}

#[tokio::test]
async fn environments_in_the_browser() -> anyhow::Result<()> {
    require_frontend()?;
    let staging = TestSandbox::start(Incident::ConsumerLag).await?;
    let prod = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with(settings(&staging, &prod)?).await?;
    let browser = Browser::start().await?;
    let result = scenario(&app, &browser, &staging, &prod).await;
    let _ = browser.screenshot("environments-final").await;
    browser.close().await?;
    app.stop().await?;
    result
}

async fn scenario(
    app: &TestApp,
    browser: &Browser,
    staging: &TestSandbox,
    prod: &TestSandbox,
) -> anyhow::Result<()> {
    let client = &browser.client;

    // The picker lists both; staging (standard) has no banner, prod-eu (production) has one.
    client.goto(&app.url("/kubernetes?tab=deployments&ns=streaming-analytics")).await?;
    let picker = browser.wait_testid("env-picker").await?;
    eventually("the picker to list both environments", || async {
        let options = client.find_all(Locator::Css("[data-testid=env-picker] option")).await?;
        Ok((options.len() == 2).then_some(()))
    })
    .await?;
    assert_eq!(picker.prop("value").await?.as_deref(), Some("staging"), "no env= is the default");
    assert!(
        client.find_all(Locator::Css("[data-testid=env-banner]")).await?.is_empty(),
        "staging has no banner"
    );
    picker.select_by_value("prod-eu").await?;
    let banner = wait_text(browser, "env-banner", "prod-eu").await?;
    assert!(banner.to_lowercase().contains("production"), "{banner}");
    let url = client.current_url().await?;
    assert!(
        url.query_pairs().any(|(k, v)| k == "env" && v == "prod-eu"),
        "the picker keeps env= in the URL: {url}"
    );
    assert!(
        url.query_pairs().any(|(k, v)| k == "tab" && v == "deployments"),
        "and the rest of the page's URL: {url}"
    );
    browser.screenshot("environments-prod-banner").await?;

    // A scale-up in production: the dry run, then the name typed and a reason, then applied —
    // in prod-eu's cluster only.
    let before_staging = replicas(staging, "stream-processor").await?;
    let row = "[data-testid=deployment-row][data-deployment=stream-processor] [data-testid=scale-button]";
    let button =
        eventually("the scale button", || async { Ok(client.find(Locator::Css(row)).await.ok()) }).await?;
    button.click().await?;
    browser.wait_testid("scale-dialog").await?;
    type_into(browser, "scale-replicas", "8\u{E007}").await?;
    let summary = wait_text(browser, "dry-run-summary", "→ 8").await?;
    assert!(summary.contains("6 → 8"), "{summary}");
    let apply = browser.wait_testid("apply-button").await?;
    assert!(!apply.is_enabled().await?, "production: no apply before the name and a reason");
    type_into(browser, "confirm-input", "stream-processor").await?;
    assert!(!apply.is_enabled().await?, "the reason is still missing");
    type_into(browser, "action-reason", "lag after the deploy").await?;
    eventually("apply enabled", || async { Ok(apply.is_enabled().await?.then_some(())) }).await?;
    browser.screenshot("environments-prod-reason").await?;
    apply.click().await?;
    let done = wait_text(browser, "action-result", "audit entry").await?;
    assert!(done.contains("6 → 8"), "{done}");
    assert_eq!(replicas(prod, "stream-processor").await?, "8");
    assert_eq!(replicas(staging, "stream-processor").await?, before_staging, "staging is untouched");
    let audit: Vec<AuditEntry> = app.get_json("/api/audit?env=prod-eu").await?;
    assert_eq!(audit[0].reason.as_deref(), Some("lag after the deploy"));

    // An alert link names its environment by the `cluster` label's value.
    client
        .goto(&app.url(&format!(
            "/runbooks/memory-leak?namespace={NS}&deployment=websocket-server&cluster=eu-west-1"
        )))
        .await?;
    wait_text(browser, "run-env", "prod-eu").await?;
    wait_text(browser, "env-banner", "prod-eu").await?;
    // Without the label: the default environment.
    client
        .goto(&app.url(&format!("/runbooks/memory-leak?namespace={NS}&deployment=websocket-server")))
        .await?;
    wait_text(browser, "run-env", "staging").await?;
    // A value no environment has: a page in words, with the flow in each known environment.
    client
        .goto(&app.url(&format!(
            "/runbooks/memory-leak?namespace={NS}&deployment=websocket-server&cluster=us-east-1"
        )))
        .await?;
    let words = wait_text(browser, "unknown-env", "us-east-1").await?;
    assert!(words.contains("staging") && words.contains("prod-eu"), "{words}");
    let links = client.find_all(Locator::Css("[data-testid=unknown-env-link]")).await?;
    assert_eq!(links.len(), 2, "one link per known environment");
    assert!(
        client.find_all(Locator::Css("[data-testid=run-env]")).await?.is_empty(),
        "no run started elsewhere"
    );
    browser.screenshot("environments-unknown").await?;
    Ok(())
}
