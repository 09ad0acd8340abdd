//! One function per check kind. Each resolves its templates for its destination (see
//! `template.rs`), asks its upstream through Triage's own clients, and returns named values and
//! the evidence; judging them is the engine's job.

use std::collections::BTreeMap;
use std::time::Duration;

use triage_shared::prom::Series;
use triage_shared::runbook::{Check, Evidence, Reduce, Runbook, Step};
use triage_shared::{ApiError, ErrorKind};

use super::template::{self, Values};
use crate::state::AppState;

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub values: BTreeMap<String, f64>,
    pub evidence: Option<Evidence>,
    /// The resolved query or request, as run.
    pub query: Option<String>,
    /// The series the reduced value came from, for trend rules (`[unix s, value]`).
    pub trend: Option<Vec<[f64; 2]>>,
    /// A sentence about the data when there is nothing to judge (e.g. no series).
    pub note: Option<String>,
}

/// Why a check produced no values.
#[derive(Debug, Clone)]
pub enum NotRun {
    /// Its upstream is not configured or not built in; says nothing about the system.
    Skipped(String),
    /// It ran and failed.
    Failed(ApiError),
}

impl From<ApiError> for NotRun {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

fn bad_template(e: String) -> NotRun {
    NotRun::Failed(ApiError::new(ErrorKind::BadRequest, e))
}

/// Runs the check of `step` with the run's validated `values`.
pub async fn run_check(
    state: &AppState,
    runbook: &Runbook,
    step: &Step,
    values: &Values,
) -> Result<Found, NotRun> {
    match &step.check {
        Check::Promql { query, range, reduce, .. } => {
            promql(state, query, range.as_deref(), *reduce, values).await
        }
        Check::K8sPods { namespace, selector } => {
            k8s_pods(state, namespace, selector.as_deref(), values).await
        }
        Check::K8sDeployment { namespace, name } => k8s_deployment(state, namespace, name, values).await,
        Check::K8sEvents { namespace, reason } => {
            k8s_events(state, namespace, reason.as_deref(), values).await
        }
        Check::K8sLogs { namespace, selector, pattern, tail } => {
            k8s_logs(state, namespace, selector, pattern, tail.unwrap_or(200), values).await
        }
        Check::K8sTop { namespace, selector } => k8s_top(state, namespace, selector.as_deref(), values).await,
        Check::PgStatements { target, order, limit } => {
            pg_statements(state, target.as_deref(), order.as_deref(), *limit).await
        }
        Check::PgActivity { target } => pg_activity(state, target.as_deref()).await,
        Check::PgIndexAdvice { target } => pg_index_advice(state, target.as_deref()).await,
        Check::PgTables { target } => pg_tables(state, target.as_deref()).await,
        Check::Sql { target, query, params } => {
            sql(state, runbook, target.as_deref(), query, params, values).await
        }
        Check::HttpHealth { urls } => http_health(state, urls, values).await,
    }
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Reduces series to one number and the series it came from.
pub fn reduce(series: &[Series], how: Reduce) -> Option<(f64, Vec<[f64; 2]>)> {
    let non_empty: Vec<&Series> = series.iter().filter(|s| !s.points.is_empty()).collect();
    if non_empty.is_empty() {
        return None;
    }
    let last = |s: &Series| s.points.last().map_or(f64::MIN, |p| p[1]);
    let max = |s: &Series| s.points.iter().map(|p| p[1]).fold(f64::MIN, f64::max);
    match how {
        Reduce::Last => {
            let s = non_empty.iter().max_by(|a, b| last(a).total_cmp(&last(b)))?;
            Some((last(s), s.points.clone()))
        }
        Reduce::Max => {
            let s = non_empty.iter().max_by(|a, b| max(a).total_cmp(&max(b)))?;
            Some((max(s), s.points.clone()))
        }
        Reduce::Avg => {
            // Mean per timestamp across series, then the mean of those.
            let mut by_time: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
            for s in &non_empty {
                for p in &s.points {
                    let e = by_time.entry((p[0] * 1000.0) as i64).or_default();
                    e.0 += p[1];
                    e.1 += 1;
                }
            }
            let points: Vec<[f64; 2]> =
                by_time.into_iter().map(|(t, (sum, n))| [t as f64 / 1000.0, sum / n as f64]).collect();
            let mean = points.iter().map(|p| p[1]).sum::<f64>() / points.len() as f64;
            Some((mean, points))
        }
    }
}

/// Least-squares slope of `points` in value units per minute; None with fewer than 3 points.
pub fn slope_per_minute(points: &[[f64; 2]]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let t0 = points[0][0];
    let mean_t = points.iter().map(|p| p[0] - t0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p[1]).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for p in points {
        let dt = p[0] - t0 - mean_t;
        num += dt * (p[1] - mean_v);
        den += dt * dt;
    }
    (den > 0.0).then(|| num / den * 60.0)
}

async fn promql(
    state: &AppState,
    query: &str,
    range: Option<&str>,
    how: Reduce,
    values: &Values,
) -> Result<Found, NotRun> {
    let resolved = template::promql(query, values).map_err(bad_template)?;
    let prom = state.prom().map_err(|e| NotRun::Skipped(e.to_string()))?;
    let mut found = Found { query: Some(resolved.clone()), ..Found::default() };
    let series = match range {
        None => {
            let result = prom.query(&resolved, None).await.map_err(|e| NotRun::Failed(e.into()))?;
            let points: Vec<Series> = result.series;
            let v: Vec<f64> = points.iter().filter_map(|s| s.points.last().map(|p| p[1])).collect();
            if !v.is_empty() {
                let value = match how {
                    Reduce::Avg => v.iter().sum::<f64>() / v.len() as f64,
                    Reduce::Last | Reduce::Max => v.iter().copied().fold(f64::MIN, f64::max),
                };
                found.values.insert("value".to_owned(), value);
            }
            points
        }
        Some(r) => {
            let (_, secs) = template::range(r, values).map_err(bad_template)?;
            let end = now();
            let step = (secs / 120.0).max(1.0).round();
            let result = prom
                .query_range(&resolved, end - secs, end, step)
                .await
                .map_err(|e| NotRun::Failed(e.into()))?;
            if let Some((value, points)) = reduce(&result.series, how) {
                found.values.insert("value".to_owned(), value);
                if let Some(slope) = slope_per_minute(&points) {
                    found.values.insert("slope_per_min".to_owned(), slope);
                }
                found.trend = Some(points);
            }
            result.series
        }
    };
    if series.is_empty() {
        found.note = Some("the query returned no series".to_owned());
    }
    let mut shown = series;
    shown.truncate(24);
    found.evidence = Some(Evidence::Series { series: shown, threshold: None, unit: None });
    Ok(found)
}

fn k8s(state: &AppState) -> Result<&crate::kubernetes::K8s, NotRun> {
    state.k8s().map_err(|e| NotRun::Skipped(e.message))
}

async fn k8s_pods(
    state: &AppState,
    ns: &str,
    selector: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let selector = selector.map(|s| template::selector(s, values)).transpose().map_err(bad_template)?;
    let k = k8s(state)?;
    let pods = k.list_pods(&ns, selector.as_deref(), None, None).await?.items;
    let count =
        |f: &dyn Fn(&triage_shared::k8s::PodSummary) -> bool| pods.iter().filter(|p| f(p)).count() as f64;
    let mut v = BTreeMap::new();
    v.insert("pods".to_owned(), pods.len() as f64);
    v.insert(
        "not_ready".to_owned(),
        count(&|p| p.status != "Terminating" && p.ready_containers < p.total_containers),
    );
    v.insert("restarts".to_owned(), pods.iter().map(|p| f64::from(p.restarts)).sum());
    v.insert(
        "oom_killed".to_owned(),
        count(&|p| p.last_termination.as_ref().is_some_and(|t| t.reason == "OOMKilled")),
    );
    v.insert("crash_looping".to_owned(), count(&|p| p.status == "CrashLoopBackOff"));
    v.insert("pending".to_owned(), count(&|p| matches!(p.status.as_str(), "Pending" | "ContainerCreating")));
    let rows = pods
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{}/{}", p.ready_containers, p.total_containers),
                p.status.clone(),
                p.restarts.to_string(),
                p.last_termination.as_ref().map(|t| t.reason.clone()).unwrap_or_default(),
                p.node.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let path = match &selector {
        Some(s) => format!("GET /api/v1/namespaces/{ns}/pods?labelSelector={s}"),
        None => format!("GET /api/v1/namespaces/{ns}/pods"),
    };
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["pod", "ready", "status", "restarts", "last termination", "node"]
                .map(String::from)
                .to_vec(),
            rows,
        }),
        query: Some(path),
        ..Found::default()
    })
}

