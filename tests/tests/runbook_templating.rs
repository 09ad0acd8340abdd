//! Hostile parameter values through every place a value can go: PromQL strings and ranges,
//! Kubernetes names, namespaces and selectors, log patterns, bound SQL parameters, URLs and the
//! command text shown to people. Each must either be refused with a reason or land as an inert
//! literal: the query's structure outside the literal never changes. The end-to-end part runs a
//! runbook with such values against the sandbox and a real Prometheus.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use triage::runbooks::template::{self, Values};
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_shared::runbook::{ParamKind, RunStarted, RunState, StepState, Verdict};
use triage_tests::{Prometheus, TestApp, TestSandbox};

fn hostile() -> Vec<String> {
    vec![
        "\"".to_owned(),
        "\"} or vector(1) #".to_owned(),
        "a\"} or vector(1) #".to_owned(),
        "x\ny".to_owned(),
        "\r\n\t\u{0}".to_owned(),
        "../../etc/passwd".to_owned(),
        "$(touch /tmp/pwned); `id`".to_owned(),
        "'; DROP TABLE events; --".to_owned(),
        "}}{{namespace}}".to_owned(),
        "\\".to_owned(),
        "\\\"".to_owned(),
        ".*".to_owned(),
        "5m] or vector(1) [5m".to_owned(),
        "a=b,c!=d".to_owned(),
        "x".repeat(1000),
        "é\u{202e}".to_owned(),
    ]
}

fn values(kind: ParamKind, value: &str) -> Values {
    let mut v = Values::new();
    v.insert("v".to_owned(), (kind, value.to_owned()));
    v.insert("namespace".to_owned(), (ParamKind::Namespace, "streaming-analytics".to_owned()));
    v.insert("window".to_owned(), (ParamKind::Duration, "5m".to_owned()));
    v
}

/// A PromQL expression split into its string literals (unquoted) and the text between them.
fn lex(q: &str) -> (Vec<String>, Vec<String>) {
    let (mut outside, mut strings) = (vec![String::new()], Vec::new());
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') | None => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('r') => s.push('\r'),
                        Some('t') => s.push('\t'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            s.push(
                                u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('?'),
                            );
                        }
                        Some(other) => s.push(other),
                        None => break,
                    },
                    Some(other) => s.push(other),
                }
            }
            strings.push(s);
            outside.push(String::new());
        } else if let Some(last) = outside.last_mut() {
            last.push(c);
        }
    }
    (outside, strings)
}

#[test]
fn name_duration_and_number_kinds_refuse_every_hostile_value() {
    for value in hostile() {
        for kind in [
            ParamKind::Namespace,
            ParamKind::Deployment,
            ParamKind::Name,
            ParamKind::Duration,
            ParamKind::Integer,
            ParamKind::ConsumerGroup,
            ParamKind::Topic,
        ] {
            assert!(template::check_value(kind, &value).is_err(), "{kind:?} accepted {value:?}");
        }
    }
    assert!(
        template::check_value(ParamKind::LabelValue, &"x".repeat(1025)).is_err(),
        "label values are bounded"
    );
}

#[test]
fn promql_strings_hold_any_value_as_one_inert_literal() {
    let templates = [
        "sum(rate(events_failed_total{namespace=\"{{namespace}}\", pod=\"{{v}}\"}[{{window}}]))",
        "count(up{pod!=\"{{v}}\"}) > 0",
        "label_replace(up, \"x\", \"{{v}}\", \"job\", \"(.*)\")",
    ];
    for t in templates {
        let (benign_outside, benign_strings) =
            lex(&template::promql(t, &values(ParamKind::LabelValue, "ok")).expect("benign"));
        for value in hostile() {
            let q = template::promql(t, &values(ParamKind::LabelValue, &value))
                .expect("a label value is always placeable in a string");
            let (outside, strings) = lex(&q);
            assert_eq!(outside, benign_outside, "structure changed for {value:?}: {q}");
            assert_eq!(strings.len(), benign_strings.len(), "{q}");
            assert!(strings.contains(&value), "the literal must be exactly the value {value:?}: {strings:?}");
        }
    }
}

#[test]
fn promql_regex_matchers_match_the_value_literally() {
    let t = "count(up{pod=~\"{{v}}\"})";
    for value in hostile() {
        let q = template::promql(t, &values(ParamKind::LabelValue, &value)).expect("placeable");
        let (outside, strings) = lex(&q);
        assert_eq!(outside, vec!["count(up{pod=~".to_owned(), "})".to_owned()], "{q}");
        let re = regex::Regex::new(&format!("^(?:{})$", strings[0])).expect("a valid regex");
        assert!(re.is_match(&value), "{value:?} must match itself");
        if value != "abc" {
            assert!(!re.is_match("abc"), "{value:?} became a pattern: {}", strings[0]);
        }
    }
}

