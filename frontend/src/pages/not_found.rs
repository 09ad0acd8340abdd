//! Unknown paths inside the console.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

#[component]
pub fn NotFound() -> impl IntoView {
    let location = use_location();
    view! {
        <section class="panel notice" data-testid="page-not-found">
            <h1>"Page not found"</h1>
            <p>"Triage has no page at " <code>{move || location.pathname.get()}</code> "."</p>
            <p><A href=crate::env::href("/")>"Back to the overview"</A></p>
        </section>
    }
}
