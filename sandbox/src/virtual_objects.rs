//! Objects derived from others on every read, as controllers would keep them: Endpoints and
//! EndpointSlices of each Service, from its ready pods.

use serde_json::{Value, json};

use crate::selectors::LabelSelector;
use crate::store::Kind;
use crate::world::World;

pub fn list(world: &World, kind: Kind, namespace: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for svc in world.store.list(Kind::Service, namespace) {
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
        let selector = svc["spec"]["selector"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let Ok(selector) = LabelSelector::parse(&selector) else { continue };
        let pods: Vec<&Value> =
            world.store.list(Kind::Pod, Some(ns)).into_iter().filter(|p| selector.matches(p)).collect();
        let port = svc["spec"]["ports"][0]["targetPort"].clone();
        let ready = |p: &Value| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        };
        let rv = world.store.resource_version().to_string();
        match kind {
            Kind::Endpoints => {
                let address = |p: &&Value| {
                    json!({"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
                };
                let addresses: Vec<Value> = pods.iter().filter(|p| ready(p)).map(address).collect();
                let not_ready: Vec<Value> = pods
                    .iter()
                    .filter(|p| !ready(p) && p["status"]["podIP"].is_string())
                    .map(address)
                    .collect();
                let mut subset = json!({"ports": [{"name": "http", "port": port, "protocol": "TCP"}]});
                if !addresses.is_empty() {
                    subset["addresses"] = json!(addresses);
                }
                if !not_ready.is_empty() {
                    subset["notReadyAddresses"] = json!(not_ready);
                }
                out.push(json!({"kind": "Endpoints", "apiVersion": "v1",
                    "metadata": {"name": name, "namespace": ns, "labels": svc["metadata"]["labels"], "resourceVersion": rv,
                                 "creationTimestamp": svc["metadata"]["creationTimestamp"], "uid": svc["metadata"]["uid"]},
                    "subsets": [subset]}));
            }
            Kind::EndpointSlice => {
                let endpoints: Vec<Value> = pods
                    .iter()
                    .filter(|p| p["status"]["podIP"].is_string())
                    .map(|p| json!({"addresses": [p["status"]["podIP"]], "conditions": {"ready": ready(p), "serving": ready(p), "terminating": p["metadata"]["deletionTimestamp"].is_string()},
                                    "nodeName": p["spec"]["nodeName"],
                                    "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}))
                    .collect();
                out.push(json!({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                    "metadata": {"name": format!("{name}-abcde"), "namespace": ns, "resourceVersion": rv,
                                 "creationTimestamp": svc["metadata"]["creationTimestamp"],
                                 "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name, "uid": svc["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}));
            }
            _ => {}
        }
    }
    out
}
