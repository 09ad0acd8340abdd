//! Sessions as encrypted, authenticated cookies (AES-256-GCM through the `cookie` crate's private
//! jar), keyed by `auth.session_key`: any replica holding the same key accepts a session another
//! created, with no shared session table. A changed byte, another key or another cookie name
//! fails decryption and the cookie is ignored.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use cookie::{Cookie, CookieJar, Key, SameSite};
use serde::{Deserialize, Serialize};
use triage_shared::actions::{Identity, Role};

/// The session itself (HttpOnly).
pub const SESSION_COOKIE: &str = "triage_session";
/// A login in progress: state, nonce, PKCE verifier and return path (HttpOnly, path `/auth`).
pub const LOGIN_COOKIE: &str = "triage_login";
/// Browsers refuse cookies over 4096 bytes; beyond this the group list is trimmed.
const MAX_COOKIE_VALUE: usize = 3800;

/// What a session cookie holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Random id of this login (logged, never reused).
    pub sid: String,
    pub sub: String,
    pub email: Option<String>,
    /// The user's groups at login.
    pub groups: Vec<String>,
    pub role: Role,
    /// Token the console sends in the CSRF header; bound to this session.
    pub csrf: String,
    /// Login time, Unix seconds.
    pub iat: i64,
    /// Last request, Unix seconds (refreshed while the user is active).
    pub seen: i64,
}

impl Session {
    pub fn identity(&self) -> Identity {
        Identity {
            subject: self.sub.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            role: self.role,
        }
    }
}

/// Why a request carries no usable session (said to the user in the 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    Missing,
    /// Not decryptable with our key: tampered, forged, or from another deployment.
    Invalid,
    IdleExpired,
    Expired,
}

impl NoSession {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "not logged in",
            Self::Invalid => {
                "the session cookie is not valid (tampered with or from another key); log in again"
            }
            Self::IdleExpired => "the session ended after a period without activity; log in again",
            Self::Expired => "the session reached its maximum lifetime; log in again",
        }
    }
}

pub struct SessionCodec {
    key: Key,
    /// `Secure` attribute: set when the console is served over HTTPS.
    secure: bool,
    idle: Duration,
    max: Duration,
}

/// `auth.session_key` once decoded: holding one means the key is usable, so nothing checks it
/// again after the settings are read. `Debug` never shows it.
#[derive(Clone)]
pub struct SessionKey(Key);

impl SessionKey {
    /// Decodes `auth.session_key` (standard or URL-safe base64) and checks its length.
    pub fn decode(text: &str) -> Result<Self, String> {
        decode_key(text).map(Self)
    }

    pub fn key(&self) -> &Key {
        &self.0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([REDACTED])")
    }
}

/// Decodes `auth.session_key` (standard or URL-safe base64) and checks its length.
fn decode_key(text: &str) -> Result<Key, String> {
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| "must be base64 (e.g. the output of `openssl rand -base64 64`)".to_owned())?;
    Key::try_from(bytes.as_slice())
        .map_err(|_| format!("must decode to at least 64 bytes, got {}", bytes.len()))
}

/// Random URL-safe text from `bytes` bytes of the OS's secure generator.
pub fn random_token(bytes: u32) -> String {
    openidconnect::CsrfToken::new_random_len(bytes).into_secret()
}

