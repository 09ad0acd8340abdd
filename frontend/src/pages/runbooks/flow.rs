//! One flow: `/runbooks/{id}`, `/runbooks/{id}?param=value…` and `/runbooks/{id}/runs/{run_id}`.
//! The page first settles the link's environment (`env=`, or the alert label's value): a known
//! one other than the page's reloads the page in it, an unknown one is said in words (never a
//! silent fall-back to the default, which would run the checks against the wrong cluster). Then
//! it fills its form from the link and starts the run when the link says so, follows a run, and
//! binds the flow's keys (r, j, k, o).

use std::collections::BTreeMap;

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use triage_shared::runbook::{RunState, Runbook, StartRun};

use super::causes::CausesPanel;
use super::location::{FlowLocation, flow_href_in, initial_values, link_starts_run, run_href};
use super::params::{ParamsForm, refused_param};
use super::run::{Stream, follow_run};
use super::run_bar::RunBar;
use super::stepper::{StepFocus, Stepper, is_open, scroll_to_step};
use crate::api;
use crate::components::action_dialog::{ActionDialog, ActionTarget};
use crate::env::{LinkEnv, effective_env, link_env, set_env_in, unknown_env_text, use_environments};
use crate::keyboard::typing_in_field;
use crate::widgets::{ErrorBox, Loading};

/// `/runbooks/{id}`, `/runbooks/{id}?param=value…` and `/runbooks/{id}/runs/{run_id}`.
#[component]
pub fn RunbookFlow() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let envs = use_environments();
    let link_query = Memo::new(move |_| -> BTreeMap<String, String> {
        query.get().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    });
    // Everything the page is built from; a change rebuilds it (another flow, another run).
    let key = Memo::new(move |_| {
        let id = params.read().get("id").unwrap_or_default();
        FlowLocation::new(id, params.read().get("run_id"), link_query.get())
    });
    move || {
        let FlowLocation { id, run_id, query } = key.get();
        let page = move |id, run_id, query| view! { <FlowPage id=id run_id=run_id query=query /> }.into_any();
        match envs.list.get() {
            None => view! { <Loading what="the environments" /> }.into_any(),
            // A backend without the list: the URL's environment, as every call carries it.
            Some(Err(_)) => page(id, run_id, query),
            Some(Ok(all)) => match link_env(&all, &link_query.get()) {
                LinkEnv::Default => page(id, run_id, query),
                LinkEnv::Known(name) if effective_env().as_deref() == Some(name.as_str()) => {
                    page(id, run_id, query)
                }
                LinkEnv::Known(name) => {
                    // Named by the alert label (or an alert value): load the page in that
                    // environment, in place of this URL.
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().replace(&set_env_in(&crate::env::here(), Some(&name)));
                    }
                    view! { <Loading what=format!("the flow in {name}") /> }.into_any()
                }
                LinkEnv::Unknown { value, label } => {
                    let known: Vec<String> = all.environments.iter().map(|e| e.name.clone()).collect();
                    view! { <UnknownEnv id=id value=value label=label known=known query=link_query.get() /> }
                        .into_any()
                }
            },
        }
    }
}

/// A link that names an environment this Triage does not serve: said in words, with the same
/// flow in each known environment.
#[component]
fn UnknownEnv(
    id: String,
    value: String,
    label: String,
    known: Vec<String>,
    query: BTreeMap<String, String>,
) -> impl IntoView {
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let text = unknown_env_text(&value, &label, &names);
    let links = known
        .iter()
        .map(|env| {
            let link = flow_href_in(&id, &query, &label, env);
            view! {
                <li><a href=link data-testid="unknown-env-link" data-env=env.clone()>{format!("Open {id} in {env}")}</a></li>
            }
        })
        .collect_view();
    view! {
        <section class="flow" data-runbook=id.clone()>
            <div class="panel error" role="alert" data-testid="unknown-env">
                <h2>"Unknown environment"</h2>
                <p>{text}</p>
                <p class="small muted">"Nothing was run. Pick the environment the alert came from:"</p>
                <ul>{links}</ul>
            </div>
        </section>
    }
}

