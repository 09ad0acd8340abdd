//! `triage runbooks check DIR`: every problem as `file:line: reason`, exit status 1; the shipped
//! runbooks pass.

use std::path::Path;
use std::process::Command;

const GOOD: &str = r#"id: tiny
title: Tiny
summary: A small valid runbook.
component: platform
params:
  - name: window
    kind: duration
    default: 5m
steps:
  - id: errors
    title: Errors
    explanation: Failed events.
    check:
      kind: promql
      query: sum(rate(events_failed_total[{{window}}]))
    rules:
      - op: above
        threshold: 1
        verdict: warning
"#;

fn check(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["runbooks", "check"])
        .arg(dir)
        .output()
        .expect("run triage")
}

#[test]
fn reports_every_problem_with_file_and_line_and_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.yaml"), GOOD.replace("kind: promql", "kind: promq")).expect("write");
    std::fs::write(
        dir.path().join("b.yaml"),
        GOOD.replace("{{window}}", "{{windw}}").replace("id: tiny", "id: other"),
    )
    .expect("write");
    let out = check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a.yaml:14: unknown variant `promq`"), "{stderr}");
    assert!(stderr.contains("b.yaml:15: PromQL: `{{windw}}` is not a declared parameter"), "{stderr}");
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
}

#[test]
fn the_shipped_runbooks_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let out = check(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("14 runbooks in 14 files are valid"));
}
