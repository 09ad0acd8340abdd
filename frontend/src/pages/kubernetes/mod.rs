//! The Kubernetes page: `kubectl get pods -o wide` / describe / logs / top, deployments with
//! guarded scale and restart, events, services and network policies, one namespace at a time.
//!
//! The URL holds the view (`/kubernetes?ns=…&tab=pods&selector=…&pod=NAME`), so every view can
//! be linked to. Each view shows its kubectl equivalent.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use triage_shared::ApiError;
use triage_shared::k8s::{NodeUsage, PodSummary, PodUsage};

use crate::api;
use crate::components::action_dialog::{ActionDialog, ActionTarget};
use crate::components::k8s_format::{
    K8sLocation, KUBECTL_TOP_NODES, Level, Tab, TopSort, age, can_act, capacity_bar, cpu, event_level,
    kubectl_events, kubectl_get, kubectl_top_pods, matches_filter, memory, pod_status_level, role_label,
    rollout_badge, sort_top, termination_level, usage_bar,
};
use crate::components::k8s_widgets::{
    Badge, Empty, ErrorBox, Kubectl, Loading, RefreshControls, UsageBar, keyed_resource,
};
use crate::components::pod_detail::PodDetailPanel;

/// Pods fetched per request (kubectl's own chunk size is 500).
const POD_PAGE: u32 = 1000;
/// Pages fetched at once: up to 20,000 pods load without a click; "Load more" goes beyond.
const POD_PAGES: u32 = 20;
/// Above this many rows the table renders only the rows in view (plus a margin).
const VIRTUAL_MIN_ROWS: usize = 300;
/// Height of one pod row in pixels; fixed by `.virtual tr` in the stylesheet.
const ROW_HEIGHT: f64 = 33.0;
/// Rows rendered above and below the visible ones, so fast scrolling shows no gap.
const OVERSCAN: usize = 20;

fn quiet() -> NavigateOptions {
    NavigateOptions { scroll: false, ..Default::default() }
}

fn bump(n: &mut u32) {
    *n = n.wrapping_add(1);
}

/// Scrolls the element with `data-testid=id` into view, if there is one.
fn scroll_to_testid(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(&format!("[data-testid=\"{id}\"]")).ok().flatten())
    {
        el.scroll_into_view();
    }
}

/// Renders a resource: loading, its error in words, or `ok` with the value.
fn resource_view<K: Clone + 'static, T: Clone + Send + Sync + 'static>(
    res: LocalResource<(K, Result<T, ApiError>)>,
    what: &'static str,
    ok: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    move || match res.get().map(|(_, r)| r) {
        None => view! { <Loading what=what /> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox what=what message=e.message /> }.into_any(),
        Some(Ok(v)) => ok(v),
    }
}

