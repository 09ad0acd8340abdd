//! Prometheus query results as Triage sends them to the browser: compact, typed, finite.

pub mod answer;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of result Prometheus returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ResultType {
    Vector,
    Matrix,
    Scalar,
    String,
}

/// One labelled series. `points` are `[unix seconds, value]`; non-finite values (NaN, ±Inf)
/// are dropped from matrices because no chart can place them, and kept as text in `last_text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<[f64; 2]>,
    /// The last value exactly as Prometheus printed it (e.g. `NaN`, `+Inf`), for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
}

impl Series {
    /// `name{a="b", c="d"}`, the way Prometheus prints a series.
    pub fn display_name(&self) -> String {
        let name = self.labels.get("__name__").cloned().unwrap_or_default();
        let rest: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        if rest.is_empty() {
            if name.is_empty() { "{}".to_owned() } else { name }
        } else {
            format!("{name}{{{}}}", rest.join(", "))
        }
    }
}

/// The answer to an instant or range query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct QueryResult {
    pub result_type: ResultType,
    pub series: Vec<Series>,
    /// Prometheus's warnings (e.g. a range too large for its lookback), shown beside the result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Parameters of a range query (`GET /api/prom/query_range`), times in unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RangeQuery {
    pub query: String,
    pub start: f64,
    pub end: f64,
    /// Resolution in seconds.
    pub step: f64,
}

/// Parameters of a live subscription (`GET /api/live`, server-sent events): the range query
/// over the last `window` seconds at `step`, re-run every `interval` seconds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LiveQuery {
    #[cfg_attr(feature = "openapi", schemars(example = &"up"))]
    pub query: String,
    #[cfg_attr(feature = "openapi", schemars(example = 15))]
    pub step: u32,
    #[cfg_attr(feature = "openapi", schemars(example = 3600))]
    pub window: u32,
    #[cfg_attr(feature = "openapi", schemars(example = 5))]
    pub interval: u32,
}

/// One update of a live subscription. The backend writes it around Prometheus's own answer
/// (forwarded as it came, like the query routes'), so it is only ever read, here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LiveUpdate {
    /// Unix seconds at which the data was fetched from Prometheus.
    pub fetched_at: f64,
    /// Prometheus's answer to the range query, read as a [`QueryResult`].
    #[serde(deserialize_with = "answer::read_answer")]
    #[cfg_attr(feature = "openapi", schemars(with = "answer::QueryAnswer"))]
    pub result: QueryResult,
}

/// An alert from Prometheus's `/api/v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `firing` or `pending`.
    pub state: String,
    #[serde(default)]
    pub active_at: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_prints_like_prometheus() {
        let mut labels = BTreeMap::new();
        labels.insert("__name__".to_owned(), "up".to_owned());
        labels.insert("job".to_owned(), "x".to_owned());
        let s = Series { labels, points: vec![], last_text: None };
        assert_eq!(s.display_name(), "up{job=\"x\"}");
        let empty = Series { labels: BTreeMap::new(), points: vec![], last_text: None };
        assert_eq!(empty.display_name(), "{}");
    }
}

/// The query string of `GET /api/prom/query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct InstantParams {
    /// PromQL.
    #[cfg_attr(feature = "openapi", schemars(example = &"up"))]
    pub query: String,
    /// Evaluation time, Unix seconds (default now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
}

/// The query string of `GET /api/prom/query_range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RangeParams {
    /// PromQL.
    #[cfg_attr(feature = "openapi", schemars(example = &"up"))]
    pub query: String,
    /// Unix seconds.
    #[cfg_attr(feature = "openapi", schemars(example = 1_764_547_200))]
    pub start: f64,
    /// Unix seconds.
    #[cfg_attr(feature = "openapi", schemars(example = 1_764_550_800))]
    pub end: f64,
    /// Resolution, seconds.
    #[cfg_attr(feature = "openapi", schemars(example = 15, extend("exclusiveMinimum" = 0)))]
    pub step: f64,
}

/// The query string of `GET /api/prom/metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MetadataParams {
    /// Only this metric's metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
}

/// Least-squares slope of `[time s, value]` points in value units per minute; `None` with fewer
/// than 3 points, all at one time, or a non-finite fit. The runbook checks' trend rules and the
/// console's catch-up estimate use this one fit.
pub fn slope_per_minute(points: &[[f64; 2]]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let t0 = points[0][0];
    let mean_t = points.iter().map(|p| p[0] - t0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p[1]).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for p in points {
        let dt = p[0] - t0 - mean_t;
        num += dt * (p[1] - mean_v);
        den += dt * dt;
    }
    let slope = num / den * 60.0;
    (den > 0.0 && slope.is_finite()).then_some(slope)
}
