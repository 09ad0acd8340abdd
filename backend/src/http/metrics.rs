//! Triage's own `/metrics`: request count and latency histogram by route and status, in the
//! Prometheus text exposition format.
//!
//! The route label is the matched route template (`/api/runbooks/{id}`), never the raw path,
//! so label cardinality stays bounded whatever URLs clients send.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Registry of HTTP request metrics; one per application.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<SeriesKey, Histogram>>,
}

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let key = SeriesKey { method: method.to_owned(), route: route.to_owned(), status };
        let seconds = elapsed.as_secs_f64();
        // A poisoned lock only means another request panicked mid-update; counts are still usable.
        let mut series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = series.entry(key).or_default();
        h.count += 1;
        h.sum += seconds;
        for (bound, slot) in BUCKETS.iter().zip(h.counts.iter_mut()) {
            if seconds <= *bound {
                *slot += 1;
            }
        }
    }

    /// Renders every series in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP triage_http_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE triage_http_requests_total counter\n");
        for (k, h) in series.iter() {
            let _ = writeln!(out, "triage_http_requests_total{{{}}} {}", labels(k), h.count);
        }
        out.push_str(
            "# HELP triage_http_request_duration_seconds HTTP request latency, by route and status.\n",
        );
        out.push_str("# TYPE triage_http_request_duration_seconds histogram\n");
        for (k, h) in series.iter() {
            let l = labels(k);
            for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ =
                    writeln!(out, "triage_http_request_duration_seconds_bucket{{{l},le=\"{bound}\"}} {n}");
            }
            let _ =
                writeln!(out, "triage_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "triage_http_request_duration_seconds_sum{{{l}}} {}", h.sum);
            let _ = writeln!(out, "triage_http_request_duration_seconds_count{{{l}}} {}", h.count);
        }
        out
    }
}

fn labels(k: &SeriesKey) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{}\"",
        escape_label(&k.method),
        escape_label(&k.route),
        k.status
    )
}

/// Appends what callers hold open now, so a limit being approached shows on a dashboard.
pub fn render_gauges(out: &mut String, state: &AppState) {
    let (streams, _) = state.streams.held("");
    let (runs, _) = state.runs.held("");
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    };
    gauge("triage_event_streams", "Server-sent event streams open now.", streams as f64);
    gauge("triage_runbook_runs_in_progress", "Runbook runs whose checks are still running.", runs as f64);
    if let Ok(live) = state.live() {
        gauge("triage_live_queries", "Distinct live queries being polled now.", live.active_queries() as f64);
        let _ = writeln!(
            out,
            "# HELP triage_live_polls_total Upstream polls made for live queries.\n# TYPE triage_live_polls_total counter\ntriage_live_polls_total {}",
            live.poll_count()
        );
    }
}

/// Escapes a label value per the exposition format: backslash, double quote and newline.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The method as a label: the standard ones by name, any invented method as `other`, so a
/// client cannot add series by sending `FOO1`, `FOO2`, ….
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

/// Middleware recording every request that reaches the router.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    // Unmatched paths (static assets, SPA fallback) share one label.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(fallback)".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let invented = axum::http::Method::from_bytes(b"FOO1").expect("a token");
        assert_eq!(method_label(&invented), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = HttpMetrics::default();
        m.observe("GET", "/api/version", 200, Duration::from_millis(3));
        m.observe("GET", "/api/version", 200, Duration::from_millis(300));
        let text = m.render();
        assert!(
            text.contains(
                "triage_http_requests_total{method=\"GET\",route=\"/api/version\",status=\"200\"} 2"
            )
        );
        assert!(text.contains("route=\"/api/version\",status=\"200\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("route=\"/api/version\",status=\"200\",le=\"0.5\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