#[test]
fn promql_refuses_values_outside_strings_and_non_durations_as_ranges() {
    for value in hostile() {
        assert!(
            template::promql("rate(x[{{v}}])", &values(ParamKind::Duration, &value)).is_err(),
            "{value:?}"
        );
        assert!(
            template::promql("rate(x[{{v}}])", &values(ParamKind::LabelValue, &value)).is_err(),
            "{value:?}"
        );
        assert!(template::range("{{v}}", &values(ParamKind::Duration, &value)).is_err(), "{value:?}");
    }
    for t in ["x{pod={{v}}}", "x > {{v}}", "{{v}}", "x{pod='{{v}}'}", "x # {{v}}"] {
        assert!(template::promql_slots(t).is_err(), "{t} must be refused");
    }
}

#[test]
fn kubernetes_names_namespaces_and_selectors_refuse_hostile_values() {
    for value in hostile() {
        for kind in [ParamKind::Deployment, ParamKind::LabelValue] {
            let v = values(kind, &value);
            assert!(template::k8s_name("{{v}}", &v).is_err(), "name {value:?}");
            assert!(template::k8s_namespace("{{v}}", &v).is_err(), "namespace {value:?}");
            assert!(template::selector("app={{v}}", &v).is_err(), "selector {value:?}");
        }
    }
    let v = values(ParamKind::Deployment, "stream-processor");
    assert_eq!(template::selector("app={{v}},tier!=db", &v).expect("ok"), "app=stream-processor,tier!=db");
    assert!(template::selector("{{v}}=x", &v).is_err(), "a placeholder may only be a whole value");
}

#[test]
fn log_patterns_match_values_literally() {
    for value in hostile() {
        let p = template::log_pattern("ERROR.*{{v}}", &values(ParamKind::LabelValue, &value)).expect("ok");
        let re = regex::Regex::new(&p).expect("valid regex");
        assert!(re.is_match(&format!("ERROR x {value}")));
        if !value.is_empty() && value != ".*" {
            assert!(!re.is_match("ERROR nothing else"), "{value:?} widened the pattern: {p}");
        }
    }
    let p = template::log_pattern("{{v}}", &values(ParamKind::LabelValue, ".*")).expect("ok");
    assert!(!regex::Regex::new(&p).expect("regex").is_match("anything"), "`.*` is matched literally");
}

#[test]
fn sql_values_are_bound_never_spliced_and_urls_refuse_them() {
    let bases: BTreeMap<String, url::Url> =
        [("health".to_owned(), "http://127.0.0.1:9/health".parse().expect("url"))].into_iter().collect();
    for value in hostile() {
        // The bound text is the value itself; the SQL text never contains a placeholder
        // (validation refuses `{{` in a named query, see runbook_validation.rs).
        assert_eq!(template::bound("{{v}}", &values(ParamKind::LabelValue, &value)).expect("ok"), value);
        for kind in [ParamKind::LabelValue, ParamKind::Deployment] {
            assert!(
                template::url("{{url:health}}/{{v}}", &values(kind, &value), &bases).is_err(),
                "{value:?}"
            );
        }
    }
    let ok = template::url("{{url:health}}/{{v}}", &values(ParamKind::Deployment, "ml-inference"), &bases)
        .expect("ok");
    assert_eq!(ok.as_str(), "http://127.0.0.1:9/health/ml-inference");
}

#[test]
fn commands_shown_to_people_quote_values_so_a_shell_reads_them_literally() {
    for value in hostile().into_iter().filter(|v| !v.contains('\u{0}')) {
        let cmd = template::command("printf %s {{v}}", &values(ParamKind::LabelValue, &value)).expect("ok");
        let out = std::process::Command::new("sh").arg("-c").arg(&cmd).output().expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), value, "{cmd}");
    }
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

const PROBE: &str = r#"id: probe
title: Hostile values, end to end
summary: Every check kind with a free-text parameter where one is allowed.
component: platform
params:
  - name: namespace
    kind: namespace
    default: streaming-analytics
  - name: who
    kind: label-value
    default: nobody
  - name: deployment
    kind: deployment
    default: stream-processor
queries:
  - name: by_application
    sql: SELECT count(*)::float8 FROM pg_stat_activity WHERE application_name = $1
