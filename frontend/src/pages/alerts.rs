//! The Alerts page: firing and pending alerts from the Prometheus of every environment, merged
//! into one table per state with an Environment column, each linked to the flow that answers it
//! in that alert's environment (its `runbook_url` when that points at this Triage, otherwise the
//! runbooks that list its name). Each environment's alerts join the table as its own answer
//! arrives; one whose Prometheus is slow shows "asking…", one that fails says so and keeps its
//! previous answer, and neither holds back any other. Reloads every 15 s and says how fresh it is.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;
use triage_shared::prom::Alert;
use triage_shared::runbook::RunbookSummary;

use crate::api;
use crate::env::{colours, href, href_in};
use crate::env_alerts::{EnvSlot, SlotState, use_env_alerts};
use crate::format::duration::ago;
use crate::format::time::{now_unix, parse_unix};
use crate::pages::runbooks::location::start_href;
use crate::widgets::{Badge, Empty, ErrorBox, Level, Loading, RefreshButton, bump};

const REFRESH_SECS: u64 = 15;

fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// One alert and the environment it fired in (`None`: the environments are unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvAlert {
    pub env: Option<String>,
    pub colour: Option<String>,
    pub alert: Alert,
}

/// Every environment's last good alerts as one list, each tagged with its environment.
pub fn flatten(slots: &[EnvSlot]) -> Vec<EnvAlert> {
    slots
        .iter()
        .flat_map(|slot| {
            slot.alerts.iter().flatten().map(|a| EnvAlert {
                env: slot.env.clone(),
                colour: slot.colour.clone(),
                alert: a.clone(),
            })
        })
        .collect()
}

/// When the page's answer as a whole was current: the oldest of the environments' latest
/// finished requests (so "updated 3 s ago" means every environment was asked at most 3 s ago).
pub fn updated_at(slots: &[EnvSlot]) -> Option<f64> {
    slots.iter().filter_map(|s| s.finished_at).reduce(f64::min)
}

