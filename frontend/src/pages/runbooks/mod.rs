//! Runbooks: the list of guided flows, and one flow — its parameters, its checks running live
//! as a stepper, the likely causes ranked with their fixes, and the run's incident report.
//!
//! `/runbooks/{id}?param=value…` is the target of an alert's `runbook_url`: the form is filled
//! from the query string and, when the link carries parameters (or `run=1`), the run starts at
//! once. A started run lives at `/runbooks/{id}/runs/{run_id}` (also `?run_id=`), its permalink:
//! it loads the run's state and, while the run is unfinished, follows its server-sent events.

use std::collections::BTreeMap;

use leptos::ev;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use triage_shared::ApiError;
use triage_shared::actions::Identity;
use triage_shared::runbook::{
    Cause, CheckResult, Evidence, Fix, FixAction, ParamKind, RankedCause, RunEvent, RunState, Runbook,
    StartRun, Step, StepState, Verdict,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::api;
use crate::chart::{Chart, ChartState, Threshold};
use crate::components::action_dialog::{ActionDialog, ActionTarget};
use crate::components::copy::{CopyButton, copy_text};
use crate::components::k8s_format::{can_act, role_label};
use crate::components::k8s_widgets::{Badge, Empty, ErrorBox, Loading};
use crate::components::runbook_format::{
    EMERGENCY_ORDER, chart_unit, fill_template, group_by_component, initial_values, link_starts_run,
    matches_filter, verdict_badge, verdict_word,
};
use crate::keyboard::typing_in_field;

// ───────────────────────────── the list ─────────────────────────────

#[component]
pub fn RunbookList() -> impl IntoView {
    let runbooks = LocalResource::new(api::runbooks);
    let filter = RwSignal::new(String::new());
    let filter_ref = NodeRef::<Input>::new();
    let navigate = use_navigate();

    // `/` focuses the filter, as in many consoles.
    let keys = window_event_listener(ev::keydown, move |e: web_sys::KeyboardEvent| {
        if e.key() == "/"
            && !typing_in_field(&e)
            && !e.ctrl_key()
            && !e.meta_key()
            && !e.alt_key()
            && let Some(input) = filter_ref.get_untracked()
        {
            e.prevent_default();
            let _ = input.focus();
        }
    });
    on_cleanup(move || keys.remove());

    let visible = move || {
        runbooks.get().map(|r| {
            r.map(|list| {
                let f = filter.get();
                list.into_iter().filter(|r| matches_filter(r, &f)).collect::<Vec<_>>()
            })
        })
    };
    let open_first = move || {
        if let Some(Ok(list)) = visible()
            && let Some(first) = list.first()
        {
            navigate(&format!("/runbooks/{}", first.id), NavigateOptions::default());
        }
    };

    view! {
        <section data-testid="page-runbooks">
            <div class="page-head">
                <h1>"Runbooks"</h1>
                <input
                    type="search"
                    class="runbook-filter"
                    placeholder="Filter by name, component or alert  ( / )"
                    aria-label="Filter runbooks"
                    data-testid="runbook-filter"
                    node_ref=filter_ref
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev))
                    on:keydown=move |ev: web_sys::KeyboardEvent| match ev.key().as_str() {
                        "Enter" => open_first(),
                        "Escape" => filter.set(String::new()),
                        _ => {}
                    }
                />
            </div>
            <p class="muted">
                "Each flow runs its checks live against Prometheus, Kubernetes and PostgreSQL, ranks the likely causes and offers the fixes. Alerts link straight to them."
            </p>
            {move || match visible() {
                None => view! { <Loading what="the runbooks" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the runbooks" message=e.message /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    let message = if filter.with(String::is_empty) {
                        "No runbook is loaded: add flows to the runbooks folder.".to_owned()
                    } else {
                        format!("No runbook matches “{}”.", filter.get())
                    };
                    view! { <Empty message=message /> }.into_any()
                }
                Some(Ok(list)) => group_by_component(&list)
                    .into_iter()
                    .map(|(component, books)| {
                        let attr = component.clone();
                        view! {
                        <section class="runbook-group" data-testid="runbook-group" data-component=attr>
                            <h2 class="section-title">{component}</h2>
                            <ul class="runbook-cards">
                                {books.into_iter().map(|r| view! {
                                    <li class="panel runbook-card" data-testid="runbook-item" data-runbook=r.id.clone()>
                                        <A href=format!("/runbooks/{}", r.id) attr:class="runbook-title">{r.title.clone()}</A>
                                        <p class="small">{r.summary.clone()}</p>
                                        <div class="small muted">
                                            {format!("{} checks", r.steps)}
                                            {r.alerts.iter().map(|a| view! { " " <code class="label">{a.clone()}</code> }).collect_view()}
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        </section>
                    }})
                    .collect_view()
                    .into_any(),
            }}
        </section>
    }
}

// ───────────────────────────── one flow ─────────────────────────────

/// `/runbooks/{id}`, `/runbooks/{id}?param=value…` and `/runbooks/{id}/runs/{run_id}`.
#[component]
pub fn RunbookFlow() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    // Everything the page is built from; a change rebuilds it (another flow, another run).
    let key = Memo::new(move |_| {
        let id = params.read().get("id").unwrap_or_default();
        let q: BTreeMap<String, String> =
            query.get().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let run_id =
            params.read().get("run_id").or_else(|| q.get("run_id").cloned()).filter(|r| !r.is_empty());
        let q = if run_id.is_some() { BTreeMap::new() } else { q };
        (id, run_id, q)
    });
    move || {
        let (id, run_id, q) = key.get();
        view! { <FlowPage id=id run_id=run_id query=q /> }
    }
}

