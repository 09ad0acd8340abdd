//! Request extractors whose every rejection is an [`AppError`], so a malformed body, query string
//! or path parameter gets the JSON error body in words instead of axum's plain-text rejection.
//! Handlers take these for input; responses keep using `axum::Json`.

use axum::extract::rejection::{
    BytesRejection, FailedToBufferBody, JsonRejection, PathRejection, QueryRejection,
};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use triage_shared::{ApiError, ErrorKind};

use crate::error::AppError;

/// A JSON request body (`Content-Type: application/json`).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct JsonBody<T>(pub T);

/// The query string, deserialized.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned> Query<T> {
    /// Parses a query string read by hand (`RawQuery`) with the extractor's words for failures.
    pub fn parse(raw: &str) -> Result<T, AppError> {
        let deserializer = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map_err(|e| AppError::Api(field_error("the query string", "parameter", &e)))
    }
}

/// The route's path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// The request's environment: the one its `env` query parameter names, else the default; an
/// unknown name is a 404 in words (never another environment's answer).
pub struct Env(pub std::sync::Arc<crate::environments::Environment>);

impl std::ops::Deref for Env {
    type Target = crate::environments::Environment;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequestParts<crate::state::AppState> for Env {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let name = crate::environments::requested(parts.uri.query());
        Ok(Self(state.env(name.as_deref())?))
    }
}

/// A time in Unix seconds that names a moment: `NaN` and the infinities parse as numbers (so
/// the typed extractors pass them) but would reach Prometheus or the store as nonsense.
pub fn seconds(param: &str, value: f64) -> Result<f64, AppError> {
    if value.is_finite() { Ok(value) } else { Err(not_seconds(param, &value.to_string())) }
}

/// The refusal of a time query parameter, `text` as it was sent.
pub fn not_seconds(param: &str, text: &str) -> AppError {
    AppError::Api(
        ApiError::new(
            ErrorKind::BadRequest,
            format!("the query string: parameter {param}: {text:?} is not a time (expected seconds since the epoch)"),
        )
        .with_detail(serde_json::json!({ "param": param, "in": "query" })),
    )
}

/// The 413 for a body over [`super::MAX_REQUEST_BODY`], whether its length was declared
/// (`Content-Length`, refused up front) or found while reading.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        ErrorKind::TooLarge,
        format!(
            "the request body is larger than the {} KiB Triage accepts; every API body is a small JSON object",
            super::MAX_REQUEST_BODY / 1024
        ),
    )
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let error = match &rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorKind::BadRequest,
                "the request body must be JSON, sent with Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                ErrorKind::BadRequest,
                format!("the request body is not valid JSON: {}", serde_cause(&rejection)),
            ),
            JsonRejection::JsonDataError(_) => field_error("the request body", "field", &rejection),
            JsonRejection::BytesRejection(BytesRejection::FailedToBufferBody(
                FailedToBufferBody::LengthLimitError(_),
            )) => body_too_large(),
            // Any other buffering failure (the client went away mid-body); 413 also arrives here
            // when the limit is met by a wrapped body.
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
            other => ApiError::new(
                ErrorKind::BadRequest,
                format!("the request body could not be read: {}", other.body_text()),
            ),
        };
        Self::Api(error)
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Api(field_error("the query string", "parameter", &rejection))
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        use axum::extract::path::ErrorKind as P;
        let PathRejection::FailedToDeserializePathParams(failed) = &rejection else {
            // The route table and the handler disagree on the parameters: a bug, not the caller's.
            return Self::Internal(anyhow::anyhow!("path parameters: {}", rejection.body_text()));
        };
        let error = match failed.kind() {
            P::InvalidUtf8InPathParam { key } => {
                ApiError::new(ErrorKind::BadRequest, format!("path parameter {key} is not valid UTF-8"))
                    .with_detail(serde_json::json!({ "param": key, "in": "path" }))
            }
            P::ParseErrorAtKey { key, value, expected_type } => ApiError::new(
                ErrorKind::BadRequest,
                format!("path parameter {key} is {value:?}, which is not {}", expected(expected_type)),
            )
            .with_detail(serde_json::json!({ "param": key, "in": "path" })),
            // A route with one parameter (`/api/approvals/{id}/approve`) names no key.
            P::ParseError { value, expected_type } | P::ParseErrorAtIndex { value, expected_type, .. } => {
                ApiError::new(
                    ErrorKind::BadRequest,
                    format!("path parameter {value:?} is not {}", expected(expected_type)),
                )
                .with_detail(serde_json::json!({ "in": "path" }))
            }
            _ => ApiError::new(ErrorKind::BadRequest, format!("bad path: {}", failed.body_text())),
        };
        Self::Api(error)
    }
}

/// A deserialization failure of `what` (body or query) naming the offending `noun` (field or
/// parameter) from serde's path, and what was expected.
fn field_error(what: &str, noun: &str, rejection: &(dyn std::error::Error + 'static)) -> ApiError {
    let (path, message) = serde_path_and_message(rejection);
    let message = with_hint(&message);
    match path {
        Some(path) => ApiError::new(ErrorKind::BadRequest, format!("{what}: {noun} {path}: {message}"))
            .with_detail(serde_json::json!({ "param": path, "in": noun_place(noun) })),
        None => ApiError::new(ErrorKind::BadRequest, format!("{what}: {message}")),
    }
}

fn noun_place(noun: &str) -> &'static str {
    if noun == "parameter" { "query" } else { "body" }
}

/// The serde path (`replicas`, `deployments[0]`) and the bare message of the first serde error
/// in `error`'s source chain, or its whole text when there is none.
fn serde_path_and_message(error: &(dyn std::error::Error + 'static)) -> (Option<String>, String) {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(json) = e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            return (named_path(json.path()), json.inner().to_string());
        }
        if let Some(query) = e.downcast_ref::<serde_path_to_error::Error<serde_urlencoded::de::Error>>() {
            return (named_path(query.path()), query.inner().to_string());
        }
        current = e.source();
    }
    (None, error.to_string())
}

/// serde's root path is `.`, which names nothing.
fn named_path(path: &serde_path_to_error::Path) -> Option<String> {
    let text = path.to_string();
    (text != "." && !text.is_empty()).then_some(text)
}

/// The serde error's own text, without axum's prefix.
fn serde_cause(error: &(dyn std::error::Error + 'static)) -> String {
    serde_path_and_message(error).1
}

/// The standard library's number parse messages say what went wrong but not what was wanted.
fn with_hint(message: &str) -> String {
    let wanted = if message.contains("invalid digit") || message.contains("cannot parse integer") {
        Some("a whole number")
    } else if message.contains("invalid float literal") {
        Some("a number")
    } else if message.contains("too large to fit") || message.contains("too small to fit") {
        Some("a number in range")
    } else {
        None
    };
    match wanted {
        Some(w) => format!("{message} (expected {w})"),
        None => message.to_owned(),
    }
}

/// `u32` → "a whole number", for a path parameter's expected type.
fn expected(type_name: &str) -> String {
    let short = type_name.rsplit("::").next().unwrap_or(type_name);
    match short {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "a whole number".to_owned()
        }
        "f32" | "f64" => "a number".to_owned(),
        "bool" => "true or false".to_owned(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_what_was_expected() {
        assert_eq!(
            with_hint("invalid digit found in string"),
            "invalid digit found in string (expected a whole number)"
        );
        assert_eq!(with_hint("missing field `query`"), "missing field `query`");
        assert_eq!(expected("u32"), "a whole number");
        assert_eq!(expected("alloc::string::String"), "a String");
    }
}
