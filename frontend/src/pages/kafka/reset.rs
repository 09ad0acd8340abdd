//! The offset reset dialog of a consumer group (operators only, when the configuration enables
//! it): a topic and a target, a server-side dry run that shows the plan and the
//! `kafka-consumer-groups.sh` equivalent, then the group's name typed as confirmation, then the
//! real reset, whose audit id is shown. The backend refuses while the group has members (409),
//! and that refusal is shown in words. In a `production` or `approval` environment a reason is
//! required too; in an `approval` one the reset waits for a second operator.

use leptos::ev;
use leptos::html::Select;
use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::kafka::{OffsetResetOutcome, OffsetResetRequest, ResetTarget};

use crate::api;
use crate::env::use_environments;
use crate::format::time::{parse_unix, rfc3339_of_unix};
use crate::widgets::{
    DataTable, Kubectl, PendingApproval, ReasonField, bump, reason_problem, reason_to_send,
    unavailable_reason,
};

/// The target's kind as the dialog's select names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Earliest,
    Latest,
    Timestamp,
    Shift,
}

impl TargetKind {
    pub fn parse(id: &str) -> TargetKind {
        match id {
            "latest" => Self::Latest,
            "timestamp" => Self::Timestamp,
            "shift" => Self::Shift,
            _ => Self::Earliest,
        }
    }
}

/// The target the fields describe, or what is wrong with them. `utc` turns the datetime input's
/// local time into RFC 3339 UTC (the browser's clock and zone, outside the tested logic).
pub fn build_target(
    kind: TargetKind,
    timestamp: &str,
    shift: &str,
    utc: impl Fn(&str) -> Option<String>,
) -> Result<ResetTarget, String> {
    match kind {
        TargetKind::Earliest => Ok(ResetTarget::Earliest),
        TargetKind::Latest => Ok(ResetTarget::Latest),
        TargetKind::Timestamp => match utc(timestamp.trim()) {
            Some(at) if !timestamp.trim().is_empty() => Ok(ResetTarget::Timestamp { at }),
            _ => Err("Pick a date and time.".to_owned()),
        },
        TargetKind::Shift => match shift.trim().parse::<i64>() {
            Ok(0) => Err("A shift of 0 moves nothing.".to_owned()),
            Ok(by) => Ok(ResetTarget::Shift { by }),
            Err(_) => Err("Shift by a whole number (negative replays, positive skips).".to_owned()),
        },
    }
}

/// A `datetime-local` value (local time, as `Date.parse` reads a time without offset) as RFC
/// 3339 UTC.
fn local_to_utc(local: &str) -> Option<String> {
    rfc3339_of_unix(parse_unix(local))
}

