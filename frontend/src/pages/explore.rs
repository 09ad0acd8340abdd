//! The Explore page.

use leptos::prelude::*;

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn Explore() -> impl IntoView {
    view! {
        <section data-testid="page-explore">
            <h1>"Explore"</h1>
            <NotBuiltYet purpose="Free PromQL with a range picker, chart and table views, and Prometheus's own error text." />
        </section>
    }
}
