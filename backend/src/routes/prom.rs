//! `/api/prom/*`: the Prometheus read API, through Triage's limits and error mapping, and
//! `/api/live`: coalesced live range queries as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use triage_shared::prom::Alert;

use crate::error::AppError;
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
            "start" => start = v.parse().ok(),
            "end" => end = v.parse().ok(),
            _ => {}
        }
    }
    Ok(Json(state.prom()?.series(&matchers, start, end).await?))
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
pub async fn live(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let prom = state.prom()?;
    let q =
        crate::live::parse_subscription(raw.as_deref().unwrap_or_default()).map_err(AppError::bad_request)?;
    prom.check_range(0.0, f64::from(q.window), f64::from(q.step))?;
    let (last, rx) = state.live()?.subscribe(q);
    let stream = futures::stream::unfold((last, rx), |(first, mut rx)| async move {
        if let Some(message) = first {
            return Some((Ok::<_, Infallible>(message), (None, rx)));
        }
        tokio::select! {
            // A lagging viewer (or a stopped loop) ends its stream here; EventSource reconnects
            // and resumes from the latest update.
            message = rx.recv() => message.ok().map(|m| (Ok(m), (None, rx))),
            () = tokio::time::sleep(KEEP_ALIVE) => Some((Ok(Bytes::from_static(b":\n\n")), (None, rx))),
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
