//! The Postgres page: per configured target, the top `pg_stat_statements` entries, the window
//! diff between snapshots, connections against `max_connections`, index advice and tables.
//!
//! The URL holds the view (`/postgres?target=…&tab=…&order=…&db=…&role=…&from=…&to=…`, see
//! [`location`]), so every view can be linked to. Each view shows its psql equivalent. One file
//! per tab.

pub mod connections;
pub mod diff;
pub mod indexes;
pub mod location;
pub mod reset;
pub mod statements;
pub mod tables;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::widgets::{Empty, ErrorBox, Loading, PageHead, can_act, quiet, role_text, tabbed_page};
use connections::ConnectionsTab;
use diff::DiffTab;
use indexes::IndexesTab;
use location::{PgLocation, PgTab};
use statements::StatementsTab;
use tables::TablesTab;

#[component]
pub fn Postgres() -> impl IntoView {
    let params = use_query_map();
    let navigate = StoredValue::new_local(use_navigate());
    let targets = LocalResource::new(api::pg::targets);
    let whoami = LocalResource::new(api::whoami);

    let location = Memo::new(move |_| {
        let p = params.read();
        PgLocation::parse(|k| p.get(k))
    });
    let target = Memo::new(move |_| {
        location
            .get()
            .target
            .or_else(|| targets.get().and_then(Result::ok).and_then(|l| l.into_iter().next()))
    });
    let tab = Memo::new(move |_| location.get().tab);
    let allowed = Signal::derive(move || can_act(whoami.get().and_then(Result::ok).map(|i| i.role)));
    let target_options = Signal::derive(move || {
        let mut list = targets.get().and_then(Result::ok).unwrap_or_default();
        if let Some(t) = location.get().target.filter(|t| !list.contains(t)) {
            list.push(t);
        }
        list
    });

    let content = move || {
        let Some(t) = target.get() else {
            return match targets.get() {
                None => view! { <Loading what="the PostgreSQL targets" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the PostgreSQL targets" message=e.message /> }.into_any(),
                Some(Ok(_)) => view! { <Empty message="No PostgreSQL target is configured: add [[postgres.targets]] to Triage's configuration." /> }.into_any(),
            };
        };
        match tab.get() {
            PgTab::Statements => {
                view! { <StatementsTab target=t location=location.into() can_act=allowed /> }.into_any()
            }
            PgTab::Diff => view! { <DiffTab target=t location=location.into() /> }.into_any(),
            PgTab::Connections => view! { <ConnectionsTab target=t /> }.into_any(),
            PgTab::Indexes => view! { <IndexesTab target=t /> }.into_any(),
            PgTab::Tables => view! { <TablesTab target=t /> }.into_any(),
        }
    };

    let head = PageHead {
        class: "pg",
        testid: "page-postgres",
        title: "Postgres",
        picker: "Target ",
        picker_testid: "pg-target",
        picked: target.into(),
        options: target_options,
        on_pick: Callback::new(move |picked: String| {
            let loc = PgLocation { target: Some(picked), tab: tab.get_untracked(), ..Default::default() };
            navigate.with_value(|n| n(&loc.href(), quiet()));
        }),
        role_testid: "pg-role",
        role_text: Signal::derive(move || role_text(whoami.get().as_ref())),
        role_title: Signal::stored(
            "Operators may reset the statistics (audited); everyone may read.".to_owned(),
        ),
        can_act: allowed,
        tabs_label: "Postgres views",
        tab_testid: "pg-tab-",
        tab: tab.into(),
        tab_href: Callback::new(move |t| {
            PgLocation { target: target.get(), tab: t, ..Default::default() }.href()
        }),
    };
    tabbed_page(head, content)
}
