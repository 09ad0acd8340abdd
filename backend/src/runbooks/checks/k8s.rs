//! The Kubernetes checks: pods, a deployment and its rollout, events, log lines matching a
//! pattern, and resource usage.

use std::collections::BTreeMap;

use triage_shared::runbook::Evidence;
use triage_shared::{ApiError, ErrorKind};

use super::{CheckContext, Found, NotRun, bad_template, now};
use crate::kubernetes::K8s;
use crate::runbooks::template::{self, Values};

/// The namespace and optional selector of a pod check, resolved, and the client to ask.
fn scope<'a>(
    ctx: &'a CheckContext,
    ns: &str,
    selector: Option<&str>,
    values: &Values,
) -> Result<(&'a K8s, String, Option<String>), NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let selector = selector.map(|s| template::selector(s, values)).transpose().map_err(bad_template)?;
    Ok((ctx.k8s()?, ns, selector))
}

pub(super) async fn pods(
    ctx: &CheckContext,
    ns: &str,
    selector: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let (k, ns, selector) = scope(ctx, ns, selector, values)?;
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
    Ok(Found::table(v, &["pod", "ready", "status", "restarts", "last termination", "node"], rows, path))
}

pub(super) async fn deployment(
    ctx: &CheckContext,
    ns: &str,
    name: &str,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let name = template::k8s_name(name, values).map_err(bad_template)?;
    let k = ctx.k8s()?;
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
    Ok(Found::table(
        v,
        &["field", "value"],
        rows,
        format!("GET /apis/apps/v1/namespaces/{ns}/deployments/{name}"),
    ))
}

pub(super) async fn events(
    ctx: &CheckContext,
    ns: &str,
    reason: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let k = ctx.k8s()?;
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
    Ok(Found::table(
        v,
        &["type", "reason", "object", "count", "message"],
        rows,
        format!("GET /api/v1/namespaces/{ns}/events"),
    ))
}

pub(super) async fn logs(
    ctx: &CheckContext,
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
    let k = ctx.k8s()?;
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

pub(super) async fn top(
    ctx: &CheckContext,
    ns: &str,
    selector: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let (k, ns, selector) = scope(ctx, ns, selector, values)?;
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
        note: usage.is_empty().then(|| "no pod metrics".to_owned()),
        ..Found::table(
            v,
            &["pod", "cpu", "cpu limit", "memory", "memory limit"],
            rows,
            format!("GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"),
        )
    })
}

/// Where each environment variable of the deployment's containers whose name starts with
/// `prefix` comes from, and whether the Secret and key it names exist (as far as Triage may
/// tell: `kubernetes.list_secret_names`, `kubernetes.check_secret_keys`). Names only.
pub(super) async fn env_refs(
    ctx: &CheckContext,
    ns: &str,
    deployment: &str,
    prefix: Option<&str>,
    values: &Values,
) -> Result<Found, NotRun> {
    let ns = template::k8s_namespace(ns, values).map_err(bad_template)?;
    let name = template::k8s_name(deployment, values).map_err(bad_template)?;
    let prefix = prefix.unwrap_or_default();
    let k = ctx.k8s()?;
    let d = k.get_deployment(&ns, &name).await?;
    let secrets = k.deployment_secrets(&ns, &name).await?;
    let pod = d.spec.and_then(|s| s.template.spec).unwrap_or_default();
    let mut rows = Vec::new();
    let (mut variables, mut from_secrets, mut missing) = (0usize, 0usize, 0usize);
    let checked = k.list_secret_names || k.check_secret_keys;
    for c in pod.init_containers.iter().flatten().chain(pod.containers.iter()) {
        for e in c.env.iter().flatten().filter(|e| e.name.starts_with(prefix)) {
            variables += 1;
            let from = e.value_from.as_ref();
            let (source, state) = if let Some(r) = from.and_then(|v| v.secret_key_ref.as_ref()) {
                from_secrets += 1;
                let reference = secrets
                    .references
                    .iter()
                    .find(|s| s.container == c.name && s.via == format!("env {}", e.name));
                let optional = r.optional.unwrap_or(false);
                let state = match reference.map(|s| (s.exists, s.key_exists)) {
                    Some((Some(false), _)) => {
                        missing += usize::from(!optional);
                        format!(
                            "Secret {} does not exist{}",
                            r.name,
                            if optional { " (optional)" } else { "" }
                        )
                    }
                    Some((_, Some(false))) => {
                        missing += usize::from(!optional);
                        format!(
                            "Secret {} has no key {}{}",
                            r.name,
                            r.key,
                            if optional { " (optional)" } else { "" }
                        )
                    }
                    Some((_, Some(true))) => "Secret and key exist".to_owned(),
                    Some((Some(true), None)) => "Secret exists (keys not checked)".to_owned(),
                    _ => "not checked".to_owned(),
                };
                (format!("Secret {} key {}", r.name, r.key), state)
            } else if let Some(r) = from.and_then(|v| v.config_map_key_ref.as_ref()) {
                (format!("ConfigMap {} key {}", r.name, r.key), String::new())
            } else if let Some(r) = from.and_then(|v| v.field_ref.as_ref()) {
                (format!("field {}", r.field_path), String::new())
            } else if from.is_some() {
                ("resource field".to_owned(), String::new())
            } else {
                ("a literal value (not shown)".to_owned(), String::new())
            };
            rows.push(vec![c.name.clone(), e.name.clone(), source, state]);
        }
        for f in c.env_from.iter().flatten() {
            if let Some(r) = &f.secret_ref {
                let exists = secrets
                    .references
                    .iter()
                    .find(|s| s.container == c.name && s.secret == r.name && s.via == "envFrom");
                let state = match exists.and_then(|s| s.exists) {
                    Some(false) => {
                        missing += usize::from(!r.optional.unwrap_or(false));
                        format!("Secret {} does not exist", r.name)
                    }
                    Some(true) => "Secret exists".to_owned(),
                    None => "not checked".to_owned(),
                };
                rows.push(vec![
                    c.name.clone(),
                    format!("{}* (every key)", f.prefix.clone().unwrap_or_default()),
                    format!("Secret {} (envFrom)", r.name),
                    state,
                ]);
            }
        }
    }
    let mut v = BTreeMap::new();
    v.insert("variables".to_owned(), variables as f64);
    v.insert("from_secrets".to_owned(), from_secrets as f64);
    v.insert("missing_refs".to_owned(), missing as f64);
    let command = format!(
        "kubectl set env {} -n {} --list",
        triage_shared::commands::shell_quote(&format!("deployment/{name}")),
        triage_shared::commands::shell_quote(&ns)
    );
    let mut found = Found::table(v, &["container", "variable", "from", "state"], rows, command);
    if !checked && from_secrets > 0 {
        found.note = Some(
            "Whether the Secrets and keys exist is not checked: enable kubernetes.list_secret_names or kubernetes.check_secret_keys.".to_owned(),
        );
    }
    if variables == 0 {
        found.note = Some(format!("no environment variable starts with {prefix:?}"));
    }
    Ok(found)
}
