//! The Consumer groups tab: every group with its state, members, total lag and the partitions
//! whose lag is unknown; a selected group (`/kafka/groups/<id>`) shows its members and
//! assignments, the per-partition lag (an unknown lag is said in words, never as a number), the
//! lag over time from Prometheus when the metric exists, the time to catch up at the current
//! rates (see [`super::catch_up`]) and the guarded offset reset.

use leptos::prelude::*;
use triage_shared::kafka::{GroupPartitionLag, KafkaGroup, KafkaGroupList, KafkaMember, LagState};
use triage_shared::prom::QueryResult;
use triage_shared::{ApiError, ErrorKind};

use super::catch_up::{self, CatchUp, LagReads, Source};
use super::location::{KafkaLocation, KafkaTab};
use super::reset::ResetDialog;
use super::{bar_chart, kafka_error};
use crate::api;
use crate::chart::{Chart, ChartState, Unit};
use crate::format::text::{matches_filter, promql_string};
use crate::format::time::now_unix;
use crate::widgets::{
    Badge, DataTable, Empty, FilterInput, Kubectl, Level, Loading, RefreshControls, keyed_resource,
};

/// The level of a group's state as the broker names it.
pub fn state_level(state: &str) -> Level {
    match state {
        "Stable" => Level::Ok,
        "Empty" => Level::Neutral,
        "Dead" => Level::Crit,
        _ => Level::Warn,
    }
}

/// A partition's lag in words when it is not a number.
pub fn lag_text(p: &GroupPartitionLag) -> (String, Level) {
    match p.state {
        LagState::Known => (p.lag.map(|l| l.to_string()).unwrap_or_default(), Level::Neutral),
        LagState::NoCommit => ("no committed offset".to_owned(), Level::Neutral),
        LagState::NoEndOffset => {
            (p.error.clone().unwrap_or_else(|| "end offset unavailable".to_owned()), Level::Warn)
        }
        LagState::Negative => ("committed past log end".to_owned(), Level::Warn),
    }
}

/// The lag-over-time query of a group (its total lag), its id escaped as a PromQL string.
pub fn lag_query(group: &str) -> String {
    format!("sum(kafka_consumer_lag{{group={}}})", promql_string(group))
}

/// How far back the lag over time goes, and its step, in seconds.
const LAG_HISTORY_SECS: f64 = 1800.0;
const LAG_HISTORY_STEP: f64 = 10.0;

/// The lag over time as fetched for one reload of the page.
type LagHistory = LocalResource<(u32, Result<QueryResult, ApiError>)>;

#[component]
pub fn GroupsTab(
    selected: Signal<Option<String>>,
    can_act: Signal<bool>,
    role: Signal<&'static str>,
) -> impl IntoView {
    move || match selected.get() {
        Some(id) => view! { <GroupDetail id=id can_act=can_act role=role /> }.into_any(),
        None => view! { <GroupList /> }.into_any(),
    }
}

#[component]
fn GroupList() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    let list = keyed_resource(move || reload.get(), |_| api::kafka::groups());
    let body = move || match list.get().map(|(_, r)| r) {
        None => view! { <Loading what="the consumer groups" /> }.into_any(),
        Some(Err(e)) => kafka_error("the consumer groups", e),
        Some(Ok(l)) => group_list_view(l, filter).into_any(),
    };
    view! {
        <div class="toolbar">
            <FilterInput testid="kafka-group-filter" label="Filter groups" placeholder="filter groups" value=filter />
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        {body}
    }
}

