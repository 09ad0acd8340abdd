//! The likely causes, ranked, with their evidence and fixes: guarded actions through
//! `action_dialog`, commands to copy (destructive ones warned, never run); then the causes the
//! flow knows that the run did not rank.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::actions::Identity;
use triage_shared::runbook::{Cause, Fix, FixAction, RankedCause, RunState, Runbook, StepState, Verdict};

use super::stepper::{StepFocus, result_of, scroll_to_step};
use super::template::fill_template;
use super::verdict::verdict_badge;
use crate::api;
use crate::components::action_dialog::ActionTarget;
use crate::widgets::{Badge, CopyButton, can_act, current_unavailable_reason, role_label};

/// What every fix needs: the values it is filled with, the caller's role, and the action dialog
/// it opens with the replica count to propose.
#[derive(Clone, Copy)]
pub struct FixContext {
    pub params: Signal<BTreeMap<String, String>>,
    pub role: Signal<Option<Identity>>,
    pub dialog: RwSignal<Option<ActionTarget>>,
    pub proposed: RwSignal<Option<i32>>,
}

/// The guide's emergency-restart order: processing first, the gateway last.
pub const EMERGENCY_ORDER: [&str; 3] = ["stream-processor", "ml-inference", "websocket-server"];

#[component]
pub fn CausesPanel(
    book: StoredValue<Runbook>,
    run: RwSignal<Option<RunState>>,
    values: RwSignal<BTreeMap<String, String>>,
    role: Signal<Option<Identity>>,
    dialog: RwSignal<Option<ActionTarget>>,
    proposed: RwSignal<Option<i32>>,
    focus: StepFocus,
) -> impl IntoView {
    // Fixes are filled with the run's validated values, or the form's before a run.
    let params = Signal::derive(move || {
        run.with(|r| r.as_ref().map(|s| s.params.clone())).unwrap_or_else(|| values.get())
    });
    let fixes = FixContext { params, role, dialog, proposed };
    let ranked = move || {
        run.with(|r| match r {
            None => view! { <p class="muted" data-testid="causes-idle">"Run the checks to rank the causes."</p> }.into_any(),
            Some(state) if state.finished_at.is_none() => view! {
                <p class="muted state-msg" data-testid="causes-waiting"><span class="spinner"></span>"Ranked when every check has finished…"</p>
            }
            .into_any(),
            Some(state) if state.causes.is_empty() => {
                let failed = state
                    .steps
                    .iter()
                    .filter(|(_, s)| matches!(s, StepState::Done { result } if result.verdict == Verdict::Error))
                    .count();
                if failed > 0 {
                    view! {
                        <p class="warn-text" data-testid="causes-none">
                            {format!("No cause ranked, but {failed} of {} checks failed, so this flow could not judge everything: see their errors.", state.steps.len())}
                        </p>
                    }
                    .into_any()
                } else {
                    view! {
                        <p class="ok-text" data-testid="causes-none">"No check points to a cause: nothing in this flow looks wrong."</p>
                    }
                    .into_any()
                }
            }
            Some(state) => {
                let causes = state.causes.clone();
                view! {
                    <ol class="causes" data-testid="causes">
                        {causes.into_iter().enumerate().map(|(i, rc)| {
                            let cause = book
                                .with_value(|b| b.causes.iter().find(|c| c.id == rc.cause).cloned())
                                .map(|c| with_run_fixes(c, state));
                            view! { <RankedCauseItem rank=i + 1 ranked=rc cause=cause book=book run=run fixes=fixes focus=focus /> }
                        }).collect_view()}
                    </ol>
                }
                .into_any()
            }
        })
    };
    let others = move || {
        let ranked_ids: Vec<String> = run.with(|r| {
            r.as_ref().map(|s| s.causes.iter().map(|c| c.cause.clone()).collect()).unwrap_or_default()
        });
        let rest: Vec<Cause> =
            book.with_value(|b| b.causes.iter().filter(|c| !ranked_ids.contains(&c.id)).cloned().collect());
        (!rest.is_empty()).then(|| {
            view! {
                <details class="other-causes" data-testid="other-causes">
                    <summary>{format!("Other causes this flow knows ({})", rest.len())}</summary>
                    {rest.into_iter().map(|c| view! {
                        <div class="cause" data-testid="other-cause" data-cause=c.id.clone()>
                            <b>{c.title.clone()}</b>
                            <p class="small">{c.description.clone()}</p>
                            <FixList fixes=run.with(|r| run_fixes(r.as_ref(), &c)) context=fixes />
                        </div>
                    }).collect_view()}
                </details>
            }
        })
    };
    view! {
        <aside class="panel causes-panel" data-testid="causes-panel">
            <h2 class="section-title">"Likely causes"</h2>
            {ranked}
            {others}
        </aside>
    }
}

