//! The header's environment picker and the banner of a guarded environment. The picker loads the
//! same page in another environment (its `env=` replaced, every other parameter kept); the banner
//! says, in the environment's colour, what every action there needs.

use leptos::prelude::*;
use triage_shared::env::EnvironmentInfo;

use crate::env::{self, colours, current_env, protection_banner, set_env_in, use_environments};
use crate::widgets::role_label;

/// `<select>` of the environments; hidden while there is only one (and the URL names no other).
#[component]
pub fn EnvPicker() -> impl IntoView {
    env::reload_on_env_change();
    let envs = use_environments();
    let named = current_env();
    move || {
        let all = envs.environments()?;
        let selected = named.clone().unwrap_or_else(|| all.default.clone());
        let known = all.get(&selected).is_some();
        if all.environments.len() < 2 && known {
            return None;
        }
        let swatch = all.get(&selected).map(|e| colours(&e.colour).0).unwrap_or_else(|| "transparent".into());
        let options = all
            .environments
            .iter()
            .map(|e| {
                let text = option_text(e);
                view! { <option value=e.name.clone() selected=e.name == selected>{text}</option> }
            })
            .collect_view();
        let unknown = (!known).then(|| {
            view! { <option value=selected.clone() selected=true disabled=true>{format!("{selected} (unknown)")}</option> }
        });
        Some(view! {
            <label class="env-picker" title="Environment: the same page in another cluster">
                <span class="swatch" aria-hidden="true" style:background=swatch></span>
                <span class="sr-only">"Environment"</span>
                <select
                    data-testid="env-picker"
                    aria-label="Environment"
                    on:change=move |ev| {
                        let picked = event_target_value(&ev);
                        if let Some(window) = web_sys::window() {
                            let _ = window.location().set_href(&set_env_in(&env::here(), Some(&picked)));
                        }
                    }
                >
                    {unknown}
                    {options}
                </select>
            </label>
        })
    }
}

/// `prod-eu · production · operator`: what the picker's option says about an environment.
fn option_text(e: &EnvironmentInfo) -> String {
    let role = match e.role {
        Some(r) => role_label(Some(r)),
        None => "no access",
    };
    format!("{} · {} · {role}", e.name, e.protection.as_str())
}

/// The banner of a `production` or `approval` environment, on every page.
#[component]
pub fn EnvBanner() -> impl IntoView {
    let envs = use_environments();
    move || {
        let current = envs.current()?;
        let text = protection_banner(&current)?;
        let (background, foreground) = colours(&current.colour);
        Some(view! {
            <div
                class="env-banner"
                role="note"
                data-testid="env-banner"
                data-env=current.name.clone()
                data-protection=current.protection.as_str()
                style:background=background
                style:color=foreground
            >
                {text}
            </div>
        })
    }
}

/// Says so when the page URL names an environment the backend does not serve (every call of
/// the page fails then).
#[component]
pub fn UnknownEnvNotice() -> impl IntoView {
    let envs = use_environments();
    move || {
        let all = envs.environments()?;
        let named = current_env()?;
        if all.get(&named).is_some() {
            return None;
        }
        let known: Vec<String> = all.environments.iter().map(|e| e.name.clone()).collect();
        Some(view! {
            <div class="panel error state-msg" role="alert" data-testid="env-unknown-notice">
                {format!(
                    "This page's link names the environment {named}, which this Triage does not serve. Known environments: {}.",
                    known.join(", ")
                )}
            </div>
        })
    }
}
