//! `/api/runbooks/*` and `/api/runs/*`: the flows, their runs, the live stream of a run and its
//! Markdown incident report.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use triage_shared::runbook::{RunEvent, RunStarted, RunState, Runbook, RunbookSummary, StartRun};
use triage_shared::{ApiError, ErrorKind};

use crate::auth::Caller;
use crate::error::AppError;
use crate::http::extract::{Env, JsonBody, Path};
use crate::http::openapi;
use crate::runbooks::{engine, report};
use crate::state::AppState;

pub async fn list_runbooks(State(state): State<AppState>) -> Json<Vec<RunbookSummary>> {
    Json(state.runbooks.summaries())
}

pub async fn get_runbook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Runbook>, AppError> {
    state
        .runbooks
        .get(&id)
        .map(|r| Json((*r).clone()))
        .ok_or_else(|| AppError::not_found(format!("no runbook {id:?}; GET /api/runbooks lists them")))
}

pub async fn start_run(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StartRun>,
) -> Result<Json<RunStarted>, AppError> {
    let runbook = state
        .runbooks
        .get(&id)
        .ok_or_else(|| AppError::not_found(format!("no runbook {id:?}; GET /api/runbooks lists them")))?;
    Ok(Json(engine::start(&state.engine(&env), runbook, &body.params, &identity)?))
}

pub async fn get_run(
    env: Env,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunState>, AppError> {
    Ok(Json(in_env(&env, engine::find_run(&state.runbooks, &state.store, &id).await?)?.state()))
}

/// A run, when it belongs to the request's environment: another environment's run is not
/// shown (its reader may not read there), and the answer names where it is.
fn in_env(env: &Env, run: Arc<crate::runbooks::Run>) -> Result<Arc<crate::runbooks::Run>, AppError> {
    let belongs = run.env() == env.name;
    if belongs {
        return Ok(run);
    }
    Err(AppError::Api(
        ApiError::new(
            ErrorKind::NotFound,
            format!("this run belongs to the environment {}; open it with env={}", run.env(), run.env()),
        )
        .with_detail(serde_json::json!({ "env": run.env() })),
    ))
}

/// Server-sent events: every event so far, then the live ones, ending after `finished`.
pub async fn run_events(
    env: Env,
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let permit = state.streams.acquire(&identity.subject)?;
    let run = in_env(&env, engine::find_run(&state.runbooks, &state.store, &id).await?)?;
    let (past, rx) = run.subscribe();
    let done = past.iter().any(|e| matches!(e, RunEvent::Finished { .. }));
    let live = if done {
        futures::stream::empty().boxed()
    } else {
        tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|item| async move { item.ok() }).boxed()
    };
    // Ends right after `finished`, without waiting for another item from the live feed.
    let events = futures::stream::iter(past).chain(live).boxed();
    let stream = futures::stream::unfold((events, false), |(mut events, done)| async move {
        if done {
            return None;
        }
        let event = events.next().await?;
        let last = matches!(event, RunEvent::Finished { .. });
        let data = serde_json::to_string(&event).unwrap_or_else(|_| "null".to_owned());
        Some((Ok::<Event, Infallible>(Event::default().data(data)), (events, last)))
    });
    let response =
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    Ok(crate::limits::held_by(response, permit))
}

pub fn run_events_docs(op: TransformOperation<'_>) -> TransformOperation<'_> {
    openapi::event_stream(
        op,
        "Every event of the run so far, then the live ones; ends after `finished`.",
        vec![openapi::event::<RunEvent>("message", "One `RunEvent` (the events carry no name).")],
    )
}

pub async fn run_report(
    env: Env,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let run = in_env(&env, engine::find_run(&state.runbooks, &state.store, &id).await?)?.state();
    let runbook = state.runbooks.get(&run.runbook);
    let entries = state.store.audit().list(&env.name, 1000).await?;
    let mut actions =
        report::actions_in_window(&entries, run.started_at, run.params.get("namespace").map(String::as_str));
    actions.reverse();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let text = report::render(runbook.as_deref(), &run, &actions, now);
    let filename = format!("attachment; filename=\"triage-{}-{}.md\"", run.runbook, run.run_id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        text,
    )
        .into_response())
}

/// `POST /api/runbooks/reload` (admin, enforced by the route table): reloads the folder;
/// problems keep the current set.
pub async fn reload(
    State(state): State<AppState>,
    Caller { identity, .. }: Caller,
) -> Result<Json<serde_json::Value>, AppError> {
    tracing::info!(by = %identity.subject, "runbook reload requested");
    match state.runbooks.reload() {
        Ok(count) => Ok(Json(serde_json::json!({"loaded": count}))),
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Err(AppError::Api(
                ApiError::new(
                    ErrorKind::Unprocessable,
                    format!(
                        "the runbooks were not reloaded: {} problem(s); the current set stays",
                        lines.len()
                    ),
                )
                .with_detail(serde_json::json!({"problems": lines})),
            ))
        }
    }
}
