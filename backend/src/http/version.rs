//! `GET /api/version`.

use axum::Json;
use axum::extract::State;
use triage_shared::VersionInfo;
use triage_shared::version::AuthMode;

use crate::config::AuthModeSetting;
use crate::state::AppState;

pub async fn get_version(State(state): State<AppState>) -> Json<VersionInfo> {
    let auth_mode = match state.settings.auth.mode() {
        AuthModeSetting::None => AuthMode::None,
        AuthModeSetting::Oidc => AuthMode::Oidc,
    };
    Json(VersionInfo { name: "triage".to_owned(), version: env!("CARGO_PKG_VERSION").to_owned(), auth_mode })
}
