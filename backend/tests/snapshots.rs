//! Snapshots (insta) of what a person reads: every shipped runbook as Triage parses it, and the
//! Markdown report of one fixed run. A change to the parser, the runbooks or the report shows as
//! a reviewed diff of `tests/snapshots/*.snap`: `cargo insta review` (or `INSTA_UPDATE=always`)
//! accepts one. In CI (`CI` set) a missing or different snapshot fails and nothing is written.

use std::path::Path;

use triage::runbooks::{load_dir, report};
use triage_shared::actions::{AuditEntry, AuditOutcome};
use triage_shared::runbook::{CheckResult, Evidence, RankedCause, RunState, StepState, Verdict};
use triage_shared::{ApiError, ErrorKind};

fn shipped() -> triage::runbooks::Loaded {
    let loaded = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks"));
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded
}

#[test]
fn every_shipped_runbook_parses_as_snapshotted() {
    let loaded = shipped();
    assert_eq!(loaded.runbooks.len(), loaded.files, "one runbook per file");
    assert!(loaded.runbooks.len() >= 14, "{} runbooks", loaded.runbooks.len());
    for runbook in &loaded.runbooks {
        insta::assert_yaml_snapshot!(format!("runbook-{}", runbook.id), runbook);
    }
}

fn result(step: &str, verdict: Verdict, summary: &str, values: &[(&str, f64)]) -> CheckResult {
    CheckResult {
        step: step.to_owned(),
        verdict,
        summary: summary.to_owned(),
        values: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        evidence: Evidence::None,
        query: None,
        cli: None,
        error: None,
        duration_ms: 12.5,
    }
}

#[test]
fn a_fixed_run_renders_the_snapshotted_report() {
    let loaded = shipped();
    let runbook = loaded.runbooks.iter().find(|r| r.id == "kafka-consumer-lag").expect("shipped");
    let started_at = 1_700_000_000.0;

    let mut lag = result(
        "total-lag",
        Verdict::Critical,
        "lag 48210 messages, rising 310/min",
        &[("value", 48_210.0), ("slope_per_minute", 310.25)],
    );
    lag.query = Some(
        r#"sum(kafka_consumer_lag{namespace="streaming-analytics", group="stream-processor-group"})"#
            .to_owned(),
    );
    let mut latency = result("processing-latency", Verdict::Error, "Prometheus is unreachable", &[]);
    latency.error = Some(ApiError::new(ErrorKind::Unavailable, "Prometheus is unreachable"));
    let run = RunState {
        run_id: "3f2c0a9e".to_owned(),
        runbook: runbook.id.clone(),
        params: [
            ("consumer_group", "stream-processor-group"),
            ("deployment", "stream-processor"),
            ("namespace", "streaming-analytics"),
            ("rate_window", "5m"),
            ("window", "15m"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        started_at,
        finished_at: Some(started_at + 4.2),
        steps: vec![
            ("total-lag".to_owned(), StepState::Done { result: lag }),
            (
                "consumers-ready".to_owned(),
                StepState::Done {
                    result: result(
                        "consumers-ready",
                        Verdict::Ok,
                        "3 of 3 replicas ready",
                        &[("ready", 3.0)],
                    ),
                },
            ),
            ("processing-latency".to_owned(), StepState::Done { result: latency }),
            ("slow-work-in-logs".to_owned(), StepState::Running),
        ],
        causes: vec![RankedCause {
            cause: "insufficient-consumers".to_owned(),
            title: "Too few consumer instances".to_owned(),
            score: 2.0,
            evidence: vec!["total-lag".to_owned()],
            verdict: Verdict::Critical,
        }],
        started_by: Some("alma@example.com".to_owned()),
        fixes: Default::default(),
        env: "prod-eu".to_owned(),
    };
    let actions = [AuditEntry {
        id: 7,
        at: "2023-11-14T22:13:30Z".to_owned(),
        subject: "alma@example.com".to_owned(),
        email: None,
        groups: vec!["sre".to_owned()],
        action: "scale".to_owned(),
        target: "deployment/streaming-analytics/stream-processor".to_owned(),
        params: serde_json::json!({"replicas": 6, "from": 3}),
        dry_run_summary: "replicas 3 → 6".to_owned(),
        outcome: AuditOutcome::Succeeded,
        error: None,
        finished_at: Some("2023-11-14T22:13:31Z".to_owned()),
        env: "prod-eu".to_owned(),
        reason: Some("lag rising after the 22:00 deploy; more consumers".to_owned()),
        approved_by: Some("bo@example.com".to_owned()),
    }];
    insta::assert_snapshot!(
        "report-kafka-consumer-lag",
        report::render(Some(runbook), &run, &actions, started_at + 60.0)
    );
    let no_actions = report::render(Some(runbook), &run, &[], started_at + 60.0);
    insta::assert_snapshot!("report-kafka-consumer-lag-no-actions", no_actions);
}
