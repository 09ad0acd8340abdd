//! The read views: pods, logs, deployments, events, usage, services and network policies,
//! each summarised into a `triage_shared::k8s` type.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::core::{ApiResource, GroupVersionKind};
use triage_shared::ApiError;
use triage_shared::k8s::{
    Condition, ContainerDetail, DeploymentSummary, EventSummary, NetworkPolicySummary, NodeUsage, PodDetail,
    PodList, PodLogs, PodSummary, PodUsage, RolloutState, ServiceSummary, Termination,
};

use super::{K8s, map_error};

impl K8s {
    pub async fn list_pods(
        &self,
        ns: &str,
        selector: Option<&str>,
        limit: Option<u32>,
        continue_token: Option<&str>,
    ) -> Result<PodList, ApiError> {
        let ns = self.namespace(ns)?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut params = ListParams::default();
        if let Some(s) = selector.filter(|s| !s.is_empty()) {
            params = params.labels(s);
        }
        if let Some(l) = limit {
            params = params.limit(l);
        }
        if let Some(c) = continue_token.filter(|c| !c.is_empty()) {
            params = params.continue_token(c);
        }
        let list = api.list(&params).await.map_err(|e| map_error(e, "list", "pods"))?;
        Ok(PodList {
            items: list.items.iter().map(pod_summary).collect(),
            continue_token: list.metadata.continue_.filter(|c| !c.is_empty()),
        })
    }

