//! Pure helpers for the Kubernetes and Audit pages: ages, quantities, status → badge level,
//! usage bars, kubectl equivalents, URLs, filters and log-match segments. No web-sys here, so
//! `cargo test -p triage-frontend` runs these natively.

use triage_shared::actions::{AuditOutcome, Role};
use triage_shared::k8s::{PodUsage, RolloutState};

/// How alarming something is; maps to the `ok` / `warn` / `crit` / `neutral` CSS classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Crit,
    Neutral,
}

impl Level {
    pub fn class(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Crit => "crit",
            Self::Neutral => "neutral",
        }
    }

    /// `badge ok`, `badge crit`, …
    pub fn badge(self) -> String {
        format!("badge {}", self.class())
    }
}

/// The tabs of the Kubernetes page, as they appear in the URL (`tab=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Pods,
    Deployments,
    Events,
    Top,
    Services,
    NetworkPolicies,
}

impl Tab {
    pub const ALL: [Tab; 6] =
        [Tab::Pods, Tab::Deployments, Tab::Events, Tab::Top, Tab::Services, Tab::NetworkPolicies];

    pub fn id(self) -> &'static str {
        match self {
            Self::Pods => "pods",
            Self::Deployments => "deployments",
            Self::Events => "events",
            Self::Top => "top",
            Self::Services => "services",
            Self::NetworkPolicies => "netpol",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Pods => "Pods",
            Self::Deployments => "Deployments",
            Self::Events => "Events",
            Self::Top => "Top",
            Self::Services => "Services",
            Self::NetworkPolicies => "Network policies",
        }
    }

    /// The tab named in the URL; anything else is the pods tab.
    pub fn parse(id: Option<&str>) -> Tab {
        Self::ALL.into_iter().find(|t| Some(t.id()) == id).unwrap_or_default()
    }
}

/// What the Kubernetes page's URL says: `/kubernetes?ns=…&tab=…&selector=…&pod=…`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct K8sLocation {
    pub ns: Option<String>,
    pub tab: Tab,
    pub selector: Option<String>,
    pub pod: Option<String>,
}

impl K8sLocation {
    pub fn href(&self) -> String {
        let mut url = String::from("/kubernetes?");
        if let Some(ns) = self.ns.as_deref().filter(|n| !n.is_empty()) {
            url.push_str(&format!("ns={}&", url_encode(ns)));
        }
        url.push_str("tab=");
        url.push_str(self.tab.id());
        if let Some(sel) = self.selector.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            url.push_str(&format!("&selector={}", url_encode(sel)));
        }
        if let Some(pod) = self.pod.as_deref().filter(|p| !p.is_empty()) {
            url.push_str(&format!("&pod={}", url_encode(pod)));
        }
        url
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for query values and path
/// segments alike).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// kubectl-style age: `45s`, `3m`, `5h`, `12d`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// Pod status as kubectl prints it → how alarming it is.
pub fn pod_status_level(status: &str) -> Level {
    match status {
        "Running" => Level::Ok,
        "Completed" | "Succeeded" => Level::Neutral,
        "Pending" | "ContainerCreating" | "PodInitializing" => Level::Warn,
        "CrashLoopBackOff"
        | "Error"
        | "OOMKilled"
        | "Terminating"
        | "Failed"
        | "Evicted"
        | "Unknown"
        | "NodeLost"
        | "ImagePullBackOff"
        | "ErrImagePull"
        | "CreateContainerConfigError"
        | "CreateContainerError"
        | "InvalidImageName"
        | "ContainerStatusUnknown" => Level::Crit,
        s if s.starts_with("Init:") => {
            if s.contains("Error") || s.contains("CrashLoop") || s.contains("BackOff") {
                Level::Crit
            } else {
                Level::Warn
            }
        }
        _ => Level::Neutral,
    }
}

/// A container's last termination reason → level (`OOMKilled` is the one to see first).
pub fn termination_level(reason: &str) -> Level {
    match reason {
        "OOMKilled" => Level::Crit,
        "Completed" => Level::Neutral,
        _ => Level::Warn,
    }
}

/// Rollout state → (badge text, level, explanation).
pub fn rollout_badge(state: &RolloutState) -> (&'static str, Level, String) {
    match state {
        RolloutState::Complete => {
            ("complete", Level::Ok, "All replicas are updated and available.".to_owned())
        }
        RolloutState::Progressing(m) => ("progressing", Level::Warn, m.clone()),
        RolloutState::Stalled(m) => ("stalled", Level::Crit, m.clone()),
    }
}

pub fn event_level(kind: &str) -> Level {
    if kind == "Warning" { Level::Crit } else { Level::Neutral }
}

pub fn audit_outcome(outcome: AuditOutcome) -> (&'static str, Level) {
    match outcome {
        AuditOutcome::Pending => ("pending", Level::Warn),
        AuditOutcome::Succeeded => ("succeeded", Level::Ok),
        AuditOutcome::Failed => ("failed", Level::Crit),
    }
}

/// Only operators and admins may act; an unknown role (whoami failed) is a reader.
pub fn can_act(role: Option<Role>) -> bool {
    matches!(role, Some(Role::Operator | Role::Admin))
}

pub fn role_label(role: Option<Role>) -> &'static str {
    match role {
        Some(Role::Reader) | None => "reader",
        Some(Role::Operator) => "operator",
        Some(Role::Admin) => "admin",
    }
}

