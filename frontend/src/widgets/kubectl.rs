//! The command line that shows the same view from a terminal.

use leptos::prelude::*;

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