    pub async fn pod_detail(&self, ns: &str, name: &str) -> Result<PodDetail, ApiError> {
        let ns = self.namespace(ns)?;
        let name = Self::name(name)?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let pod = api.get(name).await.map_err(|e| map_error(e, "get", &format!("pod {name}")))?;
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let mut params = ListParams::default().fields(&format!("involvedObject.name={name}"));
        if let Some(uid) = pod.metadata.uid.as_deref() {
            params =
                ListParams::default().fields(&format!("involvedObject.name={name},involvedObject.uid={uid}"));
        }
        let events = events.list(&params).await.map_err(|e| map_error(e, "list", "events"))?;
        let mut events: Vec<EventSummary> = events.items.iter().map(event_summary).collect();
        events.sort_by_key(|e| e.age_seconds);
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let statuses = status.container_statuses.clone().unwrap_or_default();
        let containers = spec
            .containers
            .iter()
            .map(|c| {
                let st = statuses.iter().find(|s| s.name == c.name);
                let (state, state_reason) = match st.and_then(|s| s.state.clone()) {
                    Some(s) if s.running.is_some() => ("Running".to_owned(), None),
                    Some(s) if s.waiting.is_some() => {
                        ("Waiting".to_owned(), s.waiting.and_then(|w| w.reason))
                    }
                    Some(s) if s.terminated.is_some() => {
                        ("Terminated".to_owned(), s.terminated.and_then(|t| t.reason))
                    }
                    _ => ("Unknown".to_owned(), None),
                };
                let resources = c.resources.clone().unwrap_or_default();
                let quantities =
                    |m: Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
                        m.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
                    };
                ContainerDetail {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    ready: st.is_some_and(|s| s.ready),
                    restart_count: st.map_or(0, |s| s.restart_count.max(0) as u32),
                    state,
                    state_reason,
                    requests: quantities(resources.requests),
                    limits: quantities(resources.limits),
                    last_termination: st.and_then(last_termination),
                }
            })
            .collect();
        let conditions = status
            .conditions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| Condition { kind: c.type_, status: c.status, reason: c.reason, message: c.message })
            .collect();
        let controlled_by = pod
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
            .map(|r| format!("{}/{}", r.kind, r.name));
        Ok(PodDetail {
            summary: pod_summary(&pod),
            controlled_by,
            qos_class: status.qos_class.clone(),
            containers,
            conditions,
            events,
        })
    }

    pub async fn pod_logs(
        &self,
        ns: &str,
        name: &str,
        tail: i64,
        previous: bool,
    ) -> Result<PodLogs, ApiError> {
        let ns = self.namespace(ns)?;
        let name = Self::name(name)?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = LogParams {
            tail_lines: Some(tail.clamp(1, 10_000)),
            limit_bytes: Some(self.max_log_bytes),
            previous,
            timestamps: false,
            ..Default::default()
        };
        let text = api
            .logs(name, &params)
            .await
            .map_err(|e| map_error(e, "read logs of", &format!("pod {name}")))?;
        Ok(PodLogs { pod: name.to_owned(), previous, lines: text.lines().map(str::to_owned).collect() })
    }

    pub async fn list_deployments(&self, ns: &str) -> Result<Vec<DeploymentSummary>, ApiError> {
        let ns = self.namespace(ns)?;
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let list = api.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "deployments"))?;
        Ok(list.items.iter().map(deployment_summary).collect())
    }

    pub async fn get_deployment(&self, ns: &str, name: &str) -> Result<Deployment, ApiError> {
        let ns = self.namespace(ns)?;
        let name = Self::name(name)?;
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        api.get(name).await.map_err(|e| map_error(e, "get", &format!("deployment {name}")))
    }

    /// Events, warnings first, newest first within each kind.
    pub async fn list_events(&self, ns: &str) -> Result<Vec<EventSummary>, ApiError> {
        let ns = self.namespace(ns)?;
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let list = api.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "events"))?;
        let mut events: Vec<EventSummary> = list.items.iter().map(event_summary).collect();
        events.sort_by(|a, b| {
            (a.kind != "Warning").cmp(&(b.kind != "Warning")).then(a.age_seconds.cmp(&b.age_seconds))
        });
        Ok(events)
    }

    pub async fn top_pods(&self, ns: &str) -> Result<Vec<PodUsage>, ApiError> {
        let ns = self.namespace(ns)?;
        let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics");
        let metrics: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, "pods"));
        let usage =
            metrics.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "pod metrics"))?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let pods = pods.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "pods"))?;
        let mut out = Vec::new();
        for m in &usage.items {
            let name = m.metadata.name.clone().unwrap_or_default();
            let containers = m.data["containers"].as_array().cloned().unwrap_or_default();
            let cpu: f64 =
                containers.iter().filter_map(|c| c["usage"]["cpu"].as_str().and_then(cpu_millicores)).sum();
            let memory: f64 =
                containers.iter().filter_map(|c| c["usage"]["memory"].as_str().and_then(bytes)).sum();
            let spec = pods
                .items
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(&name))
                .and_then(|p| p.spec.clone());
            let sum = |pick: &dyn Fn(&k8s_openapi::api::core::v1::ResourceRequirements) -> Option<String>,
                       parse: fn(&str) -> Option<f64>| {
                spec.as_ref().and_then(|s| {
                    let values: Vec<f64> = s
                        .containers
                        .iter()
                        .filter_map(|c| c.resources.as_ref().and_then(pick).and_then(|q| parse(&q)))
                        .collect();
                    (!values.is_empty()).then(|| values.iter().sum())
                })
            };
            let quantity =
                |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
                 k: &str| { m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone()) };
            out.push(PodUsage {
                name,
                cpu_millicores: cpu,
                memory_bytes: memory,
                cpu_request_millicores: sum(&|r| quantity(&r.requests, "cpu"), cpu_millicores),
                cpu_limit_millicores: sum(&|r| quantity(&r.limits, "cpu"), cpu_millicores),
                memory_request_bytes: sum(&|r| quantity(&r.requests, "memory"), bytes),
                memory_limit_bytes: sum(&|r| quantity(&r.limits, "memory"), bytes),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn top_nodes(&self) -> Result<Vec<NodeUsage>, ApiError> {
        let gvk = GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "NodeMetrics");
        let metrics: Api<DynamicObject> =
            Api::all_with(self.client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "nodes"));
        let usage =
            metrics.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "node metrics"))?;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let nodes = nodes.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "nodes"))?;
        let mut out: Vec<NodeUsage> = usage
            .items
            .iter()
            .map(|m| {
                let name = m.metadata.name.clone().unwrap_or_default();
                let allocatable = nodes
                    .items
                    .iter()
                    .find(|n| n.metadata.name.as_deref() == Some(&name))
                    .and_then(|n| n.status.as_ref())
                    .and_then(|s| s.allocatable.clone())
                    .unwrap_or_default();
                NodeUsage {
                    cpu_millicores: m.data["usage"]["cpu"].as_str().and_then(cpu_millicores).unwrap_or(0.0),
                    memory_bytes: m.data["usage"]["memory"].as_str().and_then(bytes).unwrap_or(0.0),
                    cpu_allocatable_millicores: allocatable.get("cpu").and_then(|q| cpu_millicores(&q.0)),
                    memory_allocatable_bytes: allocatable.get("memory").and_then(|q| bytes(&q.0)),
                    name,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn list_services(&self, ns: &str) -> Result<Vec<ServiceSummary>, ApiError> {
        let ns = self.namespace(ns)?;
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        let list = api.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "services"))?;
        Ok(list
            .items
            .iter()
            .map(|s| {
                let spec = s.spec.clone().unwrap_or_default();
                ServiceSummary {
                    name: s.metadata.name.clone().unwrap_or_default(),
                    kind: spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned()),
                    cluster_ip: spec.cluster_ip.clone(),
                    ports: spec
                        .ports
                        .unwrap_or_default()
                        .iter()
                        .map(|p| {
                            format!("{}/{}", p.port, p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()))
                        })
                        .collect(),
                    selector: selector_text(&spec.selector.unwrap_or_default()),
                    annotations: s.metadata.annotations.clone().unwrap_or_default(),
                }
            })
            .collect())
    }

    pub async fn list_network_policies(&self, ns: &str) -> Result<Vec<NetworkPolicySummary>, ApiError> {
        let ns = self.namespace(ns)?;
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), ns);
        let list =
            api.list(&ListParams::default()).await.map_err(|e| map_error(e, "list", "network policies"))?;
        Ok(list
            .items
            .iter()
            .map(|p| {
                let spec = p.spec.clone().unwrap_or_default();
                NetworkPolicySummary {
                    name: p.metadata.name.clone().unwrap_or_default(),
                    pod_selector: crate::kubernetes::workloads::selector_text(spec.pod_selector.as_ref()),
                    policy_types: spec.policy_types.unwrap_or_default(),
                    ingress_rules: spec.ingress.map_or(0, |r| r.len()),
                    egress_rules: spec.egress.map_or(0, |r| r.len()),
                }
            })
            .collect())
    }
}

