//! What the caller's role allows, in words.

use triage_shared::ApiError;
use triage_shared::actions::{Identity, Role};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert!(!can_act(None));
        assert!(!can_act(Some(Role::Reader)));
        assert!(can_act(Some(Role::Operator)));
        assert!(can_act(Some(Role::Admin)));
        assert_eq!(role_label(None), "reader");
    }
}
