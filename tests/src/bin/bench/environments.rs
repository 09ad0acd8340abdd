//! (11) Environments: ten configured (ten sandboxes, each scraped by its own Prometheus), the
//! Overview's first complete render (its first chart drawn and every environment's alert line in)
//! and the merged Alerts page, against the same pages with one environment, in the same run; then
//! with one environment's Prometheus hung (SIGSTOP, a real hang of a real server): the time until
//! every other environment's answer is on screen, the hung one still "asking…".

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_tests::paths::workspace_root;
use triage_tests::{Browser, Prometheus, TestApp, TestSandbox};

use super::platform::time_until;
use super::{Row, median};

const ENVS: usize = 10;
/// Every environment's Prometheus timeout. A hung one costs the merged views at most this plus
/// the client's 2 s of grace (so that Prometheus's own timeout text can arrive first).
const PROM_TIMEOUT_SECS: u64 = 3;

fn settings(envs: &[(TestSandbox, Prometheus)]) -> Result<Settings> {
    let list: Vec<serde_json::Value> = envs
        .iter()
        .enumerate()
        .map(|(i, (sb, prom))| {
            json!({
                "name": format!("env-{i}"),
                "protection": if i == 0 { "standard" } else { "production" },
                "kubernetes": {"kubeconfig": sb.kubeconfig, "namespaces": ["streaming-analytics"]},
                "prometheus": {"url": prom.url, "timeout_secs": PROM_TIMEOUT_SECS},
            })
        })
        .collect();
    let mut s: Settings = serde_json::from_value(json!({
        "environments": list,
        "runbooks": {"dir": workspace_root().join("runbooks")},
    }))?;
    s.auth = triage::config::AuthSettings::Local { local_role: Role::Operator };
    s.validate()?;
    Ok(s)
}

/// Median milliseconds (after one warm-up) until the Overview has its first chart and the
/// alert lines of `answered` environments, and until the Alerts page has merged the answers of
/// `answered` environments, each in a fresh browser. With `answered` below `envs`, the rest are
/// hung and must still say "asking…" then.
async fn pages(app: &TestApp, envs: usize, answered: usize) -> Result<(f64, f64)> {
    let (rows, strip) = if envs > 1 {
        (
            format!(
                "document.querySelectorAll('[data-testid=env-alerts-row][data-state=answered]').length == {answered} \
                 && document.querySelectorAll('[data-testid=env-alerts-row]').length == {envs}"
            ),
            format!(
                "document.querySelectorAll('[data-testid=alerts-env-status][data-state=answered]').length == {answered}"
            ),
        )
    } else {
        ("true".to_owned(), "true".to_owned())
    };
    let overview = format!(
        "document.querySelector('[data-testid=firing-count]') && {rows} \
         && performance.getEntriesByName('triage:first-chart').length > 0"
    );
    let alerts = format!("document.querySelector('[data-testid=alerts-updated]') && {strip}");
    let (mut o, mut a) = (Vec::new(), Vec::new());
    for run in 0..6 {
        let browser = Browser::start().await?;
        let t = time_until(&browser, &app.url("/?env=env-0"), &overview).await?;
        let u = time_until(&browser, &app.url("/alerts?env=env-0"), &alerts).await?;
        if answered < envs {
            // The hung environment really was still out when the others were counted.
            let asking = browser
                .client
                .execute(
                    "return document.querySelectorAll('[data-testid=alerts-env-status][data-state=asking]').length",
                    vec![],
                )
                .await?
                .as_u64()
                .unwrap_or(0);
            anyhow::ensure!(
                asking as usize == envs - answered,
                "{asking} environment(s) asking, expected {}",
                envs - answered
            );
        }
        browser.close().await?;
        println!(
            "    {envs} environment(s), {answered} answering, run {run}: Overview {t:.0} ms, Alerts {u:.0} ms"
        );
        if run > 0 {
            o.push(t);
            a.push(u);
        }
    }
    Ok((median(o), median(a)))
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = Command::new("kill").args([sig, &pid.to_string()]).status()?;
    anyhow::ensure!(status.success(), "kill {sig} {pid} failed");
    Ok(())
}

pub async fn environments(rows: &mut Vec<Row>) -> Result<()> {
    println!("(11) environments: starting {ENVS} sandboxes and {ENVS} Prometheus servers…");
    let mut envs = Vec::new();
    for _ in 0..ENVS {
        let sb = TestSandbox::start(Incident::Healthy).await?;
        let prom = Prometheus::start(&[("sandbox", sb.sandbox.metrics_addr.to_string())]).await?;
        envs.push((sb, prom));
    }
    // A few scrapes, so every chart has data.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let one = TestApp::start_with(settings(&envs[..1])?).await?;
    let (o1, a1) = pages(&one, 1, 1).await?;
    one.stop().await?;
    let ten = TestApp::start_with(settings(&envs)?).await?;
    let (o10, a10) = pages(&ten, ENVS, ENVS).await?;
    let hung = envs[ENVS - 1].1.pid();
    signal(hung, "-STOP")?;
    let result = pages(&ten, ENVS, ENVS - 1).await;
    signal(hung, "-CONT")?;
    let (oh, ah) = result?;
    ten.stop().await?;
    let rows_of = [
        ("Overview's first complete render (first chart, every answering environment's alerts)", o1, o10, oh),
        ("merged Alerts page (every answering environment's answer in)", a1, a10, ah),
    ];
    for (what, single, many, with_hung) in rows_of {
        rows.push(Row {
            figure: format!("(11) {what}, {ENVS} environments"),
            measured: format!("{many:.0} ms"),
            baseline: format!("{single:.0} ms with one environment"),
            ratio: format!("{:.2}×", many / single),
            target: "≤ 1.5×".to_owned(),
        });
        rows.push(Row {
            figure: format!("(11) {what}, {ENVS} environments, one Prometheus hung (SIGSTOP)"),
            measured: format!("{with_hung:.0} ms"),
            baseline: format!("{many:.0} ms none hung (the hung one says \"asking…\" meanwhile)"),
            ratio: format!("{:.2}×", with_hung / many),
            target: "≤ 1.2×: the others do not wait for it".to_owned(),
        });
    }
    Ok(())
}
