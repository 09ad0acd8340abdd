//! Runbooks as data: every shipped runbook loads (its parsed form is snapshotted in
//! `backend/tests/snapshots.rs`); broken
//! files are reported with file, line and reason; reload
//! through the admin endpoint keeps the current set when a file is broken; finished runs survive a
//! restart through the store.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use triage::config::Settings;
use triage::runbooks::load_dir;
use triage_shared::actions::Role;
use triage_shared::runbook::{RunStarted, RunState, RunbookSummary, StepState, Verdict};
use triage_tests::TestApp;
use triage_tests::paths::workspace_root;

const GOOD: &str = r#"id: tiny
title: Tiny
summary: A small valid runbook.
component: platform
params:
  - name: namespace
    kind: namespace
    default: streaming-analytics
  - name: window
    kind: duration
    default: 5m
steps:
  - id: errors
    title: Errors
    explanation: Failed events.
    check:
      kind: promql
      query: sum(rate(events_failed_total{namespace="{{namespace}}"}[{{window}}]))
    rules:
      - op: above
        threshold: 1
        verdict: warning
    points_to: [broken]
causes:
  - id: broken
    title: Broken
    description: Something broke.
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write runbook");
}

/// The problems of `text` as `line: reason` strings.
fn problems_of(text: &str) -> Vec<(usize, String)> {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "r.yaml", text);
    let loaded = load_dir(dir.path());
    for p in &loaded.problems {
        assert!(p.file.ends_with("r.yaml"), "{p}");
    }
    loaded.problems.iter().map(|p| (p.line, p.reason.clone())).collect()
}

fn assert_problem(text: &str, line: usize, needle: &str) {
    let problems = problems_of(text);
    assert!(
        problems.iter().any(|(l, r)| *l == line && r.contains(needle)),
        "expected a problem at line {line} containing {needle:?}, got {problems:#?}"
    );
}

#[test]
fn every_shipped_runbook_loads() {
    let loaded = load_dir(&workspace_root().join("runbooks"));
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let ids: Vec<&str> = loaded.runbooks.iter().map(|r| r.id.as_str()).collect();
    for id in [
        "general-triage",
        "kafka-consumer-lag",
        "kafka-connection",
        "websocket-drops",
        "websocket-memory",
        "ml-latency",
        "ml-model-loading",
        "db-pool-exhaustion",
        "db-slow-queries",
        "high-cpu",
        "memory-leak",
        "high-error-rate",
        "emergency-restart",
        "data-recovery",
    ] {
        assert!(ids.contains(&id), "missing runbook {id}; have {ids:?}");
    }
    // Their parsed form is compared with committed snapshots in `backend/tests/snapshots.rs`.
}

#[test]
fn the_good_example_is_valid() {
    assert_eq!(problems_of(GOOD), vec![]);
}

#[test]
fn unknown_check_kind_names_its_line() {
    assert_problem(&GOOD.replace("kind: promql", "kind: promq"), 17, "unknown variant `promq`");
}

#[test]
fn bad_thresholds_are_refused() {
    // A trend rule on an instant query (line 20 is the rule's op).
    let rising =
        GOOD.replace("      - op: above\n        threshold: 1", "      - op: rising\n        threshold: 1");
    let problems = problems_of(&rising);
    assert!(
        problems.iter().any(|(l, r)| *l >= 13 && r.contains("needs a promql check with a range")),
        "{problems:?}"
    );
    let text = GOOD.replace("threshold: 1", "threshold: .nan");
    assert!(problems_of(&text).iter().any(|(_, r)| r.contains("finite")), "NaN threshold");
    assert_problem(&GOOD.replace("threshold: 1", "threshold: lots"), 21, "");
}

#[test]
fn undeclared_placeholder_names_its_line() {
    assert_problem(&GOOD.replace("{{window}}", "{{windw}}"), 18, "`{{windw}}` is not a declared parameter");
}

