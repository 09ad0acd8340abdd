//! `GET /api/whoami`: who is logged in, with what role, and the session's CSRF token.

use serde::{Deserialize, Serialize};

use crate::actions::Identity;
use crate::version::AuthMode;

/// The header every state-changing `/api` request carries. With single sign-on its value must be
/// the session's [`WhoAmI::csrf_token`]; in the local no-auth mode any value is accepted.
pub const CSRF_HEADER: &str = "x-triage-csrf";

/// `GET /api/whoami`. The identity's fields sit at the top level, so a reader that only knows
/// [`Identity`] still decodes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct WhoAmI {
    #[serde(flatten)]
    pub identity: Identity,
    pub auth_mode: AuthMode,
    /// Value for the CSRF header; bound to this session (absent in no-auth mode).
    #[serde(default)]
    pub csrf_token: Option<String>,
    /// Where the logout link points (absent in no-auth mode, which has no session to end).
    #[serde(default)]
    pub logout_url: Option<String>,
    /// The caller's role in each environment (the identity's `role` is the one in the
    /// environment the request named).
    #[serde(default)]
    pub roles: Vec<crate::env::EnvRole>,
}
