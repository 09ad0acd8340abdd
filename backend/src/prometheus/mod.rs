//! Client of the Prometheus HTTP API — the read endpoints only.
//!
//! The base URL comes from configuration alone; every request path is one of the constants
//! below, so no admin or write endpoint (and no other host) is reachable whatever a caller
//! sends. Query text travels as a form value, never inside a path.

pub mod cache;
pub mod live;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use reqwest::StatusCode;

use serde_json::Value;
use triage_shared::prom::answer;
use triage_shared::prom::{Alert, QueryResult};
use triage_shared::{ApiError, ErrorKind};
use url::Url;

use crate::config::PrometheusSettings;
use cache::ResponseCache;

/// The read API paths Triage uses, relative to the configured base URL.
pub mod paths {
    pub const QUERY: &str = "api/v1/query";
    pub const QUERY_RANGE: &str = "api/v1/query_range";
    pub const SERIES: &str = "api/v1/series";
    pub const LABELS: &str = "api/v1/labels";
    pub const ALERTS: &str = "api/v1/alerts";
    pub const RULES: &str = "api/v1/rules";
    pub const METADATA: &str = "api/v1/metadata";
    /// Parent of `label/{name}/values`; the name is appended as one validated path segment.
    pub const API_V1: &str = "api/v1/";
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PromError {
    #[error("Prometheus is not configured (set prometheus.url)")]
    NotConfigured,
    #[error("{0}")]
    BadData(String),
    #[error("{0}")]
    Execution(String),
    #[error("Prometheus did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach Prometheus: {0}")]
    Unreachable(String),
    #[error("Prometheus answered in an unexpected way: {0}")]
    BadResponse(String),
    #[error("{0}")]
    Limit(String),
    #[error(
        "Prometheus's answer is larger than {0} MiB; narrow the query (fewer series, a shorter range or a larger step)"
    )]
    TooLarge(u64),
}

impl From<PromError> for ApiError {
    fn from(e: PromError) -> Self {
        let message = e.to_string();
        match e {
            PromError::NotConfigured => ApiError::new(ErrorKind::Unavailable, message),
            PromError::BadData(ref m) => ApiError::new(ErrorKind::BadRequest, message.clone()).with_detail(
                serde_json::json!({"source": "prometheus", "error_type": "bad_data", "error": m}),
            ),
            PromError::Execution(ref m) => ApiError::new(ErrorKind::Unprocessable, message.clone())
                .with_detail(
                    serde_json::json!({"source": "prometheus", "error_type": "execution", "error": m}),
                ),
            PromError::Timeout(_) => ApiError::new(ErrorKind::Timeout, message),
            PromError::Unreachable(_) => ApiError::new(ErrorKind::Unavailable, message),
            PromError::BadResponse(_) => ApiError::new(ErrorKind::Upstream, message),
            PromError::Limit(_) => ApiError::new(ErrorKind::BadRequest, message),
            PromError::TooLarge(_) => ApiError::new(ErrorKind::Unprocessable, message),
        }
    }
}

impl From<PromError> for crate::error::AppError {
    fn from(e: PromError) -> Self {
        Self::Api(e.into())
    }
}

#[derive(Clone)]
pub struct PromClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
    pub max_range_secs: f64,
    pub max_points: f64,
    max_response_mib: u64,
    cache: Arc<ResponseCache>,
}

