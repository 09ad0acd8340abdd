//! Typed calls to `/api/prom/*` and the path of `/api/live`: Prometheus through Triage; and the
//! alerts of one environment or of the current one (`env_alerts` asks every environment).

use triage_shared::ApiError;
use triage_shared::prom::answer::QueryAnswer;
use triage_shared::prom::{Alert, InstantParams, LiveQuery, QueryResult, RangeParams};

use super::{get_json, get_json_in};
use crate::format::url::query_string;

pub async fn query_range(query: &str, start: f64, end: f64, step: f64) -> Result<QueryResult, ApiError> {
    let params = RangeParams { query: query.to_owned(), start: millis(start), end: millis(end), step };
    // The query routes forward Prometheus's own answer; it is read here, in one pass.
    get_json::<QueryAnswer>(&format!("/api/prom/query_range?{}", query_string(&params))).await.map(|a| a.0)
}

/// Unix seconds to the millisecond, as the console has always sent them.
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

pub async fn query(query: &str, time: Option<f64>) -> Result<QueryResult, ApiError> {
    let params = InstantParams { query: query.to_owned(), time: time.map(millis) };
    get_json::<QueryAnswer>(&format!("/api/prom/query?{}", query_string(&params))).await.map(|a| a.0)
}

pub async fn alerts() -> Result<Vec<Alert>, ApiError> {
    get_json("/api/prom/alerts").await
}

/// The alerts of environment `env`, whatever the current one is.
pub async fn alerts_in(env: &str) -> Result<Vec<Alert>, ApiError> {
    get_json_in(env, "/api/prom/alerts").await
}

/// The path of a live query's server-sent events, in the current environment.
pub fn live_url(q: &LiveQuery) -> String {
    crate::env::href(&format!("/api/live?{}", query_string(q)))
}
