//! Pure formatting shared by every page: units and quantities, durations, timestamps, URL
//! encoding, text filters. Nothing here touches the DOM or the network, so
//! `cargo test -p triage-frontend` runs it natively; the only calls into the browser are the
//! clock and time zone in `time.rs`.

pub mod duration;
pub mod text;
pub mod time;
pub mod units;
pub mod url;
