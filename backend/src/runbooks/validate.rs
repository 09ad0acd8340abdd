//! Everything a runbook must satisfy beyond its shape: unique ids, declared placeholders in safe
//! positions, known cause ids, sane thresholds, resolvable action targets. Each problem names the
//! file and the line it is about.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use triage_shared::runbook::{Check, Fix, FixAction, ParamKind, RuleOp, Runbook};

use super::template::{self, PromqlSlot};

mod promql;

/// One problem of a runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when the problem concerns the file as a whole.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.reason)
        }
    }
}

/// Finds the line a value of the runbook is written on, searching within its step or cause.
struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        Self { lines: text.lines().collect() }
    }

    /// First line at or after `from` (0-based) containing `needle`; 1-based result, or `fallback`.
    fn find(&self, needle: &str, from: usize, fallback: usize) -> usize {
        if needle.is_empty() {
            return fallback;
        }
        let first = needle.lines().next().unwrap_or(needle).trim();
        self.lines
            .iter()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| l.contains(first))
            .map_or(fallback, |(i, _)| i + 1)
    }

    /// Line of the `id: <id>` entry of the `section` list (`steps:` or `causes:`), 1-based.
    fn entry(&self, section: &str, id: &str) -> usize {
        let start = self.lines.iter().position(|l| l.trim_end() == format!("{section}:")).unwrap_or(0);
        self.lines
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ").trim();
                t.strip_prefix("id:").is_some_and(|v| v.trim().trim_matches(['"', '\'']) == id)
            })
            .map_or(start + 1, |(i, _)| i + 1)
    }
}

/// Values a check kind produces, which rules may name.
fn known_metric(check: &Check, metric: &str) -> bool {
    let names: &[&str] = match check {
        Check::Promql { .. } => &["value"],
        Check::K8sPods { .. } => &["pods", "not_ready", "restarts", "oom_killed", "crash_looping", "pending"],
        Check::K8sDeployment { .. } => {
            &["desired", "ready", "available", "unavailable", "updated", "rollout_age_seconds"]
        }
        Check::K8sEvents { .. } => {
            if metric.starts_with("reason:") {
                return true;
            }
            &["value", "warnings", "events"]
        }
        Check::K8sLogs { .. } => &["value", "matches", "lines"],
        Check::K8sTop { .. } => &["cpu_cores", "memory_bytes", "cpu_limit_ratio", "memory_limit_ratio"],
        Check::PgStatements { .. } => &["top_mean_ms", "top_total_ms", "statements"],
        Check::PgActivity { .. } => &[
            "connections",
            "max_connections",
            "usage_ratio",
            "idle_in_transaction",
            "longest_idle_in_transaction_seconds",
            "blocked",
        ],
        Check::PgIndexAdvice { .. } => {
            &["missing_index_candidates", "verified_missing_indexes", "unused_indexes", "duplicate_indexes"]
        }
        Check::PgTables { .. } => &["max_dead_ratio", "tables"],
        Check::Sql { .. } => &["rows", "value"],
        Check::HttpHealth { .. } => &["value", "healthy", "unhealthy", "total"],
        Check::KafkaGroupLag { .. } => &[
            "total_lag",
            "max_partition_lag",
            "partitions",
            "partitions_unknown",
            "members",
            "unowned_partitions",
        ],
        Check::KafkaTopic { .. } => &[
            "partitions",
            "leaderless",
            "under_replicated",
            "max_leaders_per_broker",
            "min_leaders_per_broker",
            "leader_skew",
        ],
        Check::KafkaBrokers {} => &["brokers", "unreachable", "missing", "metadata_error"],
        Check::K8sEnvRefs { .. } => &["variables", "from_secrets", "missing_refs"],
    };
    names.contains(&metric)
}