impl std::fmt::Debug for PromClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl PromClient {
    pub fn new(settings: &PrometheusSettings) -> anyhow::Result<Self> {
        let mut base = settings.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let timeout = Duration::from_secs(settings.timeout_secs);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            // Prometheus gets `timeout` as its own limit; the client waits a little longer so
            // Prometheus's error text (not a bare client timeout) reaches the user.
            .timeout(timeout + Duration::from_secs(2))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self {
            http,
            base,
            timeout,
            max_range_secs: settings.max_range_secs as f64,
            max_points: settings.max_points as f64,
            max_response_mib: settings.max_response_mib,
            cache: Arc::new(ResponseCache::new(Duration::from_millis(settings.cache_ttl_ms))),
        })
    }

    fn url(&self, path: &'static str) -> Result<Url, PromError> {
        self.base.join(path).map_err(|e| PromError::BadResponse(format!("bad base URL: {e}")))
    }

    /// POSTs a form to one of the read API paths and returns the `data` member.
    async fn call(&self, path: &'static str, form: &[(&str, String)]) -> Result<Value, PromError> {
        let url = self.url(path)?;
        let (status, body) = self.fetch(self.http.post(url).form(form)).await?;
        Ok(self.interpret::<Value>(status, &body)?.0)
    }

    /// POSTs a query (instant or range) and reads its `data` straight into a [`QueryResult`].
    async fn query_call(
        &self,
        path: &'static str,
        form: &[(&str, String)],
    ) -> Result<QueryResult, PromError> {
        let url = self.url(path)?;
        let (status, body) = self.fetch(self.http.post(url).form(form)).await?;
        let (data, warnings) = self.interpret::<answer::QueryData<'_>>(status, &body)?;
        Ok(answer::query_result(data, warnings))
    }

    /// POSTs a query and hands back a successful answer exactly as Prometheus sent it: the
    /// query routes forward it without reading it (the browser reads it with
    /// [`answer::QueryAnswer`]), so the proxy costs a copy, not a parse and a re-encoding. Only
    /// a failed answer is read, to map Prometheus's error type.
    async fn query_forward(&self, path: &'static str, form: &[(&str, String)]) -> Result<Bytes, PromError> {
        let url = self.url(path)?;
        let (status, body) = self.fetch(self.http.post(url).form(form)).await?;
        // Prometheus answers every success with 200 and a JSON object, every failure otherwise.
        if status == StatusCode::OK && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return Ok(Bytes::from(body));
        }
        Err(match self.interpret::<serde::de::IgnoredAny>(status, &body) {
            Err(e) => e,
            Ok(_) => PromError::BadResponse(format!("HTTP {status} with an answer that says success")),
        })
    }

    /// GETs a read API URL and returns the `data` member.
    async fn get(&self, url: Url) -> Result<Value, PromError> {
        let (status, body) = self.fetch(self.http.get(url)).await?;
        Ok(self.interpret::<Value>(status, &body)?.0)
    }

    /// Sends one request and reads its body through [`Self::read_bounded`].
    async fn fetch(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Vec<u8>), PromError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                PromError::Timeout(self.timeout)
            } else {
                PromError::Unreachable(without_url(&e))
            }
        })?;
        let status = response.status();
        Ok((status, self.read_bounded(response).await?))
    }

    /// Reads an answer in one pass: its `data` (as `D`) and warnings on success, Prometheus's
    /// error type mapped otherwise, whatever the endpoint.
    fn interpret<'a, D: serde::Deserialize<'a>>(
        &self,
        status: StatusCode,
        body: &'a [u8],
    ) -> Result<(D, Vec<String>), PromError> {
        let envelope: answer::Envelope<'a, D> = serde_json::from_slice(body).map_err(|e| {
            PromError::BadResponse(match e.classify() {
                serde_json::error::Category::Data => format!("HTTP {status} with a malformed answer: {e}"),
                _ => format!("HTTP {status} with a body that is not Prometheus JSON"),
            })
        })?;
        if envelope.status == "success" {
            let data = envelope
                .data
                .ok_or_else(|| PromError::BadResponse("a successful answer without data".to_owned()))?;
            return Ok((data, envelope.warnings));
        }
        let message = envelope.error.as_deref().unwrap_or("no error text").to_owned();
        Err(match envelope.error_type.as_deref() {
            Some("bad_data") => PromError::BadData(message),
            Some("execution") => PromError::Execution(message),
            Some("timeout" | "canceled") => PromError::Timeout(self.timeout),
            Some(other) => PromError::BadResponse(format!("{other}: {message}")),
            None => PromError::BadResponse(format!("HTTP {status}: {message}")),
        })
    }

    /// The body, refused once it passes `max_response_mib` (before more of it is read).
    async fn read_bounded(&self, mut response: reqwest::Response) -> Result<Vec<u8>, PromError> {
        let limit = usize::try_from(self.max_response_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(PromError::TooLarge(self.max_response_mib));
        }
        // Sized once from the announced length (already checked against the limit).
        let announced = response.content_length().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        let mut body = Vec::with_capacity(announced);
        loop {
            let chunk = response.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    PromError::Timeout(self.timeout)
                } else {
                    PromError::BadResponse(format!("the answer broke off: {}", without_url(&e)))
                }
            })?;
            let Some(chunk) = chunk else { return Ok(body) };
            if body.len() + chunk.len() > limit {
                return Err(PromError::TooLarge(self.max_response_mib));
            }
            body.extend_from_slice(&chunk);
        }
    }

    /// The query route's answer as JSON, shared with identical requests (see [`ResponseCache`]).
    pub async fn query_json(&self, query: &str, time: Option<f64>) -> Result<Bytes, PromError> {
        let key = serde_json::json!(["query", query, time]).to_string();
        let form = self.instant_form(query, time)?;
        self.cache.get_or_fetch(key, || self.query_forward(paths::QUERY, &form)).await
    }

    /// The range-query route's answer as JSON, shared with identical requests.
    pub async fn query_range_json(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Bytes, PromError> {
        let form = self.range_form(query, start, end, step)?;
        let key = serde_json::json!(["range", query, start, end, step]).to_string();
        self.cache.get_or_fetch(key, || self.query_forward(paths::QUERY_RANGE, &form)).await
    }

    fn timeout_param(&self) -> (&'static str, String) {
        ("timeout", format!("{}s", self.timeout.as_secs()))
    }

    /// The form of an instant query, once the query passes the limits.
    fn instant_form(&self, query: &str, time: Option<f64>) -> Result<Vec<(&'static str, String)>, PromError> {
        check_query(query)?;
        let mut form = vec![("query", query.to_owned()), self.timeout_param()];
        if let Some(t) = time {
            form.push(("time", format_time(t)));
        }
        Ok(form)
    }

    pub async fn query(&self, query: &str, time: Option<f64>) -> Result<QueryResult, PromError> {
        let form = self.instant_form(query, time)?;
        self.query_call(paths::QUERY, &form).await
    }

    /// Checks the configured limits before Prometheus is asked anything.
    pub fn check_range(&self, start: f64, end: f64, step: f64) -> Result<(), PromError> {
        if !(start.is_finite() && end.is_finite() && step.is_finite()) {
            return Err(PromError::Limit("start, end and step must be numbers".to_owned()));
        }
        // Unix seconds within ±31,000 years: beyond that a value is a mistake, and the messages
        // below would print it in hundreds of digits.
        if start.abs() > 1e12 || end.abs() > 1e12 || step > 1e12 {
            return Err(PromError::Limit(
                "start, end and step must be Unix seconds (or seconds for step)".to_owned(),
            ));
        }
        if end < start {
            return Err(PromError::Limit("end must not be before start".to_owned()));
        }
        if step <= 0.0 {
            return Err(PromError::Limit("step must be a positive number of seconds".to_owned()));
        }
        if end - start > self.max_range_secs {
            return Err(PromError::Limit(format!(
                "the range of {:.0} s exceeds the maximum of {:.0} s",
                end - start,
                self.max_range_secs
            )));
        }
        let points = ((end - start) / step).floor() + 1.0;
        if points > self.max_points {
            return Err(PromError::Limit(format!(
                "{points:.0} points per series exceeds the maximum of {:.0}; increase the step to at least {:.0} s",
                self.max_points,
                ((end - start) / (self.max_points - 1.0)).ceil()
            )));
        }
        Ok(())
    }

    /// The form of a range query, once the query and its range pass the limits.
    fn range_form(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<(&'static str, String)>, PromError> {
        check_query(query)?;
        self.check_range(start, end, step)?;
        Ok(vec![
            ("query", query.to_owned()),
            ("start", format_time(start)),
            ("end", format_time(end)),
            ("step", format!("{step}")),
            self.timeout_param(),
        ])
    }

    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<QueryResult, PromError> {
        let form = self.range_form(query, start, end, step)?;
        self.query_call(paths::QUERY_RANGE, &form).await
    }

    pub async fn series(
        &self,
        matchers: &[String],
        start: Option<f64>,
        end: Option<f64>,
    ) -> Result<Value, PromError> {
        if matchers.is_empty() {
            return Err(PromError::Limit("give at least one match[] selector".to_owned()));
        }
        let mut form: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", m.clone())).collect();
        if let Some(s) = start {
            form.push(("start", format_time(s)));
        }
        if let Some(e) = end {
            form.push(("end", format_time(e)));
        }
        self.call(paths::SERIES, &form).await
    }

    pub async fn labels(&self) -> Result<Value, PromError> {
        self.call(paths::LABELS, &[]).await
    }

    /// Values of one label; the name is validated, then appended as a single path segment.
    pub async fn label_values(&self, name: &str) -> Result<Value, PromError> {
        if !is_label_name(name) {
            return Err(PromError::Limit(format!("{name:?} is not a valid label name")));
        }
        let mut url = self.url(paths::API_V1)?;
        // `push` percent-encodes each segment; the name is [A-Za-z0-9_] anyway.
        url.path_segments_mut()
            .map_err(|()| PromError::BadResponse("base URL cannot have a path".to_owned()))?
            .pop_if_empty()
            .push("label")
            .push(name)
            .push("values");
        self.get(url).await
    }

    pub async fn alerts(&self) -> Result<Vec<Alert>, PromError> {
        let data = self.get(self.url(paths::ALERTS)?).await?;
        let alerts = data["alerts"].as_array().cloned().unwrap_or_default();
        Ok(alerts
            .iter()
            .map(|a| Alert {
                labels: string_map(&a["labels"]),
                annotations: string_map(&a["annotations"]),
                state: a["state"].as_str().unwrap_or_default().to_owned(),
                active_at: a["activeAt"].as_str().map(str::to_owned),
                value: a["value"].as_str().map(str::to_owned),
            })
            .collect())
    }

    pub async fn rules(&self) -> Result<Value, PromError> {
        self.get(self.url(paths::RULES)?).await
    }

    pub async fn metadata(&self, metric: Option<&str>) -> Result<Value, PromError> {
        let mut url = self.url(paths::METADATA)?;
        if let Some(m) = metric {
            url.query_pairs_mut().append_pair("metric", m);
        }
        self.get(url).await
    }
}

/// reqwest errors print the URL; keep the message without it (no credentials in URLs leak).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "Prometheus");
    }
    if let Some(source) = std::error::Error::source(e) {
        text = format!("{text}: {source}");
    }
    text
}

