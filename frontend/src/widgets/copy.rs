//! Copying text to the clipboard, with the one copy button of the console: it says whether it
//! worked, and when the browser refused (no permission, no clipboard outside a secure context,
//! the page not focused) it says so in words.

use leptos::prelude::*;
use leptos::task::spawn_local;

/// Writes `text` to the clipboard; the error says why not in words (no permission, no secure
/// context, the page not focused).
pub async fn copy_text(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no browser window")?;
    let navigator = window.navigator();
    // `navigator.clipboard` is undefined outside a secure context: calling it would throw.
    let offered = js_sys::Reflect::get(&navigator, &"clipboard".into()).is_ok_and(|c| !c.is_undefined());
    if !offered {
        return Err(
            "this browser offers no clipboard to this page (it needs HTTPS or localhost); select the text and press Ctrl+C"
                .to_owned(),
        );
    }
    let promise = navigator.clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.map(|_| ()).map_err(|e| {
        let reason = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string());
        format!(
            "the browser refused to copy ({}); select the text and press Ctrl+C",
            reason.unwrap_or_default()
        )
    })
}

/// A small "Copy" button for `text`; shows "Copied" or why it failed for a few seconds.
#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    #[prop(optional, into)] testid: String,
    #[prop(default = "Copy")] label: &'static str,
) -> impl IntoView {
    let state = RwSignal::new(None::<Result<(), String>>);
    let on_click = move |_| {
        let t = text.get_untracked();
        spawn_local(async move {
            let answer = copy_text(&t).await;
            if state.try_set(Some(answer)).is_none() {
                set_timeout(
                    move || {
                        let _ = state.try_set(None);
                    },
                    std::time::Duration::from_secs(3),
                );
            }
        });
    };
    view! {
        <button class="copy" data-testid=testid title=move || match state.get() {
            Some(Err(e)) => e,
            _ => "Copy to the clipboard".to_owned(),
        } on:click=on_click>
            {move || match state.get() {
                None => label,
                Some(Ok(())) => "Copied",
                Some(Err(_)) => "Copy failed",
            }}
        </button>
    }
}
