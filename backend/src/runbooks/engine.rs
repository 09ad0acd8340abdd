//! A run: parameters validated, every step's check started at once with its own timeout, each
//! result judged and published as it finishes, and the causes ranked at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use triage_shared::actions::Identity;
use triage_shared::runbook::{
    Check, CheckResult, Evidence, Fix, FixAction, RankedCause, RuleOp, RunEvent, RunStarted, RunState,
    Runbook, Step, StepState, Verdict,
};
use triage_shared::{ApiError, ErrorKind};

use super::checks::{self, CheckContext, Found, NotRun};
use super::template::{self, Values};
use super::{Run, Runbooks};
use crate::limits::Limiter;
use crate::store::Store;

/// Applies defaults and validates every declared parameter's value against its kind. The error
/// names the parameter and the reason.
pub fn resolve_params(
    runbook: &Runbook,
    given: &BTreeMap<String, String>,
    namespaces: Option<&[String]>,
) -> Result<Values, ApiError> {
    // Values for parameters the runbook does not declare (an alert link carries all of the
    // alert's labels) are ignored; the answer lists the values the run uses.
    let mut values = Values::new();
    for p in &runbook.params {
        let value = match given.get(&p.name).filter(|v| !v.is_empty()).or(p.default.as_ref()) {
            Some(v) => v.clone(),
            None => {
                return Err(ApiError::new(
                    ErrorKind::BadRequest,
                    format!("parameter `{}` is required", p.name),
                )
                .with_detail(serde_json::json!({"param": p.name})));
            }
        };
        if let Err(reason) = template::check_value(p.kind, &value) {
            return Err(ApiError::new(ErrorKind::BadRequest, format!("parameter `{}`: {reason}", p.name))
                .with_detail(serde_json::json!({"param": p.name, "reason": reason})));
        }
        if p.kind == triage_shared::runbook::ParamKind::Namespace
            && let Some(allowed) = namespaces
            && !allowed.iter().any(|n| n == &value)
        {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                format!(
                    "parameter `{}`: namespace {value:?} is not in Triage's allowlist ({})",
                    p.name,
                    allowed.join(", ")
                ),
            )
            .with_detail(serde_json::json!({"param": p.name})));
        }
        values.insert(p.name.clone(), (p.kind, value));
    }
    Ok(values)
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// What a run needs besides its runbook: the checks' clients, where runs are kept and stored,
/// and the bound on runs in progress.
#[derive(Clone)]
pub struct Engine {
    /// The environment runs started through this engine read.
    pub env: String,
    pub checks: Arc<CheckContext>,
    pub runbooks: Runbooks,
    pub store: Store,
    pub runs: Limiter,
}

/// Starts a run of `runbook`; returns at once, the checks go on in the background.
pub fn start(
    state: &Engine,
    runbook: Arc<Runbook>,
    given: &BTreeMap<String, String>,
    identity: &Identity,
) -> Result<RunStarted, ApiError> {
    let namespaces = state.checks.k8s.as_ref().map(|k| k.namespaces.clone());
    let values = resolve_params(&runbook, given, namespaces.as_deref())?;
    // Held until every check has finished, so parallel runs are bounded in all and per caller.
    let permit = state.runs.acquire(&identity.subject)?;
    let params: BTreeMap<String, String> = values.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run_state = RunState {
        run_id: run_id.clone(),
        runbook: runbook.id.clone(),
        params: params.clone(),
        started_at: now(),
        finished_at: None,
        steps: runbook.steps.iter().map(|s| (s.id.clone(), StepState::Pending)).collect(),
        causes: Vec::new(),
        started_by: Some(identity.subject.clone()),
        fixes: resolve_fixes(&runbook, &values),
        env: state.env.clone(),
    };
    let run = Arc::new(Run::new(run_state));
    run.publish(
        RunEvent::Started {
            run_id: run_id.clone(),
            runbook: runbook.id.clone(),
            params: params.clone(),
            steps: runbook.steps.iter().map(|s| s.id.clone()).collect(),
        },
        |_| {},
    );
    state.runbooks.insert_run(run.clone(), run_id.clone());
    let state = state.clone();
    tokio::spawn(async move {
        execute(state, runbook, values, run).await;
        drop(permit);
    });
    Ok(RunStarted { run_id, params })
}

