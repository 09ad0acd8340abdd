//! Triage's backend: an axum server that proxies Prometheus, acts on Kubernetes, analyses
//! PostgreSQL and serves the browser console. `main.rs` only parses the command line.

pub mod approvals;
pub mod auth;
pub mod config;
pub mod environments;
pub mod error;
pub mod guard;
pub mod http;
pub mod kafka;
pub mod kubernetes;
pub mod limits;
pub mod pg;
pub mod prometheus;
pub mod runbooks;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
