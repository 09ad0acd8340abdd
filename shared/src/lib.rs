//! Every type that crosses the wire between the Triage backend and its browser frontend.
//!
//! Plain serde data only: this crate knows nothing about axum, tokio or the browser, so both
//! sides compile the exact same definitions and the API cannot drift between them.

pub mod actions;
pub mod auth;
pub mod commands;
pub mod env;
pub mod error;
pub mod k8s;
pub mod kafka;
pub mod pg;
pub mod prom;
pub mod runbook;
pub mod version;

pub use error::{ApiError, ErrorBody, ErrorKind};
pub use version::VersionInfo;
