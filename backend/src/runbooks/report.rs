//! The Markdown incident report of a run: parameters, every verdict with its summary and key
//! values, the ranked causes, the actions taken since the run started in its namespace (from the
//! audit log) and the timestamps.
//!
//! The report is pasted into tickets and chats that render Markdown, and much of it comes from
//! outside (deep-link parameters, label values, pod names, SSO subjects). Every value is escaped
//! for the place it lands: [`text`] backslash-escapes every markup character (so no emphasis,
//! link, image or raw HTML can start), [`code`] wraps a value in a code span longer than any
//! backtick run in it, and [`code_block`] fences a block likewise. Table cells also escape `|`.

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

/// Every character that can start Markdown or GFM markup mid-line (emphasis, code, links and
/// images, autolinks `http:`/`a@b`, raw HTML and entities, strikethrough, cells); `www.` is
/// broken up too. Values are flattened to one line and never start one, so list and heading
/// markers (`#`, `-`, `1.`) and lone parentheses need no escape.
const MARKUP: &str = "\\`*_[]|<>&~:@";

/// Literal text: every [`MARKUP`] character backslash-escaped (CommonMark allows it for any ASCII
/// punctuation), line breaks as spaces. Safe in a paragraph, a list item and a table cell.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            // `www.` would start a GFM autolink.
            '.' if out.get(out.len().saturating_sub(3)..).is_some_and(|t| t.eq_ignore_ascii_case("www")) => {
                out.push_str("\\.");
            }
            c if MARKUP.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The longest run of backticks in `value`.