#[component]
pub fn Kubernetes() -> impl IntoView {
    let params = use_query_map();
    let navigate = use_navigate();
    let namespaces = LocalResource::new(api::k8s_namespaces);
    let whoami = LocalResource::new(api::whoami);

    let tab = Memo::new(move |_| Tab::parse(params.read().get("tab").as_deref()));
    let selector = Memo::new(move |_| params.read().get("selector").unwrap_or_default());
    let pod = Memo::new(move |_| params.read().get("pod").filter(|p| !p.is_empty()));
    let url_ns = Memo::new(move |_| params.read().get("ns").filter(|n| !n.is_empty()));
    let ns = Memo::new(move |_| {
        url_ns.get().or_else(|| namespaces.get().and_then(Result::ok).and_then(|l| l.into_iter().next()))
    });
    let ns_options = move || {
        let mut list = namespaces.get().and_then(Result::ok).unwrap_or_default();
        if let Some(n) = url_ns.get().filter(|n| !list.contains(n)) {
            list.push(n);
        }
        list
    };

    let role = Signal::derive(move || whoami.get().and_then(Result::ok).map(|i| i.role));
    let allowed = Signal::derive(move || can_act(role.get()));
    let hint = Signal::derive(move || match whoami.get() {
        None => "Checking your role…".to_owned(),
        Some(Err(e)) => {
            format!("Actions need the operator role; yours could not be checked ({}).", e.message)
        }
        Some(Ok(i)) if can_act(Some(i.role)) => String::new(),
        Some(Ok(i)) => {
            format!("Actions need the operator role; {} is a {}.", i.subject, role_label(Some(i.role)))
        }
    });
    let role_text = move || match whoami.get() {
        None => "role…".to_owned(),
        Some(Ok(i)) => format!("{} · {}", i.subject, role_label(Some(i.role))),
        Some(Err(_)) => "reader (role unknown)".to_owned(),
    };

    let content = move || {
        let Some(ns) = ns.get() else {
            return match namespaces.get() {
                None => view! { <Loading what="namespaces" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the Kubernetes namespaces" message=e.message /> }.into_any(),
                Some(Ok(_)) => view! {
                    <Empty message="No namespace is allowed: list some under [kubernetes] namespaces in Triage's configuration." />
                }
                .into_any(),
            };
        };
        match tab.get() {
            Tab::Pods => view! {
                <PodsTab ns=ns selector=selector.into() pod=pod.into() can_act=allowed act_hint=hint />
            }
            .into_any(),
            Tab::Deployments => view! { <DeploymentsTab ns=ns can_act=allowed act_hint=hint /> }.into_any(),
            Tab::Events => view! { <EventsTab ns=ns /> }.into_any(),
            Tab::Top => view! { <TopTab ns=ns /> }.into_any(),
            Tab::Services => view! { <ServicesTab ns=ns /> }.into_any(),
            Tab::NetworkPolicies => view! { <NetworkPoliciesTab ns=ns /> }.into_any(),
        }
    };

    view! {
        <section class="k8s" data-testid="page-kubernetes">
            <div class="page-head">
                <h1>"Kubernetes"</h1>
                <label class="ns-picker" style:visibility=move || if ns.get().is_some() { "visible" } else { "hidden" }>
                    "Namespace "
                    <select
                        data-testid="k8s-namespace"
                        prop:value=move || ns.get().unwrap_or_default()
                        on:change=move |ev| {
                            let loc = K8sLocation { ns: Some(event_target_value(&ev)), tab: tab.get_untracked(), ..Default::default() };
                            navigate(&loc.href(), quiet());
                        }
                    >
                        {move || ns_options().into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <span class="spacer"></span>
                <span
                    class="role-chip"
                    class:can-act=move || allowed.get()
                    data-testid="k8s-role"
                    title=move || if allowed.get() { "You may scale, restart and delete (each is dry-run first and audited).".to_owned() } else { hint.get() }
                >
                    {role_text}
                </span>
            </div>
            <nav class="subtabs" role="tablist" aria-label="Kubernetes views">
                {Tab::ALL
                    .iter()
                    .map(|&t| {
                        view! {
                            <a
                                role="tab"
                                data-noscroll
                                data-testid=format!("k8s-tab-{}", t.id())
                                href=move || K8sLocation { ns: ns.get(), tab: t, ..Default::default() }.href()
                                class:active=move || tab.get() == t
                                aria-selected=move || (tab.get() == t).to_string()
                            >
                                {t.label()}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
            {content}
        </section>
    }
}

async fn load_pods(ns: &str, selector: &str, pages: u32) -> Result<(Vec<PodSummary>, bool), ApiError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..pages.max(1) {
        let page = api::k8s_pods(ns, selector, POD_PAGE, token.as_deref()).await?;
        items.extend(page.items);
        token = page.continue_token;
        if token.is_none() {
            break;
        }
    }
    Ok((items, token.is_some()))
}

#[component]
fn PodsTab(
    ns: String,
    selector: Signal<String>,
    pod: Signal<Option<String>>,
    can_act: Signal<bool>,
    act_hint: Signal<String>,
) -> impl IntoView {
    let nav = StoredValue::new_local(use_navigate());
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    // Pages to load, for the selector they were asked for (a new selector starts at one page;
    // nothing is written when the selector changes, so one navigation is one change).
    let more_pages = RwSignal::new((String::new(), POD_PAGES));
    let pages = move || {
        let sel = selector.get();
        more_pages.with(|(for_sel, n)| if *for_sel == sel { *n } else { POD_PAGES })
    };
    let filter = RwSignal::new(String::new());
    let selector_text = RwSignal::new(selector.get_untracked());
    // Follow the URL (back and forward buttons).
    Effect::new(move |_| selector_text.set(selector.get()));

    let pods = keyed_resource(
        move || (selector.get(), pages(), reload.get()),
        move |(sel, pages, _)| {
            let ns = ns_v.get_value();
            async move { load_pods(&ns, &sel, pages).await }
        },
    );

    let href = move |sel: String, pod: Option<String>| {
        K8sLocation { ns: Some(ns_v.get_value()), tab: Tab::Pods, selector: Some(sel), pod }.href()
    };
    let go = move |sel: String, pod: Option<String>| {
        let url = href(sel, pod);
        nav.with_value(|n| n(&url, quiet()));
    };
    let open_pod = move |pod: Option<String>| go(selector.get_untracked(), pod);
    let apply_selector = move || {
        go(selector_text.get_untracked().trim().to_owned(), None);
    };

    // Bring the detail panel into view when a pod is picked (or a deep link's list arrives).
    Effect::new(move |prev: Option<(Option<String>, bool)>| {
        let now = (pod.get(), pods.map(|_| ()).is_some());
        if now.0.is_some() && now.1 && prev.as_ref() != Some(&now) {
            request_animation_frame(|| scroll_to_testid("pod-detail"));
        }
        now
    });

    let cmd = Signal::derive(move || kubectl_get(&ns_v.get_value(), "pods", true, Some(&selector.get())));

    let table = resource_view(pods, "pods", move |(items, more)| {
        if items.is_empty() {
            let sel = selector.get_untracked();
            let msg = if sel.is_empty() {
                format!("No pods in {}.", ns_v.get_value())
            } else {
                format!("No pods in {} match the selector {sel}.", ns_v.get_value())
            };
            return view! { <Empty message=msg /> }.into_any();
        }
        let not_ready = items.iter().filter(|p| p.ready_containers < p.total_containers).count();
        let restarted = items.iter().filter(|p| p.restarts > 0).count();
        let total = items.len();
        let items = StoredValue::new(items);
        // Indices of the pods that pass the filter; recomputed when the filter changes, not on scroll.
        let shown = Memo::new(move |_| {
            let needle = filter.get();
            items.with_value(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        let reason = p.last_termination.as_ref().map_or("", |t| t.reason.as_str());
                        matches_filter(
                            &[
                                &p.name,
                                &p.status,
                                p.node.as_deref().unwrap_or(""),
                                p.ip.as_deref().unwrap_or(""),
                                reason,
                            ],
                            &needle,
                        )
                    })
                    .map(|(i, _)| i)
                    .collect::<Vec<usize>>()
            })
        });
        let virtual_rows = total > VIRTUAL_MIN_ROWS;
        let scroll_top = RwSignal::new(0.0f64);
        let viewport = RwSignal::new(800.0f64);
        let rows = move || {
            let idx = shown.get();
            if idx.is_empty() {
                return view! { <tr><td colspan="8" class="muted">"No pod matches the filter."</td></tr> }
                    .into_any();
            }
            let (start, end) = if virtual_rows {
                visible_window(idx.len(), scroll_top.get(), viewport.get())
            } else {
                (0, idx.len())
            };
            let base = href(selector.get_untracked(), None);
            let rendered = items.with_value(|items| {
                idx[start..end]
                    .iter()
                    .map(|&i| pod_row(items[i].clone(), pod, open_pod, base.clone()))
                    .collect_view()
            });
            let above = (start as f64 * ROW_HEIGHT).round();
            let below = ((idx.len() - end) as f64 * ROW_HEIGHT).round();
            view! {
                {(above > 0.0).then(|| view! { <tr class="spacer" aria-hidden="true" style=format!("height:{above}px")></tr> })}
                {rendered}
                {(below > 0.0).then(|| view! { <tr class="spacer" aria-hidden="true" style=format!("height:{below}px")></tr> })}
            }
            .into_any()
        };
        let on_scroll = move |ev: leptos::ev::Event| {
            use wasm_bindgen::JsCast;
            if let Some(el) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                scroll_top.set(f64::from(el.scroll_top()));
                viewport.set(f64::from(el.client_height()));
            }
        };
        view! {
            <p class="summary small" data-testid="pods-summary">
                {format!("{total} pods")}
                {(not_ready > 0).then(|| view! { " · "<span class="warn-text">{format!("{not_ready} not ready")}</span> })}
                {(restarted > 0).then(|| view! { " · "<span class="warn-text">{format!("{restarted} restarted")}</span> })}
                {move || {
                    let n = shown.with(Vec::len);
                    (n != total).then(|| format!(" · {n} match the filter"))
                }}
            </p>
            <div
                class="table-wrap panel flush"
                class:virtual=virtual_rows
                data-testid="pods-scroll"
                on:scroll=on_scroll
            >
                <table class="data" data-testid="pods-table">
                    <thead>
                        <tr>
                            <th>"Name"</th><th>"Ready"</th><th>"Status"</th><th class="num">"Restarts"</th>
                            <th>"Last termination"</th><th>"Node"</th><th>"IP"</th><th class="num">"Age"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {more.then(|| view! {
                <p class="small">
                    {format!("Showing the first {total} pods. ")}
                    <button data-testid="pods-load-more" on:click=move |_| {
                            let n = untrack(pages);
                            more_pages.set((selector.get_untracked(), n + 1));
                        }>"Load more"</button>
                </p>
            })}
        }
        .into_any()
    });

    let detail = move || {
        pod.get().map(|name| {
            let close = href(selector.get_untracked(), None);
            view! {
                <PodDetailPanel
                    ns=ns_v.get_value()
                    name=name
                    close_href=close
                    can_act=can_act
                    act_hint=act_hint
                    pods_reload=reload
                />
            }
        })
    };

    view! {
        <div class="toolbar">
            <input
                class="mono selector"
                type="search"
                data-testid="pod-selector"
                aria-label="Label selector"
                placeholder="label selector, e.g. app=stream-processor"
                spellcheck="false"
                prop:value=move || selector_text.get()
                on:input=move |ev| selector_text.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" {
                        ev.prevent_default();
                        apply_selector();
                    }
                }
            />
            <button data-testid="pod-selector-apply" title="List only pods with these labels (Enter)" on:click=move |_| apply_selector()>"Select"</button>
            <input
                type="search"
                data-testid="pod-filter"
                aria-label="Filter pods"
                placeholder="filter: name, status, node, IP…"
                prop:value=move || filter.get()
                on:input=move |ev| filter.set(event_target_value(&ev))
            />
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        <Kubectl cmd=cmd />
        {table}
        {detail}
    }
}

