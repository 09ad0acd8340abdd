//! `/bench/chart?points=N&series=S&runs=R`: draws synthetic series with the chart's own code once,
//! then times R redraws with new data (until painted) and reports the median, for
//! `cargo xtask bench` to compare with uPlot's `setData` in the same browser. Built only with the
//! `bench` feature; not linked from the navigation.

use std::collections::BTreeMap;

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use triage_shared::prom::Series;

use crate::chart::time_redraws;

/// The same data the benchmark feeds uPlot: S series of N/S points, one per second, shifted by
/// `phase` (so each redraw has new values).
pub fn synthetic(points: usize, series: usize, phase: f64) -> Vec<Series> {
    let per = points / series.max(1);
    (0..series)
        .map(|s| {
            let mut labels = BTreeMap::new();
            labels.insert("series".to_owned(), s.to_string());
            let pts = (0..per)
                .map(|i| {
                    let x = i as f64;
                    [
                        1.7e9 + x,
                        (x / 500.0 + s as f64 + phase).sin() * 100.0
                            + (x / 37.0).cos() * 10.0
                            + s as f64 * 10.0,
                    ]
                })
                .collect();
            Series { labels, points: pts, last_text: None }
        })
        .collect()
}

#[component]
pub fn ChartBench() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str, default: usize| {
        query.get_untracked().get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let (points, series, runs) = (get("points", 10_000), get("series", 1), get("runs", 7));
    let canvas = NodeRef::<Canvas>::new();
    let result = RwSignal::new(None::<(f64, Vec<f64>)>);
    Effect::new(move |_| {
        let Some(c) = canvas.get() else { return };
        let data = [synthetic(points, series, 0.0), synthetic(points, series, 1.0)];
        let mut times = time_redraws(&c, 1000, 300, [&data[0], &data[1]], runs);
        let all = times.clone();
        times.sort_by(f64::total_cmp);
        result.set(Some((times[times.len() / 2], all)));
    });
    view! {
        <section data-testid="page-bench">
            <h1>"Chart benchmark"</h1>
            <p>{format!("{points} points in {series} series, drawn once, then {runs} redraws")}</p>
            <canvas node_ref=canvas width="1000" height="300" style="width:1000px;height:300px"></canvas>
            {move || result.get().map(|(median, all)| view! {
                <p data-testid="bench-result" data-median-ms=format!("{median:.3}")>
                    {format!("median {median:.2} ms; runs {all:.2?}")}
                </p>
            })}
        </section>
    }
}