/// CPU as `kubectl top` prints it: millicores.
pub fn cpu(millicores: f64) -> String {
    format!("{:.0}m", millicores.max(0.0))
}

/// Memory in binary units, like Kubernetes quantities: `900Ki`, `512Mi`, `1.5Gi`.
pub fn memory(bytes: f64) -> String {
    const KI: f64 = 1024.0;
    let b = bytes.max(0.0);
    if b >= KI * KI * KI {
        let g = format!("{:.1}", b / (KI * KI * KI));
        format!("{}Gi", g.trim_end_matches(".0"))
    } else if b >= KI * KI {
        format!("{:.0}Mi", b / (KI * KI))
    } else if b >= KI {
        format!("{:.0}Ki", b / KI)
    } else {
        format!("{b:.0}B")
    }
}

/// `used` as a percentage of `total`, when there is a positive total.
pub fn percent(used: f64, total: Option<f64>) -> Option<f64> {
    total.filter(|t| *t > 0.0).map(|t| used / t * 100.0)
}

/// A usage bar: how full (0–100 % of the scale), where the request sits, and the colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub fill_pct: f64,
    pub request_pct: Option<f64>,
    /// Usage as a percentage of the limit, when there is one.
    pub of_limit_pct: Option<f64>,
    pub level: Level,
}

/// The bar is drawn against the limit; without one, against `fallback_scale` (e.g. the largest
/// value in the column). Over the request is amber, at 90 % of the limit or more red.
pub fn usage_bar(usage: f64, request: Option<f64>, limit: Option<f64>, fallback_scale: f64) -> Bar {
    let limit = limit.filter(|l| *l > 0.0);
    let request = request.filter(|r| *r > 0.0);
    let scale = limit.unwrap_or(fallback_scale.max(usage).max(request.unwrap_or(0.0)));
    let pct = |v: f64| if scale > 0.0 { (v / scale * 100.0).clamp(0.0, 100.0) } else { 0.0 };
    let of_limit_pct = percent(usage, limit);
    let level = if of_limit_pct.is_some_and(|p| p >= 90.0) {
        Level::Crit
    } else if request.is_some_and(|r| usage > r) {
        Level::Warn
    } else {
        Level::Ok
    };
    Bar { fill_pct: pct(usage), request_pct: request.map(pct), of_limit_pct, level }
}

/// A plain "x % of capacity" bar (nodes): amber from 75 %, red from 90 %.
pub fn capacity_bar(used: f64, total: Option<f64>) -> Bar {
    let p = percent(used, total);
    let level = match p {
        Some(p) if p >= 90.0 => Level::Crit,
        Some(p) if p >= 75.0 => Level::Warn,
        Some(_) => Level::Ok,
        None => Level::Neutral,
    };
    Bar { fill_pct: p.unwrap_or(0.0).clamp(0.0, 100.0), request_pct: None, of_limit_pct: p, level }
}

/// How the Top tab orders pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopSort {
    #[default]
    Cpu,
    Memory,
    Name,
}

/// Biggest first for CPU and memory; by name otherwise.
pub fn sort_top(pods: &mut [PodUsage], by: TopSort) {
    match by {
        TopSort::Cpu => pods.sort_by(|a, b| b.cpu_millicores.total_cmp(&a.cpu_millicores)),
        TopSort::Memory => pods.sort_by(|a, b| b.memory_bytes.total_cmp(&a.memory_bytes)),
        TopSort::Name => pods.sort_by(|a, b| a.name.cmp(&b.name)),
    }
}

// Command text lives in `triage_shared::commands`, shared with the backend.
pub use triage_shared::commands::{
    KUBECTL_TOP_NODES, kubectl_describe, kubectl_events, kubectl_get, kubectl_logs, kubectl_top_pods,
};

/// Every whitespace-separated term of `needle` appears (case-insensitively) in some field.
pub fn matches_filter(fields: &[&str], needle: &str) -> bool {
    let fields: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
    needle.to_lowercase().split_whitespace().all(|term| fields.iter().any(|f| f.contains(term)))
}

