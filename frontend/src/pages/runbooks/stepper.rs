//! The stepper: one item per check, its verdict badge, and when open its explanation and
//! evidence (a chart with the threshold, a table, lines), the values, and the resolved query and
//! CLI with copy buttons.

use std::collections::BTreeMap;

use leptos::prelude::*;
use triage_shared::runbook::{CheckResult, Evidence, RunState, Runbook, Step, StepState};

use super::template::fill_template;
use super::verdict::{needs_attention, verdict_badge, verdict_word};
use crate::chart::{Chart, ChartState, Threshold, Unit};
use crate::widgets::{Badge, CopyButton};

/// Which step is selected (j, k) and which are open: the stepper's state, which the causes'
/// evidence links also move.
#[derive(Clone, Copy)]
pub struct StepFocus {
    pub selected: RwSignal<usize>,
    pub expanded: RwSignal<BTreeMap<String, bool>>,
}

pub fn scroll_to_step(index: usize) {
    let selector = format!("[data-testid=step][data-index=\"{index}\"]");
    if let Some(el) =
        web_sys::window().and_then(|w| w.document()).and_then(|d| d.query_selector(&selector).ok().flatten())
    {
        el.scroll_into_view_with_bool(false);
    }
}

/// Whether a step's details are shown: the user's choice, else open for the verdicts that need
/// attention (warning, critical, error).
pub fn is_open(
    expanded: RwSignal<BTreeMap<String, bool>>,
    run: RwSignal<Option<RunState>>,
    step: &str,
) -> bool {
    if let Some(choice) = expanded.with_untracked(|m| m.get(step).copied()) {
        return choice;
    }
    run.with_untracked(|r| result_of(r.as_ref(), step).is_some_and(|res| needs_attention(res.verdict)))
}

pub fn result_of<'a>(run: Option<&'a RunState>, step: &str) -> Option<&'a CheckResult> {
    run?.steps.iter().find(|(id, _)| id == step).and_then(|(_, s)| match s {
        StepState::Done { result } => Some(result),
        _ => None,
    })
}

/// The chart unit for a check's declared unit.
pub fn chart_unit(unit: Option<&str>) -> Unit {
    match unit {
        Some("percent") => Unit::Percent,
        Some("ratio") => Unit::Ratio,
        Some("ms") => Unit::Ms,
        Some("seconds") => Unit::Seconds,
        Some("bytes") => Unit::Bytes,
        Some("per-second") => Unit::PerSecond,
        _ => Unit::Plain,
    }
}

#[component]
pub fn Stepper(
    book: StoredValue<Runbook>,
    run: RwSignal<Option<RunState>>,
    selected: RwSignal<usize>,
    expanded: RwSignal<BTreeMap<String, bool>>,
) -> impl IntoView {
    let steps = book.with_value(|b| b.steps.clone());
    view! {
        <div class="stepper-wrap">
            <p class="small muted keys-hint">
                <kbd>"r"</kbd>" run again · "<kbd>"j"</kbd>" "<kbd>"k"</kbd>" next / previous step · "<kbd>"o"</kbd>" open or close it"
            </p>
            <ol class="stepper" data-testid="stepper">
                {steps.into_iter().enumerate().map(|(i, step)| view! {
                    <StepItem index=i step=step run=run selected=selected expanded=expanded />
                }).collect_view()}
            </ol>
        </div>
    }
}

/// pending / running / ok / warning / critical / error / skipped, and the step's result.
fn step_status(run: Option<&RunState>, step: &str) -> (&'static str, Option<CheckResult>) {
    let Some(state) = run else { return ("not-run", None) };
    match state.steps.iter().find(|(id, _)| id == step).map(|(_, s)| s) {
        None | Some(StepState::Pending) => ("pending", None),
        Some(StepState::Running) => ("running", None),
        Some(StepState::Done { result }) => (verdict_word(result.verdict), Some(result.clone())),
    }
}

