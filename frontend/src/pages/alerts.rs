//! The Alerts page: firing and pending alerts from Prometheus, grouped by state, each linked to
//! the flow that answers it (its `runbook_url` when that points at this Triage, otherwise the
//! runbooks that list its name). Reloads every 15 s and says how fresh it is.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;
use triage_shared::prom::Alert;
use triage_shared::runbook::RunbookSummary;

use crate::api;
use crate::components::k8s_widgets::{Badge, Empty, ErrorBox, Loading};
use crate::components::runbook_format::{
    ago, alert_flow_links, external_runbook_url, severity_level, sort_alerts,
};

const REFRESH_SECS: u64 = 15;

fn now_secs() -> f64 {
    js_sys::Date::now() / 1000.0
}

fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

#[component]
pub fn Alerts() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let alerts = LocalResource::new(move || {
        reload.track();
        async move { (api::alerts().await, now_secs()) }
    });
    // The runbooks change rarely; a failure only loses the name-based links.
    let runbooks = LocalResource::new(api::runbooks);
    let now = RwSignal::new(now_secs());

    let tick = set_interval_with_handle(move || now.set(now_secs()), Duration::from_secs(1)).ok();
    let refresh = set_interval_with_handle(
        move || reload.update(|n| *n = n.wrapping_add(1)),
        Duration::from_secs(REFRESH_SECS),
    )
    .ok();
    on_cleanup(move || {
        if let Some(h) = tick {
            h.clear();
        }
        if let Some(h) = refresh {
            h.clear();
        }
    });

    // The last good answer stays on screen while a reload runs or fails; an unchanged answer
    // only moves the "updated" time, so the table is not rebuilt under the reader's pointer.
    let last_good = RwSignal::new(None::<Vec<Alert>>);
    let fetched_at = RwSignal::new(None::<f64>);
    let last_error = RwSignal::new(None::<String>);
    Effect::new(move |_| match alerts.get() {
        Some((Ok(list), at)) => {
            if last_good.with_untracked(|old| old.as_ref() != Some(&list)) {
                last_good.set(Some(list));
            }
            fetched_at.set(Some(at));
            last_error.set(None);
        }
        Some((Err(e), _)) => last_error.set(Some(e.message)),
        None => {}
    });

    let books = move || runbooks.get().and_then(Result::ok).unwrap_or_default();
    let freshness = move || {
        fetched_at.get().map(|at| {
            view! {
                <span class="small muted" data-testid="alerts-updated">
                    {format!("updated {} ago · every {REFRESH_SECS} s", ago(now.get() - at))}
                </span>
            }
        })
    };

    let content = move || {
        let Some(mut list) = last_good.get() else {
            return match last_error.get() {
                Some(e) => view! { <ErrorBox what="the alerts" message=e /> }.into_any(),
                None => view! { <Loading what="the alerts" /> }.into_any(),
            };
        };
        if list.is_empty() {
            return view! { <Empty message="No alert is firing or pending. Prometheus evaluates its rules on its own schedule; this page reloads every 15 s." /> }.into_any();
        }
        sort_alerts(&mut list);
        let books = books();
        let origin = origin();
        let (firing, pending): (Vec<Alert>, Vec<Alert>) = list.into_iter().partition(|a| a.state == "firing");
        view! {
            <AlertGroup state="firing" title="Firing" alerts=firing books=books.clone() origin=origin.clone() now=now />
            <AlertGroup state="pending" title="Pending" alerts=pending books=books origin=origin now=now />
        }
        .into_any()
    };

    view! {
        <section data-testid="page-alerts">
            <div class="page-head">
                <h1>"Alerts"</h1>
                {freshness}
                <span class="spacer"></span>
                <button data-testid="refresh-button" title="Load again now" on:click=move |_| reload.update(|n| *n = n.wrapping_add(1))>
                    "↻ Refresh"
                </button>
            </div>
            {move || last_error.get().filter(|_| last_good.with(Option::is_some)).map(|e| view! {
                <div class="panel error state-msg" role="alert" data-testid="alerts-error">
                    {format!("The last reload failed: {e}. Showing the previous answer.")}
                </div>
            })}
            {move || runbooks.get().and_then(Result::err).map(|e| view! {
                <p class="small warn-text">{format!("The runbooks could not be loaded ({}); alerts link only through their runbook_url.", e.message)}</p>
            })}
            {content}
        </section>
    }
}

