//! Guarded Kubernetes actions. Each one is dry-run on the server first (`dryRun=All`), described
//! ("replicas 6 → 12") and carries its `kubectl` equivalent; the role check, typed confirmation
//! and audit before and after are [`crate::guard`]'s.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use triage_shared::actions::{
    ActionOutcome, DeletePodRequest, DeletePodsRequest, RestartRequest, Role, ScaleRequest,
};
use triage_shared::{ApiError, ErrorKind, commands};

use crate::guard::{Actor, Plan, guarded, require};
use crate::kubernetes::{K8s, map_error};

/// What a deployment patch does: a scale goes to the `scale` subresource, a restart patches the
/// pod template.
#[derive(Clone, Copy)]
enum Change {
    Scale,
    Restart,
}

/// One deployment (namespace and name already checked), every request error naming it.
struct DeploymentApi<'a> {
    api: Api<Deployment>,
    name: &'a str,
}

impl<'a> DeploymentApi<'a> {
    fn new(k8s: &K8s, ns: &str, name: &'a str) -> Self {
        Self { api: Api::namespaced(k8s.client.clone(), ns), name }
    }

    fn target(&self) -> String {
        format!("deployment {}", self.name)
    }

    /// The replicas its spec asks for (Kubernetes' default of 1 when unset).
    async fn replicas(&self) -> Result<i32, ApiError> {
        let current = self.api.get(self.name).await.map_err(|e| map_error(e, "get", &self.target()))?;
        Ok(current.spec.and_then(|s| s.replicas).unwrap_or(1))
    }

    /// Sends `patch` for `change`, as a server-side dry run when `dry_run`.
    async fn patch(
        &self,
        change: Change,
        patch: &Patch<serde_json::Value>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let (params, verb) = match (change, dry_run) {
            (Change::Scale, true) => (PatchParams::default().dry_run(), "scale (dry run)"),
            (Change::Scale, false) => (PatchParams::default(), "scale"),
            (Change::Restart, true) => (PatchParams::default().dry_run(), "restart (dry run)"),
            (Change::Restart, false) => (PatchParams::default(), "restart"),
        };
        let sent = match change {
            Change::Scale => self.api.patch_scale(self.name, &params, patch).await.map(drop),
            Change::Restart => self.api.patch(self.name, &params, patch).await.map(drop),
        };
        sent.map_err(|e| map_error(e, verb, &self.target()))
    }
}

pub async fn scale(
    k8s: &K8s,
    actor: &Actor<'_>,
    ns: &str,
    name: &str,
    req: &ScaleRequest,
) -> Result<ActionOutcome, ApiError> {
    require(actor.identity, Role::Operator, "scaling a deployment")?;
    let ns = k8s.namespace(ns)?;
    let name = K8s::name(name)?;
    if !(0..=1000).contains(&req.replicas) {
        return Err(ApiError::new(ErrorKind::BadRequest, "replicas must be between 0 and 1000"));
    }
    let deployment = DeploymentApi::new(k8s, ns, name);
    let before = deployment.replicas().await?;
    let patch = Patch::Merge(serde_json::json!({"spec": {"replicas": req.replicas}}));
    deployment.patch(Change::Scale, &patch, true).await?;
    let summary = format!("replicas {before} → {}", req.replicas);
    let needs_confirmation = req.replicas < before;
    let kubectl = commands::kubectl_scale(ns, name, req.replicas);
    let plan = Plan {
        action: "scale",
        target: format!("deployment/{ns}/{name}"),
        params: serde_json::json!({"replicas": req.replicas, "from": before}),
        summary,
        kubectl,
        confirm_with: needs_confirmation.then_some(name),
        name,
    };
    guarded(actor, plan, req.dry_run, req.confirm.as_deref(), || {
        deployment.patch(Change::Scale, &patch, false)
    })
    .await
}

pub async fn restart(
    k8s: &K8s,
    actor: &Actor<'_>,
    ns: &str,
    name: &str,
    req: &RestartRequest,
) -> Result<ActionOutcome, ApiError> {
    require(actor.identity, Role::Operator, "restarting a deployment")?;
    let ns = k8s.namespace(ns)?;
    let name = K8s::name(name)?;
    let deployment = DeploymentApi::new(k8s, ns, name);
    let replicas = deployment.replicas().await?;
    // What `kubectl rollout restart` does: a new template annotation starts a rolling update.
    let stamp = jiff::Timestamp::now().to_string();
    let patch = Patch::Strategic(serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
    }));
    deployment.patch(Change::Restart, &patch, true).await?;
    let summary = format!("rolling restart of {replicas} pods of {name} (25% at a time)");
    let kubectl = commands::kubectl_restart(ns, name);
    let plan = Plan {
        action: "restart",
        target: format!("deployment/{ns}/{name}"),
        params: serde_json::json!({"restartedAt": stamp}),
        summary,
        kubectl,
        confirm_with: Some(name),
        name,
    };
    guarded(actor, plan, req.dry_run, req.confirm.as_deref(), || {
        deployment.patch(Change::Restart, &patch, false)
    })
    .await
}

