//! Pure helpers of the Runbooks, Flow and Alerts pages (no browser types, so they are
//! unit-tested natively): templates, verdict badges, filtering, alert-to-flow links.

use std::collections::BTreeMap;

use triage_shared::prom::Alert;
use triage_shared::runbook::{Param, RunbookSummary, Verdict};

use crate::chart::Unit;
use crate::components::k8s_format::Level;

/// `{{name}}` placeholders replaced by the run's (validated) parameter values; an unknown name is
/// left as written, so a reader sees what is missing rather than an empty gap.
pub fn fill_template(text: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = after[..close].trim();
        match params.get(name) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The badge of a verdict: its word and colour.
pub fn verdict_badge(verdict: Verdict) -> (&'static str, Level) {
    match verdict {
        Verdict::Ok => ("ok", Level::Ok),
        Verdict::Warning => ("warning", Level::Warn),
        Verdict::Critical => ("critical", Level::Crit),
        Verdict::Error => ("error", Level::Crit),
        Verdict::Skipped => ("skipped", Level::Neutral),
    }
}

/// A verdict's word as the backend spells it (`data-verdict` attributes, reports).
pub fn verdict_word(verdict: Verdict) -> &'static str {
    verdict_badge(verdict).0
}

/// The chart unit for a check's declared unit.
pub fn chart_unit(unit: Option<&str>) -> Unit {
    match unit {
        Some("percent") => Unit::Percent,
        Some("ratio") => Unit::Ratio,
        Some("ms") => Unit::Ms,
        Some("seconds") => Unit::Seconds,
        Some("bytes") => Unit::Bytes,
        Some("per-second") => Unit::PerSecond,
        _ => Unit::Plain,
    }
}

/// Whether a runbook matches the list's filter: every word of it appears in the id, title,
/// summary, component or one of its alert names (case-insensitive).
pub fn matches_filter(runbook: &RunbookSummary, filter: &str) -> bool {
    let haystack = format!(
        "{} {} {} {} {}",
        runbook.id,
        runbook.title,
        runbook.summary,
        runbook.component,
        runbook.alerts.join(" ")
    )
    .to_lowercase();
    filter.to_lowercase().split_whitespace().all(|word| haystack.contains(word))
}

/// Runbooks grouped by component, components and runbooks in alphabetical order of title.
pub fn group_by_component(runbooks: &[RunbookSummary]) -> Vec<(String, Vec<RunbookSummary>)> {
    let mut groups: BTreeMap<String, Vec<RunbookSummary>> = BTreeMap::new();
    for r in runbooks {
        groups.entry(r.component.clone()).or_default().push(r.clone());
    }
    groups
        .into_iter()
        .map(|(component, mut list)| {
            list.sort_by(|a, b| a.title.cmp(&b.title));
            (component, list)
        })
        .collect()
}

/// The form's first values: the link's value for each declared parameter, else its default,
/// else empty. Query keys that are not parameters are ignored.
pub fn initial_values(params: &[Param], query: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|p| {
            let value = query.get(&p.name).cloned().or_else(|| p.default.clone()).unwrap_or_default();
            (p.name.clone(), value)
        })
        .collect()
}

/// An alert link starts the flow at once when it says so (`run=1`) or carries any parameter.
pub fn link_starts_run(params: &[Param], query: &BTreeMap<String, String>) -> bool {
    query.get("run").is_some_and(|v| v == "1" || v == "true")
        || params.iter().any(|p| query.get(&p.name).is_some_and(|v| !v.is_empty()))
}

/// The guide's emergency-restart order: processing first, the gateway last.
pub const EMERGENCY_ORDER: [&str; 3] = ["stream-processor", "ml-inference", "websocket-server"];

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

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
            let pairs: Vec<String> = r
                .params
                .iter()
                .filter_map(|p| {
                    std::iter::once(p.name.as_str())
                        .chain(label_aliases(&p.name).iter().copied())
                        .find_map(|label| alert.labels.get(label))
                        .map(|v| format!("{}={}", p.name, encode_query_value(v)))
                })
                .collect();
            let query = if pairs.is_empty() { "?run=1".to_owned() } else { format!("?{}", pairs.join("&")) };
            FlowLink { title: r.title.clone(), href: format!("/runbooks/{}{query}", r.id) }
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

