//! The statistics reset: dry run, the target's name typed as confirmation (and a reason in a
//! `production` or `approval` environment), then the reset, audited by the backend; in an
//! `approval` environment the reset waits for a second operator instead.

use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::env::Approval;
use triage_shared::pg::ResetRequest;

use crate::api;
use crate::env::use_environments;
use crate::widgets::{
    Loading, PendingApproval, ReasonField, bump, reason_problem, reason_to_send, unavailable_reason,
};

/// Dry run → type the target's name → reset. Audited by the backend.
#[component]
pub fn ResetDialog(target: String, open: RwSignal<bool>, reload: RwSignal<u32>) -> impl IntoView {
    let target_v = StoredValue::new(target.clone());
    let plan = LocalResource::new(move || {
        let t = target_v.get_value();
        async move { api::pg::reset(&t, &ResetRequest { dry_run: true, confirm: None, reason: None }).await }
    });
    let typed = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let outcome: RwSignal<Option<Result<String, String>>> = RwSignal::new(None);
    let pending = RwSignal::new(None::<Approval>);
    let busy = RwSignal::new(false);
    let envs = use_environments();
    let here = Signal::derive(move || envs.current());
    let strict = Signal::derive(move || here.with(|e| e.as_ref().is_some_and(|e| e.protection.strict())));
    let unavailable =
        Signal::derive(move || here.with(|e| e.as_ref().and_then(|e| unavailable_reason(&e.name, e.role))));
    let ready = Signal::derive(move || {
        !busy.get()
            && pending.with(Option::is_none)
            && unavailable.with(Option::is_none)
            && typed.get() == target_v.get_value()
            && !(strict.get() && reason.with(|r| reason_problem(r).is_some()))
    });
    let run = move || {
        if !ready.get_untracked() {
            return;
        }
        busy.set(true);
        let t = target_v.get_value();
        let confirm = typed.get_untracked();
        let why = reason.with_untracked(|r| reason_to_send(r));
        spawn_local(async move {
            let r = api::pg::reset(&t, &ResetRequest { dry_run: false, confirm: Some(confirm), reason: why })
                .await;
            busy.set(false);
            match r {
                Ok(o) if o.approval.is_some() => pending.set(o.approval),
                Ok(o) => {
                    reload.update(bump);
                    outcome.set(Some(Ok(format!(
                        "Statistics reset (audit entry {}).",
                        o.audit_id.unwrap_or_default()
                    ))));
                }
                Err(e) => outcome.set(Some(Err(e.message))),
            }
        });
    };
    view! {
        <div class="modal-backdrop" on:click=move |_| open.set(false)>
            <div class="panel dialog" role="dialog" aria-modal="true" aria-labelledby="pg-reset-title" data-testid="pg-reset-dialog"
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { open.set(false) }>
                <div class="dialog-head">
                    <h2 id="pg-reset-title">{format!("Reset statistics of {target}")}</h2>
                    <button class="icon" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
                </div>
                {move || match plan.get() {
                    None => view! { <Loading what="the dry run" /> }.into_any(),
                    Some(Err(e)) => view! { <div class="action-error">{e.message}</div> }.into_any(),
                    Some(Ok(p)) => view! {
                        <div class="dry-run">
                            <div class="muted small">"Dry run: this would"</div>
                            <div class="dry-run-summary">{p.summary.clone()}</div>
                            <div class="kubectl"><span class="prompt">"$"</span><code>{p.kubectl.clone()}</code></div>
                        </div>
                    }.into_any(),
                }}
                <label class="confirm">
                    {format!("Type {target} to confirm")}
                    <input type="text" data-testid="pg-reset-confirm" autofocus prop:value=move || typed.get()
                        on:input=move |ev| typed.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Enter" { run(); }
                        } />
                </label>
                {move || strict.get().then(|| view! {
                    <ReasonField reason=reason env=here.get().map(|e| e.name).unwrap_or_default() />
                })}
                {move || unavailable.get().map(|why| view! {
                    <p class="action-unavailable" role="note" data-testid="action-unavailable">{why}</p>
                })}
                {move || pending.get().map(|a| view! { <PendingApproval approval=a /> })}
                {move || outcome.get().map(|o| match o {
                    Ok(m) => view! { <div class="action-result" data-testid="pg-reset-result">{m}</div> }.into_any(),
                    Err(m) => view! { <div class="action-error" data-testid="pg-reset-error">{m}</div> }.into_any(),
                })}
                <div class="dialog-foot">
                    <button on:click=move |_| open.set(false)>"Close"</button>
                    <button class="danger" data-testid="pg-reset-apply"
                        disabled=move || !ready.get()
                        on:click=move |_| run()>
                        "Reset"
                    </button>
                </div>
            </div>
        </div>
    }
}
