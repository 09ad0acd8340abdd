//! placeholder
use leptos::prelude::*;
#[component]
pub fn Approvals() -> impl IntoView {
    view! { <section data-testid="page-approvals"></section> }
}