fn check_query(query: &str) -> Result<(), PromError> {
    if query.trim().is_empty() {
        return Err(PromError::Limit("the query is empty".to_owned()));
    }
    if query.len() > 16 * 1024 {
        return Err(PromError::Limit("the query is longer than 16 KiB".to_owned()));
    }
    Ok(())
}

pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn format_time(t: f64) -> String {
    format!("{t:.3}")
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> PromClient {
        PromClient::new(&PrometheusSettings {
            url: Url::parse("http://127.0.0.1:9/prom").expect("url"),
            timeout_secs: 5,
            max_range_secs: 86_400,
            max_points: 11_000,
            max_response_mib: 64,
            cache_ttl_ms: 1000,
        })
        .expect("client")
    }

    #[test]
    fn paths_stay_under_the_base() {
        let c = client();
        assert_eq!(
            c.url(paths::QUERY_RANGE).expect("url").as_str(),
            "http://127.0.0.1:9/prom/api/v1/query_range"
        );
    }

    #[test]
    fn limits() {
        let c = client();
        assert!(c.check_range(0.0, 3600.0, 15.0).is_ok());
        assert!(c.check_range(0.0, 100_000.0, 60.0).is_err(), "range above max");
        assert!(c.check_range(0.0, 3600.0, 0.1).is_err(), "too many points");
        assert!(c.check_range(10.0, 0.0, 1.0).is_err());
        assert!(c.check_range(0.0, 10.0, f64::NAN).is_err());
    }

    #[test]
    fn label_names() {
        assert!(is_label_name("job"));
        assert!(is_label_name("__name__"));
        assert!(!is_label_name("../admin"));
        assert!(!is_label_name("9x"));
        assert!(!is_label_name(""));
    }
}
