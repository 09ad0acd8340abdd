//! `triage-sandbox`: a simulated streaming-analytics platform for Triage's demo and tests.
//!
//! It serves a subset of the Kubernetes API (real wire shapes from `k8s-openapi`), a Prometheus
//! `/metrics` endpoint with the platform's metric names, per-service `/health` endpoints, and runs a
//! workload against a real PostgreSQL. Incidents are switched on by name. It is not part of the
//! product: Triage talks to it only through the `kube` client, Prometheus and PostgreSQL.

pub mod admission;
pub mod controllers;
pub mod incident;
pub mod store;
pub mod tick;
pub mod workload;
pub mod world;

pub use incident::Incident;
pub mod api;
pub mod health;
pub mod kafka;
pub mod logs;
pub mod metrics;
pub mod metrics_api;
pub mod openapi;
pub mod patch;
pub mod scram;
pub mod selectors;
pub mod server;
pub mod table;
pub mod virtual_objects;
