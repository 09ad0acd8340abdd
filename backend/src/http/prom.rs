//! `/api/prom/*`: the Prometheus read API, through Triage's limits and error mapping, and
//! `/api/live`: coalesced live range queries as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use aide::transform::TransformOperation;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde_json::Value;
use triage_shared::ApiError;
use triage_shared::prom::{Alert, InstantParams, LiveQuery, LiveUpdate, MetadataParams, RangeParams};

use crate::error::AppError;
use crate::http::extract::{Env, Path, Query, not_seconds, seconds};
use crate::http::openapi;
use crate::state::AppState;

pub async fn query(env: Env, Query(p): Query<InstantParams>) -> Result<Response, AppError> {
    let time = p.time.map(|t| seconds("time", t)).transpose()?;
    Ok(json_body(env.prom()?.query_json(&p.query, time).await?))
}

/// A JSON answer that is already serialized: Prometheus's own, forwarded as it came (the
/// browser reads it with [`triage_shared::prom::answer::QueryAnswer`]).
fn json_body(json: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

pub async fn query_range(env: Env, Query(p): Query<RangeParams>) -> Result<Response, AppError> {
    Ok(json_body(env.prom()?.query_range_json(&p.query, p.start, p.end, p.step).await?))
}

/// `GET /api/prom/series?match[]=…&match[]=…&start=&end=`
pub async fn series(env: Env, RawQuery(raw): RawQuery) -> Result<Json<Value>, AppError> {
    // `match[]` repeats, which a serde query struct cannot collect: read the pairs directly.
    let (mut matchers, mut start, mut end) = (Vec::new(), None, None);
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "match[]" => matchers.push(v.into_owned()),
            "start" => start = Some(parse_seconds("start", &v)?),
            "end" => end = Some(parse_seconds("end", &v)?),
            _ => {}
        }
    }
    Ok(Json(env.prom()?.series(&matchers, start, end).await?))
}

/// The query string of [`series`], for its documentation only: the handler reads the pairs itself.
#[derive(JsonSchema)]
#[expect(dead_code, reason = "a description of the query string, never constructed")]
struct SeriesParams {
    /// Series selectors; at least one.
    #[serde(rename = "match[]")]
    #[schemars(example = ["up"])]
    matchers: Vec<String>,
    /// Unix seconds.
    start: Option<f64>,
    /// Unix seconds.
    end: Option<f64>,
}

pub fn series_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    op.input::<axum::extract::Query<SeriesParams>>()
}

/// A time parameter read by hand, refused in the same words as the typed query extractor.
fn parse_seconds(param: &str, text: &str) -> Result<f64, AppError> {
    seconds(param, text.parse().map_err(|_| not_seconds(param, text))?)
}

pub async fn labels(env: Env) -> Result<Json<Value>, AppError> {
    Ok(Json(env.prom()?.labels().await?))
}

pub async fn label_values(env: Env, Path(name): Path<String>) -> Result<Json<Value>, AppError> {
    Ok(Json(env.prom()?.label_values(&name).await?))
}

pub async fn alerts(env: Env) -> Result<Json<Vec<Alert>>, AppError> {
    Ok(Json(env.prom()?.alerts().await?))
}

pub async fn rules(env: Env) -> Result<Json<Value>, AppError> {
    Ok(Json(env.prom()?.rules().await?))
}

pub async fn metadata(env: Env, Query(p): Query<MetadataParams>) -> Result<Json<Value>, AppError> {
    Ok(Json(env.prom()?.metadata(p.metric.as_deref()).await?))
}

pub fn live_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    openapi::event_stream(
        op.input::<axum::extract::Query<LiveQuery>>(),
        "The range query over the last `window` seconds at `step`, again every `interval` seconds.",
        vec![
            openapi::event::<LiveUpdate>("update", "The latest answer."),
            openapi::event::<ApiError>("query-error", "Prometheus refused the query."),
        ],
    )
}

/// How often an idle live stream sends a comment line, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/live?query=…&step=15&window=3600&interval=5`
///
/// The body is the hub's pre-framed events themselves (shared `Bytes`, never copied per viewer),
/// with a keep-alive comment after 15 s of silence.
pub async fn live(
    env: Env,
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    // The request is judged before the configuration, as the typed extractors do.
    let raw = raw.unwrap_or_default();
    let q = crate::prometheus::live::parse_subscription(&raw).map_err(|why| {
        match Query::<LiveQuery>::parse(&raw) {
            // A parameter of the wrong type, named as the typed extractor names it.
            Err(typed) => typed,
            Ok(_) => AppError::bad_request(why),
        }
    })?;
    let prom = env.prom()?;
    prom.check_range(0.0, f64::from(q.window), f64::from(q.step))?;
    let subject = &caller.identity.subject;
    let permit = state.streams.acquire(subject)?;
    let (last, rx) = env.live()?.subscribe(q, subject)?;
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
