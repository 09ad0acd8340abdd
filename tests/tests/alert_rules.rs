//! The shipped alerting rules (`deploy/prometheus/alerts.yaml`): Prometheus's own `promtool`
//! accepts them, their unit tests (`alerts.test.yaml`: the links each alert renders) pass, and
//! every `runbook_url` opens one of the shipped flows with URL-encoded labels as parameters that
//! flow declares.

use std::process::Command;

use triage::runbooks::load_dir;
use triage_tests::paths::workspace_root;

const BASE: &str = "http://127.0.0.1:8080/runbooks/";

fn promtool(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(workspace_root().join("deploy/prometheus"))
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run promtool (Debian package `prometheus`): {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(out.status.success(), "promtool {} failed:\n{text}", args.join(" "));
    Ok(text)
}

#[test]
fn promtool_checks_the_rules() -> anyhow::Result<()> {
    let text = promtool(&["check", "rules", "alerts.yaml"])?;
    assert!(text.contains("SUCCESS: 14 rules found"), "{text}");
    Ok(())
}

#[test]
fn promtool_unit_tests_pin_the_rendered_links() -> anyhow::Result<()> {
    let text = promtool(&["test", "rules", "alerts.test.yaml"])?;
    assert!(text.contains("SUCCESS"), "{text}");
    Ok(())
}

#[test]
fn every_alert_links_to_a_flow_with_encoded_labels() -> anyhow::Result<()> {
    let rules = std::fs::read_to_string(workspace_root().join("deploy/prometheus/alerts.yaml"))?;
    let loaded = load_dir(&workspace_root().join("runbooks"));
    assert!(loaded.problems.is_empty(), "the shipped runbooks load: {:?}", loaded.problems);
    let alerts = rules.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    let urls: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("runbook_url:"))
        .map(|v| v.trim().trim_matches('"'))
        .collect();
    assert_eq!(alerts, 14);
    assert_eq!(urls.len(), alerts, "every alert has a runbook_url");
    let guide =
        ["HighErrorRate", "ConsumerLagHigh", "MLInferenceLatencyHigh", "WebSocketConnectionsDropping"];
    for name in guide {
        assert!(rules.contains(&format!("- alert: {name}\n")), "the guide's {name} is shipped");
    }
    // Each alert's flow lists it, so the Alerts page can link it by name too.
    let names: Vec<&str> =
        rules.lines().filter_map(|l| l.trim_start().strip_prefix("- alert:")).map(str::trim).collect();
    for (name, url) in names.iter().zip(&urls) {
        let id = url.strip_prefix(BASE).and_then(|r| r.split('?').next()).unwrap_or_default();
        let listed = loaded.runbooks.iter().any(|r| r.id == id && r.alerts.iter().any(|a| a == name));
        assert!(listed, "alert {name} links to {id}, whose `alerts:` does not list it");
    }
    for url in urls {
        let rest = url.strip_prefix(BASE).unwrap_or_else(|| panic!("{url} does not start with {BASE}"));
        let (id, query) = rest.split_once('?').unwrap_or((rest, ""));
        let runbook = loaded.runbooks.iter().find(|r| r.id == id);
        let runbook =
            runbook.unwrap_or_else(|| panic!("{url} links to {id}, which is not a shipped runbook"));
        assert!(!query.is_empty(), "{url} carries no parameter, so the flow would not start");
        for pair in query.split('&') {
            let (name, value) =
                pair.split_once('=').unwrap_or_else(|| panic!("{url}: `{pair}` is not name=value"));
            // The environment label: the Prometheus server's own external label.
            if name == "cluster" {
                assert_eq!(value, "{{ $externalLabels.cluster | urlquery }}", "{url}");
                continue;
            }
            assert!(
                runbook.params.iter().any(|p| p.name == name),
                "{url}: runbook {id} declares no parameter `{name}`"
            );
            if value.contains("{{") {
                assert!(
                    value.starts_with("{{ $labels.") && value.ends_with(" | urlquery }}"),
                    "{url}: the label in `{pair}` is not URL-encoded"
                );
            }
        }
    }
    Ok(())
}
