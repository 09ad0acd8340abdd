//! `/api/whoami`: who the console is talking for.

use axum::Json;
use axum::extract::State;
use triage_shared::auth::WhoAmI;
use triage_shared::version::AuthMode;

use crate::auth::Caller;
use crate::state::AppState;

/// `GET /api/whoami`: the caller, the role, and the session's CSRF token for the console.
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> Json<WhoAmI> {
    let sso = state.auth.sso().is_some();
    Json(WhoAmI {
        roles: state.auth.roles(&caller),
        identity: caller.identity,
        auth_mode: if sso { AuthMode::Oidc } else { AuthMode::None },
        csrf_token: caller.csrf_token,
        logout_url: sso.then(|| crate::auth::LOGOUT_PATH.to_owned()),
    })
}
