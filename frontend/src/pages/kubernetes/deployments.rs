//! The deployments tab: readiness, rollout state and images, with the guarded Scale and Restart.

use leptos::prelude::*;
use triage_shared::commands::kubectl_get;

use super::location::{K8sLocation, Tab};
use super::status::rollout_badge;
use crate::api;
use crate::components::action_dialog::{ActionDialog, ActionTarget};
use crate::format::duration::age;
use crate::widgets::{
    Badge, DataTable, Empty, Kubectl, RefreshControls, bump, keyed_resource, resource_view,
};

#[component]
pub fn DeploymentsTab(ns: String, can_act: Signal<bool>, act_hint: Signal<String>) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let deployments = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s::deployments(&ns).await }
        },
    );
    let dialog = RwSignal::new(None::<ActionTarget>);
    // After a change, watch the rollout: reload now and every 10 s.
    let on_done = Callback::new(move |()| {
        reload.update(bump);
        auto.set(true);
    });

    let table = resource_view(deployments, "deployments", move |list| {
        if list.is_empty() {
            return view! { <Empty message=format!("No deployments in {}.", ns_v.get_value()) /> }.into_any();
        }
        view! {
            <DataTable testid="deployments-table">
                <thead>
                    <tr>
                        <th>"Name"</th><th>"Ready"</th><th class="num">"Up-to-date"</th><th class="num">"Available"</th>
                        <th>"Rollout"</th><th>"Images"</th><th class="num">"Age"</th><th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {list.into_iter().map(|d| {
                        let ns = ns_v.get_value();
                        let (label, level, why) = rollout_badge(&d.rollout);
                        let pods_href = K8sLocation { ns: Some(ns.clone()), tab: Tab::Pods, selector: Some(d.selector.clone()), pod: None }.href();
                        let scale = ActionTarget::Scale { ns: ns.clone(), name: d.name.clone(), current: d.desired };
                        let restart = ActionTarget::Restart { ns, name: d.name.clone() };
                        let short = d.ready < d.desired;
                        view! {
                            <tr data-testid="deployment-row" data-deployment=d.name.clone()>
                                <td class="deployment-name">
                                    <b>{d.name.clone()}</b>
                                    <a class="small pods-link" href=pods_href title=format!("Pods with {}", d.selector)>" pods →"</a>
                                </td>
                                <td data-testid="deployment-ready" data-desired=d.desired.to_string() class:warn-text=short>
                                    {format!("{}/{}", d.ready, d.desired)}
                                </td>
                                <td class="num">{d.updated}</td>
                                <td class="num">{d.available}</td>
                                <td><Badge level=level text=label title=why /></td>
                                <td>{d.images.iter().map(|i| view! { <code class="image">{i.clone()}</code> }).collect_view()}</td>
                                <td class="num">{age(d.age_seconds)}</td>
                                <td class="actions">
                                    <button
                                        data-testid="scale-button"
                                        disabled=move || !can_act.get()
                                        title=move || if can_act.get() { "Change the number of replicas (dry run first)".to_owned() } else { act_hint.get() }
                                        on:click=move |_| dialog.set(Some(scale.clone()))
                                    >"Scale…"</button>
                                    <button
                                        data-testid="restart-button"
                                        disabled=move || !can_act.get()
                                        title=move || if can_act.get() { "Rolling restart of every pod (dry run first)".to_owned() } else { act_hint.get() }
                                        on:click=move |_| dialog.set(Some(restart.clone()))
                                    >"Restart…"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </DataTable>
        }
        .into_any()
    });

    view! {
        <div class="toolbar">
            <span class="muted small">{move || if can_act.get() { String::new() } else { act_hint.get() }}</span>
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        <Kubectl cmd=kubectl_get(&ns, "deployments", true, None) />
        {table}
        {move || dialog.get().map(|t| view! { <ActionDialog target=t open=dialog on_done=on_done /> })}
    }
}
