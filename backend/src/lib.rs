//! Triage's backend: an axum server that proxies Prometheus, acts on Kubernetes, analyses
//! PostgreSQL and serves the browser console. `main.rs` only parses the command line.

pub mod actions;
pub mod assets;
pub mod auth;
pub mod config;
pub mod emergency;
pub mod error;
pub mod kubernetes;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod pg;
pub mod prom_cache;
pub mod prometheus;
pub mod routes;
pub mod runbooks;
pub mod startup;
pub mod state;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod workloads;
