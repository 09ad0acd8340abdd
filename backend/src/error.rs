//! Error policy at the HTTP edge.
//!
//! Every handler returns `Result<_, AppError>`. An `AppError` becomes the one JSON error body
//! from `shared` with the status of its kind. Client errors (4xx) carry their message as is;
//! server errors (5xx) log the full cause chain and show the user a sentence without internals.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use triage_shared::{ApiError, ErrorBody, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An error whose kind and message are already fit for the user.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// A failure inside Triage; logged with its cause, shown as "internal error".
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Api(ApiError::new(ErrorKind::NotFound, message))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Api(ApiError::new(ErrorKind::BadRequest, message))
    }
}

/// Whether `path` is under `/api`, where every error is the JSON body.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// A refusal at the HTTP edge, before any handler (host, origin, body limit, timeout): the JSON
/// error body under `/api`; for pages and the login routes the same sentence as plain text.
pub fn edge_response(path: &str, error: ApiError) -> Response {
    if is_api_path(path) {
        return AppError::Api(error).into_response();
    }
    let status = StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], error.message).into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let error = match self {
            Self::Api(error) => {
                if error.kind.http_status() >= 500 {
                    tracing::warn!(kind = ?error.kind, message = %error.message, "request failed");
                }
                error
            }
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                ApiError::new(ErrorKind::Internal, "internal error; the cause is in the server log")
            }
        };
        let status =
            StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // A refusal by one of Triage's own limits says when to try again.
        let retry_after = (error.kind == ErrorKind::RateLimited)
            .then(|| error.detail.as_ref()?.get("retry_after_secs")?.as_u64())
            .flatten();
        let mut response = (status, Json(ErrorBody { error })).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}
