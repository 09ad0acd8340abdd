//! The Approvals page: the actions of the current environment that wait for a second operator
//! (pending first; a toggle shows the decided and expired ones too), each with what its dry run
//! said, the command, who asked and why, and the time left. Operators of the environment approve
//! (the backend runs the action then) or reject; nobody approves their own request.

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::actions::Identity;
use triage_shared::env::{Approval, ApprovalDecision, ApprovalState};

use crate::api;
use crate::env::{href, use_environments};
use crate::format::duration::secs;
use crate::format::time::{LocalTime, clock, now_unix};
use crate::widgets::{
    Badge, Empty, ErrorBox, Kubectl, Level, Loading, RefreshControls, keyed_resource, unavailable_reason,
};

pub fn state_badge(state: ApprovalState) -> (&'static str, Level) {
    match state {
        ApprovalState::Pending => ("pending", Level::Warn),
        ApprovalState::Approved => ("approved", Level::Ok),
        ApprovalState::Rejected => ("rejected", Level::Crit),
        ApprovalState::Expired => ("expired", Level::Neutral),
    }
}

/// Pending first (the soonest to expire first), then the decided ones, newest first.
pub fn sort_approvals(list: &mut [Approval]) {
    list.sort_by_key(|a| {
        let pending = a.state == ApprovalState::Pending;
        (!pending, if pending { a.expires_at } else { -a.requested_at })
    });
}

/// Whether `me` asked for `approval` (the backend names the requester by subject or e-mail).
pub fn requested_by_me(approval: &Approval, me: &Identity) -> bool {
    approval.requested_by == me.subject || me.email.as_deref() == Some(approval.requested_by.as_str())
}

/// Why the caller may not decide `approval`, in words; `None` when they may. `role_refusal` is
/// why they may not act in the environment at all.
pub fn decision_refusal(
    approval: &Approval,
    me: Option<&Identity>,
    role_refusal: Option<String>,
) -> Option<String> {
    if approval.state != ApprovalState::Pending {
        return Some("Already decided.".to_owned());
    }
    if me.is_some_and(|me| requested_by_me(approval, me)) {
        return Some("You requested this; another operator must approve it.".to_owned());
    }
    role_refusal
}

/// `12 min 3 s left`, or `expired` once the time is up.
pub fn time_left(expires_at: i64, now: f64) -> String {
    let left = expires_at as f64 - now;
    if left <= 0.0 { "expired".to_owned() } else { format!("{} left", secs(left)) }
}

/// The outcome of a decided approval, in words.
pub fn decision_text(a: &Approval) -> Option<String> {
    let by = a.decided_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
    match a.state {
        ApprovalState::Pending => None,
        ApprovalState::Approved => Some(match (&a.error, a.audit_id) {
            (Some(e), _) => format!("Approved{by}; the action failed: {e}"),
            (None, Some(id)) => format!("Approved{by} and run: audit entry #{id}"),
            (None, None) => format!("Approved{by}"),
        }),
        ApprovalState::Rejected => Some(format!("Rejected{by}; the action did not run")),
        ApprovalState::Expired => {
            Some("Expired before a second operator approved it; the action did not run".to_owned())
        }
    }
}

