//! The Kubernetes manifests in `deploy/kubernetes/`: every overlay renders with real
//! `kubectl kustomize`, every object deserialises into its `k8s-openapi` type, the pod is hardened,
//! the ConfigMap's `triage.toml` passes Triage's own configuration check, the alert rules pass
//! `promtool check rules`, and the RBAC rules cover every Kubernetes request Triage really makes.
//!
//! The last point is derived from behaviour, not from a hand-kept list: the test drives every
//! Kubernetes feature of the API against the sandbox, reads the sandbox's access log, turns each
//! request into the (API group, resource, verb, namespace) an authorizer would check, and evaluates
//! the rendered Roles and ClusterRoles against it.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde_json::{Value, json};
use triage_sandbox::Incident;
use triage_sandbox::api::ApiRequest;
use triage_tests::paths::workspace_root;
use triage_tests::{SseReader, TestApp, TestSandbox};

const OVERLAYS: [&str; 2] = ["single-sqlite", "ha-postgres"];
const WATCHED: &str = "streaming-analytics";

/// `kubectl kustomize` of one overlay, as JSON documents.
fn render(overlay: &str) -> Result<Vec<Value>> {
    render_dir(&workspace_root().join("deploy/kubernetes/overlays").join(overlay))
}

/// An overlay of `base` (an overlay's name) plus the `secret-names` component, as a team would write
/// it (kustomize refuses absolute paths, so it lives under `target/`).
fn render_with_secret_names(base: &str) -> Result<Vec<Value>> {
    let dir = workspace_root().join("target/kustomize").join(format!("{base}-secret-names"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - \
             ../../../deploy/kubernetes/overlays/{base}\ncomponents:\n  - ../../../deploy/kubernetes/components/secret-names\n"
        ),
    )?;
    render_dir(&dir)
}

