#![no_main]
//! `runbooks::report::render` with arbitrary strings wherever a run carries outside text
//! (parameters, who started it, step ids and summaries, queries, cause titles, audit entries).
//! Rendered as CommonMark with GFM tables, as ticket systems do, the report never holds a link,
//! an image or raw HTML; it keeps exactly its own six headings; and every parameter, step and
//! action stays one table row.

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pulldown_cmark::{Event, Options, Parser, Tag};
use triage::runbooks::report::render;
use triage_shared::actions::{AuditEntry, AuditOutcome};
use triage_shared::runbook::{CheckResult, Evidence, RankedCause, RunState, StepState, Verdict};

#[derive(Debug, Arbitrary)]
struct Step {
    id: String,
    summary: String,
    query: Option<String>,
    values: Vec<(String, f64)>,
    done: bool,
}

#[derive(Debug, Arbitrary)]
struct Action {
    at: String,
    subject: String,
    action: String,
    target: String,
    reason: Option<String>,
    approved_by: Option<String>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    runbook: String,
    run_id: String,
    params: BTreeMap<String, String>,
    started_by: Option<String>,
    steps: Vec<Step>,
    causes: Vec<(String, Vec<String>)>,
    actions: Vec<Action>,
    started_at: f64,
    finished_at: Option<f64>,
    env: String,
}

const VERDICTS: [Verdict; 5] =
    [Verdict::Skipped, Verdict::Ok, Verdict::Warning, Verdict::Critical, Verdict::Error];

/// A seed written as JSON: `{"run": RunState, "actions": [AuditEntry…]}`.
#[derive(serde::Deserialize)]
struct Seed {
    run: RunState,
    #[serde(default)]
    actions: Vec<AuditEntry>,
}

fuzz_target!(|bytes: &[u8]| {
    if bytes.first() == Some(&b'{') {
        if let Ok(seed) = serde_json::from_slice::<Seed>(bytes) {
            check(&seed.run, &seed.actions);
        }
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(bytes)) else { return };
    let steps: Vec<(String, StepState)> = input
        .steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let state = if s.done {
                StepState::Done {
                    result: CheckResult {
                        step: s.id.clone(),
                        verdict: VERDICTS[i % VERDICTS.len()],
                        summary: s.summary,
                        values: s.values.into_iter().collect(),
                        evidence: Evidence::None,
                        query: s.query,
                        cli: None,
                        error: None,
                        duration_ms: 1.0,
                    },
                }
            } else {
                StepState::Running
            };
            (s.id, state)
        })
        .collect();
    let causes = input
        .causes
        .into_iter()
        .enumerate()
        .map(|(i, (title, evidence))| RankedCause {
            cause: format!("c{i}"),
            title,
            score: 1.0,
            evidence,
            verdict: VERDICTS[i % VERDICTS.len()],
        })
        .collect();
    let actions: Vec<AuditEntry> = input
        .actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| AuditEntry {
            id: i64::try_from(i).unwrap_or_default(),
            at: a.at,
            subject: a.subject,
            email: None,
            groups: Vec::new(),
            action: a.action,
            target: a.target,
            params: serde_json::Value::Null,
            dry_run_summary: String::new(),
            outcome: AuditOutcome::Succeeded,
            error: None,
            finished_at: None,
            env: input.env.clone(),
            reason: a.reason,
            approved_by: a.approved_by,
        })
        .collect();
    let run = RunState {
        run_id: input.run_id,
        runbook: input.runbook,
        params: input.params,
        started_at: input.started_at,
        finished_at: input.finished_at,
        steps,
        causes,
        started_by: input.started_by,
        fixes: BTreeMap::new(),
        env: input.env,
    };
    check(&run, &actions);
});

fn check(run: &RunState, actions: &[AuditEntry]) {
    let report = render(None, run, actions, 1_700_000_000.0);

    let mut headings = 0;
    let mut rows = 0;
    for event in Parser::new_ext(&report, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) | Event::Html(_) | Event::InlineHtml(_) => {
                panic!("{event:?} injected into the report:\n{report}")
            }
            Event::Start(Tag::Heading { .. }) => headings += 1,
            Event::Start(Tag::TableRow) => rows += 1,
            _ => {}
        }
    }
    assert_eq!(headings, 6, "the report's own headings only:\n{report}");
    let expected_rows = run.params.len() + run.steps.len() + actions.len();
    assert_eq!(rows, expected_rows, "one table row per parameter, step and action:\n{report}");
}
