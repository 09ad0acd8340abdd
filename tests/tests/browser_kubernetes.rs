//! The Kubernetes and Audit pages in real headless Chromium against the sandbox: pods (filter,
//! selector, deep link, detail with containers and logs, regex filter), deployments, events,
//! top with usage bars, services and network policies as a reader; then, as an operator, the
//! scale and restart dialogs through dry run and typed confirmation, checked with real kubectl,
//! and the audit log that records them. Saves screenshots under `target/test-output/`.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use triage_sandbox::Incident;
use triage_tests::paths::require_frontend;
use triage_tests::{Browser, TestApp, TestSandbox};

const ENTER: &str = "\u{E007}";

/// Presses Escape wherever the focus is, as a user would.
async fn press_escape(browser: &Browser) -> anyhow::Result<()> {
    let escape = '\u{E00C}';
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: escape })
        .then(KeyAction::Up { value: escape });
    browser.client.perform_actions(keys).await?;
    Ok(())
}

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

async fn all(browser: &Browser, css: &str) -> anyhow::Result<Vec<Element>> {
    Ok(browser.client.find_all(Locator::Css(css)).await?)
}

async fn count(browser: &Browser, css: &str) -> anyhow::Result<usize> {
    Ok(all(browser, css).await?.len())
}

/// Waits until exactly `n` elements match `css`.
async fn wait_count(browser: &Browser, css: &str, n: usize) -> anyhow::Result<()> {
    eventually(&format!("{n} × {css}"), || async { Ok((count(browser, css).await? == n).then_some(())) })
        .await
        .with_context(|| format!("{css}: expected {n}"))
}

async fn text_of(browser: &Browser, css: &str) -> anyhow::Result<String> {
    Ok(browser.client.find(Locator::Css(css)).await?.text().await?)
}

/// Empties an input the way a user would (the app sees an `input` event), then types `text`.
async fn type_into(browser: &Browser, testid: &str, text: &str) -> anyhow::Result<Element> {
    browser
        .client
        .execute(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);
             e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![serde_json::json!(testid)],
        )
        .await?;
    let el = browser.wait_testid(testid).await?;
    el.send_keys(text).await?;
    Ok(el)
}

async fn kubectl_replicas(sb: &TestSandbox, deployment: &str) -> anyhow::Result<String> {
    Ok(sb.kubectl(&["get", "deploy", deployment, "-o", "jsonpath={.spec.replicas}"]).await?.trim().to_owned())
}

#[tokio::test]
async fn kubernetes_views_in_the_browser() -> anyhow::Result<()> {
    require_frontend()?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;
    let browser = Browser::start().await?;
    let result = views(&app, &sb, &browser).await;
    let _ = browser.screenshot("kubernetes-views-final").await;
    browser.close().await?;
    app.stop().await?;
    result
}