impl SessionCodec {
    pub fn new(key: Key, secure: bool, idle: Duration, max: Duration) -> Self {
        Self { key, secure, idle, max }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Encrypts `plaintext` as the value of cookie `name` (the name is authenticated too).
    pub fn seal(&self, name: &'static str, plaintext: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(Cookie::new(name, plaintext.to_owned()));
        jar.get(name).map(|c| c.value().to_owned()).unwrap_or_default()
    }

    /// Decrypts the value of cookie `name`; `None` when it was not sealed by this key for this name.
    pub fn open(&self, name: &'static str, sealed: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name, sealed.to_owned()));
        jar.private(&self.key).get(name).map(|c| c.value().to_owned())
    }

    /// The value of cookie `name` in the request, decrypted.
    pub fn read(&self, headers: &HeaderMap, name: &'static str) -> Result<Option<String>, NoSession> {
        match raw_cookie(headers, name) {
            None => Ok(None),
            Some(sealed) => self.open(name, &sealed).map(Some).ok_or(NoSession::Invalid),
        }
    }

    /// The request's session, checked for idle and absolute expiry at `now` (Unix seconds).
    pub fn session(&self, headers: &HeaderMap, now: i64) -> Result<Session, NoSession> {
        let text = self.read(headers, SESSION_COOKIE)?.ok_or(NoSession::Missing)?;
        let session: Session = serde_json::from_str(&text).map_err(|_| NoSession::Invalid)?;
        if now - session.iat >= self.max.as_secs() as i64 {
            return Err(NoSession::Expired);
        }
        if now - session.seen >= self.idle.as_secs() as i64 {
            return Err(NoSession::IdleExpired);
        }
        Ok(session)
    }

    /// Whether `session` should be re-issued with a fresh `seen` (sliding idle expiry), without
    /// rewriting the cookie on every request.
    pub fn needs_refresh(&self, session: &Session, now: i64) -> bool {
        let step = (self.idle.as_secs() / 4).clamp(1, 60) as i64;
        now - session.seen >= step
    }

    /// `Set-Cookie` for `session`; the group list is trimmed to `keep` when the cookie would not
    /// fit in a browser.
    pub fn session_cookie(&self, session: &Session, keep: &dyn Fn(&str) -> bool) -> HeaderValue {
        let mut text = serde_json::to_string(session).unwrap_or_default();
        let mut sealed = self.seal(SESSION_COOKIE, &text);
        if sealed.len() > MAX_COOKIE_VALUE {
            let mut trimmed = session.clone();
            trimmed.groups.retain(|g| keep(g));
            text = serde_json::to_string(&trimmed).unwrap_or_default();
            sealed = self.seal(SESSION_COOKIE, &text);
        }
        self.set_cookie(SESSION_COOKIE, sealed, "/", self.max)
    }

    /// `Set-Cookie` for an already sealed value: HttpOnly, SameSite=Lax, Secure over HTTPS.
    pub fn set_cookie(
        &self,
        name: &'static str,
        sealed: String,
        path: &'static str,
        max_age: Duration,
    ) -> HeaderValue {
        let cookie = Cookie::build((name, sealed))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path(path)
            .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
            .build();
        HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that removes cookie `name`.
    pub fn clear_cookie(&self, name: &'static str, path: &'static str) -> HeaderValue {
        let cookie = Cookie::build((name, ""))
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path(path)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The raw value of cookie `name` from the request's `Cookie` headers.
fn raw_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(key: Key) -> SessionCodec {
        SessionCodec::new(key, false, Duration::from_secs(100), Duration::from_secs(1000))
    }

    fn session(now: i64) -> Session {
        Session {
            sid: "s".into(),
            sub: "alice".into(),
            email: Some("alice@example.test".into()),
            groups: vec!["sre".into()],
            role: Role::Operator,
            csrf: random_token(32),
            iat: now,
            seen: now,
        }
    }

    fn headers_with(value: &HeaderValue) -> HeaderMap {
        let cookie = Cookie::parse(value.to_str().expect("ascii").to_owned()).expect("cookie");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{}={}", cookie.name(), cookie.value())).expect("v"),
        );
        h
    }

    #[test]
    fn round_trip_and_expiry() {
        let c = codec(Key::generate());
        let s = session(1_000);
        let h = headers_with(&c.session_cookie(&s, &|_| true));
        assert_eq!(c.session(&h, 1_050).expect("valid"), s);
        assert_eq!(c.session(&h, 1_100), Err(NoSession::IdleExpired));
        let mut old = s.clone();
        old.iat = 0;
        let h = headers_with(&c.session_cookie(&old, &|_| true));
        assert_eq!(c.session(&h, 1_010), Err(NoSession::Expired));
    }

    #[test]
    fn another_key_or_a_changed_byte_is_invalid() {
        let key = Key::generate();
        let c = codec(key.clone());
        let value = c.session_cookie(&session(1), &|_| true);
        assert_eq!(codec(Key::generate()).session(&headers_with(&value), 2), Err(NoSession::Invalid));
        let cookie = Cookie::parse(value.to_str().expect("ascii").to_owned()).expect("cookie");
        let mut bytes = cookie.value().as_bytes().to_vec();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let mut h = HeaderMap::new();
        let tampered = format!("{SESSION_COOKIE}={}", String::from_utf8(bytes).expect("utf8"));
        h.insert(header::COOKIE, HeaderValue::from_str(&tampered).expect("v"));
        assert_eq!(c.session(&h, 2), Err(NoSession::Invalid));
        // A sealed login cookie is not a session cookie: the name is authenticated.
        let login = c.seal(LOGIN_COOKIE, "{}");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("{SESSION_COOKIE}={login}")).expect("v"));
        assert_eq!(c.session(&h, 2), Err(NoSession::Invalid));
    }

    #[test]
    fn key_must_be_long_base64() {
        assert!(decode_key("not base64 !!").is_err());
        assert!(decode_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])).is_err());
        assert!(decode_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 64])).is_ok());
    }

    #[test]
    fn huge_group_lists_are_trimmed_to_the_relevant_ones() {
        let c = codec(Key::generate());
        let mut s = session(1);
        s.groups = (0..400).map(|i| format!("some-very-long-group-name-number-{i}")).collect();
        s.groups.push("sre".into());
        let value = c.session_cookie(&s, &|g| g == "sre");
        assert!(value.len() < 4096);
        assert_eq!(c.session(&headers_with(&value), 2).expect("valid").groups, vec!["sre".to_owned()]);
    }
}
