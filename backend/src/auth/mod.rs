//! Who is calling, and what they may do.
//!
//! One layer, [`gate`], runs before every route except the operational endpoints. It first
//! refuses what must not be served at all: in no-auth mode a `Host` that is not a loopback name
//! (a DNS-rebinding page), and in every mode a state-changing request that a browser marks as
//! cross-site (`Origin`, `Sec-Fetch-Site`). Then, for all but the login routes, it resolves the
//! caller (the session cookie with single sign-on, the local user in no-auth mode), checks the
//! CSRF header or session-bound token on state-changing `/api` requests, and puts a [`Caller`] in
//! the request. Each API route then states the least role it needs in the route table
//! (`http::api_routes`), enforced by [`require_role`]; handlers take the [`Caller`] and never
//! look anywhere else for an identity.

pub mod oidc;
pub mod pages;
pub mod return_to;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use triage_shared::actions::{Identity, Role};
use triage_shared::auth::CSRF_HEADER;
use triage_shared::{ApiError, ErrorKind};

use crate::config::{AccessSettings, AuthSettings, EnvironmentSettings};
use crate::error::{AppError, edge_response, is_api_path};
use oidc::OidcLogin;
use session::SessionCodec;

/// The authenticated caller of this request, set by [`gate`]; [`require_role`] then sets the
/// identity's `role` to the caller's role in the request's environment.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    /// The session's CSRF token (single sign-on only).
    pub csrf_token: Option<String>,
    /// The role the login gave (or the local user's), before any environment's own roles.
    pub login_role: Role,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AppError::Api(ApiError::new(ErrorKind::Unauthenticated, "not logged in")))
    }
}

/// Authentication as configured: the local user, or single sign-on with cookie sessions.
pub struct Auth {
    local_role: Role,
    sso: Option<(OidcLogin, SessionCodec)>,
    /// Each environment's own roles (`[environments.access]`), in configuration order.
    access: Vec<(String, Option<AccessSettings>)>,
}

impl Auth {
    pub fn new(settings: &AuthSettings, envs: &[EnvironmentSettings]) -> anyhow::Result<Self> {
        let access = envs.iter().map(|e| (e.name.clone(), e.access.clone())).collect();
        let sso = match settings {
            AuthSettings::Local { local_role } => {
                return Ok(Self { local_role: *local_role, sso: None, access });
            }
            AuthSettings::Oidc(sso) => sso,
        };
        let secure = sso.oidc.redirect_url.scheme() == "https";
        let codec = SessionCodec::new(
            sso.session_key.key().clone(),
            secure,
            Duration::from_secs(sso.session_idle_secs),
            Duration::from_secs(sso.session_max_secs),
        );
        // Only the no-auth mode has a local user; with single sign-on every caller logs in.
        Ok(Self { local_role: Role::Reader, sso: Some((OidcLogin::new(sso.oidc.clone())?, codec)), access })
    }

    /// The caller's role in the environment `env`, `identity.role` being the login's role:
    /// `None` for an environment this Triage does not serve, `Some(None)` where the caller has
    /// no access.
    ///
    /// Without `[environments.access]` the login's role (or the local user's) applies. With it,
    /// only its admin and operator groups administer and act there, and its reader groups (when
    /// listed) are the only ones who read there.
    pub fn role_in(&self, identity: &Identity, env: &str) -> Option<Option<Role>> {
        let (_, access) = self.access.iter().find(|(name, _)| name == env)?;
        let Some(access) = access else {
            return Some(Some(identity.role));
        };
        if self.sso.is_none() {
            return Some(Some(access.local_role.unwrap_or(self.local_role)));
        }
        let member = |list: &[String]| identity.groups.iter().any(|g| list.contains(g));
        Some(if member(&access.admin_groups) {
            Some(Role::Admin)
        } else if member(&access.operator_groups) {
            Some(Role::Operator)
        } else if access.reader_groups.is_empty() || member(&access.reader_groups) {
            Some(Role::Reader)
        } else {
            None
        })
    }

    /// The caller's role in every environment.
    pub fn roles(&self, caller: &Caller) -> Vec<triage_shared::env::EnvRole> {
        let identity = Identity { role: caller.login_role, ..caller.identity.clone() };
        let identity = &identity;
        self.access
            .iter()
            .map(|(env, _)| triage_shared::env::EnvRole {
                env: env.clone(),
                role: self.role_in(identity, env).flatten(),
            })
            .collect()
    }

    /// Whether this Triage serves more than one environment (messages then name it).
    pub fn several_environments(&self) -> bool {
        self.access.len() > 1
    }

