//! The run's status line: its environment, when and by whom it started, progress, the permalink, and the
//! Markdown incident report copied or downloaded.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use triage_shared::runbook::{RunState, StepState};

use super::location::run_href;
use super::run::Stream;
use crate::api;
use crate::format::time::{LocalTime, clock};
use crate::widgets::copy_text;

/// `HH:MM:SS` in the browser's time zone.
fn local_clock(unix_secs: f64) -> String {
    clock(LocalTime::of_unix(unix_secs))
}

/// The run's status line: when and by whom it started, progress, the permalink and the report.
#[component]
pub fn RunBar(run: RwSignal<Option<RunState>>, stream: RwSignal<Stream>) -> impl IntoView {
    let report = RwSignal::new(None::<Result<String, String>>);
    let copy_state = RwSignal::new(None::<Result<(), String>>);
    let copy_report = move |_| {
        let Some(rid) = run.with_untracked(|r| r.as_ref().map(|s| s.run_id.clone())) else { return };
        copy_state.set(None);
        spawn_local(async move {
            match api::runbooks::run_report(&rid).await {
                Ok(text) => {
                    let copied = copy_text(&text).await;
                    let _ = report.try_set(Some(Ok(text)));
                    let _ = copy_state.try_set(Some(copied));
                }
                Err(e) => {
                    let _ = report.try_set(Some(Err(format!(
                        "The report could not be fetched: {}",
                        e.message.clone()
                    ))));
                }
            }
        });
    };
    move || {
        run.with(|r| {
            let state = r.as_ref()?;
            let total = state.steps.len();
            let done = state.steps.iter().filter(|(_, s)| matches!(s, StepState::Done { .. })).count();
            // The run's own environment, whatever the page's is: the link must lead back to it.
            let permalink = crate::env::href_in(&run_href(&state.runbook, &state.run_id), &state.env);
            let env = state.env.clone();
            let report_url = api::runbooks::run_report_url(&state.run_id);
            let file = format!("triage-{}-{}.md", state.runbook, state.run_id);
            let progress = match state.finished_at {
                Some(end) => format!(
                    "finished at {} after {:.1} s · {total} checks",
                    local_clock(end),
                    (end - state.started_at).max(0.0)
                ),
                None => format!("{done} of {total} checks done"),
            };
            let by = state.started_by.clone().map(|s| format!(" by {s}")).unwrap_or_default();
            let finished = state.finished_at.is_some();
            Some(view! {
                <div class="run-bar" data-testid="run-bar" data-run=state.run_id.clone() data-finished=finished.to_string()>
                    {(!finished).then(|| view! { <span class="spinner" aria-label="Running"></span> })}
                    <span class="badge neutral" data-testid="run-env" title="The environment this run's checks read">{env}</span>
                    <span data-testid="run-progress">{format!("Started {}{by} · {progress}", local_clock(state.started_at))}</span>
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
