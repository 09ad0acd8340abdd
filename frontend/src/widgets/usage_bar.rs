//! Usage bars: usage against a limit or a capacity, with a marker at the request.

use leptos::prelude::*;

use crate::format::units::percent;
use crate::widgets::badge::Level;

/// A usage bar: how full (0–100 % of the scale), where the request sits, and the colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub fill_pct: f64,
    pub request_pct: Option<f64>,
    /// Usage as a percentage of the limit, when there is one.
    pub of_limit_pct: Option<f64>,
    pub level: Level,
}

/// The bar is drawn against the limit; without one, against `fallback_scale` (e.g. the largest
/// value in the column). Over the request is amber, at 90 % of the limit or more red.
pub fn usage_bar(usage: f64, request: Option<f64>, limit: Option<f64>, fallback_scale: f64) -> Bar {
    let limit = limit.filter(|l| *l > 0.0);
    let request = request.filter(|r| *r > 0.0);
    let scale = limit.unwrap_or(fallback_scale.max(usage).max(request.unwrap_or(0.0)));
    let pct = |v: f64| if scale > 0.0 { (v / scale * 100.0).clamp(0.0, 100.0) } else { 0.0 };
    let of_limit_pct = percent(usage, limit);
    let level = if of_limit_pct.is_some_and(|p| p >= 90.0) {
        Level::Crit
    } else if request.is_some_and(|r| usage > r) {
        Level::Warn
    } else {
        Level::Ok
    };
    Bar { fill_pct: pct(usage), request_pct: request.map(pct), of_limit_pct, level }
}

/// A plain "x % of capacity" bar (nodes, connections): amber from 75 %, red from 90 %.
pub fn capacity_bar(used: f64, total: Option<f64>) -> Bar {
    let p = percent(used, total);
    let level = match p {
        Some(p) if p >= 90.0 => Level::Crit,
        Some(p) if p >= 75.0 => Level::Warn,
        Some(_) => Level::Ok,
        None => Level::Neutral,
    };
    Bar { fill_pct: p.unwrap_or(0.0).clamp(0.0, 100.0), request_pct: None, of_limit_pct: p, level }
}

/// A horizontal bar: usage against a scale (limit or capacity), with a marker at the request.
#[component]
pub fn UsageBar(
    bar: Bar,
    /// The figure shown next to the bar, e.g. `250m`.
    #[prop(into)]
    text: String,
    /// Smaller text after it, e.g. `25% of limit`.
    #[prop(into)]
    sub: String,
    /// The full read-out, on hover.
    #[prop(into)]
    title: String,
) -> impl IntoView {
    view! {
        <div class="usage" title=title>
            <div class="usage-track">
                <div class=format!("usage-fill {}", bar.level.class()) style=format!("width: {:.1}%", bar.fill_pct)></div>
                {bar.request_pct.map(|r| view! { <div class="usage-marker" style=format!("left: {r:.1}%")></div> })}
            </div>
            <span class="usage-text">{text}" "<span class="muted">{sub}</span></span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_limit_and_mark_the_request() {
        let b = usage_bar(250.0, Some(500.0), Some(1000.0), 0.0);
        assert_eq!(
            (b.fill_pct, b.request_pct, b.of_limit_pct, b.level),
            (25.0, Some(50.0), Some(25.0), Level::Ok)
        );
        assert_eq!(usage_bar(600.0, Some(500.0), Some(1000.0), 0.0).level, Level::Warn);
        assert_eq!(usage_bar(950.0, Some(500.0), Some(1000.0), 0.0).level, Level::Crit);
        // Over the limit: the bar is full, not wider.
        assert_eq!(usage_bar(1500.0, None, Some(1000.0), 0.0).fill_pct, 100.0);
        // No limit: against the column's largest value.
        let b = usage_bar(100.0, Some(50.0), None, 400.0);
        assert_eq!((b.fill_pct, b.request_pct, b.of_limit_pct), (25.0, Some(12.5), None));
        assert_eq!(usage_bar(0.0, None, None, 0.0).fill_pct, 0.0);
        assert_eq!(capacity_bar(80.0, Some(100.0)).level, Level::Warn);
        assert_eq!(capacity_bar(10.0, None).level, Level::Neutral);
    }
}