/// The rows `[start, end)` to render for a scroll position, with the overscan margin.
fn visible_window(len: usize, scroll_top: f64, viewport: f64) -> (usize, usize) {
    let first = (scroll_top / ROW_HEIGHT).floor().max(0.0) as usize;
    let count = (viewport / ROW_HEIGHT).ceil() as usize + 1;
    let start = first.saturating_sub(OVERSCAN).min(len);
    let end = (first + count + OVERSCAN).min(len);
    (start, end)
}

fn pod_row(
    p: PodSummary,
    selected: Signal<Option<String>>,
    open_pod: impl Fn(Option<String>) + Copy + Send + Sync + 'static,
    base_href: String,
) -> impl IntoView {
    let name = p.name.clone();
    let is_selected = {
        let name = name.clone();
        move || selected.get().as_deref() == Some(name.as_str())
    };
    let link = format!("{base_href}&pod={}", crate::components::k8s_format::url_encode(&name));
    let open = name.clone();
    let data_pod = name.clone();
    let not_ready = p.ready_containers < p.total_containers;
    let termination = p.last_termination.clone().map(|t| {
        let title = format!(
            "exit code {}{}",
            t.exit_code,
            t.finished_at.as_deref().map(|f| format!(", finished {f}")).unwrap_or_default()
        );
        view! { <Badge level=termination_level(&t.reason) text=t.reason.clone() title=title /> }
    });
    view! {
        <tr
            data-testid="pod-row"
            data-pod=data_pod
            class="clickable"
            class:selected=is_selected
            on:click=move |ev| {
                ev.prevent_default();
                open_pod(Some(open.clone()));
            }
        >
            <td><a href=link data-noscroll class="name">{name}</a></td>
            <td class:warn-text=not_ready>{format!("{}/{}", p.ready_containers, p.total_containers)}</td>
            <td><Badge level=pod_status_level(&p.status) text=p.status.clone() /></td>
            <td class="num" class:warn-text={p.restarts > 0}>{p.restarts}</td>
            <td>{termination}</td>
            <td>{p.node.clone().unwrap_or_default()}</td>
            <td class="mono small">{p.ip.clone().unwrap_or_default()}</td>
            <td class="num" title=p.created.clone().unwrap_or_default()>{age(p.age_seconds)}</td>
        </tr>
    }
}

