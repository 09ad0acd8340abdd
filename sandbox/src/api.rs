//! The simulated Kubernetes API server: discovery (and the OpenAPI stubs kubectl's validation
//! asks for), get/list/watch with selectors and paging, `Table` output for kubectl, pod logs,
//! creating Deployments, StatefulSets and bare Pods (`admission.rs` checks them), patches and
//! deletes with preconditions and cascading, the `scale` subresource, `dryRun=All`,
//! metrics.k8s.io, and `Status` error bodies.

// Errors here are finished HTTP responses, built at most once per request: boxing them gains nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::admission;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Kind, rfc3339};
use crate::table;
use crate::world::{NAMESPACE, World};

pub type Shared = Arc<Mutex<World>>;

/// Path prefix under which the API answers as the read-only `sandbox-viewer` user.
pub const VIEWER_PREFIX: &str = "/viewer";

/// Marks requests made as the read-only user.
#[derive(Debug, Clone, Copy)]
pub struct ReadOnly;

/// Locks the world; a poisoned lock (a panicked request) still holds consistent data.
pub fn lock(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn router(world: Shared, log: AccessLog, faults: FaultSwitch) -> Router {
    Router::new()
        .nest(VIEWER_PREFIX, routes().layer(axum::Extension(ReadOnly)))
        .merge(routes())
        .with_state(world)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                log.record(request.method(), request.uri(), request.headers());
                let fault = faults.get();
                async move {
                    match fault {
                        ApiFault::None => next.run(request).await,
                        ApiFault::Status(code) => fault_status(code),
                        ApiFault::Hang => std::future::pending().await,
                    }
                }
            },
        ))
}

/// A fault the simulated API server answers every request with, for reliability tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiFault {
    #[default]
    None,
    /// Answer with this status and a Kubernetes `Status` body (e.g. 500, 429).
    Status(u16),
    /// Accept the request and never answer.
    Hang,
}

/// Shared switch for [`ApiFault`]; takes effect for the next request.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<Mutex<ApiFault>>);

impl FaultSwitch {
    pub fn set(&self, fault: ApiFault) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
    }

    pub fn get(&self) -> ApiFault {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn fault_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = match code {
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    };
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("injected fault: {reason}"), "reason": reason, "code": code
    });
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if code == 429 {
        response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    }
    response
}

/// One request the API served: what an authorizer would see (method, path and query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `Accept` header (e.g. a metadata-only list asks for `as=PartialObjectMetadataList`).
    pub accept: String,
}

/// The most recent requests made to the API, so tests can compare what a client really asked
/// for with what its RBAC rules allow.
#[derive(Debug, Clone, Default)]
pub struct AccessLog(Arc<Mutex<std::collections::VecDeque<ApiRequest>>>);

impl AccessLog {
    const CAPACITY: usize = 100_000;

    fn record(&self, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) {
        let mut log = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() == Self::CAPACITY {
            log.pop_front();
        }
        log.push_back(ApiRequest {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            accept: headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        });
    }

    /// Every recorded request, oldest first.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

fn routes() -> Router<Shared> {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/api/v1", get(core_resources))
        .route("/apis/{group}", get(api_group))
        .route("/apis/{group}/{version}", get(group_resources))
        .route("/openapi/v2", get(crate::openapi::v2))
        .route("/openapi/v3", get(crate::openapi::v3_root))
        .route("/openapi/v3/{*key}", get(crate::openapi::v3_group_version))
        .route("/api/v1/{plural}", get(core).delete(core).post(core))
        .route("/api/v1/{plural}/{name}", get(core).delete(core).patch(core).put(core))
        .route("/api/v1/namespaces/{namespace}/{plural}", get(core).delete(core).post(core))
        .route("/api/v1/namespaces/{namespace}/{plural}/{name}", get(core).delete(core).patch(core).put(core))
        .route("/api/v1/namespaces/{namespace}/{plural}/{name}/{sub}", get(core).patch(core).put(core))
        .route("/apis/{group}/{version}/{plural}", get(grouped).delete(grouped).post(grouped))
        .route(
            "/apis/{group}/{version}/{plural}/{name}",
            get(grouped).delete(grouped).patch(grouped).put(grouped),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}",
            get(grouped).delete(grouped).post(grouped),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
            get(grouped).delete(grouped).patch(grouped).put(grouped),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/{sub}",
            get(grouped).patch(grouped).put(grouped),
        )
        .fallback(|| async {
            status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            )
        })
}

