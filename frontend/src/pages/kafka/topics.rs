//! The Topics tab: every topic with partitions, replication factor, under-replicated and
//! leaderless counts, the leaders per broker; a selected topic (`/kafka/topics/<name>`) shows its
//! partitions: leader, replicas, ISR with the missing replicas marked, the end offset or the
//! row's error.

use leptos::prelude::*;
use triage_shared::kafka::{KafkaPartition, KafkaTopic, KafkaTopicList, PartitionOffset};

use super::location::{KafkaLocation, KafkaTab};
use super::{kafka_error, leaders_chart};
use crate::api;
use crate::format::text::matches_filter;
use crate::widgets::{
    Badge, DataTable, Empty, FilterInput, Kubectl, Level, Loading, RefreshControls, keyed_resource,
};

/// What the guide warns before anyone changes a topic's partitions.
pub const PARTITION_WARNING: &str = "The partition count can be increased but never decreased.";

#[component]
pub fn TopicsTab(selected: Signal<Option<String>>) -> impl IntoView {
    move || match selected.get() {
        Some(name) => view! { <TopicDetail name=name /> }.into_any(),
        None => view! { <TopicList /> }.into_any(),
    }
}

#[component]
fn TopicList() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    let list = keyed_resource(move || reload.get(), |_| api::kafka::topics());
    let body = move || match list.get().map(|(_, r)| r) {
        None => view! { <Loading what="the topics" /> }.into_any(),
        Some(Err(e)) => kafka_error("the topics", e),
        Some(Ok(l)) => topic_list_view(l, filter).into_any(),
    };
    view! {
        <div class="toolbar">
            <FilterInput testid="kafka-topic-filter" label="Filter topics" placeholder="filter topics" value=filter />
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        {body}
    }
}

fn topic_list_view(l: KafkaTopicList, filter: RwSignal<String>) -> impl IntoView {
    if l.topics.is_empty() {
        return view! { <Empty message="no topics" /> }.into_any();
    }
    let chart = leaders_chart(
        "kafka-topic-leaders",
        l.leaders_per_broker.iter().map(|b| (format!("broker {}", b.broker), b.leaders)).collect(),
        "leaders",
    );
    let topics = l.topics;
    let rows = move || {
        let needle = filter.get();
        topics
            .iter()
            .filter(|t| matches_filter(&[&t.name], &needle))
            .map(|t| {
                let href = KafkaLocation { tab: KafkaTab::Topics, selected: Some(t.name.clone()) }.href();
                let under = (t.under_replicated > 0).then(|| {
                    view! { <Badge level=Level::Warn text=format!("{} under-replicated", t.under_replicated) /> }
                });
                let leaderless = (t.leaderless > 0).then(|| {
                    view! { <Badge level=Level::Crit text=format!("{} without leader", t.leaderless) /> }
                });
                view! {
                    <tr data-testid="kafka-topic-row" data-topic=t.name.clone()>
                        <td><a href=href data-noscroll>{t.name.clone()}</a></td>
                        <td class="num">{t.partitions}</td>
                        <td class="num">{t.replication_factor}</td>
                        <td>{under}" "{leaderless}</td>
                        <td data-testid="kafka-row-error">{t.error.clone().unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <DataTable testid="kafka-topics">
            <thead><tr><th>"Topic"</th><th class="num">"Partitions"</th><th class="num">"RF"</th><th>"Health"</th><th>"Error"</th></tr></thead>
            <tbody>{rows}</tbody>
        </DataTable>
        <h3>"Partition leaders per broker"</h3>
        {chart}
    }
    .into_any()
}

#[component]
fn TopicDetail(name: String) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let key = name.clone();
    let topic = keyed_resource(
        move || (key.clone(), reload.get()),
        |(n, _)| async move { api::kafka::topic(&n).await },
    );
    let body = move || match topic.get().map(|(_, r)| r) {
        None => view! { <Loading what="the topic" /> }.into_any(),
        Some(Err(e)) => kafka_error("the topic", e),
        Some(Ok(t)) => topic_view(t).into_any(),
    };
    let back = KafkaLocation { tab: KafkaTab::Topics, selected: None }.href();
    view! {
        <div class="toolbar">
            <a href=back data-testid="kafka-back" data-noscroll>"← All topics"</a>
            <h2 data-testid="kafka-topic-name">{name}</h2>
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        {body}
    }
}

fn topic_view(t: KafkaTopic) -> impl IntoView {
    let chart = leaders_chart(
        "kafka-topic-leaders",
        t.leaders_per_broker.iter().map(|b| (format!("broker {}", b.broker), b.leaders)).collect(),
        "leaders",
    );
    let count = t.partitions.len();
    let offsets = t.end_offsets;
    let rows = t
        .partitions
        .into_iter()
        .map(|p| {
            let offset = offsets.iter().find(|o| o.partition == p.id).cloned();
            partition_row(p, offset)
        })
        .collect_view();
    view! {
        <Kubectl cmd=t.command />
        <p class="panel warn" data-testid="kafka-partition-warning">{PARTITION_WARNING}</p>
        <p class="muted" data-testid="kafka-partition-count">{format!("{count} partitions")}</p>
        <DataTable testid="kafka-partitions">
            <thead><tr><th class="num">"Partition"</th><th>"Leader"</th><th>"Replicas"</th><th>"ISR"</th><th class="num">"End offset"</th><th>"Error"</th></tr></thead>
            <tbody>{rows}</tbody>
        </DataTable>
        <h3>"Leaders of this topic per broker"</h3>
        {chart}
    }
}

fn partition_row(p: KafkaPartition, offset: Option<PartitionOffset>) -> impl IntoView {
    let leader = match p.leader {
        Some(l) => view! { <span>{l}</span> }.into_any(),
        None => view! { <Badge level=Level::Crit text="no leader" /> }.into_any(),
    };
    let replicas = p.replicas.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
    let isr = p
        .replicas
        .iter()
        .map(|r| {
            let in_sync = p.isr.contains(r);
            view! {
                <span
                    class:badge=!in_sync
                    class:crit=!in_sync
                    title=if in_sync { "in sync" } else { "replica not in sync" }
                    data-testid=if in_sync { "kafka-isr" } else { "kafka-isr-missing" }
                >{r.to_string()}</span>
                " "
            }
        })
        .collect_view();
    let (end, offset_error) = match offset {
        Some(PartitionOffset { offset: Some(o), .. }) => (o.to_string(), None),
        Some(PartitionOffset { error, .. }) => ("—".to_owned(), error),
        None => ("—".to_owned(), None),
    };
    let error = [p.error, offset_error].into_iter().flatten().collect::<Vec<_>>().join("; ");
    let troubled = p.leader.is_none() || p.under_replicated;
    view! {
        <tr data-testid="kafka-partition-row" data-partition=p.id.to_string() class:warn=troubled>
            <td class="num">{p.id}</td>
            <td data-testid="kafka-partition-leader">{leader}</td>
            <td>{replicas}</td>
            <td>{isr}</td>
            <td class="num" data-testid="kafka-end-offset">{end}</td>
            <td data-testid="kafka-row-error">{error}</td>
        </tr>
    }
}
