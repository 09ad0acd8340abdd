//! What a guarded environment adds to every action dialog: the required reason (`production`
//! and `approval` environments) and the request that waits for a second operator (`approval`).

use leptos::prelude::*;
use triage_shared::env::{Approval, MAX_REASON};

use crate::env::href;
use crate::format::time::{LocalTime, clock};

/// What is wrong with a reason, in words; `None` when it will do.
pub fn reason_problem(reason: &str) -> Option<String> {
    let count = reason.trim().chars().count();
    if count == 0 {
        Some("Write why: this environment keeps a reason with every action.".to_owned())
    } else if count > MAX_REASON {
        Some(format!("The reason is {count} characters; at most {MAX_REASON}."))
    } else {
        None
    }
}

/// The reason to send: the trimmed text, or nothing when empty.
pub fn reason_to_send(reason: &str) -> Option<String> {
    Some(reason.trim().to_owned()).filter(|r| !r.is_empty())
}

/// The required "Reason" field of an action in a guarded environment.
#[component]
pub fn ReasonField(reason: RwSignal<String>, env: String) -> impl IntoView {
    view! {
        <label class="reason">
            <span>{format!("Reason (required in {env}, kept in the audit log)")}</span>
            <textarea
                data-testid="action-reason"
                required=true
                maxlength=MAX_REASON.to_string()
                rows="2"
                placeholder="Why, in a sentence: the incident, the ticket, what you expect"
                prop:value=move || reason.get()
                on:input=move |ev| reason.set(event_target_value(&ev))
            ></textarea>
        </label>
    }
}

/// `Waiting for approval by a second operator of prod-eu (request #7, expires at 14:05:00)`.
pub fn pending_text(approval: &Approval, expires_at: &str) -> String {
    format!(
        "Waiting for approval by a second operator of {} (request #{}, expires at {expires_at})",
        approval.env, approval.id
    )
}

/// An action that now waits for a second operator, instead of a success.
#[component]
pub fn PendingApproval(approval: Approval) -> impl IntoView {
    let expires = clock(LocalTime::of_unix(approval.expires_at as f64));
    let text = pending_text(&approval, &expires);
    view! {
        <div class="action-pending" role="status" data-testid="action-pending" data-approval=approval.id.to_string()>
            <b>"Not run yet. "</b>{text}
            " "<a href=href("/approvals") class="small">"Approvals →"</a>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use triage_shared::env::ApprovalState;

    use super::*;

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert!(reason_problem("  ").is_some());
        assert_eq!(reason_problem("incident 42"), None);
        assert!(reason_problem(&"é".repeat(MAX_REASON + 1)).is_some());
        assert_eq!(reason_problem(&"é".repeat(MAX_REASON)), None);
        assert_eq!(reason_to_send("  x "), Some("x".to_owned()));
        assert_eq!(reason_to_send(" "), None);
    }

    #[test]
    fn a_pending_request_names_its_environment_id_and_expiry() {
        let approval = Approval {
            id: 7,
            env: "prod-eu".into(),
            action: "scale".into(),
            target: "deployment/a/b".into(),
            summary: String::new(),
            kubectl: String::new(),
            requested_by: "ann".into(),
            reason: "r".into(),
            requested_at: 0,
            expires_at: 600,
            state: ApprovalState::Pending,
            decided_by: None,
            audit_id: None,
            error: None,
            comment: None,
        };
        assert_eq!(
            pending_text(&approval, "14:05:00"),
            "Waiting for approval by a second operator of prod-eu (request #7, expires at 14:05:00)"
        );
    }
}
