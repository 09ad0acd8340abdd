//! The Postgres page.

use leptos::prelude::*;

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn Postgres() -> impl IntoView {
    view! {
        <section data-testid="page-postgres">
            <h1>"Postgres"</h1>
            <NotBuiltYet purpose="pg_stat_statements, connections, index advice and table bloat for the configured databases." />
        </section>
    }
}
