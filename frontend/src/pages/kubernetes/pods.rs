//! The pods tab: `kubectl get pods -o wide` with a label selector and a filter, loaded in pages
//! of 1,000 and virtualised above 300 rows, and the picked pod's detail.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use triage_shared::ApiError;
use triage_shared::commands::kubectl_get;
use triage_shared::k8s::PodSummary;

use super::location::{K8sLocation, Tab};
use super::status::{pod_status_level, termination_level};
use crate::api;
use crate::components::pod_detail::PodDetailPanel;
use crate::format::duration::age;
use crate::format::text::matches_filter;
use crate::format::url::encode;
use crate::widgets::{
    Badge, Empty, FilterInput, Kubectl, RefreshControls, keyed_resource, quiet, resource_view,
};

/// Pods fetched per request (kubectl's own chunk size is 500).
const POD_PAGE: u32 = 1000;
/// Pages fetched at once: up to 50,000 pods (the largest namespaces of large clusters) load
/// without a click; "Load more" goes beyond.
const POD_PAGES: u32 = 50;
/// Above this many rows the table renders only the rows in view (plus a margin).
const VIRTUAL_MIN_ROWS: usize = 300;
/// Height of one pod row in pixels; fixed by `.virtual tr` in the stylesheet.
const ROW_HEIGHT: f64 = 33.0;
/// Rows rendered above and below the visible ones, so fast scrolling shows no gap.
const OVERSCAN: usize = 20;

/// Scrolls the element with `data-testid=id` into view, if there is one.
fn scroll_to_testid(id: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(&format!("[data-testid=\"{id}\"]")).ok().flatten())
    {
        el.scroll_into_view();
    }
}

async fn load_pods(ns: &str, selector: &str, pages: u32) -> Result<(Vec<PodSummary>, bool), ApiError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..pages.max(1) {
        let page = api::k8s::pods(ns, selector, POD_PAGE, token.as_deref()).await?;
        items.extend(page.items);
        token = page.continue_token;
        if token.is_none() {
            break;
        }
    }
    Ok((items, token.is_some()))
}

#[component]
pub fn PodsTab(
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
            <FilterInput testid="pod-filter" label="Filter pods" placeholder="filter: name, status, node, IP…" value=filter />
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
    let link = format!("{base_href}&pod={}", encode(&name));
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
