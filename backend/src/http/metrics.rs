//! Triage's own `/metrics`: request count and latency histogram by route and status, and what
//! callers hold open now, in the Prometheus text exposition format (version 0.0.4), written by
//! the `prometheus-client` crate.
//!
//! The route label is the matched route template (`/api/runbooks/{id}`), never the raw path,
//! and invented methods share the label `other`, so label cardinality stays bounded whatever
//! requests clients send.

use std::time::Instant;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::limits::Limiter;
use crate::prometheus::live::LiveHub;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The labels of one request series, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Registry of HTTP request metrics; one per application. Once a series exists, recording a
/// request takes only the family's shared read lock and increments atomics; the write lock is
/// taken once per new label set.
#[derive(Debug)]
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations =
            Family::<RequestLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let mut registry = Registry::default();
        // The registry adds the final period of each help text, and `_total` to counters.
        registry.register(
            "triage_http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "triage_http_request_duration_seconds",
            "HTTP request latency, by route and status",
            durations.clone(),
        );
        Self { registry, requests, durations }
    }
}

impl HttpMetrics {
    /// Records one answered request. `method` is a label from [`method_label`] (or a test's).
    fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels { method, route: route.to_owned(), status };
        self.requests.get_or_create(&labels).inc();
        self.durations.get_or_create(&labels).observe(seconds);
    }

    /// Renders every request series in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry) {
            // Writing into a String cannot fail; a label set the encoder refuses would be a bug.
            tracing::error!("encoding the request metrics failed: {e}");
        }
        out
    }
}

/// What callers hold open at the moment of a scrape.
#[derive(Debug)]
struct HeldNow {
    streams: i64,
    runs: i64,
    /// `(distinct live queries, upstream polls made)`, when live queries are configured.
    live: Option<(i64, u64)>,
}

impl Collector for HeldNow {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut gauge = |name: &str, help: &str, value: i64| {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
        };
        gauge("triage_event_streams", "Server-sent event streams open now.", self.streams)?;
        gauge("triage_runbook_runs_in_progress", "Runbook runs whose checks are still running.", self.runs)?;
        if let Some((queries, polls)) = self.live {
            gauge("triage_live_queries", "Distinct live queries being polled now.", queries)?;
            let counter = ConstCounter::new(polls);
            counter.encode(encoder.encode_descriptor(
                "triage_live_polls",
                "Upstream polls made for live queries.",
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// Appends what callers hold open now, so a limit being approached shows on a dashboard.
pub fn render_gauges<'a>(
    out: &mut String,
    streams: &Limiter,
    runs: &Limiter,
    live: impl Iterator<Item = &'a LiveHub>,
) {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let (streams, _) = streams.held("");
    let (runs, _) = runs.held("");
    // Summed over the environments' hubs; absent when no environment has Prometheus.
    let live = live.fold(None, |sum: Option<(i64, u64)>, live| {
        let (queries, polls) = sum.unwrap_or_default();
        Some((queries + count(live.active_queries()), polls + live.poll_count()))
    });
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HeldNow { streams: count(streams), runs: count(runs), live }));
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(out, &registry) {
        tracing::error!("encoding the held-now gauges failed: {e}");
    }
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
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    // Unmatched paths (static assets, SPA fallback) share one label.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(fallback)".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.observe(method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
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
        m.observe("GET", "/api/version", 200, 0.003);
        m.observe("GET", "/api/version", 200, 0.3);
        let text = m.render();
        let series = r#"method="GET",route="/api/version",status="200""#;
        for line in [
            "# HELP triage_http_requests_total HTTP requests answered, by route and status.".to_owned(),
            "# TYPE triage_http_requests_total counter".to_owned(),
            format!("triage_http_requests_total{{{series}}} 2"),
            "# TYPE triage_http_request_duration_seconds histogram".to_owned(),
            format!("triage_http_request_duration_seconds_bucket{{{series},le=\"0.0025\"}} 0"),
            format!("triage_http_request_duration_seconds_bucket{{{series},le=\"0.005\"}} 1"),
            format!("triage_http_request_duration_seconds_bucket{{{series},le=\"0.5\"}} 2"),
            format!("triage_http_request_duration_seconds_bucket{{{series},le=\"10\"}} 2"),
            format!("triage_http_request_duration_seconds_bucket{{{series},le=\"+Inf\"}} 2"),
            format!("triage_http_request_duration_seconds_sum{{{series}}} 0.303"),
            format!("triage_http_request_duration_seconds_count{{{series}}} 2"),
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
        assert!(!text.contains("# EOF"), "the 0.0.4 text format has no EOF marker: {text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = HttpMetrics::default();
        m.observe("GET", "/a\"b\\c\nd", 200, 0.001);
        let text = m.render();
        assert!(text.contains(r#"route="/a\"b\\c\nd""#), "{text}");
    }

    #[test]
    fn held_now_gauges_and_the_poll_counter() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(HeldNow { streams: 2, runs: 0, live: Some((3, 41)) }));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).expect("encodes");
        for line in [
            "# HELP triage_event_streams Server-sent event streams open now.",
            "# TYPE triage_event_streams gauge",
            "triage_event_streams 2",
            "triage_runbook_runs_in_progress 0",
            "triage_live_queries 3",
            "# TYPE triage_live_polls_total counter",
            "triage_live_polls_total 41",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
    }
}
