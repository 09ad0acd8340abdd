//! Top-bar badge: who is logged in, with which role, and the logout link (single sign-on).

use leptos::prelude::*;
use triage_shared::auth::WhoAmI;

use crate::api;
use crate::widgets::role_label;

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
    view! {
        <span data-testid="whoami" title=title>{name}</span>
        <span class="role" data-testid="whoami-role">{role}</span>
        {who.logout_url.map(|href| view! { <a href=href rel="external" data-testid="logout">"Log out"</a> })}
    }
}
