//! The Refresh button and the auto-refresh switch of a view.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use leptos::prelude::*;

/// Adds one to a reload counter (wrapping), the way every view asks for its data again.
pub fn bump(n: &mut u32) {
    *n = n.wrapping_add(1);
}

/// The Refresh button: bumps `reload`.
#[component]
pub fn RefreshButton(reload: RwSignal<u32>) -> impl IntoView {
    view! {
        <button data-testid="refresh-button" title="Load again now" on:click=move |_| reload.update(bump)>
            "↻ Refresh"
        </button>
    }
}

/// A Refresh button and an auto-refresh switch that bumps `reload` every `every_secs` seconds
/// while it is on.
#[component]
pub fn RefreshControls(
    reload: RwSignal<u32>,
    auto: RwSignal<bool>,
    #[prop(default = 10)] every_secs: u64,
) -> impl IntoView {
    let handle: Arc<Mutex<Option<IntervalHandle>>> = Arc::default();
    let slot = Arc::clone(&handle);
    Effect::new(move |_| {
        let on = auto.get();
        if let Ok(mut current) = slot.lock() {
            if let Some(old) = current.take() {
                old.clear();
            }
            if on {
                *current =
                    set_interval_with_handle(move || reload.update(bump), Duration::from_secs(every_secs))
                        .ok();
            }
        }
    });
    on_cleanup(move || {
        if let Ok(mut current) = handle.lock()
            && let Some(old) = current.take()
        {
            old.clear();
        }
    });
    view! {
        <span class="refresh">
            <RefreshButton reload=reload />
            <label class="check" title=format!("Reload every {every_secs} seconds")>
                <input
                    type="checkbox"
                    data-testid="auto-refresh"
                    prop:checked=move || auto.get()
                    on:change=move |ev| auto.set(event_target_checked(&ev))
                />
                {format!("every {every_secs} s")}
            </label>
        </span>
    }
}