/// How the run's event stream is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Idle,
    Live,
    Reconnecting,
}

type Listeners = (web_sys::EventSource, Vec<Closure<dyn FnMut(web_sys::Event)>>);

/// Applies one event to the run's state. Idempotent, so the replay a reconnect brings is harmless.
fn apply_event(state: &mut RunState, event: RunEvent) {
    match event {
        RunEvent::Started { steps, params, .. } => {
            state.params = params;
            for id in steps {
                if !state.steps.iter().any(|(s, _)| *s == id) {
                    state.steps.push((id, StepState::Pending));
                }
            }
        }
        RunEvent::CheckStarted { step } => {
            if let Some((_, s)) = state.steps.iter_mut().find(|(id, _)| *id == step)
                && matches!(s, StepState::Pending)
            {
                *s = StepState::Running;
            }
        }
        RunEvent::CheckFinished { result } => {
            match state.steps.iter_mut().find(|(id, _)| *id == result.step) {
                Some((_, s)) => *s = StepState::Done { result },
                None => state.steps.push((result.step.clone(), StepState::Done { result })),
            }
        }
        RunEvent::Finished { causes, finished_at } => {
            state.causes = causes;
            state.finished_at = Some(finished_at);
        }
    }
}

/// Follows `/api/runs/{id}/events` into `run` until `Finished`; closed when the page goes.
fn follow_run(run_id: &str, run: RwSignal<Option<RunState>>, stream: RwSignal<Stream>) {
    let holder: StoredValue<Option<Listeners>, LocalStorage> = StoredValue::new_local(None);
    let Ok(source) = web_sys::EventSource::new(&api::run_events_url(run_id)) else {
        stream.set(Stream::Reconnecting);
        return;
    };
    stream.set(Stream::Live);
    let on_message = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
        let Some(text) = ev.dyn_ref::<web_sys::MessageEvent>().and_then(|m| m.data().as_string()) else {
            return;
        };
        let Ok(event) = serde_json::from_str::<RunEvent>(&text) else {
            leptos::logging::warn!("unreadable run event: {text}");
            return;
        };
        let finished = matches!(event, RunEvent::Finished { .. });
        run.update(|r| {
            if let Some(state) = r.as_mut() {
                apply_event(state, event);
            }
        });
        stream.set(Stream::Live);
        if finished {
            holder.update_value(|h| {
                if let Some((source, _)) = h.as_ref() {
                    source.close();
                }
            });
            stream.set(Stream::Idle);
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
        // The browser reconnects by itself and the backend replays the run so far.
        if run.with_untracked(|r| r.as_ref().is_some_and(|s| s.finished_at.is_none())) {
            stream.set(Stream::Reconnecting);
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let _ = source.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
    holder.set_value(Some((source, vec![on_message, on_error])));
    on_cleanup(move || {
        holder.update_value(|h| {
            if let Some((source, _)) = h.take() {
                source.close();
            }
        });
    });
}

/// `HH:MM:SS` in the browser's time zone.
fn clock(unix_secs: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_secs * 1000.0));
    format!("{:02}:{:02}:{:02}", d.get_hours(), d.get_minutes(), d.get_seconds())
}

/// The error of an API call in words (the backend's message names what is wrong).
fn describe(e: &ApiError) -> String {
    e.message.clone()
}

/// The parameter a refused start names in its detail (`{"param": …}`), to mark in the form.
fn refused_param(e: &ApiError) -> Option<String> {
    e.detail.as_ref()?.get("param")?.as_str().map(str::to_owned)
}

fn kind_hint(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Namespace => "namespace",
        ParamKind::Deployment => "deployment name",
        ParamKind::Name => "object name",
        ParamKind::ConsumerGroup => "consumer group",
        ParamKind::LabelValue => "label value",
        ParamKind::Duration => "duration, e.g. 15m",
        ParamKind::Integer => "whole number",
    }
}