async fn k8s_deployment(state: &AppState, ns: &str, name: &str, values: &Values) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let name = template::k8s_name(name, values).map_err(bad_template)?;
    let k = k8s(state)?;
    let deployment = k.get_deployment(&ns, &name).await?;
    let summary = crate::kubernetes::deployment_summary(&deployment);
    let mut v = BTreeMap::new();
    v.insert("desired".to_owned(), f64::from(summary.desired));
    v.insert("ready".to_owned(), f64::from(summary.ready));
    v.insert("available".to_owned(), f64::from(summary.available));
    v.insert("unavailable".to_owned(), f64::from((summary.desired - summary.available).max(0)));
    v.insert("updated".to_owned(), f64::from(summary.updated));
    // The newest ReplicaSet of the deployment was created when its last rollout began.
    let mut newest: Option<(String, i64)> = None;
    for rs in crate::kubernetes::workloads::owned_replica_sets(&k.client, &ns, &deployment).await? {
        if let Some(t) = rs.metadata.creation_timestamp.as_ref() {
            let at = t.0.as_second();
            if newest.as_ref().is_none_or(|(_, n)| at > *n) {
                newest = Some((rs.metadata.name.clone().unwrap_or_default(), at));
            }
        }
    }
    let mut rows = vec![
        vec!["desired".to_owned(), summary.desired.to_string()],
        vec!["ready".to_owned(), summary.ready.to_string()],
        vec!["updated".to_owned(), summary.updated.to_string()],
        vec!["available".to_owned(), summary.available.to_string()],
        vec!["rollout".to_owned(), format!("{:?}", summary.rollout)],
        vec!["images".to_owned(), summary.images.join(", ")],
    ];
    if let Some((rs, at)) = newest {
        let age = (now() as i64 - at).max(0);
        v.insert("rollout_age_seconds".to_owned(), age as f64);
        rows.push(vec!["newest replica set".to_owned(), format!("{rs} (created {age} s ago)")]);
    }
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table { columns: vec!["field".to_owned(), "value".to_owned()], rows }),
        query: Some(format!("GET /apis/apps/v1/namespaces/{ns}/deployments/{name}")),
        ..Found::default()
    })
}

