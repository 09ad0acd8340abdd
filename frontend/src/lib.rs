//! Triage's browser console: layout, navigation and pages.

pub mod api;
pub mod chart;
pub mod components;
pub mod env;
pub mod env_alerts;
pub mod format;
pub mod keyboard;
pub mod live;
pub mod pages;
pub mod sse;
pub mod theme;
pub mod widgets;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, path};

use crate::components::environment::{EnvBanner, EnvPicker, UnknownEnvNotice};
use crate::components::footer::Footer;
use crate::pages::{
    AlertsPage, ApprovalsPage, AuditPage, BenchPage, ExplorePage, KafkaPage, KubernetesPage, PostgresPage,
    RunbookFlowPage, RunbookListPage, not_found, overview,
};

/// One entry of the main navigation: label, path, test id and keyboard shortcut (`g` then key).
struct NavItem {
    label: &'static str,
    href: &'static str,
    testid: &'static str,
    key: char,
}

const NAV: [NavItem; 9] = [
    NavItem { label: "Overview", href: "/", testid: "nav-overview", key: 'o' },
    NavItem { label: "Runbooks", href: "/runbooks", testid: "nav-runbooks", key: 'r' },
    NavItem { label: "Alerts", href: "/alerts", testid: "nav-alerts", key: 'a' },
    NavItem { label: "Explore", href: "/explore", testid: "nav-explore", key: 'e' },
    NavItem { label: "Kubernetes", href: "/kubernetes", testid: "nav-kubernetes", key: 'k' },
    NavItem { label: "Postgres", href: "/postgres", testid: "nav-postgres", key: 'p' },
    NavItem { label: "Kafka", href: "/kafka", testid: "nav-kafka", key: 'f' },
    NavItem { label: "Approvals", href: "/approvals", testid: "nav-approvals", key: 'v' },
    NavItem { label: "Audit", href: "/audit", testid: "nav-audit", key: 'u' },
];

#[component]
pub fn App() -> impl IntoView {
    let theme = theme::provide_theme();
    env::provide_environments();
    view! {
        <Router>
            <keyboard::Shortcuts targets=NAV.iter().map(|n| (n.key, n.href)).collect() />
            <div class="shell" data-testid="app-shell">
                <header class="topbar">
                    <A href=env::href("/") attr:class="brand" attr:data-testid="brand">
                        <img src="/favicon.svg" alt="" width="22" height="22" />
                        <span>"Triage"</span>
                    </A>
                    <nav class="nav" aria-label="Main" data-testid="nav">
                        {NAV
                            .iter()
                            .map(|item| {
                                view! {
                                    <A
                                        href=env::href(item.href)
                                        exact=item.href == "/"
                                        attr:data-testid=item.testid
                                        attr:title=format!("{} (g then {})", item.label, item.key)
                                    >
                                        {item.label}
                                    </A>
                                }
                            })
                            .collect_view()}
                    </nav>
                    <EnvPicker />
                    <components::user_badge::UserBadge />
                    <theme::ThemeToggle theme=theme />
                </header>
                <EnvBanner />
                <main class="content" id="main">
                    <UnknownEnvNotice />
                    <ErrorBoundary fallback=|errors| {
                        view! {
                            <div class="panel error" role="alert" data-testid="page-error">
                                <h2>"Something went wrong on this page"</h2>
                                <ul>
                                    {move || {
                                        errors
                                            .get()
                                            .into_iter()
                                            .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                                            .collect_view()
                                    }}
                                </ul>
                                <p>"Other pages still work; use the navigation above."</p>
                            </div>
                        }
                    }>
                        <Routes fallback=not_found::NotFound>
                            <Route path=path!("/") view=overview::Overview />
                            <Route path=path!("/runbooks") view={Lazy::<RunbookListPage>::new()} />
                            <Route path=path!("/runbooks/:id") view={Lazy::<RunbookFlowPage>::new()} />
                            <Route
                                path=path!("/runbooks/:id/runs/:run_id")
                                view={Lazy::<RunbookFlowPage>::new()}
                            />
                            <Route path=path!("/alerts") view={Lazy::<AlertsPage>::new()} />
                            <Route path=path!("/explore") view={Lazy::<ExplorePage>::new()} />
                            <Route path=path!("/kubernetes") view={Lazy::<KubernetesPage>::new()} />
                            <Route path=path!("/postgres") view={Lazy::<PostgresPage>::new()} />
                            <Route path=path!("/kafka") view={Lazy::<KafkaPage>::new()} />
                            <Route path=path!("/kafka/:tab") view={Lazy::<KafkaPage>::new()} />
                            <Route path=path!("/kafka/:tab/:name") view={Lazy::<KafkaPage>::new()} />
                            <Route path=path!("/approvals") view={Lazy::<ApprovalsPage>::new()} />
                            <Route path=path!("/audit") view={Lazy::<AuditPage>::new()} />
                            <Route path=path!("/bench/chart") view={Lazy::<BenchPage>::new()} />
                        </Routes>
                    </ErrorBoundary>
                </main>
                <Footer />
            </div>
        </Router>
    }
}
