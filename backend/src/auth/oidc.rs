//! The OpenID Connect authorization-code flow with PKCE, through the `openidconnect` crate:
//! discovery from the issuer URL, `state` and `nonce` checked, the ID token's signature, issuer,
//! audience and expiry verified (with the configured clock-skew tolerance), and the user's groups
//! read from the configured claim. No token is validated by hand.
//!
//! Discovery (metadata and signing keys) is fetched on the first login and reused for
//! [`DISCOVERY_TTL`], so Triage starts while the provider is down and existing sessions are
//! unaffected (they are cookies Triage checks itself). A refresh is one shared request that no
//! lock is held across: concurrent logins wait for the same answer, and a slow provider delays
//! nobody who has a fresh copy. A login while the provider cannot be discovered gets a page in
//! words. Login starts are rate-limited per replica (`auth.oidc.login_starts_per_minute`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdToken, IssuerUrl, LogoutRequest, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use triage_shared::actions::Role;
use url::Url;

use crate::config::OidcSettings;

/// How long discovery (metadata and signing keys) is reused before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// How long a login may take at the provider; also how long a used `state` is remembered.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Bound on each request to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Every claim of the ID token besides the standard ones, so the groups claim can be named in
/// configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

type FullIdToken =
    IdToken<OtherClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

struct Provider {
    client: DiscoveredClient,
    end_session: Option<EndSessionUrl>,
}

/// A login in progress, kept in an encrypted cookie between `/auth/login` and `/auth/callback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    /// Unix seconds.
    pub started: i64,
}

/// What a verified ID token says about the user.
#[derive(Debug, Clone)]
pub struct UserClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub groups: Vec<String>,
}

/// A failed login, with the status and the words of the page the user sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoginError {
    #[error("the identity provider at {issuer} cannot be reached: {detail}")]
    ProviderUnreachable { issuer: String, detail: String },
    #[error("the identity provider did not complete the login: {0}")]
    Exchange(String),
    #[error("the identity provider's ID token was refused: {0}")]
    TokenRefused(String),
    #[error("too many logins are starting at once; retry in {0} s")]
    TooManyLogins(u64),
}

impl LoginError {
    pub fn status(&self) -> u16 {
        match self {
            Self::ProviderUnreachable { .. } => 503,
            Self::Exchange(_) => 502,
            Self::TokenRefused(_) => 401,
            Self::TooManyLogins(_) => 429,
        }
    }
}

type Discovering =
    futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<Provider>, LoginError>>>;

/// The discovered provider, and the refresh in flight (if any).
#[derive(Default)]
struct Discovery {
    ready: Option<(Instant, Arc<Provider>)>,
    fetching: Option<Discovering>,
}

/// A token bucket: `capacity` starts, refilled at `capacity` per minute.
struct Bucket {
    capacity: f64,
    tokens: f64,
    at: Instant,
}

pub struct OidcLogin {
    settings: OidcSettings,
    http: reqwest::Client,
    discovery: Mutex<Discovery>,
    /// `state` values already used on this replica, with when they were used (Unix seconds).
    used_states: Mutex<HashMap<String, i64>>,
    starts: Mutex<Bucket>,
}

impl OidcLogin {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // Following redirects from the provider would open the client to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()?;
        let capacity = f64::from(settings.login_starts_per_minute.max(1));
        Ok(Self {
            settings,
            http,
            discovery: Mutex::default(),
            used_states: Mutex::default(),
            starts: Mutex::new(Bucket { capacity, tokens: capacity, at: Instant::now() }),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The discovered provider: the cached one while fresh, else the answer of the one refresh
    /// in flight (started here if none is). No lock is held while the provider is asked.
    async fn provider(&self) -> Result<Arc<Provider>, LoginError> {
        let refresh = {
            let mut discovery = self.discovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, provider)) = &discovery.ready
                && at.elapsed() < DISCOVERY_TTL
            {
                return Ok(provider.clone());
            }
            match &discovery.fetching {
                Some(refresh) => refresh.clone(),
                None => {
                    let refresh = discover(self.settings.clone(), self.http.clone()).boxed().shared();
                    discovery.fetching = Some(refresh.clone());
                    refresh
                }
            }
        };
        let result = refresh.clone().await;
        let mut discovery = self.discovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if discovery.fetching.as_ref().is_some_and(|f| f.ptr_eq(&refresh)) {
            discovery.fetching = None;
            // A failure is not kept: the next login asks again.
            if let Ok(provider) = &result {
                discovery.ready = Some((Instant::now(), provider.clone()));
            }
        }
        result
    }

