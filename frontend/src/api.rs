//! Typed calls to the backend. Every function returns `Result<T, ApiError>`; a response without
//! the JSON error body (a proxy's 502, a dropped connection) still becomes an `ApiError` in words.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use triage_shared::prom::{Alert, QueryResult};
use triage_shared::{ApiError, ErrorBody, ErrorKind, VersionInfo};

pub async fn get_version() -> Result<VersionInfo, ApiError> {
    get_json("/api/version").await
}

fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

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

/// GETs `path` and decodes the JSON body, or the API's error body.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let response = Request::get(path).send().await.map_err(|e| {
        ApiError::new(ErrorKind::Unavailable, format!("cannot reach the Triage backend: {e}"))
    })?;
    decode(response).await
}

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let status = response.status();
    if response.ok() {
        return response.json::<T>().await.map_err(|e| {
            ApiError::new(ErrorKind::Internal, format!("the backend answered with an unexpected body: {e}"))
        });
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(body.error),
        Err(_) => Err(ApiError::new(
            ErrorKind::from_http_status(status),
            format!("the backend answered HTTP {status} {}", response.status_text()),
        )),
    }
}