#[component]
fn FlowPage(id: String, run_id: Option<String>, query: BTreeMap<String, String>) -> impl IntoView {
    let navigate = use_navigate();
    let runbook = {
        let id = id.clone();
        LocalResource::new(move || {
            let id = id.clone();
            async move { api::runbook(&id).await }
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
                let answer = api::start_run(&id, &body).await;
                let _ = starting.try_set(false);
                match answer {
                    Ok(started) => {
                        let path = format!("/runbooks/{}/runs/{}", id, started.run_id);
                        navigate(&path, NavigateOptions { replace: true, ..NavigateOptions::default() });
                    }
                    Err(e) => {
                        let _ = bad_param.try_set(refused_param(&e));
                        let _ = run_error.try_set(Some(format!("The run could not start: {}", describe(&e))));
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
            match api::run_state(&rid).await {
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
                    let _ =
                        run_error.try_set(Some(format!("Run {rid} could not be loaded: {}", describe(&e))));
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
        Some(Err(e)) => view! { <ErrorBox what="this runbook" message=describe(&e) /> }.into_any(),
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
                        selected=selected expanded=expanded />
                </div>
            }
            .into_any()
        }
    };

    let on_done = Callback::new(|()| {});
    view! {
        <section class="flow" data-testid="page-runbook" data-runbook=id.clone()>
            <div class="crumbs small"><A href="/runbooks">"← All runbooks"</A></div>
            {body}
            {move || dialog.get().map(|t| view! {
                <ActionDialog target=t open=dialog on_done=on_done initial_replicas=proposed_replicas.get_untracked().unwrap_or_default() />
            })}
        </section>
    }
}

fn scroll_to_step(index: usize) {
    let selector = format!("[data-testid=step][data-index=\"{index}\"]");
    if let Some(el) =
        web_sys::window().and_then(|w| w.document()).and_then(|d| d.query_selector(&selector).ok().flatten())
    {
        el.scroll_into_view_with_bool(false);
    }
}

/// Whether a step's details are shown: the user's choice, else open for the verdicts that need
/// attention (warning, critical, error).
fn is_open(expanded: RwSignal<BTreeMap<String, bool>>, run: RwSignal<Option<RunState>>, step: &str) -> bool {
    if let Some(choice) = expanded.with_untracked(|m| m.get(step).copied()) {
        return choice;
    }
    run.with_untracked(|r| result_of(r.as_ref(), step).is_some_and(|res| needs_attention(res.verdict)))
}

fn needs_attention(v: Verdict) -> bool {
    matches!(v, Verdict::Warning | Verdict::Critical | Verdict::Error)
}

fn result_of<'a>(run: Option<&'a RunState>, step: &str) -> Option<&'a CheckResult> {
    run?.steps.iter().find(|(id, _)| id == step).and_then(|(_, s)| match s {
        StepState::Done { result } => Some(result),
        _ => None,
    })
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

#[component]
fn ParamsForm(
    book: StoredValue<Runbook>,
    values: RwSignal<BTreeMap<String, String>>,
    bad_param: RwSignal<Option<String>>,
    starting: RwSignal<bool>,
    run: RwSignal<Option<RunState>>,
    on_run: Callback<()>,
) -> impl IntoView {
    let params = book.with_value(|b| b.params.clone());
    let none = params.is_empty();
    view! {
        <form class="panel params-form" data-testid="runbook-params"
            on:submit=move |ev: ev::SubmitEvent| {
                ev.prevent_default();
                on_run.run(());
            }>
            {none.then(|| view! { <span class="muted">"This flow takes no parameters."</span> })}
            {params.into_iter().map(|p| {
                let name = p.name.clone();
                let label = p.label.clone().unwrap_or_else(|| p.name.replace('_', " "));
                let kind = kind_hint(p.kind).to_owned();
                let required = p.default.is_none();
                let read = name.clone();
                let write = name.clone();
                let marked = name.clone();
                let title = p.help.clone().unwrap_or_else(|| format!("{kind}{}", if required { ", required" } else { "" }));
                view! {
                    <label class="param" title=title>
                        <span class="param-label">{label}{required.then_some(" *")}</span>
                        <input
                            type="text"
                            name=name.clone()
                            autocomplete="off"
                            spellcheck="false"
                            placeholder=p.default.clone().unwrap_or(kind)
                            data-testid=format!("param-{name}")
                            class:invalid=move || bad_param.with(|b| b.as_deref() == Some(marked.as_str()))
                            prop:value=move || values.with(|v| v.get(&read).cloned().unwrap_or_default())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                values.update(|m| {
                                    m.insert(write.clone(), v);
                                });
                            }
                        />
                    </label>
                }
            }).collect_view()}
            <span class="spacer"></span>
            <button type="submit" class="primary" data-testid="run-button" title="Run every check now (r)"
                disabled=move || starting.get()>
                {move || if starting.get() { "Starting…" } else if run.with(Option::is_some) { "Run again" } else { "Run checks" }}
            </button>
        </form>
    }
}

/// The run's status line: when and by whom it started, progress, the permalink and the report.
#[component]
fn RunBar(run: RwSignal<Option<RunState>>, stream: RwSignal<Stream>) -> impl IntoView {
    let report = RwSignal::new(None::<Result<String, String>>);
    let copy_state = RwSignal::new(None::<Result<(), String>>);
    let copy_report = move |_| {
        let Some(rid) = run.with_untracked(|r| r.as_ref().map(|s| s.run_id.clone())) else { return };
        copy_state.set(None);
        spawn_local(async move {
            match api::run_report(&rid).await {
                Ok(text) => {
                    let copied = copy_text(&text).await;
                    let _ = report.try_set(Some(Ok(text)));
                    let _ = copy_state.try_set(Some(copied));
                }
                Err(e) => {
                    let _ = report
                        .try_set(Some(Err(format!("The report could not be fetched: {}", describe(&e)))));
                }
            }
        });
    };
    move || {
        run.with(|r| {
            let state = r.as_ref()?;
            let total = state.steps.len();
            let done = state.steps.iter().filter(|(_, s)| matches!(s, StepState::Done { .. })).count();
            let permalink = format!("/runbooks/{}/runs/{}", state.runbook, state.run_id);
            let report_url = api::run_report_url(&state.run_id);
            let file = format!("triage-{}-{}.md", state.runbook, state.run_id);
            let progress = match state.finished_at {
                Some(end) => format!(
                    "finished at {} after {:.1} s · {total} checks",
                    clock(end),
                    (end - state.started_at).max(0.0)
                ),
                None => format!("{done} of {total} checks done"),
            };
            let by = state.started_by.clone().map(|s| format!(" by {s}")).unwrap_or_default();
            let finished = state.finished_at.is_some();
            Some(view! {
                <div class="run-bar" data-testid="run-bar" data-run=state.run_id.clone() data-finished=finished.to_string()>
                    {(!finished).then(|| view! { <span class="spinner" aria-label="Running"></span> })}
                    <span data-testid="run-progress">{format!("Started {}{by} · {progress}", clock(state.started_at))}</span>
                    {move || match stream.get() {
                        Stream::Reconnecting => Some(view! { <span class="warn-text small">"live updates interrupted; reconnecting…"</span> }),
                        _ => None,
                    }}
                    <span class="spacer"></span>
                    <A href=permalink.clone() attr:data-testid="permalink" attr:title="This run's permanent link">"Permalink"</A>
                    <button data-testid="copy-report" title="Copy the Markdown incident report" on:click=copy_report>
                        {move || match copy_state.get() {
                            Some(Ok(())) => "Report copied",
                            Some(Err(_)) => "Copy failed — see below",
                            None => "Copy report",
                        }}
                    </button>
                    <a class="button" data-testid="download-report" href=report_url download=file>"Download report"</a>
                </div>
                {move || report.get().map(|r| match r {
                    Ok(text) => view! {
                        <details class="panel report" data-testid="report-preview" open=copy_state.with(|c| matches!(c, Some(Err(_))))>
                            <summary>"Incident report (Markdown)"
                                {move || copy_state.get().and_then(Result::err).map(|e| view! { <span class="error small">" — "{e}</span> })}
                            </summary>
                            <pre class="report-text">{text}</pre>
                        </details>
                    }.into_any(),
                    Err(e) => view! { <div class="panel error state-msg" role="alert" data-testid="report-error">{e}</div> }.into_any(),
                })}
            })
        })
    }
}

#[component]
fn Stepper(
    book: StoredValue<Runbook>,
    run: RwSignal<Option<RunState>>,
    selected: RwSignal<usize>,
    expanded: RwSignal<BTreeMap<String, bool>>,
) -> impl IntoView {
    let steps = book.with_value(|b| b.steps.clone());
    view! {
        <div class="stepper-wrap">
            <p class="small muted keys-hint">
                <kbd>"r"</kbd>" run again · "<kbd>"j"</kbd>" "<kbd>"k"</kbd>" next / previous step · "<kbd>"o"</kbd>" open or close it"
            </p>
            <ol class="stepper" data-testid="stepper">
                {steps.into_iter().enumerate().map(|(i, step)| view! {
                    <StepItem index=i step=step run=run selected=selected expanded=expanded />
                }).collect_view()}
            </ol>
        </div>
    }
}

/// pending / running / ok / warning / critical / error / skipped, and the step's result.
fn step_status(run: Option<&RunState>, step: &str) -> (&'static str, Option<CheckResult>) {
    let Some(state) = run else { return ("not-run", None) };
    match state.steps.iter().find(|(id, _)| id == step).map(|(_, s)| s) {
        None | Some(StepState::Pending) => ("pending", None),
        Some(StepState::Running) => ("running", None),
        Some(StepState::Done { result }) => (verdict_word(result.verdict), Some(result.clone())),
    }
}

#[component]
fn StepItem(
    index: usize,
    step: Step,
    run: RwSignal<Option<RunState>>,
    selected: RwSignal<usize>,
    expanded: RwSignal<BTreeMap<String, bool>>,
) -> impl IntoView {
    let id = step.id.clone();
    let status = {
        let id = id.clone();
        Memo::new(move |_| run.with(|r| step_status(r.as_ref(), &id)))
    };
    let open = {
        let id = id.clone();
        Memo::new(move |_| {
            expanded.track();
            run.track();
            is_open(expanded, run, &id)
        })
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            selected.set(index);
            let now = open.get_untracked();
            expanded.update(|m| {
                m.insert(id.clone(), !now);
            });
        }
    };
    let step = StoredValue::new(step);
    let badge = move || {
        let (word, result) = status.get();
        match (word, result) {
            ("running", _) => view! { <span class="badge neutral" data-testid="step-badge"><span class="spinner small-spinner"></span>" running"</span> }.into_any(),
            ("pending", _) => view! { <span class="badge neutral" data-testid="step-badge">"pending"</span> }.into_any(),
            ("not-run", _) => view! { <span class="badge neutral" data-testid="step-badge">"not run"</span> }.into_any(),
            (_, Some(r)) => {
                let (text, level) = verdict_badge(r.verdict);
                view! { <span data-testid="step-badge"><Badge level=level text=text /></span> }.into_any()
            }
            _ => view! { <span class="badge neutral" data-testid="step-badge">{word}</span> }.into_any(),
        }
    };
    view! {
        <li
            class="step panel"
            class:selected=move || selected.get() == index
            data-testid="step"
            data-step=id.clone()
            data-index=index.to_string()
            data-status=move || status.get().0
        >
            <button type="button" class="step-head" aria-expanded=move || open.get().to_string() on:click=toggle>
                <span class="step-num">{index + 1}</span>
                {badge}
                <span class="step-title">{step.with_value(|s| s.title.clone())}</span>
                <span class="step-summary muted" data-testid="step-summary">
                    {move || status.get().1.map(|r| r.summary)}
                </span>
                <span class="small muted nowrap">{move || status.get().1.map(|r| format!("{:.0} ms", r.duration_ms))}</span>
            </button>
            <Show when=move || open.get()>
                <StepDetail step=step result=Signal::derive(move || status.get().1) run=run />
            </Show>
        </li>
    }
}

