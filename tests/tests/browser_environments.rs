//! Environments in real headless Chromium, against two sandboxes: the picker keeps `env=` in the
//! URL, a production environment carries its banner, an alert link resolves its `cluster` label
//! to the environment (or says in words that it names none Triage serves), and a scale-up in
//! production asks for the typed name and a reason, then reaches only that cluster; Overview and
//! the Alerts page show each environment's own firing alerts (two Prometheus servers evaluating
//! rules against two sandboxes) and fill in per environment, one hung Prometheus saying
//! "asking…" while the other's figures are already there; and the Approvals page through the real
//! OpenID provider: the requester is told another operator must approve, a second operator
//! approves (the cluster changes) or rejects (it does not). Saves screenshots under
//! `target/test-output/`.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;
use fantoccini::Locator;
use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::{AuditEntry, Role};
use triage_tests::oidc::{session_key, sso_settings, user};
use triage_tests::paths::free_port;
use triage_tests::paths::{require_frontend, workspace_root};
use triage_tests::{Browser, OidcProvider, Prometheus, TestApp, TestSandbox};

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

/// Rules written for this test, evaluated at once (no `for`): one that only a lagging consumer
/// fires, one that every scraped sandbox fires.
const RULES: &str = r#"groups:
  - name: browser-environments
    rules:
      - alert: LagBuilding
        expr: sum(kafka_consumer_lag) > 2000
        labels:
          severity: warning
      - alert: SandboxScraped
        expr: max(up{job="sandbox"}) == 1
        labels:
          severity: info
"#;

async fn prometheus_with_rules(sb: &TestSandbox, rules: &std::path::Path) -> anyhow::Result<Prometheus> {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - \"{}\"\n\
         scrape_configs:\n  - job_name: sandbox\n    static_configs:\n      - targets: [\"{}\"]\n",
        rules.display(),
        sb.sandbox.metrics_addr
    );
    Prometheus::start_with_config(&config).await
}

/// The `data-state` of each row matching `css`, keyed by its `data-env`, read in one go.
async fn states(browser: &Browser, css: &str) -> anyhow::Result<Vec<(String, String)>> {
    let found = browser
        .client
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(e => [e.dataset.env, e.dataset.state]);",
            vec![json!(css)],
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill").args([sig, &pid.to_string()]).status()?;
    anyhow::ensure!(status.success(), "kill {sig} {pid} failed");
    Ok(())
}

#[tokio::test]
async fn merged_alerts_show_each_environment_and_fill_in_as_each_answers() -> anyhow::Result<()> {
    require_frontend()?;
    let staging = TestSandbox::start(Incident::ConsumerLag).await?;
    let prod = TestSandbox::start(Incident::Healthy).await?;
    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES)?;
    let staging_prom = prometheus_with_rules(&staging, &rules).await?;
    let prod_prom = prometheus_with_rules(&prod, &rules).await?;
    let mut settings = settings(&staging, &prod)?;
    for (env, prom) in settings.environments.iter_mut().zip([&staging_prom, &prod_prom]) {
        env.prometheus = Some(serde_json::from_value(json!({"url": prom.url, "timeout_secs": 2}))?);
    }
    let app = TestApp::start_with(settings).await?;
    let browser = Browser::start().await?;
    let result = merged_alerts(&app, &browser, &staging_prom, &prod_prom).await;
    // A stopped Prometheus must not stay stopped past the test, whatever happened.
    let _ = signal(prod_prom.pid(), "-CONT");
    let _ = browser.screenshot("environments-alerts-final").await;
    browser.close().await?;
    app.stop().await?;
    result
}