#[component]
pub fn RankedCauseItem(
    rank: usize,
    ranked: RankedCause,
    cause: Option<Cause>,
    book: StoredValue<Runbook>,
    run: RwSignal<Option<RunState>>,
    fixes: FixContext,
    focus: StepFocus,
) -> impl IntoView {
    let StepFocus { selected, expanded } = focus;
    let (word, level) = verdict_badge(ranked.verdict);
    let evidence: Vec<(usize, String, String)> = ranked
        .evidence
        .iter()
        .filter_map(|step| {
            let index = book.with_value(|b| b.steps.iter().position(|s| s.id == *step))?;
            let title = book.with_value(|b| b.steps[index].title.clone());
            let summary = run
                .with_untracked(|r| result_of(r.as_ref(), step).map(|r| r.summary.clone()))
                .unwrap_or_default();
            Some((index, title, summary))
        })
        .collect();
    let show_step = move |index: usize, step: String| {
        selected.set(index);
        expanded.update(|m| {
            m.insert(step, true);
        });
        scroll_to_step(index);
    };
    view! {
        <li class="cause" data-testid="cause" data-cause=ranked.cause.clone() data-verdict=word>
            <div class="cause-head">
                <span class="cause-rank">{format!("#{rank}")}</span>
                <b class="cause-title">{ranked.title.clone()}</b>
                <Badge level=level text=word title=format!("score {:.2}", ranked.score) />
            </div>
            {cause.as_ref().map(|c| view! { <p class="small">{c.description.clone()}</p> })}
            <div class="small muted">"Evidence:"</div>
            <ul class="cause-evidence small">
                {evidence.into_iter().map(|(index, title, summary)| {
                    let step = book.with_value(|b| b.steps[index].id.clone());
                    view! {
                        <li>
                            <button type="button" class="link" on:click=move |_| show_step(index, step.clone())>{format!("{}. {title}", index + 1)}</button>
                            {(!summary.is_empty()).then(|| view! { <span class="muted">" — "{summary}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {cause.map(|c| view! { <FixList fixes=c.fixes context=fixes /> })}
        </li>
    }
}

#[component]
pub fn FixList(fixes: Vec<Fix>, context: FixContext) -> impl IntoView {
    if fixes.is_empty() {
        return ().into_any();
    }
    view! {
        <div class="small muted">"Fixes:"</div>
        <ul class="fixes">
            {fixes.into_iter().map(|fix| match fix {
                Fix::Action { title, action, command } => view! {
                    <ActionFix title=title action=action command=command context=context />
                }.into_any(),
                Fix::Command { title, command, destructive, warning } => {
                    // The backend fills in and shell-quotes a run's commands; before a run the
                    // template is shown as written, never filled in here.
                    let unresolved = command.contains("{{");
                    let text = Signal::derive(move || command.clone());
                    view! {
                        <li class="fix" class:destructive=destructive data-testid="fix-command" data-destructive=destructive.to_string()>
                            <div class="fix-title">{title}</div>
                            {destructive.then(|| view! {
                                <div class="destructive-warning" role="note" data-testid="destructive-warning">
                                    <b>"Destructive — Triage never runs this. "</b>
                                    {warning.clone().unwrap_or_else(|| "Check the evidence and agree with the team before running it by hand.".to_owned())}
                                </div>
                            })}
                            {(!destructive).then(|| warning.clone().map(|w| view! { <div class="small warn-text">{w}</div> }))}
                            <div class="command">
                                <code>{move || text.get()}</code>
                                <CopyButton text=text testid="fix-copy" />
                            </div>
                            {unresolved.then(|| view! { <div class="small muted">"Run the flow to fill in this command."</div> })}
                        </li>
                    }.into_any()
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// A cause's fixes as the run resolved them (values in place, commands shell-quoted, names
/// validated), or the runbook's templates before there is a run.
fn run_fixes(run: Option<&RunState>, cause: &Cause) -> Vec<Fix> {
    run.and_then(|r| r.fixes.get(&cause.id).cloned()).unwrap_or_else(|| cause.fixes.clone())
}

fn with_run_fixes(mut cause: Cause, run: &RunState) -> Cause {
    cause.fixes = run_fixes(Some(run), &cause);
    cause
}

/// What a fix action would do, resolved with the run's values, or why it cannot be offered.
fn resolve_action(
    action: &FixAction,
    params: &BTreeMap<String, String>,
) -> Result<(ActionTarget, Option<i32>), String> {
    let f = |t: &str| fill_template(t, params);
    let unresolved = |v: &str| v.contains("{{") || v.trim().is_empty();
    let target = match action {
        FixAction::Scale { namespace, deployment, replicas } => {
            let replicas_text = f(replicas);
            let n: i32 = replicas_text
                .trim()
                .parse()
                .map_err(|_| format!("the replica count “{replicas_text}” is not a whole number"))?;
            (ActionTarget::Scale { ns: f(namespace), name: f(deployment), current: 0 }, Some(n))
        }
        FixAction::Restart { namespace, deployment } => {
            (ActionTarget::Restart { ns: f(namespace), name: f(deployment) }, None)
        }
        FixAction::DeletePods { namespace, selector } => {
            (ActionTarget::DeletePods { ns: f(namespace), selector: f(selector) }, None)
        }
        FixAction::EmergencyRestart { namespace } => (
            ActionTarget::EmergencyRestart {
                ns: f(namespace),
                deployments: EMERGENCY_ORDER.iter().map(|d| (*d).to_owned()).collect(),
            },
            None,
        ),
    };
    if unresolved(target.0.ns()) || unresolved(target.0.name()) {
        return Err("fill in the flow's parameters first".to_owned());
    }
    Ok(target)
}

#[component]
pub fn ActionFix(
    title: String,
    action: FixAction,
    /// The backend's `kubectl` text for this fix, once a run resolved it.
    command: Option<String>,
    context: FixContext,
) -> impl IntoView {
    let FixContext { params, role, dialog, proposed } = context;
    let action = StoredValue::new(action);
    let problem = RwSignal::new(None::<String>);
    let allowed = Signal::derive(move || can_act(role.get().map(|i| i.role)));
    // In words that name the environment once the environments are known.
    let env_refusal = current_unavailable_reason();
    let why_not = Signal::derive(move || match (env_refusal.get(), role.get()) {
        (Some(why), _) => why,
        (None, None) => "Fixes need the operator role; yours could not be checked.".to_owned(),
        (None, Some(i)) => {
            format!("Fixes need the operator role; {} is a {}.", i.subject, role_label(Some(i.role)))
        }
    });
    let open = move |_| {
        problem.set(None);
        let resolved = action.with_value(|a| resolve_action(a, &params.get_untracked()));
        let (target, replicas) = match resolved {
            Ok(t) => t,
            Err(e) => {
                problem.set(Some(e));
                return;
            }
        };
        match target {
            // The dialog shows the current count: ask Kubernetes for it first.
            ActionTarget::Scale { ns, name, .. } => {
                spawn_local(async move {
                    match api::k8s::deployments(&ns).await {
                        Ok(list) => match list.into_iter().find(|d| d.name == name) {
                            Some(d) => {
                                proposed.set(replicas);
                                dialog.set(Some(ActionTarget::Scale { ns, name, current: d.desired }));
                            }
                            None => problem.set(Some(format!("there is no deployment {name} in {ns}"))),
                        },
                        Err(e) => problem.set(Some(e.message.clone())),
                    }
                });
            }
            other => {
                proposed.set(None);
                dialog.set(Some(other));
            }
        }
    };
    view! {
        <li class="fix" data-testid="fix-action">
            <div class="fix-row">
                <button type="button" class="primary" data-testid="fix-button" disabled=move || !allowed.get()
                    title=move || if allowed.get() { "Opens the guarded dialog: dry run first, then typed confirmation".to_owned() } else { why_not.get() }
                    on:click=open>
                    {title}
                </button>
                {move || (!allowed.get()).then(|| view! { <span class="small muted" data-testid="fix-disabled-reason">{why_not.get()}</span> })}
            </div>
            {move || problem.get().map(|p| view! { <div class="action-error small" role="alert">{p}</div> })}
            {match command {
                Some(text) => {
                    let text = Signal::derive(move || text.clone());
                    view! {
                        <div class="command">
                            <code>{move || text.get()}</code>
                            <CopyButton text=text testid="fix-copy" />
                        </div>
                    }.into_any()
                }
                None => view! { <div class="small muted">"The dry run shows the exact command."</div> }.into_any(),
            }}
        </li>
    }
}
