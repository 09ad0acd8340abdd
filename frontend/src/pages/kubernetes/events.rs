//! The events tab: the namespace's events, warnings first in colour, filtered in the browser.

use leptos::prelude::*;
use triage_shared::commands::kubectl_events;

use super::location::{K8sLocation, Tab};
use super::status::event_level;
use crate::api;
use crate::format::duration::age;
use crate::format::text::matches_filter;
use crate::widgets::{
    Badge, DataTable, Empty, FilterInput, Kubectl, RefreshControls, keyed_resource, resource_view,
};

#[component]
pub fn EventsTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    let warnings_only = RwSignal::new(false);
    let events = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s::events(&ns).await }
        },
    );

    let table = resource_view(events, "events", move |list| {
        if list.is_empty() {
            return view! { <Empty message=format!("No events in {} (Kubernetes keeps them for about an hour).", ns_v.get_value()) /> }
                .into_any();
        }
        let warnings = list.iter().filter(|e| e.kind == "Warning").count();
        let total = list.len();
        let rows = move || {
            let needle = filter.get();
            let only = warnings_only.get();
            let rows: Vec<_> = list
                .iter()
                .filter(|e| !only || e.kind == "Warning")
                .filter(|e| matches_filter(&[&e.kind, &e.reason, &e.object, &e.message], &needle))
                .map(|e| {
                    let object = match e.object.strip_prefix("pod/") {
                        Some(pod) => {
                            let href = K8sLocation { ns: Some(ns_v.get_value()), tab: Tab::Pods, selector: None, pod: Some(pod.to_owned()) }.href();
                            view! { <a href=href>{e.object.clone()}</a> }.into_any()
                        }
                        None => e.object.clone().into_any(),
                    };
                    view! {
                        <tr data-testid="event-row" class:warning-row={e.kind == "Warning"}>
                            <td><Badge level=event_level(&e.kind) text=e.kind.clone() /></td>
                            <td><b>{e.reason.clone()}</b></td>
                            <td class="mono small">{object}</td>
                            <td class="msg">{e.message.clone()}</td>
                            <td class="num">{e.count}</td>
                            <td class="num" title=e.last_seen.clone().unwrap_or_default()>{age(e.age_seconds)}</td>
                        </tr>
                    }
                })
                .collect();
            if rows.is_empty() {
                view! { <tr><td colspan="6" class="muted">"No event matches the filter."</td></tr> }
                    .into_any()
            } else {
                rows.collect_view().into_any()
            }
        };
        view! {
            <p class="summary small" data-testid="events-summary">
                {format!("{total} events")}
                {(warnings > 0).then(|| view! { " · "<span class="crit-text">{format!("{warnings} warnings")}</span> })}
            </p>
            <DataTable testid="events-table">
                <thead>
                    <tr><th>"Type"</th><th>"Reason"</th><th>"Object"</th><th>"Message"</th><th class="num">"Count"</th><th class="num">"Last seen"</th></tr>
                </thead>
                <tbody>{rows}</tbody>
            </DataTable>
        }
        .into_any()
    });

    view! {
        <div class="toolbar">
            <FilterInput testid="events-filter" label="Filter events" placeholder="filter: reason, object, message…" value=filter />
            <label class="check">
                <input type="checkbox" data-testid="events-warnings-only" prop:checked=move || warnings_only.get()
                    on:change=move |ev| warnings_only.set(event_target_checked(&ev)) />
                "warnings only"
            </label>
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        <Kubectl cmd=kubectl_events(&ns) />
        {table}
    }
}
