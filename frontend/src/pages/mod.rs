//! One module per page of the console.
//!
//! Overview (the first page most visits open) and the not-found page are part of the main
//! module; every other page is a lazy route: its code is a chunk of its own that the browser
//! fetches the first time the page opens (`xtask/src/frontend.rs` splits the build at these
//! points).

pub mod alerts;
pub mod approvals;
pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod explore;
pub mod kafka;
pub mod kubernetes;
pub mod not_found;
pub mod overview;
pub mod postgres;
pub mod runbooks;

/// Declares a lazily loaded page: a route type whose view (the component, and whatever only it
/// uses) is split into its own chunk.
macro_rules! lazy_page {
    ($(#[$doc:meta])* $route:ident => $component:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> leptos::prelude::AnyView {
                leptos::prelude::IntoAny::into_any($component())
            }
        }
    };
}

lazy_page!(
    /// `/runbooks`: the list of flows.
    RunbookListPage => runbooks::RunbookList
);
lazy_page!(
    /// `/runbooks/:id` and a run of it.
    RunbookFlowPage => runbooks::RunbookFlow
);
lazy_page!(AlertsPage => alerts::Alerts);
lazy_page!(ExplorePage => explore::Explore);
lazy_page!(KubernetesPage => kubernetes::Kubernetes);
lazy_page!(PostgresPage => postgres::Postgres);
lazy_page!(KafkaPage => kafka::Kafka);
lazy_page!(ApprovalsPage => approvals::Approvals);
lazy_page!(AuditPage => audit::Audit);
#[cfg(feature = "bench")]
lazy_page!(
    /// `/bench/chart`, built only for `cargo xtask bench`.
    BenchPage => bench::ChartBench
);
#[cfg(not(feature = "bench"))]
lazy_page!(
    /// `/bench/chart` outside `cargo xtask bench`'s build: not found.
    BenchPage => not_found::NotFound
);
