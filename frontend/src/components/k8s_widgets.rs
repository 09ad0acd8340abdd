//! Small view pieces shared by the Kubernetes and Audit pages: the kubectl line, loading, error
//! and empty states, refresh controls, badges and usage bars.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leptos::prelude::*;

use crate::components::k8s_format::{Bar, Level};

/// A `LocalResource` that fetches again whenever `key` changes, tagged with the key it was
/// fetched for.
///
/// A plain `LocalResource` that reads several signals can miss a change (seen with two of them
/// changing in one event handler, one through a router navigation). Here the fetch reads the key
/// untracked, and an effect compares the key of what arrived with the current one, asking again
/// until they agree.
pub fn keyed_resource<K, T, Fut>(
    key: impl Fn() -> K + Send + Sync + 'static,
    fetch: impl Fn(K) -> Fut + 'static,
) -> LocalResource<(K, T)>
where
    K: Clone + PartialEq + Send + Sync + 'static,
    T: 'static,
    Fut: Future<Output = T> + 'static,
{
    let key = Arc::new(key);
    let key_untracked = Arc::clone(&key);
    let resource = LocalResource::new(move || {
        let k = untrack(|| key_untracked());
        let fut = fetch(k.clone());
        async move { (k, fut.await) }
    });
    Effect::new(move |_| {
        let current = key();
        let differs = resource.map(|(k, _)| *k != current).unwrap_or(false);
        if differs {
            // From a fresh task: a refetch asked for inside this effect while the router is
            // navigating can be dropped.
            set_timeout(move || resource.refetch(), Duration::ZERO);
        }
    });
    resource
}

/// The command that shows the same thing from a terminal; one click selects all of it.
#[component]
pub fn Kubectl(#[prop(into)] cmd: Signal<String>) -> impl IntoView {
    view! {
        <div class="kubectl" data-testid="kubectl" title="The kubectl equivalent of this view">
            <span class="prompt" aria-hidden="true">"$"</span>
            <code>{move || cmd.get()}</code>
        </div>
    }
}

#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <div class="state-msg" data-testid="loading" aria-live="polite">
            <span class="spinner"></span>
            <span>{format!("Loading {what}…")}</span>
        </div>
    }
}

/// An API error in words: what could not be done, and the backend's message.
#[component]
pub fn ErrorBox(#[prop(into)] what: String, #[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="panel error state-msg" role="alert" data-testid="view-error">
            <b>{format!("Could not load {what}.")}</b>
            " "
            <span>{message}</span>
        </div>
    }
}

#[component]
pub fn Empty(#[prop(into)] message: String) -> impl IntoView {
    view! { <div class="panel state-msg muted" data-testid="empty">{message}</div> }
}

#[component]
pub fn Badge(
    level: Level,
    #[prop(into)] text: String,
    #[prop(optional, into)] title: String,
) -> impl IntoView {
    view! { <span class=level.badge() title=title>{text}</span> }
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
                *current = set_interval_with_handle(
                    move || reload.update(|n| *n = n.wrapping_add(1)),
                    Duration::from_secs(every_secs),
                )
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
            <button
                data-testid="refresh-button"
                title="Load again now"
                on:click=move |_| reload.update(|n| *n = n.wrapping_add(1))
            >
                "↻ Refresh"
            </button>
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

/// A horizontal bar: usage against a scale (limit or capacity), with a marker at the request.
#[component]
pub fn UsageBar(
    bar: Bar,
    /// The figure shown next to the bar, e.g. `250m`.
    #[prop(into)]
    text: String,
    /// Smaller text after it, e.g. `25% of limit`.
    #[prop(into)]
    sub: String,
    /// The full read-out, on hover.
    #[prop(into)]
    title: String,
) -> impl IntoView {
    view! {
        <div class="usage" title=title>
            <div class="usage-track">
                <div class=format!("usage-fill {}", bar.level.class()) style=format!("width: {:.1}%", bar.fill_pct)></div>
                {bar.request_pct.map(|r| view! { <div class="usage-marker" style=format!("left: {r:.1}%")></div> })}
            </div>
            <span class="usage-text">{text}" "<span class="muted">{sub}</span></span>
        </div>
    }
}
