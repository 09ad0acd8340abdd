//! Single sign-on against a real OpenID provider (npm `oidc-provider`): logins as reader,
//! operator, admin and as a user outside the allowed groups; deep links through login; open
//! redirects; bad ID tokens (wrong audience or issuer, expired, forged, wrong nonce); state
//! tampering and replay; tampered, expired and foreign session cookies; CSRF; logout here and at
//! the provider; two replicas sharing the session key; the provider down; no-auth refused off
//! loopback; and every route of the route table walked as every role.

use std::time::Duration;

use serde_json::json;
use triage::config::Settings;
use triage_sandbox::Incident;
use triage_shared::actions::{AuditEntry, Role};
use triage_tests::oidc::{Body, OidcUser, Page, session_key, sso_settings, user};
use triage_tests::paths::free_port;
use triage_tests::{Agent, OidcProvider, TestApp, TestSandbox};

const NS: &str = "/api/k8s/namespaces/streaming-analytics";

/// A backend with SSO on a chosen port, and the provider that knows it.
struct Sso {
    provider: OidcProvider,
    app: TestApp,
}

async fn start_sso(tweak: impl FnOnce(&mut Settings)) -> anyhow::Result<Sso> {
    let provider_port = OidcProvider::reserve_port()?;
    let port = free_port()?;
    let mut settings = sso_settings(&OidcProvider::issuer_for(provider_port), port, &session_key())?;
    tweak(&mut settings);
    let app = TestApp::start_on(settings, port).await?;
    let provider = OidcProvider::start(provider_port, &[port]).await?;
    Ok(Sso { provider, app })
}

/// Logs `who` in through `/auth/login` and returns the agent holding the session.
async fn logged_in(sso: &Sso, who: &str) -> anyhow::Result<Agent> {
    let agent = Agent::new();
    let page = sso.provider.login(&agent, &sso.app.url("/auth/login"), &user(who)).await?;
    anyhow::ensure!(
        page.url.path() == "/",
        "login of {who} ended at {} {}: {}",
        page.status,
        page.url,
        page.body
    );
    anyhow::ensure!(
        agent.cookie(&sso.app.url("/"), "triage_session").is_some(),
        "no session cookie for {who}"
    );
    Ok(agent)
}

async fn whoami(agent: &Agent, app: &TestApp) -> anyhow::Result<Page> {
    agent.get(&app.url("/api/whoami")).await
}

async fn csrf_of(agent: &Agent, app: &TestApp) -> anyhow::Result<String> {
    let page = whoami(agent, app).await?;
    anyhow::ensure!(page.status == 200, "whoami: {} {}", page.status, page.body);
    page.json()["csrf_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no csrf_token: {}", page.body))
}

async fn post(agent: &Agent, url: &str, csrf: Option<&str>, body: serde_json::Value) -> anyhow::Result<Page> {
    let headers: Vec<(&str, &str)> = csrf.map(|c| vec![("x-triage-csrf", c)]).unwrap_or_default();
    agent.send(reqwest::Method::POST, url, &headers, Some(Body::Json(body))).await
}