// ---------- errors ----------

/// A `Status` failure body, as the API server sends it.
pub fn status_error(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn not_found(kind: Kind, name: &str) -> Response {
    let i = kind.info();
    status_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{} \"{name}\" not found", kind.qualified()),
        Some(json!({"name": name, "group": i.group, "kind": i.plural})),
    )
}

fn already_exists(kind: Kind, name: &str) -> Response {
    let i = kind.info();
    status_error(
        StatusCode::CONFLICT,
        "AlreadyExists",
        &format!("{} \"{name}\" already exists", kind.qualified()),
        Some(json!({"name": name, "group": i.group, "kind": i.plural})),
    )
}

/// A 409 `Conflict` about `name`: a stale resourceVersion or a failed precondition.
fn conflict(kind: Kind, name: &str, why: &str) -> Response {
    let i = kind.info();
    status_error(
        StatusCode::CONFLICT,
        "Conflict",
        &format!("Operation cannot be fulfilled on {} \"{name}\": {why}", kind.qualified()),
        Some(json!({"name": name, "group": i.group, "kind": i.plural})),
    )
}

/// RBAC's answer to the viewer attempting a write, worded as a real API server words it.
fn forbidden(kind: Kind, req: &Req) -> Response {
    let i = kind.info();
    let verb = match req.method {
        Method::DELETE => "delete",
        Method::PATCH => "patch",
        Method::PUT => "update",
        _ => "create",
    };
    let resource = match &req.sub {
        Some(sub) => format!("{}/{sub}", i.plural),
        None => i.plural.to_owned(),
    };
    let qualified = kind.qualified();
    let name = req.name.clone().unwrap_or_default();
    status_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "{qualified} \"{name}\" is forbidden: User \"sandbox-viewer\" cannot {verb} resource \"{resource}\" in API group \"{}\" in the namespace \"{}\"",
            i.group,
            req.namespace.clone().unwrap_or_default()
        ),
        Some(json!({"name": name, "group": i.group, "kind": i.plural})),
    )
}

fn bad_request(message: &str) -> Response {
    status_error(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

fn method_not_allowed() -> Response {
    status_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        None,
    )
}

fn json_response(value: &Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

// ---------- discovery ----------

async fn version() -> Response {
    json_response(&json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-triage-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"
    }))
}

async fn api_versions(State(world): State<Shared>) -> Response {
    let addr = lock(&world).api_addr.clone();
    json_response(&json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}))
}

const GROUPS: [(&str, &str); 4] =
    [("apps", "v1"), ("networking.k8s.io", "v1"), ("discovery.k8s.io", "v1"), ("metrics.k8s.io", "v1beta1")];

fn group_json(group: &str, version: &str) -> Value {
    let gv = format!("{group}/{version}");
    json!({"name": group, "versions": [{"groupVersion": gv, "version": version}],
           "preferredVersion": {"groupVersion": gv, "version": version}})
}

