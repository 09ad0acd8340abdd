//! Reusable view pieces.

pub mod action_dialog;
pub mod copy;
pub mod footer;
pub mod k8s_format;
pub mod k8s_widgets;
pub mod log_view;
pub mod pg_format;
pub mod pod_detail;
pub mod runbook_format;
pub mod user_badge;
