//! Server-side printing: the `meta.k8s.io/v1 Table` kubectl asks for, with the columns the real
//! API server prints for each kind (priority 1 columns appear with `-o wide`).

use serde_json::{Value, json};

use crate::api::age_seconds;
use crate::store::Kind;

/// Kubernetes' human duration (`45s`, `3m20s`, `5h`, `12d`).
pub fn human_duration(seconds: i64) -> String {
    if seconds < 0 {
        return "0s".to_owned();
    }
    let (m, h, d) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 120 {
        format!("{seconds}s")
    } else if m < 10 {
        let s = seconds % 60;
        if s == 0 { format!("{m}m") } else { format!("{m}m{s}s") }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        let rem = m % 60;
        if rem == 0 { format!("{h}h") } else { format!("{h}h{rem}m") }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        let rem = h % 24;
        if rem == 0 { format!("{d}d") } else { format!("{d}d{rem}h") }
    } else {
        format!("{d}d")
    }
}

fn col(name: &str, kind: &str, priority: u8, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": description, "priority": priority})
}

fn age(o: &Value) -> String {
    human_duration(age_seconds(&o["metadata"]["creationTimestamp"]))
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

fn selector_text(map: &Value) -> String {
    map.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A controller's `spec.selector` as a label-selector string (`tier in (web),track notin (canary)`).
fn label_selector_text(selector: &Value) -> String {
    crate::selectors::LabelSelector::from_object(selector, "spec.selector")
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Names and images of a pod template's containers, comma-separated.
fn containers_and_images(o: &Value) -> (String, String) {
    let containers =
        o["spec"]["template"]["spec"]["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let join = |key: &str| containers.iter().filter_map(|c| c[key].as_str()).collect::<Vec<_>>().join(",");
    (join("name"), join("image"))
}

fn pod_status(o: &Value) -> String {
    if o["metadata"]["deletionTimestamp"].is_string() {
        return "Terminating".to_owned();
    }
    let cs = &o["status"]["containerStatuses"][0]["state"];
    if let Some(reason) = cs["waiting"]["reason"].as_str() {
        return reason.to_owned();
    }
    o["status"]["phase"].as_str().unwrap_or("Unknown").to_owned()
}

fn restarts(o: &Value) -> String {
    let c = &o["status"]["containerStatuses"][0];
    let n = c["restartCount"].as_u64().unwrap_or(0);
    match c["lastState"]["terminated"]["finishedAt"].as_str() {
        Some(_) if n > 0 => {
            format!("{n} ({} ago)", human_duration(age_seconds(&c["lastState"]["terminated"]["finishedAt"])))
        }
        _ => n.to_string(),
    }
}

fn columns_and_cells(kind: Kind, o: &Value) -> (Vec<Value>, Vec<Value>) {
    let name = o["metadata"]["name"].clone();
    match kind {
        Kind::Pod => {
            let ready = o["status"]["containerStatuses"]
                .as_array()
                .map_or((0, 0), |cs| (cs.iter().filter(|c| c["ready"] == true).count(), cs.len()));
            (
                vec![
                    col("Name", "string", 0, "Name must be unique within a namespace."),
                    col(
                        "Ready",
                        "string",
                        0,
                        "The aggregate readiness state of this pod for accepting traffic.",
                    ),
                    col("Status", "string", 0, "The aggregate status of the containers in this pod."),
                    col(
                        "Restarts",
                        "string",
                        0,
                        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                    ),
                    col(
                        "Age",
                        "string",
                        0,
                        "CreationTimestamp is a timestamp representing the server time when this object was created.",
                    ),
                    col("IP", "string", 1, "IP address allocated to the pod."),
                    col("Node", "string", 1, "Name of the Node this pod is running on."),
                    col(
                        "Nominated Node",
                        "string",
                        1,
                        "Name of the Node where this pod is nominated to run.",
                    ),
                    col("Readiness Gates", "string", 1, "Pod readiness gates."),
                ],
                vec![
                    name,
                    json!(format!("{}/{}", ready.0, ready.1)),
                    json!(pod_status(o)),
                    json!(restarts(o)),
                    json!(age(o)),
                    json!(o["status"]["podIP"].as_str().unwrap_or("<none>")),
                    json!(o["spec"]["nodeName"].as_str().unwrap_or("<none>")),
                    json!("<none>"),
                    json!("<none>"),
                ],
            )
        }
        Kind::StatefulSet => {
            let (names, images) = containers_and_images(o);
            let desired = o["spec"]["replicas"].as_u64().unwrap_or(0);
            let ready = o["status"]["readyReplicas"].as_u64().unwrap_or(0);
            (
                vec![
                    col("Name", "string", 0, "Name"),
                    col("Ready", "string", 0, "Number of the pod with ready state"),
                    col("Age", "string", 0, "Age"),
                    col("Containers", "string", 1, "Names of each container in the template."),
                    col("Images", "string", 1, "Images referenced by each container in the template."),
                ],
                vec![name, json!(format!("{ready}/{desired}")), json!(age(o)), json!(names), json!(images)],
            )
        }
        Kind::Deployment | Kind::ReplicaSet => {
            let (names, images) = containers_and_images(o);
            let desired = o["spec"]["replicas"].as_u64().unwrap_or(0);
            let ready = o["status"]["readyReplicas"].as_u64().unwrap_or(0);
            let selector = label_selector_text(&o["spec"]["selector"]);
            if kind == Kind::Deployment {
                (
                    vec![
                        col("Name", "string", 0, "Name"),
                        col("Ready", "string", 0, "Number of the pod with ready state"),
                        col(
                            "Up-to-date",
                            "string",
                            0,
                            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                        ),
                        col(
                            "Available",
                            "string",
                            0,
                            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                        ),
                        col("Age", "string", 0, "Age"),
                        col("Containers", "string", 1, "Names of each container in the template."),
                        col("Images", "string", 1, "Images referenced by each container in the template."),
                        col("Selector", "string", 1, "Label selector for pods."),
                    ],
                    vec![
                        name,
                        json!(format!("{ready}/{desired}")),
                        json!(o["status"]["updatedReplicas"].as_u64().unwrap_or(0)),
                        json!(o["status"]["availableReplicas"].as_u64().unwrap_or(0)),
                        json!(age(o)),
                        json!(names),
                        json!(images),
                        json!(selector),
                    ],
                )
            } else {
                (
                    vec![
                        col("Name", "string", 0, "Name"),
                        col("Desired", "integer", 0, "Number of desired pods."),
                        col("Current", "integer", 0, "Number of actual replicas."),
                        col("Ready", "integer", 0, "Number of ready replicas."),
                        col("Age", "string", 0, "Age"),
                        col("Containers", "string", 1, "Names of each container in the template."),
                        col("Images", "string", 1, "Images referenced by each container in the template."),
                        col("Selector", "string", 1, "Label selector for pods."),
                    ],
                    vec![
                        name,
                        json!(desired),
                        json!(o["status"]["replicas"].as_u64().unwrap_or(0)),
                        json!(ready),
                        json!(age(o)),
                        json!(names),
                        json!(images),
                        json!(selector),
                    ],
                )
            }
        }
        Kind::Service => {
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                        .collect()
                })
                .unwrap_or_default();
            let external = if o["spec"]["type"] == "LoadBalancer" { "<pending>" } else { "<none>" };
            (
                vec![
                    col("Name", "string", 0, "Name"),
                    col("Type", "string", 0, "The type of the service."),
                    col("Cluster-IP", "string", 0, "The cluster IP of the service."),
                    col("External-IP", "string", 0, "The external IP of the service."),
                    col("Port(s)", "string", 0, "The ports of the service."),
                    col("Age", "string", 0, "Age"),
                    col("Selector", "string", 1, "The label selector of the service."),
                ],
                vec![
                    name,
                    o["spec"]["type"].clone(),
                    o["spec"]["clusterIP"].clone(),
                    json!(external),
                    json!(ports.join(",")),
                    json!(age(o)),
                    json!(none_if_empty(selector_text(&o["spec"]["selector"]))),
                ],
            )
        }
        Kind::NetworkPolicy => (
            vec![
                col("Name", "string", 0, "Name"),
                col("Pod-Selector", "string", 0, "Pod selector"),
                col("Age", "string", 0, "Age"),
            ],
            vec![
                name,
                json!(none_if_empty(selector_text(&o["spec"]["podSelector"]["matchLabels"]))),
                json!(age(o)),
            ],
        ),
        Kind::Event => (
            vec![
                col("Last Seen", "string", 0, "Time of the last occurrence."),
                col("Type", "string", 0, "Type of this event."),
                col("Reason", "string", 0, "Why the action was taken."),
                col("Object", "string", 0, "The object this event is about."),
                col("Message", "string", 0, "A human-readable description of the status of this operation."),
            ],
            vec![
                json!(human_duration(age_seconds(&o["lastTimestamp"]))),
                o["type"].clone(),
                o["reason"].clone(),
                json!(format!(
                    "{}/{}",
                    o["involvedObject"]["kind"].as_str().unwrap_or_default().to_lowercase(),
                    o["involvedObject"]["name"].as_str().unwrap_or_default()
                )),
                o["message"].clone(),
            ],
        ),
        Kind::Namespace => (
            vec![
                col("Name", "string", 0, "Name"),
                col("Status", "string", 0, "The status of the namespace"),
                col("Age", "string", 0, "Age"),
            ],
            vec![name, o["status"]["phase"].clone(), json!(age(o))],
        ),
        Kind::Node => (
            vec![
                col("Name", "string", 0, "Name"),
                col("Status", "string", 0, "The status of the node"),
                col("Roles", "string", 0, "The roles of the node"),
                col("Age", "string", 0, "Age"),
                col("Version", "string", 0, "Kubelet Version reported by the node."),
                col("Internal-IP", "string", 1, "List of internal IPs."),
                col("OS-Image", "string", 1, "OS image reported by the node."),
            ],
            vec![
                name,
                json!("Ready"),
                json!("worker"),
                json!(age(o)),
                o["status"]["nodeInfo"]["kubeletVersion"].clone(),
                o["status"]["addresses"][0]["address"].clone(),
                o["status"]["nodeInfo"]["osImage"].clone(),
            ],
        ),
        Kind::Secret => (
            vec![
                col("Name", "string", 0, "Name"),
                col("Type", "string", 0, "The type of the secret"),
                col("Data", "string", 0, "The number of entries in the data"),
                col("Age", "string", 0, "Age"),
            ],
            vec![
                name,
                o["type"].clone(),
                json!(o["data"].as_object().map_or(0, serde_json::Map::len)),
                json!(age(o)),
            ],
        ),
        Kind::Endpoints | Kind::EndpointSlice => (
            vec![col("Name", "string", 0, "Name"), col("Age", "string", 0, "Age")],
            vec![name, json!(age(o))],
        ),
    }
}

/// A Table of `objects`; rows carry PartialObjectMetadata (or the object with includeObject=Object).
pub fn table(kind: Kind, objects: &[Value], metadata: Value, include_object: &str) -> Value {
    let mut columns = match objects.first() {
        Some(o) => columns_and_cells(kind, o).0,
        None => columns_and_cells(kind, &json!({})).0,
    };
    if columns.is_empty() {
        columns = vec![col("Name", "string", 0, "Name")];
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include_object {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            };
            json!({"cells": columns_and_cells(kind, o).1, "object": object})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_print_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(900), "15m");
        assert_eq!(human_duration(5 * 3600 + 60 * 7), "5h7m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(12 * 86_400), "12d");
    }
}
