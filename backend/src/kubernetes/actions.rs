//! Guarded Kubernetes actions. Each one: is allowed only to operators; is dry-run on the server
//! first (`dryRun=All`) and described ("replicas 6 → 12"); needs the target's name typed as
//! confirmation when it is destructive; is written to the audit log before it is sent and
//! updated with its outcome after; and carries its `kubectl` equivalent.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use triage_shared::actions::{
    ActionOutcome, AuditOutcome, DeletePodRequest, DeletePodsRequest, Identity, RestartRequest, Role,
    ScaleRequest,
};
use triage_shared::{ApiError, ErrorKind, commands};

use crate::audit::{AuditStore, NewEntry};
use crate::kubernetes::{K8s, map_error};

pub fn require(identity: &Identity, role: Role, what: &str) -> Result<(), ApiError> {
    if identity.role >= role {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            format!("{what} needs the {role:?} role; {} has {:?}", identity.subject, identity.role)
                .to_lowercase(),
        ))
    }
}

/// What an action will do, as its dry run described it.
pub(crate) struct Plan<'a> {
    pub action: &'static str,
    pub target: String,
    pub params: serde_json::Value,
    pub summary: String,
    /// The equivalent command (`kubectl …`, `psql …`).
    pub kubectl: String,
    /// What the user must type to confirm a destructive action; None when it is not destructive.
    pub confirm_with: Option<&'a str>,
}

/// The tail every action shares: a dry run answers with the plan; a real run checks the typed
/// confirmation, writes the audit entry, runs `act`, and records its outcome.
pub(crate) async fn guarded<F, Fut>(
    store: &AuditStore,
    identity: &Identity,
    plan: Plan<'_>,
    dry_run: bool,
    confirm: Option<&str>,
    act: F,
) -> Result<ActionOutcome, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let needs_confirmation = plan.confirm_with.is_some();
    if dry_run {
        return Ok(ActionOutcome {
            dry_run: true,
            summary: plan.summary,
            needs_confirmation,
            kubectl: plan.kubectl,
            audit_id: None,
        });
    }
    if let Some(expected) = plan.confirm_with
        && confirm != Some(expected)
    {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!("this action is destructive: type the target's name ({expected}) to confirm it"),
        ));
    }
    let entry = NewEntry {
        identity: identity.clone(),
        action: plan.action.to_owned(),
        target: plan.target,
        params: plan.params,
        dry_run_summary: plan.summary.clone(),
    };
    let id = store.begin(entry).await?;
    let result = act().await;
    let (outcome, error) = match &result {
        Ok(()) => (AuditOutcome::Succeeded, None),
        Err(e) => (AuditOutcome::Failed, Some(e.message.clone())),
    };
    // An action is acknowledged only once its outcome is committed: if that write fails the
    // caller hears so (the entry stays `pending`), never a plain success.
    if let Err(e) = store.finish(id, outcome, error).await {
        tracing::error!(audit_id = id, "recording the outcome failed: {}", e.message);
        let what = if result.is_ok() { "was applied" } else { "failed" };
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "the action {what}, but its outcome could not be recorded (audit entry {id} stays pending): {}",
                e.message
            ),
        )
        .with_detail(serde_json::json!({"audit_id": id, "applied": result.is_ok()})));
    }
    result.map(|()| ActionOutcome {
        dry_run: false,
        summary: plan.summary,
        needs_confirmation,
        kubectl: plan.kubectl,
        audit_id: Some(id),
    })
}

pub async fn scale(
    k8s: &K8s,
    store: &AuditStore,
    identity: &Identity,
    ns: &str,
    name: &str,
    req: &ScaleRequest,
) -> Result<ActionOutcome, ApiError> {
    require(identity, Role::Operator, "scaling a deployment")?;
    let ns = k8s.namespace(ns)?;
    let name = K8s::name(name)?;
    if !(0..=1000).contains(&req.replicas) {
        return Err(ApiError::new(ErrorKind::BadRequest, "replicas must be between 0 and 1000"));
    }
    let api: Api<Deployment> = Api::namespaced(k8s.client.clone(), ns);
    let current = api.get(name).await.map_err(|e| map_error(e, "get", &format!("deployment {name}")))?;
    let before = current.spec.and_then(|s| s.replicas).unwrap_or(1);
    let patch = Patch::Merge(serde_json::json!({"spec": {"replicas": req.replicas}}));
    api.patch_scale(name, &PatchParams::default().dry_run(), &patch)
        .await
        .map_err(|e| map_error(e, "scale (dry run)", &format!("deployment {name}")))?;
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
    };
    guarded(store, identity, plan, req.dry_run, req.confirm.as_deref(), || async {
        api.patch_scale(name, &PatchParams::default(), &patch)
            .await
            .map(drop)
            .map_err(|e| map_error(e, "scale", &format!("deployment {name}")))
    })
    .await
}

pub async fn restart(
    k8s: &K8s,
    store: &AuditStore,
    identity: &Identity,
    ns: &str,
    name: &str,
    req: &RestartRequest,
) -> Result<ActionOutcome, ApiError> {
    require(identity, Role::Operator, "restarting a deployment")?;
    let ns = k8s.namespace(ns)?;
    let name = K8s::name(name)?;
    let api: Api<Deployment> = Api::namespaced(k8s.client.clone(), ns);
    let current = api.get(name).await.map_err(|e| map_error(e, "get", &format!("deployment {name}")))?;
    let replicas = current.spec.and_then(|s| s.replicas).unwrap_or(1);
    // What `kubectl rollout restart` does: a new template annotation starts a rolling update.
    let stamp = jiff::Timestamp::now().to_string();
    let patch = Patch::Strategic(serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
    }));
    api.patch(name, &PatchParams::default().dry_run(), &patch)
        .await
        .map_err(|e| map_error(e, "restart (dry run)", &format!("deployment {name}")))?;
    let summary = format!("rolling restart of {replicas} pods of {name} (25% at a time)");
    let kubectl = commands::kubectl_restart(ns, name);
    let plan = Plan {
        action: "restart",
        target: format!("deployment/{ns}/{name}"),
        params: serde_json::json!({"restartedAt": stamp}),
        summary,
        kubectl,
        confirm_with: Some(name),
    };
    guarded(store, identity, plan, req.dry_run, req.confirm.as_deref(), || async {
        api.patch(name, &PatchParams::default(), &patch)
            .await
            .map(drop)
            .map_err(|e| map_error(e, "restart", &format!("deployment {name}")))
    })
    .await
}

pub async fn delete_pod(
    k8s: &K8s,
    store: &AuditStore,
    identity: &Identity,
    ns: &str,
    name: &str,
    req: &DeletePodRequest,
) -> Result<ActionOutcome, ApiError> {
    require(identity, Role::Operator, "deleting a pod")?;
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
    };
    guarded(store, identity, plan, req.dry_run, req.confirm.as_deref(), || async {
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
    store: &AuditStore,
    identity: &Identity,
    ns: &str,
    req: &DeletePodsRequest,
) -> Result<ActionOutcome, ApiError> {
    require(identity, Role::Operator, "deleting pods")?;
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
    };
    // Exactly the pods the plan lists, each by uid: a pod created since, or a successor under
    // the same name, is not touched.
    guarded(store, identity, plan, req.dry_run, req.confirm.as_deref(), || async {
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
