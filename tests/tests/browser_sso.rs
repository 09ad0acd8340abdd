//! Single sign-on in headless Chromium against the real OpenID provider: an alert's deep link
//! opened without a session goes through the provider's login page and lands on the same path
//! and query; the top bar shows who is logged in and the role; an operator's scale (dry run and
//! real) goes through with the session's CSRF token; logout ends the session here and at the
//! provider. Screenshots under `target/test-output/`.

use std::time::Duration;

use fantoccini::Locator;
use triage_sandbox::Incident;
use triage_shared::actions::Role;
use triage_tests::oidc::{session_key, sso_settings, user};
use triage_tests::paths::{free_port, require_frontend};
use triage_tests::{Browser, OidcProvider, TestApp, TestSandbox};

const ENTER: &str = "\u{e007}";
const DEEP_LINK: &str =
    "/runbooks/kafka-consumer-lag?namespace=streaming-analytics&group=stream-processor-group";

#[tokio::test]
async fn login_in_chromium_lands_on_the_deep_link_acts_and_logs_out() -> anyhow::Result<()> {
    require_frontend()?;
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let provider_port = OidcProvider::reserve_port()?;
    let port = free_port()?;
    let mut settings = sso_settings(&OidcProvider::issuer_for(provider_port), port, &session_key())?;
    settings.kubernetes = triage_tests::app::kubernetes_settings(&sb.kubeconfig, Role::Reader).kubernetes;
    let app = TestApp::start_on(settings, port).await?;
    let provider = OidcProvider::start(provider_port, &[port]).await?;
    let browser = Browser::start().await?;
    let result = scenario(&app, &provider, &sb, &browser).await;
    let _ = browser.screenshot("sso-final").await;
    browser.close().await?;
    if result.is_err() {
        eprintln!("provider log:\n{}", provider.log());
    }
    result
}

async fn text(browser: &Browser, testid: &str) -> anyhow::Result<String> {
    Ok(browser.wait_testid(testid).await?.text().await?)
}

async fn sign_in(browser: &Browser, who: &str) -> anyhow::Result<()> {
    let u = user(who);
    browser.wait_testid("provider-login").await?;
    browser.wait_testid("provider-user").await?.send_keys(u.id).await?;
    browser.wait_testid("provider-password").await?.send_keys(u.password).await?;
    browser.screenshot("sso-provider-login").await?;
    browser.wait_testid("provider-submit").await?.click().await?;
    Ok(())
}

async fn scenario(
    app: &TestApp,
    provider: &OidcProvider,
    sb: &TestSandbox,
    browser: &Browser,
) -> anyhow::Result<()> {
    let client = &browser.client;

    // The alert's link, without a session: login at the provider, back on the same page.
    client.goto(&app.url(DEEP_LINK)).await?;
    let at = client.current_url().await?;
    assert!(at.as_str().starts_with(&provider.issuer), "went to the provider: {at}");
    sign_in(browser, "oscar").await?;
    browser.wait_testid("app-shell").await?;
    let landed = client.current_url().await?;
    assert_eq!(landed.path(), "/runbooks/kafka-consumer-lag");
    assert_eq!(landed.query(), Some("namespace=streaming-analytics&group=stream-processor-group"));

    // The top bar: who and which role, and a logout link.
    assert_eq!(text(browser, "whoami").await?, "oscar@example.test");
    assert_eq!(text(browser, "whoami-role").await?, "operator");
    browser.wait_testid("logout").await?;
    let footer = text(browser, "backend-version").await?;
    assert!(footer.contains("single sign-on"), "{footer}");
    browser.screenshot("sso-logged-in").await?;

    // An action from the console carries the session's CSRF token (else the backend says 403).
    client.goto(&app.url("/kubernetes?ns=streaming-analytics&tab=deployments")).await?;
    let row = "[data-testid=deployment-row][data-deployment=stream-processor]";
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(&format!("{row} [data-testid=scale-button]")))
        .await?
        .click()
        .await?;
    browser.wait_testid("scale-dialog").await?;
    let replicas = browser.wait_testid("scale-replicas").await?;
    client
        .execute(
            "const e = document.querySelector('[data-testid=\"scale-replicas\"]');
             e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![],
        )
        .await?;
    replicas.send_keys(&format!("7{ENTER}")).await?;
    let summary = text(browser, "dry-run-summary").await?;
    assert!(summary.contains("6 → 7"), "{summary}");
    browser.wait_testid("apply-button").await?.click().await?;
    let done = text(browser, "action-result").await?;
    assert!(done.contains("audit entry #"), "{done}");
    let now = sb.kubectl(&["get", "deploy", "stream-processor", "-o", "jsonpath={.spec.replicas}"]).await?;
    assert_eq!(now.trim(), "7");

    // Logout: here, then at the provider, then Triage's logged-out page.
    client.goto(&app.url("/")).await?;
    browser.wait_testid("logout").await?.click().await?;
    browser.wait_testid("provider-logout").await?;
    browser.wait_testid("provider-logout-yes").await?.click().await?;
    browser.wait_testid("logged-out").await?;
    assert_eq!(client.current_url().await?.as_str(), app.url("/auth/logged-out"));
    browser.screenshot("sso-logged-out").await?;

    // Nobody is logged in any more: the console sends the browser to the provider's form again.
    client.goto(&app.url("/kubernetes")).await?;
    browser.wait_testid("provider-login").await?;

    // A reader signs in and sees the reader role.
    sign_in(browser, "ada").await?;
    browser.wait_testid("app-shell").await?;
    assert_eq!(client.current_url().await?.path(), "/kubernetes");
    assert_eq!(text(browser, "whoami-role").await?, "reader");
    Ok(())
}
