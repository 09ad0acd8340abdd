//! `/auth/*`: the login flow (outside `/api`, served without a session). Every failure is a page
//! in words with a way on, never a bare status or a panic.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use crate::auth::oidc::{LOGIN_TTL, PendingLogin};
use crate::auth::pages::page;
use crate::auth::return_to::safe_return_to;
use crate::auth::session::{LOGIN_COOKIE, SESSION_COOKIE, Session, random_token};
use crate::auth::{LOGGED_OUT_PATH, LOGIN_PATH, constant_time_eq, redirect, role_name, unix_now};
use crate::error::AppError;
use crate::http::extract::Query;
use crate::state::AppState;

fn sso_off() -> Response {
    page(
        404,
        "sso-off",
        "Single sign-on is not configured",
        &["This Triage runs in local no-auth mode (auth.mode = \"none\"); there is nothing to log in to."
            .to_owned()],
        &[("/", "Open the console")],
    )
}

/// A login URL whose query string cannot be read (a repeated or non-UTF-8 parameter): a page in
/// words, like every other failure of the flow.
fn unreadable_link(error: AppError) -> Response {
    let why = match error {
        AppError::Api(e) => e.message,
        AppError::Internal(_) => "the link could not be read".to_owned(),
    };
    page(400, "login-error", "This login link is not valid", &[why], &[(LOGIN_PATH, "Log in")])
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /auth/login?return_to=/path?query`: starts the code flow at the provider.
pub async fn login(State(state): State<AppState>, q: Result<Query<LoginQuery>, AppError>) -> Response {
    let Some((oidc, sessions)) = state.auth.sso() else {
        return sso_off();
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return unreadable_link(e),
    };
    let return_to = match q.return_to.as_deref() {
        None | Some("") => "/".to_owned(),
        Some(raw) => match safe_return_to(raw) {
            Some(path) => path,
            None => {
                tracing::warn!(return_to = raw, "login refused an off-site return target");
                return page(
                    400,
                    "login-error",
                    "This login link is not valid",
                    &[format!(
                        "After login Triage only returns to a page of its own (a path such as /runbooks/x); \
                         {raw:?} is not one."
                    )],
                    &[(LOGIN_PATH, "Log in")],
                );
            }
        },
    };
    match oidc.start(return_to, unix_now()).await {
        Ok((url, pending)) => {
            let sealed = sessions.seal(LOGIN_COOKIE, &serde_json::to_string(&pending).unwrap_or_default());
            let mut response = redirect(StatusCode::SEE_OTHER, url.as_str());
            response
                .headers_mut()
                .append(header::SET_COOKIE, sessions.set_cookie(LOGIN_COOKIE, sealed, "/auth", LOGIN_TTL));
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "login cannot start");
            let mut response = page(
                e.status(),
                "login-error",
                "Login is not possible right now",
                &[e.to_string(), "Sessions already open are not affected. Try again in a moment.".to_owned()],
                &[(LOGIN_PATH, "Try again")],
            );
            if let crate::auth::oidc::LoginError::TooManyLogins(secs) = e {
                response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            response
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback`: checks `state`, exchanges the code, verifies the ID token, maps the
/// groups to a role and opens the session.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, AppError>,
) -> Response {
    let Some((_, sessions)) = state.auth.sso() else {
        return sso_off();
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return unreadable_link(e),
    };
    let mut response = finish_login(&state, &headers, q, unix_now()).await;
    // The login cookie is single-use, whatever the outcome.
    response.headers_mut().append(header::SET_COOKIE, sessions.clear_cookie(LOGIN_COOKIE, "/auth"));
    response
}

