//! metrics.k8s.io/v1beta1: PodMetrics and NodeMetrics from the simulation's usage figures.

use serde_json::{Value, json};

use crate::api::{Shared, lock, status_error};
use crate::world::{PodState, World};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

fn cpu(cores: f64) -> String {
    format!("{}n", (cores * 1e9) as u64)
}

fn memory(bytes: f64) -> String {
    format!("{}Ki", (bytes / 1024.0) as u64)
}

fn pod_metrics(world: &World) -> Vec<Value> {
    let now = crate::api::now();
    world
        .pods
        .values()
        .filter(|p| p.state == PodState::Running && p.terminating.is_none())
        .map(|p| {
            let labels = world
                .store
                .get(crate::store::Kind::Pod, crate::world::NAMESPACE, &p.name)
                .map(|o| o["metadata"]["labels"].clone())
                .unwrap_or(Value::Null);
            json!({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                   "metadata": {"name": p.name, "namespace": crate::world::NAMESPACE, "creationTimestamp": now, "labels": labels},
                   "timestamp": now, "window": "10s",
                   "containers": [{"name": p.container_names().into_iter().next().unwrap_or_default(),
                                   "usage": {"cpu": cpu(p.cpu_cores), "memory": memory(p.memory_bytes)}}]})
        })
        .collect()
}

fn node_metrics(world: &World) -> Vec<Value> {
    let now = crate::api::now();
    world
        .nodes
        .iter()
        .map(|node| {
            let (cores, bytes) = world
                .pods
                .values()
                .filter(|p| &p.node == node)
                .fold((0.35, 1.2e9), |(c, m), p| (c + p.cpu_cores, m + p.memory_bytes));
            json!({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                   "metadata": {"name": node, "creationTimestamp": now, "labels": {"kubernetes.io/hostname": node}},
                   "timestamp": now, "window": "20s", "usage": {"cpu": cpu(cores), "memory": memory(bytes)}})
        })
        .collect()
}

pub fn handle(world: &Shared, namespace: Option<&str>, plural: &str, name: Option<&str>) -> Response {
    let w = lock(world);
    let (items, list_kind) = match plural {
        "pods" => (
            pod_metrics(&w)
                .into_iter()
                .filter(|m| namespace.is_none_or(|n| m["metadata"]["namespace"] == n))
                .collect::<Vec<_>>(),
            "PodMetricsList",
        ),
        "nodes" => (node_metrics(&w), "NodeMetricsList"),
        _ => {
            return status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            );
        }
    };
    drop(w);
    let body = match name {
        Some(name) => match items.into_iter().find(|m| m["metadata"]["name"] == name) {
            Some(m) => m,
            None => {
                return status_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("{plural}.metrics.k8s.io \"{name}\" not found"),
                    Some(json!({"name": name, "group": "metrics.k8s.io", "kind": plural})),
                );
            }
        },
        None => {
            json!({"kind": list_kind, "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
        }
    };
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
