//! Keyboard navigation: `g` then a letter jumps to a page (shown in each link's tooltip),
//! `t` toggles the theme, `?` lists the shortcuts. Keys typed into inputs are ignored.

use leptos::ev;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use wasm_bindgen::JsCast;

#[component]
pub fn Shortcuts(targets: Vec<(char, &'static str)>) -> impl IntoView {
    let navigate = use_navigate();
    let pending_g = RwSignal::new(false);
    let show_help = RwSignal::new(false);
    let help_rows = targets.clone();
    let handle = window_event_listener(ev::keydown, move |event: web_sys::KeyboardEvent| {
        if event.ctrl_key() || event.meta_key() || event.alt_key() || typing_in_field(&event) {
            return;
        }
        let key = event.key();
        if pending_g.get_untracked() {
            pending_g.set(false);
            if let Some((_, href)) = targets.iter().find(|(k, _)| key.len() == 1 && key.starts_with(*k)) {
                navigate(&crate::env::href(href), Default::default());
            }
            return;
        }
        match key.as_str() {
            "g" => pending_g.set(true),
            "t" => {
                if let Some(button) = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.query_selector("[data-testid=theme-toggle]").ok().flatten())
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    button.click();
                }
            }
            "?" => show_help.update(|s| *s = !*s),
            "Escape" => show_help.set(false),
            _ => {}
        }
    });
    on_cleanup(move || handle.remove());
    view! {
        <Show when=move || show_help.get()>
            <div class="shortcuts panel" role="dialog" aria-label="Keyboard shortcuts" data-testid="shortcuts">
                <h3>"Keyboard shortcuts"</h3>
                <table>
                    <tbody>
                        {help_rows
                            .iter()
                            .map(|(k, href)| view! { <tr><td><kbd>"g"</kbd>" "<kbd>{k.to_string()}</kbd></td><td>{*href}</td></tr> })
                            .collect_view()}
                        <tr><td><kbd>"t"</kbd></td><td>"toggle theme"</td></tr>
                        <tr><td><kbd>"?"</kbd></td><td>"show or hide this list"</td></tr>
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

pub fn typing_in_field(event: &web_sys::KeyboardEvent) -> bool {
    event.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).is_some_and(|e| {
        matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT") || e.has_attribute("contenteditable")
    })
}
