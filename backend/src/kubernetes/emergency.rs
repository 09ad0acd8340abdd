//! The guide's emergency restart as one guarded, audited sequence: record each deployment's
//! replica count, scale them down in order, wait for their pods to stop (force-deleting the
//! stragglers), then scale each back to *its recorded count* and wait for its rollout before the
//! next. Runs in the background; its progress is a [`Job`] polled at `/api/jobs/{id}`.
//!
//! Its reach is exactly its plan: the pods it may force-delete are the ones the plan names, found
//! through each deployment's owner chain ([`crate::kubernetes::workloads::owned_pods`]), and each is deleted
//! with its uid as a precondition, so a pod created since (or a new pod under the same name) is
//! never touched. One emergency restart runs per namespace of an environment at a time.
//!
//! In an `approval` environment a real run waits in the store like any other action
//! (`crate::approvals`): the answer is the plan with the pending approval, and the restart is
//! planned again and started when a second operator approves it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use triage_shared::actions::{AuditOutcome, EmergencyRestartRequest, Job, JobStep, Role, StepState};
use triage_shared::commands::{kubectl_scale, shell_quote};
use triage_shared::{ApiError, ErrorKind};

use crate::guard::require;
use crate::kubernetes::workloads::owned_pods;
use crate::kubernetes::{K8s, map_error};
use crate::store::NewEntry;

/// Jobs of this process, by id, and the namespace each running one holds.
#[derive(Default, Clone)]
pub struct Jobs(Arc<Mutex<JobTable>>);

#[derive(Default)]
struct JobTable {
    jobs: HashMap<String, Job>,
    /// (Environment, namespace) → id of the emergency restart running there: the same
    /// namespace name in two clusters is two different namespaces.
    running: HashMap<(String, String), String>,
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, JobTable> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, id: &str) -> Option<Job> {
        self.lock().jobs.get(id).cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.lock().jobs.get_mut(id) {
            f(job);
        }
    }

    /// The running job of `ns` in environment `env`, if any.
    fn running_in(&self, env: &str, ns: &str) -> Option<String> {
        self.lock().running.get(&(env.to_owned(), ns.to_owned())).cloned()
    }

    /// Registers `job` as the one running in `ns` of `env`; refuses when another holds it
    /// (checked and taken under one lock, so two requests cannot both start).
    fn claim(&self, env: &str, ns: &str, job: Job) -> Result<(), ApiError> {
        let mut table = self.lock();
        let key = (env.to_owned(), ns.to_owned());
        if let Some(other) = table.running.get(&key) {
            return Err(already_running(ns, other));
        }
        table.running.insert(key, job.id.clone());
        table.jobs.insert(job.id.clone(), job);
        Ok(())
    }

    fn release(&self, env: &str, ns: &str, id: &str) {
        let mut table = self.lock();
        let key = (env.to_owned(), ns.to_owned());
        if table.running.get(&key).is_some_and(|running| running == id) {
            table.running.remove(&key);
        }
    }
}

fn already_running(ns: &str, id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Conflict,
        format!("emergency restart {id} is still running in namespace {ns}; wait for it to finish"),
    )
    .with_detail(serde_json::json!({"job": id}))
}

fn step(text: String, kubectl: String) -> JobStep {
    JobStep { text, kubectl, state: StepState::Pending, detail: None }
}

/// One deployment of the plan: its recorded count and the pods (name, uid) it owns now.
struct Planned {
    name: String,
    replicas: i32,
    pods: Vec<(String, String)>,
}