fn message(page: &Page) -> String {
    page.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn reader_reads_operator_acts_with_audited_identity_and_csrf_is_session_bound() -> anyhow::Result<()> {
    let sb = TestSandbox::start(Incident::ConsumerLag).await?;
    let kubeconfig = sb.kubeconfig.clone();
    let sso = start_sso(move |s| {
        s.kubernetes = triage_tests::app::kubernetes_settings(&kubeconfig, Role::Reader).kubernetes;
    })
    .await?;
    let app = &sso.app;
    let scale = app.url(&format!("{NS}/deployments/stream-processor/scale"));

    // Reader: sees pods, may not act.
    let ada = logged_in(&sso, "ada").await?;
    let me = whoami(&ada, app).await?.json();
    assert_eq!(me["subject"], "ada");
    assert_eq!(me["email"], "ada@example.test");
    assert_eq!(me["role"], "reader");
    assert_eq!(me["auth_mode"], "oidc");
    assert_eq!(me["logout_url"], "/auth/logout");
    let pods = ada.get(&app.url(&format!("{NS}/pods"))).await?;
    assert_eq!(pods.status, 200, "{}", pods.body);
    let ada_csrf = csrf_of(&ada, app).await?;
    let refused = post(&ada, &scale, Some(&ada_csrf), json!({"replicas": 12})).await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(message(&refused).contains("needs the operator role"), "{}", refused.body);

    // Operator: CSRF token missing or from another session is refused, its own works.
    let oscar = logged_in(&sso, "oscar").await?;
    let oscar_csrf = csrf_of(&oscar, app).await?;
    assert_ne!(oscar_csrf, ada_csrf, "each session has its own token");
    let no_token = post(&oscar, &scale, None, json!({"replicas": 12})).await?;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    assert!(message(&no_token).contains("x-triage-csrf"), "{}", no_token.body);
    let foreign = post(&oscar, &scale, Some(&ada_csrf), json!({"replicas": 12})).await?;
    assert_eq!(foreign.status, 403, "another session's token: {}", foreign.body);
    let constant = post(&oscar, &scale, Some("1"), json!({"replicas": 12})).await?;
    assert_eq!(constant.status, 403, "the no-auth header value is not a token: {}", constant.body);
    let audit: Vec<AuditEntry> = serde_json::from_str(&oscar.get(&app.url("/api/audit")).await?.body)?;
    assert!(audit.is_empty(), "refused requests leave no action: {audit:?}");

    let done = post(&oscar, &scale, Some(&oscar_csrf), json!({"replicas": 12})).await?;
    assert_eq!(done.status, 200, "{}", done.body);
    let replicas =
        sb.kubectl(&["get", "deployment", "stream-processor", "-o", "jsonpath={.spec.replicas}"]).await?;
    assert_eq!(replicas.trim(), "12");
    let audit: Vec<AuditEntry> = serde_json::from_str(&ada.get(&app.url("/api/audit")).await?.body)?;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].action, "scale");
    assert_eq!(audit[0].subject, "oscar");
    assert_eq!(audit[0].email.as_deref(), Some("oscar@example.test"));
    assert_eq!(audit[0].groups, vec!["sre-readers".to_owned(), "sre-operators".to_owned()]);

    // Admin (may do all an operator may).
    let alma = logged_in(&sso, "alma").await?;
    assert_eq!(whoami(&alma, app).await?.json()["role"], "admin");
    Ok(())
}

#[tokio::test]
async fn outsider_gets_a_not_authorised_page_and_no_session() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    let agent = Agent::new();
    let page = sso.provider.login(&agent, &sso.app.url("/auth/login"), &user("nils")).await?;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("data-testid=\"not-authorised\""), "{}", page.body);
    assert!(page.body.contains("nils@elsewhere.test"), "{}", page.body);
    assert!(page.body.contains("sre-readers"), "the page says which groups give access: {}", page.body);
    assert!(agent.cookie(&sso.app.url("/"), "triage_session").is_none());
    assert_eq!(whoami(&agent, &sso.app).await?.status, 401);
    Ok(())
}

#[tokio::test]
async fn deep_link_survives_login_and_anonymous_api_calls_get_401() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    let agent = Agent::new();
    let api = whoami(&agent, &sso.app).await?;
    assert_eq!(api.status, 401, "{}", api.body);
    assert_eq!(api.json()["error"]["kind"], "unauthenticated");
    let live = agent.get(&sso.app.url("/api/live?query=up&step=1&window=60&interval=1")).await?;
    assert_eq!(live.status, 401, "SSE streams need a session too");

    let first = agent.get(&sso.app.url("/runbooks/x?a=b")).await?;
    assert_eq!(first.status, 303);
    let location = first.location.clone().expect("redirect");
    assert_eq!(location.path(), "/auth/login");
    assert_eq!(
        location.query_pairs().find(|(k, _)| k == "return_to").map(|(_, v)| v.into_owned()).as_deref(),
        Some("/runbooks/x?a=b")
    );

    let landed = sso.provider.login(&agent, &sso.app.url("/runbooks/x?a=b"), &user("ada")).await?;
    assert_eq!(landed.url.path(), "/runbooks/x");
    assert_eq!(landed.url.query(), Some("a=b"));
    assert_eq!(whoami(&agent, &sso.app).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn open_redirect_targets_are_refused() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    let agent = Agent::new();
    for bad in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "\\/evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "http:evil.example",
        "javascript:alert(1)",
    ] {
        let url = format!(
            "{}?return_to={}",
            sso.app.url("/auth/login"),
            url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
        );
        let page = agent.get(&url).await?;
        assert_eq!(page.status, 400, "{bad}: {} {:?}", page.body, page.location);
        assert!(page.location.is_none(), "{bad} was redirected to {:?}", page.location);
        assert!(page.body.contains("not valid"), "{bad}: {}", page.body);
    }
    // A good target goes to the provider.
    let good =
        agent.get(&format!("{}?return_to=%2Frunbooks%2Fx%3Fa%3Db", sso.app.url("/auth/login"))).await?;
    assert_eq!(good.status, 303);
    assert!(good.location.expect("redirect").as_str().starts_with(&sso.provider.issuer));
    Ok(())
}

