//! `GET /api/version`: what build of Triage is answering.

use serde::{Deserialize, Serialize};

/// Identity of the running backend, shown in the console footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VersionInfo {
    /// Product name, always `triage`.
    pub name: String,
    /// Crate version of the backend (`CARGO_PKG_VERSION`).
    pub version: String,
    /// How this backend authenticates its callers.
    pub auth_mode: AuthMode,
}

/// How the backend authenticates callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Local demo mode: no login, allowed only on a loopback listener.
    None,
    /// OpenID Connect single sign-on.
    Oidc,
}