#[component]
fn AlertGroup(
    state: &'static str,
    title: &'static str,
    alerts: Vec<Alert>,
    books: Vec<RunbookSummary>,
    origin: String,
    now: RwSignal<f64>,
) -> impl IntoView {
    if alerts.is_empty() {
        return ().into_any();
    }
    let count = alerts.len();
    view! {
        <section class="alert-group" data-testid=format!("alerts-{state}")>
            <h2 class="section-title">{format!("{title} ({count})")}</h2>
            <div class="table-wrap panel flush">
                <table class="data alerts-table">
                    <thead><tr><th>"Alert"</th><th>"Severity"</th><th>"Labels"</th><th>"Active since"</th><th>"Flow"</th></tr></thead>
                    <tbody>
                        {alerts.into_iter().map(|a| view! { <AlertRow alert=a books=books.clone() origin=origin.clone() now=now /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn AlertRow(alert: Alert, books: Vec<RunbookSummary>, origin: String, now: RwSignal<f64>) -> impl IntoView {
    let name = alert.labels.get("alertname").cloned().unwrap_or_else(|| "(unnamed)".to_owned());
    let severity = alert.labels.get("severity").cloned().unwrap_or_else(|| "none".to_owned());
    let links = alert_flow_links(&alert, &books, &origin);
    let external = external_runbook_url(&alert, &origin);
    let since = alert.active_at.as_deref().map(|t| js_sys::Date::parse(t) / 1000.0).filter(|t| t.is_finite());
    let since_title = alert.active_at.clone().unwrap_or_default();
    let summary = alert.annotations.get("summary").cloned();
    let description = alert.annotations.get("description").cloned();
    let labels: Vec<(String, String)> = alert
        .labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (attr_name, attr_state) = (name.clone(), alert.state.clone());
    view! {
        <tr data-testid="alert-row" data-alert=attr_name data-state=attr_state>
            <td>
                <div class="name">{name}</div>
                {summary.map(|s| view! { <div class="small">{s}</div> })}
                {description.map(|d| view! { <div class="small muted">{d}</div> })}
                {alert.value.clone().map(|v| view! { <div class="small muted">{format!("value {}", readable_value(&v))}</div> })}
            </td>
            <td><Badge level=severity_level(&severity) text=severity.clone() /></td>
            <td class="annotations">
                {labels.into_iter().map(|(k, v)| view! { <code class="label">{format!("{k}={v}")}</code>" " }).collect_view()}
            </td>
            <td class="nowrap" title=since_title>
                {move || since.map(|t| format!("{} ago", ago(now.get() - t))).unwrap_or_else(|| "—".to_owned())}
            </td>
            <td>
                {if links.is_empty() {
                    view! { <span class="muted small" data-testid="no-flow">"no flow lists this alert"</span> }.into_any()
                } else {
                    links.into_iter().map(|l| view! {
                        <div><A href=l.href attr:data-testid="alert-flow-link">{format!("{} →", l.title)}</A></div>
                    }).collect_view().into_any()
                }}
                {external.map(|u| view! { <div class="small"><a href=u rel="noopener noreferrer" target="_blank">"runbook ↗"</a></div> })}
            </td>
        </tr>
    }
}

/// Prometheus prints values like `1.0308901270153733e+01`; show `10.31`.
fn readable_value(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() >= 1e-3 && v.abs() < 1e12 => {
            let s = format!("{v:.2}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        _ => text.to_owned(),
    }
}