/// Validates, records the counts and returns the plan; for a real run, starts it.
pub async fn start(
    k8s: &K8s,
    actor: &crate::guard::Actor<'_>,
    jobs: &Jobs,
    ns: &str,
    req: EmergencyRestartRequest,
) -> Result<Job, ApiError> {
    let (store, identity) = (actor.store, actor.identity);
    require(identity, Role::Operator, "an emergency restart")?;
    let ns = k8s.namespace(ns)?.to_owned();
    if req.deployments.is_empty() {
        return Err(ApiError::new(ErrorKind::BadRequest, "list the deployments to restart"));
    }
    if req.deployments.len() > 50 {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "an emergency restart takes at most 50 deployments",
        ));
    }
    let env = actor.env.name.clone();
    if let Some(other) = jobs.running_in(&env, &ns) {
        return Err(already_running(&ns, &other));
    }
    let api: Api<Deployment> = Api::namespaced(k8s.client.clone(), &ns);
    let mut planned: Vec<Planned> = Vec::new();
    for name in &req.deployments {
        let name = K8s::name(name)?;
        if planned.iter().any(|p| p.name == name) {
            return Err(ApiError::new(ErrorKind::BadRequest, format!("deployment {name} is listed twice")));
        }
        let d = api.get(name).await.map_err(|e| map_error(e, "get", &format!("deployment {name}")))?;
        let pods = owned_pods(&k8s.client, &ns, &d)
            .await?
            .into_iter()
            .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
            .collect();
        planned.push(Planned {
            name: name.to_owned(),
            replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            pods,
        });
    }
    let wait = req.shutdown_wait_secs.unwrap_or(30).min(600);
    let rollout_timeout = req.rollout_timeout_secs.unwrap_or(300).min(3600);
    let q = shell_quote;
    let mut steps = Vec::new();
    for p in &planned {
        steps.push(step(format!("scale {} to 0", p.name), kubectl_scale(&ns, &p.name, 0)));
    }
    let all_pods: Vec<&str> = planned.iter().flat_map(|p| p.pods.iter().map(|(n, _)| n.as_str())).collect();
    steps.push(step(
        format!("wait up to {wait} s for their {} pods to stop", all_pods.len()),
        if all_pods.is_empty() {
            String::new()
        } else {
            format!(
                "kubectl -n {} wait --for=delete pod {} --timeout={wait}s",
                q(&ns),
                all_pods.iter().map(|n| q(n)).collect::<Vec<_>>().join(" ")
            )
        },
    ));
    for p in &planned {
        let names: Vec<String> = p.pods.iter().map(|(n, _)| q(n)).collect();
        let (text, kubectl) = if names.is_empty() {
            (format!("force-delete pods of {} still present: it has none", p.name), String::new())
        } else {
            (
                format!(
                    "force-delete any of these pods of {} still present: {}",
                    p.name,
                    p.pods.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                ),
                format!("kubectl -n {} delete pod {} --force --grace-period=0", q(&ns), names.join(" ")),
            )
        };
        steps.push(step(text, kubectl));
    }
    for p in &planned {
        steps.push(step(
            format!("scale {} back to {}", p.name, p.replicas),
            kubectl_scale(&ns, &p.name, p.replicas),
        ));
        steps.push(step(
            format!("wait for the rollout of {}", p.name),
            format!(
                "kubectl -n {} rollout status deployment/{} --timeout={rollout_timeout}s",
                q(&ns),
                q(&p.name)
            ),
        ));
    }
    // Server-side dry run of the first change, so permission problems show before anything moves.
    for p in &planned {
        api.patch_scale(
            &p.name,
            &PatchParams::default().dry_run(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
        )
        .await
        .map_err(|e| map_error(e, "scale (dry run)", &format!("deployment {}", p.name)))?;
    }
    let recorded: Vec<(String, i32)> = planned.iter().map(|p| (p.name.clone(), p.replicas)).collect();
    let pods: BTreeMap<String, Vec<String>> =
        planned.iter().map(|p| (p.name.clone(), p.pods.iter().map(|(n, _)| n.clone()).collect())).collect();
    let id = format!("emergency-{}", uuid::Uuid::new_v4().simple());
    let mut job = Job {
        id: id.clone(),
        kind: "emergency-restart".to_owned(),
        dry_run: req.dry_run,
        recorded: recorded.clone(),
        pods: pods.clone(),
        steps,
        finished: req.dry_run,
        error: None,
        audit_id: None,
        approval: None,
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
    let reason = crate::guard::checked_reason(&actor.env, req.reason.as_deref())?;
    let summary = recorded.iter().map(|(n, c)| format!("{n} {c} → 0 → {c}")).collect::<Vec<_>>().join(", ");
    if actor.waits_for_approval() {
        let kubectl = job.steps.iter().map(|s| s.kubectl.as_str()).filter(|k| !k.is_empty());
        let approval = crate::guard::pending_approval(
            actor,
            "emergency-restart",
            format!("namespace/{ns}"),
            format!("emergency restart: {summary}"),
            kubectl.collect::<Vec<_>>().join("\n"),
            reason,
        )
        .await?;
        job.finished = true;
        job.approval = Some(approval);
        return Ok(job);
    }
    // Claimed before the audit row, so a refused second request leaves no pending entry.
    jobs.claim(&env, &ns, job.clone())?;
    // The recorded counts are in the audit entry before anything is scaled: if Triage dies
    // mid-job, an operator restores them by hand from the audit log.
    let begun = store
        .audit()
        .begin(NewEntry {
            identity: identity.clone(),
            action: "emergency-restart".to_owned(),
            target: format!("namespace/{ns}"),
            params: serde_json::json!({"job": id, "recorded": recorded, "pods": pods}),
            dry_run_summary: summary,
            env: env.clone(),
            reason: reason.map(str::to_owned),
            approved_by: actor.approved.as_ref().map(|(_, by)| by.clone()),
        })
        .await;
    let audit_id = match begun {
        Ok(audit_id) => audit_id,
        Err(e) => {
            jobs.release(&env, &ns, &id);
            jobs.lock().jobs.remove(&id);
            return Err(e);
        }
    };
    job.audit_id = Some(audit_id);
    jobs.update(&id, |j| j.audit_id = Some(audit_id));
    let (client, store, jobs_bg) = (k8s.client.clone(), store.clone(), jobs.clone());
    tokio::spawn(async move {
        let result = run(&client, &jobs_bg, &id, &ns, &planned, wait, rollout_timeout).await;
        let (outcome, error) = match &result {
            Ok(()) => (AuditOutcome::Succeeded, None),
            Err(e) => (AuditOutcome::Failed, Some(e.clone())),
        };
        if let Err(e) = store.audit().finish(audit_id, outcome, error.clone()).await {
            tracing::error!(audit_id, "recording the emergency restart's outcome failed: {}", e.message);
        }
        jobs_bg.update(&id, |j| {
            j.finished = true;
            j.error = error;
        });
        jobs_bg.release(&env, &ns, &id);
    });
    Ok(job)
}

async fn run(
    client: &kube::Client,
    jobs: &Jobs,
    id: &str,
    ns: &str,
    planned: &[Planned],
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
    // Whether the planned pod (same name, same uid) still exists.
    let present = |name: String, uid: String| {
        let pods = pods.clone();
        async move {
            match pods.get_opt(&name).await {
                Ok(Some(p)) => Ok(p.metadata.uid.as_deref() == Some(uid.as_str())),
                Ok(None) => Ok(false),
                Err(e) => Err(map_error(e, "get", &format!("pod {name}")).message),
            }
        }
    };
    for p in planned {
        let i = begin(&mut index);
        scale(p.name.clone(), 0).await.map_err(|e| fail(i, e))?;
        done(i, None);
    }
    let i = begin(&mut index);
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut remaining;
    loop {
        remaining = 0;
        for p in planned {
            for (name, uid) in &p.pods {
                // A failed read counts as present: the force-delete step checks again.
                if present(name.clone(), uid.clone()).await.unwrap_or(true) {
                    remaining += 1;
                }
            }
        }
        if remaining == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    done(i, Some(format!("{remaining} of the planned pods still present")));
    for p in planned {
        let i = begin(&mut index);
        let mut deleted = Vec::new();
        for (name, uid) in &p.pods {
            // The uid precondition: only the very pod the plan named, never a successor.
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            match pods.delete(name, &params).await {
                Ok(_) => deleted.push(name.as_str()),
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
                Err(e) => return Err(fail(i, map_error(e, "delete", &format!("pod {name}")).message)),
            }
        }
        let detail = if deleted.is_empty() {
            "none left to force-delete".to_owned()
        } else {
            format!("force-deleted {}", deleted.join(", "))
        };
        done(i, Some(detail));
    }
    // Every deployment is restored even when an earlier one fails: one stuck rollout must not
    // leave the others at zero.
    let mut failures = Vec::new();
    for p in planned {
        let (name, count) = (&p.name, p.replicas);
        let i = begin(&mut index);
        if let Err(e) = scale(name.clone(), count).await {
            failures.push(fail(i, e));
            let rollout = begin(&mut index);
            fail(rollout, "skipped: the deployment was not scaled back".to_owned());
            continue;
        }
        done(i, None);
        let rollout = begin(&mut index);
        let deadline = Instant::now() + Duration::from_secs(rollout_timeout);
        loop {
            match deployments.get(name).await {
                Ok(d) => {
                    let s = d.status.clone().unwrap_or_default();
                    let observed = s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
                    if observed
                        && s.ready_replicas.unwrap_or(0) == count
                        && s.updated_replicas.unwrap_or(0) == count
                    {
                        done(rollout, Some(format!("{count}/{count} ready")));
                        break;
                    }
                }
                Err(e) => tracing::warn!(deployment = %name, "reading the rollout failed: {e}"),
            }
            if Instant::now() > deadline {
                failures.push(fail(
                    rollout,
                    format!("rollout of {name} did not finish within {rollout_timeout} s"),
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    Ok(())
}