async fn k8s_events(
    state: &AppState,
    ns: &str,
    reason: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let k = k8s(state)?;
    let events = k.list_events(&ns).await?;
    let mut v = BTreeMap::new();
    let warnings =
        events.iter().filter(|e| e.kind == "Warning").map(|e| f64::from(e.count.max(1))).sum::<f64>();
    v.insert("warnings".to_owned(), warnings);
    v.insert("events".to_owned(), events.iter().map(|e| f64::from(e.count.max(1))).sum());
    for e in &events {
        *v.entry(format!("reason:{}", e.reason)).or_insert(0.0) += f64::from(e.count.max(1));
    }
    let shown: Vec<&triage_shared::k8s::EventSummary> =
        events.iter().filter(|e| reason.is_none_or(|r| e.reason == r)).collect();
    let value = match reason {
        Some(r) => v.get(&format!("reason:{r}")).copied().unwrap_or(0.0),
        None => warnings,
    };
    v.insert("value".to_owned(), value);
    let rows = shown
        .iter()
        .take(50)
        .map(|e| {
            vec![e.kind.clone(), e.reason.clone(), e.object.clone(), e.count.to_string(), e.message.clone()]
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["type", "reason", "object", "count", "message"].map(String::from).to_vec(),
            rows,
        }),
        query: Some(format!("GET /api/v1/namespaces/{ns}/events")),
        ..Found::default()
    })
}

async fn k8s_logs(
    state: &AppState,
    ns: &str,
    selector: &str,
    pattern: &str,
    tail: u32,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let selector = template::selector(selector, values).map_err(bad_template)?;
    let pattern = template::log_pattern(pattern, values).map_err(bad_template)?;
    let re = regex::RegexBuilder::new(&pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| bad_template(format!("log pattern: {e}")))?;
    let k = k8s(state)?;
    let pods = k.list_pods(&ns, Some(&selector), None, None).await?.items;
    let names: Vec<String> = pods.iter().take(12).map(|p| p.name.clone()).collect();
    let fetches = names.iter().map(|name| k.pod_logs(&ns, name, i64::from(tail.clamp(1, 5000)), false));
    let results = futures::future::join_all(fetches).await;
    let (mut lines, mut matches) = (0usize, 0usize);
    let mut shown = Vec::new();
    let mut failures = Vec::new();
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(logs) => {
                lines += logs.lines.len();
                for line in logs.lines.iter().filter(|l| re.is_match(l)) {
                    matches += 1;
                    if shown.len() < 40 {
                        shown.push(format!("{name}: {line}"));
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: {}", e.message)),
        }
    }
    if !names.is_empty() && failures.len() == names.len() {
        return Err(NotRun::Failed(ApiError::new(
            ErrorKind::Upstream,
            format!("no pod's logs could be read: {}", failures.join("; ")),
        )));
    }
    let mut v = BTreeMap::new();
    v.insert("matches".to_owned(), matches as f64);
    v.insert("lines".to_owned(), lines as f64);
    v.insert("value".to_owned(), matches as f64);
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Lines { lines: shown }),
        query: Some(format!(
            "logs of {} pods in {ns} matching {selector} (last {tail} lines each), pattern /{pattern}/",
            names.len()
        )),
        note: (names.is_empty()).then(|| format!("no pod matches {selector}")),
        ..Found::default()
    })
}