#[component]
pub fn Approvals() -> impl IntoView {
    let envs = use_environments();
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(true);
    let all = RwSignal::new(false);
    let list = keyed_resource(move || (reload.get(), all.get()), |(_, all)| api::approvals::approvals(all));
    let session = LocalResource::new(api::session);
    let now = RwSignal::new(now_unix());
    let tick = set_interval_with_handle(move || now.set(now_unix()), Duration::from_secs(1)).ok();
    on_cleanup(move || {
        if let Some(h) = tick {
            h.clear();
        }
    });
    // Decisions taken on this page, kept over reloads so their outcome stays on screen.
    let decided = RwSignal::new(BTreeMap::<i64, Approval>::new());
    let env_name = move || envs.current_name().unwrap_or_else(|| "this environment".to_owned());
    let role_refusal =
        Signal::derive(move || envs.current().and_then(|e| unavailable_reason(&e.name, e.role)));
    let me = Signal::derive(move || session.get().and_then(Result::ok).map(|w| w.identity));

    let content = move || match list.get().map(|(_, r)| r) {
        None => view! { <Loading what="the approvals" /> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox what="the approvals" message=e.message /> }.into_any(),
        Some(Ok(fetched)) => {
            let mut shown: Vec<Approval> =
                fetched.into_iter().map(|a| decided.with(|d| d.get(&a.id).cloned()).unwrap_or(a)).collect();
            // A decision this page took stays visible even when the list of pending ones drops it.
            decided.with(|d| {
                for a in d.values() {
                    if !shown.iter().any(|s| s.id == a.id) {
                        shown.push(a.clone());
                    }
                }
            });
            sort_approvals(&mut shown);
            if shown.is_empty() {
                let message = if all.get() {
                    format!("No action of {} has waited for approval yet.", env_name())
                } else {
                    format!("No action of {} waits for approval.", env_name())
                };
                return view! { <Empty message=message /> }.into_any();
            }
            shown
                .into_iter()
                .map(|a| view! { <ApprovalCard approval=a me=me role_refusal=role_refusal decided=decided now=now /> })
                .collect_view()
                .into_any()
        }
    };

    view! {
        <section data-testid="page-approvals">
            <div class="page-head">
                <h1>"Approvals"</h1>
                <span class="muted small">{move || format!(
                    "Actions of {} that wait for a second operator: approve to run them, reject to drop them.",
                    env_name()
                )}</span>
            </div>
            <div class="toolbar">
                <label class="check">
                    <input
                        type="checkbox"
                        data-testid="approvals-all"
                        prop:checked=move || all.get()
                        on:change=move |ev| all.set(event_target_checked(&ev))
                    />
                    "Also decided and expired"
                </label>
                <span class="spacer"></span>
                <RefreshControls reload=reload auto=auto />
            </div>
            {move || role_refusal.get().map(|why| view! {
                <p class="muted small action-unavailable" role="note" data-testid="action-unavailable">{why}</p>
            })}
            {content}
            <p class="small muted">"Approved actions are recorded in the "<a href=href("/audit")>"audit log"</a>"."</p>
        </section>
    }
}

#[component]
fn ApprovalCard(
    approval: Approval,
    me: Signal<Option<Identity>>,
    role_refusal: Signal<Option<String>>,
    decided: RwSignal<BTreeMap<i64, Approval>>,
    now: RwSignal<f64>,
) -> impl IntoView {
    let (state_text, level) = state_badge(approval.state);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = approval.id;
    let pending = approval.state == ApprovalState::Pending;
    let expires_at = approval.expires_at;
    let requested = clock(LocalTime::of_unix(approval.requested_at as f64));
    let expires = clock(LocalTime::of_unix(approval.expires_at as f64));
    let outcome = decision_text(&approval);
    let stored = StoredValue::new(approval.clone());
    let refusal = Signal::derive(move || {
        stored
            .with_value(|a| decision_refusal(a, me.get().as_ref(), role_refusal.get()))
            .or_else(|| (now.get() >= expires_at as f64).then(|| "This request has expired.".to_owned()))
    });
    let decide = move |approve: bool| {
        if busy.get_untracked() || refusal.get_untracked().is_some() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let decision = ApprovalDecision::default();
            let answer = if approve {
                api::approvals::approve(id, &decision).await
            } else {
                api::approvals::reject(id, &decision).await
            };
            let _ = busy.try_set(false);
            match answer {
                Ok(updated) => {
                    let _ = decided.try_update(|d| {
                        d.insert(updated.id, updated);
                    });
                }
                Err(e) => {
                    let _ = error.try_set(Some(e.message));
                }
            }
        });
    };
    let a = approval;
    view! {
        <article class="panel approval" data-testid="approval-row" data-id=id.to_string() data-state=state_text>
            <header class="approval-head">
                <code>{a.action.clone()}</code>" "
                <b class="mono">{a.target.clone()}</b>" "
                <Badge level=level text=state_text />
                <span class="spacer"></span>
                <span class="small muted">{format!("request #{id}")}</span>
            </header>
            <div data-testid="approval-summary">{a.summary.clone()}</div>
            <Kubectl cmd=a.kubectl.clone() />
            <dl class="approval-facts small">
                <dt>"Requested by"</dt><dd data-testid="approval-requester">{format!("{} at {requested}", a.requested_by)}</dd>
                <dt>"Reason"</dt><dd data-testid="approval-reason">{a.reason.clone()}</dd>
                {pending.then(|| view! {
                    <dt>"Time left"</dt>
                    <dd data-testid="approval-time-left" title=format!("expires at {expires}")>{move || time_left(expires_at, now.get())}</dd>
                })}
            </dl>
            {outcome.map(|text| {
                let failed = a.error.is_some();
                view! { <div class=if failed { "action-error" } else { "action-result" } role="status" data-testid="approval-outcome">{text}</div> }
            })}
            {move || error.get().map(|e| view! { <div class="action-error" role="alert" data-testid="approval-error">{e}</div> })}
            {pending.then(|| view! {
                <div class="toolbar">
                    <button
                        class="primary"
                        data-testid="approval-approve"
                        disabled=move || busy.get() || refusal.with(Option::is_some)
                        title=move || refusal.get().unwrap_or_else(|| "Run this action now, as requested".to_owned())
                        on:click=move |_| decide(true)
                    >
                        "Approve and run"
                    </button>
                    <button
                        data-testid="approval-reject"
                        disabled=move || busy.get() || refusal.with(Option::is_some)
                        title=move || refusal.get().unwrap_or_else(|| "Drop this request; the action does not run".to_owned())
                        on:click=move |_| decide(false)
                    >
                        "Reject"
                    </button>
                    <Show when=move || busy.get()>
                        <span class="spinner" aria-label="Working"></span>
                    </Show>
                    <span class="muted small" data-testid="approval-refusal">{move || refusal.get().unwrap_or_default()}</span>
                </div>
            })}
        </article>
    }
}

