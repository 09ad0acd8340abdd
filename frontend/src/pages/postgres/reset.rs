//! The statistics reset: dry run, the target's name typed as confirmation, then the reset,
//! audited by the backend.

use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::pg::ResetRequest;

use crate::api;
use crate::widgets::{Loading, bump};

/// Dry run → type the target's name → reset. Audited by the backend.
#[component]
pub fn ResetDialog(target: String, open: RwSignal<bool>, reload: RwSignal<u32>) -> impl IntoView {
    let target_v = StoredValue::new(target.clone());
    let plan = LocalResource::new(move || {
        let t = target_v.get_value();
        async move { api::pg::reset(&t, &ResetRequest { dry_run: true, confirm: None, reason: None }).await }
    });
    let typed = RwSignal::new(String::new());
    let outcome: RwSignal<Option<Result<String, String>>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let run = move || {
        busy.set(true);
        let t = target_v.get_value();
        let confirm = typed.get_untracked();
        spawn_local(async move {
            let r =
                api::pg::reset(&t, &ResetRequest { dry_run: false, confirm: Some(confirm), reason: None })
                    .await;
            busy.set(false);
            outcome.set(Some(match r {
                Ok(o) => {
                    reload.update(bump);
                    Ok(format!("Statistics reset (audit entry {}).", o.audit_id.unwrap_or_default()))
                }
                Err(e) => Err(e.message),
            }));
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
                            if ev.key() == "Enter" && typed.get_untracked() == target_v.get_value() { run(); }
                        } />
                </label>
                {move || outcome.get().map(|o| match o {
                    Ok(m) => view! { <div class="action-result" data-testid="pg-reset-result">{m}</div> }.into_any(),
                    Err(m) => view! { <div class="action-error" data-testid="pg-reset-error">{m}</div> }.into_any(),
                })}
                <div class="dialog-foot">
                    <button on:click=move |_| open.set(false)>"Close"</button>
                    <button class="danger" data-testid="pg-reset-apply"
                        disabled=move || busy.get() || typed.get() != target_v.get_value()
                        on:click=move |_| run()>
                        "Reset"
                    </button>
                </div>
            </div>
        </div>
    }
}
