//! The Kafka page: brokers (reachability, API versions, leaders), topics (partitions, replicas,
//! ISR, leader balance) and consumer groups (members, per-partition lag, the guarded offset
//! reset).
//!
//! The URL holds the view (`/kafka/<tab>/<topic or group>`, see [`location`]), so a topic or a
//! group can be linked to. Each view shows its `kafka-*.sh` equivalent. One file per tab.

pub mod brokers;
pub mod catch_up;
pub mod groups;
pub mod location;
pub mod reset;
pub mod topics;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use triage_shared::{ApiError, ErrorKind};

use crate::api;
use crate::widgets::{ErrorBox, PageHead, can_act, role_text, tabbed_page};
use brokers::BrokersTab;
use groups::GroupsTab;
use location::{KafkaLocation, KafkaTab};
use topics::TopicsTab;

/// How to give Triage a Kafka cluster, said when the backend answers that none is configured.
pub const CONFIGURE_HINT: &str =
    "Kafka is not configured: add [kafka] bootstrap = \"host:9092\" to triage.toml.";

#[component]
pub fn Kafka() -> impl IntoView {
    let params = use_params_map();
    let whoami = LocalResource::new(api::whoami);
    let location = Memo::new(move |_| {
        let p = params.read();
        KafkaLocation::parse(p.get("tab").as_deref(), p.get("name").as_deref())
    });
    let tab = Memo::new(move |_| location.get().tab);
    let selected = Memo::new(move |_| location.get().selected);
    let allowed = Signal::derive(move || can_act(whoami.get().and_then(Result::ok).map(|i| i.role)));
    let reader_role =
        Signal::derive(move || crate::widgets::role_label(whoami.get().and_then(Result::ok).map(|i| i.role)));

    let content = move || match tab.get() {
        KafkaTab::Brokers => view! { <BrokersTab /> }.into_any(),
        KafkaTab::Topics => view! { <TopicsTab selected=selected.into() /> }.into_any(),
        KafkaTab::Groups => {
            view! { <GroupsTab selected=selected.into() can_act=allowed role=reader_role /> }.into_any()
        }
    };

    let head = PageHead {
        class: "kafka",
        testid: "page-kafka",
        title: "Kafka",
        picker: "",
        picker_testid: "kafka-picker",
        picked: Signal::stored(None),
        options: Signal::stored(Vec::new()),
        on_pick: Callback::new(|_: String| {}),
        role_testid: "kafka-role",
        role_text: Signal::derive(move || role_text(whoami.get().as_ref())),
        role_title: Signal::stored(
            "Operators may reset a group's offsets (audited, when enabled); everyone may read.".to_owned(),
        ),
        can_act: allowed,
        tabs_label: "Kafka views",
        tab_testid: "kafka-tab-",
        tab: tab.into(),
        tab_href: Callback::new(move |t| KafkaLocation { tab: t, selected: None }.href()),
    };
    tabbed_page(head, content)
}

/// An error of a Kafka route in words; when Kafka is not configured, also how to configure it.
pub fn kafka_error(what: &'static str, e: ApiError) -> AnyView {
    let unconfigured = e.kind == ErrorKind::Unavailable;
    view! {
        <ErrorBox what=what message=e.message />
        {unconfigured.then(|| view! { <p class="muted" data-testid="kafka-configure">{CONFIGURE_HINT}</p> })}
    }
    .into_any()
}

/// One horizontal bar per broker of the partitions it leads, scaled to the busiest, so an
/// imbalance is visible at a glance.
pub fn leaders_chart(testid: &'static str, rows: Vec<(String, u32)>, unit: &'static str) -> impl IntoView {
    bar_chart(testid, rows.into_iter().map(|(l, v)| (l, i64::from(v), None)).collect(), unit)
}

/// A small inline bar chart: `(label, value, note)` rows; a row with a note has no bar and
/// shows the note instead (an unknown value is never drawn as a number).
pub fn bar_chart(
    testid: &'static str,
    rows: Vec<(String, i64, Option<String>)>,
    unit: &'static str,
) -> impl IntoView {
    let max = rows.iter().filter(|r| r.2.is_none()).map(|r| r.1).max().unwrap_or(0).max(1);
    view! {
        <div class="panel kafka-bars" data-testid=testid style="display:grid;grid-template-columns:max-content 1fr max-content;gap:2px 8px;align-items:center;max-width:640px">
            {rows
                .into_iter()
                .map(|(label, value, note)| {
                    let pct = (value.max(0) as f64 / max as f64 * 100.0).clamp(0.0, 100.0);
                    let shown = if note.is_none() { value.to_string() } else { String::new() };
                    let bar = match note {
                        Some(n) => view! { <span class="muted">{n}</span> }.into_any(),
                        None => view! {
                            <svg width="100%" height="10" role="img" aria-label=format!("{label}: {value} {unit}")>
                                <rect x="0" y="0" height="10" width=format!("{pct:.1}%") fill="currentColor" opacity="0.6"></rect>
                            </svg>
                        }
                        .into_any(),
                    };
                    view! {
                        <span>{label.clone()}</span>
                        {bar}
                        <span class="num">{shown}</span>
                    }
                })
                .collect_view()}
        </div>
    }
}
