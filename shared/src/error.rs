//! The one JSON error shape of the API: `{ "error": { "kind", "message", "detail" } }`.
//!
//! The backend turns every failure into an [`ErrorBody`] with a matching HTTP status; the
//! frontend decodes it back into an [`ApiError`] and shows `message` in words.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Closed set of error kinds; each maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request itself is malformed (bad parameter, invalid name, bad query).
    BadRequest,
    /// No session, or the session is invalid.
    Unauthenticated,
    /// The caller is known but lacks the role for this route.
    Forbidden,
    /// A state-changing request without this console's CSRF header or token, or sent from
    /// another site (`Origin`, `Sec-Fetch-Site`). Shares 403 with `Forbidden`.
    Csrf,
    /// The addressed object does not exist.
    NotFound,
    /// The route exists but does not take this HTTP method.
    MethodNotAllowed,
    /// The request conflicts with the current state of the target.
    Conflict,
    /// The request body is larger than Triage reads.
    TooLarge,
    /// The request is well-formed but semantically refused (e.g. upstream rejected the query).
    Unprocessable,
    /// Too many requests, here or upstream.
    RateLimited,
    /// An upstream (Prometheus, Kubernetes, PostgreSQL) failed or answered garbage.
    Upstream,
    /// An upstream did not answer within its timeout.
    Timeout,
    /// A dependency is not configured or not reachable at all.
    Unavailable,
    /// A bug or unexpected state inside Triage; details are only in the server log.
    Internal,
}

impl ErrorKind {
    /// The HTTP status that carries this kind.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden | Self::Csrf => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::Unprocessable => 422,
            Self::RateLimited => 429,
            Self::Upstream => 502,
            Self::Unavailable => 503,
            Self::Timeout => 504,
            Self::Internal => 500,
        }
    }

    /// Best guess of the kind from an HTTP status, for responses that carry no JSON body. A bare
    /// 403 is `Forbidden`: only the body can say `Csrf`.
    pub const fn from_http_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            413 => Self::TooLarge,
            422 => Self::Unprocessable,
            429 => Self::RateLimited,
            502 => Self::Upstream,
            503 => Self::Unavailable,
            504 => Self::Timeout,
            _ => Self::Internal,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::BadRequest => "bad request",
            Self::Unauthenticated => "not logged in",
            Self::Forbidden => "forbidden",
            Self::Csrf => "cross-site request refused",
            Self::NotFound => "not found",
            Self::MethodNotAllowed => "method not allowed",
            Self::Conflict => "conflict",
            Self::TooLarge => "too large",
            Self::Unprocessable => "refused",
            Self::RateLimited => "rate limited",
            Self::Upstream => "upstream error",
            Self::Timeout => "timed out",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal error",
        };
        f.write_str(text)
    }
}

/// The error carried in every non-2xx API response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ApiError {
    pub kind: ErrorKind,
    /// One sentence for a person; never contains secrets.
    pub message: String,
    /// Optional structured context (e.g. the upstream's own error text, the offending key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), detail: None }
    }

    #[must_use]
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The JSON envelope: `{ "error": ApiError }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    pub error: ApiError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody {
            error: ApiError::new(ErrorKind::BadRequest, "bad duration")
                .with_detail(serde_json::json!({"param": "window"})),
        };
        let json = serde_json::to_value(&body).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"error": {"kind": "bad-request", "message": "bad duration", "detail": {"param": "window"}}})
        );
        let back: ErrorBody = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, body);
    }

    #[test]
    fn every_kind_round_trips_through_its_status() {
        let kinds = [
            ErrorKind::BadRequest,
            ErrorKind::Unauthenticated,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::MethodNotAllowed,
            ErrorKind::Conflict,
            ErrorKind::TooLarge,
            ErrorKind::Unprocessable,
            ErrorKind::RateLimited,
            ErrorKind::Upstream,
            ErrorKind::Timeout,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
        ];
        for kind in kinds {
            assert_eq!(ErrorKind::from_http_status(kind.http_status()), kind, "{kind:?}");
        }
        // `Csrf` is a 403 that only the body names; a bare 403 reads as `Forbidden`.
        assert_eq!(ErrorKind::Csrf.http_status(), 403);
        assert_eq!(ErrorKind::from_http_status(403), ErrorKind::Forbidden);
    }

    #[test]
    fn new_kinds_are_kebab_case_on_the_wire() {
        for (kind, text) in [
            (ErrorKind::Csrf, "\"csrf\""),
            (ErrorKind::TooLarge, "\"too-large\""),
            (ErrorKind::MethodNotAllowed, "\"method-not-allowed\""),
        ] {
            assert_eq!(serde_json::to_string(&kind).expect("serialize"), text);
        }
    }

    #[test]
    fn detail_is_omitted_when_absent() {
        let text =
            serde_json::to_string(&ErrorBody { error: ApiError::new(ErrorKind::NotFound, "no such page") })
                .expect("serialize");
        assert!(!text.contains("detail"), "{text}");
    }
}