/// The replicas field of the scale dialog.
pub fn parse_replicas(text: &str) -> Result<i32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) => i32::try_from(n).map_err(|_| "That is too many replicas.".to_owned()),
        Err(_) => Err("Replicas must be a whole number, 0 or more.".to_owned()),
    }
}

/// `2025-06-01T12:03:04.123Z` → `2025-06-01 12:03:04` (the audit log is in UTC).
pub fn utc_time(rfc3339: &str) -> String {
    let main: String = rfc3339.chars().take(19).collect();
    main.replacen('T', " ", 1)
}

/// An action's parameters in one line: `replicas=12, force=true`.
pub fn params_text(params: &serde_json::Value) -> String {
    match params {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The byte offset of UTF-16 offset `index16` in `text` (JavaScript's string indices), when it
/// falls on a character boundary.
pub fn utf16_to_byte(text: &str, index16: usize) -> Option<usize> {
    let mut units = 0;
    for (byte, c) in text.char_indices() {
        if units == index16 {
            return Some(byte);
        }
        if units > index16 {
            return None;
        }
        units += c.len_utf16();
    }
    (units == index16).then_some(text.len())
}

/// Splits `text` into (piece, highlighted) runs given sorted byte ranges of matches; ranges that
/// overlap, run backwards or do not fall on character boundaries are ignored.
pub fn segments<'a>(text: &'a str, ranges: &[(usize, usize)]) -> Vec<(&'a str, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(start, end) in ranges {
        if start < at || end <= start {
            continue;
        }
        let (Some(before), Some(hit)) = (text.get(at..start), text.get(start..end)) else {
            continue;
        };
        if !before.is_empty() {
            out.push((before, false));
        }
        out.push((hit, true));
        at = end;
    }
    if let Some(rest) = text.get(at..).filter(|r| !r.is_empty()) {
        out.push((rest, false));
    }
    out
}

/// The file name offered by the logs' Download button.
pub fn log_file_name(pod: &str, previous: bool) -> String {
    format!("{pod}{}.log", if previous { "-previous" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(name: &str, cpu: f64, mem: f64) -> PodUsage {
        PodUsage {
            name: name.to_owned(),
            cpu_millicores: cpu,
            memory_bytes: mem,
            cpu_request_millicores: None,
            cpu_limit_millicores: None,
            memory_request_bytes: None,
            memory_limit_bytes: None,
        }
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(45), "45s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(3 * 60 + 59), "3m");
        assert_eq!(age(5 * 3600 + 10), "5h");
        assert_eq!(age(12 * 86_400 + 7), "12d");
    }

    #[test]
    fn statuses_map_to_levels() {
        assert_eq!(pod_status_level("Running"), Level::Ok);
        for warn in ["Pending", "ContainerCreating", "Init:0/1"] {
            assert_eq!(pod_status_level(warn), Level::Warn, "{warn}");
        }
        for crit in ["CrashLoopBackOff", "Error", "OOMKilled", "Terminating", "Init:CrashLoopBackOff"] {
            assert_eq!(pod_status_level(crit), Level::Crit, "{crit}");
        }
        assert_eq!(pod_status_level("Completed"), Level::Neutral);
        assert_eq!(Level::Crit.badge(), "badge crit");
        assert_eq!(termination_level("OOMKilled"), Level::Crit);
        assert_eq!(termination_level("Error"), Level::Warn);
        assert_eq!(event_level("Warning"), Level::Crit);
        assert_eq!(event_level("Normal"), Level::Neutral);
        assert_eq!(rollout_badge(&RolloutState::Stalled("deadline".into())).1, Level::Crit);
        assert_eq!(rollout_badge(&RolloutState::Progressing("x".into())).0, "progressing");
        assert_eq!(audit_outcome(AuditOutcome::Failed), ("failed", Level::Crit));
    }

    #[test]
    fn roles() {
        assert!(!can_act(None));
        assert!(!can_act(Some(Role::Reader)));
        assert!(can_act(Some(Role::Operator)));
        assert!(can_act(Some(Role::Admin)));
        assert_eq!(role_label(None), "reader");
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu(249.6), "250m");
        assert_eq!(memory(512.0 * 1024.0 * 1024.0), "512Mi");
        assert_eq!(memory(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5Gi");
        assert_eq!(memory(1024.0 * 1024.0 * 1024.0), "1Gi");
        assert_eq!(memory(900.0 * 1024.0), "900Ki");
        assert_eq!(memory(12.0), "12B");
        assert_eq!(percent(50.0, Some(200.0)), Some(25.0));
        assert_eq!(percent(50.0, Some(0.0)), None);
        assert_eq!(percent(50.0, None), None);
    }

    #[test]
    fn bars_scale_to_the_limit_and_mark_the_request() {
        let b = usage_bar(250.0, Some(500.0), Some(1000.0), 0.0);
        assert_eq!(
            (b.fill_pct, b.request_pct, b.of_limit_pct, b.level),
            (25.0, Some(50.0), Some(25.0), Level::Ok)
        );
        assert_eq!(usage_bar(600.0, Some(500.0), Some(1000.0), 0.0).level, Level::Warn);
        assert_eq!(usage_bar(950.0, Some(500.0), Some(1000.0), 0.0).level, Level::Crit);
        // Over the limit: the bar is full, not wider.
        assert_eq!(usage_bar(1500.0, None, Some(1000.0), 0.0).fill_pct, 100.0);
        // No limit: against the column's largest value.
        let b = usage_bar(100.0, Some(50.0), None, 400.0);
        assert_eq!((b.fill_pct, b.request_pct, b.of_limit_pct), (25.0, Some(12.5), None));
        assert_eq!(usage_bar(0.0, None, None, 0.0).fill_pct, 0.0);
        assert_eq!(capacity_bar(80.0, Some(100.0)).level, Level::Warn);
        assert_eq!(capacity_bar(10.0, None).level, Level::Neutral);
    }

    #[test]
    fn top_sorting() {
        let mut pods = vec![usage("b", 10.0, 300.0), usage("a", 30.0, 100.0), usage("c", 20.0, 200.0)];
        sort_top(&mut pods, TopSort::Cpu);
        assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "c", "b"]);
        sort_top(&mut pods, TopSort::Memory);
        assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
        sort_top(&mut pods, TopSort::Name);
        assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn locations_round_trip_through_the_url() {
        let loc = K8sLocation {
            ns: Some("streaming-analytics".into()),
            tab: Tab::Pods,
            selector: Some("app=stream-processor".into()),
            pod: Some("kafka-0".into()),
        };
        assert_eq!(
            loc.href(),
            "/kubernetes?ns=streaming-analytics&tab=pods&selector=app%3Dstream-processor&pod=kafka-0"
        );
        assert_eq!(K8sLocation::default().href(), "/kubernetes?tab=pods");
        for t in Tab::ALL {
            assert_eq!(Tab::parse(Some(t.id())), t);
        }
        assert_eq!(Tab::parse(Some("nope")), Tab::Pods);
        assert_eq!(Tab::parse(None), Tab::Pods);
        assert_eq!(url_encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn filters_need_every_term() {
        assert!(matches_filter(&["stream-processor-abc", "Running"], ""));
        assert!(matches_filter(&["stream-processor-abc", "Running"], "STREAM run"));
        assert!(!matches_filter(&["stream-processor-abc", "Running"], "stream crash"));
    }

    #[test]
    fn replicas_field() {
        assert_eq!(parse_replicas(" 8 "), Ok(8));
        assert_eq!(parse_replicas("0"), Ok(0));
        assert!(parse_replicas("-1").is_err());
        assert!(parse_replicas("2.5").is_err());
        assert!(parse_replicas("").is_err());
        assert!(parse_replicas("99999999999").is_err());
    }

    #[test]
    fn audit_text() {
        assert_eq!(utc_time("2025-06-01T12:03:04.123456Z"), "2025-06-01 12:03:04");
        assert_eq!(utc_time("short"), "short");
        assert_eq!(params_text(&serde_json::json!({"replicas": 12, "who": "x"})), "replicas=12, who=x");
        assert_eq!(params_text(&serde_json::Value::Null), "");
    }

    #[test]
    fn log_match_segments() {
        let line = "é INFO ok INFO";
        // JavaScript reports UTF-16 indices; é is one unit but two bytes.
        assert_eq!(utf16_to_byte(line, 2), Some(3));
        assert_eq!(utf16_to_byte(line, 14), Some(line.len()));
        assert_eq!(utf16_to_byte(line, 15), None);
        assert_eq!(utf16_to_byte("😀x", 1), None, "inside a surrogate pair");
        assert_eq!(utf16_to_byte("😀x", 2), Some(4));
        let segs = segments(line, &[(3, 7), (11, 15)]);
        assert_eq!(segs, vec![("é ", false), ("INFO", true), (" ok ", false), ("INFO", true)]);
        assert_eq!(segments("abc", &[]), vec![("abc", false)]);
        // Bad ranges are skipped rather than panicking.
        assert_eq!(segments("é", &[(1, 2)]), vec![("é", false)]);
        assert_eq!(segments("abc", &[(2, 3), (0, 1)]), vec![("ab", false), ("c", true)]);
        assert_eq!(log_file_name("p", true), "p-previous.log");
    }
}