async fn merged_alerts(
    app: &TestApp,
    browser: &Browser,
    staging_prom: &Prometheus,
    prod_prom: &Prometheus,
) -> anyhow::Result<()> {
    let client = &browser.client;
    // Both Prometheus servers evaluate the rules; staging's lag fires only there.
    for (prom, expected) in [(staging_prom, 2), (prod_prom, 1)] {
        eventually("the rules to fire in Prometheus", || async {
            let body = prom.query("ALERTS{alertstate=\"firing\"}").await?;
            let n = body["result"].as_array().map_or(0, Vec::len);
            anyhow::ensure!(n == expected, "{n} firing, expected {expected}: {body}");
            Ok(Some(()))
        })
        .await?;
    }

    // Overview: one line per environment with its own alerts, and the sum in the head.
    client.goto(&app.url("/?env=prod-eu")).await?;
    wait_text(browser, "env-alerts", "2 firing").await?;
    let line = |env: &str| {
        let css = format!("[data-testid=env-alerts-row][data-env={env}]");
        async move { Ok::<_, anyhow::Error>(client.find(Locator::Css(&css)).await?.text().await?) }
    };
    let s = line("staging").await?;
    assert!(s.contains("2 firing") && s.contains("LagBuilding") && s.contains("SandboxScraped"), "{s}");
    let p = line("prod-eu").await?;
    assert!(p.contains("1 firing") && p.contains("SandboxScraped") && !p.contains("LagBuilding"), "{p}");
    let head = wait_text(browser, "firing-count", "firing").await?;
    assert!(head.starts_with("3 firing"), "{head}");
    browser.screenshot("environments-overview-alerts").await?;

    // Alerts: one table, an Environment column, each alert under the environment it fired in.
    client.goto(&app.url("/alerts?env=prod-eu")).await?;
    eventually("every environment's alert rows", || async {
        let rows = states(browser, "[data-testid=alert-row]").await?;
        Ok((rows.len() == 3).then_some(()))
    })
    .await?;
    let cells = client.find_all(Locator::Css("[data-testid=alert-row]")).await?;
    let mut seen = Vec::new();
    for row in cells {
        let env = row.attr("data-env").await?.unwrap_or_default();
        let name = row.attr("data-alert").await?.unwrap_or_default();
        let cell = row.find(Locator::Css("[data-testid=alert-env]")).await?.text().await?;
        assert_eq!(cell.trim(), env, "the Environment column names the row's environment");
        seen.push((env, name));
    }
    seen.sort();
    let want: Vec<(String, String)> =
        [("prod-eu", "SandboxScraped"), ("staging", "LagBuilding"), ("staging", "SandboxScraped")]
            .iter()
            .map(|(e, n)| ((*e).to_owned(), (*n).to_owned()))
            .collect();
    assert_eq!(seen, want);
    let strip = states(browser, "[data-testid=alerts-env-status]").await?;
    assert_eq!(
        strip,
        [("staging".to_owned(), "answered".to_owned()), ("prod-eu".to_owned(), "answered".to_owned())]
    );
    browser.screenshot("environments-alerts-merged").await?;

    // prod-eu's Prometheus hangs: staging's line is in while prod-eu's still says "asking…",
    // then prod-eu's says why, in words; staging's figures never waited for it.
    signal(prod_prom.pid(), "-STOP")?;
    client.goto(&app.url("/?env=staging")).await?;
    let (answered_first, asked_at) = eventually("staging's line while prod-eu is hung", || async {
        let rows = states(browser, "[data-testid=env-alerts-row]").await?;
        let staging = rows.iter().any(|(e, s)| e == "staging" && s == "answered");
        anyhow::ensure!(staging, "staging's line is not in: {rows:?}");
        Ok(Some((rows, Instant::now())))
    })
    .await?;
    assert!(
        answered_first.contains(&("prod-eu".to_owned(), "asking".to_owned())),
        "prod-eu is still being asked when staging's line is in: {answered_first:?}"
    );
    let asking = wait_text(browser, "env-alerts-asking", "asking").await?;
    assert_eq!(asking, "asking…");
    let head = wait_text(browser, "firing-count", "firing").await?;
    assert!(head.starts_with("2 firing") && head.contains("asking 1 more environment"), "{head}");
    browser.screenshot("environments-overview-hung").await?;
    let error = wait_text(browser, "env-alerts-error", "alerts unavailable").await?;
    assert!(
        asked_at.elapsed() < Duration::from_secs(15),
        "prod-eu's line gave up within its limit (2 s + grace): {error}"
    );
    // The Alerts page: staging's rows and prod-eu asking, then prod-eu's error in words.
    client.goto(&app.url("/alerts?env=staging")).await?;
    let strip = eventually("staging's rows while prod-eu is hung", || async {
        let strip = states(browser, "[data-testid=alerts-env-status]").await?;
        let rows = states(browser, "[data-testid=alert-row]").await?;
        let staging = strip.iter().any(|(e, s)| e == "staging" && s == "answered");
        Ok((staging && rows.len() == 2).then_some(strip))
    })
    .await?;
    assert!(strip.contains(&("prod-eu".to_owned(), "asking".to_owned())), "{strip:?}");
    let words = wait_text(browser, "alerts-env-error", "prod-eu").await?;
    assert!(words.contains("could not be read"), "{words}");
    signal(prod_prom.pid(), "-CONT")?;
    Ok(())
}

#[tokio::test]
async fn approvals_in_the_browser_through_the_real_provider() -> anyhow::Result<()> {
    require_frontend()?;
    let staging = TestSandbox::start(Incident::Healthy).await?;
    let prod = TestSandbox::start(Incident::Healthy).await?;
    let provider_port = OidcProvider::reserve_port()?;
    let port = free_port()?;
    let mut settings = settings(&staging, &prod)?;
    let prod_env = settings
        .environments
        .iter_mut()
        .find(|e| e.name == "prod-eu")
        .ok_or_else(|| anyhow::anyhow!("no prod-eu"))?;
    prod_env.protection = triage_shared::env::Protection::Approval;
    prod_env.access = Some(serde_json::from_value(
        json!({"operator_groups": ["prod-operators"], "admin_groups": ["triage-admins"]}),
    )?);
    let store = tempfile::tempdir()?;
    settings.store.sqlite_path = store.path().join("triage.db");
    settings.auth = sso_settings(&OidcProvider::issuer_for(provider_port), port, &session_key())?.auth;
    let app = TestApp::start_on(settings, port).await?;
    let provider = OidcProvider::start(provider_port, &[port]).await?;
    let requester = Browser::start().await?;
    let result = approvals(&app, &requester, &prod).await;
    let _ = requester.screenshot("environments-approvals-final").await;
    requester.close().await?;
    if result.is_err() {
        eprintln!("provider log:\n{}", provider.log());
    }
    app.stop().await?;
    result
}

