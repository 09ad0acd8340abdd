//! The Overview page: the guide's key metrics as live charts, with the firing alerts count.

use leptos::prelude::*;
use leptos_router::components::A;
use triage_shared::prom::LiveQuery;

use crate::api;
use crate::chart::{Chart, Threshold, Unit};
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
    let alerts = LocalResource::new(api::prom::alerts);
    let firing = move || {
        alerts.get().map(|r| match r {
            Ok(list) => {
                let n = list.iter().filter(|a| a.state == "firing").count();
                let pending = list.iter().filter(|a| a.state == "pending").count();
                let class = if n > 0 { "stat crit" } else { "stat ok" };
                view! {
                    <A href="/alerts" attr:class=class attr:data-testid="firing-count">
                        <b>{n}</b>" firing"{(pending > 0).then(|| format!(" · {pending} pending"))}
                    </A>
                }
                .into_any()
            }
            Err(e) => view! { <span class="stat error" data-testid="alerts-error">{format!("alerts unavailable: {}", e.message)}</span> }.into_any(),
        })
    };
    view! {
        <section data-testid="page-overview">
            <div class="page-head">
                <h1>"Overview"</h1>
                <Suspense fallback=|| view! { <span class="stat muted">"alerts…"</span> }>{firing}</Suspense>
            </div>
            <p class="muted">"Last 30 minutes, refreshed every 5 seconds."</p>
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
