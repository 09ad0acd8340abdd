//! `/api/prom/*`: the Prometheus read API, through Triage's limits and error mapping, and
//! `/api/live`: coalesced live range queries as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use triage_shared::prom::{Alert, LiveQuery};
use triage_shared::{ApiError, ErrorKind};

use crate::error::AppError;
use crate::routes::extract::{Path, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct InstantParams {
    query: String,
    time: Option<f64>,
}

pub async fn query(
    State(state): State<AppState>,
    Query(p): Query<InstantParams>,
) -> Result<Response, AppError> {
    Ok(json_body(state.prom()?.query_json(&p.query, p.time).await?))
}

/// A JSON answer that is already serialized (a [`triage_shared::prom::QueryResult`]).
fn json_body(json: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

#[derive(Debug, Deserialize)]
pub struct RangeParams {
    query: String,
    start: f64,
    end: f64,
    step: f64,
}

pub async fn query_range(
    State(state): State<AppState>,
    Query(p): Query<RangeParams>,
) -> Result<Response, AppError> {
    Ok(json_body(state.prom()?.query_range_json(&p.query, p.start, p.end, p.step).await?))
}

/// `GET /api/prom/series?match[]=…&match[]=…&start=&end=`
pub async fn series(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    // `match[]` repeats, which a serde query struct cannot collect: read the pairs directly.
    let (mut matchers, mut start, mut end) = (Vec::new(), None, None);
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "match[]" => matchers.push(v.into_owned()),
            "start" => start = Some(seconds("start", &v)?),
            "end" => end = Some(seconds("end", &v)?),
            _ => {}
        }
    }
    Ok(Json(state.prom()?.series(&matchers, start, end).await?))
}

/// A time parameter read by hand, refused in the same words as the typed query extractor.
fn seconds(param: &str, text: &str) -> Result<f64, AppError> {
    text.parse().map_err(|_| {
        AppError::Api(
            ApiError::new(
                ErrorKind::BadRequest,
                format!("the query string: parameter {param}: {text:?} is not a number (expected seconds since the epoch)"),
            )
            .with_detail(serde_json::json!({ "param": param, "in": "query" })),
        )
    })
}

pub async fn labels(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(state.prom()?.labels().await?))
}

pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(state.prom()?.label_values(&name).await?))
}

pub async fn alerts(State(state): State<AppState>) -> Result<Json<Vec<Alert>>, AppError> {
    Ok(Json(state.prom()?.alerts().await?))
}

pub async fn rules(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(state.prom()?.rules().await?))
}

#[derive(Debug, Deserialize)]
pub struct MetadataParams {
    metric: Option<String>,
}

pub async fn metadata(
    State(state): State<AppState>,
    Query(p): Query<MetadataParams>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(state.prom()?.metadata(p.metric.as_deref()).await?))
}

/// How often an idle live stream sends a comment line, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/live?query=…&step=15&window=3600&interval=5`
///
/// The body is the hub's pre-framed events themselves (shared `Bytes`, never copied per viewer),
/// with a keep-alive comment after 15 s of silence.
pub async fn live(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    // The request is judged before the configuration, as the typed extractors do.
    let raw = raw.unwrap_or_default();
    let q = crate::live::parse_subscription(&raw).map_err(|why| match Query::<LiveQuery>::parse(&raw) {
        // A parameter of the wrong type, named as the typed extractor names it.
        Err(typed) => typed,
        Ok(_) => AppError::bad_request(why),
    })?;
    let prom = state.prom()?;
    prom.check_range(0.0, f64::from(q.window), f64::from(q.step))?;
    let subject = &caller.identity.subject;
    let permit = state.streams.acquire(subject)?;
    let (last, rx) = state.live()?.subscribe(q, subject)?;
    // The stream owns the subscription and the permit: both are given back when it is dropped.
    let stream = futures::stream::unfold((last, rx, permit), |(first, mut rx, permit)| async move {
        if let Some(message) = first {
            return Some((Ok::<_, Infallible>(message), (None, rx, permit)));
        }
        tokio::select! {
            // A lagging viewer (or a stopped loop) ends its stream here; EventSource reconnects
            // and resumes from the latest update.
            message = rx.recv() => message.ok().map(|m| (Ok(m), (None, rx, permit))),
            () = tokio::time::sleep(KEEP_ALIVE) => Some((Ok(Bytes::from_static(b":\n\n")), (None, rx, permit))),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