async fn execute(state: Engine, runbook: Arc<Runbook>, values: Values, run: Arc<Run>) {
    let timeout = state.runbooks.settings.check_timeout();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, step) in runbook.steps.iter().enumerate() {
        let (checks, runbook, values, run) =
            (state.checks.clone(), runbook.clone(), values.clone(), run.clone());
        let step_id = step.id.clone();
        run.publish(RunEvent::CheckStarted { step: step_id.clone() }, |s| {
            if let Some(entry) = s.steps.get_mut(index) {
                entry.1 = StepState::Running;
            }
        });
        tasks.spawn(async move {
            let step = &runbook.steps[index];
            let started = Instant::now();
            let outcome =
                tokio::time::timeout(timeout, checks::run_check(&checks, &runbook, step, &values)).await;
            let outcome = outcome.unwrap_or_else(|_| {
                Err(NotRun::Failed(ApiError::new(
                    ErrorKind::Timeout,
                    format!("the check did not finish within {} s", timeout.as_secs()),
                )))
            });
            let result = judge(step, &values, outcome, started.elapsed().as_secs_f64() * 1000.0);
            run.publish(RunEvent::CheckFinished { result: result.clone() }, |s| {
                if let Some(entry) = s.steps.get_mut(index) {
                    entry.1 = StepState::Done { result };
                }
            });
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!("a runbook check task failed: {e}");
        }
    }
    let results: Vec<CheckResult> = run
        .state()
        .steps
        .into_iter()
        .filter_map(|(_, s)| match s {
            StepState::Done { result } => Some(result),
            _ => None,
        })
        .collect();
    let causes = rank(&runbook, &results);
    let finished_at = now();
    // Stored (and old runs pruned) before `finished` is announced: a run anyone saw finish
    // is already in the store.
    let mut finished = run.state();
    finished.causes = causes.clone();
    finished.finished_at = Some(finished_at);
    if let Err(e) = state.store.runs().save(&finished).await {
        tracing::warn!("the finished run could not be stored: {}", e.message);
    }
    let settings = &state.runbooks.settings;
    let max_age =
        std::time::Duration::from_secs(u64::from(settings.stored_run_retention_days.max(1)) * 86_400);
    if let Err(e) = state.store.runs().prune(settings.max_stored_runs.max(1), max_age).await {
        tracing::warn!("old runs could not be pruned: {}", e.message);
    }
    run.publish(RunEvent::Finished { causes: causes.clone(), finished_at }, |s| {
        s.causes = causes;
        s.finished_at = Some(finished_at);
    });
}

/// Every fix with the run's values substituted for its destination. A fix whose templates do
/// not resolve (which validation of the file and of the values should make impossible) is left
/// out and logged rather than shown half-filled.
pub fn resolve_fixes(runbook: &Runbook, values: &Values) -> BTreeMap<String, Vec<Fix>> {
    let one = |fix: &Fix| -> Result<Fix, String> {
        Ok(match fix {
            Fix::Command { title, command, destructive, warning } => Fix::Command {
                title: template::command(title, values)?,
                command: template::command(command, values)?,
                destructive: *destructive,
                warning: warning.clone(),
            },
            Fix::Action { title, action, .. } => {
                let action = match action {
                    FixAction::Scale { namespace, deployment, replicas } => {
                        let replicas = template::bound(replicas, values)?;
                        replicas
                            .parse::<u32>()
                            .map_err(|_| format!("replicas {replicas:?} is not a number"))?;
                        FixAction::Scale {
                            namespace: template::k8s_namespace(namespace, values)?,
                            deployment: template::k8s_name(deployment, values)?,
                            replicas,
                        }
                    }
                    FixAction::Restart { namespace, deployment } => FixAction::Restart {
                        namespace: template::k8s_namespace(namespace, values)?,
                        deployment: template::k8s_name(deployment, values)?,
                    },
                    FixAction::DeletePods { namespace, selector } => FixAction::DeletePods {
                        namespace: template::k8s_namespace(namespace, values)?,
                        selector: template::selector(selector, values)?,
                    },
                    FixAction::EmergencyRestart { namespace } => {
                        FixAction::EmergencyRestart { namespace: template::k8s_namespace(namespace, values)? }
                    }
                };
                // The emergency restart's commands are its plan's steps, shown in its dialog.
                let command = match &action {
                    FixAction::Scale { namespace, deployment, replicas } => {
                        Some(triage_shared::commands::kubectl_scale(namespace, deployment, replicas))
                    }
                    FixAction::Restart { namespace, deployment } => {
                        Some(triage_shared::commands::kubectl_restart(namespace, deployment))
                    }
                    FixAction::DeletePods { namespace, selector } => {
                        Some(triage_shared::commands::kubectl_delete_pods(namespace, selector, false))
                    }
                    FixAction::EmergencyRestart { .. } => None,
                };
                Fix::Action { title: template::command(title, values)?, action, command }
            }
        })
    };
    runbook
        .causes
        .iter()
        .map(|cause| {
            let fixes = cause
                .fixes
                .iter()
                .filter_map(|f| match one(f) {
                    Ok(fix) => Some(fix),
                    Err(e) => {
                        tracing::warn!(runbook = %runbook.id, cause = %cause.id, "a fix does not resolve: {e}");
                        None
                    }
                })
                .collect();
            (cause.id.clone(), fixes)
        })
        .collect()
}

