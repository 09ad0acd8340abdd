//! The search field that filters a list in the browser.

use leptos::prelude::*;

/// `<input type="search">` bound to `value`, labelled for screen readers by `label`.
#[component]
pub fn FilterInput(
    testid: &'static str,
    label: &'static str,
    placeholder: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <input
            type="search"
            data-testid=testid
            aria-label=label
            placeholder=placeholder
            prop:value=move || value.get()
            on:input=move |ev| value.set(event_target_value(&ev))
        />
    }
}