    /// Whether `group` decides a role anywhere (kept when a long group list must be trimmed).
    pub fn is_role_group(&self, group: &str) -> bool {
        self.sso.as_ref().is_some_and(|(oidc, _)| oidc.is_role_group(group))
            || self.access.iter().filter_map(|(_, a)| a.as_ref()).any(|a| {
                [&a.reader_groups, &a.operator_groups, &a.admin_groups]
                    .iter()
                    .any(|l| l.iter().any(|g| g == group))
            })
    }

    /// The login client and the session codec, when single sign-on is on.
    pub fn sso(&self) -> Option<(&OidcLogin, &SessionCodec)> {
        self.sso.as_ref().map(|(o, s)| (o, s))
    }

    fn local_identity(&self) -> Identity {
        Identity { subject: "local".to_owned(), email: None, groups: Vec::new(), role: self.local_role }
    }
}

/// Triage's login routes (outside `/api`, never behind the gate).
pub const LOGIN_PATH: &str = "/auth/login";
pub const CALLBACK_PATH: &str = "/auth/callback";
pub const LOGOUT_PATH: &str = "/auth/logout";
pub const LOGGED_OUT_PATH: &str = "/auth/logged-out";

/// Paths served without a session: probes, metrics, and the login routes.
fn is_public(path: &str) -> bool {
    is_probe(path) || path == "/auth" || path.starts_with("/auth/")
}

