//! A pod's logs: tail N, previous container, a regular-expression filter that keeps and
//! highlights matching lines, refresh and download.
//!
//! The filter is the browser's own `RegExp` (JavaScript syntax), built through
//! `Reflect.construct` so an invalid pattern becomes a message instead of an exception.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use triage_shared::commands::kubectl_logs;

use crate::api;
use crate::format::text::{segments, utf16_to_byte};
use crate::format::url::encode;
use crate::widgets::{ErrorBox, Kubectl, Loading, bump, keyed_resource};

const TAILS: [u32; 3] = [100, 200, 1000];

/// Compiles `pattern` with the browser's RegExp; an empty pattern is no filter.
fn compile(pattern: &str, match_case: bool) -> Result<Option<js_sys::RegExp>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    let ctor = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("RegExp"))
        .ok()
        .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| "this browser has no RegExp".to_owned())?;
    let flags = if match_case { "g" } else { "gi" };
    let args = js_sys::Array::of2(&JsValue::from_str(pattern), &JsValue::from_str(flags));
    match js_sys::Reflect::construct(&ctor, &args) {
        Ok(re) => {
            re.dyn_into::<js_sys::RegExp>().map(Some).map_err(|_| "not a regular expression".to_owned())
        }
        Err(e) => Err(e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_else(|| "invalid regular expression".to_owned())),
    }
}

/// Byte ranges of the (non-empty) matches of `re` in `line`; `None` when the line does not match.
fn match_ranges(re: &js_sys::RegExp, line: &str) -> Option<Vec<(usize, usize)>> {
    re.set_last_index(0);
    if !re.test(line) {
        return None;
    }
    re.set_last_index(0);
    let mut ranges = Vec::new();
    let mut guard = 0;
    while let Some(m) = re.exec(line) {
        guard += 1;
        let text = String::from(m.get(0));
        let index16 = js_sys::Reflect::get(&m, &JsValue::from_str("index"))
            .ok()
            .and_then(|v| v.as_f64())
            .map_or(0, |v| v as usize);
        if text.is_empty() {
            // An empty match would loop for ever: step over it.
            re.set_last_index(re.last_index() + 1);
        } else if let Some(start) = utf16_to_byte(line, index16) {
            ranges.push((start, start + text.len()));
        }
        if guard > 500 || re.last_index() as usize > line.len() * 2 {
            break;
        }
    }
    Some(ranges)
}

/// The file name offered by the logs' Download button.
pub fn log_file_name(pod: &str, previous: bool) -> String {
    format!("{pod}{}.log", if previous { "-previous" } else { "" })
}

