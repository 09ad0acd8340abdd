//! The guarded-action dialog (scale, restart, delete pod, delete pods by selector, emergency
//! restart): a server-side dry run first, which says what would change and the kubectl
//! equivalent; then, when the backend asks for it, the target's name typed as confirmation; then
//! the real run, whose audit id is shown (and, for the emergency restart, its steps as they run).
//! In a `production` or `approval` environment every action needs the typed name and a reason;
//! in an `approval` one the real run waits for a second operator, and the dialog says so. A
//! caller below operator in the current environment is told why, in words.

use leptos::ev;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use triage_shared::ApiError;
use triage_shared::actions::{
    ActionOutcome, DeletePodRequest, DeletePodsRequest, EmergencyRestartRequest, Job, RestartRequest,
    ScaleRequest, StepState,
};

use crate::api;
use crate::env::use_environments;
use crate::widgets::{
    PendingApproval, ReasonField, bump, reason_problem, reason_to_send, unavailable_reason,
};

/// The replicas field of the scale dialog.
pub fn parse_replicas(text: &str) -> Result<i32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) => i32::try_from(n).map_err(|_| "That is too many replicas.".to_owned()),
        Err(_) => Err("Replicas must be a whole number, 0 or more.".to_owned()),
    }
}

/// What the dialog acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionTarget {
    Scale {
        ns: String,
        name: String,
        current: i32,
    },
    Restart {
        ns: String,
        name: String,
    },
    DeletePod {
        ns: String,
        name: String,
    },
    /// Every pod matching a label selector; confirmed by typing the selector.
    DeletePods {
        ns: String,
        selector: String,
    },
    /// The guide's complete restart of these deployments, in order; confirmed by typing the namespace.
    EmergencyRestart {
        ns: String,
        deployments: Vec<String>,
    },
}

impl ActionTarget {
    /// `scale`, `restart` or `delete`: the prefix of the dialog's test ids.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Scale { .. } => "scale",
            Self::Restart { .. } => "restart",
            Self::DeletePod { .. } => "delete",
            Self::DeletePods { .. } => "delete-pods",
            Self::EmergencyRestart { .. } => "emergency",
        }
    }

    /// What the user types to confirm: the target's name, the selector, or the namespace.
    pub fn name(&self) -> &str {
        match self {
            Self::Scale { name, .. } | Self::Restart { name, .. } | Self::DeletePod { name, .. } => name,
            Self::DeletePods { selector, .. } => selector,
            Self::EmergencyRestart { ns, .. } => ns,
        }
    }

    pub fn ns(&self) -> &str {
        match self {
            Self::Scale { ns, .. }
            | Self::Restart { ns, .. }
            | Self::DeletePod { ns, .. }
            | Self::DeletePods { ns, .. }
            | Self::EmergencyRestart { ns, .. } => ns,
        }
    }

    fn title(&self) -> String {
        match self {
            Self::Scale { name, .. } => format!("Scale deployment {name}"),
            Self::Restart { name, .. } => format!("Restart deployment {name}"),
            Self::DeletePod { name, .. } => format!("Delete pod {name}"),
            Self::DeletePods { selector, .. } => format!("Delete pods {selector}"),
            Self::EmergencyRestart { ns, .. } => format!("Emergency restart of {ns}"),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Self::Scale { .. } => "Scale",
            Self::Restart { .. } => "Restart",
            Self::DeletePod { .. } | Self::DeletePods { .. } => "Delete",
            Self::EmergencyRestart { .. } => "Restart everything",
        }
    }

    async fn send(
        &self,
        replicas: i32,
        force: bool,
        dry_run: bool,
        confirm: Option<String>,
        reason: Option<String>,
    ) -> Result<(ActionOutcome, Option<String>), ApiError> {
        let outcome = match self {
            Self::Scale { ns, name, .. } => {
                api::k8s::scale_deployment(ns, name, &ScaleRequest { replicas, dry_run, confirm, reason })
                    .await
            }
            Self::Restart { ns, name } => {
                api::k8s::restart_deployment(ns, name, &RestartRequest { dry_run, confirm, reason }).await
            }
            Self::DeletePod { ns, name } => {
                api::k8s::delete_pod(ns, name, &DeletePodRequest { force, dry_run, confirm, reason }).await
            }
            Self::DeletePods { ns, selector } => {
                let body = DeletePodsRequest { selector: selector.clone(), force, dry_run, confirm, reason };
                api::k8s::delete_pods(ns, &body).await
            }
            Self::EmergencyRestart { ns, deployments } => {
                let body = EmergencyRestartRequest {
                    deployments: deployments.clone(),
                    dry_run,
                    confirm,
                    shutdown_wait_secs: None,
                    rollout_timeout_secs: None,
                    reason,
                };
                let job = api::k8s::emergency_restart(ns, &body).await?;
                // A restart waiting for approval has no running job to follow.
                let id = (!job.dry_run && job.approval.is_none()).then(|| job.id.clone());
                return Ok((job_outcome(&job), id));
            }
        }?;
        Ok((outcome, None))
    }
}