fn selector_text(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn age_seconds(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> i64 {
    t.map_or(0, |t| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        now - t.0.as_second()
    })
}

fn time_text(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<String> {
    t.map(|t| t.0.to_string())
}

fn last_termination(s: &k8s_openapi::api::core::v1::ContainerStatus) -> Option<Termination> {
    s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).map(|t| Termination {
        reason: t.reason.clone().unwrap_or_else(|| "Unknown".to_owned()),
        exit_code: t.exit_code,
        finished_at: time_text(t.finished_at.as_ref()),
    })
}

/// The STATUS column as kubectl prints it.
fn pod_status(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".to_owned();
    }
    let status = pod.status.clone().unwrap_or_default();
    for c in status.container_statuses.unwrap_or_default() {
        if let Some(state) = c.state {
            if let Some(reason) = state.waiting.and_then(|w| w.reason) {
                return reason;
            }
            if let Some(reason) = state.terminated.and_then(|t| t.reason) {
                return reason;
            }
        }
    }
    status.phase.unwrap_or_else(|| "Unknown".to_owned())
}

pub fn pod_summary(pod: &Pod) -> PodSummary {
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let total = pod.spec.as_ref().map_or(statuses.len(), |s| s.containers.len());
    PodSummary {
        name: pod.metadata.name.clone().unwrap_or_default(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        ready_containers: statuses.iter().filter(|s| s.ready).count() as u32,
        total_containers: total as u32,
        status: pod_status(pod),
        restarts: statuses.iter().map(|s| s.restart_count.max(0) as u32).sum(),
        last_termination: statuses.iter().find_map(last_termination),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        ip: status.pod_ip.clone(),
        created: time_text(pod.metadata.creation_timestamp.as_ref()),
        age_seconds: age_seconds(pod.metadata.creation_timestamp.as_ref()),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
    }
}

pub fn deployment_summary(d: &Deployment) -> DeploymentSummary {
    let spec = d.spec.clone().unwrap_or_default();
    let status = d.status.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let (ready, updated, available) = (
        status.ready_replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
    );
    let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let progressing = status.conditions.unwrap_or_default().into_iter().find(|c| c.type_ == "Progressing");
    let rollout =
        if progressing.as_ref().and_then(|c| c.reason.as_deref()) == Some("ProgressDeadlineExceeded") {
            RolloutState::Stalled(progressing.and_then(|c| c.message).unwrap_or_default())
        } else if observed
            && updated == desired
            && ready == desired
            && available == desired
            && status.replicas.unwrap_or(0) == desired
        {
            RolloutState::Complete
        } else {
            RolloutState::Progressing(format!("{updated} of {desired} updated, {available} available"))
        };
    let images = spec
        .template
        .spec
        .map(|s| s.containers.iter().filter_map(|c| c.image.clone()).collect())
        .unwrap_or_default();
    DeploymentSummary {
        name: d.metadata.name.clone().unwrap_or_default(),
        namespace: d.metadata.namespace.clone().unwrap_or_default(),
        desired,
        ready,
        updated,
        available,
        rollout,
        images,
        selector: crate::kubernetes::workloads::selector_text(Some(&spec.selector)),
        age_seconds: age_seconds(d.metadata.creation_timestamp.as_ref()),
    }
}

fn event_summary(e: &Event) -> EventSummary {
    let last = e.last_timestamp.as_ref().or(e.first_timestamp.as_ref());
    EventSummary {
        kind: e.type_.clone().unwrap_or_else(|| "Normal".to_owned()),
        reason: e.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            e.involved_object.kind.clone().unwrap_or_default().to_lowercase(),
            e.involved_object.name.clone().unwrap_or_default()
        ),
        message: e.message.clone().unwrap_or_default(),
        count: e.count.unwrap_or(1),
        last_seen: time_text(last),
        age_seconds: age_seconds(last),
    }
}

