//! Typed calls to `/api/prom/*` and the path of `/api/live`: Prometheus through Triage.

use triage_shared::ApiError;
use triage_shared::prom::{Alert, LiveQuery, QueryResult};

use super::get_json;
use crate::format::url::encode;

pub async fn query_range(query: &str, start: f64, end: f64, step: f64) -> Result<QueryResult, ApiError> {
    get_json(&format!(
        "/api/prom/query_range?query={}&start={start:.3}&end={end:.3}&step={step}",
        encode(query)
    ))
    .await
}

pub async fn query(query: &str, time: Option<f64>) -> Result<QueryResult, ApiError> {
    let mut url = format!("/api/prom/query?query={}", encode(query));
    if let Some(t) = time {
        url.push_str(&format!("&time={t:.3}"));
    }
    get_json(&url).await
}

pub async fn alerts() -> Result<Vec<Alert>, ApiError> {
    get_json("/api/prom/alerts").await
}

/// The path of a live query's server-sent events.
pub fn live_url(q: &LiveQuery) -> String {
    format!(
        "/api/live?query={}&step={}&window={}&interval={}",
        encode(&q.query),
        q.step,
        q.window,
        q.interval
    )
}
