//! The states of a view that is not showing its data: loading, an error in words, empty.

use leptos::prelude::*;

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
