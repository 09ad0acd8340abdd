//! Live charts: a server-sent-events subscription to `/api/live` feeding a chart's state.
//! The browser's EventSource reconnects by itself; the backend then sends the latest update
//! at once, so a reconnect shows current data without waiting for the next refresh. The stream
//! gives its connection back while the page is hidden (see `crate::sse`).

use leptos::prelude::*;
use triage_shared::ApiError;
use triage_shared::prom::{LiveQuery, LiveUpdate};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::api::prom::live_url;
use crate::chart::ChartState;
use crate::sse::EventStream;

/// Subscribes to `query` for as long as the calling component lives.
pub fn use_live(query: LiveQuery) -> RwSignal<ChartState> {
    let state = RwSignal::new(ChartState::Loading);
    let on_update = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
        let Some(text) = ev.dyn_ref::<web_sys::MessageEvent>().and_then(|m| m.data().as_string()) else {
            return;
        };
        match serde_json::from_str::<LiveUpdate>(&text) {
            Ok(update) => state.set(ChartState::Ready(update.result.series)),
            Err(e) => state.set(ChartState::Error(format!("unreadable update from the backend: {e}"))),
        }
    });
    let on_query_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
        let Some(text) = ev.dyn_ref::<web_sys::MessageEvent>().and_then(|m| m.data().as_string()) else {
            return;
        };
        let message = serde_json::from_str::<ApiError>(&text).map_or(text, |e| e.message);
        state.set(ChartState::Error(message));
    });
    let on_connection_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
        // Keep showing the last data while the browser reconnects; say so only if there is none.
        if matches!(state.get_untracked(), ChartState::Loading) {
            state.set(ChartState::Error("the live stream is unavailable; retrying…".to_owned()));
        }
    });
    let handlers =
        vec![("update", on_update), ("query-error", on_query_error), ("error", on_connection_error)];
    if EventStream::open(&live_url(&query), handlers).is_none() {
        state.set(ChartState::Error("the browser cannot open a live stream".to_owned()));
    }
    state
}
