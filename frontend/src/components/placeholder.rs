//! The honest state of a page whose feature has not landed yet.

use leptos::prelude::*;

#[component]
pub fn NotBuiltYet(
    /// What the page will do, in one sentence.
    purpose: &'static str,
) -> impl IntoView {
    view! {
        <div class="panel notice" data-testid="not-built">
            <p>{purpose}</p>
            <p class="muted">"Not built yet."</p>
        </div>
    }
}
