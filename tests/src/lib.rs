//! Test harness: starts the Triage backend and real servers (Prometheus, PostgreSQL with
//! `pg_stat_statements`, Chromium through chromedriver) on free loopback ports, and stops them
//! — by PID — and removes their temporary folders when the test ends, even when it fails.

pub mod app;
pub mod browser;
pub mod oidc;
pub mod paths;
pub mod pg_workload;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod sandbox;
pub mod sse;
pub mod tansu;
pub mod triage_process;

pub use app::TestApp;
pub use browser::Browser;
pub use oidc::{Agent, OidcProvider};
pub use postgres::Postgres;
pub use prometheus::Prometheus;
pub use sandbox::TestSandbox;
pub use sse::SseReader;