fn group_list_view(l: KafkaGroupList, filter: RwSignal<String>) -> impl IntoView {
    if l.groups.is_empty() {
        return view! { <Empty message="no consumer groups" /> }.into_any();
    }
    let truncated = l.truncated.then(|| {
        view! { <p class="muted" data-testid="kafka-groups-truncated">{format!("More groups exist; the first {} by name are listed.", l.groups.len())}</p> }
    });
    let groups = l.groups;
    let rows = move || {
        let needle = filter.get();
        groups
            .iter()
            .filter(|g| matches_filter(&[&g.id, &g.state], &needle))
            .map(|g| {
                let href = KafkaLocation { tab: KafkaTab::Groups, selected: Some(g.id.clone()) }.href();
                let unknown = (g.partitions_unknown > 0).then(|| {
                    view! { <Badge level=Level::Warn text=format!("{} unknown", g.partitions_unknown) title="Partitions without a known lag (no commit, no end offset, or committed past the log end)" /> }
                });
                view! {
                    <tr data-testid="kafka-group-row" data-group=g.id.clone()>
                        <td><a href=href data-noscroll>{g.id.clone()}</a></td>
                        <td><Badge level=state_level(&g.state) text=g.state.clone() /></td>
                        <td class="num">{g.members}</td>
                        <td class="num" data-testid="kafka-total-lag">{g.total_lag.map(|l| l.to_string()).unwrap_or_else(|| "unknown".into())}</td>
                        <td>{unknown}</td>
                        <td data-testid="kafka-row-error">{g.error.clone().unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <DataTable testid="kafka-groups">
            <thead><tr><th>"Group"</th><th>"State"</th><th class="num">"Members"</th><th class="num">"Total lag"</th><th>"Unknown"</th><th>"Error"</th></tr></thead>
            <tbody>{rows}</tbody>
        </DataTable>
        {truncated}
    }
    .into_any()
}

#[component]
fn GroupDetail(id: String, can_act: Signal<bool>, role: Signal<&'static str>) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let key = id.clone();
    let group = keyed_resource(
        move || (key.clone(), reload.get()),
        |(g, _)| async move { api::kafka::group(&g).await },
    );
    let query = lag_query(&id);
    let history_query = query.clone();
    let history: LagHistory = keyed_resource(
        move || reload.get(),
        move |_| {
            let q = history_query.clone();
            async move {
                let end = now_unix();
                api::prom::query_range(&q, end - LAG_HISTORY_SECS, end, LAG_HISTORY_STEP).await
            }
        },
    );
    let cluster = LocalResource::new(api::kafka::cluster);
    let reset_enabled =
        Signal::derive(move || cluster.get().map(|r| r.map(|c| c.reset_enabled).map_err(|e| e.message)));
    // Held here, not in the group's view, so the dialog and its outcome outlive the reload
    // that follows a reset.
    let open = RwSignal::new(false);
    // The last two reads of the group's total lag, for the estimate when Prometheus has none.
    let reads = RwSignal::new(LagReads::default());
    Effect::new(move |_| {
        if let Some(((_, n), Ok(g))) = group.get() {
            let at = now_unix();
            // Lag read across an offset reset (the dialog reloads the group) is not a rate.
            let across_reset = open.get_untracked();
            reads.update(|r| r.push(n, at, g.total_lag, across_reset));
        }
    });
    let estimate = Signal::derive(move || {
        let from_prometheus = history.get().and_then(|(_, r)| r.ok()).and_then(|r| {
            r.series.first().and_then(|s| catch_up::from_series(&s.points)).map(|c| (c, Source::Prometheus))
        });
        from_prometheus.or_else(|| reads.get().estimate())
    });
    let body = move || match group.get().map(|(_, r)| r) {
        None => view! { <Loading what="the consumer group" /> }.into_any(),
        Some(Err(e)) => kafka_error("the consumer group", e),
        Some(Ok(g)) => group_view(g, can_act, role, reset_enabled, open, estimate).into_any(),
    };
    let dialog_group = id.clone();
    let dialog = move || {
        open.get().then(|| {
            let topics =
                group.get_untracked().and_then(|(_, r)| r.ok()).map(|g| group_topics(&g)).unwrap_or_default();
            view! { <ResetDialog group=dialog_group.clone() topics=topics open=open reload=reload /> }
        })
    };
    let back = KafkaLocation { tab: KafkaTab::Groups, selected: None }.href();
    view! {
        <div class="toolbar">
            <a href=back data-testid="kafka-back" data-noscroll>"← All groups"</a>
            <h2 data-testid="kafka-group-name">{id}</h2>
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        {body}
        {dialog}
        <LagOverTime query=query history=history />
    }
}

fn group_view(
    g: KafkaGroup,
    can_act: Signal<bool>,
    role: Signal<&'static str>,
    reset_enabled: Signal<Option<Result<bool, String>>>,
    open: RwSignal<bool>,
    estimate: Signal<Option<(CatchUp, Source)>>,
) -> impl IntoView {
    let group_error = g.error.clone().map(|e| {
        view! { <div class="panel error" role="alert" data-testid="kafka-group-error">{e}</div> }
    });
    let head = format!(
        "{} · {} {} · {} members · total lag {}",
        g.state,
        g.protocol_type,
        g.protocol,
        g.members.len(),
        g.total_lag.map(|l| l.to_string()).unwrap_or_else(|| "unknown".into())
    );
    let members = if g.members.is_empty() {
        view! { <Empty message="no active members" /> }.into_any()
    } else {
        let rows = g.members.into_iter().map(member_row).collect_view();
        view! {
            <DataTable testid="kafka-members">
                <thead><tr><th>"Member"</th><th>"Client id"</th><th>"Host"</th><th>"Assigned partitions"</th></tr></thead>
                <tbody>{rows}</tbody>
            </DataTable>
        }
        .into_any()
    };
    let bars = bar_chart(
        "kafka-lag-bars",
        g.partitions
            .iter()
            .map(|p| {
                let note = (p.state != LagState::Known).then(|| lag_text(p).0);
                (format!("{}/{}", p.topic, p.partition), p.lag.unwrap_or(0), note)
            })
            .collect(),
        "messages behind",
    );
    let partitions = if g.partitions.is_empty() {
        view! { <Empty message="The group has no committed or assigned partitions." /> }.into_any()
    } else {
        let rows = g.partitions.into_iter().map(partition_row).collect_view();
        view! {
            <DataTable testid="kafka-group-partitions">
                <thead><tr><th>"Topic"</th><th class="num">"Partition"</th><th class="num">"Committed"</th><th class="num">"End"</th><th class="num">"Lag"</th><th>"Owner"</th><th>"Error"</th></tr></thead>
                <tbody>{rows}</tbody>
            </DataTable>
        }
        .into_any()
    };
    let reset = move || {
        let why_not = match (reset_enabled.get(), can_act.get()) {
            (_, false) => Some(format!("Offset reset: operators only; you are a {}.", role.get())),
            (Some(Ok(false)), true) => Some(
                "The offset reset is disabled in this Triage's configuration ([kafka] reset_enabled)."
                    .to_owned(),
            ),
            (Some(Err(e)), true) => Some(format!("Cannot tell whether the offset reset is enabled: {e}")),
            (None, true) => Some("Checking whether the offset reset is enabled…".to_owned()),
            (Some(Ok(true)), true) => None,
        };
        match why_not {
            Some(why) => view! {
                <p class="muted" data-testid="kafka-reset-unavailable">
                    <button disabled=true title=why.clone()>"Reset offsets…"</button>" "{why}
                </p>
            }
            .into_any(),
            None => view! {
                <p><button data-testid="kafka-reset-open" on:click=move |_| open.set(true)>"Reset offsets…"</button></p>
            }
            .into_any(),
        }
    };
    view! {
        <Kubectl cmd=g.command />
        {group_error}
        <p class="muted" data-testid="kafka-group-head">{head}</p>
        {move || catch_up_line(estimate.get())}
        {reset}
        <h3>"Members"</h3>
        {members}
        <h3>"Lag per partition"</h3>
        {partitions}
        {bars}
    }
}

/// The topics a group has committed to or is assigned, sorted, each once.
pub fn group_topics(g: &KafkaGroup) -> Vec<String> {
    let mut topics: Vec<String> = g.partitions.iter().map(|p| p.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    topics
}

fn member_row(m: KafkaMember) -> impl IntoView {
    let assignment = match m.assignment {
        Some(list) if list.is_empty() => "none".to_owned(),
        Some(list) => {
            list.iter().map(|a| format!("{}/{}", a.topic, a.partition)).collect::<Vec<_>>().join(", ")
        }
        None => match m.assignment_error {
            Some(e) => format!("assignment not reported by the broker ({e})"),
            None => "assignment not reported by the broker".to_owned(),
        },
    };
    view! {
        <tr data-testid="kafka-member-row">
            <td><code>{m.member_id}</code></td>
            <td>{if m.client_id.is_empty() { "—".to_owned() } else { m.client_id }}</td>
            <td>{m.host}</td>
            <td data-testid="kafka-member-assignment">{assignment}</td>
        </tr>
    }
}

fn partition_row(p: GroupPartitionLag) -> impl IntoView {
    let (text, level) = lag_text(&p);
    let lag = match p.state {
        LagState::Known => view! { <span>{text}</span> }.into_any(),
        LagState::Negative => view! { <Badge level=Level::Warn text=text title="The committed offset is past the log end the broker reports" /> }.into_any(),
        _ => view! { <span class=level.badge()>{text}</span> }.into_any(),
    };
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "—".into());
    view! {
        <tr data-testid="kafka-lag-row" data-partition=p.partition.to_string() data-state=format!("{:?}", p.state)>
            <td>{p.topic}</td>
            <td class="num">{p.partition}</td>
            <td class="num">{opt(p.committed)}</td>
            <td class="num">{opt(p.end_offset)}</td>
            <td class="num" data-testid="kafka-lag">{lag}</td>
            <td>{p.owner.unwrap_or_else(|| "—".into())}</td>
            <td data-testid="kafka-row-error">{if p.state == LagState::NoEndOffset { String::new() } else { p.error.unwrap_or_default() }}</td>
        </tr>
    }
}

/// The catch-up estimate in words and where it came from; without one, how to get one.
fn catch_up_line(estimate: Option<(CatchUp, Source)>) -> impl IntoView {
    match estimate {
        Some((c, source)) => {
            let rising = matches!(c, CatchUp::Rising { .. });
            let kind = match source {
                Source::Prometheus => "prometheus",
                Source::Reads { .. } => "reads",
            };
            view! {
                <p data-testid="kafka-catch-up" data-source=kind>
                    {if rising {
                        view! { <strong>{catch_up::text(c)}</strong> }.into_any()
                    } else {
                        view! { <span>{catch_up::text(c)}</span> }.into_any()
                    }}
                    <span class="muted">" · "{catch_up::source_text(source)}</span>
                </p>
            }
            .into_any()
        }
        None => view! {
            <p class="muted" data-testid="kafka-catch-up-pending">
                "Time to catch up: not enough lag history yet; refresh (or turn on auto-refresh) to estimate it from two reads of the group."
            </p>
        }
        .into_any(),
    }
}

/// The group's total lag over the last half hour from Prometheus, when the exporter's metric
/// exists; without it (or without Prometheus) a sentence, not an error panel.
#[component]
fn LagOverTime(query: String, history: LagHistory) -> impl IntoView {
    let body = move || {
        match history.get().map(|(_, r)| r) {
        None => view! { <Loading what="the lag over time" /> }.into_any(),
        Some(Err(e)) if e.kind == ErrorKind::Unavailable => no_series(Some(e.message)).into_any(),
        Some(Err(e)) => view! {
            <p class="muted" data-testid="kafka-lag-history-error">{format!("Lag over time unavailable: {}", e.message)}</p>
        }
        .into_any(),
        Some(Ok(r)) if r.series.iter().all(|s| s.points.is_empty()) => no_series(None).into_any(),
        Some(Ok(r)) => {
            let state = Signal::derive(move || ChartState::Ready(r.series.clone()));
            view! { <div class="panel"><Chart state=state unit=Unit::Plain height=200 testid="kafka-lag-chart" /></div> }.into_any()
        }
    }
    };
    view! {
        <h3>"Lag over time"</h3>
        <p class="muted"><code data-testid="kafka-lag-query">{query}</code>" · last 30 min"</p>
        {body}
    }
}

/// No lag series for the group, and why when Prometheus said (e.g. it is not configured).
fn no_series(why: Option<String>) -> impl IntoView {
    view! {
        <p class="muted" data-testid="kafka-lag-history-empty">
            "No "<code>"kafka_consumer_lag"</code>" series for this group in Prometheus"
            {why.map(|w| format!(": {w}"))}
            "."
        </p>
    }
}
