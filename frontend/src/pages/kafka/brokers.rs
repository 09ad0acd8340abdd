//! The Brokers tab: every broker the metadata lists, probed directly (reachable, latency, the
//! error in words), the controller, rack and leaders; a row opens its API versions.

use leptos::prelude::*;
use triage_shared::kafka::{ConnectionErrorKind, KafkaBroker, KafkaCluster, KafkaProblem};

use super::{kafka_error, leaders_chart};
use crate::api;
use crate::widgets::{Badge, DataTable, Empty, Kubectl, Level, Loading, RefreshControls, keyed_resource};

#[component]
pub fn BrokersTab() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let cluster = keyed_resource(move || reload.get(), |_| api::kafka::cluster());
    let body = move || match cluster.get().map(|(_, r)| r) {
        None => view! { <Loading what="the Kafka cluster" /> }.into_any(),
        Some(Err(e)) => kafka_error("the Kafka cluster", e),
        Some(Ok(c)) => cluster_view(c).into_any(),
    };
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        {body}
    }
}

/// A failed connection in words: what kind of failure, then the client's message.
pub fn problem_text(p: &KafkaProblem) -> String {
    let kind = match p.kind {
        ConnectionErrorKind::Dns => "the host name does not resolve",
        ConnectionErrorKind::Refused => "connection refused",
        ConnectionErrorKind::Timeout => "no answer in time",
        ConnectionErrorKind::Tls => "TLS handshake failed",
        ConnectionErrorKind::Authentication => "SASL authentication failed",
        ConnectionErrorKind::Protocol => "the peer does not speak Kafka",
        ConnectionErrorKind::Other => return p.message.clone(),
    };
    if p.message.is_empty() { kind.to_owned() } else { format!("{kind}: {}", p.message) }
}

fn cluster_view(c: KafkaCluster) -> impl IntoView {
    let expanded = RwSignal::new(None::<i32>);
    let chart = leaders_chart(
        "kafka-broker-leaders",
        c.brokers.iter().map(|b| (format!("broker {}", b.id), b.leaders)).collect(),
        "leaders",
    );
    let empty = c.brokers.is_empty().then(|| view! { <Empty message="The metadata lists no broker." /> });
    let rows = c.brokers.into_iter().map(|b| broker_row(b, expanded)).collect_view();
    // A broker the partitions still name but the metadata dropped gets its row too, in red.
    let missing_rows = c.missing_brokers.iter().map(|id| missing_row(*id)).collect_view();
    let unlisted = (!c.unlisted.is_empty()).then(|| {
        view! {
            <div class="panel warn" data-testid="kafka-unlisted">
                <b>"Bootstrap servers not among the metadata's brokers: "</b>
                <ul>
                    {c.unlisted.into_iter().map(|s| {
                        let state = match (&s.error, s.reachable) {
                            (Some(e), _) => format!("unreachable: {}", problem_text(e)),
                            (None, true) => format!("reachable{}", latency(s.latency_ms)),
                            (None, false) => "unreachable".to_owned(),
                        };
                        view! { <li><code>{s.address}</code>" — "{state}</li> }
                    }).collect_view()}
                </ul>
            </div>
        }
    });
    let missing = (!c.missing_brokers.is_empty()).then(|| {
        let ids = c.missing_brokers.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
        view! {
            <div class="panel warn" data-testid="kafka-missing-brokers">
                {format!("Partitions name broker(s) {ids} as replicas, but the metadata does not list them: down, or removed without reassigning their partitions.")}
            </div>
        }
    });
    let metadata_error = c.metadata_error.map(|e| {
        view! {
            <div class="panel error" role="alert" data-testid="kafka-metadata-error">
                <b>"The cluster's metadata could not be read: "</b>{problem_text(&e)}
            </div>
        }
    });
    let head = format!(
        "Bootstrap {} · cluster {} · controller {}",
        c.bootstrap,
        c.cluster_id.unwrap_or_else(|| "unknown".into()),
        c.controller.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into()),
    );
    view! {
        <Kubectl cmd=c.command />
        <p class="muted" data-testid="kafka-cluster-head">{head}</p>
        {metadata_error}
        {unlisted}
        {missing}
        <DataTable testid="kafka-brokers">
            <thead><tr><th>"ID"</th><th>"Host:port"</th><th>"Rack"</th><th>"Role"</th><th class="num">"Leaders"</th><th>"Reachable"</th><th>"Error"</th></tr></thead>
            <tbody>{rows}{missing_rows}</tbody>
        </DataTable>
        {empty}
        <h2>"Partition leaders per broker"</h2>
        {chart}
    }
}

