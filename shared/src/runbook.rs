//! Runbooks (troubleshooting flows as data) and the runs of their checks.
//!
//! A [`Runbook`] is loaded from `runbooks/*.yaml`; it declares typed [`Param`]s, [`Step`]s each
//! with one [`Check`] and its verdict [`Rule`]s, and the [`Cause`]s the steps point to with their
//! [`Fix`]es. Strings in checks, commands and fixes may contain `{{param}}` placeholders; the
//! backend substitutes them only in positions where the parameter's kind makes them safe (escaped
//! PromQL label values, validated durations, DNS-1123 names, bound SQL parameters).
//!
//! A run executes every step's check concurrently and reports [`RunEvent`]s as they happen; its
//! state ([`RunState`]) can be fetched at any time by id (the run's permalink).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::prom::Series;

/// One troubleshooting flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Stable id, used in URLs: `/runbooks/{id}`. Lowercase letters, digits and `-`.
    pub id: String,
    pub title: String,
    /// One paragraph: when to use this flow.
    pub summary: String,
    /// The platform component it concerns, e.g. `kafka`, `websocket`, `ml`, `database`, `platform`.
    pub component: String,
    /// Names of the Prometheus alerts this flow answers (`alertname` label values).
    #[serde(default)]
    pub alerts: Vec<String>,
    #[serde(default)]
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub causes: Vec<Cause>,
    /// Named read-only SQL queries that `sql` checks refer to by name.
    #[serde(default)]
    pub queries: Vec<NamedQuery>,
}

/// `GET /api/runbooks`: one entry per loaded runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunbookSummary {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub component: String,
    pub alerts: Vec<String>,
    pub params: Vec<Param>,
    pub steps: usize,
}

/// A typed input of a runbook, filled from the alert link's query string or by the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    /// Human label shown in the form; defaults to the name.
    #[serde(default)]
    pub label: Option<String>,
    pub kind: ParamKind,
    /// Used when the link and the user give no value. A param without default is required.
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
}

/// What a parameter may hold; each kind has one validator in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ParamKind {
    /// A Kubernetes namespace (DNS-1123 label, and in the configured allowlist).
    Namespace,
    /// A deployment name (DNS-1123 subdomain).
    Deployment,
    /// Any other Kubernetes object name (DNS-1123 subdomain).
    Name,
    /// A Kafka consumer group id (letters, digits, `.`, `_`, `-`).
    ConsumerGroup,
    /// A Kafka topic name (letters, digits, `.`, `_`, `-`).
    Topic,
    /// Free text that only ever becomes an escaped PromQL label value or a bound SQL parameter.
    LabelValue,
    /// A Prometheus duration such as `5m`, `1h30m`.
    Duration,
    /// A whole number.
    Integer,
}

/// One step of a flow: an explanation, one check and how to judge its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique within the runbook.
    pub id: String,
    pub title: String,
    /// Why this step matters and how to read its evidence.
    pub explanation: String,
    pub check: Check,
    /// Evaluated in order; the worst matching verdict wins; no match means `ok`.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Ids of the causes a `warning` or `critical` verdict of this step supports.
    #[serde(default)]
    pub points_to: Vec<String>,
    /// The command-line equivalent of the check (templated), shown next to the evidence.
    #[serde(default)]
    pub cli: Option<String>,
}

