//! Typed calls to the backend. Every function returns `Result<T, ApiError>`; a response without
//! the JSON error body (a proxy's 502, a dropped connection) still becomes an `ApiError` in words.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use triage_shared::{ApiError, ErrorBody, ErrorKind, VersionInfo};

pub async fn get_version() -> Result<VersionInfo, ApiError> {
    get_json("/api/version").await
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
