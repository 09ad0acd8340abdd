//! Top-bar badge: who is logged in, with which role in the current environment (every
//! environment's role in its tooltip), and the logout link (single sign-on).

use leptos::prelude::*;
use triage_shared::auth::WhoAmI;
use triage_shared::env::EnvRole;

use crate::api;
use crate::env::use_environments;
use crate::widgets::role_label;

/// `Role per environment: staging operator, prod-eu reader`, for the role's tooltip.
pub fn roles_text(roles: &[EnvRole]) -> String {
    if roles.is_empty() {
        return "Your role here".to_owned();
    }
    let each: Vec<String> = roles
        .iter()
        .map(|r| match r.role {
            Some(role) => format!("{} {}", r.env, role_label(Some(role))),
            None => format!("{} no access", r.env),
        })
        .collect();
    format!("Role per environment: {}", each.join(", "))
}

#[component]
pub fn UserBadge() -> impl IntoView {
    let session = LocalResource::new(api::session);
    view! {
        <div class="user-badge" data-testid="user-badge">
            <Suspense fallback=|| ()>
                {move || session.get().map(|result| match result {
                    Ok(who) => badge(who).into_any(),
                    Err(e) => view! {
                        <span class="error" data-testid="whoami-error" title=e.message.clone()>"not signed in"</span>
                    }
                        .into_any(),
                })}
            </Suspense>
        </div>
    }
}

fn badge(who: WhoAmI) -> impl IntoView {
    let name = who.identity.email.clone().unwrap_or_else(|| who.identity.subject.clone());
    let title = if who.identity.groups.is_empty() {
        name.clone()
    } else {
        format!("{name} — groups: {}", who.identity.groups.join(", "))
    };
    let role = role_label(Some(who.identity.role));
    let env = use_environments().current_name();
    let roles_title = roles_text(&who.roles);
    view! {
        <span data-testid="whoami" title=title>{name}</span>
        <span class="role" data-testid="whoami-role" title=roles_title>{role}</span>
        {env.map(|e| view! { <span class="small" data-testid="whoami-env">{format!("in {e}")}</span> })}
        {who.logout_url.map(|href| view! { <a href=href rel="external" data-testid="logout">"Log out"</a> })}
    }
}
