//! Runbooks: the list of guided flows, and one flow opened from an alert link.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::placeholder::NotBuiltYet;

#[component]
pub fn RunbookList() -> impl IntoView {
    view! {
        <section data-testid="page-runbooks">
            <h1>"Runbooks"</h1>
            <NotBuiltYet purpose="Every scenario of the platform's troubleshooting guide as a guided flow whose checks run live." />
        </section>
    }
}

/// `/runbooks/{id}?param=value…`: the target of an alert's `runbook_url`.
#[component]
pub fn RunbookFlow() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let parameters = move || {
        let mut pairs: Vec<(String, String)> =
            query.get().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pairs.sort();
        pairs
    };
    view! {
        <section data-testid="page-runbook">
            <h1>"Runbook " <code data-testid="runbook-id">{id}</code></h1>
            <table class="params" data-testid="runbook-params">
                <thead><tr><th>"Parameter"</th><th>"Value"</th></tr></thead>
                <tbody>
                    <For
                        each=parameters
                        key=|(k, _)| k.clone()
                        children=|(name, value)| {
                            view! {
                                <tr data-testid=format!("param-{name}")>
                                    <td>{name.clone()}</td>
                                    <td><code>{value}</code></td>
                                </tr>
                            }
                        }
                    />
                </tbody>
            </table>
            <NotBuiltYet purpose="This flow's checks will run here with the parameters above." />
        </section>
    }
}