async fn views(app: &TestApp, sb: &TestSandbox, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/kubernetes")).await?;
    browser.wait_testid("page-kubernetes").await?;

    // Pods: the default namespace, 16 pods (3 websocket, 6 stream processors, 4 ml, 3 kafka).
    browser.wait_testid("pods-table").await?;
    wait_count(browser, "[data-testid=pod-row]", 16).await?;
    let ns = browser.wait_testid("k8s-namespace").await?.prop("value").await?;
    assert_eq!(ns.as_deref(), Some("streaming-analytics"), "the first allowed namespace is the default");
    let kubectl = text_of(browser, "[data-testid=kubectl]").await?;
    assert!(kubectl.contains("kubectl -n streaming-analytics get pods -o wide"), "{kubectl}");
    let kubectl_names = sb.kubectl(&["get", "pods", "-o", "name"]).await?;
    for row in all(browser, "[data-testid=pod-row]").await? {
        let name = row.attr("data-pod").await?.unwrap_or_default();
        assert!(kubectl_names.contains(&format!("pod/{name}")), "{name} is not a pod kubectl knows");
        let text = row.text().await?;
        assert!(text.contains("Running") && text.contains("1/1"), "row {name}: {text}");
        assert!(text.contains("node-"), "row {name} shows its node: {text}");
    }
    let running = count(browser, "[data-testid=pod-row] .badge.ok").await?;
    assert_eq!(running, 16, "Running is a green badge");
    browser.screenshot("kubernetes-pods").await?;

    // The text filter narrows the rows; the label selector asks the API and lands in the URL.
    type_into(browser, "pod-filter", "kafka").await?;
    wait_count(browser, "[data-testid=pod-row]", 3).await?;
    type_into(browser, "pod-filter", "").await?;
    wait_count(browser, "[data-testid=pod-row]", 16).await?;
    type_into(browser, "pod-selector", &format!("app=stream-processor{ENTER}")).await?;
    wait_count(browser, "[data-testid=pod-row]", 6).await?;
    let url = client.current_url().await?;
    assert!(url.query().unwrap_or_default().contains("selector=app%3Dstream-processor"), "{url}");
    let kubectl = text_of(browser, "[data-testid=kubectl]").await?;
    assert!(kubectl.ends_with("-l app=stream-processor"), "{kubectl}");

    // Pod detail: containers, conditions and logs, from a click, kept in the URL.
    let first = all(browser, "[data-testid=pod-row]").await?.remove(0);
    let name = first.attr("data-pod").await?.context("row without data-pod")?;
    first.click().await?;
    let detail = browser.wait_testid("pod-detail").await?;
    assert_eq!(detail.attr("data-pod").await?.as_deref(), Some(name.as_str()));
    browser.wait_testid("pod-containers").await?;
    browser.screenshot("kubernetes-pod-detail-top").await?;
    let url = client.current_url().await?;
    assert!(url.query().unwrap_or_default().contains(&format!("pod={name}")), "{url}");
    let containers = browser.wait_testid("pod-containers").await?.text().await?;
    assert!(containers.contains("registry.example.com/streaming/stream-processor:3.7.0"), "{containers}");
    assert!(containers.contains("memory 1024Mi"), "limits are shown: {containers}");
    let facts = browser.wait_testid("pod-facts").await?.text().await?;
    assert!(facts.contains("ReplicaSet/stream-processor-"), "controlled by: {facts}");
    let conditions = browser.wait_testid("pod-conditions").await?.text().await?;
    assert!(conditions.contains("Ready"), "{conditions}");
    assert!(
        !browser.wait_testid("delete-pod-button").await?.is_enabled().await?,
        "a reader cannot delete pods"
    );

    // Logs: what kubectl logs says, filterable by regular expression with highlights.
    browser.wait_testid("pod-logs").await?;
    let lines = eventually("log lines", || async {
        let n = count(browser, "[data-testid=log-line]").await?;
        Ok((n > 0).then_some(n))
    })
    .await?;
    let kubectl_logs = sb.kubectl(&["logs", &name, "--tail=200"]).await?;
    // WebDriver collapses runs of spaces in text; compare words.
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let first_line = words(&text_of(browser, "[data-testid=log-line]").await?);
    assert!(kubectl_logs.lines().any(|l| words(l) == first_line), "{first_line:?} is not in kubectl's logs");
    assert!(lines <= 200, "tail 200 shows at most 200 lines, not {lines}");
    let logs_cmd = text_of(browser, ".logs [data-testid=kubectl]").await?;
    assert!(logs_cmd.contains(&format!("logs {name} --tail=200")), "{logs_cmd}");
    let href = browser.wait_testid("logs-download").await?.attr("href").await?.unwrap_or_default();
    assert!(href.starts_with("data:text/plain"), "download link: {href:.60}");
    // Lines with an odd number of events: some, not all, of the "Processed batch" lines.
    type_into(browser, "logs-regex", r"[13579] events").await?;
    let summary = eventually("the filter's count", || async {
        let text = browser.wait_testid("log-count").await?.text().await?;
        Ok(text.contains("match").then_some(text))
    })
    .await?;
    let matching = count(browser, "[data-testid=log-line]").await?;
    assert_eq!(summary, format!("{matching} of {lines} lines match"), "only matching lines are kept");
    assert!(matching > 0 && matching < lines, "{matching} of {lines}");
    assert_eq!(
        count(browser, "[data-testid=log-line]:has(mark)").await?,
        matching,
        "every kept line is highlighted"
    );
    let hit = text_of(browser, "[data-testid=log-line] mark").await?;
    assert!(
        hit.ends_with(" events") && hit.len() == "1 events".len(),
        "highlight is the match only: {hit:?}"
    );
    // Highlight without filtering: every line back, the same ones marked.
    browser.wait_testid("logs-only-matching").await?.click().await?;
    wait_count(browser, "[data-testid=log-line]", lines).await?;
    assert_eq!(count(browser, "[data-testid=log-line]:has(mark)").await?, matching);
    browser.screenshot("kubernetes-pod-detail").await?;
    // An invalid pattern is a message, not a crash: the lines stay, unfiltered.
    type_into(browser, "logs-regex", "(unclosed").await?;
    let error = browser.wait_testid("log-regex-error").await?.text().await?;
    assert!(error.contains("Invalid regular expression"), "{error}");
    assert!(count(browser, "[data-testid=log-line]").await? > 0, "lines still shown");
    assert_eq!(count(browser, "[data-testid=log-line] mark").await?, 0, "nothing highlighted");

    // A deep link opens the same pod directly.
    client.goto(&app.url(&format!("/kubernetes?ns=streaming-analytics&tab=pods&pod={name}"))).await?;
    let detail = browser.wait_testid("pod-detail").await?;
    assert_eq!(detail.attr("data-pod").await?.as_deref(), Some(name.as_str()));
    browser.wait_testid("pod-containers").await?;

    // Deployments.
    browser.wait_testid("k8s-tab-deployments").await?.click().await?;
    browser.wait_testid("deployments-table").await?;
    wait_count(browser, "[data-testid=deployment-row]", 3).await?;
    let mut names = Vec::new();
    for row in all(browser, "[data-testid=deployment-row]").await? {
        names.push(row.attr("data-deployment").await?.unwrap_or_default());
    }
    names.sort();
    assert_eq!(names, ["ml-inference", "stream-processor", "websocket-server"]);
    let sp = "[data-testid=deployment-row][data-deployment=stream-processor]";
    let ready = text_of(browser, &format!("{sp} [data-testid=deployment-ready]")).await?;
    assert_eq!(ready, "6/6");
    let row = text_of(browser, sp).await?;
    assert!(row.contains("complete") && row.contains("stream-processor:3.7.0"), "{row}");
    let scale = client.find(Locator::Css(&format!("{sp} [data-testid=scale-button]"))).await?;
    assert!(!scale.is_enabled().await?, "a reader cannot scale");
    let why = scale.attr("title").await?.unwrap_or_default();
    assert!(why.contains("operator"), "the disabled button says why: {why}");
    assert!(client.current_url().await?.query().unwrap_or_default().contains("tab=deployments"));
    browser.screenshot("kubernetes-deployments").await?;

    // Events.
    browser.wait_testid("k8s-tab-events").await?.click().await?;
    browser.wait_testid("events-table").await?;
    let events = count(browser, "[data-testid=event-row]").await?;
    assert!(events > 0, "the sandbox's scheduling events are listed");
    let kubectl_events = sb.kubectl(&["get", "events", "--no-headers"]).await?;
    assert!(events <= kubectl_events.lines().count(), "{events} rows vs kubectl's\n{kubectl_events}");
    type_into(browser, "events-filter", "no-such-event-text").await?;
    wait_count(browser, "[data-testid=event-row]", 0).await?;
    browser.screenshot("kubernetes-events").await?;

    // Top: every pod with CPU and memory bars against its limit, and the three nodes.
    browser.wait_testid("k8s-tab-top").await?.click().await?;
    browser.wait_testid("top-pods").await?;
    wait_count(browser, "[data-testid=top-pod-row]", 16).await?;
    wait_count(browser, "[data-testid=top-node-row]", 3).await?;
    let bars = count(browser, "[data-testid=top-pod-row] .usage-fill").await?;
    assert_eq!(bars, 32, "a CPU and a memory bar per pod");
    let markers = count(browser, "[data-testid=top-pod-row] .usage-marker").await?;
    assert_eq!(markers, 32, "every sandbox pod has requests, marked on both bars");
    let row = text_of(browser, "[data-testid=top-pod-row]").await?;
    assert!(row.contains("% of limit"), "{row}");
    let node = text_of(browser, "[data-testid=top-node-row]").await?;
    assert!(node.contains("of 7800m"), "nodes against allocatable: {node}");
    browser.wait_testid("top-sort-memory").await?.click().await?;
    let memory = eventually("pods sorted by memory", || async {
        let mut values = Vec::new();
        for row in all(browser, "[data-testid=top-pod-row]").await? {
            values.push(row.attr("data-memory").await?.unwrap_or_default().parse::<f64>().unwrap_or(-1.0));
        }
        Ok(values.windows(2).all(|w| w[0] >= w[1]).then_some(values))
    })
    .await?;
    assert!(memory.iter().all(|m| *m > 0.0), "{memory:?}");
    browser.screenshot("kubernetes-top").await?;

    // Services and network policies, as kubectl lists them.
    browser.wait_testid("k8s-tab-services").await?.click().await?;
    browser.wait_testid("services-table").await?;
    let kubectl_svc = sb.kubectl(&["get", "services", "--no-headers"]).await?;
    wait_count(browser, "[data-testid=service-row]", kubectl_svc.lines().count()).await?;
    let ws = text_of(browser, "[data-testid=service-row][data-service=websocket-server]").await?;
    assert!(ws.contains("LoadBalancer") && ws.contains("idle-timeout"), "{ws}");
    browser.screenshot("kubernetes-services").await?;
    browser.wait_testid("k8s-tab-netpol").await?.click().await?;
    browser.wait_testid("netpol-table").await?;
    let kubectl_np = sb.kubectl(&["get", "networkpolicies", "--no-headers"]).await?;
    wait_count(browser, "[data-testid=netpol-row]", kubectl_np.lines().count()).await?;

    // The dark theme.
    client.goto(&app.url("/kubernetes?tab=pods")).await?;
    wait_count(browser, "[data-testid=pod-row]", 16).await?;
    browser.wait_testid("theme-toggle").await?.click().await?;
    browser.screenshot("kubernetes-pods-theme-toggled").await?;
    Ok(())
}