    /// Takes one login start from the bucket, or says how long to wait.
    fn take_start(&self) -> Result<(), LoginError> {
        let mut b = self.starts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * b.capacity / 60.0).min(b.capacity);
        b.at = now;
        if b.tokens < 1.0 {
            let wait = ((1.0 - b.tokens) * 60.0 / b.capacity).ceil().max(1.0) as u64;
            return Err(LoginError::TooManyLogins(wait));
        }
        b.tokens -= 1.0;
        Ok(())
    }

    /// The provider's authorization URL for a new login, and what the callback must check.
    pub async fn start(&self, return_to: String, now: i64) -> Result<(Url, PendingLogin), LoginError> {
        self.take_start()?;
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
            return_to,
            started: now,
        };
        Ok((url, pending))
    }

    /// Records `state` as used; `false` when it already was (a replayed callback).
    pub fn consume_state(&self, state: &str, now: i64) -> bool {
        let mut used = self.used_states.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, at| now - *at < LOGIN_TTL.as_secs() as i64);
        used.insert(state.to_owned(), now).is_none()
    }

    /// Exchanges `code` (with the PKCE verifier) and verifies the ID token.
    pub async fn finish(&self, pending: &PendingLogin, code: String) -> Result<UserClaims, LoginError> {
        let provider = self.provider().await?;
        let response = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| LoginError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::Exchange(error_chain(&e)))?;
        use openidconnect::TokenResponse;
        let token = response
            .id_token()
            .ok_or_else(|| LoginError::Exchange("the token response has no ID token".to_owned()))?;
        // Re-read the same signed token with every claim kept, so the groups claim is available.
        let token: FullIdToken = token
            .to_string()
            .parse()
            .map_err(|e: serde_json::Error| LoginError::TokenRefused(e.to_string()))?;
        let skew = chrono::Duration::seconds(self.settings.clock_skew_secs as i64);
        let verifier = provider
            .client
            .id_token_verifier()
            .set_time_fn(move || chrono::Utc::now() - skew)
            .set_issue_time_verifier_fn(move |issued| {
                if issued > chrono::Utc::now() + skew {
                    Err(format!("issued in the future ({issued})"))
                } else {
                    Ok(())
                }
            });
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = token.claims(&verifier, &nonce).map_err(|e| LoginError::TokenRefused(e.to_string()))?;
        let groups = match claims.additional_claims().rest.get(&self.settings.groups_claim) {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
            }
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(UserClaims {
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified() == Some(true),
            groups,
        })
    }

    /// The role the configured groups and domains give `user`; `None` when none applies.
    pub fn role_for(&self, user: &UserClaims) -> Option<Role> {
        let s = &self.settings;
        let member = |list: &[String]| user.groups.iter().any(|g| list.contains(g));
        if member(&s.admin_groups) {
            return Some(Role::Admin);
        }
        if member(&s.operator_groups) {
            return Some(Role::Operator);
        }
        let domain_ok = user.email_verified
            && user.email.as_deref().and_then(|e| e.rsplit_once('@')).is_some_and(|(_, domain)| {
                s.reader_email_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            });
        if member(&s.reader_groups) || domain_ok {
            return Some(Role::Reader);
        }
        None
    }

    /// Whether `group` decides a role (kept when a long group list must be trimmed).
    pub fn is_role_group(&self, group: &str) -> bool {
        let s = &self.settings;
        [&s.reader_groups, &s.operator_groups, &s.admin_groups].iter().any(|l| l.iter().any(|g| g == group))
    }

    /// The provider's end-session URL (RP-initiated logout) when configured and advertised.
    pub async fn end_session_url(&self, post_logout: &str) -> Option<Url> {
        if !self.settings.provider_logout {
            return None;
        }
        let provider = self.provider().await.ok()?;
        let endpoint = provider.end_session.clone()?;
        let mut request =
            LogoutRequest::from(endpoint).set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Ok(url) = PostLogoutRedirectUrl::new(post_logout.to_owned()) {
            request = request.set_post_logout_redirect_uri(url);
        }
        Some(request.http_get_url())
    }
}

/// Discovery and the client built from it, from owned inputs so one refresh can be shared.
async fn discover(settings: OidcSettings, http: reqwest::Client) -> Result<Arc<Provider>, LoginError> {
    let unreachable =
        |detail: String| LoginError::ProviderUnreachable { issuer: settings.issuer.clone(), detail };
    let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| unreachable(e.to_string()))?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let redirect = RedirectUrl::new(settings.redirect_url.to_string())
        .map_err(|e| unreachable(format!("redirect URL: {e}")))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(settings.client_secret.expose_secret().to_owned())),
    )
    .set_redirect_uri(redirect);
    Ok(Arc::new(Provider { client, end_session }))
}

/// `error: cause: cause` on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