/// CPU quantity (`250m`, `1`, `1234567n`, `500u`) in millicores.
pub fn cpu_millicores(q: &str) -> Option<f64> {
    let q = q.trim();
    let (num, scale) = if let Some(n) = q.strip_suffix('n') {
        (n, 1e-6)
    } else if let Some(n) = q.strip_suffix('u') {
        (n, 1e-3)
    } else if let Some(n) = q.strip_suffix('m') {
        (n, 1.0)
    } else {
        (q, 1000.0)
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// Memory quantity (`512Mi`, `1Gi`, `123456Ki`, `1G`, `1000`) in bytes.
pub fn bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    const SUFFIXES: [(&str, f64); 10] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
    ];
    for (suffix, scale) in SUFFIXES {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|v| v * scale);
        }
    }
    q.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millicores("250m"), Some(250.0));
        assert_eq!(cpu_millicores("2"), Some(2000.0));
        assert_eq!(cpu_millicores("452123456n"), Some(452.123456));
        assert_eq!(bytes("512Mi"), Some(536870912.0));
        assert_eq!(bytes("1Gi"), Some(1073741824.0));
        assert_eq!(bytes("100Ki"), Some(102400.0));
        assert_eq!(bytes("2G"), Some(2e9));
        assert_eq!(bytes("junk"), None);
    }
}