/// Formats a value for a sentence, in the check's unit when it has one.
pub fn format_value(v: f64, unit: Option<&str>) -> String {
    let num = |x: f64| {
        if x.abs() >= 100.0 || x.fract() == 0.0 {
            format!("{x:.0}")
        } else if x.abs() >= 1.0 {
            format!("{x:.2}")
        } else {
            format!("{x:.4}")
        }
    };
    match unit {
        Some("ratio") => format!("{:.2} %", v * 100.0),
        Some("percent") => format!("{v:.2} %"),
        Some("bytes") => format!("{:.0} MiB", v / 1_048_576.0),
        Some("ms") => format!("{} ms", num(v)),
        Some("seconds") => format!("{} s", num(v)),
        Some("cores") => format!("{} cores", num(v)),
        Some("per-second") => format!("{}/s", num(v)),
        _ => num(v),
    }
}

fn unit_of(check: &Check) -> Option<&str> {
    match check {
        Check::Promql { unit, .. } => unit.as_deref(),
        _ => None,
    }
}

/// Turns a check's outcome into its verdict and summary by the step's rules.
pub fn judge(step: &Step, values: &Values, outcome: Result<Found, NotRun>, duration_ms: f64) -> CheckResult {
    let cli = step.cli.as_ref().and_then(|c| template::command(c, values).ok());
    let found = match outcome {
        Ok(found) => found,
        Err(NotRun::Skipped(why)) => {
            return CheckResult {
                step: step.id.clone(),
                verdict: Verdict::Skipped,
                summary: why,
                values: BTreeMap::new(),
                evidence: Evidence::None,
                query: None,
                cli,
                error: None,
                duration_ms,
            };
        }
        Err(NotRun::Failed(error)) => {
            return CheckResult {
                step: step.id.clone(),
                verdict: Verdict::Error,
                summary: format!("the check failed: {}", error.message),
                values: BTreeMap::new(),
                evidence: Evidence::None,
                query: None,
                cli,
                error: Some(error),
                duration_ms,
            };
        }
    };
    let unit = unit_of(&step.check);
    let mut verdict = Verdict::Ok;
    let mut worst: Option<String> = None;
    for rule in &step.rules {
        let (matched, shown) = match rule.op {
            RuleOp::Above | RuleOp::Below => match found.values.get(&rule.metric) {
                Some(&v) => {
                    let hit = if rule.op == RuleOp::Above { v > rule.threshold } else { v < rule.threshold };
                    (hit, format!("{} = {}", rule.metric, format_value(v, unit)))
                }
                None => (false, String::new()),
            },
            RuleOp::Rising | RuleOp::Falling => match found.values.get("slope_per_min") {
                Some(&s) => {
                    let hit =
                        if rule.op == RuleOp::Rising { s >= rule.threshold } else { s <= -rule.threshold };
                    (hit, format!("trend {} per minute", format_value(s, unit)))
                }
                None => (false, String::new()),
            },
        };
        if matched && rule.verdict > verdict {
            verdict = rule.verdict;
            let message = rule
                .message
                .clone()
                .unwrap_or_else(|| format!("{:?} {}", rule.op, rule.threshold).to_lowercase());
            worst = Some(format!("{message} ({shown})"));
        }
    }
    let summary = match worst {
        Some(s) => s,
        None => {
            let main =
                found.values.get("value").map(|v| format!("value = {}", format_value(*v, unit))).or_else(
                    || {
                        step.rules.first().and_then(|r| {
                            found
                                .values
                                .get(&r.metric)
                                .map(|v| format!("{} = {}", r.metric, format_value(*v, unit)))
                        })
                    },
                );
            match (main, &found.note) {
                (Some(m), _) => format!("within limits: {m}"),
                (None, Some(note)) => format!("nothing to judge: {note}"),
                (None, None) => "within limits".to_owned(),
            }
        }
    };
    let threshold =
        step.rules.iter().find(|r| matches!(r.op, RuleOp::Above | RuleOp::Below)).map(|r| r.threshold);
    let evidence = match found.evidence {
        Some(Evidence::Series { series, .. }) => {
            Evidence::Series { series, threshold, unit: unit.map(str::to_owned) }
        }
        Some(other) => other,
        None => Evidence::None,
    };
    CheckResult {
        step: step.id.clone(),
        verdict,
        summary,
        values: found.values,
        evidence,
        query: found.query,
        cli,
        error: None,
        duration_ms,
    }
}

