//! `/api/prom/*`: the Prometheus read API, through Triage's limits and error mapping, and
//! `/api/live`: coalesced live range queries as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use triage_shared::prom::{Alert, QueryResult};

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
) -> Result<Json<QueryResult>, AppError> {
    Ok(Json(state.prom()?.query(&p.query, p.time).await?))
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
) -> Result<Json<QueryResult>, AppError> {
    Ok(Json(state.prom()?.query_range(&p.query, p.start, p.end, p.step).await?))
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

/// `GET /api/live?query=…&step=15&window=3600&interval=5`
pub async fn live(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let prom = state.prom()?;
    let q =
        crate::live::parse_subscription(raw.as_deref().unwrap_or_default()).map_err(AppError::bad_request)?;
    prom.check_range(0.0, f64::from(q.window), f64::from(q.step))?;
    let (last, rx) = state.live()?.subscribe(q);
    let first = futures::stream::iter(last);
    let rest = tokio_stream::wrappers::BroadcastStream::new(rx)
        // A lagging viewer ends its stream here; EventSource reconnects and resumes from `last`.
        .take_while(|m| futures::future::ready(m.is_ok()))
        .filter_map(|m| futures::future::ready(m.ok()));
    let stream = first.chain(rest).map(|m| Ok(Event::default().event(m.0).data(m.1.as_str())));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
