//! The Overview page: the guide's key metrics of the current environment as live charts, and
//! the firing alerts of every environment, each environment labelled and filled in as its own
//! answer arrives (one whose Prometheus is slow shows "asking…", one that fails says so in words,
//! and neither holds back any other).

use leptos::prelude::*;
use leptos_router::components::A;
use triage_shared::prom::LiveQuery;

use crate::chart::{Chart, Threshold, Unit};
use crate::env::{colours, href, href_in, use_environments};
use crate::env_alerts::{EnvSlot, SlotState, use_env_alerts};
use crate::format::url::encode;
use crate::live::use_live;

struct KeyMetric {
    id: &'static str,
    title: &'static str,
    query: &'static str,
    unit: Unit,
    threshold: Option<(f64, &'static str)>,
}

/// The troubleshooting guide's "monitor key metrics", with its alert thresholds.
const KEY_METRICS: [KeyMetric; 4] = [
    KeyMetric {
        id: "processing-rate",
        title: "Event processing rate",
        query: "sum(rate(events_processed_total[1m]))",
        unit: Unit::PerSecond,
        threshold: None,
    },
    KeyMetric {
        id: "error-rate",
        title: "Error rate",
        query: "sum(rate(events_failed_total[1m])) / sum(rate(events_processed_total[1m]))",
        unit: Unit::Ratio,
        threshold: Some((0.05, "alert")),
    },
    KeyMetric {
        id: "latency-p95",
        title: "Processing latency p95",
        query: "histogram_quantile(0.95, sum by (le) (rate(event_processing_duration_ms_bucket[1m])))",
        unit: Unit::Ms,
        threshold: None,
    },
    KeyMetric {
        id: "consumer-lag",
        title: "Kafka consumer lag (worst partition)",
        query: "max by (group) (kafka_consumer_lag)",
        unit: Unit::Plain,
        threshold: Some((10_000.0, "alert")),
    },
];

fn explore_link(query: &str) -> String {
    crate::env::href(&format!("/explore?query={}&range=1h", encode(query)))
}

#[component]
pub fn Overview() -> impl IntoView {
    let envs = use_environments();
    // Each environment's line fills in as its own answer arrives.
    let slots = use_env_alerts(None);
    let firing = move || {
        slots.with(|slots| {
            if slots.is_empty() {
                return view! { <span class="stat muted">"alerts…"</span> }.into_any();
            }
            let answered = slots.iter().filter(|s| s.alerts.is_some()).count();
            let asking = slots.iter().filter(|s| s.state() == SlotState::Asking).count();
            if answered == 0 && asking == 0 {
                let words: Vec<String> = slots.iter().filter_map(|s| s.error.clone()).collect();
                return view! { <span class="stat error" data-testid="alerts-error">{format!("alerts unavailable: {}", words.join("; "))}</span> }.into_any();
            }
            if answered == 0 {
                return view! { <span class="stat muted">"alerts…"</span> }.into_any();
            }
            let count = |state: &str| slots.iter().map(|s| s.count(state)).sum::<usize>();
            let (n, pending) = (count("firing"), count("pending"));
            let class = if n > 0 { "stat crit" } else { "stat ok" };
            let more = (asking > 0).then(|| {
                let envs = if asking == 1 { "environment" } else { "environments" };
                format!(" · asking {asking} more {envs}…")
            });
            view! {
                <A href=href("/alerts") attr:class=class attr:data-testid="firing-count">
                    <b>{n}</b>" firing"{(pending > 0).then(|| format!(" · {pending} pending"))}{more}
                </A>
            }
            .into_any()
        })
    };
    // Labelled by environment only when there is more than one to tell apart.
    let by_env = move || {
        let slots = slots.get();
        (slots.len() > 1 || slots.iter().any(|s| s.env.is_some() && s.error.is_some())).then(|| {
            view! {
                <section class="panel env-alerts" data-testid="env-alerts" aria-label="Firing alerts by environment">
                    <h2 class="section-title">"Firing alerts by environment"</h2>
                    <ul class="env-alert-list">{slots.into_iter().map(env_alerts_item).collect_view()}</ul>
                </section>
            }
        })
    };
    view! {
        <section data-testid="page-overview">
            <div class="page-head">
                <h1>"Overview"</h1>
                {firing}
            </div>
            {by_env}
            <p class="muted">{move || match envs.current_name() {
                Some(env) => format!("{env}: last 30 minutes, refreshed every 5 seconds."),
                None => "Last 30 minutes, refreshed every 5 seconds.".to_owned(),
            }}</p>
            <div class="grid">
                {KEY_METRICS
                    .iter()
                    .map(|m| {
                        let state = use_live(LiveQuery { query: m.query.to_owned(), step: 15, window: 1800, interval: 5 });
                        let thresholds: Vec<Threshold> = m
                            .threshold
                            .iter()
                            .map(|(value, label)| Threshold { value: *value, label: (*label).to_owned() })
                            .collect();
                        view! {
                            <article class="panel card" data-testid=format!("card-{}", m.id)>
                                <header class="card-head">
                                    <h2>{m.title}</h2>
                                    <A href=explore_link(m.query) attr:class="small" attr:title="Open this query in Explore">"Explore →"</A>
                                </header>
                                <Chart state=state unit=m.unit thresholds=thresholds height=200 testid=format!("chart-{}", m.id) />
                                <code class="query">{m.query}</code>
                            </article>
                        }
                    })
                    .collect_view()}
            </div>
        </section>
    }
}

/// One environment's line: its name in its colour, then its firing alerts, "asking…" while its
/// first answer is out, or why it could not be read.
fn env_alerts_item(slot: EnvSlot) -> impl IntoView {
    let name = slot.name();
    let state = slot.state();
    let (background, foreground) = colours(slot.colour.as_deref().unwrap_or(""));
    let link = match &slot.env {
        Some(env) => href_in("/alerts", env),
        None => href("/alerts"),
    };
    let body = match (slot.error, slot.alerts) {
        (Some(e), _) => view! {
            <span class="error" role="alert" data-testid="env-alerts-error">
                {format!("alerts unavailable: {e}")}
            </span>
        }
        .into_any(),
        (None, None) => {
            view! { <span class="muted" data-testid="env-alerts-asking">"asking…"</span> }.into_any()
        }
        (None, Some(list)) => {
            let mut names: Vec<String> = list
                .iter()
                .filter(|a| a.state == "firing")
                .map(|a| a.labels.get("alertname").cloned().unwrap_or_else(|| "(unnamed)".to_owned()))
                .collect();
            names.sort();
            if names.is_empty() {
                view! { <span class="ok-text" data-testid="env-alerts-count">"none firing"</span> }.into_any()
            } else {
                view! {
                    <span class="crit-text" data-testid="env-alerts-count">{format!("{} firing: ", names.len())}</span>
                    {names.into_iter().map(|n| view! { <code class="label">{n}</code>" " }).collect_view()}
                }
                .into_any()
            }
        }
    };
    let attr_env = name.clone();
    view! {
        <li data-testid="env-alerts-row" data-env=attr_env data-state=state.as_str()>
            <a href=link class="env-chip" style:background=background style:color=foreground>{name}</a>
            " "
            {body}
        </li>
    }
}