pub async fn delete_pod(
    k8s: &K8s,
    actor: &Actor<'_>,
    ns: &str,
    name: &str,
    req: &DeletePodRequest,
) -> Result<ActionOutcome, ApiError> {
    require(actor.identity, Role::Operator, "deleting a pod")?;
    let ns = k8s.namespace(ns)?;
    let name = K8s::name(name)?;
    let api: Api<Pod> = Api::namespaced(k8s.client.clone(), ns);
    let pod = api.get(name).await.map_err(|e| map_error(e, "get", &format!("pod {name}")))?;
    let controller = pod
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|r| r.controller == Some(true)))
        .map(|r| format!("{}/{}", r.kind, r.name));
    let grace = if req.force { Some(0) } else { None };
    // The uid precondition: the pod the plan described, never a successor under the same name.
    let params = DeleteParams {
        grace_period_seconds: grace,
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    api.delete(name, &DeleteParams { dry_run: true, ..params.clone() })
        .await
        .map_err(|e| map_error(e, "delete (dry run)", &format!("pod {name}")))?;
    let how = if req.force { "immediately (grace period 0)" } else { "gracefully" };
    let summary = match &controller {
        Some(c) => format!("delete pod {name} {how}; {c} replaces it"),
        None => format!("delete pod {name} {how}; it has no controller and will not come back"),
    };
    let kubectl = commands::kubectl_delete_pod(ns, name, req.force);
    let plan = Plan {
        action: "delete-pod",
        target: format!("pod/{ns}/{name}"),
        params: serde_json::json!({"force": req.force}),
        summary,
        kubectl,
        confirm_with: Some(name),
        name,
    };
    guarded(actor, plan, req.dry_run, req.confirm.as_deref(), || async {
        api.delete(name, &params).await.map(drop).map_err(|e| map_error(e, "delete", &format!("pod {name}")))
    })
    .await
}

/// Parses a typed label selector; one that names no real requirement is refused, never "all".
fn check_selector(selector: &str) -> Result<kube::core::Selector, ApiError> {
    if selector.len() > 1024 {
        return Err(ApiError::new(ErrorKind::BadRequest, "a label selector is at most 1,024 characters"));
    }
    crate::kubernetes::workloads::parse_selector_text(selector).map_err(|why| {
        ApiError::new(ErrorKind::BadRequest, format!("{selector:?} is not a usable label selector: {why}"))
    })
}

pub async fn delete_pods(
    k8s: &K8s,
    actor: &Actor<'_>,
    ns: &str,
    req: &DeletePodsRequest,
) -> Result<ActionOutcome, ApiError> {
    require(actor.identity, Role::Operator, "deleting pods")?;
    let ns = k8s.namespace(ns)?;
    let selector = check_selector(&req.selector)?;
    let api: Api<Pod> = Api::namespaced(k8s.client.clone(), ns);
    let list = api
        .list(&kube::api::ListParams::default().labels_from(&selector))
        .await
        .map_err(|e| map_error(e, "list", "pods"))?;
    let pods: Vec<(String, Option<String>)> =
        list.items.iter().filter_map(|p| Some((p.metadata.name.clone()?, p.metadata.uid.clone()))).collect();
    let names: Vec<String> = pods.iter().map(|(n, _)| n.clone()).collect();
    if names.is_empty() {
        return Err(ApiError::new(ErrorKind::NotFound, format!("no pod matches {}", req.selector)));
    }
    let how = if req.force { "immediately (grace period 0)" } else { "gracefully" };
    let summary = format!("delete {} pods {how}: {}", names.len(), names.join(", "));
    let kubectl = commands::kubectl_delete_pods(ns, &req.selector, req.force);
    let plan = Plan {
        action: "delete-pods",
        target: format!("pods/{ns}/{}", req.selector),
        params: serde_json::json!({"selector": req.selector, "force": req.force, "pods": names}),
        summary,
        kubectl,
        confirm_with: Some(&req.selector),
        name: &req.selector,
    };
    // Exactly the pods the plan lists, each by uid: a pod created since, or a successor under
    // the same name, is not touched.
    guarded(actor, plan, req.dry_run, req.confirm.as_deref(), || async {
        for (name, uid) in &pods {
            let params = DeleteParams {
                grace_period_seconds: req.force.then_some(0),
                preconditions: Some(Preconditions { uid: uid.clone(), resource_version: None }),
                ..DeleteParams::default()
            };
            match api.delete(name, &params).await {
                Ok(_) => {}
                // Already gone, or replaced by another pod of the same name.
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
                Err(e) => return Err(map_error(e, "delete", &format!("pod {name}"))),
            }
        }
        Ok(())
    })
    .await
}
