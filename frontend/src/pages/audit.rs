//! The Audit page.

use leptos::prelude::*;

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn Audit() -> impl IntoView {
    view! {
        <section data-testid="page-audit">
            <h1>"Audit"</h1>
            <NotBuiltYet purpose="Every action taken through Triage: who, when, what, the dry-run and the outcome." />
        </section>
    }
}
