//! Explore: free PromQL over a chosen range, as a chart or a table, with Prometheus's own error
//! text inline. The URL holds the whole view (`?query=…&range=1h&step=…&view=chart`), so it
//! can be shared; past queries are kept in this browser's history.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use triage_shared::prom::{QueryResult, ResultType};

use crate::api;
use crate::chart::{Chart, ChartState, Unit};
use crate::format::time::{now_unix, parse_unix};
use crate::format::url::encode;

const HISTORY_KEY: &str = "triage.explore.history";
const RANGES: [(&str, f64); 7] = [
    ("5m", 300.0),
    ("15m", 900.0),
    ("1h", 3600.0),
    ("6h", 21_600.0),
    ("24h", 86_400.0),
    ("7d", 604_800.0),
    ("custom", 0.0),
];

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

fn load_history() -> Vec<String> {
    storage()
        .and_then(|s| s.get_item(HISTORY_KEY).ok().flatten())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn remember(query: &str) -> Vec<String> {
    let mut history = load_history();
    history.retain(|q| q != query);
    history.insert(0, query.to_owned());
    history.truncate(20);
    if let (Some(s), Ok(text)) = (storage(), serde_json::to_string(&history)) {
        let _ = s.set_item(HISTORY_KEY, &text);
    }
    history
}

/// The view the URL describes.
#[derive(Debug, Clone, PartialEq)]
struct View {
    query: String,
    range: String,
    start: f64,
    end: f64,
    step: f64,
    table: bool,
}

/// A step giving about 300 points over the range, at least 1 s.
fn auto_step(span: f64) -> f64 {
    (span / 300.0).ceil().max(1.0)
}

#[component]
pub fn Explore() -> impl IntoView {
    let params = use_query_map();
    let navigate = use_navigate();
    let view_from_url = move || {
        let p = params.get();
        let query = p.get("query").unwrap_or_default();
        let range = p.get("range").unwrap_or_else(|| "1h".to_owned());
        let (start, end) =
            match (p.get("start").and_then(|s| s.parse().ok()), p.get("end").and_then(|s| s.parse().ok())) {
                (Some(s), Some(e)) if range == "custom" => (s, e),
                _ => {
                    let span = RANGES.iter().find(|(n, _)| *n == range).map_or(3600.0, |(_, s)| *s).max(60.0);
                    let end = now_unix().floor();
                    (end - span, end)
                }
            };
        let step = p
            .get("step")
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(auto_step(end - start));
        View { query, range, start, end, step, table: p.get("view").as_deref() == Some("table") }
    };

    // The editor's fields, initialised from the URL.
    let initial = view_from_url();
    let text = RwSignal::new(initial.query.clone());
    let range = RwSignal::new(initial.range.clone());
    let step_text = RwSignal::new(params.get_untracked().get("step").unwrap_or_default());
    let custom_start = RwSignal::new(String::new());
    let custom_end = RwSignal::new(String::new());
    let history = RwSignal::new(load_history());

    let result = LocalResource::new(move || {
        let v = view_from_url();
        async move {
            if v.query.trim().is_empty() {
                return None;
            }
            let answer = if v.table {
                api::prom::query(&v.query, Some(v.end)).await
            } else {
                api::prom::query_range(&v.query, v.start, v.end, v.step).await
            };
            Some((v, answer))
        }
    });

    let run = {
        let navigate = navigate.clone();
        move || {
            let q = text.get_untracked();
            if q.trim().is_empty() {
                return;
            }
            history.set(remember(&q));
            let mut url = format!("/explore?query={}&range={}", encode(&q), encode(&range.get_untracked()));
            if range.get_untracked() == "custom" {
                let parse = |s: String| parse_unix(&s);
                let (s, e) = (parse(custom_start.get_untracked()), parse(custom_end.get_untracked()));
                if s.is_finite() && e.is_finite() {
                    url.push_str(&format!("&start={s}&end={e}"));
                }
            }
            let step = step_text.get_untracked();
            if !step.trim().is_empty() {
                url.push_str(&format!("&step={}", encode(step.trim())));
            }
            if view_from_url().table {
                url.push_str("&view=table");
            }
            navigate(&crate::env::href(&url), Default::default());
        }
    };
    let run_click = run.clone();
    let run_key = run.clone();

    let set_view = {
        let navigate = navigate.clone();
        move |table: bool| {
            let v = view_from_url();
            let mut url = format!("/explore?query={}&range={}", encode(&v.query), encode(&v.range));
            if v.range == "custom" {
                url.push_str(&format!("&start={}&end={}", v.start, v.end));
            }
            if table {
                url.push_str("&view=table");
            }
            navigate(&crate::env::href(&url), Default::default());
        }
    };
    let set_chart = set_view.clone();

    let chart_state = Signal::derive(move || match result.get() {
        None => ChartState::Loading,
        Some(None) => ChartState::Ready(vec![]),
        Some(Some((_, Ok(r)))) => ChartState::Ready(r.series),
        Some(Some((_, Err(e)))) => ChartState::Error(e.message),
    });

    view! {
        <section data-testid="page-explore">
            <h1>"Explore"</h1>
            <div class="panel explore-editor">
                <textarea
                    data-testid="promql-input"
                    rows="3"
                    spellcheck="false"
                    placeholder="PromQL, e.g. sum(rate(events_processed_total[5m]))"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                            ev.prevent_default();
                            run_key();
                        }
                    }
                ></textarea>
                <div class="explore-controls">
                    <label>"Range "
                        <select data-testid="range-select" on:change=move |ev| range.set(event_target_value(&ev)) prop:value=move || range.get()>
                            {RANGES.iter().map(|(name, _)| view! { <option value=*name>{*name}</option> }).collect_view()}
                        </select>
                    </label>
                    <Show when=move || range.get() == "custom">
                        <input type="datetime-local" data-testid="custom-start" on:input=move |ev| custom_start.set(event_target_value(&ev)) />
                        <input type="datetime-local" data-testid="custom-end" on:input=move |ev| custom_end.set(event_target_value(&ev)) />
                    </Show>
                    <label>"Step (s) "
                        <input class="step" data-testid="step-input" placeholder="auto" prop:value=move || step_text.get()
                            on:input=move |ev| step_text.set(event_target_value(&ev)) />
                    </label>
                    <button class="primary" data-testid="run-query" title="Run (Ctrl+Enter)" on:click=move |_| run_click()>"Run"</button>
                    <span class="tabs">
                        <button class:active=move || !view_from_url().table data-testid="view-chart" on:click=move |_| set_chart(false)>"Chart"</button>
                        <button class:active=move || view_from_url().table data-testid="view-table" on:click=move |_| set_view(true)>"Table"</button>
                    </span>
                </div>
            </div>
            {move || {
                if view_from_url().table {
                    view! { <ResultTable result=result /> }.into_any()
                } else {
                    view! { <div class="panel"><Chart state=chart_state unit=Unit::Plain height=360 testid="explore-chart" /></div> }.into_any()
                }
            }}
            <details class="panel history" data-testid="query-history">
                <summary>"History"</summary>
                <ul>
                    {move || history.get().into_iter().map(|q| {
                        let set = q.clone();
                        view! { <li><button class="link" on:click=move |_| text.set(set.clone())><code>{q}</code></button></li> }
                    }).collect_view()}
                </ul>
            </details>
        </section>
    }
}

#[component]
fn ResultTable(
    result: LocalResource<Option<(View, Result<QueryResult, triage_shared::ApiError>)>>,
) -> impl IntoView {
    move || match result.get() {
        None => view! { <p class="muted">"Running…"</p> }.into_any(),
        Some(None) => view! { <p class="muted">"Type a query and press Run."</p> }.into_any(),
        Some(Some((_, Err(e)))) => {
            view! { <div class="panel error" role="alert" data-testid="query-error">{e.message}</div> }
                .into_any()
        }
        Some(Some((_, Ok(r)))) => {
            let scalar = matches!(r.result_type, ResultType::Scalar | ResultType::String);
            view! {
                <table class="panel results" data-testid="result-table">
                    <thead><tr><th>{if scalar { "Result" } else { "Series" }}</th><th>"Value"</th></tr></thead>
                    <tbody>
                        {r.series.into_iter().map(|s| view! {
                            <tr><td><code>{s.display_name()}</code></td><td>{s.last_text.clone().unwrap_or_default()}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }
    }
}
