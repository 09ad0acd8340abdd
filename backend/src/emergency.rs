//! The guide's emergency restart as one guarded, audited sequence: record each deployment's
//! replica count, scale them down in order, wait for their pods to stop (force-deleting the
//! stragglers), then scale each back to *its recorded count* and wait for its rollout before the
//! next. Runs in the background; its progress is a [`Job`] polled at `/api/jobs/{id}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use triage_shared::actions::{
    AuditOutcome, EmergencyRestartRequest, Identity, Job, JobStep, Role, StepState,
};
use triage_shared::{ApiError, ErrorKind};

use crate::actions::require;
use crate::audit::{AuditStore, NewEntry};
use crate::kubernetes::{K8s, map_error};

/// Jobs of this process, by id.
#[derive(Default, Clone)]
pub struct Jobs(Arc<Mutex<HashMap<String, Job>>>);

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, id: &str) -> Option<Job> {
        self.lock().get(id).cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.lock().get_mut(id) {
            f(job);
        }
    }
}

fn step(text: String, kubectl: String) -> JobStep {
    JobStep { text, kubectl, state: StepState::Pending, detail: None }
}

fn selector(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Validates, records the counts and returns the plan; for a real run, starts it.
pub async fn start(
    k8s: &K8s,
    store: &AuditStore,
    jobs: &Jobs,
    identity: &Identity,
    ns: &str,
    req: EmergencyRestartRequest,
) -> Result<Job, ApiError> {
    require(identity, Role::Operator, "an emergency restart")?;
    let ns = k8s.namespace(ns)?.to_owned();
    if req.deployments.is_empty() {
        return Err(ApiError::new(ErrorKind::BadRequest, "list the deployments to restart"));
    }
    let api: Api<Deployment> = Api::namespaced(k8s.client.clone(), &ns);
    let mut recorded = Vec::new();
    let mut selectors = Vec::new();
    for name in &req.deployments {
        let name = K8s::name(name)?;
        let d = api.get(name).await.map_err(|e| map_error(e, "get", &format!("deployment {name}")))?;
        recorded.push((name.to_owned(), d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)));
        selectors.push(selector(&d));
    }
    let wait = req.shutdown_wait_secs.unwrap_or(30).min(600);
    let rollout_timeout = req.rollout_timeout_secs.unwrap_or(300).min(3600);
    let mut steps = Vec::new();
    for (name, _) in &recorded {
        steps.push(step(
            format!("scale {name} to 0"),
            format!("kubectl -n {ns} scale deployment {name} --replicas=0"),
        ));
    }
    steps.push(step(
        format!("wait up to {wait} s for their pods to stop"),
        format!("kubectl -n {ns} wait --for=delete pod -l <selector> --timeout={wait}s"),
    ));
    for ((name, _), sel) in recorded.iter().zip(&selectors) {
        steps.push(step(
            format!("force-delete any pod of {name} still present"),
            format!("kubectl -n {ns} delete pods -l {sel} --force --grace-period=0"),
        ));
    }
    for (name, count) in &recorded {
        steps.push(step(
            format!("scale {name} back to {count}"),
            format!("kubectl -n {ns} scale deployment {name} --replicas={count}"),
        ));
        steps.push(step(
            format!("wait for the rollout of {name}"),
            format!("kubectl -n {ns} rollout status deployment/{name} --timeout={rollout_timeout}s"),
        ));
    }
    // Server-side dry run of the first change, so permission problems show before anything moves.
    for (name, _) in &recorded {
        api.patch_scale(
            name,
            &PatchParams::default().dry_run(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
        )
        .await
        .map_err(|e| map_error(e, "scale (dry run)", &format!("deployment {name}")))?;
    }
    let id = format!("emergency-{}", jiff::Timestamp::now().as_millisecond());
    let mut job = Job {
        id: id.clone(),
        kind: "emergency-restart".to_owned(),
        dry_run: req.dry_run,
        recorded: recorded.clone(),
        steps,
        finished: req.dry_run,
        error: None,
        audit_id: None,
    };
    if req.dry_run {
        return Ok(job);
    }
    if req.confirm.as_deref() != Some(ns.as_str()) {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            format!(
                "an emergency restart stops every listed deployment: type the namespace ({ns}) to confirm it"
            ),
        ));
    }
    let summary = recorded.iter().map(|(n, c)| format!("{n} {c} → 0 → {c}")).collect::<Vec<_>>().join(", ");
    let audit_id = store
        .begin(NewEntry {
            identity: identity.clone(),
            action: "emergency-restart".to_owned(),
            target: format!("namespace/{ns}"),
            params: serde_json::json!({"recorded": recorded}),
            dry_run_summary: summary,
        })
        .await?;
    job.audit_id = Some(audit_id);
    jobs.lock().insert(id.clone(), job.clone());
    let (client, store, jobs_bg) = (k8s.client.clone(), store.clone(), jobs.clone());
    tokio::spawn(async move {
        let result = run(&client, &jobs_bg, &id, &ns, &recorded, &selectors, wait, rollout_timeout).await;
        let (outcome, error) = match &result {
            Ok(()) => (AuditOutcome::Succeeded, None),
            Err(e) => (AuditOutcome::Failed, Some(e.clone())),
        };
        jobs_bg.update(&id, |j| {
            j.finished = true;
            j.error = error.clone();
        });
        if let Err(e) = store.finish(audit_id, outcome, error).await {
            tracing::error!(audit_id, "recording the emergency restart's outcome failed: {}", e.message);
        }
    });
    Ok(job)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    client: &kube::Client,
    jobs: &Jobs,
    id: &str,
    ns: &str,
    recorded: &[(String, i32)],
    selectors: &[String],
    wait: u64,
    rollout_timeout: u64,
) -> Result<(), String> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut index = 0;
    let begin = |i: &mut usize| {
        let current = *i;
        jobs.update(id, |j| j.steps[current].state = StepState::Running);
        *i += 1;
        current
    };
    let done = |i: usize, detail: Option<String>| {
        jobs.update(id, |j| {
            j.steps[i].state = StepState::Done;
            j.steps[i].detail = detail;
        })
    };
    let fail = |i: usize, e: String| {
        jobs.update(id, |j| {
            j.steps[i].state = StepState::Failed;
            j.steps[i].detail = Some(e.clone());
        });
        e
    };
    let scale = |name: String, n: i32| {
        let deployments = deployments.clone();
        async move {
            deployments
                .patch_scale(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
                )
                .await
                .map(drop)
                .map_err(|e| map_error(e, "scale", &format!("deployment {name}")).message)
        }
    };
    for (name, _) in recorded {
        let i = begin(&mut index);
        scale(name.clone(), 0).await.map_err(|e| fail(i, e))?;
        done(i, None);
    }
    let i = begin(&mut index);
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut remaining = usize::MAX;
    while Instant::now() < deadline {
        remaining = 0;
        for sel in selectors {
            remaining += pods.list(&ListParams::default().labels(sel)).await.map_or(0, |l| l.items.len());
        }
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    done(i, Some(format!("{remaining} pods still present")));
    for sel in selectors {
        let i = begin(&mut index);
        let stuck =
            pods.list(&ListParams::default().labels(sel)).await.map_err(|e| fail(i, e.to_string()))?;
        for p in &stuck.items {
            if let Some(name) = &p.metadata.name {
                let _ = pods
                    .delete(name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
                    .await;
            }
        }
        done(i, Some(format!("{} force-deleted", stuck.items.len())));
    }
    for (name, count) in recorded {
        let i = begin(&mut index);
        scale(name.clone(), *count).await.map_err(|e| fail(i, e))?;
        done(i, None);
        let i = begin(&mut index);
        let deadline = Instant::now() + Duration::from_secs(rollout_timeout);
        loop {
            let d = deployments.get(name).await.map_err(|e| fail(i, e.to_string()))?;
            let s = d.status.clone().unwrap_or_default();
            let observed = s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
            if observed
                && s.ready_replicas.unwrap_or(0) == *count
                && s.updated_replicas.unwrap_or(0) == *count
            {
                done(i, Some(format!("{count}/{count} ready")));
                break;
            }
            if Instant::now() > deadline {
                return Err(fail(i, format!("rollout of {name} did not finish within {rollout_timeout} s")));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}
