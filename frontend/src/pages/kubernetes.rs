//! The Kubernetes page.

use leptos::prelude::*;

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn Kubernetes() -> impl IntoView {
    view! {
        <section data-testid="page-kubernetes">
            <h1>"Kubernetes"</h1>
            <NotBuiltYet purpose="Pods, deployments, events, logs, top figures, services and network policies, with guarded actions." />
        </section>
    }
}
