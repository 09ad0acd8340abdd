//! Typed calls to the backend, one module per upstream it fronts: `prom` (Prometheus), `k8s`
//! (Kubernetes and its guarded actions), `kafka` (brokers, topics, groups, offset reset), `pg` (PostgreSQL analysis), `runbooks` (flows and runs),
//! `approvals` (actions waiting for a second operator);
//! here Triage's own (version, environments, session, audit log) and the one GET and POST every
//! call goes through. Every function returns `Result<T, ApiError>`; a response without the JSON
//! error body (a proxy's 502, a dropped connection) still becomes an `ApiError` in words.
//!
//! Every call is about the current environment: [`get_json`] and [`post_json`] add its `env=`
//! (see `crate::env`), and the paths of server-sent events and downloads go through
//! [`crate::env::href`] too; [`get_json_in`] names another environment explicitly.

pub mod approvals;
pub mod k8s;
pub mod kafka;
pub mod pg;
pub mod prom;
pub mod runbooks;

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use triage_shared::actions::{AuditEntry, AuditQuery, Identity};
use triage_shared::auth::{CSRF_HEADER, WhoAmI};
use triage_shared::env::Environments;
use triage_shared::{ApiError, ErrorBody, ErrorKind, VersionInfo};

use crate::env;
use crate::format::url::{encode, query_string};

pub async fn get_version() -> Result<VersionInfo, ApiError> {
    get_json("/api/version").await
}

/// Every environment this Triage serves, with the caller's role in each. Asked without `env=`:
/// the list is the same in every environment, and it must load even when the page URL names an
/// environment the backend does not know (to say so, with the known ones).
pub async fn environments() -> Result<Environments, ApiError> {
    fetch_json("/api/environments").await
}

/// The caller's identity and role in the current environment (`/api/whoami`).
pub async fn whoami() -> Result<Identity, ApiError> {
    get_json("/api/whoami").await
}

/// The session: identity, role, logout link and CSRF token (remembered for [`post_json`]).
pub async fn session() -> Result<WhoAmI, ApiError> {
    let who: WhoAmI = get_json("/api/whoami").await?;
    CSRF_TOKEN.with(|t| *t.borrow_mut() = Some(who.csrf_token.clone().unwrap_or_else(|| "1".to_owned())));
    Ok(who)
}

thread_local! {
    /// The session's CSRF token; `"1"` in no-auth mode, where only the header's presence counts.
    static CSRF_TOKEN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

async fn csrf_token() -> String {
    if let Some(token) = CSRF_TOKEN.with(|t| t.borrow().clone()) {
        return token;
    }
    session().await.ok().and_then(|w| w.csrf_token).unwrap_or_else(|| "1".to_owned())
}

/// The audit log, newest first.
pub async fn audit(limit: u32) -> Result<Vec<AuditEntry>, ApiError> {
    get_json(&format!("/api/audit?{}", query_string(&AuditQuery { limit: Some(limit) }))).await
}

/// POSTs `body` as JSON to `path` in the current environment, with the CSRF header the backend
/// requires, and decodes the answer like [`get_json`].
pub async fn post_json<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    let url = env::href(path);
    let url = url.as_str();
    let send = |token: String| async move {
        Request::post(url)
            .header(CSRF_HEADER, &token)
            .json(body)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot encode the request: {e}")))?
            .send()
            .await
            .map_err(|e| {
                ApiError::new(ErrorKind::Unavailable, format!("cannot reach the Triage backend: {e}"))
            })
    };
    let response = send(csrf_token().await).await?;
    if response.status() != 403 {
        return decode(response).await;
    }
    let refused: Result<T, ApiError> = decode(response).await;
    match refused {
        // The session changed since the token was read (a new login, perhaps in another tab):
        // the request was refused before it did anything; read the token again and retry once.
        Err(e) if e.kind == ErrorKind::Csrf => {
            CSRF_TOKEN.with(|t| *t.borrow_mut() = None);
            decode(send(csrf_token().await).await?).await
        }
        other => other,
    }
}

/// GETs `path` in the current environment and decodes the JSON body, or the API's error body.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    fetch_json(&env::href(path)).await
}

/// GETs `path` in environment `env`, whatever the current one is (the overview and the alerts
/// page read every environment's alerts).
pub async fn get_json_in<T: DeserializeOwned>(env_name: &str, path: &str) -> Result<T, ApiError> {
    fetch_json(&env::href_in(path, env_name)).await
}

/// `path` followed by `query` (a [`query_string`]) when there is one.
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

/// GETs `url` exactly as given.
async fn fetch_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let response = Request::get(url).send().await.map_err(|e| {
        ApiError::new(ErrorKind::Unavailable, format!("cannot reach the Triage backend: {e}"))
    })?;
    decode(response).await
}

pub(crate) async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let status = response.status();
    if status == 401 {
        // The session ended (single sign-on): log in again and come back to this page.
        if let Some(location) = web_sys::window().map(|w| w.location()) {
            let here = format!(
                "{}{}",
                location.pathname().unwrap_or_default(),
                location.search().unwrap_or_default()
            );
            let _ = location.set_href(&format!("/auth/login?return_to={}", encode(&here)));
        }
    }
    if response.ok() {
        return response.json::<T>().await.map_err(|e| {
            ApiError::new(ErrorKind::Internal, format!("the backend answered with an unexpected body: {e}"))
        });
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(body.error),
        Err(_) => Err(ApiError::new(
            ErrorKind::from_http_status(status),
            format!("the backend answered HTTP {status} {}", response.status_text()),
        )),
    }
}