async fn api_groups() -> Response {
    let groups: Vec<Value> = GROUPS.iter().map(|(g, v)| group_json(g, v)).collect();
    json_response(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

async fn api_group(Path(group): Path<String>) -> Response {
    match GROUPS.iter().find(|(g, _)| *g == group) {
        Some((g, v)) => {
            let mut body = group_json(g, v);
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            json_response(&body)
        }
        None => status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
    }
}

fn resource_json(kind: Kind) -> Value {
    let i = kind.info();
    json!({"name": i.plural, "singularName": i.kind.to_lowercase(), "namespaced": i.namespaced, "kind": i.kind,
           "verbs": i.verbs, "shortNames": i.short_names})
}

fn resource_list(group_version: &str, resources: Vec<Value>) -> Response {
    json_response(
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

async fn core_resources() -> Response {
    let mut resources: Vec<Value> =
        Kind::ALL.iter().filter(|k| k.info().group.is_empty()).map(|k| resource_json(*k)).collect();
    resources.push(
        json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}),
    );
    resources.push(json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
    resource_list("v1", resources)
}

async fn group_resources(Path((group, version)): Path<(String, String)>) -> Response {
    if group == "metrics.k8s.io" && version == "v1beta1" {
        return resource_list(
            "metrics.k8s.io/v1beta1",
            vec![
                json!({"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]}),
                json!({"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]}),
            ],
        );
    }
    let mut resources: Vec<Value> = Kind::ALL
        .iter()
        .filter(|k| k.info().group == group && k.info().version == version)
        .map(|k| resource_json(*k))
        .collect();
    if resources.is_empty() {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        );
    }
    if group == "apps" {
        for (plural, kind) in [("deployments", "Deployment"), ("statefulsets", "StatefulSet")] {
            resources.push(json!({"name": format!("{plural}/scale"), "singularName": "", "namespaced": true, "group": "autoscaling",
                                  "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            resources.push(json!({"name": format!("{plural}/status"), "singularName": "", "namespaced": true, "kind": kind, "verbs": ["get"]}));
        }
    }
    resource_list(&format!("{group}/{version}"), resources)
}

// ---------- resource requests ----------

struct Req {
    method: Method,
    /// The caller may only read (the viewer user).
    read_only: bool,
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    body: Bytes,
}

impl Req {
    fn flag(&self, key: &str) -> bool {
        self.query.get(key).is_some_and(|v| v == "true" || v == "1")
    }

    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    fn wants_table(&self) -> bool {
        self.accept.contains("as=Table")
    }
}

async fn core(
    State(world): State<Shared>,
    read_only: Option<axum::Extension<ReadOnly>>,
    method: Method,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut req = build_req(method, "", "v1", params, query, &headers, body);
    req.read_only = read_only.is_some();
    handle(world, req).await
}

async fn grouped(
    State(world): State<Shared>,
    read_only: Option<axum::Extension<ReadOnly>>,
    method: Method,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let group = params.get("group").cloned().unwrap_or_default();
    let version = params.get("version").cloned().unwrap_or_default();
    let mut req = build_req(method, &group, &version, params, query, &headers, body);
    req.read_only = read_only.is_some();
    handle(world, req).await
}

fn build_req(
    method: Method,
    group: &str,
    version: &str,
    mut params: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Req {
    let header_text = |name: header::HeaderName| {
        headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    Req {
        method,
        read_only: false,
        group: group.to_owned(),
        version: version.to_owned(),
        namespace: params.remove("namespace"),
        plural: params.remove("plural").unwrap_or_default(),
        name: params.remove("name"),
        sub: params.remove("sub"),
        query,
        accept: header_text(header::ACCEPT),
        content_type: header_text(header::CONTENT_TYPE),
        body,
    }
}

async fn handle(world: Shared, req: Req) -> Response {
    if req.group == "metrics.k8s.io" {
        return crate::metrics_api::handle(
            &world,
            req.namespace.as_deref(),
            &req.plural,
            req.name.as_deref(),
        );
    }
    // `/api/v1/namespaces/{name}` arrives as plural=namespaces, name=NAME.
    let Some(kind) = Kind::from_path(&req.group, &req.version, &req.plural) else {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        );
    };
    if kind.info().namespaced && req.namespace.is_none() && req.name.is_some() {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        );
    }
    if let Some(ns) = &req.namespace
        && lock(&world).store.get(Kind::Namespace, "", ns).is_none()
        && kind != Kind::Namespace
    {
        return not_found(Kind::Namespace, ns);
    }
    if req.read_only && req.method != Method::GET {
        return forbidden(kind, &req);
    }
    match (&req.method, &req.name, req.sub.as_deref()) {
        (&Method::GET, None, None) if req.flag("watch") => watch(world, kind, &req),
        (&Method::GET, None, None) => list(&world, kind, &req),
        (&Method::GET, Some(name), None) => get_one(&world, kind, &req, name),
        (&Method::GET, Some(name), Some("log")) if kind == Kind::Pod => {
            crate::logs::pod_log(world, name, &req.query)
        }
        (&Method::GET, Some(name), Some("status")) => get_one(&world, kind, &req, name),
        (_, Some(name), Some("scale")) if matches!(kind, Kind::Deployment | Kind::StatefulSet) => {
            scale(&world, kind, &req, name).unwrap_or_else(|e| e)
        }
        (&Method::POST, None, None) if admission::creatable(kind) => {
            create(&world, kind, &req).unwrap_or_else(|e| e)
        }
        (&Method::DELETE, Some(name), None) if kind == Kind::Pod => {
            delete_pod(&world, &req, name).unwrap_or_else(|e| e)
        }
        (&Method::DELETE, Some(name), None) if matches!(kind, Kind::Deployment | Kind::StatefulSet) => {
            delete_workload(&world, kind, &req, name).unwrap_or_else(|e| e)
        }
        (&Method::DELETE, None, None) if kind == Kind::Pod => delete_pods(&world, &req),
        (&Method::PATCH | &Method::PUT, Some(name), None) if admission::creatable(kind) => {
            update(&world, kind, &req, name).unwrap_or_else(|e| e)
        }
        _ => method_not_allowed(),
    }
}

fn namespace_of(req: &Req, kind: Kind) -> String {
    if kind.info().namespaced { req.namespace.clone().unwrap_or_default() } else { String::new() }
}

/// Objects of `kind` visible to the request, filtered by its selectors.
fn selected(world: &World, kind: Kind, req: &Req) -> Result<Vec<Value>, Response> {
    let mut virtual_objects = Vec::new();
    selection(world, kind, req, &mut virtual_objects).map(|refs| refs.into_iter().cloned().collect())
}

/// Like [`selected`] without copying: references into the store (or into `virtual_objects`,
/// which holds the objects computed for this request).
fn selection<'a>(
    world: &'a World,
    kind: Kind,
    req: &Req,
    virtual_objects: &'a mut Vec<Value>,
) -> Result<Vec<&'a Value>, Response> {
    let labels = LabelSelector::parse(req.query.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| bad_request(&format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(req.query.get("fieldSelector").map_or("", String::as_str))
        .map_err(|e| bad_request(&e))?;
    let ns = if kind.info().namespaced { req.namespace.as_deref() } else { None };
    let objects: Vec<&Value> = match kind {
        Kind::Endpoints | Kind::EndpointSlice => {
            *virtual_objects = crate::virtual_objects::list(world, kind, ns);
            virtual_objects.iter().collect()
        }
        _ => world.store.list(kind, ns),
    };
    Ok(objects.into_iter().filter(|o| labels.matches(o) && fields.matches(o)).collect())
}

/// A list answer serialized straight from the store's objects (a page of a few thousand pods
/// is megabytes; copying it first doubled the time a list took).
#[derive(serde::Serialize)]
struct ListBody<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: &'a [&'a Value],
}

fn list(world: &Shared, kind: Kind, req: &Req) -> Response {
    // Paging: `continue` is the index of the next item, `limit` the page size.
    let start: usize = req.query.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize =
        req.query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    let w = lock(world);
    let mut virtual_objects = Vec::new();
    let matching = match selection(&w, kind, req, &mut virtual_objects) {
        Ok(matching) => matching,
        Err(response) => return response,
    };
    let rv = w.store.resource_version().to_string();
    let total = matching.len();
    let page_refs = &matching[start.min(total)..start.saturating_add(limit).min(total)];
    let next = start.saturating_add(page_refs.len());
    let mut metadata = json!({"resourceVersion": rv});
    if next < total {
        metadata["continue"] = json!(next.to_string());
        metadata["remainingItemCount"] = json!(total - next);
    }
    if !req.wants_table() && !req.accept.contains("as=PartialObjectMetadataList") {
        let body = ListBody {
            kind: format!("{}List", kind.info().kind),
            api_version: kind.api_version(),
            metadata,
            items: page_refs,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        drop(w);
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json).into_response();
    }
    let page: Vec<Value> = page_refs.iter().map(|o| (*o).clone()).collect();
    drop(w);
    if req.wants_table() {
        let include_object = req.query.get("includeObject").map_or("Metadata", String::as_str);
        return json_response(&table::table(kind, &page, metadata, include_object));
    }
    // `as=PartialObjectMetadataList`: metadata only, as the API server answers it (no spec, no data).
    let items: Vec<Value> = page
        .iter()
        .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}))
        .collect();
    json_response(&json!({
        "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": items
    }))
}

fn get_one(world: &Shared, kind: Kind, req: &Req, name: &str) -> Response {
    let w = lock(world);
    let ns = namespace_of(req, kind);
    let object = match kind {
        Kind::Endpoints | Kind::EndpointSlice => crate::virtual_objects::list(&w, kind, Some(&ns))
            .into_iter()
            .find(|o| o["metadata"]["name"] == name),
        _ => w.store.get(kind, &ns, name).cloned(),
    };
    drop(w);
    match object {
        Some(o) if req.wants_table() => {
            let rv = o["metadata"]["resourceVersion"].clone();
            let include_object = req.query.get("includeObject").map_or("Metadata", String::as_str);
            json_response(&table::table(kind, &[o], json!({"resourceVersion": rv}), include_object))
        }
        Some(o) => json_response(&o),
        None => not_found(kind, name),
    }
}

fn watch(world: Shared, kind: Kind, req: &Req) -> Response {
    let labels = LabelSelector::parse(req.query.get("labelSelector").map_or("", String::as_str));
    let fields = FieldSelector::parse(req.query.get("fieldSelector").map_or("", String::as_str));
    let (Ok(labels), Ok(fields)) = (labels, fields) else {
        return bad_request("invalid selector");
    };
    let ns = if kind.info().namespaced { req.namespace.clone() } else { None };
    let timeout = req.query.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1800);
    let since: Option<u64> = req.query.get("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v > 0);
    let w = lock(&world);
    let receiver = w.store.subscribe();
    let mut initial: Vec<Value> = Vec::new();
    let keep = move |c_kind: Kind, c_ns: &str, object: &Value| {
        c_kind == kind
            && ns.as_deref().is_none_or(|n| n == c_ns)
            && labels.matches(object)
            && fields.matches(object)
    };
    match since {
        None => {
            // No resourceVersion: start with the current state as ADDED events.
            if let Ok(objects) = selected(&w, kind, req) {
                initial.extend(objects.into_iter().map(|o| json!({"type": "ADDED", "object": o})));
            }
        }
        Some(rv) => match w.store.changes_since(rv) {
            Some(changes) => initial.extend(
                changes
                    .into_iter()
                    .filter(|c| keep(c.kind, &c.namespace, &c.object))
                    .map(|c| json!({"type": c.event_type, "object": c.object})),
            ),
            None => initial.push(json!({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {rv} ({})", w.store.resource_version()),
                "reason": "Expired", "code": 410}})),
        },
    }
    let expired = initial.iter().any(|e| e["type"] == "ERROR");
    let last_rv = w.store.resource_version();
    drop(w);
    let keep_live = keep.clone();
    let head = futures::stream::iter(initial.into_iter().map(|e| Ok::<Bytes, std::io::Error>(line(&e))));
    let live = tokio_stream::wrappers::BroadcastStream::new(receiver)
        .take_while(|r| futures::future::ready(r.is_ok()))
        .filter_map(move |r| {
            let out = match r {
                Ok(c) if c.rv > last_rv && keep_live(c.kind, &c.namespace, &c.object) => {
                    Some(Ok(line(&json!({"type": c.event_type, "object": c.object}))))
                }
                _ => None,
            };
            futures::future::ready(out)
        });
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    let body = if expired {
        Body::from_stream(head)
    } else {
        Body::from_stream(head.chain(live).take_until(deadline))
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn line(event: &Value) -> Bytes {
    let mut text = event.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn parse_body(req: &Req) -> Result<Value, Response> {
    if req.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| bad_request(&format!("the request body is not valid JSON: {e}")))
}

fn grace_period(req: &Req, body: &Value) -> f64 {
    req.query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse::<f64>().ok())
        .or_else(|| body["gracePeriodSeconds"].as_f64())
        .unwrap_or(30.0)
}

/// Whether a write is a dry run: `dryRun=All` in the query or, for deletes, in the body.
fn is_dry_run(req: &Req, body: &Value) -> bool {
    req.dry_run() || body["dryRun"].as_array().is_some_and(|d| d.iter().any(|v| v == "All"))
}

/// A delete's `preconditions`, checked against the object as the API server checks them: a
/// client that names the uid it planned for never deletes a successor under the same name.
fn check_preconditions(kind: Kind, name: &str, object: &Value, body: &Value) -> Result<(), Response> {
    for (field, what) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(wanted) = body["preconditions"][field].as_str() {
            let actual = object["metadata"][field].as_str().unwrap_or_default();
            if wanted != actual {
                return Err(conflict(
                    kind,
                    name,
                    &format!(
                        "Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn delete_pod(world: &Shared, req: &Req, name: &str) -> Result<Response, Response> {
    let body = parse_body(req)?;
    let ns = namespace_of(req, Kind::Pod);
    let mut w = lock(world);
    let object = w.store.get(Kind::Pod, &ns, name).cloned().ok_or_else(|| not_found(Kind::Pod, name))?;
    check_preconditions(Kind::Pod, name, &object, &body)?;
    if is_dry_run(req, &body) {
        return Ok(json_response(&object));
    }
    w.delete_pod(name, grace_period(req, &body));
    Ok(json_response(w.store.get(Kind::Pod, &ns, name).unwrap_or(&object)))
}

/// Deletes a Deployment (with its ReplicaSets and pods) or a StatefulSet (with its pods).
fn delete_workload(world: &Shared, kind: Kind, req: &Req, name: &str) -> Result<Response, Response> {
    let body = parse_body(req)?;
    let ns = namespace_of(req, kind);
    let mut w = lock(world);
    let object = w.store.get(kind, &ns, name).cloned().ok_or_else(|| not_found(kind, name))?;
    check_preconditions(kind, name, &object, &body)?;
    let policy =
        req.query.get("propagationPolicy").map(String::as_str).or(body["propagationPolicy"].as_str());
    if policy == Some("Orphan") || body["orphanDependents"] == true {
        return Err(bad_request(
            "the sandbox always deletes dependents: propagationPolicy Orphan is not supported",
        ));
    }
    if is_dry_run(req, &body) {
        return Ok(json_response(&object));
    }
    let removed = w.delete_workload(kind, name).unwrap_or(object);
    Ok(json_response(&removed))
}

fn delete_pods(world: &Shared, req: &Req) -> Response {
    let body = match parse_body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut w = lock(world);
    let targets = match selected(&w, Kind::Pod, req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !req.dry_run() {
        let grace = grace_period(req, &body);
        for t in &targets {
            if let Some(name) = t["metadata"]["name"].as_str() {
                w.delete_pod(name, grace);
            }
        }
    }
    let rv = w.store.resource_version().to_string();
    json_response(
        &json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": targets}),
    )
}

/// Applies a patch body of the request's content type to `target`.
fn apply_patch(req: &Req, target: &Value) -> Result<Value, Response> {
    let patch = parse_body(req)?;
    let ct = req.content_type.as_str();
    if req.method == Method::PUT {
        return Ok(patch);
    }
    let mut out = target.clone();
    if ct.starts_with("application/json-patch+json") {
        out = crate::patch::json_patch(target, &patch).map_err(|e| {
            status_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                &format!("invalid JSON patch: {e}"),
                None,
            )
        })?;
    } else if ct.starts_with("application/merge-patch+json") {
        crate::patch::merge_patch(&mut out, &patch);
    } else if ct.starts_with("application/strategic-merge-patch+json") {
        crate::patch::strategic_merge_patch(&mut out, &patch);
    } else if ct.starts_with("application/apply-patch") {
        // Server-side apply, approximated: the applied configuration (JSON, as kubectl sends it)
        // merged into the object; field ownership is not tracked.
        crate::patch::strategic_merge_patch(&mut out, &patch);
    } else {
        return Err(status_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!("the body of the request was in an unknown format: {ct}"),
            None,
        ));
    }
    Ok(out)
}

fn check_resource_version(old: &Value, new: &Value, kind: Kind, name: &str) -> Result<(), Response> {
    let wanted = &new["metadata"]["resourceVersion"];
    if wanted.is_string() && *wanted != old["metadata"]["resourceVersion"] {
        return Err(conflict(
            kind,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    Ok(())
}

/// A 422 `Invalid` status with every cause, worded as the API server words it.
fn invalid(kind: Kind, name: &str, causes: &[admission::Cause]) -> Response {
    let details: Vec<Value> =
        causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect();
    status_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &admission::invalid_message(kind, name, causes),
        Some(json!({"name": name, "group": kind.info().group, "kind": kind.info().kind, "causes": details})),
    )
}

/// The body must be an object of the kind the path names.
fn check_type(kind: Kind, object: &Value) -> Result<(), Response> {
    if !object.is_object() {
        return Err(bad_request("the request body must be a JSON object"));
    }
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let found = object["kind"].as_str().unwrap_or_default();
    if api_version != kind.api_version() {
        return Err(bad_request(&format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            kind.api_version()
        )));
    }
    if found != kind.info().kind {
        return Err(bad_request(&format!(
            "the kind in the data ({found}) does not match the expected kind ({})",
            kind.info().kind
        )));
    }
    Ok(())
}

/// Decoding as the API server does it for `fieldValidation`: a wrong type is always refused;
/// unknown fields are refused with `Strict` (what kubectl sends), reported as warnings with
/// `Warn` (the server's default) and dropped silently with `Ignore`.
fn field_validation(kind: Kind, req: &Req, object: &Value) -> Result<Vec<String>, Response> {
    let directive = req.query.get("fieldValidation").map_or("Warn", String::as_str);
    if !["Strict", "Warn", "Ignore"].contains(&directive) {
        return Err(bad_request(&format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\" or \"Strict\", not {directive:?}"
        )));
    }
    let (k, version) = (kind.info().kind, kind.info().version);
    let prefix = format!("{k} in version \"{version}\" cannot be handled as a {k}");
    let unknown =
        admission::unknown_fields(kind, object).map_err(|e| bad_request(&format!("{prefix}: {e}")))?;
    let messages: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match directive {
        _ if messages.is_empty() => Ok(messages),
        "Strict" => Err(bad_request(&format!("{prefix}: strict decoding error: {}", messages.join(", ")))),
        "Warn" => Ok(messages),
        _ => Ok(Vec::new()),
    }
}

/// Adds one `Warning` header per message, as kubectl prints them (`Warning: unknown field …`).
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(value) = axum::http::HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn create(world: &Shared, kind: Kind, req: &Req) -> Result<Response, Response> {
    let object = parse_body(req)?;
    create_object(world, kind, req, object)
}

/// Admits and stores a new object: type and namespace checks, strict decoding, defaults,
/// validation, uniqueness; then the controllers make its pods before the answer goes out.
fn create_object(world: &Shared, kind: Kind, req: &Req, mut object: Value) -> Result<Response, Response> {
    let ns = namespace_of(req, kind);
    check_type(kind, &object)?;
    if let Some(n) = object["metadata"]["namespace"].as_str()
        && !n.is_empty()
        && n != ns
    {
        return Err(bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if ns != NAMESPACE {
        return Err(status_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "{} is forbidden: the sandbox runs workloads only in namespace {NAMESPACE}",
                kind.qualified()
            ),
            None,
        ));
    }
    let warnings = field_validation(kind, req, &object)?;
    // What the server owns is the server's to set.
    if let Some(meta) = object["metadata"].as_object_mut() {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(key);
        }
    }
    object["metadata"]["namespace"] = json!(ns);
    object["status"] = json!({});
    let mut w = lock(world);
    if object["metadata"]["name"].as_str().is_none_or(str::is_empty)
        && let Some(prefix) = object["metadata"]["generateName"].as_str().map(str::to_owned)
    {
        object["metadata"]["name"] = json!(format!("{prefix}{}", w.random_suffix()));
    }
    admission::apply_defaults(kind, &mut object);
    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let causes = admission::validate(kind, &object);
    if !causes.is_empty() {
        return Err(invalid(kind, &name, &causes));
    }
    if w.store.get(kind, &ns, &name).is_some() || (kind == Kind::Pod && w.pods.contains_key(&name)) {
        return Err(already_exists(kind, &name));
    }
    if kind != Kind::Pod {
        object["metadata"]["generation"] = json!(1);
    }
    if kind == Kind::Deployment {
        object["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
    }
    let stored = if req.dry_run() {
        object["metadata"]["uid"] = json!(w.store.next_uid());
        object["metadata"]["creationTimestamp"] = json!(now());
        object
    } else {
        w.create_object(kind, object)
    };
    let response = (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], stored.to_string())
        .into_response();
    Ok(with_warnings(response, &warnings))
}

/// PATCH or PUT of a Deployment, StatefulSet or Pod (server-side apply creates a missing one).
fn update(world: &Shared, kind: Kind, req: &Req, name: &str) -> Result<Response, Response> {
    let ns = namespace_of(req, kind);
    let mut w = lock(world);
    let Some(old) = w.store.get(kind, &ns, name).cloned() else {
        if req.method == Method::PATCH && req.content_type.starts_with("application/apply-patch") {
            drop(w);
            return create(world, kind, req);
        }
        return Err(not_found(kind, name));
    };
    let mut new = apply_patch(req, &old)?;
    check_resource_version(&old, &new, kind, name)?;
    check_type(kind, &new)?;
    let warnings = field_validation(kind, req, &new)?;
    for key in ["uid", "creationTimestamp", "namespace", "generation"] {
        match old["metadata"].get(key) {
            Some(v) => new["metadata"][key] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(key);
                }
            }
        }
    }
    let platform = w.platform_uids.contains(old["metadata"]["uid"].as_str().unwrap_or_default());
    if platform || kind == Kind::Pod {
        // The platform's own templates stay as they are: defaults would change their hash.
        if kind != Kind::Pod && new["spec"]["replicas"].is_null() {
            new["spec"]["replicas"] = json!(1);
        }
    } else {
        admission::apply_defaults(kind, &mut new);
    }
    let causes = admission::validate_update(kind, &old, &new);
    if !causes.is_empty() {
        return Err(invalid(kind, name, &causes));
    }
    // Status is not writable through the main resource; spec changes bump the generation.
    new["status"] = old["status"].clone();
    if kind == Kind::Pod {
        if req.dry_run() {
            return Ok(with_warnings(json_response(&new), &warnings));
        }
        w.update_pod(name, &new);
        let stored = w.store.get(kind, &ns, name).cloned().unwrap_or(new);
        return Ok(with_warnings(json_response(&stored), &warnings));
    }
    if new["spec"] != old["spec"] {
        let generation = old["metadata"]["generation"].as_u64().unwrap_or(1) + 1;
        new["metadata"]["generation"] = json!(generation);
        if kind == Kind::Deployment && new["spec"]["template"] != old["spec"]["template"] {
            let revision = old["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|r| r.parse::<u64>().ok())
                .unwrap_or(1)
                + 1;
            new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(revision.to_string());
        }
    }
    if req.dry_run() {
        return Ok(with_warnings(json_response(&new), &warnings));
    }
    let stored = w.store.put(kind, new);
    w.reconcile();
    let current = w.store.get(kind, &ns, name).cloned().unwrap_or(stored);
    Ok(with_warnings(json_response(&current), &warnings))
}

/// The `autoscaling/v1` Scale of a Deployment or StatefulSet; `status.selector` is the full
/// selector as a label-selector string, as a HorizontalPodAutoscaler reads it.
fn scale_object(d: &Value) -> Value {
    let selector = LabelSelector::from_object(&d["spec"]["selector"], "spec.selector")
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": d["metadata"]["name"], "namespace": d["metadata"]["namespace"], "uid": d["metadata"]["uid"],
                     "resourceVersion": d["metadata"]["resourceVersion"], "creationTimestamp": d["metadata"]["creationTimestamp"]},
        "spec": {"replicas": d["spec"]["replicas"]},
        "status": {"replicas": d["status"]["replicas"].as_u64().unwrap_or(0), "selector": selector}
    })
}

fn scale(world: &Shared, kind: Kind, req: &Req, name: &str) -> Result<Response, Response> {
    let ns = namespace_of(req, kind);
    let mut w = lock(world);
    let mut d = w.store.get(kind, &ns, name).cloned().ok_or_else(|| not_found(kind, name))?;
    let current = scale_object(&d);
    if req.method == Method::GET {
        return Ok(json_response(&current));
    }
    if req.method != Method::PATCH && req.method != Method::PUT {
        return Err(method_not_allowed());
    }
    let wanted = apply_patch(req, &current)?;
    check_resource_version(&current, &wanted, kind, name)?;
    let replicas = &wanted["spec"]["replicas"];
    let Some(replicas) = replicas.as_i64().filter(|r| *r >= 0) else {
        let cause = admission::Cause::invalid(
            "spec.replicas",
            &replicas.to_string(),
            "must be greater than or equal to 0",
        );
        return Err(invalid(kind, name, &[cause]));
    };
    if d["spec"]["replicas"] != json!(replicas) {
        d["spec"]["replicas"] = json!(replicas);
        let generation = d["metadata"]["generation"].as_u64().unwrap_or(1) + 1;
        d["metadata"]["generation"] = json!(generation);
    }
    if req.dry_run() {
        return Ok(json_response(&scale_object(&d)));
    }
    let stored = w.store.put(kind, d);
    if kind == Kind::Deployment {
        w.event(
            "Deployment",
            name,
            "Normal",
            "ScalingReplicaSet",
            &format!("Scaled deployment {name} to {replicas}"),
        );
    }
    w.reconcile();
    Ok(json_response(&scale_object(&w.store.get(kind, &ns, name).cloned().unwrap_or(stored))))
}

/// Seconds since an RFC 3339 timestamp, for ages.
pub fn age_seconds(timestamp: &Value) -> i64 {
    timestamp
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| (Utc::now() - t.with_timezone(&Utc)).num_seconds())
}

pub fn now() -> String {
    rfc3339(Utc::now())
}

/// Namespace the sandbox's platform lives in.
pub const fn platform_namespace() -> &'static str {
    NAMESPACE
}
