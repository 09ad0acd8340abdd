//! The runbook list: the flows grouped by component, filtered as you type (`/` focuses the
//! filter, Enter opens the first match).

use std::collections::BTreeMap;

use leptos::ev;
use leptos::html::Input;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use triage_shared::runbook::RunbookSummary;

use super::location::flow_href;
use crate::api;
use crate::format::text;
use crate::keyboard::typing_in_field;
use crate::widgets::{Empty, ErrorBox, Loading};

/// Whether a runbook matches the list's filter: every word of it appears in the id, title,
/// summary, component or one of its alert names (case-insensitive).
pub fn matches_filter(runbook: &RunbookSummary, filter: &str) -> bool {
    let alerts = runbook.alerts.join(" ");
    text::matches_filter(
        &[&runbook.id, &runbook.title, &runbook.summary, &runbook.component, &alerts],
        filter,
    )
}

/// Runbooks grouped by component, components and runbooks in alphabetical order of title.
pub fn group_by_component(runbooks: &[RunbookSummary]) -> Vec<(String, Vec<RunbookSummary>)> {
    let mut groups: BTreeMap<String, Vec<RunbookSummary>> = BTreeMap::new();
    for r in runbooks {
        groups.entry(r.component.clone()).or_default().push(r.clone());
    }
    groups
        .into_iter()
        .map(|(component, mut list)| {
            list.sort_by(|a, b| a.title.cmp(&b.title));
            (component, list)
        })
        .collect()
}

#[component]
pub fn RunbookList() -> impl IntoView {
    let runbooks = LocalResource::new(api::runbooks::runbooks);
    let filter = RwSignal::new(String::new());
    let filter_ref = NodeRef::<Input>::new();
    let navigate = use_navigate();

    // `/` focuses the filter, as in many consoles.
    let keys = window_event_listener(ev::keydown, move |e: web_sys::KeyboardEvent| {
        if e.key() == "/"
            && !typing_in_field(&e)
            && !e.ctrl_key()
            && !e.meta_key()
            && !e.alt_key()
            && let Some(input) = filter_ref.get_untracked()
        {
            e.prevent_default();
            let _ = input.focus();
        }
    });
    on_cleanup(move || keys.remove());

    let visible = move || {
        runbooks.get().map(|r| {
            r.map(|list| {
                let f = filter.get();
                list.into_iter().filter(|r| matches_filter(r, &f)).collect::<Vec<_>>()
            })
        })
    };
    let open_first = move || {
        if let Some(Ok(list)) = visible()
            && let Some(first) = list.first()
        {
            navigate(&flow_href(&first.id), NavigateOptions::default());
        }
    };

    view! {
        <section data-testid="page-runbooks">
            <div class="page-head">
                <h1>"Runbooks"</h1>
                <input
                    type="search"
                    class="runbook-filter"
                    placeholder="Filter by name, component or alert  ( / )"
                    aria-label="Filter runbooks"
                    data-testid="runbook-filter"
                    node_ref=filter_ref
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                    on:keydown=move |ev: web_sys::KeyboardEvent| match ev.key().as_str() {
                        "Enter" => open_first(),
                        "Escape" => filter.set(String::new()),
                        _ => {}
                    }
                />
            </div>
            <p class="muted">
                "Each flow runs its checks live against Prometheus, Kubernetes and PostgreSQL, ranks the likely causes and offers the fixes. Alerts link straight to them."
            </p>
            {move || match visible() {
                None => view! { <Loading what="the runbooks" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the runbooks" message=e.message /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    let message = if filter.with(String::is_empty) {
                        "No runbook is loaded: add flows to the runbooks folder.".to_owned()
                    } else {
                        format!("No runbook matches “{}”.", filter.get())
                    };
                    view! { <Empty message=message /> }.into_any()
                }
                Some(Ok(list)) => group_by_component(&list)
                    .into_iter()
                    .map(|(component, books)| {
                        let attr = component.clone();
                        view! {
                        <section class="runbook-group" data-testid="runbook-group" data-component=attr>
                            <h2 class="section-title">{component}</h2>
                            <ul class="runbook-cards">
                                {books.into_iter().map(|r| view! {
                                    <li class="panel runbook-card" data-testid="runbook-item" data-runbook=r.id.clone()>
                                        <A href=flow_href(&r.id) attr:class="runbook-title">{r.title.clone()}</A>
                                        <p class="small">{r.summary.clone()}</p>
                                        <div class="small muted">
                                            {format!("{} checks", r.steps)}
                                            {r.alerts.iter().map(|a| view! { " " <code class="label">{a.clone()}</code> }).collect_view()}
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        </section>
                    }})
                    .collect_view()
                    .into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::runbooks::fixtures::summary;

    #[test]
    fn filter_needs_every_word() {
        let r = summary("kafka-consumer-lag", "kafka", &["ConsumerLagHigh"], vec![]);
        assert!(matches_filter(&r, ""));
        assert!(matches_filter(&r, "KAFKA lag"));
        assert!(matches_filter(&r, "consumerlaghigh"));
        assert!(!matches_filter(&r, "kafka memory"));
    }

    #[test]
    fn groups_are_sorted() {
        let list = vec![
            summary("b", "kafka", &[], vec![]),
            summary("a", "database", &[], vec![]),
            summary("c", "kafka", &[], vec![]),
        ];
        let groups = group_by_component(&list);
        let names: Vec<&str> = groups.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, ["database", "kafka"]);
        let ids: Vec<&str> = groups[1].1.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
