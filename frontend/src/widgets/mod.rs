//! The console's widget kit, shared by every page: badges and their levels, the loading, error
//! and empty states, the command line of a view, the copy button, refresh controls, usage bars,
//! resources and the tab body built on them, the head of a tabbed page, and what a guarded
//! environment adds to an action (the reason, the pending approval, why one is unavailable).

pub mod badge;
pub mod copy;
pub mod filter;
pub mod guard;
pub mod kubectl;
pub mod refresh;
pub mod resource;
pub mod role;
pub mod state;
pub mod tabbed_page;
pub mod table;
pub mod usage_bar;

pub use badge::{Badge, Level};
pub use copy::{CopyButton, copy_text};
pub use filter::FilterInput;
pub use guard::{PendingApproval, ReasonField, reason_problem, reason_to_send};
pub use kubectl::Kubectl;
pub use refresh::{RefreshButton, RefreshControls, bump};
pub use resource::{keyed_resource, resource_tab, resource_view};
pub use role::{
    ActionUnavailable, can_act, current_unavailable_reason, role_label, role_text, unavailable_reason,
};
pub use state::{Empty, ErrorBox, Loading};
pub use tabbed_page::{PageHead, PageTab, quiet, tabbed_page};
pub use table::DataTable;
pub use usage_bar::{Bar, UsageBar, capacity_bar, usage_bar};
