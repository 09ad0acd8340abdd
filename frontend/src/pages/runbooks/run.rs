//! A run's state in the browser: loaded from `RunState`, then followed over its server-sent
//! events until `Finished`.

use leptos::prelude::*;
use triage_shared::runbook::{RunEvent, RunState, StepState};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::api;
use crate::sse::EventStream;

/// How the run's event stream is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Idle,
    Live,
    Reconnecting,
}

/// Applies one event to the run's state. Idempotent, so the replay a reconnect brings is harmless.
pub fn apply_event(state: &mut RunState, event: RunEvent) {
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
pub fn follow_run(run_id: &str, run: RwSignal<Option<RunState>>, stream: RwSignal<Stream>) {
    let opened: StoredValue<Option<EventStream>, LocalStorage> = StoredValue::new_local(None);
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
            if let Some(Some(source)) = opened.try_get_value() {
                source.close();
            }
            stream.set(Stream::Idle);
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
        // The browser reconnects by itself and the backend replays the run so far.
        if run.with_untracked(|r| r.as_ref().is_some_and(|s| s.finished_at.is_none())) {
            stream.set(Stream::Reconnecting);
        }
    });
    let handlers = vec![("message", on_message), ("error", on_error)];
    match EventStream::open(&api::runbooks::run_events_url(run_id), handlers) {
        Some(source) => {
            opened.set_value(Some(source));
            stream.set(Stream::Live);
        }
        None => stream.set(Stream::Reconnecting),
    }
}