/// The closed set of check kinds; each is implemented once in the backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Check {
    /// A PromQL expression, instant (no `range`) or over a range reduced to one number.
    Promql {
        query: String,
        /// Range to evaluate over, e.g. `30m` or `{{window}}`; absent for an instant query.
        #[serde(default)]
        range: Option<String>,
        #[serde(default)]
        reduce: Reduce,
        /// Unit for display: `percent`, `ratio`, `ms`, `seconds`, `bytes`, `cores`, `count`, `per-second`.
        #[serde(default)]
        unit: Option<String>,
    },
    /// Pods of a namespace (optionally by label selector): values `pods`, `not_ready`, `restarts`,
    /// `oom_killed`, `crash_looping`, `pending`.
    K8sPods {
        namespace: String,
        #[serde(default)]
        selector: Option<String>,
    },
    /// One deployment: values `desired`, `ready`, `available`, `unavailable`, `updated`,
    /// `rollout_age_seconds` (time since the last rollout began).
    K8sDeployment { namespace: String, name: String },
    /// Events of a namespace: values `warnings`, `events`, and `reason:<Reason>` counts.
    K8sEvents {
        namespace: String,
        /// Only events with this reason (e.g. `OOMKilling`, `BackOff`).
        #[serde(default)]
        reason: Option<String>,
    },
    /// Log lines of the selected pods matching a regular expression: values `matches`, `lines`.
    K8sLogs {
        namespace: String,
        selector: String,
        pattern: String,
        #[serde(default)]
        tail: Option<u32>,
    },
    /// metrics.k8s.io usage of the selected pods: values `cpu_cores`, `memory_bytes`,
    /// `cpu_limit_ratio`, `memory_limit_ratio` (max over pods).
    K8sTop {
        namespace: String,
        #[serde(default)]
        selector: Option<String>,
    },
    /// `pg_stat_statements`: values `top_mean_ms`, `top_total_ms`, `statements`.
    PgStatements {
        #[serde(default)]
        target: Option<String>,
        #[serde(default)]
        order: Option<String>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// `pg_stat_activity`: values `connections`, `max_connections`, `usage_ratio`,
    /// `idle_in_transaction`, `longest_idle_in_transaction_seconds`, `blocked`.
    PgActivity {
        #[serde(default)]
        target: Option<String>,
    },
    /// Index advice: values `missing_index_candidates`, `unused_indexes`, `duplicate_indexes`.
    PgIndexAdvice {
        #[serde(default)]
        target: Option<String>,
    },
    /// Table sizes and bloat: values `max_dead_ratio`, `tables`.
    PgTables {
        #[serde(default)]
        target: Option<String>,
    },
    /// A named read-only query of the runbook, parameters bound: values `rows` and, when the
    /// first row's first column is numeric, `value`.
    Sql {
        #[serde(default)]
        target: Option<String>,
        query: String,
        /// Templated values bound to `$1`, `$2`, … in order.
        #[serde(default)]
        params: Vec<String>,
    },
    /// Several URLs probed concurrently: values `healthy`, `unhealthy`, `total`.
    HttpHealth { urls: Vec<String> },
    /// A consumer group read from Kafka itself (what `kafka-consumer-groups.sh --describe`
    /// shows): values `total_lag`, `max_partition_lag`, `partitions`, `partitions_unknown` (lag
    /// not known: no commit, no end offset, or a commit past the log end), `members`, and
    /// `unowned_partitions` (no member owns them while the group has members).
    KafkaGroupLag {
        group: String,
        /// Only this topic's partitions; every topic the group has offsets on when absent.
        #[serde(default)]
        topic: Option<String>,
    },
    /// A topic's partitions from the cluster's metadata (`kafka-topics.sh --describe`): values
    /// `partitions`, `leaderless`, `under_replicated`, `max_leaders_per_broker`,
    /// `min_leaders_per_broker` (listed brokers leading none count as 0), and `leader_skew`
    /// (the busiest broker's leaders over the mean).
    KafkaTopic { topic: String },
    /// Every broker probed directly (`kafka-broker-api-versions.sh`): values `brokers` (listed
    /// by the metadata), `unreachable` (listed brokers and bootstrap servers that do not answer),
    /// `missing` (named as replicas but not listed), and `metadata_error` (1 when the metadata
    /// could not be read).
    KafkaBrokers {},
    /// The environment variables of a deployment's containers whose names start with `prefix`
    /// and where each comes from: values `variables`, `from_secrets`, and `missing_refs` (a
    /// Secret or a key of it that does not exist). Names only: values are never read or shown.
    K8sEnvRefs {
        namespace: String,
        deployment: String,
        #[serde(default)]
        prefix: Option<String>,
    },
}

/// How a range query's series become one number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Reduce {
    /// The last sample of the series with the largest last sample.
    #[default]
    Last,
    /// The largest sample of any series.
    Max,
    /// The mean of all samples of all series.
    Avg,
}

/// A verdict rule: `metric` compared with `threshold` (or judged on its trend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which value of the check's result; `value` (the reduced number) when absent.
    #[serde(default = "default_metric")]
    pub metric: String,
    pub op: RuleOp,
    /// For `above`/`below`: the bound. For `rising`/`falling`: the minimum slope, in the
    /// metric's unit per minute, fitted by least squares over the range.
    pub threshold: f64,
    pub verdict: Verdict,
    /// Shown when the rule matches, e.g. "error rate above the 5 % alert threshold".
    #[serde(default)]
    pub message: Option<String>,
}

fn default_metric() -> String {
    "value".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RuleOp {
    Above,
    Below,
    Rising,
    Falling,
}

/// The judgement of one check. Ordered from best to worst for ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The check did not run (e.g. its upstream is not configured).
    Skipped,
    Ok,
    Warning,
    Critical,
    /// The check itself failed (upstream down, timeout, bad query); says nothing about the system.
    Error,
}

/// A possible cause of the symptom, with the fixes for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Cause {
    pub id: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub fixes: Vec<Fix>,
}

