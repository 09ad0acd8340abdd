//! Light/dark theme, remembered in `localStorage` and applied as `data-theme` on `<html>`.

use leptos::prelude::*;

const STORAGE_KEY: &str = "triage.theme";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    fn toggled(self) -> Self {
        match self {
            Self::Light => Self::Dark,
            Self::Dark => Self::Light,
        }
    }
}

/// Reads the theme the page already applied (see `index.html`) and keeps it in sync.
pub fn provide_theme() -> RwSignal<Theme> {
    let initial = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("data-theme"))
        .map_or(Theme::Light, |t| if t == "dark" { Theme::Dark } else { Theme::Light });
    let theme = RwSignal::new(initial);
    provide_context(theme);
    Effect::new(move |_| {
        let value = theme.get().as_str();
        let window = web_sys::window();
        if let Some(root) = window.as_ref().and_then(|w| w.document()).and_then(|d| d.document_element()) {
            let _ = root.set_attribute("data-theme", value);
        }
        // Storage can be unavailable (private mode, disabled): the theme then lasts for this tab.
        if let Some(storage) = window.and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(STORAGE_KEY, value);
        }
    });
    theme
}

#[component]
pub fn ThemeToggle(theme: RwSignal<Theme>) -> impl IntoView {
    let label = move || match theme.get() {
        Theme::Light => "Dark theme",
        Theme::Dark => "Light theme",
    };
    view! {
        <button
            class="theme-toggle"
            data-testid="theme-toggle"
            title="Switch theme (t)"
            aria-label=label
            on:click=move |_| theme.update(|t| *t = t.toggled())
        >
            {move || if theme.get() == Theme::Dark { "☀" } else { "☾" }}
        </button>
    }
}
