//! `triage runbooks check DIR` parses every PromQL query (each parameter replaced by a sample
//! value): a syntax error, or a parameter whose value would land outside a label matcher's
//! value or outside a range, is a `file:line: reason` problem with exit status 1.

use std::path::Path;
use std::process::Command;

/// A valid runbook whose query line (line 16) the tests replace.
const RUNBOOK: &str = r#"id: tiny
title: Tiny
summary: A small runbook.
component: platform
params:
  - name: window
    kind: duration
    default: 5m
  - name: namespace
    kind: namespace
    default: shop
steps:
  - id: errors
    check:
      kind: promql
      query: sum(rate(events_failed_total{namespace="{{namespace}}"}[{{window}}]))
    title: Errors
    explanation: Failed events.
    rules:
      - op: above
        threshold: 1
        verdict: warning
"#;

const QUERY: &str = r#"sum(rate(events_failed_total{namespace="{{namespace}}"}[{{window}}]))"#;

fn check_with(query: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(RUNBOOK.contains(QUERY));
    std::fs::write(dir.path().join("q.yaml"), RUNBOOK.replace(QUERY, query)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["runbooks", "check"])
        .arg(dir.path())
        .output()
        .expect("run triage");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_query_as_written_passes() {
    let (code, stdout, stderr) = check_with(QUERY);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("1 runbooks in 1 files are valid"), "{stdout}");
}

#[test]
fn a_promql_syntax_error_is_a_file_line_problem() {
    // One closing parenthesis missing: the template scanner sees nothing wrong with it.
    let (code, _, stderr) =
        check_with(r#"sum(rate(events_failed_total{namespace="{{namespace}}"}[{{window}}])"#);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("q.yaml:16: PromQL does not parse (with sample parameter values): "), "{stderr}");
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
    // A literal query is parsed as well.
    let (code, _, stderr) = check_with("sum(rate(events_failed_total[5m]) by");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("q.yaml:16: PromQL does not parse: "), "{stderr}");
}

#[test]
fn a_parameter_outside_a_label_matcher_value_is_refused() {
    // Inside a double-quoted string, but a function's argument: the value would become a label.
    let (code, _, stderr) = check_with(
        r#"label_replace(sum(rate(events_failed_total[{{window}}])), "dst", "{{namespace}}", "", "")"#,
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "q.yaml:16: PromQL: `{{namespace}}` is in a string that is not a label matcher's value"
        ),
        "{stderr}"
    );
    // Outside any string: refused before parsing.
    let (code, _, stderr) = check_with(r#"sum(rate({{namespace}}[{{window}}]))"#);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("q.yaml:16: PromQL: `{{namespace}}` is outside a double-quoted label value"),
        "{stderr}"
    );
}

#[test]
fn every_shipped_query_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let loaded = triage::runbooks::load_dir(&dir);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let queries = loaded
        .runbooks
        .iter()
        .flat_map(|r| &r.steps)
        .filter(|s| matches!(s.check, triage_shared::runbook::Check::Promql { .. }))
        .count();
    assert!(queries >= 20, "the shipped runbooks hold {queries} PromQL checks");
}