#[component]
fn DeploymentsTab(ns: String, can_act: Signal<bool>, act_hint: Signal<String>) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let deployments = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s_deployments(&ns).await }
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
            <div class="table-wrap panel flush">
                <table class="data" data-testid="deployments-table">
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
                </table>
            </div>
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

#[component]
fn EventsTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    let warnings_only = RwSignal::new(false);
    let events = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s_events(&ns).await }
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
            <div class="table-wrap panel flush">
                <table class="data" data-testid="events-table">
                    <thead>
                        <tr><th>"Type"</th><th>"Reason"</th><th>"Object"</th><th>"Message"</th><th class="num">"Count"</th><th class="num">"Last seen"</th></tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    });

    view! {
        <div class="toolbar">
            <input
                type="search"
                data-testid="events-filter"
                aria-label="Filter events"
                placeholder="filter: reason, object, message…"
                prop:value=move || filter.get()
                on:input=move |ev| filter.set(event_target_value(&ev))
            />
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

fn pod_usage_row(p: PodUsage, cpu_scale: f64, mem_scale: f64) -> impl IntoView {
    let cpu_bar = usage_bar(p.cpu_millicores, p.cpu_request_millicores, p.cpu_limit_millicores, cpu_scale);
    let mem_bar = usage_bar(p.memory_bytes, p.memory_request_bytes, p.memory_limit_bytes, mem_scale);
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "none".to_owned(), f);
    let cpu_title = format!(
        "CPU {} · request {} · limit {}",
        cpu(p.cpu_millicores),
        opt(p.cpu_request_millicores, cpu),
        opt(p.cpu_limit_millicores, cpu)
    );
    let mem_title = format!(
        "Memory {} · request {} · limit {}",
        memory(p.memory_bytes),
        opt(p.memory_request_bytes, memory),
        opt(p.memory_limit_bytes, memory)
    );
    let of_limit = |b: &crate::components::k8s_format::Bar| {
        b.of_limit_pct.map_or_else(|| "no limit".to_owned(), |p| format!("{p:.0}% of limit"))
    };
    let (cpu_sub, mem_sub) = (of_limit(&cpu_bar), of_limit(&mem_bar));
    view! {
        <tr
            data-testid="top-pod-row"
            data-pod=p.name.clone()
            data-cpu=format!("{:.0}", p.cpu_millicores)
            data-memory=format!("{:.0}", p.memory_bytes)
        >
            <td class="name">{p.name.clone()}</td>
            <td><UsageBar bar=cpu_bar text=cpu(p.cpu_millicores) sub=cpu_sub title=cpu_title /></td>
            <td><UsageBar bar=mem_bar text=memory(p.memory_bytes) sub=mem_sub title=mem_title /></td>
        </tr>
    }
}

