//! The flow's parameter form: one field per declared parameter, the one a refused start names
//! marked, and the Run button.

use std::collections::BTreeMap;

use leptos::ev;
use leptos::prelude::*;
use triage_shared::ApiError;
use triage_shared::runbook::{ParamKind, RunState, Runbook};

/// The parameter a refused start names in its detail (`{"param": …}`), to mark in the form.
pub fn refused_param(e: &ApiError) -> Option<String> {
    e.detail.as_ref()?.get("param")?.as_str().map(str::to_owned)
}

fn kind_hint(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Namespace => "namespace",
        ParamKind::Deployment => "deployment name",
        ParamKind::Name => "object name",
        ParamKind::ConsumerGroup => "consumer group",
        ParamKind::Topic => "Kafka topic",
        ParamKind::LabelValue => "label value",
        ParamKind::Duration => "duration, e.g. 15m",
        ParamKind::Integer => "whole number",
    }
}

#[component]
pub fn ParamsForm(
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