#[cfg(test)]
mod tests {
    use triage_shared::actions::Role;

    use super::*;

    fn approval(id: i64, state: ApprovalState, requested_at: i64, expires_at: i64) -> Approval {
        Approval {
            id,
            env: "prod-eu".into(),
            action: "scale".into(),
            target: "deployment/a/b".into(),
            summary: "replicas 2 → 4".into(),
            kubectl: "kubectl scale".into(),
            requested_by: "ann".into(),
            reason: "incident 42".into(),
            requested_at,
            expires_at,
            state,
            decided_by: None,
            audit_id: None,
            error: None,
            comment: None,
        }
    }

    fn me(subject: &str) -> Identity {
        Identity { subject: subject.into(), email: None, groups: vec![], role: Role::Operator }
    }

    #[test]
    fn pending_first_soonest_expiry_first_then_newest() {
        let mut list = vec![
            approval(1, ApprovalState::Approved, 10, 100),
            approval(2, ApprovalState::Pending, 20, 300),
            approval(3, ApprovalState::Pending, 30, 200),
            approval(4, ApprovalState::Rejected, 40, 100),
        ];
        sort_approvals(&mut list);
        let ids: Vec<i64> = list.iter().map(|a| a.id).collect();
        assert_eq!(ids, [3, 2, 4, 1]);
    }

    #[test]
    fn nobody_approves_their_own_request() {
        let a = approval(1, ApprovalState::Pending, 0, 100);
        assert_eq!(
            decision_refusal(&a, Some(&me("ann")), None).as_deref(),
            Some("You requested this; another operator must approve it.")
        );
        assert_eq!(decision_refusal(&a, Some(&me("bob")), None), None);
        assert!(decision_refusal(&a, Some(&me("bob")), Some("Operators of prod-eu only".into())).is_some());
        assert_eq!(time_left(100, 40.0), "1 min 0 s left");
        assert_eq!(time_left(100, 100.0), "expired");
        let done = Approval {
            audit_id: Some(9),
            decided_by: Some("bob".into()),
            ..approval(1, ApprovalState::Approved, 0, 1)
        };
        assert_eq!(decision_text(&done).as_deref(), Some("Approved by bob and run: audit entry #9"));
    }
}