fn node_usage_row(n: NodeUsage) -> impl IntoView {
    let cpu_bar = capacity_bar(n.cpu_millicores, n.cpu_allocatable_millicores);
    let mem_bar = capacity_bar(n.memory_bytes, n.memory_allocatable_bytes);
    let pct = |b: &crate::components::k8s_format::Bar| {
        b.of_limit_pct.map_or_else(|| "capacity unknown".to_owned(), |p| format!("{p:.0}%"))
    };
    let cpu_text = match n.cpu_allocatable_millicores {
        Some(a) => format!("{} of {}", cpu(n.cpu_millicores), cpu(a)),
        None => cpu(n.cpu_millicores),
    };
    let mem_text = match n.memory_allocatable_bytes {
        Some(a) => format!("{} of {}", memory(n.memory_bytes), memory(a)),
        None => memory(n.memory_bytes),
    };
    let (cpu_sub, mem_sub) = (pct(&cpu_bar), pct(&mem_bar));
    view! {
        <tr data-testid="top-node-row" data-node=n.name.clone()>
            <td class="name">{n.name.clone()}</td>
            <td><UsageBar bar=cpu_bar text=cpu_text.clone() sub=cpu_sub title=format!("CPU {cpu_text} allocatable") /></td>
            <td><UsageBar bar=mem_bar text=mem_text.clone() sub=mem_sub title=format!("Memory {mem_text} allocatable") /></td>
        </tr>
    }
}