#[component]
pub fn ResetDialog(
    group: String,
    topics: Vec<String>,
    open: RwSignal<bool>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let first_field = NodeRef::<Select>::new();
    let topic = RwSignal::new(topics.first().cloned().unwrap_or_default());
    let kind = RwSignal::new(TargetKind::Earliest);
    let timestamp = RwSignal::new(String::new());
    let shift = RwSignal::new(String::from("-1000"));
    let confirm = RwSignal::new(String::new());
    let plan = RwSignal::new(None::<OffsetResetOutcome>);
    let outcome = RwSignal::new(None::<OffsetResetOutcome>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let group = StoredValue::new(group);
    let reason = RwSignal::new(String::new());
    let envs = use_environments();
    let here = Signal::derive(move || envs.current());
    let strict = Signal::derive(move || here.with(|e| e.as_ref().is_some_and(|e| e.protection.strict())));
    let unavailable =
        Signal::derive(move || here.with(|e| e.as_ref().and_then(|e| unavailable_reason(&e.name, e.role))));

    Effect::new(move |_| {
        if let Some(el) = first_field.get() {
            let _ = el.focus();
        }
    });
    let handle = window_event_listener(ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            open.set(false);
        }
    });
    on_cleanup(move || handle.remove());

    let target = move || build_target(kind.get(), &timestamp.get(), &shift.get(), local_to_utc);
    let changed = move || {
        plan.set(None);
        outcome.set(None);
        error.set(None);
    };
    let confirmed = move || group.with_value(|g| confirm.get() == *g);
    let reason_ok = move || !strict.get() || reason.with(|r| reason_problem(r).is_none());
    let can_reset = move || {
        plan.get().is_some()
            && confirmed()
            && reason_ok()
            && unavailable.with(Option::is_none)
            && !busy.get()
            && outcome.get().is_none()
    };

    let send = move |dry_run: bool| {
        let target = match target() {
            Ok(t) => t,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let req = OffsetResetRequest {
            topic: topic.get_untracked(),
            target,
            dry_run,
            confirm: (!dry_run).then(|| confirm.get_untracked()),
            reason: if dry_run { None } else { reason.with_untracked(|r| reason_to_send(r)) },
        };
        busy.set(true);
        error.set(None);
        let g = group.get_value();
        spawn_local(async move {
            match api::kafka::reset_offsets(&g, &req).await {
                Ok(o) if o.dry_run => plan.set(Some(o)),
                Ok(o) => {
                    outcome.set(Some(o));
                    reload.update(bump);
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    // Enter is the next step: the dry run until there is a plan, then the reset once confirmed.
    // Handled by hand because a form whose submit button is disabled ignores Enter.
    let next_step = move || {
        if busy.get_untracked() {
            return;
        }
        if plan.get_untracked().is_none() {
            send(true);
        } else if untrack(can_reset) {
            send(false);
        }
    };
    let submit = move |ev: ev::SubmitEvent| {
        ev.prevent_default();
        next_step();
    };
    let on_enter = move |ev: ev::KeyboardEvent| {
        let on_button = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlButtonElement>(t).ok())
            .is_some();
        if ev.key() == "Enter" && !on_button {
            ev.prevent_default();
            next_step();
        }
    };

    let topic_options =
        topics.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view();
    let plan_view = move || {
        plan.get().map(|p| {
            let rows = p
                .plan
                .iter()
                .map(|m| {
                    let from = m.from.map(|f| f.to_string()).unwrap_or_else(|| "no committed offset".into());
                    view! {
                        <tr data-testid="kafka-reset-plan-row">
                            <td class="num">{m.partition}</td>
                            <td class="num">{format!("{from} → {}", m.to)}</td>
                            <td class="num">{m.replayed}</td>
                            <td class="num">{m.skipped}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <p data-testid="kafka-reset-summary">{p.summary.clone()}</p>
                <Kubectl cmd=p.command.clone() />
                <DataTable testid="kafka-reset-plan">
                    <thead><tr><th class="num">"Partition"</th><th class="num">"From → to"</th><th class="num">"Replayed"</th><th class="num">"Skipped"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </DataTable>
                <label>
                    {move || format!("Type the group's name ({}) to confirm ", group.get_value())}
                    <input
                        data-testid="kafka-reset-confirm"
                        autocomplete="off"
                        prop:value=move || confirm.get()
                        on:input=move |ev| confirm.set(event_target_value(&ev))
                    />
                </label>
                {move || strict.get().then(|| view! {
                    <ReasonField reason=reason env=here.get().map(|e| e.name).unwrap_or_default() />
                })}
            }
        })
    };
    let outcome_view = move || {
        outcome.get().map(|o| {
            // In an approval environment a real run waits for a second operator.
            if let Some(approval) = o.approval.clone() {
                return view! { <PendingApproval approval=approval /> }.into_any();
            }
            let audit = o.audit_id.map(|a| format!("audit #{a}")).unwrap_or_else(|| "no audit id".into());
            view! {
                <div class="panel ok" role="status" data-testid="kafka-reset-outcome">
                    <b>"Offsets reset. "</b>{o.summary}" "
                    <span data-testid="kafka-reset-audit">{audit}</span>
                </div>
                <Kubectl cmd=o.command />
            }
            .into_any()
        })
    };

    view! {
        <div class="modal-backdrop">
        <div class="dialog panel" role="dialog" aria-modal="true" aria-labelledby="kafka-reset-title" data-testid="kafka-reset-dialog">
            <header class="dialog-head">
                <h2 id="kafka-reset-title">{move || format!("Reset offsets of {}", group.get_value())}</h2>
                <button type="button" class="icon" title="Close (Escape)" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
            </header>
            <form on:submit=submit on:keydown=on_enter>
                <label>"Topic "
                    <select
                        node_ref=first_field
                        data-testid="kafka-reset-topic"
                        prop:value=move || topic.get()
                        on:change=move |ev| { topic.set(event_target_value(&ev)); changed(); }
                    >{topic_options}</select>
                </label>
                " "
                <label>"Target "
                    <select
                        data-testid="kafka-reset-target"
                        on:change=move |ev| { kind.set(TargetKind::parse(&event_target_value(&ev))); changed(); }
                    >
                        <option value="earliest">"earliest"</option>
                        <option value="latest">"latest"</option>
                        <option value="timestamp">"timestamp"</option>
                        <option value="shift">"shift by N"</option>
                    </select>
                </label>
                " "
                {move || match kind.get() {
                    TargetKind::Timestamp => view! {
                        <label>"At (local time, sent as UTC) "
                            <input type="datetime-local" step="1" data-testid="kafka-reset-timestamp"
                                prop:value=move || timestamp.get()
                                on:input=move |ev| { timestamp.set(event_target_value(&ev)); changed(); } />
                        </label>
                    }.into_any(),
                    TargetKind::Shift => view! {
                        <label>"By "
                            <input type="number" data-testid="kafka-reset-shift"
                                prop:value=move || shift.get()
                                on:input=move |ev| { shift.set(event_target_value(&ev)); changed(); } />
                        </label>
                    }.into_any(),
                    _ => view! { <span></span> }.into_any(),
                }}
                <div class="toolbar">
                    <button type="button" data-testid="kafka-reset-dry-run" disabled=move || busy.get() on:click=move |_| send(true)>"Dry run"</button>
                    <button type="submit" class="danger" data-testid="kafka-reset-submit" disabled=move || !can_reset()>"Reset offsets"</button>
                    <span class="spacer"></span>
                    <button type="button" data-testid="kafka-reset-close" on:click=move |_| open.set(false)>"Close"</button>
                </div>
                {move || unavailable.get().map(|why| view! {
                    <p class="action-unavailable" role="note" data-testid="action-unavailable">{why}</p>
                })}
                {move || error.get().map(|e| view! { <div class="panel error" role="alert" data-testid="kafka-reset-error">{e}</div> })}
                {plan_view}
                {outcome_view}
            </form>
        </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_the_fields() {
        let utc = |s: &str| Some(format!("{s}:00Z"));
        assert_eq!(build_target(TargetKind::Earliest, "", "", utc), Ok(ResetTarget::Earliest));
        assert_eq!(build_target(TargetKind::Shift, "", " -5 ", utc), Ok(ResetTarget::Shift { by: -5 }));
        assert!(build_target(TargetKind::Shift, "", "x", utc).is_err());
        assert!(build_target(TargetKind::Shift, "", "0", utc).is_err());
        assert!(build_target(TargetKind::Timestamp, "", "", utc).is_err());
        assert_eq!(
            build_target(TargetKind::Timestamp, "2026-12-01T10:00", "", utc),
            Ok(ResetTarget::Timestamp { at: "2026-12-01T10:00:00Z".into() })
        );
    }
}