#[component]
pub fn StepItem(
    index: usize,
    step: Step,
    run: RwSignal<Option<RunState>>,
    selected: RwSignal<usize>,
    expanded: RwSignal<BTreeMap<String, bool>>,
) -> impl IntoView {
    let id = step.id.clone();
    let status = {
        let id = id.clone();
        Memo::new(move |_| run.with(|r| step_status(r.as_ref(), &id)))
    };
    let open = {
        let id = id.clone();
        Memo::new(move |_| {
            expanded.track();
            run.track();
            is_open(expanded, run, &id)
        })
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            selected.set(index);
            let now = open.get_untracked();
            expanded.update(|m| {
                m.insert(id.clone(), !now);
            });
        }
    };
    let step = StoredValue::new(step);
    let badge = move || {
        let (word, result) = status.get();
        match (word, result) {
            ("running", _) => view! { <span class="badge neutral" data-testid="step-badge"><span class="spinner small-spinner"></span>" running"</span> }.into_any(),
            ("pending", _) => view! { <span class="badge neutral" data-testid="step-badge">"pending"</span> }.into_any(),
            ("not-run", _) => view! { <span class="badge neutral" data-testid="step-badge">"not run"</span> }.into_any(),
            (_, Some(r)) => {
                let (text, level) = verdict_badge(r.verdict);
                view! { <span data-testid="step-badge"><Badge level=level text=text /></span> }.into_any()
            }
            _ => view! { <span class="badge neutral" data-testid="step-badge">{word}</span> }.into_any(),
        }
    };
    view! {
        <li
            class="step panel"
            class:selected=move || selected.get() == index
            data-testid="step"
            data-step=id.clone()
            data-index=index.to_string()
            data-status=move || status.get().0
        >
            <button type="button" class="step-head" aria-expanded=move || open.get().to_string() on:click=toggle>
                <span class="step-num">{index + 1}</span>
                {badge}
                <span class="step-title">{step.with_value(|s| s.title.clone())}</span>
                <span class="step-summary muted" data-testid="step-summary">
                    {move || status.get().1.map(|r| r.summary)}
                </span>
                <span class="small muted nowrap">{move || status.get().1.map(|r| format!("{:.0} ms", r.duration_ms))}</span>
            </button>
            <Show when=move || open.get()>
                <StepDetail step=step result=Signal::derive(move || status.get().1) run=run />
            </Show>
        </li>
    }
}

#[component]
pub fn StepDetail(
    step: StoredValue<Step>,
    result: Signal<Option<CheckResult>>,
    run: RwSignal<Option<RunState>>,
) -> impl IntoView {
    let explanation = step.with_value(|s| s.explanation.clone());
    let template_cli = step.with_value(|s| s.cli.clone());
    view! {
        <div class="step-body" data-testid="step-detail">
            <p class="explanation">{explanation}</p>
            {move || result.get().map(|r| {
                let error = r.error.as_ref().map(|e| e.message.clone());
                let cli = r.cli.clone().or_else(|| {
                    template_cli.clone().map(|t| run.with(|s| fill_template(&t, &s.as_ref().map(|s| s.params.clone()).unwrap_or_default())))
                });
                view! {
                    {error.map(|e| view! { <div class="action-error" role="alert" data-testid="step-error">"The check failed: "{e}</div> })}
                    <EvidenceView evidence=r.evidence.clone() />
                    {(!r.values.is_empty()).then(|| view! {
                        <div class="values small muted" data-testid="step-values">
                            {r.values.iter().map(|(k, v)| view! { <span><code>{k.clone()}</code>" "{format_number(*v)}</span> }).collect_view()}
                        </div>
                    })}
                    {r.query.clone().map(|q| view! { <CommandLine label="Query" text=q testid="step-query" /> })}
                    {cli.map(|c| view! { <CommandLine label="CLI" text=c testid="step-cli" /> })}
                }
            })}
        </div>
    }
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A command or query, selectable in one click, with a copy button.
#[component]
pub fn CommandLine(label: &'static str, #[prop(into)] text: String, testid: &'static str) -> impl IntoView {
    let copy = text.clone();
    view! {
        <div class="command" data-testid=testid>
            <span class="command-label">{label}</span>
            <code>{text}</code>
            <CopyButton text=Signal::derive(move || copy.clone()) testid=format!("{testid}-copy") />
        </div>
    }
}

#[component]
pub fn EvidenceView(evidence: Evidence) -> impl IntoView {
    match evidence {
        Evidence::None => ().into_any(),
        Evidence::Series { series, threshold, unit } => {
            let unit = chart_unit(unit.as_deref());
            let thresholds: Vec<Threshold> =
                threshold.iter().map(|v| Threshold { value: *v, label: "threshold".to_owned() }).collect();
            let state = Signal::derive(move || ChartState::Ready(series.clone()));
            view! { <Chart state=state unit=unit thresholds=thresholds height=180 testid="step-chart" /> }.into_any()
        }
        Evidence::Table { columns, rows } => view! {
            <div class="table-wrap">
                <table class="data evidence-table" data-testid="step-table">
                    <thead><tr>{columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {rows.into_iter().map(|row| view! {
                            <tr>{row.into_iter().map(|cell| view! { <td>{cell}</td> }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
        Evidence::Lines { lines } => view! {
            <pre class="log-view evidence-lines" data-testid="step-lines">{lines.join("\n")}</pre>
        }
        .into_any(),
    }
}