#[component]
fn TopTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(true);
    let sort = RwSignal::new(TopSort::Cpu);
    let pods = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s_top_pods(&ns).await }
        },
    );
    let nodes = keyed_resource(move || reload.get(), |_| api::k8s_top_nodes());

    let sort_button = move |by: TopSort, label: &'static str, id: &'static str| {
        view! {
            <button class:active=move || sort.get() == by data-testid=id on:click=move |_| sort.set(by)>{label}</button>
        }
    };

    let arrow = move |label: &'static str, by: TopSort| {
        if sort.get() == by { format!("{label} ▾") } else { label.to_owned() }
    };
    let pod_table = resource_view(pods, "pod usage", move |list| {
        if list.is_empty() {
            return view! { <Empty message="No pod metrics yet (metrics-server reports every 15 s or so)." /> }
                .into_any();
        }
        let cpu_scale = list
            .iter()
            .map(|p| p.cpu_millicores.max(p.cpu_request_millicores.unwrap_or(0.0)))
            .fold(0.0, f64::max);
        let mem_scale = list
            .iter()
            .map(|p| p.memory_bytes.max(p.memory_request_bytes.unwrap_or(0.0)))
            .fold(0.0, f64::max);
        let rows = move || {
            let mut sorted = list.clone();
            sort_top(&mut sorted, sort.get());
            sorted.into_iter().map(|p| pod_usage_row(p, cpu_scale, mem_scale)).collect_view()
        };
        view! {
            <table class="data usage-table" data-testid="top-pods">
                <thead>
                    <tr>
                        <th><button class="link th" title="Sort by name" on:click=move |_| sort.set(TopSort::Name)>{move || arrow("Pod", TopSort::Name)}</button></th>
                        <th><button class="link th" title="Sort by CPU, biggest first" on:click=move |_| sort.set(TopSort::Cpu)>{move || arrow("CPU", TopSort::Cpu)}</button></th>
                        <th><button class="link th" title="Sort by memory, biggest first" on:click=move |_| sort.set(TopSort::Memory)>{move || arrow("Memory", TopSort::Memory)}</button></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    });

    let node_table = resource_view(nodes, "node usage", move |mut list| {
        if list.is_empty() {
            return view! { <Empty message="No node metrics yet." /> }.into_any();
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        view! {
            <table class="data usage-table" data-testid="top-nodes">
                <thead><tr><th>"Node"</th><th>"CPU (of allocatable)"</th><th>"Memory (of allocatable)"</th></tr></thead>
                <tbody>{list.into_iter().map(node_usage_row).collect_view()}</tbody>
            </table>
        }
        .into_any()
    });

    view! {
        <div class="toolbar">
            <span class="muted small">"Sort pods by"</span>
            <span class="tabs inline">
                {sort_button(TopSort::Cpu, "CPU", "top-sort-cpu")}
                {sort_button(TopSort::Memory, "Memory", "top-sort-memory")}
                {sort_button(TopSort::Name, "Name", "top-sort-name")}
            </span>
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        <div class="top-grid">
            <section class="panel">
                <h2 class="section-title">"Nodes"</h2>
                <Kubectl cmd=KUBECTL_TOP_NODES.to_owned() />
                <div class="table-wrap">{node_table}</div>
            </section>
            <section class="panel">
                <h2 class="section-title">"Pods"</h2>
                <Kubectl cmd=kubectl_top_pods(&ns) />
                <p class="legend-note small muted">
                    "Each bar is usage against the container's limit; the tick marks its request. "
                    "Green is within the request, amber above it, red at 90% of the limit or more."
                </p>
                <div class="table-wrap">{pod_table}</div>
            </section>
        </div>
    }
}

#[component]
fn ServicesTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let services = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s_services(&ns).await }
        },
    );
    let table = resource_view(services, "services", move |list| {
        if list.is_empty() {
            return view! { <Empty message=format!("No services in {}.", ns_v.get_value()) /> }.into_any();
        }
        view! {
            <div class="table-wrap panel flush">
                <table class="data" data-testid="services-table">
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
                </table>
            </div>
        }
        .into_any()
    });
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        <Kubectl cmd=kubectl_get(&ns, "services", true, None) />
        {table}
    }
}

#[component]
fn NetworkPoliciesTab(ns: String) -> impl IntoView {
    let ns_v = StoredValue::new(ns.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let policies = keyed_resource(
        move || reload.get(),
        move |_| {
            let ns = ns_v.get_value();
            async move { api::k8s_network_policies(&ns).await }
        },
    );
    let table = resource_view(policies, "network policies", move |list| {
        if list.is_empty() {
            return view! { <Empty message=format!("No network policies in {}: all traffic is allowed.", ns_v.get_value()) /> }
                .into_any();
        }
        view! {
            <div class="table-wrap panel flush">
                <table class="data" data-testid="netpol-table">
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
                </table>
            </div>
        }
        .into_any()
    });
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        <Kubectl cmd=kubectl_get(&ns, "networkpolicies", false, None) />
        {table}
    }
}
