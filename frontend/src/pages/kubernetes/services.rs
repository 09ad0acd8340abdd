//! The services tab: type, cluster IP, ports, selector and annotations.

use leptos::prelude::*;
use triage_shared::commands::kubectl_get;

use crate::api;
use crate::widgets::{DataTable, Empty, resource_tab};

#[component]
pub fn ServicesTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let fetch = move || {
        let ns = ns_v.get_value();
        async move { api::k8s::services(&ns).await }
    };
    resource_tab("services", kubectl_get(&ns, "services", true, None), false, fetch, move |list| {
        if list.is_empty() {
            return view! { <Empty message=format!("No services in {}.", ns_v.get_value()) /> }.into_any();
        }
        view! {
            <DataTable testid="services-table">
                <thead><tr><th>"Name"</th><th>"Type"</th><th>"Cluster IP"</th><th>"Ports"</th><th>"Selector"</th><th>"Annotations"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|s| view! {
                        <tr data-testid="service-row" data-service=s.name.clone()>
                            <td><b>{s.name.clone()}</b></td>
                            <td>{s.kind.clone()}</td>
                            <td class="mono small">{s.cluster_ip.clone().unwrap_or_else(|| "None".to_owned())}</td>
                            <td class="mono small">{s.ports.join(", ")}</td>
                            <td>{(!s.selector.is_empty()).then(|| view! { <code>{s.selector.clone()}</code> })}</td>
                            <td class="annotations">
                                {s.annotations.iter().map(|(k, v)| view! { <div><span class="muted">{k.clone()}</span>"="{v.clone()}</div> }).collect_view()}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </DataTable>
        }
        .into_any()
    })
}
