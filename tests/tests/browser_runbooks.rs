//! The alert-link path end to end, in real headless Chromium: the sandbox in an incident, a real
//! Prometheus scraping it with the shipped `deploy/prometheus/alerts.yaml` (evaluated every
//! second; the rules themselves unchanged), and Triage with the shipped runbooks.
//!
//! 1. The incident's alert becomes active in Prometheus; its `runbook_url` (origin rewritten to
//!    this test's Triage) opens the right flow with the alert's labels filled in, the run starts
//!    by itself, every check reaches a final badge, the causes are those the backend ranked, and
//!    the report the page downloads and copies holds every verdict. The run's permalink shows the
//!    same run; `r` starts another.
//! 2. With Prometheus hanging (a listener that accepts and never answers — a fault a real
//!    Prometheus does not produce on demand), the flow shows its checks running, then, over the
//!    run's live events, the Prometheus checks as errors in words and the Kubernetes ones done.
//! 3. The Alerts page lists the active alert with its severity and labels and links it to its
//!    flow (by the alert's name, since the shipped link's origin is the demo's), and that link
//!    starts the flow with the alert's labels; an operator applies one of its fixes through the
//!    guarded dialog. The Runbooks list shows every flow, filtered from the keyboard.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use triage::config::{PrometheusSettings, Settings};
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_shared::runbook::{RunState, Runbook, RunbookSummary, StepState, Verdict};
use triage_tests::app::kubernetes_settings;
use triage_tests::paths::{require_frontend, workspace_root};
use triage_tests::{Browser, Prometheus, TestApp, TestSandbox};

const FINAL: [&str; 5] = ["ok", "warning", "critical", "error", "skipped"];

/// Retries `check` until it answers `Some`, for up to `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
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
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn all(browser: &Browser, css: &str) -> anyhow::Result<Vec<Element>> {
    Ok(browser.client.find_all(Locator::Css(css)).await?)
}

/// The sandbox in `incident`, Prometheus evaluating the shipped rules against it, and Triage
/// reading all three with the shipped runbooks.
struct Stack {
    sandbox: TestSandbox,
    prometheus: Prometheus,
    app: TestApp,
}

async fn start_stack(incident: Incident, role: Role) -> anyhow::Result<Stack> {
    let sandbox = TestSandbox::start(incident).await?;
    let metrics = sandbox.sandbox.metrics_addr;
    let rules = workspace_root().join("deploy/prometheus/alerts.yaml");
    let rules = rules.canonicalize().with_context(|| format!("{} is missing", rules.display()))?;
    // Only the evaluation interval is shortened; the rule file is the shipped one.
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - \"{}\"\n\
         scrape_configs:\n  - job_name: sandbox\n    static_configs:\n      - targets: [\"{metrics}\"]\n",
        rules.display()
    );
    let prometheus = Prometheus::start_with_config(&config).await?;
    let mut settings: Settings = kubernetes_settings(&sandbox.kubeconfig, role);
    settings.prometheus = Some(TestApp::prometheus_settings(&prometheus.url)?);
    settings.runbooks.dir = workspace_root().join("runbooks");
    settings.runbooks.urls.insert("health".to_owned(), format!("http://{metrics}/health").parse()?);
    settings.kafka = Some(serde_json::from_value(serde_json::json!({
        "bootstrap": sandbox.sandbox.kafka_bootstrap, "timeout_secs": 3,
    }))?);
    let app = TestApp::start_with(settings).await?;
    Ok(Stack { sandbox, prometheus, app })
}

/// The first active (pending or firing) alert named `name`, straight from Prometheus.
async fn active_alert(prom: &Prometheus, name: &str) -> anyhow::Result<serde_json::Value> {
    eventually(&format!("alert {name} to become active in Prometheus"), 180, || async {
        let body: serde_json::Value =
            reqwest::get(format!("{}/api/v1/alerts", prom.url)).await?.json().await?;
        let found = body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["labels"]["alertname"] == name && (a["state"] == "pending" || a["state"] == "firing"))
            .cloned();
        Ok(found)
    })
    .await
}

/// Presses `key` wherever the focus is, as a user would.
async fn press(browser: &Browser, key: char) -> anyhow::Result<()> {
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    browser.client.perform_actions(keys).await?;
    Ok(())
}