fn longest_backtick_run(value: &str) -> usize {
    value.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A code span that shows `value` exactly (line breaks as spaces): delimited by more backticks
/// than any run inside it, padded so a leading or trailing backtick cannot join the fence.
fn code(value: &str) -> String {
    let flat: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let fence = "`".repeat(longest_backtick_run(&flat) + 1);
    // CommonMark strips one space from each end when both are there: pad exactly when a bare
    // span would lose a space or let a backtick at an end join the fence.
    let pad = flat.starts_with('`') || flat.ends_with('`') || (flat.starts_with(' ') && flat.ends_with(' '));
    if pad { format!("{fence} {flat} {fence}") } else { format!("{fence}{flat}{fence}") }
}

/// [`code`] for a table cell: GFM splits cells before it finds code spans, so `|` is escaped too
/// (and shown as `|`).
fn cell_code(value: &str) -> String {
    code(&value.replace('|', "\\|"))
}

/// A fenced code block indented by `indent`, its fence longer than any backtick run inside.
fn code_block(value: &str, indent: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(value).max(2) + 1);
    let body: String = value
        .lines()
        .map(|l| format!("{indent}{}\n", l.replace(|c: char| c.is_control() && c != '\t', " ")))
        .collect();
    format!("{indent}{fence}\n{body}{indent}{fence}")
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
    let _ = writeln!(out, "# Incident report: {}\n", text(title));
    let _ = writeln!(out, "- Runbook: {}", code(&run.runbook));
    let _ = writeln!(out, "- Environment: {}", code(&run.env));
    let _ = writeln!(out, "- Run: {}", code(&run.run_id));
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
        let _ = writeln!(out, "- Started by: {}", text(who));
    }
    let _ = writeln!(out, "- Report generated: {}\n", time(generated_at));

    let _ = writeln!(out, "## Parameters\n");
    if run.params.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let _ = writeln!(out, "| parameter | value |\n| --- | --- |");
        for (k, v) in &run.params {
            let _ = writeln!(out, "| {} | {} |", text(k), cell_code(v));
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
                text(&c.title),
                verdict_word(c.verdict).to_lowercase(),
                c.evidence.iter().map(|e| text(e)).collect::<Vec<_>>().join(", ")
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
                    text(title),
                    verdict_word(result.verdict),
                    text(&result.summary),
                    text(&values.join(", "))
                );
            }
            StepState::Pending | StepState::Running => {
                let _ =
                    writeln!(out, "| {} | RUNNING | not finished when the report was made | |", text(title));
            }
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## Evidence queries\n");
    for (id, step) in &run.steps {
        if let StepState::Done { result } = step
            && let Some(q) = &result.query
        {
            let _ = writeln!(out, "- {}:\n\n{}", code(id), code_block(q, "  "));
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## Actions taken since the run started\n");
    if actions.is_empty() {
        let _ = writeln!(out, "None recorded in the audit log.");
    } else {
        let _ = writeln!(
            out,
            "| time | who | approved by | action | target | reason | outcome |\n| --- | --- | --- | --- | --- | --- | --- |"
        );
        for a in actions {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:?} |",
                text(&a.at),
                text(&a.subject),
                text(a.approved_by.as_deref().unwrap_or("—")),
                text(&a.action),
                text(&a.target),
                text(a.reason.as_deref().unwrap_or("—")),
                a.outcome
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::{Event, Options, Parser, Tag};
    use triage_shared::runbook::{CheckResult, StepState};

    /// Hostile values a deep link, a label value or a subject could carry.
    const HOSTILE: [&str; 9] = [
        "a`b ``c",
        "`x` [link](https://evil.example) ![img](https://evil.example/i.png)",
        "<img src=x onerror=alert(1)> <script>alert(2)</script>",
        "ends with `",
        "| broken | table |\nnext line\r\nand *bold* _it_ **strong**",
        "[ref]: https://evil.example\n# heading",
        "&lt;entity&gt; &#x3C;",
        "```\nfenced\n```",
        "see www.evil.example or https://evil.example/x and mail a@evil.example",
    ];

    /// Parses `markdown` as CommonMark with GFM tables, as ticket systems render it.
    fn events(markdown: &str) -> Vec<Event<'_>> {
        Parser::new_ext(markdown, Options::ENABLE_TABLES).collect()
    }

    fn no_active_markup(markdown: &str) {
        for event in events(markdown) {
            match event {
                Event::Start(Tag::Link { .. } | Tag::Image { .. } | Tag::Emphasis | Tag::Strong)
                | Event::Html(_)
                | Event::InlineHtml(_) => panic!("{event:?} injected by:\n{markdown}"),
                _ => {}
            }
        }
    }

    /// The text of the code spans a renderer finds.
    fn code_spans(markdown: &str) -> Vec<String> {
        events(markdown)
            .into_iter()
            .filter_map(|e| if let Event::Code(c) = e { Some(c.into_string()) } else { None })
            .collect()
    }

    #[test]
    fn values_render_as_themselves() {
        for value in HOSTILE {
            let flat = value.replace(['\n', '\r'], " ");
            assert_eq!(code_spans(&code(value)), vec![flat.clone()], "{value:?}");
            let rendered: String = events(&text(value))
                .into_iter()
                .filter_map(|e| if let Event::Text(t) = e { Some(t.into_string()) } else { None })
                .collect();
            assert_eq!(rendered, flat, "{value:?}");
            no_active_markup(&text(value));
            no_active_markup(&code(value));
            for piece in [text(value), code(value)] {
                assert!(
                    !events(&piece).iter().any(|e| matches!(e, Event::Start(Tag::Heading { .. }))),
                    "{piece}"
                );
            }
            let table = format!("| value |\n| --- |\n| {} |\n", cell_code(value));
            assert_eq!(code_spans(&table), vec![flat.clone()], "in a table cell: {value:?}");
        }
    }

    #[test]
    fn a_report_of_hostile_values_has_no_links_images_or_html() {
        let mut run = RunState {
            run_id: "run-1".to_owned(),
            runbook: "kafka-consumer-lag".to_owned(),
            params: HOSTILE.iter().enumerate().map(|(i, v)| (format!("p{i}"), (*v).to_owned())).collect(),
            started_at: 1_700_000_000.0,
            finished_at: Some(1_700_000_010.0),
            steps: Vec::new(),
            causes: Vec::new(),
            started_by: Some(HOSTILE[1].to_owned()),
            fixes: Default::default(),
            env: "default".to_owned(),
        };
        for (i, value) in HOSTILE.iter().enumerate() {
            let result = CheckResult {
                step: format!("s{i}"),
                verdict: Verdict::Warning,
                summary: (*value).to_owned(),
                values: Default::default(),
                evidence: triage_shared::runbook::Evidence::None,
                query: Some((*value).to_owned()),
                cli: None,
                error: None,
                duration_ms: 1.0,
            };
            run.steps.push((format!("s{i}"), StepState::Done { result }));
        }
        // Reasons and approvers are typed by people too.
        let actions: Vec<triage_shared::actions::AuditEntry> = HOSTILE
            .iter()
            .enumerate()
            .map(|(i, value)| triage_shared::actions::AuditEntry {
                id: i as i64,
                at: "2023-11-14T22:13:30Z".to_owned(),
                subject: "ana".to_owned(),
                email: None,
                groups: Vec::new(),
                action: "scale".to_owned(),
                target: "deployment/ns/x".to_owned(),
                params: serde_json::Value::Null,
                dry_run_summary: String::new(),
                outcome: triage_shared::actions::AuditOutcome::Succeeded,
                error: None,
                finished_at: None,
                env: "prod".to_owned(),
                reason: Some((*value).to_owned()),
                approved_by: Some((*value).to_owned()),
            })
            .collect();
        let report = render(None, &run, &actions, 1_700_000_020.0);
        no_active_markup(&report);
        let spans = code_spans(&report);
        for value in HOSTILE {
            let flat = value.replace(['\n', '\r'], " ");
            assert!(spans.contains(&flat), "{value:?} shown as code: {spans:?}");
        }
        let headings =
            events(&report).iter().filter(|e| matches!(e, Event::Start(Tag::Heading { .. }))).count();
        assert_eq!(headings, 6, "the report's own headings only");
        // Every parameter is its own table row: nothing split or merged the table.
        let rows = events(&report).iter().filter(|e| matches!(e, Event::Start(Tag::TableRow))).count();
        assert_eq!(rows, HOSTILE.len() * 3, "parameter rows, check rows and action rows");
    }
}
