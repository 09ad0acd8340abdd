//! Pure formatting shared by every page: units and quantities, durations, timestamps, URL
//! encoding, text filters. Nothing here touches the DOM or the network, so
//! `cargo test -p triage-frontend` runs all of it natively; the one call into the browser is
//! [`time::LocalTime::of_unix`], which reads the browser's clock zone.

pub mod duration;
pub mod text;
pub mod time;
pub mod units;
pub mod url;
