//! Runbooks: the list of guided flows, and one flow — its parameters, its checks running live
//! as a stepper, the likely causes ranked with their fixes, and the run's incident report.
//!
//! `/runbooks/{id}?param=value…` is the target of an alert's `runbook_url`: the form is filled
//! from the query string and, when the link carries parameters (or `run=1`), the run starts at
//! once. A started run lives at `/runbooks/{id}/runs/{run_id}` (also `?run_id=`), its permalink:
//! it loads the run's state and, while the run is unfinished, follows its server-sent events.
//! [`location`] reads and writes those URLs; one file per panel.

pub mod causes;
#[cfg(test)]
pub mod fixtures;
pub mod flow;
pub mod list;
pub mod location;
pub mod params;
pub mod run;
pub mod run_bar;
pub mod stepper;
pub mod template;
pub mod verdict;

pub use flow::RunbookFlow;
pub use list::RunbookList;