#[component]
pub fn Alerts() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    // Each environment's alerts fill in as its own answer arrives; a refresh asks again every
    // environment whose last request has finished.
    let slots = use_env_alerts(Some(reload));
    // The runbooks change rarely; a failure only loses the name-based links.
    let runbooks = LocalResource::new(api::runbooks::runbooks);
    let now = RwSignal::new(now_unix());

    let tick = set_interval_with_handle(move || now.set(now_unix()), Duration::from_secs(1)).ok();
    let refresh =
        set_interval_with_handle(move || reload.update(bump), Duration::from_secs(REFRESH_SECS)).ok();
    on_cleanup(move || {
        if let Some(h) = tick {
            h.clear();
        }
        if let Some(h) = refresh {
            h.clear();
        }
    });

    // An unchanged answer only moves the "updated" time, so the table is not rebuilt under the
    // reader's pointer.
    let list = Memo::new(move |_| slots.with(|s| flatten(s)));
    let answered_any = Memo::new(move |_| slots.with(|s| s.iter().any(|s| s.alerts.is_some())));
    let all_failed = Memo::new(move |_| {
        slots.with(|s| {
            (!s.is_empty() && s.iter().all(|s| s.alerts.is_none() && s.error.is_some())).then(|| {
                s.iter()
                    .map(|s| format!("{}: {}", s.name(), s.error.clone().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
    });
    let books = move || runbooks.get().and_then(Result::ok).unwrap_or_default();
    let freshness = move || {
        slots.with(|s| updated_at(s)).map(|at| {
            view! {
                <span class="small muted" data-testid="alerts-updated">
                    {format!("updated {} ago · every {REFRESH_SECS} s", ago(now.get() - at))}
                </span>
            }
        })
    };

    let content = move || {
        if !answered_any.get() {
            return match all_failed.get() {
                Some(e) => view! { <ErrorBox what="the alerts" message=e /> }.into_any(),
                None => view! { <Loading what="the alerts" /> }.into_any(),
            };
        }
        let mut list = list.get();
        if list.is_empty() {
            return view! { <Empty message="No alert is firing or pending. Prometheus evaluates its rules on its own schedule; this page reloads every 15 s." /> }.into_any();
        }
        sort_env_alerts(&mut list);
        let books = books();
        let origin = origin();
        let (firing, pending): (Vec<EnvAlert>, Vec<EnvAlert>) =
            list.into_iter().partition(|a| a.alert.state == "firing");
        view! {
            <AlertGroup state="firing" title="Firing" alerts=firing books=books.clone() origin=origin.clone() now=now />
            <AlertGroup state="pending" title="Pending" alerts=pending books=books origin=origin now=now />
        }
        .into_any()
    };

    view! {
        <section data-testid="page-alerts">
            <div class="page-head">
                <h1>"Alerts"</h1>
                {freshness}
                <span class="spacer"></span>
                <RefreshButton reload=reload />
            </div>
            {move || (slots.with(Vec::len) > 1).then(|| view! { <EnvStrip slots=slots /> })}
            {move || {
                let failed: Vec<(String, String)> = slots.with(|s| {
                    s.iter().filter_map(|s| s.error.clone().map(|e| (s.name(), e))).collect()
                });
                (answered_any.get() && !failed.is_empty()).then(|| view! {
                    <div class="panel error state-msg" role="alert" data-testid="alerts-env-error">
                        {failed.into_iter().map(|(env, e)| view! {
                            <div data-env=env.clone()>{format!("{env}: the alerts could not be read ({e}). Its previous answer, if any, is still shown.")}</div>
                        }).collect_view()}
                    </div>
                })
            }}
            {move || runbooks.get().and_then(Result::err).map(|e| view! {
                <p class="small warn-text">{format!("The runbooks could not be loaded ({}); alerts link only through their runbook_url.", e.message)}</p>
            })}
            {content}
        </section>
    }
}

/// Where each environment's answer stands: its count once in, "asking…" while its first answer is
/// out, "unavailable" when its last request failed.
#[component]
fn EnvStrip(slots: RwSignal<Vec<EnvSlot>>) -> impl IntoView {
    let chip = |slot: &EnvSlot| {
        let (swatch, _) = colours(slot.colour.as_deref().unwrap_or(""));
        let state = slot.state();
        let text = match state {
            SlotState::Asking => "asking…".to_owned(),
            SlotState::Failed => "unavailable".to_owned(),
            SlotState::Answered => {
                let (f, p) = (slot.count("firing"), slot.count("pending"));
                if p > 0 { format!("{f} firing · {p} pending") } else { format!("{f} firing") }
            }
        };
        let class = match state {
            SlotState::Asking => "muted",
            SlotState::Failed => "error",
            SlotState::Answered if slot.count("firing") > 0 => "crit-text",
            SlotState::Answered => "ok-text",
        };
        let link = slot.env.as_deref().map_or_else(|| href("/alerts"), |e| href_in("/alerts", e));
        view! {
            <li data-testid="alerts-env-status" data-env=slot.name() data-state=state.as_str()>
                <a href=link><span class="swatch" aria-hidden="true" style:background=swatch></span>" "{slot.name()}</a>
                " "<span class=class>{text}</span>
            </li>
        }
    };
    view! {
        <ul class="env-strip small" aria-label="Each environment's answer">
            {move || slots.with(|s| s.iter().map(chip).collect_view())}
        </ul>
    }
}

#[component]
fn AlertGroup(
    state: &'static str,
    title: &'static str,
    alerts: Vec<EnvAlert>,
    books: Vec<RunbookSummary>,
    origin: String,
    now: RwSignal<f64>,
) -> impl IntoView {
    if alerts.is_empty() {
        return ().into_any();
    }
    let count = alerts.len();
    view! {
        <section class="alert-group" data-testid=format!("alerts-{state}")>
            <h2 class="section-title">{format!("{title} ({count})")}</h2>
            <div class="table-wrap panel flush">
                <table class="data alerts-table">
                    <thead><tr><th>"Environment"</th><th>"Alert"</th><th>"Severity"</th><th>"Labels"</th><th>"Active since"</th><th>"Flow"</th></tr></thead>
                    <tbody>
                        {alerts.into_iter().map(|a| view! { <AlertRow alert=a books=books.clone() origin=origin.clone() now=now /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn AlertRow(
    alert: EnvAlert,
    books: Vec<RunbookSummary>,
    origin: String,
    now: RwSignal<f64>,
) -> impl IntoView {
    let EnvAlert { env, colour, alert } = alert;
    let name = alert.labels.get("alertname").cloned().unwrap_or_else(|| "(unnamed)".to_owned());
    let severity = alert.labels.get("severity").cloned().unwrap_or_else(|| "none".to_owned());
    // Each row's links lead to its own environment, whatever the page's is.
    let links: Vec<FlowLink> = alert_flow_links(&alert, &books, &origin)
        .into_iter()
        .map(|l| FlowLink {
            href: match &env {
                Some(env) => href_in(&l.href, env),
                None => href(&l.href),
            },
            ..l
        })
        .collect();
    let (swatch, _) = colours(colour.as_deref().unwrap_or(""));
    let env_text = env.clone().unwrap_or_else(|| "—".to_owned());
    let external = external_runbook_url(&alert, &origin);
    let since = alert.active_at.as_deref().map(parse_unix).filter(|t| t.is_finite());
    let since_title = alert.active_at.clone().unwrap_or_default();
    let summary = alert.annotations.get("summary").cloned();
    let description = alert.annotations.get("description").cloned();
    let labels: Vec<(String, String)> = alert
        .labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (attr_name, attr_state, attr_env) =
        (name.clone(), alert.state.clone(), env.clone().unwrap_or_default());
    view! {
        <tr data-testid="alert-row" data-alert=attr_name data-state=attr_state data-env=attr_env>
            <td class="nowrap" data-testid="alert-env">
                <span class="swatch" aria-hidden="true" style:background=swatch></span>" "{env_text}
            </td>
            <td>
                <div class="name">{name}</div>
                {summary.map(|s| view! { <div class="small">{s}</div> })}
                {description.map(|d| view! { <div class="small muted">{d}</div> })}
                {alert.value.clone().map(|v| view! { <div class="small muted">{format!("value {}", readable_value(&v))}</div> })}
            </td>
            <td><Badge level=severity_level(&severity) text=severity.clone() /></td>
            <td class="annotations">
                {labels.into_iter().map(|(k, v)| view! { <code class="label">{format!("{k}={v}")}</code>" " }).collect_view()}
            </td>
            <td class="nowrap" title=since_title>
                {move || since.map(|t| format!("{} ago", ago(now.get() - t))).unwrap_or_else(|| "—".to_owned())}
            </td>
            <td>
                {if links.is_empty() {
                    view! { <span class="muted small" data-testid="no-flow">"no flow lists this alert"</span> }.into_any()
                } else {
                    links.into_iter().map(|l| view! {
                        <div><A href=l.href attr:data-testid="alert-flow-link">{format!("{} →", l.title)}</A></div>
                    }).collect_view().into_any()
                }}
                {external.map(|u| view! { <div class="small"><a href=u rel="noopener noreferrer" target="_blank">"runbook ↗"</a></div> })}
            </td>
        </tr>
    }
}

/// Prometheus prints values like `1.0308901270153733e+01`; show `10.31`.
fn readable_value(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() >= 1e-3 && v.abs() < 1e12 => {
            let s = format!("{v:.2}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        _ => text.to_owned(),
    }
}

/// Label names that carry a parameter's value when an alert's labels are mapped onto a flow,
/// the parameter's own name first.
fn label_aliases(param: &str) -> &'static [&'static str] {
    match param {
        "consumer_group" => &["consumergroup", "group"],
        "deployment" => &["service", "app"],
        _ => &[],
    }
}

/// Where an alert's "open flow" link goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLink {
    pub title: String,
    /// A path inside Triage, with the query string.
    pub href: String,
}

/// The flows an alert leads to. Its `runbook_url` wins when it points at this Triage (a relative
/// path, or an absolute URL of `origin`); otherwise every runbook that lists the alert's name,
/// with the alert's labels as parameters (by name, or by a known alias such as `group`).
pub fn alert_flow_links(alert: &Alert, runbooks: &[RunbookSummary], origin: &str) -> Vec<FlowLink> {
    if let Some(url) = alert.annotations.get("runbook_url").map(|u| u.trim()) {
        let path = if url.starts_with('/') && !url.starts_with("//") {
            Some(url)
        } else {
            url.strip_prefix(origin).filter(|rest| rest.starts_with('/'))
        };
        if let Some(path) = path {
            let id = path.trim_start_matches("/runbooks/").split(['?', '/', '#']).next().unwrap_or_default();
            let title = runbooks
                .iter()
                .find(|r| path.starts_with("/runbooks/") && r.id == id)
                .map_or_else(|| "Open in Triage".to_owned(), |r| r.title.clone());
            return vec![FlowLink { title, href: path.to_owned() }];
        }
    }
    let Some(name) = alert.labels.get("alertname") else { return Vec::new() };
    runbooks
        .iter()
        .filter(|r| r.alerts.iter().any(|a| a == name))
        .map(|r| {
            let values: Vec<(&str, &str)> = r
                .params
                .iter()
                .filter_map(|p| {
                    std::iter::once(p.name.as_str())
                        .chain(label_aliases(&p.name).iter().copied())
                        .find_map(|label| alert.labels.get(label))
                        .map(|v| (p.name.as_str(), v.as_str()))
                })
                .collect();
            FlowLink { title: r.title.clone(), href: start_href(&r.id, &values) }
        })
        .collect()
}

/// `runbook_url` when it leads somewhere other than this Triage (a wiki page), to show as well.
pub fn external_runbook_url(alert: &Alert, origin: &str) -> Option<String> {
    let url = alert.annotations.get("runbook_url")?.trim();
    let ours = (url.starts_with('/') && !url.starts_with("//"))
        || url.strip_prefix(origin).is_some_and(|r| r.starts_with('/'));
    (!ours && (url.starts_with("https://") || url.starts_with("http://"))).then(|| url.to_owned())
}

/// The severity badge of an alert (`critical`, `warning`, anything else neutral).
pub fn severity_level(severity: &str) -> Level {
    match severity {
        "critical" | "page" | "error" => Level::Crit,
        "warning" | "warn" => Level::Warn,
        "info" | "none" => Level::Neutral,
        _ => Level::Neutral,
    }
}

/// Firing before pending; within a state, critical first, then by name, then by environment.
pub fn sort_env_alerts(alerts: &mut [EnvAlert]) {
    alerts.sort_by_key(|a| (alert_rank(&a.alert), a.env.clone()));
}

/// Firing before pending; within a state, critical first, then by name.
pub fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by_key(alert_rank);
}

fn alert_rank(a: &Alert) -> (u8, u8, String) {
    let state = if a.state == "firing" { 0 } else { 1 };
    let severity = match a.labels.get("severity").map(String::as_str) {
        Some("critical" | "page") => 0,
        Some("warning") => 1,
        _ => 2,
    };
    (state, severity, a.labels.get("alertname").cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::runbooks::fixtures::{map, param, summary};

    fn alert(labels: &[(&str, &str)], runbook_url: Option<&str>) -> Alert {
        Alert {
            labels: map(labels),
            annotations: runbook_url.map(|u| map(&[("runbook_url", u)])).unwrap_or_default(),
            state: "firing".to_owned(),
            active_at: None,
            value: None,
        }
    }

    #[test]
    fn relative_and_same_origin_runbook_urls_are_used_as_they_are() {
        let books = vec![summary("kafka-consumer-lag", "kafka", &["ConsumerLagHigh"], vec![])];
        let rel = alert(&[("alertname", "X")], Some("/runbooks/kafka-consumer-lag?namespace=a"));
        let links = alert_flow_links(&rel, &books, "http://triage.example");
        assert_eq!(links[0].href, "/runbooks/kafka-consumer-lag?namespace=a");
        assert_eq!(links[0].title, "Title of kafka-consumer-lag");
        let abs = alert(&[("alertname", "X")], Some("http://triage.example/runbooks/kafka-consumer-lag?x=1"));
        assert_eq!(
            alert_flow_links(&abs, &books, "http://triage.example")[0].href,
            "/runbooks/kafka-consumer-lag?x=1"
        );
        // A look-alike host is not this origin.
        let other = alert(&[("alertname", "X")], Some("http://triage.example.evil/runbooks/x"));
        assert!(alert_flow_links(&other, &books, "http://triage.example").is_empty());
        assert_eq!(
            external_runbook_url(&other, "http://triage.example").as_deref(),
            Some("http://triage.example.evil/runbooks/x")
        );
        assert_eq!(external_runbook_url(&rel, "http://triage.example"), None);
        // Protocol-relative URLs lead elsewhere.
        let proto = alert(&[("alertname", "X")], Some("//evil.example/runbooks/x"));
        assert!(alert_flow_links(&proto, &books, "http://triage.example").is_empty());
    }

    #[test]
    fn other_alerts_map_by_name_with_their_labels_as_parameters() {
        let books = vec![
            summary(
                "kafka-consumer-lag",
                "kafka",
                &["ConsumerLagHigh"],
                vec![param("namespace", None), param("consumer_group", None), param("window", Some("30m"))],
            ),
            summary("high-cpu", "platform", &["CPUThrottlingHigh"], vec![]),
        ];
        let a = alert(
            &[("alertname", "ConsumerLagHigh"), ("namespace", "streaming-analytics"), ("group", "g&1")],
            Some("https://wiki.example/lag"),
        );
        let links = alert_flow_links(&a, &books, "http://127.0.0.1:8080");
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0].href,
            "/runbooks/kafka-consumer-lag?namespace=streaming-analytics&consumer_group=g%261"
        );
        let bare = alert(&[("alertname", "CPUThrottlingHigh")], None);
        assert_eq!(alert_flow_links(&bare, &books, "")[0].href, "/runbooks/high-cpu?run=1");
        assert!(alert_flow_links(&alert(&[("alertname", "Unknown")], None), &books, "").is_empty());
    }

    #[test]
    fn the_merged_list_holds_every_answered_environment_and_is_as_old_as_its_oldest_answer() {
        use triage_shared::{ApiError, ErrorKind};
        let slots = crate::env_alerts::reconcile(&[], None);
        assert_eq!(updated_at(&slots), None);
        let mut staging = slots[0].clone();
        staging.env = Some("staging".into());
        staging.settle(Ok(vec![alert(&[("alertname", "A")], None)]), 100.0);
        let mut prod = slots[0].clone();
        prod.env = Some("prod-eu".into());
        prod.settle(Ok(vec![alert(&[("alertname", "B")], None)]), 90.0);
        prod.settle(Err(ApiError::new(ErrorKind::Unavailable, "Prometheus is down")), 104.0);
        let mut asking = slots[0].clone();
        asking.env = Some("prod-us".into());
        asking.asking = true;
        let slots = [staging, prod, asking];
        let merged = flatten(&slots);
        let envs: Vec<Option<&str>> = merged.iter().map(|a| a.env.as_deref()).collect();
        assert_eq!(envs, [Some("staging"), Some("prod-eu")]);
        assert_eq!(updated_at(&slots), Some(100.0));
    }

    #[test]
    fn firing_and_critical_come_first() {
        let mut list = vec![
            Alert {
                state: "pending".to_owned(),
                ..alert(&[("alertname", "A"), ("severity", "critical")], None)
            },
            alert(&[("alertname", "B"), ("severity", "warning")], None),
            alert(&[("alertname", "C"), ("severity", "critical")], None),
        ];
        sort_alerts(&mut list);
        let names: Vec<&str> = list.iter().map(|a| a.labels["alertname"].as_str()).collect();
        assert_eq!(names, ["C", "B", "A"]);
    }
}