/// A long action's plan or start, told like any other action's outcome.
fn job_outcome(job: &Job) -> ActionOutcome {
    let summary = if job.dry_run || job.approval.is_some() {
        let counts: Vec<String> = job.recorded.iter().map(|(n, c)| format!("{n} {c} → 0 → {c}")).collect();
        format!("{} steps: {}", job.steps.len(), counts.join(", "))
    } else {
        format!("started ({} steps)", job.steps.len())
    };
    ActionOutcome {
        dry_run: job.dry_run,
        summary,
        needs_confirmation: true,
        kubectl: job.steps.iter().map(|s| s.kubectl.as_str()).collect::<Vec<_>>().join("\n"),
        audit_id: job.audit_id,
        approval: job.approval.clone(),
    }
}

/// The dialog for `target`. It closes by setting `open` to `None` (Close, Cancel or Escape);
/// `on_done` runs after a real run succeeded.
#[component]
pub fn ActionDialog(
    target: ActionTarget,
    open: RwSignal<Option<ActionTarget>>,
    on_done: Callback<()>,
    /// For scale: the replica count to propose instead of the current one (a runbook's fix).
    #[prop(optional)]
    initial_replicas: Option<i32>,
) -> impl IntoView {
    let kind = target.kind();
    let name = target.name().to_owned();
    let is_scale = matches!(target, ActionTarget::Scale { .. });
    let is_delete = matches!(target, ActionTarget::DeletePod { .. } | ActionTarget::DeletePods { .. });
    let current = match target {
        ActionTarget::Scale { current, .. } => Some(current),
        _ => None,
    };
    let title = target.title();
    let verb = target.verb();
    let subtitle = match &target {
        ActionTarget::Scale { ns, current, .. } => format!("namespace {ns} · {current} replicas now"),
        ActionTarget::Restart { ns, .. } => {
            format!("namespace {ns} · a rolling restart replaces every pod, a few at a time")
        }
        ActionTarget::DeletePod { ns, .. } => {
            format!("namespace {ns} · its controller, if any, creates a replacement")
        }
        ActionTarget::DeletePods { ns, .. } => {
            format!("namespace {ns} · every matching pod; their controllers create replacements")
        }
        ActionTarget::EmergencyRestart { ns, deployments } => format!(
            "namespace {ns} · scales {} to 0, clears stuck pods, then brings each back to its recorded count",
            deployments.join(", ")
        ),
    };
    let target = StoredValue::new(target);

    let replicas = RwSignal::new(initial_replicas.or(current).map(|c| c.to_string()).unwrap_or_default());
    let force = RwSignal::new(false);
    let preview = RwSignal::new(None::<ActionOutcome>);
    let done = RwSignal::new(None::<ActionOutcome>);
    let job_id = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let confirm = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    // The current environment's guard: a typed name and a reason for every action when strict;
    // unknown until the environments arrive (then the backend's answer still decides).
    let envs = use_environments();
    let here = Signal::derive(move || envs.current());
    let strict = Signal::derive(move || here.with(|e| e.as_ref().is_some_and(|e| e.protection.strict())));
    let env_name =
        Signal::derive(move || envs.current_name().unwrap_or_else(|| "this environment".to_owned()));
    let unavailable =
        Signal::derive(move || here.with(|e| e.as_ref().and_then(|e| unavailable_reason(&e.name, e.role))));
    // Bumped whenever the parameters change, so a late answer to an old request is ignored.
    let generation = RwSignal::new(0u32);

    let reset = move || {
        generation.update(bump);
        preview.set(None);
        error.set(None);
        confirm.set(String::new());
    };

    let run_preview = move || {
        if done.get_untracked().is_some() {
            return;
        }
        let n = if is_scale {
            match parse_replicas(&replicas.get_untracked()) {
                Ok(n) => n,
                Err(message) => {
                    error.set(Some(message));
                    return;
                }
            }
        } else {
            0
        };
        reset();
        busy.set(true);
        let asked = generation.get_untracked();
        let force = force.get_untracked();
        let t = target.get_value();
        spawn_local(async move {
            let answer = t.send(n, force, true, None, None).await;
            if generation.try_get_untracked() != Some(asked) {
                return;
            }
            busy.set(false);
            match answer {
                Ok((outcome, _)) => preview.set(Some(outcome)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };

    let confirm_name = name.clone();
    let reason_missing = Signal::derive(move || strict.get() && reason.with(|r| reason_problem(r).is_some()));
    let ready_to_apply = Signal::derive(move || {
        !busy.get()
            && done.with(Option::is_none)
            && unavailable.with(Option::is_none)
            && !reason_missing.get()
            && preview.with(|p| {
                p.as_ref().is_some_and(|p| {
                    !(p.needs_confirmation || strict.get()) || confirm.get().trim() == confirm_name
                })
            })
    });

    let apply = move || {
        if !ready_to_apply.get_untracked() {
            return;
        }
        let n = if is_scale { parse_replicas(&replicas.get_untracked()).unwrap_or(0) } else { 0 };
        let typed = confirm.get_untracked().trim().to_owned();
        let why = reason.with_untracked(|r| reason_to_send(r));
        let force = force.get_untracked();
        let asked = generation.get_untracked();
        let t = target.get_value();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let answer = t.send(n, force, false, (!typed.is_empty()).then_some(typed), why).await;
            if generation.try_get_untracked() != Some(asked) {
                return;
            }
            busy.set(false);
            match answer {
                Ok((outcome, job)) => {
                    // Waiting for a second operator: nothing changed yet, nothing to reload.
                    let ran = outcome.approval.is_none();
                    done.set(Some(outcome));
                    job_id.set(job);
                    if ran {
                        on_done.run(());
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };

    // Restart and delete have nothing to choose first: ask for the dry run at once.
    if !is_scale {
        run_preview();
    }

    let close = move || open.set(None);
    let keys = window_event_listener(ev::keydown, move |e: web_sys::KeyboardEvent| {
        if e.key() == "Escape" {
            close();
        }
    });
    on_cleanup(move || keys.remove());

    let first_input = NodeRef::<Input>::new();
    let confirm_input = NodeRef::<Input>::new();
    Effect::new(move |_| {
        if let Some(el) = first_input.get() {
            let _ = el.focus();
            el.select();
        }
    });
    Effect::new(move |_| {
        if let Some(el) = confirm_input.get() {
            let _ = el.focus();
        }
    });

    let label_id = format!("{kind}-dialog-title");
    let confirm_hint = name.clone();
    view! {
        <div class="modal-backdrop">
            <div
                class="dialog panel"
                role="dialog"
                aria-modal="true"
                aria-labelledby=label_id
                data-testid=format!("{kind}-dialog")
            >
                <header class="dialog-head">
                    <h2 id=label_id.clone()>{title}</h2>
                    <button class="icon" title="Close (Escape)" aria-label="Close" on:click=move |_| close()>"×"</button>
                </header>
                <p class="muted small">{subtitle}</p>
                <div class="dialog-row">
                    {is_scale.then(|| view! {
                        <label>
                            "Replicas "
                            <input
                                type="text"
                                inputmode="numeric"
                                autocomplete="off"
                                title="A whole number; ↑ and ↓ step by one, Enter previews"
                                class="replicas"
                                data-testid="scale-replicas"
                                node_ref=first_input
                                prop:value=move || replicas.get()
                                on:input=move |ev| {
                                    replicas.set(event_target_value(&ev));
                                    reset();
                                }
                                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                    let step = match ev.key().as_str() {
                                        "Enter" => {
                                            ev.prevent_default();
                                            run_preview();
                                            return;
                                        }
                                        "ArrowUp" => 1,
                                        "ArrowDown" => -1,
                                        _ => return,
                                    };
                                    ev.prevent_default();
                                    if let Ok(n) = parse_replicas(&replicas.get_untracked()) {
                                        replicas.set(n.saturating_add(step).max(0).to_string());
                                        reset();
                                    }
                                }
                            />
                        </label>
                    })}
                    {is_delete.then(|| view! {
                        <label class="check" title="--force --grace-period=0: the pod is removed at once, without waiting for it to stop">
                            <input
                                type="checkbox"
                                data-testid="delete-force"
                                prop:checked=move || force.get()
                                on:change=move |ev| {
                                    force.set(event_target_checked(&ev));
                                    run_preview();
                                }
                            />
                            "Force (grace period 0)"
                        </label>
                    })}
                    <button
                        data-testid=format!("{kind}-preview")
                        disabled=move || busy.get() || done.with(Option::is_some)
                        on:click=move |_| run_preview()
                    >
                        "Preview (dry run)"
                    </button>
                    <Show when=move || busy.get()>
                        <span class="spinner" aria-label="Working"></span>
                    </Show>
                </div>
                {move || unavailable.get().map(|why| view! {
                    <p class="action-unavailable" role="note" data-testid="action-unavailable">{why}</p>
                })}
                {move || preview.get().map(|p| {
                    let needs = p.needs_confirmation || strict.get();
                    let hint = confirm_hint.clone();
                    view! {
                        <div class="dry-run">
                            <div class="small muted">"Dry run — nothing has changed yet. Kubernetes says:"</div>
                            <div class="dry-run-summary" data-testid="dry-run-summary">{p.summary.clone()}</div>
                            <div class="kubectl"><span class="prompt" aria-hidden="true">"$"</span><code data-testid="dry-run-kubectl">{p.kubectl.clone()}</code></div>
                        </div>
                        {needs.then(|| view! {
                            <label class="confirm">
                                <span>"Type "<b><code>{hint.clone()}</code></b>" to confirm"</span>
                                <input
                                    type="text"
                                    autocomplete="off"
                                    spellcheck="false"
                                    data-testid="confirm-input"
                                    node_ref=confirm_input
                                    prop:value=move || confirm.get()
                                    on:input=move |ev| confirm.set(event_target_value(&ev))
                                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                        if ev.key() == "Enter" {
                                            ev.prevent_default();
                                            apply();
                                        }
                                    }
                                />
                            </label>
                        })}
                        {strict.get().then(|| view! { <ReasonField reason=reason env=env_name.get() /> })}
                    }
                })}
                {move || error.get().map(|e| view! {
                    <div class="action-error" role="alert" data-testid="action-error">{e}</div>
                })}
                {move || done.get().map(|o| match o.approval.clone() {
                    Some(approval) => view! { <PendingApproval approval=approval /> }.into_any(),
                    None => view! {
                        <div class="action-result" role="status" data-testid="action-result">
                            <b>"Done: "</b>{o.summary.clone()}
                            {o.audit_id.map(|id| view! { <span class="muted">{format!(" · audit entry #{id}")}</span> })}
                            " "<a href=crate::env::href("/audit") class="small">"Audit log →"</a>
                        </div>
                    }
                    .into_any(),
                })}
                {move || job_id.get().map(|id| view! { <JobProgress id=id /> })}
                <footer class="dialog-foot">
                    <button on:click=move |_| close()>{move || if done.with(Option::is_some) { "Close" } else { "Cancel" }}</button>
                    <button
                        class="primary danger"
                        data-testid="apply-button"
                        disabled=move || !ready_to_apply.get()
                        title=move || {
                            if done.with(Option::is_some) {
                                "Done".to_owned()
                            } else if let Some(why) = unavailable.get() {
                                why
                            } else if preview.with(Option::is_none) {
                                "Preview first: the dry run shows what would change".to_owned()
                            } else if reason_missing.get() {
                                "Type the name above and write a reason to confirm".to_owned()
                            } else if !ready_to_apply.get() {
                                "Type the name above to confirm".to_owned()
                            } else {
                                format!("{verb} for real")
                            }
                        }
                        on:click=move |_| apply()
                    >
                        {format!("{verb} — apply")}
                    </button>
                </footer>
            </div>
        </div>
    }
}

/// The steps of a long action, polled every second until it finishes.
#[component]
fn JobProgress(id: String) -> impl IntoView {
    let job = RwSignal::new(None::<Result<Job, String>>);
    let alive = StoredValue::new(true);
    on_cleanup(move || alive.set_value(false));
    poll_job(id, job, alive);
    view! {
        <ol class="job-steps" data-testid="job-steps">
            {move || match job.get() {
                None => view! { <li class="muted">"Starting…"</li> }.into_any(),
                Some(Err(e)) => view! { <li class="error">{e}</li> }.into_any(),
                Some(Ok(j)) => {
                    let error = j.error.clone();
                    view! {
                        {j.steps.into_iter().map(|s| {
                            let (mark, class) = match s.state {
                                StepState::Pending => ("○", "muted"),
                                StepState::Running => ("◌", "warn-text"),
                                StepState::Done => ("✓", "ok-text"),
                                StepState::Failed => ("✗", "crit-text"),
                            };
                            view! { <li class=class title=s.kubectl>{mark}" "{s.text}{s.detail.map(|d| format!(" — {d}"))}</li> }
                        }).collect_view()}
                        {error.map(|e| view! { <li class="crit-text">{e}</li> })}
                    }.into_any()
                }
            }}
        </ol>
    }
}

fn poll_job(id: String, job: RwSignal<Option<Result<Job, String>>>, alive: StoredValue<bool>) {
    spawn_local(async move {
        let answer = api::k8s::job(&id).await.map_err(|e| e.message);
        if !alive.try_get_value().unwrap_or(false) {
            return;
        }
        let finished = answer.as_ref().map_or(true, |j| j.finished);
        job.set(Some(answer));
        if !finished {
            set_timeout(move || poll_job(id, job, alive), std::time::Duration::from_secs(1));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_field() {
        assert_eq!(parse_replicas(" 8 "), Ok(8));
        assert_eq!(parse_replicas("0"), Ok(0));
        assert!(parse_replicas("-1").is_err());
        assert!(parse_replicas("2.5").is_err());
        assert!(parse_replicas("").is_err());
        assert!(parse_replicas("99999999999").is_err());
    }
}