#[tokio::test]
async fn bad_id_tokens_are_refused_and_small_clock_skew_is_tolerated() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    for (mode, expect) in [
        ("wrong-aud", "audience"),
        ("wrong-iss", "issuer"),
        ("expired", "expired"),
        ("forged", "signature"),
        ("wrong-nonce", "nonce"),
    ] {
        sso.provider.set_tamper(mode).await?;
        let agent = Agent::new();
        let page = sso.provider.login(&agent, &sso.app.url("/auth/login"), &user("oscar")).await?;
        assert_eq!(page.status, 401, "{mode}: {}", page.body);
        assert!(page.body.contains("ID token was refused"), "{mode}: {}", page.body);
        assert!(page.body.to_lowercase().contains(expect), "{mode} should mention {expect}: {}", page.body);
        assert!(agent.cookie(&sso.app.url("/"), "triage_session").is_none(), "{mode} left a session");
    }
    // Expired 20 s ago is within the 60 s tolerance.
    sso.provider.set_tamper("skewed").await?;
    let agent = Agent::new();
    let page = sso.provider.login(&agent, &sso.app.url("/auth/login"), &user("oscar")).await?;
    assert_eq!(page.url.path(), "/", "{} {}", page.status, page.body);
    assert_eq!(whoami(&agent, &sso.app).await?.status, 200);
    Ok(())
}

/// Walks a login up to (not into) Triage's callback; returns the callback URL.
async fn until_callback(sso: &Sso, agent: &Agent, who: &OidcUser) -> anyhow::Result<url::Url> {
    let form = agent.follow(&sso.app.url("/auth/login")).await?;
    let action = form.form_action().ok_or_else(|| anyhow::anyhow!("no login form: {}", form.body))?;
    let mut page = agent.post_form(action.as_str(), &[("login", who.id), ("password", who.password)]).await?;
    for _ in 0..10 {
        let next =
            page.location.clone().ok_or_else(|| anyhow::anyhow!("stopped at {}: {}", page.url, page.body))?;
        if next.path() == "/auth/callback" && next.port() == Some(sso.app.addr.port()) {
            return Ok(next);
        }
        page = agent.get(next.as_str()).await?;
    }
    anyhow::bail!("never reached the callback")
}

#[tokio::test]
async fn tampered_or_replayed_state_is_refused() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    let origin = sso.app.url("/");

    // Tampered state.
    let agent = Agent::new();
    let callback = until_callback(&sso, &agent, &user("ada")).await?;
    let mut tampered = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "state" { format!("{v}x") } else { v.into_owned() };
            (k.into_owned(), value)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let page = agent.get(tampered.as_str()).await?;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("state mismatch"), "{}", page.body);
    assert!(agent.cookie(&origin, "triage_session").is_none());

    // Replayed state: a completed login's answer, with its login cookie put back, is refused.
    let agent = Agent::new();
    let callback = until_callback(&sso, &agent, &user("ada")).await?;
    let login_cookie = agent.cookie(&origin, "triage_login").expect("login cookie");
    let done = agent.follow(callback.as_str()).await?;
    assert_eq!(done.url.path(), "/", "{}", done.body);
    assert!(agent.cookie(&origin, "triage_login").is_none(), "the login cookie is single-use");
    let thief = Agent::new();
    thief.set_cookie(&origin, "triage_login", &login_cookie);
    let replay = thief.get(callback.as_str()).await?;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("already used"), "{}", replay.body);
    assert!(thief.cookie(&origin, "triage_session").is_none());
    // Without the login cookie the answer belongs to no login at all.
    let stranger = Agent::new().get(callback.as_str()).await?;
    assert_eq!(stranger.status, 400);
    assert!(stranger.body.contains("No login in progress"), "{}", stranger.body);
    Ok(())
}

