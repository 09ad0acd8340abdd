//! One pod, like `kubectl describe pod` plus its logs, with the guarded Delete action.

use leptos::prelude::*;
use triage_shared::k8s::{ContainerDetail, PodDetail};

use triage_shared::commands::kubectl_describe;

use crate::api;
use crate::components::action_dialog::{ActionDialog, ActionTarget};
use crate::components::log_view::LogView;
use crate::format::duration::age;
use crate::pages::kubernetes::status::{event_level, pod_status_level, termination_level};
use crate::widgets::{Badge, ErrorBox, Kubectl, Level, Loading, bump, keyed_resource};

fn resources_text(map: &std::collections::BTreeMap<String, String>) -> String {
    if map.is_empty() {
        "—".to_owned()
    } else {
        map.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    }
}

#[component]
pub fn PodDetailPanel(
    ns: String,
    name: String,
    /// Where Close goes (the same page without `pod=`).
    close_href: String,
    can_act: Signal<bool>,
    /// Why actions are disabled, when they are.
    act_hint: Signal<String>,
    /// Bumped after the pod was deleted, so the list reloads.
    pods_reload: RwSignal<u32>,
) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let (ns_fetch, name_fetch) = (ns.clone(), name.clone());
    let detail = keyed_resource(
        move || reload.get(),
        move |_| {
            let (ns, name) = (ns_fetch.clone(), name_fetch.clone());
            async move { api::k8s::pod(&ns, &name).await }
        },
    );
    let dialog = RwSignal::new(None::<ActionTarget>);
    let on_done = Callback::new(move |()| {
        pods_reload.update(bump);
        reload.update(bump);
    });
    let delete_target = ActionTarget::DeletePod { ns: ns.clone(), name: name.clone() };
    let describe = kubectl_describe(&ns, "pod", &name);

    view! {
        <section class="panel pod-detail" data-testid="pod-detail" data-pod=name.clone() aria-label=format!("Pod {name}")>
            <header class="detail-head">
                <h2>"Pod "<code>{name.clone()}</code></h2>
                {move || detail.map(|(_, d)| d.as_ref().ok().map(|d| {
                    let s = d.summary.status.clone();
                    view! { <Badge level=pod_status_level(&s) text=s /> }
                })).flatten()}
                <span class="spacer"></span>
                <button on:click=move |_| reload.update(bump) title="Load the pod again">"↻ Refresh"</button>
                <button
                    class="danger-outline"
                    data-testid="delete-pod-button"
                    disabled=move || !can_act.get()
                    title=move || if can_act.get() { "Delete this pod (dry run first)".to_owned() } else { act_hint.get() }
                    on:click=move |_| dialog.set(Some(delete_target.clone()))
                >
                    "Delete…"
                </button>
                <a class="button" href=close_href data-noscroll data-testid="pod-detail-close">"Close"</a>
            </header>
            <Kubectl cmd=describe />
            {move || match detail.get().map(|(_, d)| d) {
                None => view! { <Loading what="the pod" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="this pod" message=e.message /> }.into_any(),
                Some(Ok(d)) => view! { <DetailBody d=d /> }.into_any(),
            }}
            <h3>"Logs"</h3>
            <LogView ns=ns.clone() pod=name.clone() />
            {move || dialog.get().map(|t| view! { <ActionDialog target=t open=dialog on_done=on_done /> })}
        </section>
    }
}

#[component]
fn DetailBody(d: PodDetail) -> impl IntoView {
    let s = &d.summary;
    let facts: Vec<(&'static str, String)> = vec![
        ("Node", s.node.clone().unwrap_or_else(|| "—".to_owned())),
        ("IP", s.ip.clone().unwrap_or_else(|| "—".to_owned())),
        ("Ready", format!("{}/{}", s.ready_containers, s.total_containers)),
        ("Restarts", s.restarts.to_string()),
        ("Age", age(s.age_seconds)),
        ("Controlled by", d.controlled_by.clone().unwrap_or_else(|| "—".to_owned())),
        ("QoS class", d.qos_class.clone().unwrap_or_else(|| "—".to_owned())),
    ];
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    view! {
        <dl class="facts" data-testid="pod-facts">
            {facts.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> }).collect_view()}
            <div class="wide"><dt>"Labels"</dt><dd>{labels.into_iter().map(|l| view! { <code class="label">{l}</code>" " }).collect_view()}</dd></div>
        </dl>
        <h3>"Containers"</h3>
        <div class="table-wrap">
            <table class="data" data-testid="pod-containers">
                <thead><tr><th>"Name"</th><th>"Image"</th><th>"State"</th><th>"Ready"</th><th>"Restarts"</th><th>"Requests"</th><th>"Limits"</th><th>"Last termination"</th></tr></thead>
                <tbody>{d.containers.into_iter().map(container_row).collect_view()}</tbody>
            </table>
        </div>
        <h3>"Conditions"</h3>
        <div class="table-wrap">
            <table class="data" data-testid="pod-conditions">
                <thead><tr><th>"Type"</th><th>"Status"</th><th>"Reason"</th><th>"Message"</th></tr></thead>
                <tbody>
                    {d.conditions.into_iter().map(|c| {
                        let level = if c.status == "True" { Level::Ok } else { Level::Warn };
                        view! {
                            <tr>
                                <td>{c.kind}</td>
                                <td><Badge level=level text=c.status /></td>
                                <td>{c.reason.unwrap_or_default()}</td>
                                <td class="msg">{c.message.unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <h3>"Events"</h3>
        {if d.events.is_empty() {
            view! { <p class="muted small" data-testid="pod-events-empty">"No events for this pod (Kubernetes keeps them for about an hour)."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="data" data-testid="pod-events">
                        <thead><tr><th>"Type"</th><th>"Reason"</th><th>"Message"</th><th>"Count"</th><th>"Last seen"</th></tr></thead>
                        <tbody>
                            {d.events.into_iter().map(|e| view! {
                                <tr>
                                    <td><Badge level=event_level(&e.kind) text=e.kind.clone() /></td>
                                    <td>{e.reason}</td>
                                    <td class="msg">{e.message}</td>
                                    <td class="num">{e.count}</td>
                                    <td title=e.last_seen.unwrap_or_default()>{age(e.age_seconds)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}

fn container_row(c: ContainerDetail) -> impl IntoView {
    let state = match &c.state_reason {
        Some(r) => format!("{} ({r})", c.state),
        None => c.state.clone(),
    };
    let state_level = match (c.state.as_str(), c.state_reason.as_deref()) {
        ("Running", _) => Level::Ok,
        (_, Some(r)) => pod_status_level(r),
        ("Waiting", None) => Level::Warn,
        _ => Level::Neutral,
    };
    view! {
        <tr data-testid="container-row">
            <td><b>{c.name}</b></td>
            <td><code class="image">{c.image}</code></td>
            <td><Badge level=state_level text=state /></td>
            <td>{if c.ready { "yes" } else { "no" }}</td>
            <td class="num" class:warn-text={c.restart_count > 0}>{c.restart_count}</td>
            <td class="small">{resources_text(&c.requests)}</td>
            <td class="small">{resources_text(&c.limits)}</td>
            <td>
                {c.last_termination.map(|t| {
                    let title = format!("exit code {}{}", t.exit_code, t.finished_at.map(|f| format!(", finished {f}")).unwrap_or_default());
                    view! { <Badge level=termination_level(&t.reason) text=t.reason.clone() title=title /> }
                })}
            </td>
        </tr>
    }
}