#[test]
fn placeholder_outside_a_quoted_label_value_is_refused() {
    let text = GOOD.replace("namespace=\"{{namespace}}\"", "namespace={{namespace}}");
    assert_problem(&text, 18, "outside a double-quoted label value");
    let text = GOOD.replace("[{{window}}]", "[{{namespace}}]");
    assert_problem(&text, 18, "a range must be a duration parameter");
}

#[test]
fn unknown_cause_names_its_line() {
    assert_problem(&GOOD.replace("points_to: [broken]", "points_to: [brokn]"), 23, "unknown cause `brokn`");
}

#[test]
fn unknown_action_target_is_refused() {
    let text = format!(
        "{GOOD}    fixes:\n      - type: action\n        title: Restart\n        action:\n          action: restart\n          namespace: \"{{{{namespace}}}}\"\n          deployment: \"{{{{service}}}}\"\n"
    );
    assert_problem(&text, 34, "`{{service}}` is not a declared parameter");
    let text = text.replace("\"{{service}}\"", "Stream_Processor");
    assert_problem(&text, 34, "not a valid name");
    // An unknown action inside a fix is reported at the fix that holds it.
    let text = text.replace("action: restart", "action: reboot");
    assert!(
        problems_of(&text).iter().any(|(l, r)| *l == 29 && r.contains("unknown variant `reboot`")),
        "{:?}",
        problems_of(&text)
    );
}

#[test]
fn an_action_fix_may_not_carry_its_own_command() {
    let text = format!(
        "{GOOD}    fixes:\n      - type: action\n        title: Restart\n        command: kubectl delete ns prod\n        action:\n          action: restart\n          namespace: \"{{{{namespace}}}}\"\n          deployment: stream-processor\n"
    );
    assert_problem(&text, 31, "its command is Triage's own");
}

/// A run's resolved action fix carries the backend's one spelling of its command, quoted.
#[tokio::test]
async fn resolved_action_fixes_carry_the_backends_command() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let text = format!(
        "{GOOD}    fixes:\n      - type: action\n        title: Remove the pods\n        action:\n          action: delete-pods\n          namespace: \"{{{{namespace}}}}\"\n          selector: \"app in (a,b),tier!=db\"\n"
    );
    write(dir.path(), "tiny.yaml", &text);
    let store = tempfile::tempdir()?;
    let app = TestApp::start_with(settings(dir.path(), &store.path().join("s.db"), Role::Operator)).await?;
    let (status, body) = app.post_json("/api/runbooks/tiny/runs", &serde_json::json!({"params": {}})).await?;
    assert_eq!(status, 200, "{body}");
    let run: RunState =
        app.get_json(&format!("/api/runs/{}", body["run_id"].as_str().unwrap_or_default())).await?;
    let fixes = serde_json::to_value(&run.fixes["broken"])?;
    assert_eq!(
        fixes[0]["command"], "kubectl -n streaming-analytics delete pods -l 'app in (a,b),tier!=db'",
        "{fixes}"
    );
    app.stop().await
}

#[test]
fn duplicate_ids_are_refused() {
    let twice = GOOD.replace(
        "causes:",
        "  - id: errors\n    title: Again\n    explanation: Same id.\n    check:\n      kind: k8s-pods\n      namespace: \"{{namespace}}\"\ncauses:",
    );
    assert_problem(&twice, 13, "duplicate step id `errors`");

    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "a.yaml", GOOD);
    write(dir.path(), "b.yaml", GOOD);
    let loaded = load_dir(dir.path());
    assert_eq!(loaded.runbooks.len(), 1);
    let text: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|p| p.contains("b.yaml:1: duplicate runbook id `tiny`")), "{text:?}");
}

fn settings(dir: &Path, sqlite: &Path, role: Role) -> Settings {
    let mut settings = Settings::default();
    settings.runbooks.dir = dir.to_owned();
    settings.store.sqlite_path = sqlite.to_owned();
    settings.auth = triage::config::AuthSettings::Local { local_role: role };
    settings
}