#[tokio::test]
async fn tampered_cookie_and_foreign_key_are_refused_replicas_with_the_key_accept() -> anyhow::Result<()> {
    let provider_port = OidcProvider::reserve_port()?;
    let issuer = OidcProvider::issuer_for(provider_port);
    let key = session_key();
    let (p1, p2, p3) = (free_port()?, free_port()?, free_port()?);
    let a = TestApp::start_on(sso_settings(&issuer, p1, &key)?, p1).await?;
    // Replica B is a separate `triage` process reading a configuration file.
    let b = TriageProcess::start(&issuer, p2, &key).await?;
    let other = TestApp::start_on(sso_settings(&issuer, p3, &session_key())?, p3).await?;
    let provider = OidcProvider::start(provider_port, &[p1, p2, p3]).await?;

    let agent = Agent::new();
    let page = provider.login(&agent, &a.url("/auth/login"), &user("oscar")).await?;
    assert_eq!(page.url.path(), "/", "{}", page.body);
    let cookie = agent.cookie(&a.url("/"), "triage_session").expect("session");
    let csrf = csrf_of(&agent, &a).await?;

    // Replica B (another process, same key) accepts the session and its CSRF token.
    agent.set_cookie(&b.url("/"), "triage_session", &cookie);
    let on_b = agent.get(&b.url("/api/whoami")).await?;
    assert_eq!(on_b.status, 200, "{}", on_b.body);
    assert_eq!(on_b.json()["subject"], "oscar");
    let acted =
        post(&agent, &b.url(&format!("{NS}/deployments/x/scale")), Some(&csrf), json!({"replicas": 1}))
            .await?;
    assert_eq!(
        acted.status, 503,
        "passes auth and CSRF, then finds no Kubernetes configured: {}",
        acted.body
    );

    // A deployment with another key does not.
    agent.set_cookie(&other.url("/"), "triage_session", &cookie);
    let on_other = whoami(&agent, &other).await?;
    assert_eq!(on_other.status, 401);
    assert!(message(&on_other).contains("not valid"), "{}", on_other.body);

    // One changed character makes the cookie worthless.
    let mut bytes = cookie.into_bytes();
    let i = bytes.len() / 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    agent.set_cookie(&a.url("/"), "triage_session", &String::from_utf8(bytes)?);
    let tampered = whoami(&agent, &a).await?;
    assert_eq!(tampered.status, 401, "{}", tampered.body);
    let page = agent.get(&a.url("/kubernetes")).await?;
    assert_eq!(page.status, 303, "a page without a valid session goes to login");
    Ok(())
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_maximum_age() -> anyhow::Result<()> {
    let sso = start_sso(|s| {
        if let Some(sso) = s.auth.sso_mut() {
            sso.session_idle_secs = 3;
            sso.session_max_secs = 6;
        }
    })
    .await?;
    // Idle: nothing for 4 s.
    let agent = logged_in(&sso, "ada").await?;
    assert_eq!(whoami(&agent, &sso.app).await?.status, 200);
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    let idle = whoami(&agent, &sso.app).await?;
    assert_eq!(idle.status, 401);
    assert!(message(&idle).contains("without activity"), "{}", idle.body);

    // Active but past the maximum age: a request every 0.5 s keeps it alive until 6 s.
    let agent = logged_in(&sso, "ada").await?;
    let started = std::time::Instant::now();
    let mut ended = None;
    while started.elapsed() < Duration::from_secs(10) {
        let page = whoami(&agent, &sso.app).await?;
        if page.status != 200 {
            ended = Some((started.elapsed(), page));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (after, page) = ended.expect("the session must end at its maximum age");
    assert!(after > Duration::from_secs(4), "active session ended early, after {after:?}: {}", page.body);
    assert!(message(&page).contains("maximum lifetime"), "{}", page.body);
    Ok(())
}

#[tokio::test]
async fn logout_locally_and_at_the_provider() -> anyhow::Result<()> {
    let provider_port = OidcProvider::reserve_port()?;
    let issuer = OidcProvider::issuer_for(provider_port);
    let key = session_key();
    let (p1, p2) = (free_port()?, free_port()?);
    let rp = TestApp::start_on(sso_settings(&issuer, p1, &key)?, p1).await?;
    let mut local_only = sso_settings(&issuer, p2, &key)?;
    if let Some(o) = local_only.auth.sso_mut().map(|sso| &mut sso.oidc) {
        o.provider_logout = false;
    }
    let local = TestApp::start_on(local_only, p2).await?;
    let provider = OidcProvider::start(provider_port, &[p1, p2]).await?;

    // Local logout: the session ends here, the provider's session stays (next login is silent).
    let agent = Agent::new();
    provider.login(&agent, &local.url("/auth/login"), &user("ada")).await?;
    assert_eq!(whoami(&agent, &local).await?.status, 200);
    let out = agent.get(&local.url("/auth/logout")).await?;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_ref().map(|l| l.path()), Some("/auth/logged-out"));
    assert!(agent.cookie(&local.url("/"), "triage_session").is_none());
    assert_eq!(whoami(&agent, &local).await?.status, 401);
    let again = agent.follow(&local.url("/auth/login")).await?;
    assert_eq!(again.url.path(), "/", "the provider still knows the user: {}", again.body);
    assert_eq!(whoami(&agent, &local).await?.status, 200);

    // RP-initiated logout: the provider's end-session endpoint, then back to /auth/logged-out.
    let agent = Agent::new();
    provider.login(&agent, &rp.url("/auth/login"), &user("ada")).await?;
    let out = agent.get(&rp.url("/auth/logout")).await?;
    assert_eq!(out.status, 303);
    let end = out.location.clone().expect("redirect");
    assert!(end.as_str().starts_with(&format!("{issuer}/session/end")), "{end}");
    let params: std::collections::HashMap<_, _> = end.query_pairs().into_owned().collect();
    assert_eq!(params.get("client_id").map(String::as_str), Some(triage_tests::oidc::CLIENT_ID));
    assert_eq!(params.get("post_logout_redirect_uri").cloned(), Some(rp.url("/auth/logged-out")));
    assert!(agent.cookie(&rp.url("/"), "triage_session").is_none());
    let confirm = agent.follow(end.as_str()).await?;
    assert!(confirm.body.contains("provider-logout"), "{}", confirm.body);
    let action = confirm.form_action().expect("logout form");
    let xsrf = confirm.hidden_input("xsrf").expect("xsrf field");
    let posted = agent.post_form(action.as_str(), &[("xsrf", &xsrf), ("logout", "yes")]).await?;
    let back = agent.follow_from(posted).await?;
    assert_eq!(back.url.as_str(), rp.url("/auth/logged-out"), "{}", back.body);
    assert!(back.body.contains("data-testid=\"logged-out\""));
    // The provider forgot the user: logging in asks for credentials again.
    let form = agent.follow(&rp.url("/auth/login")).await?;
    assert!(form.body.contains("provider-login"), "{} {}", form.url, form.body);
    Ok(())
}

#[tokio::test]
async fn provider_down_gives_a_page_in_words_and_leaves_sessions_alone() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    let agent = logged_in(&sso, "ada").await?;
    let Sso { provider, app } = sso;
    drop(provider); // stopped by PID
    assert_eq!(whoami(&agent, &app).await?.status, 200, "an open session does not need the provider");

    // Discovery is reused for its TTL: a login start asks the provider nothing and sends the
    // browser on (where the provider's outage shows), so logins never queue behind discovery.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let start = no_redirects.get(app.url("/auth/login")).send().await?;
    assert_eq!(start.status(), 303, "served from the cached discovery");
    assert_eq!(whoami(&agent, &app).await?.status, 200, "still logged in");

    // A backend that never reached its provider starts, and a login gets its page in words.
    let anonymous = Agent::new();
    let port = free_port()?;
    let dead = OidcProvider::issuer_for(free_port()?);
    let fresh = TestApp::start_on(sso_settings(&dead, port, &session_key())?, port).await?;
    let page = anonymous.follow(&fresh.url("/runbooks/x?a=b")).await?;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.url.as_str().starts_with(&fresh.url("/auth/login")), "{}", page.url);
    assert!(page.body.contains("cannot be reached"), "{}", page.body);
    assert!(page.body.contains("Sessions already open are not affected"), "{}", page.body);
    assert!(page.body.contains(&dead), "the page names the provider: {}", page.body);
    let health = reqwest::get(fresh.url("/healthz")).await?;
    assert!(health.status().is_success(), "the backend keeps running");
    Ok(())
}

