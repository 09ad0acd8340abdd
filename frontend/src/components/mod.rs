//! Reusable view pieces.

pub mod footer;
pub mod placeholder;