struct Ctx<'a> {
    file: &'a str,
    loc: Locator<'a>,
    params: BTreeMap<&'a str, ParamKind>,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn push(&mut self, line: usize, reason: impl Into<String>) {
        self.problems.push(Problem { file: self.file.to_owned(), line, reason: reason.into() });
    }

    /// Every placeholder of `text` is declared (and is not a `url:` base outside URLs).
    fn declared(&mut self, text: &str, at: usize, what: &str) {
        match template::placeholders(text) {
            Err(e) => {
                let line = self.loc.find(text, at, at);
                self.push(line, format!("{what}: {e}"));
            }
            Ok(holders) => {
                for h in holders {
                    if h.name.starts_with("url:") {
                        if what != "URL" {
                            let line = self.loc.find(&text[h.start..h.end], at, at);
                            self.push(
                                line,
                                format!("{what}: `{{{{{}}}}}` is only allowed in http-health URLs", h.name),
                            );
                        }
                        continue;
                    }
                    if !self.params.contains_key(h.name.as_str()) {
                        let line = self.loc.find(&text[h.start..h.end], at, at);
                        self.push(line, format!("{what}: `{{{{{}}}}}` is not a declared parameter", h.name));
                    }
                }
            }
        }
    }

    fn kind_of(&self, name: &str) -> Option<ParamKind> {
        self.params.get(name).copied()
    }

    /// A field that becomes a Kubernetes name or namespace: placeholders must be name kinds;
    /// a literal must already be valid.
    fn k8s_name_field(&mut self, text: &str, at: usize, what: &str, namespace: bool) {
        self.declared(text, at, what);
        let Ok(holders) = template::placeholders(text) else { return };
        if holders.is_empty() {
            let check = if namespace {
                triage_shared::k8s::check_namespace(text)
            } else {
                triage_shared::k8s::check_object_name(text)
            };
            if let Err(e) = check {
                let line = self.loc.find(text, at, at);
                self.push(line, format!("{what}: {e}"));
            }
        }
        for h in holders {
            if let Some(kind) = self.kind_of(&h.name)
                && !template::is_name_kind(kind)
            {
                let line = self.loc.find(&text[h.start..h.end], at, at);
                self.push(
                    line,
                    format!(
                        "{what}: `{{{{{}}}}}` is a {kind:?} parameter, which cannot form a Kubernetes name",
                        h.name
                    ),
                );
            }
        }
    }

    /// A Kafka group id or topic name: a literal follows Kafka's rule, a parameter is a name kind.
    fn kafka_name_field(&mut self, text: &str, at: usize, what: &str) {
        self.declared(text, at, what);
        let Ok(holders) = template::placeholders(text) else { return };
        if holders.is_empty() {
            let probe = template::Values::new();
            if let Err(e) = template::kafka_name(text, &probe, what) {
                let line = self.loc.find(text, at, at);
                self.push(line, format!("{what}: {e}"));
            }
        }
        for h in holders {
            if let Some(kind) = self.kind_of(&h.name)
                && !template::is_kafka_name_kind(kind)
            {
                let line = self.loc.find(&text[h.start..h.end], at, at);
                self.push(
                    line,
                    format!(
                        "{what}: `{{{{{}}}}}` is a {kind:?} parameter, which cannot form a Kafka name",
                        h.name
                    ),
                );
            }
        }
    }

    fn selector_field(&mut self, text: &str, at: usize, what: &str) {
        self.declared(text, at, what);
        if let Err(e) = template::selector_slots_ok(text) {
            let line = self.loc.find(text, at, at);
            self.push(line, format!("{what}: {e}"));
        }
    }
}