#[component]
fn StepDetail(
    step: StoredValue<Step>,
    result: Signal<Option<CheckResult>>,
    run: RwSignal<Option<RunState>>,
) -> impl IntoView {
    let explanation = step.with_value(|s| s.explanation.clone());
    let template_cli = step.with_value(|s| s.cli.clone());
    view! {
        <div class="step-body" data-testid="step-detail">
            <p class="explanation">{explanation}</p>
            {move || result.get().map(|r| {
                let error = r.error.as_ref().map(describe);
                let cli = r.cli.clone().or_else(|| {
                    template_cli.clone().map(|t| run.with(|s| fill_template(&t, &s.as_ref().map(|s| s.params.clone()).unwrap_or_default())))
                });
                view! {
                    {error.map(|e| view! { <div class="action-error" role="alert" data-testid="step-error">"The check failed: "{e}</div> })}
                    <EvidenceView evidence=r.evidence.clone() />
                    {(!r.values.is_empty()).then(|| view! {
                        <div class="values small muted" data-testid="step-values">
                            {r.values.iter().map(|(k, v)| view! { <span><code>{k.clone()}</code>" "{format_number(*v)}</span> }).collect_view()}
                        </div>
                    })}
                    {r.query.clone().map(|q| view! { <CommandLine label="Query" text=q testid="step-query" /> })}
                    {cli.map(|c| view! { <CommandLine label="CLI" text=c testid="step-cli" /> })}
                }
            })}
        </div>
    }
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A command or query, selectable in one click, with a copy button.
#[component]
fn CommandLine(label: &'static str, #[prop(into)] text: String, testid: &'static str) -> impl IntoView {
    let copy = text.clone();
    view! {
        <div class="command" data-testid=testid>
            <span class="command-label">{label}</span>
            <code>{text}</code>
            <CopyButton text=Signal::derive(move || copy.clone()) testid=format!("{testid}-copy") />
        </div>
    }
}

#[component]
fn EvidenceView(evidence: Evidence) -> impl IntoView {
    match evidence {
        Evidence::None => ().into_any(),
        Evidence::Series { series, threshold, unit } => {
            let unit = chart_unit(unit.as_deref());
            let thresholds: Vec<Threshold> =
                threshold.iter().map(|v| Threshold { value: *v, label: "threshold".to_owned() }).collect();
            let state = Signal::derive(move || ChartState::Ready(series.clone()));
            view! { <Chart state=state unit=unit thresholds=thresholds height=180 testid="step-chart" /> }.into_any()
        }
        Evidence::Table { columns, rows } => view! {
            <div class="table-wrap">
                <table class="data evidence-table" data-testid="step-table">
                    <thead><tr>{columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {rows.into_iter().map(|row| view! {
                            <tr>{row.into_iter().map(|cell| view! { <td>{cell}</td> }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any(),
        Evidence::Lines { lines } => view! {
            <pre class="log-view evidence-lines" data-testid="step-lines">{lines.join("\n")}</pre>
        }
        .into_any(),
    }
}

// ───────────────────────────── causes and fixes ─────────────────────────────

#[component]
#[allow(clippy::too_many_arguments)]
fn CausesPanel(
    book: StoredValue<Runbook>,
    run: RwSignal<Option<RunState>>,
    values: RwSignal<BTreeMap<String, String>>,
    role: Signal<Option<Identity>>,
    dialog: RwSignal<Option<ActionTarget>>,
    proposed: RwSignal<Option<i32>>,
    selected: RwSignal<usize>,
    expanded: RwSignal<BTreeMap<String, bool>>,
) -> impl IntoView {
    // Fixes are filled with the run's validated values, or the form's before a run.
    let params = Signal::derive(move || {
        run.with(|r| r.as_ref().map(|s| s.params.clone())).unwrap_or_else(|| values.get())
    });
    let ranked = move || {
        run.with(|r| match r {
            None => view! { <p class="muted" data-testid="causes-idle">"Run the checks to rank the causes."</p> }.into_any(),
            Some(state) if state.finished_at.is_none() => view! {
                <p class="muted state-msg" data-testid="causes-waiting"><span class="spinner"></span>"Ranked when every check has finished…"</p>
            }
            .into_any(),
            Some(state) if state.causes.is_empty() => {
                let failed = state
                    .steps
                    .iter()
                    .filter(|(_, s)| matches!(s, StepState::Done { result } if result.verdict == Verdict::Error))
                    .count();
                if failed > 0 {
                    view! {
                        <p class="warn-text" data-testid="causes-none">
                            {format!("No cause ranked, but {failed} of {} checks failed, so this flow could not judge everything: see their errors.", state.steps.len())}
                        </p>
                    }
                    .into_any()
                } else {
                    view! {
                        <p class="ok-text" data-testid="causes-none">"No check points to a cause: nothing in this flow looks wrong."</p>
                    }
                    .into_any()
                }
            }
            Some(state) => {
                let causes = state.causes.clone();
                view! {
                    <ol class="causes" data-testid="causes">
                        {causes.into_iter().enumerate().map(|(i, rc)| {
                            let cause = book
                                .with_value(|b| b.causes.iter().find(|c| c.id == rc.cause).cloned())
                                .map(|c| with_run_fixes(c, state));
                            view! { <RankedCauseItem rank=i + 1 ranked=rc cause=cause book=book run=run params=params role=role dialog=dialog proposed=proposed selected=selected expanded=expanded /> }
                        }).collect_view()}
                    </ol>
                }
                .into_any()
            }
        })
    };
    let others = move || {
        let ranked_ids: Vec<String> = run.with(|r| {
            r.as_ref().map(|s| s.causes.iter().map(|c| c.cause.clone()).collect()).unwrap_or_default()
        });
        let rest: Vec<Cause> =
            book.with_value(|b| b.causes.iter().filter(|c| !ranked_ids.contains(&c.id)).cloned().collect());
        (!rest.is_empty()).then(|| view! {
            <details class="other-causes" data-testid="other-causes">
                <summary>{format!("Other causes this flow knows ({})", rest.len())}</summary>
                {rest.into_iter().map(|c| view! {
                    <div class="cause" data-testid="other-cause" data-cause=c.id.clone()>
                        <b>{c.title.clone()}</b>
                        <p class="small">{c.description.clone()}</p>
                        <FixList fixes=run.with(|r| run_fixes(r.as_ref(), &c)) params=params role=role dialog=dialog proposed=proposed />
                    </div>
                }).collect_view()}
            </details>
        })
    };
    view! {
        <aside class="panel causes-panel" data-testid="causes-panel">
            <h2 class="section-title">"Likely causes"</h2>
            {ranked}
            {others}
        </aside>
    }
}

#[component]
#[allow(clippy::too_many_arguments)]
fn RankedCauseItem(
    rank: usize,
    ranked: RankedCause,
    cause: Option<Cause>,
    book: StoredValue<Runbook>,
    run: RwSignal<Option<RunState>>,
    params: Signal<BTreeMap<String, String>>,
    role: Signal<Option<Identity>>,
    dialog: RwSignal<Option<ActionTarget>>,
    proposed: RwSignal<Option<i32>>,
    selected: RwSignal<usize>,
    expanded: RwSignal<BTreeMap<String, bool>>,
) -> impl IntoView {
    let (word, level) = verdict_badge(ranked.verdict);
    let evidence: Vec<(usize, String, String)> = ranked
        .evidence
        .iter()
        .filter_map(|step| {
            let index = book.with_value(|b| b.steps.iter().position(|s| s.id == *step))?;
            let title = book.with_value(|b| b.steps[index].title.clone());
            let summary = run
                .with_untracked(|r| result_of(r.as_ref(), step).map(|r| r.summary.clone()))
                .unwrap_or_default();
            Some((index, title, summary))
        })
        .collect();
    let show_step = move |index: usize, step: String| {
        selected.set(index);
        expanded.update(|m| {
            m.insert(step, true);
        });
        scroll_to_step(index);
    };
    view! {
        <li class="cause" data-testid="cause" data-cause=ranked.cause.clone() data-verdict=word>
            <div class="cause-head">
                <span class="cause-rank">{format!("#{rank}")}</span>
                <b class="cause-title">{ranked.title.clone()}</b>
                <Badge level=level text=word title=format!("score {:.2}", ranked.score) />
            </div>
            {cause.as_ref().map(|c| view! { <p class="small">{c.description.clone()}</p> })}
            <div class="small muted">"Evidence:"</div>
            <ul class="cause-evidence small">
                {evidence.into_iter().map(|(index, title, summary)| {
                    let step = book.with_value(|b| b.steps[index].id.clone());
                    view! {
                        <li>
                            <button type="button" class="link" on:click=move |_| show_step(index, step.clone())>{format!("{}. {title}", index + 1)}</button>
                            {(!summary.is_empty()).then(|| view! { <span class="muted">" — "{summary}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {cause.map(|c| view! { <FixList fixes=c.fixes params=params role=role dialog=dialog proposed=proposed /> })}
        </li>
    }
}

#[component]
fn FixList(
    fixes: Vec<Fix>,
    params: Signal<BTreeMap<String, String>>,
    role: Signal<Option<Identity>>,
    dialog: RwSignal<Option<ActionTarget>>,
    proposed: RwSignal<Option<i32>>,
) -> impl IntoView {
    if fixes.is_empty() {
        return ().into_any();
    }
    view! {
        <div class="small muted">"Fixes:"</div>
        <ul class="fixes">
            {fixes.into_iter().map(|fix| match fix {
                Fix::Action { title, action, command } => view! {
                    <ActionFix title=title action=action command=command params=params role=role dialog=dialog proposed=proposed />
                }.into_any(),
                Fix::Command { title, command, destructive, warning } => {
                    // The backend fills in and shell-quotes a run's commands; before a run the
                    // template is shown as written, never filled in here.
                    let unresolved = command.contains("{{");
                    let text = Signal::derive(move || command.clone());
                    view! {
                        <li class="fix" class:destructive=destructive data-testid="fix-command" data-destructive=destructive.to_string()>
                            <div class="fix-title">{title}</div>
                            {destructive.then(|| view! {
                                <div class="destructive-warning" role="note" data-testid="destructive-warning">
                                    <b>"Destructive — Triage never runs this. "</b>
                                    {warning.clone().unwrap_or_else(|| "Check the evidence and agree with the team before running it by hand.".to_owned())}
                                </div>
                            })}
                            {(!destructive).then(|| warning.clone().map(|w| view! { <div class="small warn-text">{w}</div> }))}
                            <div class="command">
                                <code>{move || text.get()}</code>
                                <CopyButton text=text testid="fix-copy" />
                            </div>
                            {unresolved.then(|| view! { <div class="small muted">"Run the flow to fill in this command."</div> })}
                        </li>
                    }.into_any()
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// A cause's fixes as the run resolved them (values in place, commands shell-quoted, names
/// validated), or the runbook's templates before there is a run.
fn run_fixes(run: Option<&RunState>, cause: &Cause) -> Vec<Fix> {
    run.and_then(|r| r.fixes.get(&cause.id).cloned()).unwrap_or_else(|| cause.fixes.clone())
}

fn with_run_fixes(mut cause: Cause, run: &RunState) -> Cause {
    cause.fixes = run_fixes(Some(run), &cause);
    cause
}

/// What a fix action would do, resolved with the run's values, or why it cannot be offered.
fn resolve_action(
    action: &FixAction,
    params: &BTreeMap<String, String>,
) -> Result<(ActionTarget, Option<i32>), String> {
    let f = |t: &str| fill_template(t, params);
    let unresolved = |v: &str| v.contains("{{") || v.trim().is_empty();
    let target = match action {
        FixAction::Scale { namespace, deployment, replicas } => {
            let replicas_text = f(replicas);
            let n: i32 = replicas_text
                .trim()
                .parse()
                .map_err(|_| format!("the replica count “{replicas_text}” is not a whole number"))?;
            (ActionTarget::Scale { ns: f(namespace), name: f(deployment), current: 0 }, Some(n))
        }
        FixAction::Restart { namespace, deployment } => {
            (ActionTarget::Restart { ns: f(namespace), name: f(deployment) }, None)
        }
        FixAction::DeletePods { namespace, selector } => {
            (ActionTarget::DeletePods { ns: f(namespace), selector: f(selector) }, None)
        }
        FixAction::EmergencyRestart { namespace } => (
            ActionTarget::EmergencyRestart {
                ns: f(namespace),
                deployments: EMERGENCY_ORDER.iter().map(|d| (*d).to_owned()).collect(),
            },
            None,
        ),
    };
    if unresolved(target.0.ns()) || unresolved(target.0.name()) {
        return Err("fill in the flow's parameters first".to_owned());
    }
    Ok(target)
}

#[component]
fn ActionFix(
    title: String,
    action: FixAction,
    /// The backend's `kubectl` text for this fix, once a run resolved it.
    command: Option<String>,
    params: Signal<BTreeMap<String, String>>,
    role: Signal<Option<Identity>>,
    dialog: RwSignal<Option<ActionTarget>>,
    proposed: RwSignal<Option<i32>>,
) -> impl IntoView {
    let action = StoredValue::new(action);
    let problem = RwSignal::new(None::<String>);
    let allowed = Signal::derive(move || can_act(role.get().map(|i| i.role)));
    let why_not = Signal::derive(move || match role.get() {
        None => "Fixes need the operator role; yours could not be checked.".to_owned(),
        Some(i) => format!("Fixes need the operator role; {} is a {}.", i.subject, role_label(Some(i.role))),
    });
    let open = move |_| {
        problem.set(None);
        let resolved = action.with_value(|a| resolve_action(a, &params.get_untracked()));
        let (target, replicas) = match resolved {
            Ok(t) => t,
            Err(e) => {
                problem.set(Some(e));
                return;
            }
        };
        match target {
            // The dialog shows the current count: ask Kubernetes for it first.
            ActionTarget::Scale { ns, name, .. } => {
                spawn_local(async move {
                    match api::k8s_deployments(&ns).await {
                        Ok(list) => match list.into_iter().find(|d| d.name == name) {
                            Some(d) => {
                                proposed.set(replicas);
                                dialog.set(Some(ActionTarget::Scale { ns, name, current: d.desired }));
                            }
                            None => problem.set(Some(format!("there is no deployment {name} in {ns}"))),
                        },
                        Err(e) => problem.set(Some(describe(&e))),
                    }
                });
            }
            other => {
                proposed.set(None);
                dialog.set(Some(other));
            }
        }
    };
    view! {
        <li class="fix" data-testid="fix-action">
            <div class="fix-row">
                <button type="button" class="primary" data-testid="fix-button" disabled=move || !allowed.get()
                    title=move || if allowed.get() { "Opens the guarded dialog: dry run first, then typed confirmation".to_owned() } else { why_not.get() }
                    on:click=open>
                    {title}
                </button>
                {move || (!allowed.get()).then(|| view! { <span class="small muted" data-testid="fix-disabled-reason">{why_not.get()}</span> })}
            </div>
            {move || problem.get().map(|p| view! { <div class="action-error small" role="alert">{p}</div> })}
            {match command {
                Some(text) => {
                    let text = Signal::derive(move || text.clone());
                    view! {
                        <div class="command">
                            <code>{move || text.get()}</code>
                            <CopyButton text=text testid="fix-copy" />
                        </div>
                    }.into_any()
                }
                None => view! { <div class="small muted">"The dry run shows the exact command."</div> }.into_any(),
            }}
        </li>
    }
}