async fn input_value(browser: &Browser, testid: &str) -> anyhow::Result<String> {
    Ok(browser.wait_testid(testid).await?.prop("value").await?.unwrap_or_default())
}

/// The run id in the address bar once the page has moved to the run's permalink.
async fn run_id_in_url(browser: &Browser, runbook: &str, not: Option<&str>) -> anyhow::Result<String> {
    let prefix = format!("/runbooks/{runbook}/runs/");
    eventually("the run's permalink in the address bar", 30, || async {
        let url = browser.client.current_url().await?;
        Ok(url
            .path()
            .strip_prefix(&prefix)
            .filter(|id| !id.is_empty() && Some(*id) != not)
            .map(str::to_owned))
    })
    .await
}

/// Waits for the run bar to say the run finished, then returns every step's (id, status).
async fn finished_statuses(browser: &Browser, run_id: &str) -> anyhow::Result<Vec<(String, String)>> {
    eventually("the run to finish on the page", 90, || async {
        let bar = all(browser, "[data-testid=run-bar]").await?;
        let Some(bar) = bar.first() else { return Ok(None) };
        if bar.attr("data-run").await?.as_deref() != Some(run_id)
            || bar.attr("data-finished").await?.as_deref() != Some("true")
        {
            return Ok(None);
        }
        let mut statuses = Vec::new();
        for step in all(browser, "[data-testid=step]").await? {
            statuses.push((
                step.attr("data-step").await?.unwrap_or_default(),
                step.attr("data-status").await?.unwrap_or_default(),
            ));
        }
        Ok(Some(statuses))
    })
    .await
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Warning => "warning",
        Verdict::Critical => "critical",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

#[tokio::test]
async fn alert_link_opens_the_flow_runs_it_and_reports_the_verdicts() -> anyhow::Result<()> {
    require_frontend()?;
    let stack = start_stack(Incident::PartitionImbalance, Role::Reader).await?;
    let browser = Browser::start().await?;
    let result = alert_link(&stack, &browser).await;
    let _ = browser.screenshot("runbook-flow-final").await;
    browser.close().await?;
    let Stack { sandbox, prometheus, app } = stack;
    app.stop().await?;
    drop((sandbox, prometheus));
    result
}

async fn alert_link(stack: &Stack, browser: &Browser) -> anyhow::Result<()> {
    let started = Instant::now();
    let alert = active_alert(&stack.prometheus, "KafkaPartitionLagSkewed").await?;
    println!("alert active after {:.1} s", started.elapsed().as_secs_f64());
    let link = alert["annotations"]["runbook_url"].as_str().context("the alert has no runbook_url")?;
    let shipped: reqwest::Url = link.parse().with_context(|| format!("runbook_url {link:?} is not a URL"))?;
    assert_eq!(shipped.origin().ascii_serialization(), "http://127.0.0.1:8080", "the demo's base: {link}");
    assert_eq!(shipped.path(), "/runbooks/kafka-consumer-lag", "{link}");
    let namespace = alert["labels"]["namespace"].as_str().context("no namespace label")?;
    let group = alert["labels"]["group"].as_str().context("no group label")?;
    // Only the origin changes: path and query are the alert's.
    let opened = stack.app.url(&format!("{}?{}", shipped.path(), shipped.query().unwrap_or_default()));
    let client = &browser.client;
    let t0 = Instant::now();
    client.goto(&opened).await?;

    // The link starts the run at once: the address becomes the run's permalink.
    let run_id = run_id_in_url(browser, "kafka-consumer-lag", None).await?;
    // The right flow, with the alert's labels in the form.
    let page = browser.wait_testid("page-runbook").await?;
    assert_eq!(page.attr("data-runbook").await?.as_deref(), Some("kafka-consumer-lag"));
    let title = browser.wait_testid("runbook-title").await?.text().await?;
    assert_eq!(title, "Kafka consumer lag");
    assert_eq!(input_value(browser, "param-namespace").await?, namespace);
    assert_eq!(input_value(browser, "param-consumer_group").await?, group);

    // Every check reaches a final badge; the page agrees with the backend's state of the run.
    let statuses = finished_statuses(browser, &run_id).await?;
    println!("run {run_id} finished on the page {:.1} s after opening the link", t0.elapsed().as_secs_f64());
    browser.screenshot("runbook-flow").await?;
    let runbook: Runbook = stack.app.get_json("/api/runbooks/kafka-consumer-lag").await?;
    let state: RunState = stack.app.get_json(&format!("/api/runs/{run_id}")).await?;
    assert_eq!(state.runbook, "kafka-consumer-lag");
    assert_eq!(state.params.get("namespace").map(String::as_str), Some(namespace));
    assert_eq!(state.params.get("consumer_group").map(String::as_str), Some(group));
    assert_eq!(statuses.len(), runbook.steps.len(), "one stepper entry per step: {statuses:?}");
    for (step, status) in &statuses {
        assert!(FINAL.contains(&status.as_str()), "step {step} ended as {status}");
        let backend = state.steps.iter().find(|(id, _)| id == step).map(|(_, s)| s);
        let Some(StepState::Done { result }) = backend else { bail!("the backend has no result for {step}") };
        assert_eq!(status, verdict_word(result.verdict), "step {step}: page and backend agree");
        assert_ne!(status, "error", "step {step} failed against the real servers: {:?}", result.error);
    }
    println!("verdicts: {statuses:?}");
    // The lag on a few hot partitions is visible to the flow.
    let skew = statuses.iter().find(|(s, _)| s == "partition-skew").map(|(_, v)| v.as_str());
    assert!(matches!(skew, Some("warning" | "critical")), "partition skew is flagged: {skew:?}");
    // First-hand from Kafka: the leaders concentrated on one broker, with the command that shows it.
    let leaders = statuses.iter().find(|(s, _)| s == "partition-leaders").map(|(_, v)| v.as_str());
    assert_eq!(leaders, Some("critical"), "16 / 6 / 2 leaders are flagged");
    let detail = eventually("the leaders step's detail", 15, || async {
        let d =
            all(browser, "[data-testid=step][data-step=partition-leaders] [data-testid=step-detail]").await?;
        Ok(match d.first() {
            Some(el) => Some(el.text().await?),
            None => None,
        })
    })
    .await?;
    assert!(detail.contains("kafka-topics.sh") && detail.contains("leads 16 partitions"), "{detail}");

    // Badges and evidence: a step that needs attention is open with its evidence and commands.
    let open = all(browser, "[data-testid=step][data-status=critical] [data-testid=step-detail], [data-testid=step][data-status=warning] [data-testid=step-detail]").await?;
    assert!(!open.is_empty(), "steps with a warning or critical verdict show their details");
    let detail = open[0].text().await?;
    assert!(detail.contains("Query"), "the resolved query is shown: {detail}");
    assert!(!all(browser, "[data-testid=step-chart]").await?.is_empty(), "promql evidence is charted");

    // Likely causes: exactly those the backend ranked, in its order.
    let causes = all(browser, "[data-testid=cause]").await?;
    let mut shown = Vec::new();
    for c in &causes {
        shown.push(c.attr("data-cause").await?.unwrap_or_default());
    }
    let ranked: Vec<String> = state.causes.iter().map(|c| c.cause.clone()).collect();
    assert_eq!(shown, ranked, "the causes panel follows the backend's ranking");
    assert_eq!(
        shown.first().map(String::as_str),
        Some("partition-imbalance"),
        "the injected cause ranks first"
    );
    // Fixes: a reader sees why the action is disabled; destructive commands carry a warning
    // and never a run button.
    for button in all(browser, "[data-testid=fix-button]").await? {
        assert!(!button.is_enabled().await?, "a reader cannot apply a fix");
    }
    let destructive = all(browser, "[data-testid=fix-command][data-destructive=true]").await?;
    assert!(!destructive.is_empty(), "the partition increase is shown as a destructive command");
    for d in destructive {
        assert!(d.find(Locator::Css("[data-testid=destructive-warning]")).await.is_ok());
        assert!(d.find(Locator::Css("[data-testid=fix-button]")).await.is_err(), "no run button");
    }

    // The report, as the page downloads it, holds every verdict.
    let href = browser.wait_testid("download-report").await?.attr("href").await?.context("no report link")?;
    let report = stack.app.http.get(stack.app.url(&href)).send().await?.error_for_status()?.text().await?;
    for (id, state) in &state.steps {
        let StepState::Done { result } = state else { bail!("{id} unfinished") };
        let title = runbook.steps.iter().find(|s| s.id == *id).map_or(id.as_str(), |s| s.title.as_str());
        let row = format!("| {title} | {} |", verdict_word(result.verdict).to_uppercase());
        assert!(report.contains(&row), "the report has `{row}`:\n{report}");
    }
    // Parameter names are Markdown text (`_` escaped, shown as `consumer_group`), values code.
    assert!(report.contains(&format!("| consumer\\_group | `{group}` |")), "{report}");
    // The page's Copy report shows the same text (whether or not the clipboard accepts it).
    browser.wait_testid("copy-report").await?.click().await?;
    let preview = eventually("the copied report", 15, || async {
        let p = all(browser, "[data-testid=report-preview] .report-text").await?;
        Ok(match p.first() {
            Some(el) => Some(el.prop("textContent").await?.unwrap_or_default()),
            None => None,
        })
    })
    .await?;
    assert!(preview.starts_with("# Incident report: Kafka consumer lag"), "{preview:.200}");
    assert!(preview.contains(&format!("- Run: `{run_id}`")));

    // The permalink shows the same finished run.
    client.goto(&stack.app.url(&format!("/runbooks/kafka-consumer-lag/runs/{run_id}"))).await?;
    let again = finished_statuses(browser, &run_id).await?;
    assert_eq!(again, statuses, "the permalink shows the same verdicts");
    assert_eq!(input_value(browser, "param-consumer_group").await?, group);

    // Keyboard: j moves to the next step, r runs the flow again with the same parameters.
    browser.wait_testid("stepper").await?;
    client.execute("document.activeElement && document.activeElement.blur()", vec![]).await?;
    press(browser, 'j').await?;
    eventually("the second step to be selected", 10, || async {
        Ok(all(browser, "[data-testid=step][data-index=\"1\"].selected").await?.first().map(|_| ()))
    })
    .await?;
    press(browser, 'r').await?;
    let second = run_id_in_url(browser, "kafka-consumer-lag", Some(&run_id)).await?;
    let rerun = finished_statuses(browser, &second).await?;
    assert_eq!(rerun.len(), statuses.len());
    let state2: RunState = stack.app.get_json(&format!("/api/runs/{second}")).await?;
    assert_eq!(state2.params, state.params, "run again keeps the parameters");

    // A link with a value the backend refuses: the reason in words, the field marked, no run.
    client
        .goto(&stack.app.url(
            "/runbooks/kafka-consumer-lag?namespace=streaming-analytics&window=1h%22%7D%20or%20vector(1)",
        ))
        .await?;
    let error = browser.wait_testid("run-error").await?.text().await?;
    assert!(error.contains("window"), "the refused parameter is named: {error}");
    let marked = browser.wait_testid("param-window").await?.attr("class").await?.unwrap_or_default();
    assert!(marked.contains("invalid"), "the field is marked: {marked:?}");
    assert!(all(browser, "[data-testid=run-bar]").await?.is_empty(), "no run was started");
    assert!(!client.current_url().await?.path().contains("/runs/"));
    // An unknown flow and an unknown run are said in words.
    client.goto(&stack.app.url("/runbooks/no-such-flow?namespace=x")).await?;
    let text = browser.wait_testid("view-error").await?.text().await?;
    assert!(text.contains("no runbook"), "{text}");
    client.goto(&stack.app.url("/runbooks/kafka-consumer-lag/runs/no-such-run")).await?;
    let text = browser.wait_testid("run-error").await?.text().await?;
    assert!(text.contains("no-such-run"), "{text}");
    Ok(())
}

#[tokio::test]
async fn alerts_page_links_active_alerts_to_their_flows() -> anyhow::Result<()> {
    require_frontend()?;
    let stack = start_stack(Incident::WebsocketDrops, Role::Operator).await?;
    let browser = Browser::start().await?;
    let result = alerts_page(&stack, &browser).await;
    let _ = browser.screenshot("alerts-final").await;
    browser.close().await?;
    let Stack { sandbox, prometheus, app } = stack;
    app.stop().await?;
    drop((sandbox, prometheus));
    result
}

async fn alerts_page(stack: &Stack, browser: &Browser) -> anyhow::Result<()> {
    let name = "WebSocketConnectionsDropping";
    let alert = active_alert(&stack.prometheus, name).await?;
    let namespace = alert["labels"]["namespace"].as_str().context("no namespace label")?.to_owned();
    let client = &browser.client;
    client.goto(&stack.app.url("/alerts")).await?;
    browser.wait_testid("page-alerts").await?;
    let css = format!("[data-testid=alert-row][data-alert={name}]");
    let row =
        eventually("the alert's row", 40, || async { Ok(all(browser, &css).await?.into_iter().next()) })
            .await?;
    let state = row.attr("data-state").await?.unwrap_or_default();
    assert!(state == "pending" || state == "firing", "{state}");
    let group = browser.wait_testid(&format!("alerts-{state}")).await?;
    assert!(group.find(Locator::Css(&css)).await.is_ok(), "the row sits in the {state} group");
    let text = client.find(Locator::Css(&css)).await?.text().await?;
    assert!(text.contains("warning"), "severity badge: {text}");
    assert!(text.contains(&format!("namespace={namespace}")), "labels: {text}");
    assert!(text.contains("service=websocket-server"), "labels: {text}");
    assert!(text.contains(" ago"), "active since: {text}");
    let updated = browser.wait_testid("alerts-updated").await?.text().await?;
    assert!(updated.starts_with("updated ") && updated.contains("ago"), "{updated}");
    browser.screenshot("alerts").await?;

    // The shipped link's origin is the demo's, not this Triage: the flow comes from the runbook
    // that lists the alert, with the alert's labels as parameters.
    let link = client.find(Locator::Css(&format!("{css} [data-testid=alert-flow-link]"))).await?;
    let href = link.attr("href").await?.unwrap_or_default();
    assert!(href.starts_with("/runbooks/websocket-drops?"), "{href}");
    assert!(href.contains(&format!("namespace={namespace}")), "{href}");
    link.click().await?;
    let run_id = run_id_in_url(browser, "websocket-drops", None).await?;
    let page = browser.wait_testid("page-runbook").await?;
    assert_eq!(page.attr("data-runbook").await?.as_deref(), Some("websocket-drops"));
    assert_eq!(input_value(browser, "param-namespace").await?, namespace);
    let statuses = finished_statuses(browser, &run_id).await?;
    assert!(statuses.iter().all(|(_, s)| FINAL.contains(&s.as_str())), "{statuses:?}");

    // An operator applies a fix through the same guarded dialog as the Kubernetes page: the
    // proposed count, a dry run, then the real change, which real kubectl sees.
    let fix = eventually("the scale fix", 10, || async {
        for button in all(browser, "[data-testid=fix-button]").await? {
            // textContent: the button may sit in a closed <details>, where text() is empty.
            if button.prop("textContent").await?.unwrap_or_default().contains("scale to 4") {
                return Ok(Some(button));
            }
        }
        Ok(None)
    })
    .await?;
    if !fix.is_displayed().await? {
        // Not a ranked cause this time: it sits under "Other causes".
        browser.wait_testid("other-causes").await?.find(Locator::Css("summary")).await?.click().await?;
    }
    assert!(fix.is_enabled().await?, "an operator may apply fixes");
    fix.click().await?;
    browser.wait_testid("scale-dialog").await?;
    assert_eq!(input_value(browser, "scale-replicas").await?, "4", "the fix's count is proposed");
    browser.wait_testid("scale-preview").await?.click().await?;
    let dry = browser.wait_testid("dry-run-summary").await?.text().await?;
    assert!(dry.contains("3 → 4"), "{dry}");
    assert_eq!(
        stack
            .sandbox
            .kubectl(&["get", "deploy", "websocket-server", "-o", "jsonpath={.spec.replicas}"])
            .await?
            .trim(),
        "3",
        "a dry run changes nothing"
    );
    let apply = browser.wait_testid("apply-button").await?;
    eventually("the apply button", 10, || async { Ok(apply.is_enabled().await?.then_some(())) }).await?;
    apply.click().await?;
    browser.wait_testid("action-result").await?;
    let replicas = stack
        .sandbox
        .kubectl(&["get", "deploy", "websocket-server", "-o", "jsonpath={.spec.replicas}"])
        .await?;
    assert_eq!(replicas.trim(), "4");
    browser.screenshot("runbook-fix-applied").await?;

    // The emergency restart's fix: the same dialog shows the recorded plan from a server-side dry
    // run and will not apply until the namespace is typed. It is not applied here.
    client.goto(&stack.app.url(&format!("/runbooks/emergency-restart?namespace={namespace}"))).await?;
    let run = run_id_in_url(browser, "emergency-restart", None).await?;
    finished_statuses(browser, &run).await?;
    let fix = eventually("the emergency restart fix", 10, || async {
        for button in all(browser, "[data-testid=fix-button]").await? {
            if button.prop("textContent").await?.unwrap_or_default().contains("emergency restart") {
                return Ok(Some(button));
            }
        }
        Ok(None)
    })
    .await?;
    if !fix.is_displayed().await? {
        browser.wait_testid("other-causes").await?.find(Locator::Css("summary")).await?.click().await?;
    }
    fix.click().await?;
    browser.wait_testid("emergency-dialog").await?;
    let plan = browser.wait_testid("dry-run-summary").await?.text().await?;
    assert!(plan.contains("stream-processor 6 → 0 → 6"), "{plan}");
    let kubectl = browser.wait_testid("dry-run-kubectl").await?.text().await?;
    assert!(kubectl.contains("scale deployment/stream-processor --replicas=0"), "{kubectl}");
    let apply = browser.wait_testid("apply-button").await?;
    assert!(!apply.is_enabled().await?, "not before the namespace is typed");
    browser.wait_testid("confirm-input").await?.send_keys(&namespace).await?;
    eventually("the apply button", 10, || async { Ok(apply.is_enabled().await?.then_some(())) }).await?;
    browser.screenshot("runbook-emergency-dry-run").await?;
    client
        .find(Locator::Css("[data-testid=emergency-dialog] .dialog-foot button:first-child"))
        .await?
        .click()
        .await?;
    let replicas = stack
        .sandbox
        .kubectl(&["get", "deploy", "stream-processor", "-o", "jsonpath={.spec.replicas}"])
        .await?;
    assert_eq!(replicas.trim(), "6", "a dry run and a cancel change nothing");

    // The Runbooks list: every shipped flow, grouped by component; `/` focuses the filter and
    // Enter opens the first match.
    let runbooks: Vec<RunbookSummary> = stack.app.get_json("/api/runbooks").await?;
    client.goto(&stack.app.url("/runbooks")).await?;
    browser.wait_testid("page-runbooks").await?;
    let items = eventually("the runbook list", 20, || async {
        let n = all(browser, "[data-testid=runbook-item]").await?.len();
        Ok((n > 0).then_some(n))
    })
    .await?;
    assert_eq!(items, runbooks.len());
    assert_eq!(items, 14, "every flow of the guide is listed");
    let mut components: Vec<&str> = runbooks.iter().map(|r| r.component.as_str()).collect();
    components.sort_unstable();
    components.dedup();
    assert_eq!(all(browser, "[data-testid=runbook-group]").await?.len(), components.len());
    browser.screenshot("runbooks-list").await?;
    press(browser, '/').await?;
    let focused = client.execute("return document.activeElement.dataset.testid", vec![]).await?;
    assert_eq!(focused, serde_json::json!("runbook-filter"), "`/` focuses the filter");
    browser.wait_testid("runbook-filter").await?.send_keys("memory").await?;
    let expected: Vec<&RunbookSummary> = runbooks
        .iter()
        .filter(|r| {
            format!("{} {} {} {} {}", r.id, r.title, r.summary, r.component, r.alerts.join(" "))
                .to_lowercase()
                .contains("memory")
        })
        .collect();
    assert!(!expected.is_empty());
    let n = expected.len();
    eventually("the filtered list", 10, || async {
        Ok((all(browser, "[data-testid=runbook-item]").await?.len() == n).then_some(()))
    })
    .await?;
    let first = all(browser, "[data-testid=runbook-item]")
        .await?
        .remove(0)
        .attr("data-runbook")
        .await?
        .unwrap_or_default();
    browser.wait_testid("runbook-filter").await?.send_keys("\u{E007}").await?;
    let page = browser.wait_testid("page-runbook").await?;
    assert_eq!(page.attr("data-runbook").await?.unwrap_or_default(), first, "Enter opens the first match");
    assert!(!client.current_url().await?.path().contains("/runs/"), "a plain link does not start a run");
    assert_eq!(browser.wait_testid("run-button").await?.text().await?, "Run checks");
    Ok(())
}

#[tokio::test]
async fn a_hanging_upstream_shows_running_checks_then_errors_in_words() -> anyhow::Result<()> {
    require_frontend()?;
    let sandbox = TestSandbox::start(Incident::Healthy).await?;
    // Accepts connections and never answers: every Prometheus check hangs until its timeout.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hole_addr = hole.local_addr()?;
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            open.push(socket);
        }
    });
    let mut settings: Settings = kubernetes_settings(&sandbox.kubeconfig, Role::Reader);
    settings.prometheus = Some(PrometheusSettings {
        timeout_secs: 60,
        ..TestApp::prometheus_settings(&format!("http://{hole_addr}"))?
    });
    settings.runbooks.dir = workspace_root().join("runbooks");
    settings.runbooks.check_timeout_secs = 4;
    let app = TestApp::start_with(settings).await?;
    let browser = Browser::start().await?;
    let result = hanging_upstream(&app, &browser).await;
    let _ = browser.screenshot("runbook-upstream-hanging-final").await;
    browser.close().await?;
    app.stop().await?;
    held.abort();
    drop(sandbox);
    result
}