#[tokio::test]
async fn scale_and_restart_dialogs_with_confirmation() -> anyhow::Result<()> {
    require_frontend()?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let app = TestApp::start_with_kubernetes_as_operator(&sb.kubeconfig).await?;
    let browser = Browser::start().await?;
    let result = actions(&app, &sb, &browser).await;
    let _ = browser.screenshot("kubernetes-actions-final").await;
    browser.close().await?;
    app.stop().await?;
    result
}

/// Opens the `kind` dialog of a deployment row.
async fn open_dialog(browser: &Browser, deployment: &str, kind: &str) -> anyhow::Result<Element> {
    let button = browser
        .client
        .find(Locator::Css(&format!(
            "[data-testid=deployment-row][data-deployment={deployment}] [data-testid={kind}-button]"
        )))
        .await?;
    assert!(button.is_enabled().await?, "an operator may {kind}");
    button.click().await?;
    browser.wait_testid(&format!("{kind}-dialog")).await
}

async fn actions(app: &TestApp, sb: &TestSandbox, browser: &Browser) -> anyhow::Result<()> {
    let client = &browser.client;
    client.goto(&app.url("/kubernetes?ns=streaming-analytics&tab=deployments")).await?;
    wait_count(browser, "[data-testid=deployment-row]", 3).await?;
    let role = browser.wait_testid("k8s-role").await?.text().await?;
    assert!(role.contains("operator"), "{role}");

    // Scale up 6 → 8: preview (Enter in the field), no confirmation needed, apply.
    open_dialog(browser, "stream-processor", "scale").await?;
    let replicas = browser.wait_testid("scale-replicas").await?;
    assert_eq!(replicas.prop("value").await?.as_deref(), Some("6"), "starts at the current count");
    assert!(!browser.wait_testid("apply-button").await?.is_enabled().await?, "no apply before the dry run");
    type_into(browser, "scale-replicas", &format!("8{ENTER}")).await?;
    let summary = browser.wait_testid("dry-run-summary").await?.text().await?;
    assert!(summary.contains("6 → 8"), "{summary}");
    let cmd = browser.wait_testid("dry-run-kubectl").await?.text().await?;
    assert!(cmd.contains("scale deployment/stream-processor --replicas=8"), "{cmd}");
    assert_eq!(kubectl_replicas(sb, "stream-processor").await?, "6", "the preview changed nothing");
    assert_eq!(count(browser, "[data-testid=confirm-input]").await?, 0, "scaling up needs no typed name");
    browser.screenshot("kubernetes-scale-preview").await?;
    browser.wait_testid("apply-button").await?.click().await?;
    let done = browser.wait_testid("action-result").await?.text().await?;
    assert!(done.contains("6 → 8") && done.contains("audit entry #"), "{done}");
    assert_eq!(kubectl_replicas(sb, "stream-processor").await?, "8");
    press_escape(browser).await?;
    wait_count(browser, "[data-testid=scale-dialog]", 0).await?;
    let desired =
        "[data-testid=deployment-row][data-deployment=stream-processor] [data-testid=deployment-ready]";
    eventually("the row to show 8 desired", || async {
        let cell = browser.client.find(Locator::Css(desired)).await?;
        Ok((cell.attr("data-desired").await?.as_deref() == Some("8")).then_some(()))
    })
    .await?;
    assert!(text_of(browser, desired).await?.ends_with("/8"));

    // Scale down 3 → 2 is destructive: Apply stays disabled until the name is typed exactly.
    open_dialog(browser, "websocket-server", "scale").await?;
    type_into(browser, "scale-replicas", &format!("-1{ENTER}")).await?;
    let error = browser.wait_testid("action-error").await?.text().await?;
    assert!(error.contains("whole number"), "{error}");
    type_into(browser, "scale-replicas", "2").await?;
    browser.wait_testid("scale-preview").await?.click().await?;
    let summary = browser.wait_testid("dry-run-summary").await?.text().await?;
    assert!(summary.contains("3 → 2"), "{summary}");
    let apply = browser.wait_testid("apply-button").await?;
    assert!(!apply.is_enabled().await?, "needs the typed name");
    type_into(browser, "confirm-input", "websocket-serve").await?;
    assert!(!apply.is_enabled().await?, "a prefix does not confirm");
    browser.screenshot("kubernetes-scale-confirm").await?;
    type_into(browser, "confirm-input", "websocket-server").await?;
    eventually("apply enabled", || async { Ok(apply.is_enabled().await?.then_some(())) }).await?;
    apply.click().await?;
    let done = browser.wait_testid("action-result").await?.text().await?;
    assert!(done.contains("3 → 2"), "{done}");
    assert_eq!(kubectl_replicas(sb, "websocket-server").await?, "2");
    press_escape(browser).await?;
    wait_count(browser, "[data-testid=scale-dialog]", 0).await?;

    // Restart: the dry run comes at once and always needs the name; Escape leaves it undone.
    let before = sb
        .kubectl(&["get", "deploy", "ml-inference", "-o", "jsonpath={.spec.template.metadata.annotations}"])
        .await?;
    open_dialog(browser, "ml-inference", "restart").await?;
    let summary = browser.wait_testid("dry-run-summary").await?.text().await?;
    assert!(summary.contains("restart"), "{summary}");
    browser.wait_testid("confirm-input").await?;
    assert!(!browser.wait_testid("apply-button").await?.is_enabled().await?);
    press_escape(browser).await?;
    wait_count(browser, "[data-testid=restart-dialog]", 0).await?;
    let after = sb
        .kubectl(&["get", "deploy", "ml-inference", "-o", "jsonpath={.spec.template.metadata.annotations}"])
        .await?;
    assert_eq!(before, after, "a cancelled restart changes nothing");

    // Delete a pod from its detail panel: dry run, force (the preview follows), typed name.
    client.goto(&app.url("/kubernetes?ns=streaming-analytics&tab=pods&selector=app%3Dml-inference")).await?;
    wait_count(browser, "[data-testid=pod-row]", 4).await?;
    let row = all(browser, "[data-testid=pod-row]").await?.remove(0);
    let victim = row.attr("data-pod").await?.context("row without data-pod")?;
    row.click().await?;
    browser.wait_testid("pod-detail").await?;
    browser.wait_testid("delete-pod-button").await?.click().await?;
    browser.wait_testid("delete-dialog").await?;
    let summary = browser.wait_testid("dry-run-summary").await?.text().await?;
    assert!(summary.contains("gracefully") && summary.contains("replaces it"), "{summary}");
    browser.wait_testid("delete-force").await?.click().await?;
    let summary = eventually("the forced preview", || async {
        let text = browser.wait_testid("dry-run-summary").await?.text().await?;
        Ok(text.contains("immediately").then_some(text))
    })
    .await?;
    assert!(summary.contains(&victim), "{summary}");
    let cmd = browser.wait_testid("dry-run-kubectl").await?.text().await?;
    assert!(cmd.ends_with(&format!("delete pod {victim} --force --grace-period=0")), "{cmd}");
    let apply = browser.wait_testid("apply-button").await?;
    assert!(!apply.is_enabled().await?);
    type_into(browser, "confirm-input", &victim).await?;
    eventually("apply enabled", || async { Ok(apply.is_enabled().await?.then_some(())) }).await?;
    apply.click().await?;
    browser.wait_testid("action-result").await?;
    eventually("the pod to be gone", || async {
        let pods = sb.kubectl(&["get", "pods", "-o", "name"]).await?;
        Ok((!pods.contains(&format!("pod/{victim}\n"))).then_some(()))
    })
    .await?;
    press_escape(browser).await?;
    wait_count(browser, &format!("[data-testid=pod-row][data-pod={victim}]"), 0).await?;

    // The audit log has the three real runs, newest first; dry runs are not actions.
    browser.wait_testid("nav-audit").await?.click().await?;
    browser.wait_testid("audit-table").await?;
    wait_count(browser, "[data-testid=audit-row]", 3).await?;
    let rows = all(browser, "[data-testid=audit-row]").await?;
    assert_eq!(rows[0].attr("data-action").await?.as_deref(), Some("delete-pod"));
    assert!(rows[0].text().await?.contains(&victim));
    let second = rows[1].text().await?;
    assert!(second.contains("websocket-server") && second.contains("3 → 2"), "{second}");
    assert_eq!(rows[1].attr("data-outcome").await?.as_deref(), Some("succeeded"));
    assert_eq!(rows[2].attr("data-action").await?.as_deref(), Some("scale"));
    assert!(rows[2].text().await?.contains("stream-processor"));
    type_into(browser, "audit-filter", "stream-processor").await?;
    wait_count(browser, "[data-testid=audit-row]", 1).await?;
    type_into(browser, "audit-filter", "").await?;
    wait_count(browser, "[data-testid=audit-row]", 3).await?;
    let select = browser.wait_testid("audit-action-filter").await?;
    select.select_by_value("delete-pod").await?;
    wait_count(browser, "[data-testid=audit-row]", 1).await?;
    select.select_by_value("").await?;
    browser.screenshot("kubernetes-audit").await?;
    Ok(())
}

#[tokio::test]
async fn without_kubernetes_the_page_says_why() -> anyhow::Result<()> {
    require_frontend()?;
    let app = TestApp::start().await?;
    let browser = Browser::start().await?;
    let result = async {
        browser.client.goto(&app.url("/kubernetes?tab=deployments")).await?;
        let error = browser.wait_testid("view-error").await?.text().await?;
        assert!(error.contains("Could not load the Kubernetes namespaces"), "{error}");
        assert!(error.contains("not configured"), "the backend's reason, in words: {error}");
        browser.screenshot("kubernetes-not-configured").await?;
        anyhow::Ok(())
    }
    .await;
    browser.close().await?;
    app.stop().await?;
    result
}