/// Ranks causes: a cause is supported by the steps pointing to it whose verdict is warning or
/// critical. The worst supporting verdict decides first (critical before warning), then the
/// number of supporting steps. `score = 100 × (2 if critical else 1) + supporting steps`.
pub fn rank(runbook: &Runbook, results: &[CheckResult]) -> Vec<RankedCause> {
    let verdict_of: BTreeMap<&str, Verdict> = results.iter().map(|r| (r.step.as_str(), r.verdict)).collect();
    let mut ranked: Vec<RankedCause> = runbook
        .causes
        .iter()
        .filter_map(|cause| {
            let supporting: Vec<(&str, Verdict)> = runbook
                .steps
                .iter()
                .filter(|s| s.points_to.contains(&cause.id))
                .filter_map(|s| {
                    verdict_of
                        .get(s.id.as_str())
                        .filter(|v| matches!(v, Verdict::Warning | Verdict::Critical))
                        .map(|v| (s.id.as_str(), *v))
                })
                .collect();
            let worst = supporting.iter().map(|(_, v)| *v).max()?;
            let weight = if worst == Verdict::Critical { 2.0 } else { 1.0 };
            Some(RankedCause {
                cause: cause.id.clone(),
                title: cause.title.clone(),
                score: 100.0 * weight + supporting.len() as f64,
                evidence: supporting.iter().map(|(s, _)| (*s).to_owned()).collect(),
                verdict: worst,
            })
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.cause.cmp(&b.cause)));
    ranked
}