/// Checks one parsed runbook against its source text.
pub fn validate(runbook: &Runbook, text: &str, file: &str) -> Vec<Problem> {
    let mut cx = Ctx { file, loc: Locator::new(text), params: BTreeMap::new(), problems: Vec::new() };
    let id_ok = |id: &str| {
        !id.is_empty()
            && id.len() <= 63
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !id.starts_with('-')
    };
    if !id_ok(&runbook.id) {
        let line = cx.loc.find("id:", 1, 1);
        cx.push(line, format!("runbook id {:?} must be lowercase letters, digits and '-'", runbook.id));
    }
    if runbook.steps.is_empty() {
        cx.push(cx.loc.find("steps:", 1, 0), "a runbook needs at least one step");
    }

    // Parameters.
    for p in &runbook.params {
        let line = cx.loc.find(&format!("name: {}", p.name), 1, 0);
        if cx.params.insert(p.name.as_str(), p.kind).is_some() {
            cx.push(line, format!("duplicate parameter `{}`", p.name));
        }
        if template::placeholders(&format!("{{{{{}}}}}", p.name)).is_err() || p.name.starts_with("url") {
            cx.push(line, format!("parameter name `{}` must be lowercase letters, digits and `_`", p.name));
        }
        if let Some(default) = &p.default
            && let Err(e) = template::check_value(p.kind, default)
        {
            cx.push(cx.loc.find(default, line, line), format!("default of `{}`: {e}", p.name));
        }
    }

    // Causes.
    let mut cause_ids = BTreeSet::new();
    for c in &runbook.causes {
        let at = cx.loc.entry("causes", &c.id);
        if !cause_ids.insert(c.id.as_str()) {
            cx.push(at, format!("duplicate cause id `{}`", c.id));
        }
        if !id_ok(&c.id) {
            cx.push(at, format!("cause id {:?} must be lowercase letters, digits and '-'", c.id));
        }
        for fix in &c.fixes {
            match fix {
                Fix::Command { title, command, destructive, warning } => {
                    cx.declared(title, at, "fix title");
                    cx.declared(command, at, "fix command");
                    if *destructive && warning.as_deref().is_none_or(str::is_empty) {
                        let line = cx.loc.find(command, at, at);
                        cx.push(line, format!("destructive fix `{title}` needs a warning"));
                    }
                }
                Fix::Action { title, action, command } => {
                    cx.declared(title, at, "fix title");
                    if command.is_some() {
                        let line = cx.loc.find("command", at, at);
                        cx.push(
                            line,
                            format!("action fix `{title}`: its command is Triage's own; remove `command`"),
                        );
                    }
                    let what = "action target";
                    match action {
                        FixAction::Scale { namespace, deployment, replicas } => {
                            cx.k8s_name_field(namespace, at, what, true);
                            cx.k8s_name_field(deployment, at, what, false);
                            cx.declared(replicas, at, "replicas");
                            let holders = template::placeholders(replicas).unwrap_or_default();
                            let ok = match holders.as_slice() {
                                [] => replicas.parse::<u32>().is_ok_and(|n| n <= 1000),
                                [h] if h.start == 0 && h.end == replicas.len() => {
                                    cx.kind_of(&h.name).is_none_or(|k| k == ParamKind::Integer)
                                }
                                _ => false,
                            };
                            if !ok {
                                let line = cx.loc.find(&format!("replicas: {replicas}"), at, at);
                                cx.push(line, format!("replicas {replicas:?} must be a number (0-1000) or one integer parameter"));
                            }
                        }
                        FixAction::Restart { namespace, deployment } => {
                            cx.k8s_name_field(namespace, at, what, true);
                            cx.k8s_name_field(deployment, at, what, false);
                        }
                        FixAction::DeletePods { namespace, selector } => {
                            cx.k8s_name_field(namespace, at, what, true);
                            cx.selector_field(selector, at, "action selector");
                        }
                        FixAction::EmergencyRestart { namespace } => {
                            cx.k8s_name_field(namespace, at, what, true);
                        }
                    }
                }
            }
        }
    }

    // Named queries.
    let mut query_names = BTreeSet::new();
    for q in &runbook.queries {
        let line = cx.loc.find(&format!("name: {}", q.name), 1, 0);
        if !query_names.insert(q.name.as_str()) {
            cx.push(line, format!("duplicate query name `{}`", q.name));
        }
        if q.sql.contains("{{") {
            cx.push(
                line,
                format!(
                    "query `{}`: SQL never takes placeholders; use $1, $2 … and the check's params",
                    q.name
                ),
            );
        }
        let head = q.sql.trim_start().to_ascii_lowercase();
        if !(head.starts_with("select") || head.starts_with("with")) {
            cx.push(line, format!("query `{}` must be a read-only SELECT", q.name));
        }
    }

    // Steps.
    let mut step_ids = BTreeSet::new();
    for step in &runbook.steps {
        let at = cx.loc.entry("steps", &step.id);
        if !step_ids.insert(step.id.as_str()) {
            cx.push(at, format!("duplicate step id `{}`", step.id));
        }
        if !id_ok(&step.id) {
            cx.push(at, format!("step id {:?} must be lowercase letters, digits and '-'", step.id));
        }
        if let Some(cli) = &step.cli {
            cx.declared(cli, at, "cli");
        }
        cx.declared(&step.title, at, "step title");
        for target in &step.points_to {
            if !cause_ids.contains(target.as_str()) {
                let line = cx.loc.find(target, at, at);
                cx.push(line, format!("step `{}` points to unknown cause `{target}`", step.id));
            }
        }
        let mut has_range = false;
        match &step.check {
            Check::Promql { query, range, .. } => {
                cx.declared(query, at, "PromQL");
                match template::promql_slots(query) {
                    Err(e) => {
                        let line = cx.loc.find("query:", at, at);
                        cx.push(line, format!("PromQL: {e}"));
                    }
                    Ok(slots) => {
                        for problem in promql::check(query, &slots) {
                            let line = cx.loc.find("query:", at, at);
                            cx.push(line, problem);
                        }
                        for (h, slot) in slots {
                            if let Some(kind) = cx.kind_of(&h.name)
                                && !template::promql_kind_allowed(slot, kind)
                            {
                                let line = cx.loc.find(&query[h.start..h.end], at, at);
                                let why = if slot == PromqlSlot::Range {
                                    "a range must be a duration parameter"
                                } else {
                                    "not allowed here"
                                };
                                cx.push(
                                    line,
                                    format!("PromQL: `{{{{{}}}}}` is a {kind:?} parameter: {why}", h.name),
                                );
                            }
                        }
                    }
                }
                if let Some(r) = range {
                    has_range = true;
                    cx.declared(r, at, "range");
                    let holders = template::placeholders(r).unwrap_or_default();
                    let ok = match holders.as_slice() {
                        [] => template::duration_seconds(r).is_ok(),
                        [h] if h.start == 0 && h.end == r.len() => {
                            cx.kind_of(&h.name).is_none_or(|k| k == ParamKind::Duration)
                        }
                        _ => false,
                    };
                    if !ok {
                        let line = cx.loc.find("range:", at, at);
                        cx.push(line, format!("range {r:?} must be a duration or one duration parameter"));
                    }
                }
            }
            Check::K8sPods { namespace, selector } | Check::K8sTop { namespace, selector } => {
                cx.k8s_name_field(namespace, at, "namespace", true);
                if let Some(s) = selector {
                    cx.selector_field(s, at, "selector");
                }
            }
            Check::K8sDeployment { namespace, name } => {
                cx.k8s_name_field(namespace, at, "namespace", true);
                cx.k8s_name_field(name, at, "deployment", false);
            }
            Check::K8sEvents { namespace, reason } => {
                cx.k8s_name_field(namespace, at, "namespace", true);
                if let Some(r) = reason
                    && (r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric()))
                {
                    let line = cx.loc.find(r, at, at);
                    cx.push(line, format!("event reason {r:?} must be a word such as OOMKilling"));
                }
            }
            Check::K8sLogs { namespace, selector, pattern, tail } => {
                cx.k8s_name_field(namespace, at, "namespace", true);
                cx.selector_field(selector, at, "selector");
                cx.declared(pattern, at, "log pattern");
                let probe: template::Values =
                    cx.params.iter().map(|(n, k)| ((*n).to_owned(), (*k, "x".to_owned()))).collect();
                if let Ok(p) = template::log_pattern(pattern, &probe)
                    && let Err(e) = regex::Regex::new(&p)
                {
                    let line = cx.loc.find("pattern:", at, at);
                    cx.push(line, format!("log pattern is not a regular expression: {e}"));
                }
                if tail.is_some_and(|t| t == 0 || t > 5000) {
                    let line = cx.loc.find("tail:", at, at);
                    cx.push(line, "tail must be between 1 and 5000 lines");
                }
            }
            Check::PgStatements { order, limit, .. } => {
                if let Some(o) = order
                    && !["mean", "total", "calls", "max", "stddev", "rows"].contains(&o.as_str())
                {
                    let line = cx.loc.find("order:", at, at);
                    cx.push(
                        line,
                        format!("order {o:?} must be one of mean, total, calls, max, stddev, rows"),
                    );
                }
                if limit.is_some_and(|l| l == 0 || l > 500) {
                    let line = cx.loc.find("limit:", at, at);
                    cx.push(line, "limit must be between 1 and 500");
                }
            }
            Check::PgActivity { .. } | Check::PgIndexAdvice { .. } | Check::PgTables { .. } => {}
            Check::Sql { query, params, .. } => {
                if !query_names.contains(query.as_str()) {
                    let line = cx.loc.find(query, at, at);
                    cx.push(line, format!("sql check names unknown query `{query}`"));
                }
                for p in params {
                    cx.declared(p, at, "sql parameter");
                }
            }
            Check::KafkaGroupLag { group, topic } => {
                cx.kafka_name_field(group, at, "consumer group");
                if let Some(t) = topic {
                    cx.kafka_name_field(t, at, "topic");
                }
            }
            Check::KafkaTopic { topic } => cx.kafka_name_field(topic, at, "topic"),
            Check::KafkaBrokers {} => {}
            Check::K8sEnvRefs { namespace, deployment, prefix } => {
                cx.k8s_name_field(namespace, at, "namespace", true);
                cx.k8s_name_field(deployment, at, "deployment", false);
                if let Some(p) = prefix
                    && (p.len() > 253
                        || !p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                {
                    let line = cx.loc.find(p, at, at);
                    cx.push(line, format!("prefix {p:?} must be the start of an environment variable name"));
                }
            }
            Check::HttpHealth { urls } => {
                if urls.is_empty() || urls.len() > 20 {
                    cx.push(at, "http-health needs 1 to 20 URLs");
                }
                for u in urls {
                    cx.declared(u, at, "URL");
                    let holders = template::placeholders(u).unwrap_or_default();
                    for (i, h) in holders.iter().enumerate() {
                        let line = cx.loc.find(u, at, at);
                        if h.name.starts_with("url:") {
                            if i != 0 || h.start != 0 {
                                cx.push(line, format!("`{{{{{}}}}}` must start the URL", h.name));
                            }
                        } else {
                            let before = &u[..h.start];
                            let after = &u[h.end..];
                            let whole = before.ends_with('/')
                                && (after.is_empty() || after.starts_with('/') || after.starts_with('?'));
                            let kind_ok = cx.kind_of(&h.name).is_none_or(template::is_name_kind);
                            if !whole || !kind_ok {
                                cx.push(line, format!("`{{{{{}}}}}` in a URL must be a whole path segment holding a Kubernetes-name parameter", h.name));
                            }
                        }
                    }
                    if holders.first().is_none_or(|h| !h.name.starts_with("url:"))
                        && !(u.starts_with("http://") || u.starts_with("https://"))
                    {
                        let line = cx.loc.find(u, at, at);
                        cx.push(line, format!("{u:?} must be an http(s) URL or start with {{{{url:NAME}}}}"));
                    }
                }
            }
        }

        // Rules.
        for rule in &step.rules {
            let line = cx.loc.find(&format!("{}", rule.threshold), at, at);
            if !rule.threshold.is_finite() {
                cx.push(line, format!("step `{}`: threshold must be a finite number", step.id));
            }
            if !matches!(
                rule.verdict,
                triage_shared::runbook::Verdict::Warning | triage_shared::runbook::Verdict::Critical
            ) {
                cx.push(line, format!("step `{}`: a rule's verdict must be warning or critical", step.id));
            }
            match rule.op {
                RuleOp::Rising | RuleOp::Falling => {
                    if !has_range {
                        cx.push(
                            line,
                            format!(
                                "step `{}`: a {:?} rule needs a promql check with a range",
                                step.id, rule.op
                            )
                            .to_lowercase(),
                        );
                    }
                    if rule.threshold <= 0.0 {
                        cx.push(
                            line,
                            format!("step `{}`: a trend threshold is a positive slope per minute", step.id),
                        );
                    }
                    if rule.metric != "value" {
                        cx.push(line, format!("step `{}`: trend rules judge the check's `value`", step.id));
                    }
                }
                RuleOp::Above | RuleOp::Below => {}
            }
            if !known_metric(&step.check, &rule.metric) {
                let line = cx.loc.find(&rule.metric, at, at);
                cx.push(line, format!("step `{}`: this check has no value `{}`", step.id, rule.metric));
            }
        }
    }
    cx.problems
}
