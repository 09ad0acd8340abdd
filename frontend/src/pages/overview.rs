//! The Overview page: the platform's key metrics at a glance.

use leptos::prelude::*;

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn Overview() -> impl IntoView {
    view! {
        <section data-testid="page-overview">
            <h1>"Overview"</h1>
            <NotBuiltYet purpose="Event processing rate, error rate, p95 latency and Kafka consumer lag as live charts, with the count of firing alerts." />
        </section>
    }
}