async fn k8s_top(
    state: &AppState,
    ns: &str,
    selector: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let selector = selector.map(|s| template::selector(s, values)).transpose().map_err(bad_template)?;
    let k = k8s(state)?;
    let mut usage = k.top_pods(&ns).await?;
    if let Some(s) = &selector {
        let names: Vec<String> =
            k.list_pods(&ns, Some(s), None, None).await?.items.into_iter().map(|p| p.name).collect();
        usage.retain(|u| names.contains(&u.name));
    }
    let max = |f: &dyn Fn(&triage_shared::k8s::PodUsage) -> Option<f64>| {
        usage.iter().filter_map(f).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let mut v = BTreeMap::new();
    let mut put = |k: &str, x: Option<f64>| {
        if let Some(x) = x {
            v.insert(k.to_owned(), x);
        }
    };
    put("cpu_cores", max(&|u| Some(u.cpu_millicores / 1000.0)));
    put("memory_bytes", max(&|u| Some(u.memory_bytes)));
    put(
        "cpu_limit_ratio",
        max(&|u| u.cpu_limit_millicores.filter(|l| *l > 0.0).map(|l| u.cpu_millicores / l)),
    );
    put(
        "memory_limit_ratio",
        max(&|u| u.memory_limit_bytes.filter(|l| *l > 0.0).map(|l| u.memory_bytes / l)),
    );
    let rows = usage
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                format!("{:.0}m", u.cpu_millicores),
                u.cpu_limit_millicores.map(|l| format!("{l:.0}m")).unwrap_or_default(),
                format!("{:.0}Mi", u.memory_bytes / 1_048_576.0),
                u.memory_limit_bytes.map(|l| format!("{:.0}Mi", l / 1_048_576.0)).unwrap_or_default(),
            ]
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["pod", "cpu", "cpu limit", "memory", "memory limit"].map(String::from).to_vec(),
            rows,
        }),
        query: Some(format!("GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods")),
        note: usage.is_empty().then(|| "no pod metrics".to_owned()),
        ..Found::default()
    })
}

fn pg_target<'a>(
    state: &'a AppState,
    target: Option<&str>,
) -> Result<(&'a crate::pg::PgTargets, String), NotRun> {
    let pg = state.pg().map_err(|e| NotRun::Skipped(e.message))?;
    let name = match target {
        Some(t) => t.to_owned(),
        None => pg
            .names()
            .into_iter()
            .next()
            .ok_or_else(|| NotRun::Skipped("no PostgreSQL target is configured".to_owned()))?,
    };
    Ok((pg, name))
}

fn statement_order(order: Option<&str>) -> triage_shared::pg::StatementOrder {
    use triage_shared::pg::StatementOrder;
    match order {
        Some("mean") => StatementOrder::Mean,
        Some("calls") => StatementOrder::Calls,
        Some("max") => StatementOrder::Max,
        Some("stddev") => StatementOrder::Stddev,
        Some("rows") => StatementOrder::Rows,
        _ => StatementOrder::Total,
    }
}