#[component]
fn FlowPage(id: String, run_id: Option<String>, query: BTreeMap<String, String>) -> impl IntoView {
    let navigate = use_navigate();
    let runbook = {
        let id = id.clone();
        LocalResource::new(move || {
            let id = id.clone();
            async move { api::runbooks::runbook(&id).await }
        })
    };
    let whoami = LocalResource::new(api::whoami);

    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let run = RwSignal::new(None::<RunState>);
    let run_error = RwSignal::new(None::<String>);
    let bad_param = RwSignal::new(None::<String>);
    let starting = RwSignal::new(false);
    let stream = RwSignal::new(Stream::Idle);
    let selected = RwSignal::new(0usize);
    let expanded = RwSignal::new(BTreeMap::<String, bool>::new());
    let dialog = RwSignal::new(None::<ActionTarget>);
    let proposed_replicas = RwSignal::new(None::<i32>);

    // The form's values: the run's when showing one, else the link's, else the defaults.
    let link = StoredValue::new(query);
    let auto_start_done = StoredValue::new(false);
    let start = {
        let id = id.clone();
        let navigate = navigate.clone();
        move || {
            if starting.get_untracked() {
                return;
            }
            starting.set(true);
            run_error.set(None);
            bad_param.set(None);
            let body = StartRun { params: values.get_untracked() };
            let id = id.clone();
            let navigate = navigate.clone();
            spawn_local(async move {
                let answer = api::runbooks::start_run(&id, &body).await;
                let _ = starting.try_set(false);
                match answer {
                    Ok(started) => {
                        let path = run_href(&id, &started.run_id);
                        navigate(&path, NavigateOptions { replace: true, ..NavigateOptions::default() });
                    }
                    Err(e) => {
                        let _ = bad_param.try_set(refused_param(&e));
                        let _ = run_error
                            .try_set(Some(format!("The run could not start: {}", e.message.clone())));
                    }
                }
            });
        }
    };

    {
        let start = start.clone();
        let has_run = run_id.is_some();
        Effect::new(move |_| {
            let Some(Ok(book)) = runbook.get() else { return };
            if has_run || auto_start_done.get_value() {
                return;
            }
            auto_start_done.set_value(true);
            let q = link.get_value();
            values.set(initial_values(&book.params, &q));
            if link_starts_run(&book.params, &q) {
                start();
            }
        });
    }

    if let Some(rid) = run_id.clone() {
        // The stream is opened after an await: under this page's owner, so that leaving the
        // page closes it.
        let owner = Owner::current();
        spawn_local(async move {
            match api::runbooks::run_state(&rid).await {
                Ok(state) => {
                    let unfinished = state.finished_at.is_none();
                    let _ = values.try_set(state.params.clone());
                    if run.try_set(Some(state)).is_none() && unfinished {
                        match &owner {
                            Some(o) => o.with(|| follow_run(&rid, run, stream)),
                            None => follow_run(&rid, run, stream),
                        }
                    }
                }
                Err(e) => {
                    let _ = run_error
                        .try_set(Some(format!("Run {rid} could not be loaded: {}", e.message.clone())));
                }
            }
        });
    }

    let step_ids = move || -> Vec<String> {
        runbook
            .get()
            .and_then(Result::ok)
            .map(|b| b.steps.iter().map(|s| s.id.clone()).collect())
            .unwrap_or_default()
    };
    let toggle_selected = move || {
        if let Some(step) = step_ids().get(selected.get_untracked()) {
            let open = is_open(expanded, run, step);
            expanded.update(|m| {
                m.insert(step.clone(), !open);
            });
        }
    };

    // Keys: r runs again, j/k move between steps, o opens or closes the selected one.
    {
        let start = start.clone();
        let after_g = StoredValue::new(false);
        let keys = window_event_listener(ev::keydown, move |e: web_sys::KeyboardEvent| {
            if e.ctrl_key()
                || e.meta_key()
                || e.alt_key()
                || typing_in_field(&e)
                || dialog.with_untracked(Option::is_some)
            {
                return;
            }
            let key = e.key();
            // `g` then a letter is the global navigation; leave that pair alone.
            if after_g.get_value() {
                after_g.set_value(false);
                return;
            }
            let count = untrack(step_ids).len();
            match key.as_str() {
                "g" => after_g.set_value(true),
                "r" if untrack(|| matches!(runbook.get(), Some(Ok(_)))) => start(),
                "j" | "k" if count > 0 => {
                    let now = selected.get_untracked();
                    let next = if key == "j" { (now + 1).min(count - 1) } else { now.saturating_sub(1) };
                    selected.set(next);
                    scroll_to_step(next);
                }
                "o" => untrack(toggle_selected),
                _ => {}
            }
        });
        on_cleanup(move || keys.remove());
    }

    let role = Signal::derive(move || whoami.get().and_then(Result::ok));
    let rerun = start.clone();

    let body = move || match runbook.get() {
        None => view! { <Loading what="the runbook" /> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox what="this runbook" message=e.message.clone() /> }.into_any(),
        Some(Ok(book)) => {
            let book = StoredValue::new(book);
            let run_click = rerun.clone();
            view! {
                <FlowHeader book=book />
                <ParamsForm book=book values=values bad_param=bad_param starting=starting run=run on_run=Callback::new(move |()| run_click()) />
                {move || run_error.get().map(|e| view! {
                    <div class="panel error state-msg" role="alert" data-testid="run-error">{e}</div>
                })}
                <RunBar run=run stream=stream />
                <div class="flow-grid">
                    <Stepper book=book run=run selected=selected expanded=expanded />
                    <CausesPanel book=book run=run values=values role=role dialog=dialog proposed=proposed_replicas
                        focus=StepFocus { selected, expanded } />
                </div>
            }
            .into_any()
        }
    };

    let on_done = Callback::new(|()| {});
    view! {
        <section class="flow" data-testid="page-runbook" data-runbook=id.clone()>
            <div class="crumbs small"><A href=crate::env::href("/runbooks")>"← All runbooks"</A></div>
            {body}
            {move || dialog.get().map(|t| view! {
                <ActionDialog target=t open=dialog on_done=on_done initial_replicas=proposed_replicas.get_untracked().unwrap_or_default() />
            })}
        </section>
    }
}

#[component]
fn FlowHeader(book: StoredValue<Runbook>) -> impl IntoView {
    let b = book.get_value();
    view! {
        <div class="page-head">
            <h1 data-testid="runbook-title">{b.title.clone()}</h1>
            <span class="badge neutral" title="Platform component">{b.component.clone()}</span>
            <code class="small muted" data-testid="runbook-id">{b.id.clone()}</code>
        </div>
        <p class="flow-summary">{b.summary.clone()}</p>
        {(!b.alerts.is_empty()).then(|| view! {
            <p class="small muted">"Answers the alerts "
                {b.alerts.iter().map(|a| view! { <code class="label">{a.clone()}</code>" " }).collect_view()}
            </p>
        })}
    }
}
