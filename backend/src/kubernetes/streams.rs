//! Long-lived Kubernetes views over server-sent events: a rollout's progress until it completes
//! (or times out), and a pod's log lines as they are written (`kubectl logs -f`).

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{AsyncBufReadExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kube::runtime::watcher;
use triage_shared::ApiError;
use triage_shared::k8s::RolloutState;

use crate::kubernetes::{K8s, deployment_summary, map_error};

fn json_event(name: &'static str, value: &impl serde::Serialize) -> Event {
    Event::default().event(name).data(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}

/// `rollout` events (a `DeploymentSummary`) on every change, then `done` when the rollout is
/// complete, or `timeout` / `rollout-error` (an `ApiError`).
pub async fn rollout(
    k8s: &K8s,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let ns = k8s.namespace(ns)?.to_owned();
    let name = K8s::name(name)?.to_owned();
    let api: Api<Deployment> = Api::namespaced(k8s.client.clone(), &ns);
    // Fail fast (404, 403) before the stream starts.
    api.get(&name).await.map_err(|e| map_error(e, "get", &format!("deployment {name}")))?;
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let label = name.clone();
    let updates = watcher::watcher(api, config)
        .map_err(move |e| {
            ApiError::new(triage_shared::ErrorKind::Upstream, format!("watching {label} failed: {e}"))
        })
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => {
                    Some(Ok(deployment_summary(&d)))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        });
    let mut finished = false;
    let stream = updates
        .take_until(tokio::time::sleep(timeout))
        .map(move |item| match item {
            Ok(summary) => {
                let complete = summary.rollout == RolloutState::Complete;
                let mut events = vec![json_event("rollout", &summary)];
                if complete {
                    events.push(json_event("done", &summary));
                }
                (complete, events)
            }
            Err(e) => (true, vec![json_event("rollout-error", &e)]),
        })
        .take_while(move |(stop, _)| {
            let go_on = !finished;
            finished |= *stop;
            futures::future::ready(go_on)
        })
        .flat_map(|(_, events)| futures::stream::iter(events))
        .chain(futures::stream::once(async { Event::default().event("end").data("") }))
        .map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `line` events with each new log line, from the last `tail` lines on; `end` when the
/// container stops or Kubernetes closes the stream.
pub async fn follow_logs(
    k8s: &K8s,
    ns: &str,
    name: &str,
    tail: i64,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let ns = k8s.namespace(ns)?.to_owned();
    let name = K8s::name(name)?.to_owned();
    let api: Api<Pod> = Api::namespaced(k8s.client.clone(), &ns);
    let params = LogParams { follow: true, tail_lines: Some(tail.clamp(0, 10_000)), ..Default::default() };
    let reader = api
        .log_stream(&name, &params)
        .await
        .map_err(|e| map_error(e, "follow logs of", &format!("pod {name}")))?;
    let stream = reader
        .lines()
        // Each line travels as a JSON string: a carriage return, an escape sequence or any other
        // control character in a log line arrives exactly as written and cannot split the event.
        .map(|line| {
            let (event, text) = match line {
                Ok(text) => ("line", text),
                Err(e) => ("log-error", e.to_string()),
            };
            let data = serde_json::Value::String(text).to_string();
            Event::default().event(event).data(data)
        })
        .chain(futures::stream::once(async { Event::default().event("end").data("") }))
        .map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
