//! What the caller's role allows, in words, and in which environment.

use leptos::prelude::*;
use triage_shared::ApiError;
use triage_shared::actions::{Identity, Role};

use crate::env::use_environments;

/// Only operators and admins may act; an unknown role (whoami failed) is a reader.
pub fn can_act(role: Option<Role>) -> bool {
    matches!(role, Some(Role::Operator | Role::Admin))
}

pub fn role_label(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Reader) | None => "reader",
        Some(Role::Operator) => "operator",
        Some(Role::Admin) => "admin",
    }
}

/// The role chip of a page head: who the caller is and their role, while it is being asked and
/// when it could not be.
pub fn role_text(whoami: Option<&Result<Identity, ApiError>>) -> String {
    match whoami {
        None => "role…".to_owned(),
        Some(Ok(i)) => format!("{} · {}", i.subject, role_label(Some(i.role))),
        Some(Err(_)) => "reader (role unknown)".to_owned(),
    }
}

/// Why the caller may not act in environment `env` (`role` there, `None`: no access), in words;
/// `None` when they may.
pub fn unavailable_reason(env: &str, role: Option<Role>) -> Option<String> {
    match role {
        Some(Role::Operator | Role::Admin) => None,
        Some(Role::Reader) => Some(format!("Operators of {env} only; you are a reader there.")),
        None => Some(format!("Operators of {env} only; you have no access there.")),
    }
}

/// Why the caller may not act in the current environment, once the environments are known.
pub fn current_unavailable_reason() -> Signal<Option<String>> {
    let envs = use_environments();
    Signal::derive(move || envs.current().and_then(|e| unavailable_reason(&e.name, e.role)))
}

/// The sentence saying why actions are unavailable here (nothing when the caller may act).
#[component]
pub fn ActionUnavailable() -> impl IntoView {
    let reason = current_unavailable_reason();
    move || {
        reason.get().map(|why| {
            view! { <p class="muted small action-unavailable" role="note" data-testid="action-unavailable">{why}</p> }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_environment_and_the_role_there() {
        assert_eq!(
            unavailable_reason("prod-eu", Some(Role::Reader)).as_deref(),
            Some("Operators of prod-eu only; you are a reader there.")
        );
        assert!(unavailable_reason("prod-eu", None).is_some_and(|t| t.contains("no access")));
        assert_eq!(unavailable_reason("staging", Some(Role::Operator)), None);
    }

    #[test]
    fn roles() {
        assert!(!can_act(None));
        assert!(!can_act(Some(Role::Reader)));
        assert!(can_act(Some(Role::Operator)));
        assert!(can_act(Some(Role::Admin)));
        assert_eq!(role_label(None), "reader");
    }
}