#[tokio::test]
async fn no_auth_mode_is_refused_off_loopback() -> anyhow::Result<()> {
    let mut settings = Settings::default();
    settings.server.listen = "0.0.0.0:0".parse()?;
    let err = triage::startup::Application::build(settings).await.err().expect("must refuse to start");
    assert!(format!("{err:#}").contains("no-auth mode is only allowed on a loopback address"), "{err:#}");

    let exe = std::env::current_exe()?;
    let bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("triage")).unwrap_or_default();
    if bin.exists() {
        let out = std::process::Command::new(&bin)
            .arg("serve")
            .env("TRIAGE__SERVER__LISTEN", "0.0.0.0:0")
            .stdin(std::process::Stdio::null())
            .output()?;
        assert!(!out.status.success(), "the binary started on 0.0.0.0 without SSO");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("loopback"), "{text}");
    }
    Ok(())
}

/// The `triage` binary as its own process (`target/debug/triage`, built by `cargo build -p triage`;
/// `cargo xtask test` builds it), with SSO settings in a file, stopped by PID on drop.
struct TriageProcess {
    port: u16,
    _child: triage_tests::process::ManagedChild,
    _dir: tempfile::TempDir,
}

impl TriageProcess {
    async fn start(issuer: &str, port: u16, key: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("triage")).unwrap_or_default();
        anyhow::ensure!(bin.exists(), "{} is missing: run `cargo build -p triage`", bin.display());
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("triage.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n\
                 [auth]\nmode = \"oidc\"\nsession_key = \"{key}\"\n\
                 [auth.oidc]\nissuer = \"{issuer}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
                 redirect_url = \"http://127.0.0.1:{port}/auth/callback\"\n\
                 reader_groups = [\"sre-readers\"]\noperator_groups = [\"sre-operators\"]\n\
                 [store]\nsqlite_path = \"{}\"\n",
                triage_tests::oidc::CLIENT_ID,
                triage_tests::oidc::CLIENT_SECRET,
                dir.path().join("audit.db").display()
            ),
        )?;
        let mut child = triage_tests::process::ManagedChild::spawn(
            "triage",
            std::process::Command::new(bin)
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .stdin(std::process::Stdio::null()),
            Some(dir.path().join("triage.log")),
        )?;
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let http = reqwest::Client::new();
        triage_tests::process::wait_until(&mut child, Duration::from_secs(20), || {
            let r = http.get(&ready).send();
            async move { r.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await?;
        Ok(Self { port, _child: child, _dir: dir })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Puts sample values in a route template's `{params}`.
fn concrete(path: &str) -> String {
    path.replace("{ns}", "streaming-analytics").replace("{name}", "x").replace("{id}", "no-such-job")
}

#[tokio::test]
async fn every_route_is_guarded_for_every_role() -> anyhow::Result<()> {
    let sso = start_sso(|_| {}).await?;
    let table = triage::http::route_table();
    assert!(table.len() >= 30, "the table lists the API: {table:?}");
    let mut callers: Vec<(Option<Role>, Agent)> = vec![(None, Agent::new())];
    for (role, who) in [(Role::Reader, "ada"), (Role::Operator, "oscar"), (Role::Admin, "alma")] {
        callers.push((Some(role), logged_in(&sso, who).await?));
    }
    for (caller_role, agent) in &callers {
        let csrf = match caller_role {
            Some(_) => Some(csrf_of(agent, &sso.app).await?),
            None => None,
        };
        for (method, path, required) in &table {
            let url = sso.app.url(&concrete(path));
            let headers: Vec<(&str, &str)> =
                csrf.as_deref().map(|c| vec![("x-triage-csrf", c)]).unwrap_or_default();
            let body = (*method == reqwest::Method::POST).then(|| Body::Json(json!({})));
            let page = tokio::time::timeout(
                Duration::from_secs(10),
                agent.send(method.clone(), &url, &headers, body),
            )
            .await
            .map_err(|_| anyhow::anyhow!("{method} {path} hung"))??;
            let who = caller_role.map_or("anonymous".to_owned(), |r| format!("{r:?}"));
            match caller_role {
                None => assert_eq!(page.status, 401, "{method} {path} as {who}: {}", page.body),
                Some(role) if role < required => {
                    assert_eq!(page.status, 403, "{method} {path} as {who}: {}", page.body);
                    assert!(message(&page).contains("role"), "{method} {path}: {}", page.body);
                }
                Some(_) => assert!(
                    page.status != 401 && page.status != 403,
                    "{method} {path} as {who} was refused: {} {}",
                    page.status,
                    page.body
                ),
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn local_mode_still_has_roles_and_the_csrf_header() -> anyhow::Result<()> {
    let app = TestApp::start().await?; // no-auth, local role reader
    let agent = Agent::new();
    let me = whoami(&agent, &app).await?.json();
    assert_eq!(me["subject"], "local");
    assert_eq!(me["role"], "reader");
    assert_eq!(me["auth_mode"], "none");
    assert!(me["csrf_token"].is_null());
    let scale = app.url(&format!("{NS}/deployments/x/scale"));
    let page = post(&agent, &scale, Some("1"), json!({"replicas": 1})).await?;
    assert_eq!(page.status, 403, "a reader may not act: {}", page.body);
    let page = post(&agent, &scale, None, json!({"replicas": 1})).await?;
    assert_eq!(page.status, 403);
    assert!(message(&page).contains("x-triage-csrf"), "{}", page.body);
    let login = agent.get(&app.url("/auth/login")).await?;
    assert_eq!(login.status, 404, "no SSO to log in to: {}", login.body);
    Ok(())
}

#[tokio::test]
async fn logins_share_one_discovery_and_do_not_queue_behind_a_hanging_provider() -> anyhow::Result<()> {
    // A provider that accepts and never answers: every discovery waits for its 10 s bound.
    let proxy = triage_tests::proxy::TcpProxy::start(vec!["127.0.0.1:9".parse()?]).await?;
    proxy.set_fault(triage_tests::proxy::Fault::Hang);
    let port = free_port()?;
    let issuer = proxy.url("");
    let app =
        TestApp::start_on(sso_settings(issuer.trim_end_matches('/'), port, &session_key())?, port).await?;
    let started = std::time::Instant::now();
    let logins = (0..6).map(|_| {
        let url = app.url("/auth/login");
        async move { reqwest::get(url).await.map(|r| r.status().as_u16()) }
    });
    let statuses: Vec<u16> = futures::future::join_all(logins).await.into_iter().collect::<Result<_, _>>()?;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    // One shared discovery: six logins end together, not one after another (6 × 10 s).
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
    assert!(proxy.connections() <= 2, "{} discovery connections", proxy.connections());
    Ok(())
}

#[tokio::test]
async fn login_starts_are_rate_limited() -> anyhow::Result<()> {
    let sso = start_sso(|s| {
        if let Some(o) = s.auth.sso_mut().map(|sso| &mut sso.oidc) {
            o.login_starts_per_minute = 3;
        }
    })
    .await?;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    for _ in 0..3 {
        let start = no_redirects.get(sso.app.url("/auth/login")).send().await?;
        assert_eq!(start.status(), 303);
    }
    let refused = no_redirects.get(sso.app.url("/auth/login")).send().await?;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str()?.parse()?;
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(refused.text().await?.contains("too many logins"), "the page says why");
    Ok(())
}
