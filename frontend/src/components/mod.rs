//! The components that are more than a widget: the guarded-action dialog, a pod's detail and
//! its logs, the footer, the user badge, and the environment picker and banner.

pub mod action_dialog;
pub mod environment;
pub mod footer;
pub mod log_view;
pub mod pod_detail;
pub mod user_badge;
