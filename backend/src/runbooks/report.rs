//! The Markdown incident report of a run: parameters, every verdict with its summary and key
//! values, the ranked causes, the actions taken since the run started in its namespace (from the
//! audit log) and the timestamps.

use std::fmt::Write as _;

use triage_shared::actions::AuditEntry;
use triage_shared::runbook::{RunState, Runbook, StepState, Verdict};

fn time(secs: f64) -> String {
    jiff::Timestamp::from_second(secs as i64).map_or_else(|_| format!("{secs:.0}"), |t| t.to_string())
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Skipped => "SKIPPED",
        Verdict::Ok => "OK",
        Verdict::Warning => "WARNING",
        Verdict::Critical => "CRITICAL",
        Verdict::Error => "ERROR",
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Audit entries at or after the run's start whose target is in `namespace`.
pub fn actions_in_window(
    entries: &[AuditEntry],
    started_at: f64,
    namespace: Option<&str>,
) -> Vec<AuditEntry> {
    entries
        .iter()
        .filter(|e| {
            e.at.parse::<jiff::Timestamp>().is_ok_and(|t| t.as_second() as f64 >= started_at.floor())
                && namespace.is_none_or(|ns| e.target.split('/').any(|part| part == ns))
        })
        .cloned()
        .collect()
}

pub fn render(
    runbook: Option<&Runbook>,
    run: &RunState,
    actions: &[AuditEntry],
    generated_at: f64,
) -> String {
    let mut out = String::new();
    let title = runbook.map_or(run.runbook.as_str(), |r| r.title.as_str());
    let _ = writeln!(out, "# Incident report: {title}\n");
    let _ = writeln!(out, "- Runbook: `{}`", run.runbook);
    let _ = writeln!(out, "- Run: `{}`", run.run_id);
    let _ = writeln!(out, "- Started: {}", time(run.started_at));
    match run.finished_at {
        Some(t) => {
            let _ = writeln!(out, "- Finished: {} ({:.1} s)", time(t), t - run.started_at);
        }
        None => {
            let _ = writeln!(out, "- Finished: still running");
        }
    }
    if let Some(who) = &run.started_by {
        let _ = writeln!(out, "- Started by: {who}");
    }
    let _ = writeln!(out, "- Report generated: {}\n", time(generated_at));

    let _ = writeln!(out, "## Parameters\n");
    if run.params.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let _ = writeln!(out, "| parameter | value |\n| --- | --- |");
        for (k, v) in &run.params {
            let _ = writeln!(out, "| {} | `{}` |", cell(k), cell(v));
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Likely causes\n");
    if run.causes.is_empty() {
        let _ = writeln!(out, "No check points to a cause.\n");
    } else {
        for (i, c) in run.causes.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. **{}** ({}; supported by {})",
                i + 1,
                c.title,
                verdict_word(c.verdict).to_lowercase(),
                c.evidence.join(", ")
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Checks\n");
    let _ = writeln!(out, "| step | verdict | summary | key values |\n| --- | --- | --- | --- |");
    for (id, step) in &run.steps {
        let title = runbook
            .and_then(|r| r.steps.iter().find(|s| &s.id == id))
            .map_or(id.as_str(), |s| s.title.as_str());
        match step {
            StepState::Done { result } => {
                let values: Vec<String> = result
                    .values
                    .iter()
                    .filter(|(k, _)| !k.starts_with("reason:"))
                    .take(6)
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.4}") }
                        )
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    cell(title),
                    verdict_word(result.verdict),
                    cell(&result.summary),
                    cell(&values.join(", "))
                );
            }
            StepState::Pending | StepState::Running => {
                let _ =
                    writeln!(out, "| {} | RUNNING | not finished when the report was made | |", cell(title));
            }
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## Evidence queries\n");
    for (id, step) in &run.steps {
        if let StepState::Done { result } = step
            && let Some(q) = &result.query
        {
            let _ = writeln!(out, "- `{id}`:\n\n  ```\n  {}\n  ```", q.replace('\n', "\n  "));
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## Actions taken since the run started\n");
    if actions.is_empty() {
        let _ = writeln!(out, "None recorded in the audit log.");
    } else {
        let _ = writeln!(out, "| time | who | action | target | outcome |\n| --- | --- | --- | --- | --- |");
        for a in actions {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:?} |",
                cell(&a.at),
                cell(&a.subject),
                cell(&a.action),
                cell(&a.target),
                a.outcome
            );
        }
    }
    out
}