async fn finish_login(state: &AppState, headers: &HeaderMap, q: CallbackQuery, now: i64) -> Response {
    let Some((oidc, sessions)) = state.auth.sso() else {
        return sso_off();
    };
    let failed = |status: u16, title: &str, why: String| {
        tracing::warn!(reason = %why, "login failed");
        page(status, "login-error", title, &[why], &[(LOGIN_PATH, "Log in again")])
    };
    let pending: PendingLogin = match sessions.read(headers, LOGIN_COOKIE) {
        Ok(Some(text)) => match serde_json::from_str(&text) {
            Ok(p) => p,
            Err(_) => return failed(400, "Login failed", "the login cookie is not readable".to_owned()),
        },
        _ => {
            return failed(
                400,
                "No login in progress",
                "This browser has no login in progress: it was already completed, it expired, or the \
                 answer was opened in another browser. Start again."
                    .to_owned(),
            );
        }
    };
    if now - pending.started > LOGIN_TTL.as_secs() as i64 {
        return failed(
            400,
            "Login expired",
            "The login took longer than 10 minutes; start again.".to_owned(),
        );
    }
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or_default();
        return failed(401, "The identity provider refused the login", format!("{error}: {detail}"));
    }
    let Some(returned_state) = q.state else {
        return failed(400, "Login failed", "the provider's answer has no state parameter".to_owned());
    };
    if !constant_time_eq(returned_state.as_bytes(), pending.state.as_bytes()) {
        return failed(
            400,
            "Login failed",
            "The provider's answer does not belong to this browser's login (state mismatch); start again."
                .to_owned(),
        );
    }
    if !oidc.consume_state(&pending.state, now) {
        return failed(
            400,
            "Login failed",
            "This login answer was already used (replayed state); start again.".to_owned(),
        );
    }
    let Some(code) = q.code else {
        return failed(400, "Login failed", "the provider's answer has no authorization code".to_owned());
    };
    let user = match oidc.finish(&pending, code).await {
        Ok(user) => user,
        Err(e) => {
            return page(
                e.status(),
                "login-error",
                "Login failed",
                &[e.to_string(), "Sessions already open are not affected.".to_owned()],
                &[(LOGIN_PATH, "Log in again")],
            );
        }
    };
    let who = user.email.clone().unwrap_or_else(|| user.subject.clone());
    let Some(role) = oidc.role_for(&user) else {
        tracing::warn!(subject = %user.subject, email = ?user.email, groups = ?user.groups, "login refused: no allowed group");
        let s = oidc.settings();
        let allowed: Vec<&str> = s
            .reader_groups
            .iter()
            .chain(&s.operator_groups)
            .chain(&s.admin_groups)
            .map(String::as_str)
            .collect();
        let groups = if user.groups.is_empty() { "no groups".to_owned() } else { user.groups.join(", ") };
        let mut why = vec![
            format!("You signed in as {who} ({groups}), but that gives no access to Triage."),
            format!("Access is given to members of: {}.", allowed.join(", ")),
        ];
        if !s.reader_email_domains.is_empty() {
            why.push(format!(
                "Users with a verified e-mail address at {} may also read.",
                s.reader_email_domains.join(", ")
            ));
        }
        why.push("Ask your SSO administrators to add you to one of these groups.".to_owned());
        return page(403, "not-authorised", "Not authorised", &why, &[(crate::auth::LOGOUT_PATH, "Log out")]);
    };
    let session = Session {
        sid: random_token(16),
        sub: user.subject.clone(),
        email: user.email.clone(),
        groups: user.groups.clone(),
        role,
        csrf: random_token(32),
        iat: now,
        seen: now,
    };
    tracing::info!(subject = %session.sub, email = ?session.email, role = role_name(role), sid = %session.sid, "login");
    let mut response = redirect(StatusCode::SEE_OTHER, &pending.return_to);
    response
        .headers_mut()
        .append(header::SET_COOKIE, sessions.session_cookie(&session, &|g| state.auth.is_role_group(g)));
    response
}

/// `GET /auth/logout`: ends the session here and, when the provider advertises
/// `end_session_endpoint`, there too (RP-initiated logout), which comes back to `/auth/logged-out`.
pub async fn logout(State(state): State<AppState>) -> Response {
    let Some((oidc, sessions)) = state.auth.sso() else {
        return redirect(StatusCode::SEE_OTHER, "/");
    };
    let mut back = oidc.settings().redirect_url.clone();
    back.set_path(LOGGED_OUT_PATH);
    back.set_query(None);
    let target = match oidc.end_session_url(back.as_str()).await {
        Some(url) => url.to_string(),
        None => LOGGED_OUT_PATH.to_owned(),
    };
    let mut response = redirect(StatusCode::SEE_OTHER, &target);
    response.headers_mut().append(header::SET_COOKIE, sessions.clear_cookie(SESSION_COOKIE, "/"));
    response
}

/// `GET /auth/logged-out`.
pub async fn logged_out() -> Response {
    page(
        200,
        "logged-out",
        "You are logged out",
        &["Your Triage session has ended.".to_owned()],
        &[(LOGIN_PATH, "Log in again")],
    )
}