/// A fix: either one of Triage's guarded Kubernetes actions or an instruction with the exact
/// command text (never executed by Triage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fix {
    /// Runs through the same guarded endpoints as the Kubernetes page (dry run, confirmation, audit).
    Action {
        title: String,
        action: FixAction,
        /// The `kubectl` equivalent, shell-quoted, filled in by the backend when a run resolves
        /// the fix (never written by runbook authors, never built by the browser).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
    /// Shown with a copy button; `destructive` ones carry a warning and are never executed.
    Command {
        title: String,
        command: String,
        #[serde(default)]
        destructive: bool,
        #[serde(default)]
        warning: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FixAction {
    /// `replicas` is a template that must resolve to a whole number.
    Scale {
        namespace: String,
        deployment: String,
        replicas: String,
    },
    Restart {
        namespace: String,
        deployment: String,
    },
    DeletePods {
        namespace: String,
        selector: String,
    },
    EmergencyRestart {
        namespace: String,
    },
}

/// A read-only SQL query with `$1…` placeholders, referred to by `sql` checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NamedQuery {
    pub name: String,
    pub sql: String,
}

/// `POST /api/runbooks/{id}/runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(example = serde_json::json!({"params": {"namespace": "streaming-analytics"}})))]
pub struct StartRun {
    /// Raw values by parameter name; missing ones take their defaults.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// The answer to `POST /api/runbooks/{id}/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunStarted {
    pub run_id: String,
    /// The validated parameter values the run uses (defaults applied).
    pub params: BTreeMap<String, String>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CheckResult {
    pub step: String,
    pub verdict: Verdict,
    /// One line in words, e.g. "error rate 7.2 % — above the 5 % alert threshold".
    pub summary: String,
    /// Named numbers the rules were judged on.
    pub values: BTreeMap<String, f64>,
    pub evidence: Evidence,
    /// The resolved query or request (PromQL, SQL, Kubernetes path), as run.
    #[serde(default)]
    pub query: Option<String>,
    /// The resolved command-line equivalent.
    #[serde(default)]
    pub cli: Option<String>,
    /// Set when the verdict is `error`.
    #[serde(default)]
    pub error: Option<ApiError>,
    pub duration_ms: f64,
}

/// The evidence behind a verdict, in the form a person would rather look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Evidence {
    None,
    /// Time series to chart, with the threshold line of the first above/below rule.
    Series {
        series: Vec<Series>,
        #[serde(default)]
        threshold: Option<f64>,
        #[serde(default)]
        unit: Option<String>,
    },
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Lines {
        lines: Vec<String>,
    },
}

/// A cause ranked by the verdicts of the checks that point to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RankedCause {
    pub cause: String,
    pub title: String,
    /// Higher is more likely; 0 when no check supports it.
    pub score: f64,
    /// Ids of the steps whose verdicts support it.
    pub evidence: Vec<String>,
    /// The worst verdict among those steps.
    pub verdict: Verdict,
}

/// The status of one step within a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "kebab-case")]
// A wire type held once per step of a run; boxing the result would save little and change the
// Rust type both sides match on.
#[allow(clippy::large_enum_variant)]
pub enum StepState {
    Pending,
    Running,
    Done { result: CheckResult },
}

/// `GET /api/runs/{id}`: a run's full state (the permalink's content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RunState {
    pub run_id: String,
    pub runbook: String,
    pub params: BTreeMap<String, String>,
    /// Unix seconds.
    pub started_at: f64,
    #[serde(default)]
    pub finished_at: Option<f64>,
    /// By step id, in the runbook's order.
    pub steps: Vec<(String, StepState)>,
    /// Ranked most likely first; only causes with a score above 0.
    pub causes: Vec<RankedCause>,
    /// Subject of the user who started it.
    #[serde(default)]
    pub started_by: Option<String>,
    /// The runbook's fixes with this run's parameter values in place, by cause id: command text
    /// shell-quoted, action targets validated as Kubernetes names, replicas as whole numbers.
    #[serde(default)]
    pub fixes: BTreeMap<String, Vec<Fix>>,
    /// The environment the checks read.
    #[serde(default = "default_env")]
    pub env: String,
}

fn default_env() -> String {
    crate::env::DEFAULT_ENV.to_owned()
}

/// `GET /api/runs/{id}/events` (server-sent events, `data:` is one JSON `RunEvent`). A late
/// subscriber first receives the events so far, so reconnecting loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RunEvent {
    Started { run_id: String, runbook: String, params: BTreeMap<String, String>, steps: Vec<String> },
    CheckStarted { step: String },
    CheckFinished { result: CheckResult },
    Finished { causes: Vec<RankedCause>, finished_at: f64 },
}
