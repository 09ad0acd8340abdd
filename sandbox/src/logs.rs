//! `pods/{name}/log`: `tailLines`, `previous`, `timestamps`, `sinceSeconds`, `limitBytes`,
//! `follow` (streamed until the pod goes away or the client leaves).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::api::{Shared, lock, status_error};
use crate::world::{LogLine, PodState};

fn render(line: &LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}\n", line.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), line.text)
    } else {
        format!("{}\n", line.text)
    }
}

pub fn pod_log(world: Shared, name: &str, query: &HashMap<String, String>) -> Response {
    let flag = |k: &str| query.get(k).is_some_and(|v| v == "true" || v == "1");
    let timestamps = flag("timestamps");
    let previous = flag("previous");
    let follow = flag("follow") && !previous;
    let tail: Option<usize> =
        query.get("tailLines").and_then(|t| t.parse::<i64>().ok()).and_then(|t| usize::try_from(t).ok());
    let since = query
        .get("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| Utc::now() - chrono::Duration::seconds(s));
    let limit_bytes: Option<usize> = query.get("limitBytes").and_then(|l| l.parse().ok());
    let w = lock(&world);
    let Some(pod) = w.pods.get(name) else {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{name}\" not found"),
            Some(serde_json::json!({"name": name, "kind": "pods"})),
        );
    };
    // Every container of a pod shares the pod's simulated log.
    let containers = pod.container_names();
    let container = match query.get("container") {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("container {c} is not valid for pod {name}"),
                None,
            );
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                ),
                None,
            );
        }
    };
    if previous && pod.restarts == 0 {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("previous terminated container \"{container}\" in pod \"{name}\" not found"),
            None,
        );
    }
    if !previous && matches!(pod.state, PodState::Pending | PodState::ContainerCreating) {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"),
            None,
        );
    }
    let source: Vec<LogLine> =
        if previous { pod.previous_logs.clone() } else { pod.logs.iter().cloned().collect() };
    drop(w);
    let mut lines: Vec<&LogLine> = source.iter().filter(|l| since.is_none_or(|s| l.time >= s)).collect();
    if let Some(tail) = tail {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    let mut text: String = lines.iter().map(|l| render(l, timestamps)).collect();
    if let Some(limit) = limit_bytes
        && text.len() > limit
    {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let last_seq = source.last().map_or(0, |l| l.seq);
    if !follow {
        return ([(header::CONTENT_TYPE, "text/plain")], text).into_response();
    }
    let pod_name = name.to_owned();
    let first = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(text)) });
    let rest = futures::stream::unfold((world, pod_name, last_seq), move |(world, pod, seq)| async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let w = lock(&world);
            let p = w.pods.get(&pod)?;
            let new: Vec<LogLine> = p.logs.iter().filter(|l| l.seq > seq).cloned().collect();
            drop(w);
            if let Some(last) = new.last() {
                let next = last.seq;
                let chunk: String = new.iter().map(|l| render(l, timestamps)).collect();
                return Some((Ok(Bytes::from(chunk)), (world, pod, next)));
            }
        }
    });
    ([(header::CONTENT_TYPE, "text/plain")], Body::from_stream(futures::StreamExt::chain(first, rest)))
        .into_response()
}