#[component]
pub fn LogView(ns: String, pod: String) -> impl IntoView {
    let tail = RwSignal::new(200u32);
    let previous = RwSignal::new(false);
    let pattern = RwSignal::new(String::new());
    let match_case = RwSignal::new(false);
    let only_matching = RwSignal::new(true);
    let reload = RwSignal::new(0u32);

    let (ns_fetch, pod_fetch) = (ns.clone(), pod.clone());
    let logs = keyed_resource(
        move || (tail.get(), previous.get(), reload.get()),
        move |(tail, previous, _)| {
            let (ns, pod) = (ns_fetch.clone(), pod_fetch.clone());
            async move { api::k8s::pod_logs(&ns, &pod, tail, previous).await }
        },
    );

    let (ns_cmd, pod_cmd) = (ns.clone(), pod.clone());
    let cmd = Signal::derive(move || kubectl_logs(&ns_cmd, &pod_cmd, tail.get(), previous.get()));
    let regex_error = move || compile(&pattern.get(), match_case.get()).err();

    let pod_file = pod.clone();
    let download = move || {
        let text =
            logs.map(|(_, r)| r.as_ref().map(|l| l.lines.join("\n")).unwrap_or_default()).unwrap_or_default();
        format!("data:text/plain;charset=utf-8,{}", encode(&text))
    };
    let file_name = move || log_file_name(&pod_file, previous.get());

    let body = NodeRef::<leptos::html::Div>::new();
    // Newest lines are last: keep the view scrolled to the bottom when new logs arrive.
    Effect::new(move |_| {
        logs.track();
        request_animation_frame(move || {
            if let Some(el) = body.get_untracked() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });

    view! {
        <div class="logs">
            <div class="toolbar">
                <label>
                    "Tail "
                    <select
                        data-testid="logs-tail"
                        prop:value=move || tail.get().to_string()
                        on:change=move |ev| tail.set(event_target_value(&ev).parse().unwrap_or(200))
                    >
                        {TAILS.iter().map(|n| view! { <option value=n.to_string()>{n.to_string()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="check" title="The logs of the container's previous run (after a restart or an OOM kill)">
                    <input
                        type="checkbox"
                        data-testid="logs-previous"
                        prop:checked=move || previous.get()
                        on:change=move |ev| previous.set(event_target_checked(&ev))
                    />
                    "previous"
                </label>
                <input
                    class="grow mono"
                    type="search"
                    data-testid="logs-regex"
                    placeholder="filter: regular expression, e.g. ERROR|OOM"
                    spellcheck="false"
                    aria-label="Filter log lines by regular expression"
                    class:invalid=move || regex_error().is_some()
                    prop:value=move || pattern.get()
                    on:input=move |ev| pattern.set(event_target_value(&ev))
                />
                <label class="check">
                    <input type="checkbox" prop:checked=move || match_case.get() on:change=move |ev| match_case.set(event_target_checked(&ev)) />
                    "match case"
                </label>
                <label class="check">
                    <input type="checkbox" data-testid="logs-only-matching" prop:checked=move || only_matching.get() on:change=move |ev| only_matching.set(event_target_checked(&ev)) />
                    "only matching lines"
                </label>
                <button data-testid="logs-refresh" on:click=move |_| reload.update(bump)>"↻ Refresh"</button>
                <a class="button" data-testid="logs-download" download=file_name href=download>"⤓ Download"</a>
            </div>
            <Kubectl cmd=cmd />
            {move || regex_error().map(|e| view! {
                <div class="error small" role="alert" data-testid="log-regex-error">{format!("Invalid regular expression: {e}")}</div>
            })}
            {move || match logs.get().map(|(_, r)| r) {
                None => view! { <Loading what="logs" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the logs" message=e.message /> }.into_any(),
                Some(Ok(l)) => {
                    let re = compile(&pattern.get(), match_case.get()).ok().flatten();
                    let only = only_matching.get();
                    let total = l.lines.len();
                    let mut matching = 0usize;
                    let rows: Vec<_> = l
                        .lines
                        .iter()
                        .filter_map(|line| {
                            let ranges = match &re {
                                None => Some(Vec::new()),
                                Some(re) => match_ranges(re, line),
                            };
                            if ranges.is_some() {
                                matching += 1;
                            }
                            if ranges.is_none() && only {
                                return None;
                            }
                            let ranges = ranges.unwrap_or_default();
                            let pieces = segments(line, &ranges)
                                .into_iter()
                                .map(|(text, hit)| {
                                    if hit {
                                        view! { <mark data-testid="log-match">{text.to_owned()}</mark> }.into_any()
                                    } else {
                                        text.to_owned().into_any()
                                    }
                                })
                                .collect_view();
                            Some(view! { <div class="log-line" data-testid="log-line">{pieces}</div> })
                        })
                        .collect();
                    let count = if re.is_some() {
                        format!("{matching} of {total} lines match")
                    } else {
                        format!("{total} lines{}", if l.previous { " (previous container)" } else { "" })
                    };
                    let empty = rows.is_empty();
                    view! {
                        <div class="small muted" data-testid="log-count">{count}</div>
                        <div class="log-view" data-testid="pod-logs" node_ref=body>
                            {rows}
                            {empty.then(|| view! { <div class="muted">{if total == 0 { "No log lines." } else { "No line matches the filter." }}</div> })}
                        </div>
                    }
                    .into_any()
                }
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names() {
        assert_eq!(log_file_name("p", true), "p-previous.log");
        assert_eq!(log_file_name("p", false), "p.log");
    }
}