/// "12 s", "4 min", "3 h 5 min", "2 d": how long ago, for "updated … ago" and "active since".
pub fn ago(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        let m = (s % 3600) / 60;
        if m == 0 { format!("{} h", s / 3600) } else { format!("{} h {m} min", s / 3600) }
    } else {
        format!("{} d", s / 86_400)
    }
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

/// Firing before pending; within a state, critical first, then by name.
pub fn sort_alerts(alerts: &mut [Alert]) {
    let rank = |a: &Alert| {
        let state = if a.state == "firing" { 0 } else { 1 };
        let severity = match a.labels.get("severity").map(String::as_str) {
            Some("critical" | "page") => 0,
            Some("warning") => 1,
            _ => 2,
        };
        (state, severity, a.labels.get("alertname").cloned().unwrap_or_default())
    };
    alerts.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_shared::runbook::ParamKind;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn param(name: &str, default: Option<&str>) -> Param {
        Param {
            name: name.to_owned(),
            label: None,
            kind: ParamKind::LabelValue,
            default: default.map(str::to_owned),
            help: None,
        }
    }

    fn summary(id: &str, component: &str, alerts: &[&str], params: Vec<Param>) -> RunbookSummary {
        RunbookSummary {
            id: id.to_owned(),
            title: format!("Title of {id}"),
            summary: "when things go wrong".to_owned(),
            component: component.to_owned(),
            alerts: alerts.iter().map(|a| (*a).to_owned()).collect(),
            params,
            steps: 3,
        }
    }

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
    fn templates_fill_known_names_and_keep_unknown_ones() {
        let p = map(&[("namespace", "streaming-analytics"), ("deployment", "stream-processor")]);
        assert_eq!(
            fill_template("kubectl -n {{namespace}} get deploy {{ deployment }}", &p),
            "kubectl -n streaming-analytics get deploy stream-processor"
        );
        assert_eq!(fill_template("{{missing}} and {{namespace}}", &p), "{{missing}} and streaming-analytics");
        assert_eq!(fill_template("unclosed {{namespace", &p), "unclosed {{namespace");
        assert_eq!(fill_template("no placeholders", &p), "no placeholders");
        assert_eq!(fill_template("", &p), "");
    }

    #[test]
    fn filter_needs_every_word() {
        let r = summary("kafka-consumer-lag", "kafka", &["ConsumerLagHigh"], vec![]);
        assert!(matches_filter(&r, ""));
        assert!(matches_filter(&r, "KAFKA lag"));
        assert!(matches_filter(&r, "consumerlaghigh"));
        assert!(!matches_filter(&r, "kafka memory"));
    }

    #[test]
    fn groups_are_sorted() {
        let list = vec![
            summary("b", "kafka", &[], vec![]),
            summary("a", "database", &[], vec![]),
            summary("c", "kafka", &[], vec![]),
        ];
        let groups = group_by_component(&list);
        let names: Vec<&str> = groups.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, ["database", "kafka"]);
        let ids: Vec<&str> = groups[1].1.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn link_values_win_over_defaults_and_unknown_keys_are_ignored() {
        let params = vec![param("namespace", Some("streaming-analytics")), param("consumer_group", None)];
        let query = map(&[("consumer_group", "g1"), ("evil", "x")]);
        assert_eq!(
            initial_values(&params, &query),
            map(&[("namespace", "streaming-analytics"), ("consumer_group", "g1")])
        );
        assert!(link_starts_run(&params, &query));
        assert!(!link_starts_run(&params, &map(&[("evil", "x")])));
        assert!(link_starts_run(&params, &map(&[("run", "1")])));
        assert!(!link_starts_run(&params, &map(&[])));
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
    fn durations_read_naturally() {
        assert_eq!(ago(0.4), "0 s");
        assert_eq!(ago(59.0), "59 s");
        assert_eq!(ago(61.0), "1 min");
        assert_eq!(ago(3600.0), "1 h");
        assert_eq!(ago(3900.0), "1 h 5 min");
        assert_eq!(ago(200_000.0), "2 d");
        assert_eq!(ago(-5.0), "0 s");
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