fn latency(ms: Option<f64>) -> String {
    ms.map(|m| format!(" ({m:.1} ms)")).unwrap_or_default()
}

fn missing_row(id: i32) -> impl IntoView {
    view! {
        <tr data-testid="kafka-broker-row" data-broker=id.to_string() class="crit">
            <td>{id}</td>
            <td class="muted">"—"</td>
            <td class="muted">"—"</td>
            <td></td>
            <td class="num">"0"</td>
            <td><Badge level=Level::Crit text="not in metadata" /></td>
            <td data-testid="kafka-broker-error">
                "Named as a replica, but the cluster's metadata no longer lists it: down, or removed without reassigning its partitions."
            </td>
        </tr>
    }
}

fn broker_row(b: KafkaBroker, expanded: RwSignal<Option<i32>>) -> impl IntoView {
    let id = b.id;
    let toggle = move || expanded.update(|e| *e = if *e == Some(id) { None } else { Some(id) });
    let reach = if b.reachable {
        view! { <Badge level=Level::Ok text=format!("reachable{}", latency(b.latency_ms)) /> }
    } else {
        view! { <Badge level=Level::Crit text="unreachable" /> }
    };
    let error = b.error.as_ref().map(problem_text).unwrap_or_default();
    let versions = b.api_versions;
    let count = versions.len();
    view! {
        <tr
            data-testid="kafka-broker-row"
            data-broker=id.to_string()
            class:crit=!b.reachable
            tabindex="0"
            title=move || if expanded.get() == Some(id) {
                "API versions shown below; click or press Enter to hide them"
            } else {
                "Click or press Enter for the API versions"
            }
            on:click=move |_| toggle()
            on:keydown=move |ev| if ev.key() == "Enter" { toggle() }
        >
            <td>{id}</td>
            <td><code>{format!("{}:{}", b.host, b.port)}</code></td>
            <td>{b.rack.unwrap_or_else(|| "—".into())}</td>
            <td>{b.controller.then(|| view! { <Badge level=Level::Neutral text="controller" /> })}</td>
            <td class="num">{b.leaders}</td>
            <td>{reach}</td>
            <td data-testid="kafka-broker-error">{error}</td>
        </tr>
        {move || (expanded.get() == Some(id)).then(|| {
            let list = if versions.is_empty() {
                view! { <span class="muted">"No API versions (the broker did not answer ApiVersions)."</span> }.into_any()
            } else {
                view! {
                    <ul class="api-versions" style="columns:3;margin:0">
                        {versions.iter().map(|v| view! { <li><code>{format!("{} ({}): {}–{}", v.name, v.api_key, v.min, v.max)}</code></li> }).collect_view()}
                    </ul>
                }.into_any()
            };
            view! { <tr data-testid="kafka-api-versions"><td colspan="7"><b>{format!("{count} APIs")}</b>{list}</td></tr> }
        })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_in_words() {
        let p = KafkaProblem { kind: ConnectionErrorKind::Refused, message: "kafka-2:9092".into() };
        assert_eq!(problem_text(&p), "connection refused: kafka-2:9092");
        let other = KafkaProblem { kind: ConnectionErrorKind::Other, message: "odd".into() };
        assert_eq!(problem_text(&other), "odd");
    }
}
