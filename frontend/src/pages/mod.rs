//! One module per page of the console.

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod bench;
pub mod explore;
pub mod kafka;
pub mod kubernetes;
pub mod not_found;
pub mod overview;
pub mod postgres;
pub mod runbooks;