async fn pg_statements(
    state: &AppState,
    target: Option<&str>,
    order: Option<&str>,
    limit: Option<u32>,
) -> Result<Found, NotRun> {
    let (pg, name) = pg_target(state, target)?;
    let query = triage_shared::pg::StatementsQuery {
        order: statement_order(order),
        database: None,
        role: None,
        limit: Some(limit.unwrap_or(20).clamp(1, 500)),
    };
    let report = pg.statements(&name, &query).await?;
    let mut v = BTreeMap::new();
    v.insert("statements".to_owned(), report.statements as f64);
    v.insert("top_mean_ms".to_owned(), report.rows.iter().map(|r| r.mean_ms).fold(0.0, f64::max));
    v.insert("top_total_ms".to_owned(), report.rows.iter().map(|r| r.total_ms).fold(0.0, f64::max));
    let rows = report
        .rows
        .iter()
        .take(20)
        .map(|r| {
            vec![
                r.query.chars().take(160).collect(),
                r.calls.to_string(),
                format!("{:.1}", r.mean_ms),
                format!("{:.1}", r.max_ms),
                format!("{:.0}", r.total_ms),
                format!("{:.1} %", r.share_pct),
            ]
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["statement", "calls", "mean ms", "max ms", "total ms", "share"]
                .map(String::from)
                .to_vec(),
            rows,
        }),
        query: Some(format!("pg_stat_statements on {name}, by {}", order.unwrap_or("total"))),
        ..Found::default()
    })
}

async fn pg_activity(state: &AppState, target: Option<&str>) -> Result<Found, NotRun> {
    let (pg, name) = pg_target(state, target)?;
    let r = pg.activity(&name).await?;
    let mut v = BTreeMap::new();
    v.insert("connections".to_owned(), r.total_connections as f64);
    v.insert("max_connections".to_owned(), r.max_connections as f64);
    let usable = (r.max_connections - r.reserved_connections).max(1) as f64;
    v.insert("usage_ratio".to_owned(), r.total_connections as f64 / usable);
    v.insert("idle_in_transaction".to_owned(), r.idle_in_transaction as f64);
    v.insert(
        "longest_idle_in_transaction_seconds".to_owned(),
        r.longest_idle_in_transaction_secs.unwrap_or(0.0),
    );
    v.insert("blocked".to_owned(), r.blocking.iter().map(|b| b.blocked.len()).sum::<usize>() as f64);
    let rows = r
        .by_application
        .iter()
        .map(|a| vec![a.application.clone(), a.state.clone(), a.count.to_string()])
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["application", "state", "connections"].map(String::from).to_vec(),
            rows,
        }),
        query: Some(format!("pg_stat_activity on {name}")),
        ..Found::default()
    })
}

async fn pg_index_advice(state: &AppState, target: Option<&str>) -> Result<Found, NotRun> {
    use triage_shared::pg::AdviceKind;
    let (pg, name) = pg_target(state, target)?;
    let r = pg.index_advice(&name).await?;
    let count = |k: AdviceKind| r.suggestions.iter().filter(|s| s.kind == k).count() as f64;
    let mut v = BTreeMap::new();
    v.insert("missing_index_candidates".to_owned(), count(AdviceKind::CreateIndex));
    v.insert("unused_indexes".to_owned(), count(AdviceKind::UnusedIndex));
    v.insert(
        "duplicate_indexes".to_owned(),
        count(AdviceKind::DuplicateIndex) + count(AdviceKind::RedundantIndex),
    );
    let rows = r
        .suggestions
        .iter()
        .map(|s| {
            vec![
                format!("{:?}", s.kind),
                format!("{}.{}", s.schema, s.table),
                s.columns.join(", "),
                s.reason.clone(),
            ]
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["advice", "table", "columns", "why"].map(String::from).to_vec(),
            rows,
        }),
        query: Some(format!("index advice on {name}")),
        ..Found::default()
    })
}

async fn pg_tables(state: &AppState, target: Option<&str>) -> Result<Found, NotRun> {
    let (pg, name) = pg_target(state, target)?;
    let r = pg.tables(&name).await?;
    let mut v = BTreeMap::new();
    v.insert("tables".to_owned(), r.tables.len() as f64);
    v.insert("max_dead_ratio".to_owned(), r.tables.iter().map(|t| t.dead_ratio).fold(0.0, f64::max));
    let rows = r
        .tables
        .iter()
        .take(20)
        .map(|t| {
            vec![
                format!("{}.{}", t.schema, t.table),
                format!("{:.1} MiB", t.total_bytes as f64 / 1_048_576.0),
                t.live_rows.to_string(),
                t.dead_rows.to_string(),
                format!("{:.1} %", t.dead_ratio * 100.0),
            ]
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["table", "size", "live rows", "dead rows", "dead"].map(String::from).to_vec(),
            rows,
        }),
        query: Some(format!("table sizes and dead tuples on {name}")),
        ..Found::default()
    })
}