fn render_dir(dir: &std::path::Path) -> Result<Vec<Value>> {
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .context("cannot run kubectl kustomize")?;
    if !out.status.success() {
        bail!("kubectl kustomize {} failed: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn typed<T: serde::de::DeserializeOwned>(doc: &Value) -> Result<T> {
    serde_json::from_value(doc.clone())
        .with_context(|| format!("{} {}", doc["kind"], doc["metadata"]["name"]))
}

#[test]
fn every_overlay_renders_into_valid_hardened_objects() -> Result<()> {
    for overlay in OVERLAYS {
        let docs = render(overlay)?;
        let mut kinds = BTreeSet::new();
        for doc in &docs {
            let kind = doc["kind"].as_str().unwrap_or_default();
            kinds.insert(kind.to_owned());
            match kind {
                "Namespace" => drop(typed::<Namespace>(doc)?),
                "ServiceAccount" => drop(typed::<ServiceAccount>(doc)?),
                "Role" => drop(typed::<Role>(doc)?),
                "RoleBinding" => drop(typed::<RoleBinding>(doc)?),
                "ClusterRole" => drop(typed::<ClusterRole>(doc)?),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(doc)?),
                "ConfigMap" => drop(typed::<ConfigMap>(doc)?),
                "Service" => drop(typed::<Service>(doc)?),
                "Deployment" => drop(typed::<Deployment>(doc)?),
                "NetworkPolicy" => drop(typed::<NetworkPolicy>(doc)?),
                "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(doc)?),
                "PersistentVolumeClaim" => drop(typed::<PersistentVolumeClaim>(doc)?),
                other => bail!("{overlay}: unexpected kind {other}"),
            }
        }
        for needed in [
            "Deployment",
            "Service",
            "ServiceAccount",
            "ConfigMap",
            "Role",
            "RoleBinding",
            "NetworkPolicy",
            "PodDisruptionBudget",
        ] {
            assert!(kinds.contains(needed), "{overlay} has no {needed}");
        }

        let deployment: Deployment = typed(of_kind(&docs, "Deployment")[0])?;
        let spec = deployment.spec.context("deployment spec")?;
        let pod = spec.template.spec.context("pod spec")?;
        let pod_security = pod.security_context.context("pod securityContext")?;
        assert_eq!(pod_security.run_as_non_root, Some(true), "{overlay}");
        assert_eq!(
            pod_security.seccomp_profile.map(|p| p.type_),
            Some("RuntimeDefault".to_owned()),
            "{overlay}"
        );
        assert_eq!(pod.service_account_name.as_deref(), Some("triage"));
        let container = &pod.containers[0];
        let security = container.security_context.clone().context("container securityContext")?;
        assert_eq!(security.read_only_root_filesystem, Some(true), "{overlay}");
        assert_eq!(security.allow_privilege_escalation, Some(false), "{overlay}");
        assert_eq!(security.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_owned()]), "{overlay}");
        let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
            p.as_ref().and_then(|p| p.http_get.as_ref()?.path.clone())
        };
        assert_eq!(probe_path(&container.readiness_probe).as_deref(), Some("/readyz"));
        assert_eq!(probe_path(&container.liveness_probe).as_deref(), Some("/healthz"));
        assert!(container.resources.as_ref().is_some_and(|r| r.requests.is_some() && r.limits.is_some()));
        assert!(
            container.image.as_deref().is_some_and(|i| i.contains(':')),
            "{overlay}: the image is pinned"
        );
        // Every secret reaches the pod from a Secret, never from the ConfigMap.
        let env = container.env.clone().unwrap_or_default();
        assert!(env.iter().all(|e| e.value.is_none()), "{overlay}: plain env values: {env:?}");
        let replicas = spec.replicas.unwrap_or(1);
        let store_from_secret = env.iter().any(|e| e.name == "TRIAGE__STORE__POSTGRES_URL");
        match overlay {
            "single-sqlite" => {
                assert_eq!(replicas, 1);
                assert!(!store_from_secret);
                assert!(
                    of_kind(&docs, "PersistentVolumeClaim").len() == 1,
                    "SQLite lives on a persistent volume"
                );
            }
            _ => {
                assert!(replicas >= 2, "several replicas");
                assert!(store_from_secret, "the shared store comes from a Secret");
            }
        }

        // The configuration in the ConfigMap is valid for this very build of Triage.
        let config = of_kind(&docs, "ConfigMap")
            .into_iter()
            .find_map(|c| c["data"]["triage.toml"].as_str())
            .context("no ConfigMap with triage.toml")?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("triage.toml");
        std::fs::write(&path, config)?;
        // Every secret the pod gets from `triage-secrets`, with a stand-in value, as the kubelet
        // would set it from the Secret.
        let secrets: Vec<(String, String)> = env
            .iter()
            .filter(|e| e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).is_some())
            .map(|e| {
                let value = match e.name.as_str() {
                    "TRIAGE__AUTH__SESSION_KEY" => "c2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXk=",
                    _ => "host=db.example password=stand-in",
                };
                (e.name.clone(), value.to_owned())
            })
            .collect();
        let settings = triage::config::Settings::load_from(Some(&path), secrets).map_err(|e| {
            anyhow::anyhow!("{overlay}: triage.toml with the Secret's variables is refused: {e}")
        })?;
        assert_eq!(settings.auth.mode(), triage::config::AuthModeSetting::Oidc, "{overlay}: SSO is on");
        // And without the Secret's variables Triage refuses to start: nothing secret is in the ConfigMap.
        assert!(
            triage::config::Settings::load_from(Some(&path), std::iter::empty()).is_err(),
            "{overlay}: triage.toml alone is accepted, so a secret must be in the ConfigMap"
        );

        // Triage's own alert rules are valid Prometheus rules.
        let rules = of_kind(&docs, "ConfigMap")
            .into_iter()
            .find_map(|c| c["data"]["triage-rules.yaml"].as_str())
            .context("no ConfigMap with Triage's alert rules")?;
        let rules_path = dir.path().join("rules.yaml");
        std::fs::write(&rules_path, rules)?;
        let out =
            std::process::Command::new("promtool").arg("check").arg("rules").arg(&rules_path).output()?;
        assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// What an authorizer checks for one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Attributes {
    group: String,
    resource: String,
    verb: String,
    namespace: Option<String>,
}

