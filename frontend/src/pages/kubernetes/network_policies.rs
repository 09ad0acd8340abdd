//! The network policies tab: pod selectors, policy types and rule counts; egress restricted with
//! no rule allowing any is marked, since those pods cannot open connections.

use leptos::prelude::*;
use triage_shared::commands::kubectl_get;

use crate::api;
use crate::widgets::{DataTable, Empty, Level, resource_tab};

#[component]
pub fn NetworkPoliciesTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let fetch = move || {
        let ns = ns_v.get_value();
        async move { api::k8s::network_policies(&ns).await }
    };
    resource_tab(
        "network policies",
        kubectl_get(&ns, "networkpolicies", false, None),
        false,
        fetch,
        move |list| {
            if list.is_empty() {
                return view! { <Empty message=format!("No network policies in {}: all traffic is allowed.", ns_v.get_value()) /> }
                .into_any();
            }
            view! {
            <DataTable testid="netpol-table">
                <thead><tr><th>"Name"</th><th>"Pod selector"</th><th>"Policy types"</th><th class="num">"Ingress rules"</th><th class="num">"Egress rules"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|n| {
                        let selector = if n.pod_selector.is_empty() {
                            view! { <span class="muted">"(all pods)"</span> }.into_any()
                        } else {
                            view! { <code>{n.pod_selector.clone()}</code> }.into_any()
                        };
                        let egress_level = if n.policy_types.iter().any(|t| t == "Egress") && n.egress_rules == 0 { Level::Crit } else { Level::Neutral };
                        view! {
                            <tr data-testid="netpol-row" data-policy=n.name.clone()>
                                <td><b>{n.name.clone()}</b></td>
                                <td>{selector}</td>
                                <td>{n.policy_types.join(", ")}</td>
                                <td class="num">{n.ingress_rules}</td>
                                <td class="num" class:crit-text={egress_level == Level::Crit} title=if egress_level == Level::Crit { "Egress is restricted and no rule allows any: these pods cannot open connections" } else { "" }>
                                    {n.egress_rules}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </DataTable>
        }
        .into_any()
        },
    )
}