async fn sql(
    state: &AppState,
    runbook: &Runbook,
    target: Option<&str>,
    query: &str,
    params: &[String],
    values: &Values,
) -> Result<Found, NotRun> {
    use triage_shared::pg::SqlParam;
    let named = runbook
        .queries
        .iter()
        .find(|q| q.name == query)
        .ok_or_else(|| bad_template(format!("no query named {query}")))?;
    let bound: Vec<SqlParam> = params
        .iter()
        .map(|p| template::bound(p, values).map(SqlParam::Text))
        .collect::<Result<_, _>>()
        .map_err(bad_template)?;
    let (pg, name) = pg_target(state, target)?;
    let r = pg.run_sql(&name, &named.sql, &bound).await?;
    let mut v = BTreeMap::new();
    v.insert("rows".to_owned(), r.rows.len() as f64);
    if let Some(first) = r
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(|x| x.as_f64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
    {
        v.insert("value".to_owned(), first);
    }
    let rows = r
        .rows
        .iter()
        .take(50)
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table { columns: r.columns.clone(), rows }),
        query: Some(format!("{}\n-- parameters (bound): {:?}", named.sql, bound)),
        ..Found::default()
    })
}

async fn http_health(state: &AppState, urls: &[String], values: &Values) -> Result<Found, NotRun> {
    let bases = &state.runbooks.settings.urls;
    let mut resolved = Vec::new();
    for u in urls {
        match template::url(u, values, bases) {
            Ok(url) => resolved.push(url),
            Err(e) if e.starts_with("no base URL") => return Err(NotRun::Skipped(e)),
            Err(e) => return Err(bad_template(e)),
        }
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotRun::Failed(ApiError::new(ErrorKind::Internal, format!("HTTP client: {e}"))))?;
    let probes = resolved.iter().map(|url| {
        let client = client.clone();
        async move {
            match client.get(url.clone()).send().await {
                Ok(r) => {
                    let code = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
                    let status = body["status"].as_str().unwrap_or_default().to_owned();
                    (url.to_string(), (200..300).contains(&code), format!("HTTP {code}"), status)
                }
                Err(e) if e.is_timeout() => {
                    (url.to_string(), false, "timeout (5 s)".to_owned(), String::new())
                }
                Err(e) => {
                    let text = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                    (url.to_string(), false, format!("unreachable: {text}"), String::new())
                }
            }
        }
    });
    let results = futures::future::join_all(probes).await;
    let healthy = results.iter().filter(|r| r.1).count() as f64;
    let total = results.len() as f64;
    let mut v = BTreeMap::new();
    v.insert("healthy".to_owned(), healthy);
    v.insert("unhealthy".to_owned(), total - healthy);
    v.insert("total".to_owned(), total);
    v.insert("value".to_owned(), total - healthy);
    let rows = results
        .iter()
        .map(|(u, ok, code, status)| {
            vec![
                u.clone(),
                if *ok { "healthy" } else { "unhealthy" }.to_owned(),
                code.clone(),
                status.clone(),
            ]
        })
        .collect();
    Ok(Found {
        values: v,
        evidence: Some(Evidence::Table {
            columns: ["url", "result", "answer", "reported status"].map(String::from).to_vec(),
            rows,
        }),
        query: Some(resolved.iter().map(|u| format!("GET {u}")).collect::<Vec<_>>().join("\n")),
        ..Found::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_per_minute() {
        let points: Vec<[f64; 2]> = (0..10).map(|i| [f64::from(i) * 30.0, f64::from(i) * 5.0]).collect();
        let s = slope_per_minute(&points).expect("slope");
        assert!((s - 10.0).abs() < 1e-9, "{s}");
        assert!(slope_per_minute(&points[..2]).is_none());
    }

    #[test]
    fn reductions() {
        let s = |v: &[f64]| Series {
            labels: BTreeMap::new(),
            points: v.iter().enumerate().map(|(i, x)| [i as f64, *x]).collect(),
            last_text: None,
        };
        let series = vec![s(&[1.0, 9.0, 2.0]), s(&[3.0, 4.0, 5.0])];
        assert_eq!(reduce(&series, Reduce::Last).map(|r| r.0), Some(5.0));
        assert_eq!(reduce(&series, Reduce::Max).map(|r| r.0), Some(9.0));
        assert_eq!(reduce(&series, Reduce::Avg).map(|r| r.0), Some(4.0));
        assert!(reduce(&[], Reduce::Last).is_none());
    }
}