async fn sign_in(browser: &Browser, who: &str) -> anyhow::Result<()> {
    let u = user(who);
    browser.wait_testid("provider-login").await?;
    browser.wait_testid("provider-user").await?.send_keys(u.id).await?;
    browser.wait_testid("provider-password").await?.send_keys(u.password).await?;
    browser.wait_testid("provider-submit").await?.click().await?;
    Ok(())
}

/// pia asks for a scale in prod-eu (approval): the dialog says it waits; the Approvals page tells
/// her another operator must approve. alma, in her own browser, approves: the cluster changes.
/// pia asks again; alma rejects: it does not.
async fn approvals(app: &TestApp, pia: &Browser, prod: &TestSandbox) -> anyhow::Result<()> {
    let deployments = "/kubernetes?tab=deployments&ns=streaming-analytics&env=prod-eu";
    pia.client.goto(&app.url(deployments)).await?;
    sign_in(pia, "pia").await?;
    let before = replicas(prod, "stream-processor").await?;
    let ask = |to: &'static str| async move {
        pia.client.goto(&app.url(deployments)).await?;
        let row = "[data-testid=deployment-row][data-deployment=stream-processor] [data-testid=scale-button]";
        let button =
            eventually("the scale button", || async { Ok(pia.client.find(Locator::Css(row)).await.ok()) })
                .await?;
        button.click().await?;
        pia.wait_testid("scale-dialog").await?;
        type_into(pia, "scale-replicas", &format!("{to}\u{E007}")).await?;
        wait_text(pia, "dry-run-summary", &format!("→ {to}")).await?;
        type_into(pia, "confirm-input", "stream-processor").await?;
        type_into(pia, "action-reason", "lag after the deploy").await?;
        let apply = pia.wait_testid("apply-button").await?;
        eventually("apply enabled", || async { Ok(apply.is_enabled().await?.then_some(())) }).await?;
        apply.click().await?;
        wait_text(pia, "action-pending", "Not run yet").await
    };
    let pending = ask("8").await?;
    assert!(pending.contains("approv"), "{pending}");
    pia.screenshot("environments-approval-pending").await?;
    assert_eq!(replicas(prod, "stream-processor").await?, before, "a pending action changes nothing");

    // Her own request: no approving it, and the page says why.
    pia.client.goto(&app.url("/approvals?env=prod-eu")).await?;
    let refusal = wait_text(pia, "approval-refusal", "You requested this").await?;
    assert!(refusal.contains("another operator"), "{refusal}");
    assert!(!pia.wait_testid("approval-approve").await?.is_enabled().await?);
    assert!(!pia.wait_testid("approval-reject").await?.is_enabled().await?);
    let requester = pia.wait_testid("approval-requester").await?.text().await?;
    assert!(requester.starts_with("pia@example.test"), "{requester}");

    // alma, in her own browser, approves it: the scale runs, in prod-eu's cluster.
    let alma = Browser::start().await?;
    let approved = async {
        alma.client.goto(&app.url("/approvals?env=prod-eu")).await?;
        sign_in(&alma, "alma").await?;
        let reason = wait_text(&alma, "approval-reason", "lag after the deploy").await?;
        assert_eq!(reason, "lag after the deploy");
        let approve = alma.wait_testid("approval-approve").await?;
        eventually("approve enabled", || async { Ok(approve.is_enabled().await?.then_some(())) }).await?;
        approve.click().await?;
        let outcome = wait_text(&alma, "approval-outcome", "alma").await?;
        alma.screenshot("environments-approval-approved").await?;
        assert_eq!(replicas(prod, "stream-processor").await?, "8", "approved: {outcome}");

        // A second request, rejected: nothing changes.
        let again = ask("9").await?;
        assert!(again.contains("Not run yet"), "{again}");
        alma.client.goto(&app.url("/approvals?env=prod-eu")).await?;
        let pending_row = "[data-testid=approval-row][data-state=pending] [data-testid=approval-reject]";
        let reject = eventually("the new request's reject button", || async {
            Ok(alma.client.find(Locator::Css(pending_row)).await.ok())
        })
        .await?;
        reject.click().await?;
        eventually("the request rejected", || async {
            let rows =
                alma.client.find_all(Locator::Css("[data-testid=approval-row][data-state=rejected]")).await?;
            Ok((!rows.is_empty()).then_some(()))
        })
        .await?;
        assert_eq!(replicas(prod, "stream-processor").await?, "8", "a rejected action changes nothing");
        anyhow::Ok(())
    }
    .await;
    let _ = alma.screenshot("environments-approvals-alma").await;
    alma.close().await?;
    approved
}