#[tokio::test]
async fn reload_swaps_the_set_and_keeps_it_when_a_file_is_broken() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = tempfile::tempdir()?;
    write(dir.path(), "tiny.yaml", GOOD);
    let app = TestApp::start_with(settings(dir.path(), &store.path().join("t.db"), Role::Admin)).await?;
    let list: Vec<RunbookSummary> = app.get_json("/api/runbooks").await?;
    assert_eq!(list.len(), 1);

    write(dir.path(), "second.yaml", &GOOD.replace("id: tiny", "id: second"));
    let (status, body) = app.post_json("/api/runbooks/reload", &serde_json::json!({})).await?;
    assert_eq!((status, body["loaded"].as_u64()), (200, Some(2)), "{body}");

    write(dir.path(), "third.yaml", &GOOD.replace("id: tiny", "id: third").replace("[broken]", "[nothing]"));
    let (status, body) = app.post_json("/api/runbooks/reload", &serde_json::json!({})).await?;
    assert_eq!(status, 422, "{body}");
    let problems = body["error"]["detail"]["problems"].to_string();
    assert!(
        problems.contains("third.yaml:23: step `errors` points to unknown cause `nothing`"),
        "{problems}"
    );
    let list: Vec<RunbookSummary> = app.get_json("/api/runbooks").await?;
    assert_eq!(list.len(), 2, "a broken file keeps the current set");
    let missing = app.http.get(app.url("/api/runbooks/third")).send().await?;
    assert_eq!(missing.status(), 404);

    // SIGHUP reloads too (the handler is installed when the server starts).
    std::fs::remove_file(dir.path().join("third.yaml"))?;
    write(dir.path(), "fourth.yaml", &GOOD.replace("id: tiny", "id: fourth"));
    let status =
        std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status()?;
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: Vec<RunbookSummary> = app.get_json("/api/runbooks").await?;
        if list.len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {} runbooks", list.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await?;

    let reader = TestApp::start_with(settings(dir.path(), &store.path().join("r.db"), Role::Reader)).await?;
    let (status, body) = reader.post_json("/api/runbooks/reload", &serde_json::json!({})).await?;
    assert_eq!(status, 403, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_finished_run_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = tempfile::tempdir()?;
    let db = store.path().join("triage.db");
    write(dir.path(), "tiny.yaml", GOOD);
    let app = TestApp::start_with(settings(dir.path(), &db, Role::Reader)).await?;
    let (status, body) = app
        .post_json(
            "/api/runbooks/tiny/runs",
            &serde_json::json!({"params": {"window": "10m", "alertname": "x"}}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let started: RunStarted = serde_json::from_value(body)?;
    assert_eq!(started.params.get("window").map(String::as_str), Some("10m"));
    assert!(!started.params.contains_key("alertname"), "undeclared labels of an alert link are ignored");
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = loop {
        let state: RunState = app.get_json(&format!("/api/runs/{}", started.run_id)).await?;
        if state.finished_at.is_some() {
            break state;
        }
        assert!(Instant::now() < deadline, "run did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Prometheus is not configured: the check is skipped, not faked.
    let StepState::Done { result } = &state.steps[0].1 else { panic!("not done: {state:?}") };
    assert_eq!(result.verdict, Verdict::Skipped, "{result:?}");
    // The store is written after `finished`; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.stop().await?;

    let again = TestApp::start_with(settings(dir.path(), &db, Role::Reader)).await?;
    let restored: RunState = again.get_json(&format!("/api/runs/{}", started.run_id)).await?;
    assert_eq!(restored, state);
    let report = again.http.get(again.url(&format!("/api/runs/{}/report.md", started.run_id))).send().await?;
    assert_eq!(report.status(), 200);
    assert!(report.text().await?.contains("| Errors | SKIPPED |"));
    Ok(())
}
