//! The Alerts page.

use leptos::prelude::*;

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn Alerts() -> impl IntoView {
    view! {
        <section data-testid="page-alerts">
            <h1>"Alerts"</h1>
            <NotBuiltYet purpose="Firing and pending alerts from Prometheus, each linked to the flow that answers it." />
        </section>
    }
}