steps:
  - id: equal
    title: Equality matcher
    explanation: Must find nothing for any value that is not a pod name.
    check:
      kind: promql
      query: count(up{namespace="{{namespace}}", pod="{{who}}"})
  - id: regex
    title: Regex matcher
    explanation: Must match the value literally.
    check:
      kind: promql
      query: count(up{namespace="{{namespace}}", pod=~"{{who}}"})
  - id: logs
    title: Log pattern
    explanation: The value is matched literally.
    check:
      kind: k8s-logs
      namespace: "{{namespace}}"
      selector: app={{deployment}}
      pattern: "{{who}}"
  - id: selector
    title: Selector value
    explanation: A value that is not a label value is refused before Kubernetes is asked.
    check:
      kind: k8s-pods
      namespace: "{{namespace}}"
      selector: app={{who}}
  - id: sql
    title: Bound SQL parameter
    explanation: Bound, never spliced.
    check:
      kind: sql
      query: by_application
      params: ["{{who}}"]
  - id: health
    title: Health of a named deployment
    explanation: Only Kubernetes names become path segments.
    check:
      kind: http-health
      urls: ["{{url:health}}/{{deployment}}"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_run_against_real_servers_without_changing_any_query() -> Result<()> {
    let sandbox = TestSandbox::start(Incident::Healthy).await?;
    let prom = Prometheus::start(&[("sandbox", sandbox.sandbox.metrics_addr.to_string())]).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("probe.yaml"), PROBE)?;
    let mut settings = triage_tests::app::kubernetes_settings(&sandbox.kubeconfig, Role::Reader);
    settings.prometheus = Some(triage::config::PrometheusSettings {
        timeout_secs: 5,
        max_range_secs: 86_400,
        ..TestApp::prometheus_settings(&prom.url)?
    });
    settings.runbooks.dir = dir.path().to_owned();
    settings
        .runbooks
        .urls
        .insert("health".to_owned(), format!("{}/health", sandbox.sandbox.metrics_url).parse()?);
    let app = TestApp::start_with(settings).await?;
    // Wait until the sandbox is scraped, so an injected `vector(1)` or `.*` would show.
    let deadline = Instant::now() + Duration::from_secs(20);
    while prom.query("count(up{job=\"sandbox\"})").await?["result"].as_array().is_none_or(Vec::is_empty) {
        anyhow::ensure!(Instant::now() < deadline, "the sandbox is never scraped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = prom.query("count(up{namespace=\"streaming-analytics\", pod=~\".*\"})").await?;
    assert!(all["result"][0]["value"][1].as_str().is_some_and(|v| v != "0"), "sanity: `.*` matches pods");

    for value in [
        "\"} or vector(1) #",
        ".*",
        "a\"} or vector(1) #\nx",
        "../../etc/passwd",
        "\\\"",
        "'; DROP TABLE events; --",
    ] {
        let (status, body) =
            app.post_json("/api/runbooks/probe/runs", &serde_json::json!({"params": {"who": value}})).await?;
        assert_eq!(status, 200, "{body}");
        let run: RunStarted = serde_json::from_value(body)?;
        let state = loop {
            let state: RunState = app.get_json(&format!("/api/runs/{}", run.run_id)).await?;
            if state.finished_at.is_some() {
                break state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let result = |id: &str| match state.steps.iter().find(|(s, _)| s == id) {
            Some((_, StepState::Done { result })) => result.clone(),
            other => panic!("{id}: {other:?}"),
        };
        for id in ["equal", "regex"] {
            let r = result(id);
            assert_eq!(r.verdict, Verdict::Ok, "{id} with {value:?}: {r:?}");
            assert!(r.values.is_empty(), "{id} with {value:?} found series (the query was altered): {r:?}");
            let (outside, strings) = lex(r.query.as_deref().unwrap_or_default());
            assert_eq!(outside.len(), 3, "{id}: {:?}", r.query);
            assert_eq!(strings[1], if id == "equal" { value.to_owned() } else { regex::escape(value) });
        }
        let logs = result("logs");
        assert_eq!(logs.values.get("matches"), Some(&0.0), "{value:?} widened the log pattern: {logs:?}");
        let selector = result("selector");
        assert_eq!(selector.verdict, Verdict::Error, "{selector:?}");
        assert!(selector.summary.contains("not a valid label value"), "{}", selector.summary);
        assert_eq!(result("sql").verdict, Verdict::Skipped);
        assert_eq!(result("health").verdict, Verdict::Ok);
    }

    for bad in ["../x", "Stream", "a/b", "x\ny", "\"} or vector(1) #"] {
        let (status, body) = app
            .post_json("/api/runbooks/probe/runs", &serde_json::json!({"params": {"deployment": bad}}))
            .await?;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("`deployment`")), "{body}");
    }
    let long = "x".repeat(5000);
    let (status, body) =
        app.post_json("/api/runbooks/probe/runs", &serde_json::json!({"params": {"who": long}})).await?;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("`who`")), "{body}");
    Ok(())
}