/// The run, from memory or (after a restart, or from another replica) from the store.
pub async fn find_run(
    runbooks: &Runbooks,
    store: &crate::store::Store,
    id: &str,
) -> Result<Arc<Run>, ApiError> {
    if let Some(run) = runbooks.run(id) {
        return Ok(run);
    }
    let valid = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid && let Some(state) = store.runs().load(id).await? {
        return Ok(Arc::new(Run::from_finished(state)));
    }
    Err(ApiError::new(
        ErrorKind::NotFound,
        format!("no run {id:?} (runs are kept in memory and, once finished, in the store)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_shared::runbook::{Cause, Rule};

    fn step(id: &str, points_to: &[&str]) -> Step {
        Step {
            id: id.to_owned(),
            title: id.to_owned(),
            explanation: String::new(),
            check: Check::HttpHealth { urls: vec!["http://x/".to_owned()] },
            rules: vec![
                Rule {
                    metric: "value".to_owned(),
                    op: RuleOp::Above,
                    threshold: 0.0,
                    verdict: Verdict::Warning,
                    message: None,
                },
                Rule {
                    metric: "value".to_owned(),
                    op: RuleOp::Above,
                    threshold: 1.0,
                    verdict: Verdict::Critical,
                    message: Some("down".to_owned()),
                },
            ],
            points_to: points_to.iter().map(|s| (*s).to_owned()).collect(),
            cli: None,
        }
    }

    fn result(step: &str, verdict: Verdict) -> CheckResult {
        CheckResult {
            step: step.to_owned(),
            verdict,
            summary: String::new(),
            values: BTreeMap::new(),
            evidence: Evidence::None,
            query: None,
            cli: None,
            error: None,
            duration_ms: 0.0,
        }
    }

    #[test]
    fn critical_beats_many_warnings_and_ties_go_to_more_support() {
        let cause = |id: &str| Cause {
            id: id.to_owned(),
            title: id.to_owned(),
            description: String::new(),
            fixes: vec![],
        };
        let runbook = Runbook {
            id: "r".to_owned(),
            title: "r".to_owned(),
            summary: String::new(),
            component: "x".to_owned(),
            alerts: vec![],
            params: vec![],
            steps: vec![
                step("a", &["one"]),
                step("b", &["two"]),
                step("c", &["two"]),
                step("d", &["three"]),
                step("e", &["three", "four"]),
            ],
            causes: vec![cause("one"), cause("two"), cause("three"), cause("four")],
            queries: vec![],
        };
        let results = vec![
            result("a", Verdict::Critical),
            result("b", Verdict::Warning),
            result("c", Verdict::Warning),
            result("d", Verdict::Critical),
            result("e", Verdict::Critical),
        ];
        let ranked: Vec<String> = rank(&runbook, &results).into_iter().map(|c| c.cause).collect();
        assert_eq!(ranked, vec!["three", "four", "one", "two"]);
        let none = rank(&runbook, &[result("a", Verdict::Ok), result("b", Verdict::Error)]);
        assert!(none.is_empty());
    }

    #[test]
    fn parameters_are_required_validated_and_named_in_errors() {
        use triage_shared::runbook::{Param, ParamKind};
        let param = |name: &str, kind, default: Option<&str>| Param {
            name: name.to_owned(),
            label: None,
            kind,
            default: default.map(str::to_owned),
            help: None,
        };
        let mut runbook = Runbook {
            id: "r".to_owned(),
            title: "r".to_owned(),
            summary: String::new(),
            component: "x".to_owned(),
            alerts: vec![],
            params: vec![
                param("deployment", ParamKind::Deployment, None),
                param("window", ParamKind::Duration, Some("5m")),
            ],
            steps: vec![],
            causes: vec![],
            queries: vec![],
        };
        let given = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let missing = resolve_params(&runbook, &given(&[]), None).expect_err("required");
        assert_eq!(missing.kind, ErrorKind::BadRequest);
        assert!(missing.message.contains("`deployment` is required"), "{}", missing.message);
        let bad = resolve_params(&runbook, &given(&[("deployment", "x"), ("window", "5 minutes")]), None)
            .expect_err("bad duration");
        assert!(bad.message.contains("`window`"), "{}", bad.message);
        let ok =
            resolve_params(&runbook, &given(&[("deployment", "x"), ("alertname", "Y")]), None).expect("ok");
        assert_eq!(ok["window"].1, "5m", "default applied");
        assert!(!ok.contains_key("alertname"), "undeclared values are ignored");
        runbook.params.push(param("namespace", ParamKind::Namespace, Some("other")));
        let allow = vec!["streaming-analytics".to_owned()];
        let outside =
            resolve_params(&runbook, &given(&[("deployment", "x")]), Some(&allow)).expect_err("allowlist");
        assert!(outside.message.contains("allowlist"), "{}", outside.message);
    }

    #[test]
    fn worst_matching_rule_wins() {
        let s = step("a", &[]);
        let mut values = BTreeMap::new();
        values.insert("value".to_owned(), 2.0);
        let r = judge(&s, &Values::new(), Ok(Found { values, ..Found::default() }), 1.0);
        assert_eq!(r.verdict, Verdict::Critical);
        assert!(r.summary.starts_with("down"), "{}", r.summary);
    }
}