/// Maps a request on the API server to its authorization attributes, the way kube-apiserver's
/// request-info resolver does; `None` for discovery and other non-resource URLs.
fn attributes(req: &ApiRequest) -> Option<Attributes> {
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => (String::new(), rest),
        ["apis", group, _version, rest @ ..] if !rest.is_empty() => ((*group).to_owned(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let (resource, named) = match rest {
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => return None,
    };
    let watch = req.query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (req.method.as_str(), named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some(Attributes { group, resource, verb: verb.to_owned(), namespace })
}

fn rule_allows(rule: &PolicyRule, a: &Attributes) -> bool {
    let any = |list: &Option<Vec<String>>, want: &str| {
        list.as_ref().is_some_and(|l| l.iter().any(|x| x == "*" || x == want))
    };
    any(&rule.api_groups, &a.group)
        && rule.resources.iter().flatten().any(|r| r == "*" || *r == a.resource)
        && { rule.verbs.iter().any(|v| v == "*" || *v == a.verb) }
}

/// The rules granted to `system:serviceaccount:triage:triage` by the rendered bindings.
struct Grants {
    /// (namespace, rules of a Role bound there)
    namespaced: Vec<(String, Vec<PolicyRule>)>,
    cluster: Vec<PolicyRule>,
}

impl Grants {
    fn from_docs(docs: &[Value], include: impl Fn(&str) -> bool) -> Result<Self> {
        let bound_to_triage = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
            subjects.iter().flatten().any(|s| {
                s.kind == "ServiceAccount" && s.name == "triage" && s.namespace.as_deref() == Some("triage")
            })
        };
        let roles: Vec<Role> = of_kind(docs, "Role").into_iter().map(typed).collect::<Result<_>>()?;
        let cluster_roles: Vec<ClusterRole> =
            of_kind(docs, "ClusterRole").into_iter().map(typed).collect::<Result<_>>()?;
        let mut grants = Grants { namespaced: Vec::new(), cluster: Vec::new() };
        for binding in of_kind(docs, "RoleBinding") {
            let binding: RoleBinding = typed(binding)?;
            let ns = binding.metadata.namespace.clone().unwrap_or_default();
            if !bound_to_triage(&binding.subjects) || !include(&binding.role_ref.name) {
                continue;
            }
            let role = roles
                .iter()
                .find(|r| {
                    r.metadata.name.as_deref() == Some(&binding.role_ref.name)
                        && r.metadata.namespace.as_deref() == Some(&ns)
                })
                .with_context(|| format!("RoleBinding to missing Role {}", binding.role_ref.name))?;
            grants.namespaced.push((ns, role.rules.clone().unwrap_or_default()));
        }
        for binding in of_kind(docs, "ClusterRoleBinding") {
            let binding: ClusterRoleBinding = typed(binding)?;
            if !bound_to_triage(&binding.subjects) || !include(&binding.role_ref.name) {
                continue;
            }
            let role = cluster_roles
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(&binding.role_ref.name))
                .with_context(|| format!("binding to missing ClusterRole {}", binding.role_ref.name))?;
            grants.cluster.extend(role.rules.clone().unwrap_or_default());
        }
        Ok(grants)
    }

    fn allows(&self, a: &Attributes) -> bool {
        self.cluster.iter().any(|r| rule_allows(r, a))
            || a.namespace.as_ref().is_some_and(|ns| {
                self.namespaced.iter().any(|(n, rules)| n == ns && rules.iter().any(|r| rule_allows(r, a)))
            })
    }
}

/// Reads an SSE stream until `events` events arrived or a few seconds passed.
async fn sample_stream(app: &TestApp, path: &str, events: usize) -> Result<usize> {
    let client = reqwest::Client::new();
    let mut reader = SseReader::connect(&client, &app.url(path)).await?;
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen < events {
        match tokio::time::timeout_at(deadline, reader.next()).await {
            Ok(Ok(Some(_))) => seen += 1,
            _ => break,
        }
    }
    Ok(seen)
}

/// Drives every Kubernetes feature of Triage's API against the sandbox.
async fn tour(app: &TestApp, sb: &TestSandbox) -> Result<()> {
    let ns = format!("/api/k8s/namespaces/{WATCHED}");
    let pod = sb
        .kubectl(&["get", "pods", "-l", "app=websocket-server", "-o", "jsonpath={.items[0].metadata.name}"])
        .await?;
    for path in [
        "/api/k8s/namespaces".to_owned(),
        "/api/k8s/nodes/top".to_owned(),
        format!("{ns}/pods"),
        format!("{ns}/pods/{pod}"),
        format!("{ns}/pods/{pod}/logs?tail=20"),
        format!("{ns}/deployments"),
        format!("{ns}/events"),
        format!("{ns}/top/pods"),
        format!("{ns}/services"),
        format!("{ns}/networkpolicies"),
        format!("{ns}/deployments/stream-processor/secrets"),
    ] {
        let _: Value = app.get_json(&path).await.with_context(|| format!("GET {path}"))?;
    }
    assert!(sample_stream(app, &format!("{ns}/deployments/websocket-server/rollout"), 1).await? >= 1);
    assert!(sample_stream(app, &format!("{ns}/pods/{pod}/logs/follow?tail=5"), 1).await? >= 1);

    let post = |path: String, body: Value| async move {
        let (status, answer) = app.post_json(&path, &body).await?;
        if status != 200 {
            bail!("POST {path}: {status} {answer}");
        }
        Ok::<Value, anyhow::Error>(answer)
    };
    post(format!("{ns}/deployments/stream-processor/scale"), json!({"replicas": 7, "dry_run": true})).await?;
    post(format!("{ns}/deployments/stream-processor/scale"), json!({"replicas": 7})).await?;
    post(format!("{ns}/deployments/ml-inference/restart"), json!({"confirm": "ml-inference"})).await?;
    post(format!("{ns}/pods/{pod}/delete"), json!({"confirm": pod})).await?;
    post(
        format!("{ns}/pods/delete"),
        json!({"selector": "app=websocket-server", "confirm": "app=websocket-server"}),
    )
    .await?;
    let job = post(
        format!("{ns}/emergency-restart"),
        json!({"deployments": ["ml-inference"], "confirm": WATCHED, "shutdown_wait_secs": 5, "rollout_timeout_secs": 60}),
    )
    .await?;
    let id = job["id"].as_str().context("job id")?.to_owned();
    for _ in 0..200 {
        let j: Value = app.get_json(&format!("/api/jobs/{id}")).await?;
        if j["finished"] == true {
            assert_eq!(j["error"], Value::Null, "{j}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bail!("the emergency restart did not finish")
}

/// Runs every shipped runbook once, so the Kubernetes requests of every check are in the log.
async fn run_every_runbook(app: &TestApp) -> Result<()> {
    let runbooks: Vec<triage_shared::runbook::RunbookSummary> = app.get_json("/api/runbooks").await?;
    assert!(runbooks.len() >= 14, "{} runbooks loaded", runbooks.len());
    for runbook in runbooks {
        let (status, body) =
            app.post_json(&format!("/api/runbooks/{}/runs", runbook.id), &json!({"params": {}})).await?;
        assert_eq!(status, 200, "{}: {body}", runbook.id);
        let id = body["run_id"].as_str().context("run id")?.to_owned();
        let mut finished = false;
        for _ in 0..150 {
            let state: Value = app.get_json(&format!("/api/runs/{id}")).await?;
            if !state["finished_at"].is_null() {
                finished = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(finished, "{} did not finish", runbook.id);
    }
    Ok(())
}

#[tokio::test]
async fn rbac_covers_every_kubernetes_request_triage_makes() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let mut settings =
        triage_tests::app::kubernetes_settings(&sb.kubeconfig, triage_shared::actions::Role::Operator);
    settings.runbooks.dir = workspace_root().join("runbooks");
    let app = TestApp::start_with(settings).await?;
    sb.sandbox.access_log.clear();
    tour(&app, &sb).await?;
    run_every_runbook(&app).await?;
    let seen: BTreeSet<Attributes> = sb.sandbox.access_log.requests().iter().filter_map(attributes).collect();
    assert!(seen.len() >= 10, "the tour reached the API: {seen:?}");

    for overlay in OVERLAYS {
        let docs = render(overlay)?;
        let all = Grants::from_docs(&docs, |_| true)?;
        let missing: Vec<&Attributes> = seen.iter().filter(|a| !all.allows(a)).collect();
        assert!(missing.is_empty(), "{overlay}: requests the RBAC rules do not allow: {missing:#?}");

        // Without the actions Role, Triage can still make every read it makes.
        let read_only = Grants::from_docs(&docs, |role| role != "triage-actions")?;
        let reads: Vec<&Attributes> =
            seen.iter().filter(|a| matches!(a.verb.as_str(), "get" | "list" | "watch")).collect();
        let missing: Vec<&&Attributes> = reads.iter().filter(|a| !read_only.allows(a)).collect();
        assert!(missing.is_empty(), "{overlay}: reads the read-only roles do not allow: {missing:#?}");
        // And the read-only roles grant nothing that writes.
        for write in ["create", "update", "patch", "delete", "deletecollection"] {
            for a in &seen {
                let probe = Attributes { verb: write.to_owned(), ..a.clone() };
                assert!(!read_only.allows(&probe), "{overlay}: the read-only roles allow {probe:?}");
            }
        }

        // Least privilege: every granted (group, resource, verb) is used by the tour.
        for rules in all.namespaced.iter().map(|(_, r)| r).chain(std::iter::once(&all.cluster)) {
            for rule in rules {
                for group in rule.api_groups.iter().flatten() {
                    for resource in rule.resources.iter().flatten() {
                        for verb in &rule.verbs {
                            assert!(
                                seen.iter()
                                    .any(|a| &a.group == group && &a.resource == resource && &a.verb == verb),
                                "{overlay}: {group}/{resource} {verb} is granted but Triage never uses it"
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn kustomize_base_has_no_namespace_override() -> Result<()> {
    // A `namespace:` in the kustomization would move the Roles out of the watched namespace.
    let text = std::fs::read_to_string(workspace_root().join("deploy/kubernetes/base/kustomization.yaml"))?;
    assert!(!text.lines().any(|l| l.starts_with("namespace:")), "base/kustomization.yaml sets a namespace");
    let docs = render("single-sqlite")?;
    for role in of_kind(&docs, "Role") {
        assert_eq!(role["metadata"]["namespace"], WATCHED, "{role}");
    }
    Ok(())
}

/// Listing Secret names is off by default and needs the `secret-names` component: without it the
/// rendered RBAC does not allow the request; with it, it does, and Triage asks for metadata only.
#[tokio::test]
async fn secret_names_are_listed_only_with_the_component_and_as_metadata() -> Result<()> {
    let sb = TestSandbox::start(Incident::Healthy).await?;
    let path = format!("/api/k8s/namespaces/{WATCHED}/deployments/stream-processor/secrets");

    // Off: the references come from the deployment alone.
    let app = TestApp::start_with_kubernetes(&sb.kubeconfig).await?;
    let refs: triage_shared::k8s::DeploymentSecrets = app.get_json(&path).await?;
    assert!(!refs.checked_existence);
    let names: Vec<&str> = refs.references.iter().map(|r| r.secret.as_str()).collect();
    assert_eq!(
        names,
        vec!["stream-processor-credentials", "kafka-sasl", "streaming-secrets", "streaming-secrets"]
    );
    assert!(refs.references.iter().all(|r| r.exists.is_none()));
    let body = app.http.get(app.url(&path)).send().await?.text().await?;
    assert!(!body.contains("c2FuZGJveC1vbmx5"), "a Secret value reached the answer");

    // On: existence from a metadata-only list.
    sb.sandbox.access_log.clear();
    let mut settings =
        triage_tests::app::kubernetes_settings(&sb.kubeconfig, triage_shared::actions::Role::Reader);
    if let Some(k) = settings.kubernetes.as_mut() {
        k.list_secret_names = true;
    }
    let app = TestApp::start_with(settings).await?;
    let refs: triage_shared::k8s::DeploymentSecrets = app.get_json(&path).await?;
    assert!(refs.checked_existence);
    assert!(refs.references.iter().all(|r| r.exists == Some(true)), "{refs:?}");
    let requests = sb.sandbox.access_log.requests();
    let secret_lists: Vec<&ApiRequest> = requests.iter().filter(|r| r.path.ends_with("/secrets")).collect();
    assert_eq!(secret_lists.len(), 1, "{requests:?}");
    assert!(secret_lists[0].accept.contains("as=PartialObjectMetadataList"), "{:?}", secret_lists[0]);
    let wanted = secret_lists.iter().filter_map(|r| attributes(r)).next().context("attributes")?;

    for overlay in OVERLAYS {
        let plain = Grants::from_docs(&render(overlay)?, |_| true)?;
        assert!(!plain.allows(&wanted), "{overlay} allows listing secrets without the component");
        let docs = render_with_secret_names(overlay)?;
        let with = Grants::from_docs(&docs, |_| true)?;
        assert!(with.allows(&wanted), "{overlay} + secret-names does not allow {wanted:?}");
        let deployment: Deployment = typed(of_kind(&docs, "Deployment")[0])?;
        let env = deployment
            .spec
            .and_then(|s| s.template.spec)
            .map(|p| p.containers[0].env.clone().unwrap_or_default());
        assert!(
            env.iter()
                .flatten()
                .any(|e| e.name == "TRIAGE__KUBERNETES__LIST_SECRET_NAMES"
                    && e.value.as_deref() == Some("true")),
            "{overlay} + secret-names does not switch the feature on"
        );
    }
    Ok(())
}
