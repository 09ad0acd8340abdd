//! Footer: which backend build answers, fetched from `/api/version`.

use leptos::prelude::*;
use triage_shared::version::AuthMode;

use crate::api;

#[component]
pub fn Footer() -> impl IntoView {
    let version = LocalResource::new(api::get_version);
    view! {
        <footer class="footer" data-testid="footer">
            <Suspense fallback=|| view! { <span class="muted">"connecting to the backend…"</span> }>
                {move || {
                    version
                        .get()
                        .map(|result| match result {
                            Ok(v) => {
                                let auth = match v.auth_mode {
                                    AuthMode::None => "local demo mode (no login)",
                                    AuthMode::Oidc => "single sign-on",
                                };
                                view! {
                                    <span data-testid="backend-version">
                                        {format!("{} {} · {auth}", v.name, v.version)}
                                    </span>
                                }
                                    .into_any()
                            }
                            Err(e) => {
                                view! {
                                    <span class="error" role="alert" data-testid="backend-error">
                                        {format!("Backend unavailable: {}", e.message)}
                                    </span>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
            <span class="muted">" · press ? for keyboard shortcuts"</span>
        </footer>
    }
}