/// Probes and metrics answer whatever the request's host or origin, so kubelets and Prometheus
/// can reach them by any name; they show nothing a page could misuse.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Refuses foreign hosts and cross-site actions, then resolves the caller of every non-public
/// request; see the module documentation.
pub async fn gate(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if is_probe(&path) {
        return next.run(request).await;
    }
    let host = request_host(&request);
    let sso = auth.sso();
    // Without SSO anyone who reaches the port is the local user, so a page that rebinds its own
    // DNS name to 127.0.0.1 would be "same origin": only loopback names are served.
    if sso.is_none() && !host.as_deref().is_some_and(is_loopback_host) {
        return edge_response(&path, host_refused(host.as_deref()));
    }
    let reading = is_safe_method(request.method());
    if !reading {
        let own_origins = own_origins(host.as_deref(), sso.map(|(oidc, _)| &oidc.settings().redirect_url));
        if let Some(refusal) = cross_site(request.headers(), &own_origins) {
            tracing::warn!(path = %path, reason = %refusal.message, "cross-site request refused");
            return edge_response(&path, refusal);
        }
    }
    if is_public(&path) {
        return next.run(request).await;
    }
    let api = is_api_path(&path);
    let Some((_, sessions)) = sso else {
        // No-auth mode (loopback only): the header's presence proves the request came from the
        // console's own scripts, since a cross-site form cannot add it.
        if api && !reading && !request.headers().contains_key(CSRF_HEADER) {
            return csrf_refused(&format!("state-changing requests must carry the {CSRF_HEADER} header"));
        }
        let identity = auth.local_identity();
        let login_role = identity.role;
        request.extensions_mut().insert(Caller { identity, csrf_token: None, login_role });
        return next.run(request).await;
    };
    let now = unix_now();
    let session = match sessions.session(request.headers(), now) {
        Ok(session) => session,
        Err(why) => {
            if api || !matches!(*request.method(), Method::GET | Method::HEAD) {
                return AppError::Api(ApiError::new(ErrorKind::Unauthenticated, why.describe()))
                    .into_response();
            }
            // A page (a deep link from an alert): log in, then come back to it.
            let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let location = format!("{LOGIN_PATH}?return_to={}", encode_component(target));
            return redirect(StatusCode::SEE_OTHER, &location);
        }
    };
    if api && !reading {
        let sent = request.headers().get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if !constant_time_eq(sent, session.csrf.as_bytes()) {
            return csrf_refused(&format!(
                "state-changing requests must carry this session's token in the {CSRF_HEADER} header \
                 (GET /api/whoami gives it); reload the console"
            ));
        }
    }
    let refresh = sessions.needs_refresh(&session, now);
    request.extensions_mut().insert(Caller {
        identity: session.identity(),
        csrf_token: Some(session.csrf.clone()),
        login_role: session.role,
    });
    let mut response = next.run(request).await;
    if refresh {
        let mut session = session;
        session.seen = now;
        let cookie = sessions.session_cookie(&session, &|g| auth.is_role_group(g));
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Methods that change nothing; everything else must come from Triage's own pages.
fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The host the request names: `Host`, or the URI's authority (HTTP/2). Never
/// `X-Forwarded-Host`, which any script may set.
fn request_host(request: &Request) -> Option<String> {
    match request.headers().get(header::HOST) {
        Some(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        None => request.uri().authority().map(|a| a.as_str().to_owned()),
    }
}

/// `localhost`, `127.x.y.z` or `[::1]`, each with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    // The port follows `]` in an IPv6 literal, else the last `:`.
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some(split) => split,
            None => return false,
        },
        None => match host.rfind(':') {
            Some(at) => host.split_at(at),
            None => (host, ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = if host.starts_with('[') {
        name.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
    } else {
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    };
    port_ok && name_ok
}

fn host_refused(host: Option<&str>) -> ApiError {
    let named = match host {
        Some(host) => format!("this request named host {host}"),
        None => "this request named no host".to_owned(),
    };
    ApiError::new(
        ErrorKind::Forbidden,
        format!(
            "Triage without single sign-on answers only to a loopback host name (localhost, 127.0.0.1 \
             or [::1]); {named}. Open it as http://127.0.0.1:<port>/"
        ),
    )
    .with_detail(serde_json::json!({ "host": host }))
}

/// The origins Triage's own pages have: `http://` + the request's host, and with SSO the origin
/// of `auth.oidc.redirect_url` (the public address, often `https` behind a proxy).
fn own_origins(host: Option<&str>, redirect_url: Option<&url::Url>) -> Vec<url::Origin> {
    let from_host = host.and_then(|h| url::Url::parse(&format!("http://{h}")).ok()).map(|u| u.origin());
    from_host.into_iter().chain(redirect_url.map(url::Url::origin)).filter(url::Origin::is_tuple).collect()
}

/// Why a state-changing request comes from another site, judged by what the browser says
/// (`Sec-Fetch-Site`, `Origin`); `None` when it says nothing (curl) or names Triage itself.
fn cross_site(headers: &axum::http::HeaderMap, own: &[url::Origin]) -> Option<ApiError> {
    let refused = |message: String, detail: serde_json::Value| {
        Some(ApiError::new(ErrorKind::Csrf, message).with_detail(detail))
    };
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(site) =
        site.filter(|s| s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site"))
    {
        return refused(
            format!(
                "the browser says this request comes from another site (Sec-Fetch-Site: {site}); \
                 Triage takes state-changing requests only from its own pages"
            ),
            serde_json::json!({ "sec_fetch_site": site }),
        );
    }
    let origin = headers.get(header::ORIGIN)?;
    let text = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let parsed = url::Url::parse(&text).ok().map(|u| u.origin()).filter(url::Origin::is_tuple);
    if parsed.is_some_and(|o| own.contains(&o)) {
        return None;
    }
    let expected: Vec<String> = own.iter().map(url::Origin::ascii_serialization).collect();
    refused(
        format!(
            "this request comes from {text}, not from Triage's own pages ({}); Triage takes \
             state-changing requests only from its own origin",
            if expected.is_empty() { "unknown".to_owned() } else { expected.join(" or ") }
        ),
        serde_json::json!({ "origin": text }),
    )
}

/// Refuses a route to a caller below its `required` role in the request's environment (the
/// `env` query parameter, else the default), and otherwise hands the route a [`Caller`] whose
/// role is the one it has there. State: the route's role and [`Auth`].
pub async fn require_role(
    State((required, auth)): State<(Role, Arc<Auth>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let requested = crate::environments::requested(request.uri().query());
    let Some(caller) = request.extensions_mut().get_mut::<Caller>() else {
        return AppError::Api(ApiError::new(ErrorKind::Unauthenticated, "not logged in")).into_response();
    };
    let env = match &requested {
        Some(name) => name.as_str(),
        None => auth.access.first().map_or(triage_shared::env::DEFAULT_ENV, |(name, _)| name.as_str()),
    };
    let who = caller.identity.email.clone().unwrap_or_else(|| caller.identity.subject.clone());
    let role = match auth.role_in(&caller.identity, env) {
        None => {
            let known: Vec<String> = auth.access.iter().map(|(n, _)| n.clone()).collect();
            return AppError::Api(crate::environments::unknown(env, &known)).into_response();
        }
        Some(None) => {
            return AppError::Api(
                ApiError::new(ErrorKind::Forbidden, format!("{who} has no access to the environment {env}"))
                    .with_detail(serde_json::json!({ "env": env })),
            )
            .into_response();
        }
        Some(Some(role)) => role,
    };
    if role < required {
        let message = if auth.several_environments() {
            format!("{}s of {env} only; {who} is {} there", role_name(required), with_article(role))
        } else {
            format!("this needs the {} role; {who} has the {} role", role_name(required), role_name(role))
        };
        return AppError::Api(ApiError::new(ErrorKind::Forbidden, message).with_detail(serde_json::json!({
            "env": env,
            "role": role_name(role),
            "required": role_name(required),
        })))
        .into_response();
    }
    caller.identity.role = role;
    next.run(request).await
}

/// "a reader", "an operator", "an admin".
fn with_article(role: Role) -> &'static str {
    match role {
        Role::Reader => "a reader",
        Role::Operator => "an operator",
        Role::Admin => "an admin",
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Reader => "reader",
        Role::Operator => "operator",
        Role::Admin => "admin",
    }
}

fn csrf_refused(message: &str) -> Response {
    AppError::Api(ApiError::new(ErrorKind::Csrf, message)).into_response()
}

pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Percent-encodes everything but unreserved characters (a query-string component).
pub fn encode_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Compares secrets without an early exit that would leak how many leading bytes matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    fn load(toml: &str) -> Result<crate::config::Settings, ConfigError> {
        let dir = tempfile::tempdir()
            .map_err(|e| ConfigError::Invalid { key: "tmp".into(), message: e.to_string() })?;
        let path = dir.path().join("triage.toml");
        std::fs::write(&path, toml)
            .map_err(|e| ConfigError::Invalid { key: "tmp".into(), message: e.to_string() })?;
        crate::config::Settings::load_from(Some(&path), [])
    }

    const KEY: &str =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw==";

    fn oidc_toml(key: &str, redirect: &str, groups: &str) -> String {
        format!(
            "[server]\nlisten = \"0.0.0.0:8080\"\n[auth]\nmode = \"oidc\"\nsession_key = \"{key}\"\n\
             [auth.oidc]\nissuer = \"https://sso.example\"\nclient_id = \"triage\"\nclient_secret = \"s\"\n\
             redirect_url = \"{redirect}\"\n{groups}\n"
        )
    }

    #[test]
    fn oidc_settings_are_checked_key_by_key() {
        let ok = load(&oidc_toml(KEY, "https://triage.example/auth/callback", "reader_groups = [\"sre\"]"))
            .expect("valid SSO settings on a public address");
        let oidc = &ok.auth.sso().expect("single sign-on").oidc;
        assert_eq!(oidc.groups_claim, "groups");
        assert_eq!(oidc.clock_skew_secs, 60);
        assert!(!format!("{:?}", oidc.client_secret).contains("\"s\""), "secret printed");

        let short =
            load(&oidc_toml("c2hvcnQ=", "https://t.example/auth/callback", "reader_groups = [\"sre\"]"));
        assert!(short.expect_err("short key").to_string().contains("auth.session_key"));
        let path = load(&oidc_toml(KEY, "https://t.example/callback", "reader_groups = [\"sre\"]"));
        assert_eq!(
            path.expect_err("wrong callback").to_string(),
            "key `auth.oidc.redirect_url`: must end in /auth/callback (Triage's callback), e.g. \
             https://triage.example/auth/callback"
        );
        let nobody = load(&oidc_toml(KEY, "https://t.example/auth/callback", ""));
        assert!(nobody.expect_err("no group").to_string().contains("reader_groups"));
        let missing = load("[auth]\nmode = \"oidc\"\n");
        assert_eq!(
            missing.expect_err("no key").to_string(),
            "key `auth.session_key`: required with auth.mode = \"oidc\""
        );
        let typo = load(&oidc_toml(KEY, "https://t.example/auth/callback", "reader_group = [\"sre\"]"));
        assert!(typo.expect_err("unknown key").to_string().contains("reader_group"));
    }

    #[test]
    fn loopback_host_names() {
        for h in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.3.4.5:1",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "128.0.0.1",
            "0.0.0.0:8080",
            "[::2]:80",
            "::1",
            "[::1",
            "127.0.0.1:",
            "127.0.0.1:80a",
            "127.0.0.1:123456",
            "localhost:8080@evil.example",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
        let mut map = axum::http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let redirect: url::Url = "https://triage.example/auth/callback".parse().expect("url");
        let own = own_origins(Some("127.0.0.1:8080"), Some(&redirect));
        for ok in [
            headers(&[]),
            headers(&[("origin", "http://127.0.0.1:8080")]),
            headers(&[("origin", "https://triage.example")]),
            headers(&[("origin", "https://triage.example:443"), ("sec-fetch-site", "same-origin")]),
            headers(&[("sec-fetch-site", "none")]),
        ] {
            assert!(cross_site(&ok, &own).is_none(), "{ok:?}");
        }
        for bad in [
            headers(&[("origin", "http://evil.example")]),
            headers(&[("origin", "http://127.0.0.1:8081")]),
            headers(&[("origin", "https://127.0.0.1:8080")]),
            headers(&[("origin", "http://triage.example")]),
            headers(&[("origin", "null")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site"), ("origin", "http://127.0.0.1:8080")]),
        ] {
            let refusal = cross_site(&bad, &own).expect("refused");
            assert_eq!(refusal.kind, ErrorKind::Csrf, "{bad:?}");
        }
    }

    #[test]
    fn public_paths() {
        for p in ["/healthz", "/readyz", "/metrics", "/auth/login", "/auth/callback"] {
            assert!(is_public(p), "{p}");
        }
        for p in ["/", "/api/whoami", "/authx", "/runbooks/x", "/metrics/x"] {
            assert!(!is_public(p), "{p}");
        }
    }
}