async fn hanging_upstream(app: &TestApp, browser: &Browser) -> anyhow::Result<()> {
    browser.client.goto(&app.url("/runbooks/kafka-consumer-lag?namespace=streaming-analytics")).await?;
    let run_id = run_id_in_url(browser, "kafka-consumer-lag", None).await?;
    // While Prometheus hangs, its checks show a spinner and the run is unfinished.
    eventually("a running check", 10, || async {
        let running = all(browser, "[data-testid=step][data-status=running] .spinner").await?;
        Ok((!running.is_empty()).then_some(()))
    })
    .await?;
    let bar = browser.wait_testid("run-bar").await?;
    assert_eq!(bar.attr("data-finished").await?.as_deref(), Some("false"));
    browser.screenshot("runbook-upstream-hanging").await?;
    // The live events finish the run on the page without a reload.
    let statuses = finished_statuses(browser, &run_id).await?;
    println!("with Prometheus hanging: {statuses:?}");
    let state: RunState = app.get_json(&format!("/api/runs/{run_id}")).await?;
    let runbook: Runbook = app.get_json("/api/runbooks/kafka-consumer-lag").await?;
    for (step, status) in &statuses {
        let promql = runbook
            .steps
            .iter()
            .any(|s| s.id == *step && matches!(s.check, triage_shared::runbook::Check::Promql { .. }));
        if promql {
            assert_eq!(status, "error", "{step} asked the hanging Prometheus");
        } else {
            assert_ne!(status, "error", "{step} does not need Prometheus");
            assert!(FINAL.contains(&status.as_str()), "{step}: {status}");
        }
    }
    assert!(statuses.iter().any(|(_, s)| s == "error") && statuses.iter().any(|(_, s)| s != "error"));
    // An errored step opens with the reason in words.
    let error = browser.wait_testid("step-error").await?.text().await?;
    assert!(error.starts_with("The check failed: "), "{error}");
    assert!(error.len() > "The check failed: ".len() + 5, "{error}");
    assert!(state.finished_at.is_some());
    // Failed checks are not read as a clean bill of health.
    let causes = browser.wait_testid("causes-none").await?.text().await?;
    let failed = statuses.iter().filter(|(_, s)| s == "error").count();
    assert!(causes.contains(&format!("{failed} of {} checks failed", statuses.len())), "{causes}");
    Ok(())
}
