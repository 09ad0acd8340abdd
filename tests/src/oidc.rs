//! A real OpenID provider (npm `oidc-provider`, run by `tests/oidc/provider.mjs` on Node) on a
//! loopback port, with Triage as its one static client and users in different groups; and
//! [`Agent`], a cookie-keeping HTTP client that walks the login like a browser, one redirect at a
//! time, so tests can look at (and tamper with) every step.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use secrecy::SecretString;
use triage::config::{AuthSettings, OidcSettings, Settings, SsoSettings};
use url::Url;

use crate::paths::{free_port, workspace_root};
use crate::process::{ManagedChild, wait_until};

pub const CLIENT_ID: &str = "triage-console";
pub const CLIENT_SECRET: &str = "test-client-secret-for-the-local-provider";
pub const READER_GROUP: &str = "sre-readers";
pub const OPERATOR_GROUP: &str = "sre-operators";
pub const ADMIN_GROUP: &str = "triage-admins";
/// Decides no role by itself: environments' `[environments.access]` name it.
pub const PROD_OPERATOR_GROUP: &str = "prod-operators";

/// How many providers start at the same time (see [`OidcProvider::start`]).
pub const STARTING_AT_ONCE: usize = 2;
static STARTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(STARTING_AT_ONCE);

/// A user of the test provider.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OidcUser {
    pub id: &'static str,
    pub password: &'static str,
    pub email: &'static str,
    pub groups: Vec<&'static str>,
}

/// Reader `ada`, operator `oscar`, admin `alma`, reader `pia` (in `prod-operators`, which
/// environments may make operators), and `nils`, who is in no group Triage allows.
pub fn test_users() -> Vec<OidcUser> {
    vec![
        OidcUser { id: "ada", password: "ada-pass", email: "ada@example.test", groups: vec![READER_GROUP] },
        OidcUser {
            id: "oscar",
            password: "oscar-pass",
            email: "oscar@example.test",
            groups: vec![READER_GROUP, OPERATOR_GROUP],
        },
        OidcUser { id: "alma", password: "alma-pass", email: "alma@example.test", groups: vec![ADMIN_GROUP] },
        OidcUser {
            id: "pia",
            password: "pia-pass",
            email: "pia@example.test",
            groups: vec![READER_GROUP, PROD_OPERATOR_GROUP],
        },
        OidcUser {
            id: "nils",
            password: "nils-pass",
            email: "nils@elsewhere.test",
            groups: vec!["marketing"],
        },
    ]
}

pub fn user(id: &str) -> OidcUser {
    test_users().into_iter().find(|u| u.id == id).unwrap_or_else(|| panic!("no test user {id}"))
}

/// A session key for tests (64 random bytes, base64), shared by every replica of one test.
pub fn session_key() -> String {
    use base64::Engine;
    let key = cookie::Key::generate();
    base64::engine::general_purpose::STANDARD.encode(key.master())
}

/// Settings for a backend on `port` that logs in at `issuer`: readers, operators and admins by
/// the test groups.
pub fn sso_settings(issuer: &str, port: u16, session_key: &str) -> Result<Settings> {
    let auth = AuthSettings::Oidc(Box::new(SsoSettings {
        session_key: triage::auth::session::SessionKey::decode(session_key).map_err(anyhow::Error::msg)?,
        session_idle_secs: 30 * 60,
        session_max_secs: 12 * 3600,
        oidc: OidcSettings {
            issuer: issuer.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
            redirect_url: format!("http://127.0.0.1:{port}/auth/callback").parse()?,
            scopes: vec!["email".to_owned(), "profile".to_owned(), "groups".to_owned()],
            groups_claim: "groups".to_owned(),
            reader_groups: vec![READER_GROUP.to_owned()],
            reader_email_domains: Vec::new(),
            operator_groups: vec![OPERATOR_GROUP.to_owned()],
            admin_groups: vec![ADMIN_GROUP.to_owned()],
            clock_skew_secs: 60,
            provider_logout: true,
            login_starts_per_minute: 300,
        },
    }));
    Ok(Settings { auth, ..Settings::default() })
}

pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`, exactly as the provider states its issuer.
    pub issuer: String,
    process: ManagedChild,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl OidcProvider {
    /// A port for the provider, chosen before the backends so their settings can name the issuer.
    pub fn reserve_port() -> Result<u16> {
        free_port()
    }

    pub fn issuer_for(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    /// Starts the provider on `port` with Triage's client registered for the backends at
    /// `backend_ports` (callback and post-logout URLs) and the [`test_users`].
    ///
    /// Node takes a second or more of CPU to load the provider; a test binary whose tests each
    /// start one would start a dozen at once on a small machine, so at most [`STARTING_AT_ONCE`]
    /// start together and each one's readiness limit counts from its own turn.
    pub async fn start(port: u16, backend_ports: &[u16]) -> Result<Self> {
        let _turn = STARTING.acquire().await.context("the provider start queue is closed")?;
        let module = workspace_root().join("tools/node_modules/oidc-provider/lib/index.js");
        anyhow::ensure!(
            module.exists(),
            "{} is missing: install the npm tools with `cargo xtask setup`",
            module.display()
        );
        let issuer = Self::issuer_for(port);
        let config = serde_json::json!({
            "module": module,
            "port": port,
            "issuer": issuer,
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": backend_ports.iter().map(|p| format!("http://127.0.0.1:{p}/auth/callback")).collect::<Vec<_>>(),
                "post_logout_redirect_uris": backend_ports.iter().map(|p| format!("http://127.0.0.1:{p}/auth/logged-out")).collect::<Vec<_>>(),
            },
            "users": test_users(),
        });
        let dir = tempfile::Builder::new().prefix("triage-oidc-").tempdir()?;
        let mut process = ManagedChild::spawn(
            "oidc-provider",
            Command::new("node")
                .arg(workspace_root().join("tests/oidc/provider.mjs"))
                .env("OIDC_PROVIDER_CONFIG", config.to_string()),
            Some(dir.path().join("provider.log")),
        )
        .context("cannot run node (Node.js 20 or later)")?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        wait_until(&mut process, Duration::from_secs(60), || {
            let req = http.get(&discovery).send();
            async move { req.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await?;
        Ok(Self { issuer, process, http, _dir: dir })
    }

    /// Makes the token endpoint hand out a bad ID token (see `tests/oidc/provider.mjs`), or
    /// `"none"` for correct ones again.
    pub async fn set_tamper(&self, mode: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/test/tamper", self.issuer))
            .json(&serde_json::json!({ "mode": mode }))
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "tamper switch answered {}", response.status());
        Ok(())
    }

    /// The provider's output, for failure messages.
    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Opens `start_url` (a Triage page or `/auth/login`), signs in at the provider's form as
    /// `user` and follows the redirects to the end. Returns the last page.
    pub async fn login(&self, agent: &Agent, start_url: &str, user: &OidcUser) -> Result<Page> {
        let form = agent.follow(start_url).await?;
        anyhow::ensure!(
            form.url.as_str().starts_with(&self.issuer)
                && form.body.contains("data-testid=\"provider-login\""),
            "expected the provider's login form, got {} {}: {}",
            form.status,
            form.url,
            form.body
        );
        let action = form.form_action().context("no form on the provider's login page")?;
        let posted =
            agent.post_form(action.as_str(), &[("login", user.id), ("password", user.password)]).await?;
        agent.follow_from(posted).await
    }
}

/// One HTTP answer as the agent saw it.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub location: Option<Url>,
    pub body: String,
}

impl Page {
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.location.is_some()
    }

    /// The `action` of the first form, resolved against the page's URL.
    pub fn form_action(&self) -> Option<Url> {
        let start = self.body.find("<form")?;
        let rest = &self.body[start..];
        let at = rest.find("action=\"")? + "action=\"".len();
        let end = rest[at..].find('"')?;
        self.url.join(&rest[at..at + end].replace("&amp;", "&")).ok()
    }

    /// The value of hidden input `name`.
    pub fn hidden_input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self.body.find(&marker)? + marker.len();
        let end = self.body[at..].find('"')?;
        Some(self.body[at..at + end].to_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::String(self.body.clone()))
    }
}

#[derive(Debug, Clone)]
struct StoredCookie {
    /// `host:port`: stricter than a browser (which ignores the port), so two backends on one host
    /// never share cookies unless a test copies them.
    authority: String,
    name: String,
    value: String,
    path: String,
}

/// A cookie-keeping HTTP client that never follows redirects on its own.
pub struct Agent {
    http: reqwest::Client,
    jar: Mutex<Vec<StoredCookie>>,
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

fn authority(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
}

impl Agent {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { http, jar: Mutex::default() }
    }

    /// An agent that opens a new connection for every request, so that a round-robin proxy in
    /// front of several replicas sends consecutive requests to different ones.
    pub fn unpooled() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { http, jar: Mutex::default() }
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, Vec<StoredCookie>> {
        self.jar.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let auth = authority(url);
        let pairs: Vec<String> = self
            .jar()
            .iter()
            .filter(|c| c.authority == auth && url.path().starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn store(&self, url: &Url, headers: &reqwest::header::HeaderMap) {
        let auth = authority(url);
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(c) = cookie::Cookie::parse(text.to_owned()) else { continue };
            let path = c.path().unwrap_or("/").to_owned();
            let removed = c.max_age().is_some_and(|a| a.is_zero() || a.is_negative());
            let mut jar = self.jar();
            jar.retain(|s| !(s.authority == auth && s.name == c.name() && s.path == path));
            if !removed {
                jar.push(StoredCookie {
                    authority: auth.clone(),
                    name: c.name().to_owned(),
                    value: c.value().to_owned(),
                    path,
                });
            }
        }
    }

    /// The value of cookie `name` held for `origin_url`'s host and port.
    pub fn cookie(&self, origin_url: &str, name: &str) -> Option<String> {
        let auth = authority(&Url::parse(origin_url).ok()?);
        self.jar().iter().find(|c| c.authority == auth && c.name == name).map(|c| c.value.clone())
    }

    /// Sets (or replaces) cookie `name` for `origin_url`, path `/`.
    pub fn set_cookie(&self, origin_url: &str, name: &str, value: &str) {
        let Ok(url) = Url::parse(origin_url) else { return };
        let auth = authority(&url);
        let mut jar = self.jar();
        jar.retain(|c| !(c.authority == auth && c.name == name));
        jar.push(StoredCookie {
            authority: auth,
            name: name.to_owned(),
            value: value.to_owned(),
            path: "/".to_owned(),
        });
    }

    pub fn remove_cookie(&self, origin_url: &str, name: &str) {
        let Ok(url) = Url::parse(origin_url) else { return };
        let auth = authority(&url);
        self.jar().retain(|c| !(c.authority == auth && c.name == name));
    }

    /// Sends one request with the agent's cookies; stores the cookies of the answer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Body>,
    ) -> Result<Page> {
        let url = Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let mut request = self.http.request(method, url.clone());
        if let Some(cookies) = self.cookie_header(&url) {
            request = request.header(reqwest::header::COOKIE, cookies);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Some(Body::Json(json)) => request.json(&json),
            Some(Body::Form(pairs)) => request.form(&pairs),
            None => request,
        };
        let response = request.send().await.with_context(|| format!("request to {url} failed"))?;
        self.store(&url, response.headers());
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let body = response.text().await.unwrap_or_default();
        Ok(Page { url, status, location, body })
    }

    pub async fn get(&self, url: &str) -> Result<Page> {
        self.send(reqwest::Method::GET, url, &[], None).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Page> {
        let pairs = form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.send(reqwest::Method::POST, url, &[], Some(Body::Form(pairs))).await
    }

    /// GETs `url` and follows redirects (at most 20) to the last page.
    pub async fn follow(&self, url: &str) -> Result<Page> {
        let first = self.get(url).await?;
        self.follow_from(first).await
    }

    /// Follows the redirects that start at `page`.
    pub async fn follow_from(&self, mut page: Page) -> Result<Page> {
        for _ in 0..20 {
            if !page.is_redirect() {
                return Ok(page);
            }
            let next = page.location.clone().context("redirect without location")?;
            page = self.get(next.as_str()).await?;
        }
        anyhow::bail!("more than 20 redirects, last at {}", page.url)
    }
}

/// A request body for [`Agent::send`].
pub enum Body {
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}
