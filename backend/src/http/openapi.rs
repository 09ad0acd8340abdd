//! The OpenAPI 3.1 document of `/api`, served at `GET /api/openapi.json` and built from the route
//! table alone: aide infers each operation from the handler's extractors (path, query, JSON body)
//! and answer type as [`super::api_routes`] registers it; this module adds what no type says — the
//! path parameters of the template, the error answers every route can give, the least role, the
//! CSRF header of state-changing requests, and the event streams and Markdown answers.

use std::sync::OnceLock;

use aide::axum::ApiRouter;
use aide::generate::{GenContext, in_context};
use aide::openapi::{Info, OpenApi, Operation, ReferenceOr, Response, StatusCode};
use aide::transform::TransformOperation;
use aide::{OperationInput, OperationOutput};
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use triage_shared::auth::CSRF_HEADER;
use triage_shared::{ErrorBody, ErrorKind};

use super::extract::{JsonBody, Path, Query};
use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

impl<T: JsonSchema> OperationInput for JsonBody<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::Json::<T>::operation_input(ctx, operation);
    }
}

impl<T: JsonSchema> OperationInput for Query<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Query::<T>::operation_input(ctx, operation);
    }
}

/// Path parameters held in a struct are named by it; the strings and tuples the handlers take
/// are named by the route template instead (see [`path_parameters`]).
impl<T: JsonSchema> OperationInput for Path<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        axum::extract::Path::<T>::operation_input(ctx, operation);
    }
}

/// Who calls is the document's security schemes, the same for every route.
impl OperationInput for Caller {}

/// The `env` query parameter is documented on every operation by [`document`] (the role check
/// reads it on every route).
impl OperationInput for super::extract::Env {}

/// Error answers are added to every operation by [`document`]: the edge (body limit, timeout,
/// role, CSRF) can refuse any request, whatever its handler returns.
impl OperationOutput for AppError {
    type Inner = ();
}

/// `GET /api/openapi.json`: the document, built once.
pub async fn serve() -> axum::response::Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], document_json()).into_response()
}

/// The answer of [`serve`]: an OpenAPI 3.1 document.
pub fn document_answer(op: TransformOperation<'_>) -> TransformOperation<'_> {
    json::<Map<String, Value>>(op).description("This document: OpenAPI 3.1, generated from the route table.")
}

/// The document serialized, built on first use.
pub fn document_json() -> Bytes {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    // A `Value` always serializes; the default is never reached.
    DOCUMENT.get_or_init(|| Bytes::from(serde_json::to_vec(&document()).unwrap_or_default())).clone()
}

/// A handler that answers already-serialized JSON of type `T`.
pub fn json<T: JsonSchema>(op: TransformOperation<'_>) -> TransformOperation<'_> {
    op.response::<200, axum::Json<T>>()
}

/// A handler that answers a Markdown document.
pub fn markdown(op: TransformOperation<'_>) -> TransformOperation<'_> {
    answer(
        op,
        json!({
            "description": "A Markdown document (CommonMark with GFM tables), sent as an attachment.",
            "content": {"text/markdown": {"schema": {"type": "string"}}},
        }),
    )
}

/// One kind of server-sent event whose `data` is one JSON value of type `T`.
pub fn event<T: JsonSchema>(name: &str, description: &str) -> Value {
    let data = in_context(|ctx| ctx.schema.subschema_for::<T>());
    event_schema(
        name,
        description,
        json!({"type": "string", "contentMediaType": "application/json", "contentSchema": data}),
    )
}

/// One kind of server-sent event with empty `data`.
pub fn empty_event(name: &str, description: &str) -> Value {
    event_schema(name, description, json!({"const": ""}))
}

fn event_schema(name: &str, description: &str, data: Value) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": ["event", "data"],
        "properties": {"event": {"const": name}, "data": data},
    })
}

/// A handler that answers `text/event-stream` with `events` (each an [`event`]): before OpenAPI
/// 3.2 the media type's schema describes one event. Idle streams send comment lines.
pub fn event_stream<'t>(
    op: TransformOperation<'t>,
    description: &str,
    events: Vec<Value>,
) -> TransformOperation<'t> {
    answer(
        op,
        json!({
            "description": description,
            "content": {"text/event-stream": {"schema": {"oneOf": events}}},
        }),
    )
}

/// Sets the 200 answer of an operation from its OpenAPI text.
fn answer(mut op: TransformOperation<'_>, response: Value) -> TransformOperation<'_> {
    match serde_json::from_value::<Response>(response) {
        Ok(response) => {
            let responses = op.inner_mut().responses.get_or_insert_with(Default::default);
            responses.responses.insert(StatusCode::Code(200), ReferenceOr::Item(response));
        }
        // A typo in this module's own literals; the document test names the operation.
        Err(e) => tracing::error!(error = %e, "an OpenAPI answer does not parse"),
    }
    op
}

/// The whole document: what aide inferred from the route table, completed.
pub fn document() -> Value {
    // aide's generator writes draft-07 schemas; OpenAPI 3.1 is JSON Schema 2020-12, which has
    // tuples (`Vec<(String, i32)>`) as `prefixItems`.
    in_context(|ctx| {
        ctx.schema = SchemaGenerator::new(
            SchemaSettings::draft2020_12().with(|s| s.definitions_path = "#/components/schemas/".into()),
        );
        ctx.schema.subschema_for::<ErrorBody>();
    });
    let mut router = ApiRouter::<AppState>::new();
    for route in super::api_routes() {
        router = router.api_route(&format!("/api{}", route.path), route.handler);
    }
    let mut api = OpenApi {
        info: Info {
            title: "Triage API".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: Some(DESCRIPTION.to_owned()),
            ..Info::default()
        },
        ..OpenApi::default()
    };
    let _router = router.finish_api(&mut api);
    let mut doc = serde_json::to_value(&api).unwrap_or(Value::Null);
    complete(&mut doc);
    doc
}

const DESCRIPTION: &str = "The JSON API of Triage, the diagnostics console. Every error answer is \
`{\"error\": {\"kind\", \"message\", \"detail\"}}` with the HTTP status of its kind. Without single sign-on \
every caller is the local user with `auth.local_role` and Triage answers only loopback host names; with \
it every route needs the session cookie. State-changing requests (`POST`) carry the `x-triage-csrf` \
header: any value without single sign-on, the session's token (`GET /api/whoami`) with it. Each \
operation names its least role (`x-triage-role`: reader, operator or admin).";

/// Adds to aide's document what the route table knows and the types do not.
fn complete(doc: &mut Value) {
    let errors = error_responses();
    let error_refs: Map<String, Value> = errors
        .keys()
        .map(|status| {
            (status.clone(), json!({"$ref": format!("#/components/responses/{}", error_name(status))}))
        })
        .collect();
    let components = &mut doc["components"];
    components["responses"] =
        errors.iter().map(|(status, response)| (error_name(status), response.clone())).collect();
    components["securitySchemes"] = json!({
        "csrf": {
            "type": "apiKey", "in": "header", "name": CSRF_HEADER,
            "description": "Any value without single sign-on; the session's token with it. Required on every state-changing request.",
        },
        "session": {
            "type": "apiKey", "in": "cookie", "name": crate::auth::session::SESSION_COOKIE,
            "description": "The session cookie of single sign-on (`auth.mode = \"oidc\"`), set by `/auth/callback`.",
        },
    });
    for (method, path, role) in super::route_table() {
        let Some(op) = doc
            .get_mut("paths")
            .and_then(|paths| paths.get_mut(&path))
            .and_then(|item| item.get_mut(method.as_str().to_ascii_lowercase()))
        else {
            continue;
        };
        path_parameters(op, &path);
        // Every route answers in one environment, named by `env` (the role check reads it).
        let env = json!({
            "name": triage_shared::env::ENV_PARAM, "in": "query", "required": false,
            "description": "The environment (`GET /api/environments` lists them); the default one when absent. An unknown name is a 404.",
            "schema": {"type": "string", "pattern": "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"},
        });
        match op.get_mut("parameters").and_then(Value::as_array_mut) {
            Some(list) => list.push(env),
            None => op["parameters"] = json!([env]),
        }
        if let Some(ok) = op.pointer_mut("/responses/200").filter(|ok| ok["description"] == "") {
            let schema = ok.pointer("/content/application~1json/schema/$ref").and_then(Value::as_str);
            let name = schema.and_then(|r| r.rsplit('/').next()).map(|name| format!("A `{name}`."));
            ok["description"] = json!(name.unwrap_or_else(|| "The answer.".to_owned()));
        }
        let responses = op["responses"].as_object_mut().map(std::mem::take).unwrap_or_default();
        op["responses"] = responses.into_iter().chain(error_refs.clone()).collect();
        let role = format!("{role:?}").to_ascii_lowercase();
        let acts = method != axum::http::Method::GET;
        op["x-triage-role"] = json!(role);
        op["description"] = json!(match acts {
            true => format!("Least role: {role}. State-changing: send the `{CSRF_HEADER}` header."),
            false => format!("Least role: {role}."),
        });
        op["tags"] = json!([path.split('/').nth(2).unwrap_or("api")]);
        // Without single sign-on no credential, with it the session; actions need the header in both.
        op["security"] = match acts {
            true => json!([{"csrf": []}, {"session": [], "csrf": []}]),
            false => json!([{}, {"session": []}]),
        };
    }
    integer_bounds(doc);
    drop_unreferenced_schemas(doc);
}

/// aide registers the query-string structs as schemas too; only what the document points to stays.
fn drop_unreferenced_schemas(doc: &mut Value) {
    let Some(schemas) = doc.pointer_mut("/components/schemas").map(Value::take) else { return };
    let schemas = schemas.as_object().cloned().unwrap_or_default();
    let mut todo = schema_refs(doc);
    let mut keep = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if let Some(schema) = schemas.get(&name).filter(|_| !keep.contains(&name)) {
            todo.extend(schema_refs(schema));
            keep.insert(name);
        }
    }
    doc["components"]["schemas"] = schemas.into_iter().filter(|(name, _)| keep.contains(name)).collect();
}

/// The component schemas `value` names anywhere inside it.
fn schema_refs(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, v)| match (key.as_str(), v.as_str()) {
                ("$ref", Some(r)) => {
                    r.strip_prefix("#/components/schemas/").map(str::to_owned).into_iter().collect()
                }
                _ => schema_refs(v),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(schema_refs).collect(),
        _ => Vec::new(),
    }
}

/// Names the template's `{params}` as required non-empty strings, unless a struct named them.
fn path_parameters(op: &mut Value, path: &str) {
    let params = op["parameters"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut params: Vec<Value> = params
        .into_iter()
        .map(|mut p| {
            // An absent query parameter says "none"; `?limit=` is refused, so null is no value.
            if let Some(types) = p.pointer_mut("/schema/type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
            }
            p
        })
        .collect();
    for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
        let named = params.iter().any(|p| p["in"] == "path" && p["name"] == name);
        if !named {
            let (description, schema) = path_parameter(name, path);
            params.push(json!({
                "name": name, "in": "path", "required": true, "description": description, "schema": schema,
            }));
        }
    }
    op["parameters"] = Value::Array(params);
}

/// What a path parameter is, and the form Triage checks before asking anyone (the names
/// Kubernetes and Prometheus accept); ids and targets are only looked up.
fn path_parameter(name: &str, path: &str) -> (&'static str, Value) {
    let any = json!({"type": "string", "minLength": 1});
    match name {
        "ns" => (
            "A namespace of `kubernetes.namespaces` (a DNS-1123 label); any other is refused.",
            json!({
                "type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                "examples": ["streaming-analytics"],
            }),
        ),
        "name" if path.starts_with("/api/prom/") => (
            "A label name.",
            json!({"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$", "examples": ["job"]}),
        ),
        "name" => (
            "An object name (a DNS-1123 subdomain).",
            json!({
                "type": "string", "maxLength": 253, "pattern": "^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
                "examples": ["stream-processor"],
            }),
        ),
        "target" => (
            "A PostgreSQL target of `postgres.targets`, by name.",
            json!({"type": "string", "minLength": 1, "examples": ["main"]}),
        ),
        "id" => ("The runbook's or the job's id.", any),
        "run_id" => ("The run's id, as `POST /api/runbooks/{id}/runs` answered it.", any),
        _ => ("A path segment.", any),
    }
}

/// One response per HTTP status an [`ErrorKind`] maps to (all but 405, which a documented method
/// never meets), listing the kinds, read from the kind's own schema so a new kind is documented.
fn error_responses() -> Map<String, Value> {
    let schema = serde_json::to_value(schemars::schema_for!(ErrorKind)).unwrap_or(Value::Null);
    let variants = schema["oneOf"].as_array().cloned().unwrap_or_default();
    let mut by_status: std::collections::BTreeMap<u16, Vec<String>> = Default::default();
    for variant in variants {
        let Ok(kind) = serde_json::from_value::<ErrorKind>(variant["const"].clone()) else { continue };
        if kind == ErrorKind::MethodNotAllowed {
            continue;
        }
        let text = variant["description"].as_str().unwrap_or_default().replace('\n', " ");
        by_status
            .entry(kind.http_status())
            .or_default()
            .push(format!("`{}`: {text}", variant["const"].as_str().unwrap_or_default()));
    }
    by_status
        .into_iter()
        .map(|(status, kinds)| {
            let mut response = json!({
                "description": kinds.join(" "),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            });
            if status == ErrorKind::RateLimited.http_status() {
                response["headers"] = json!({"Retry-After": {
                    "description": "Seconds to wait, when one of Triage's own limits refused the request.",
                    "schema": {"type": "integer", "minimum": 0},
                }});
            }
            (status.to_string(), response)
        })
        .collect()
}

fn error_name(status: &str) -> String {
    format!("Error{status}")
}

/// schemars names integer widths only by `format`; the bounds let a client (and a fuzzer) know
/// which numbers are values at all.
fn integer_bounds(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let bounds: Option<(Value, Value)> = match map.get("format").and_then(Value::as_str) {
                Some("int8") => Some((i8::MIN.into(), i8::MAX.into())),
                Some("uint8") => Some((0.into(), u8::MAX.into())),
                Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
                Some("uint16") => Some((0.into(), u16::MAX.into())),
                Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
                Some("uint32") => Some((0.into(), u32::MAX.into())),
                Some("int64") => Some((i64::MIN.into(), i64::MAX.into())),
                Some("uint64" | "uint") => Some((0.into(), u64::MAX.into())),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(integer_bounds);
        }
        Value::Array(items) => items.iter_mut().for_each(integer_bounds),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation<'d>(doc: &'d Value, method: &axum::http::Method, path: &str) -> Option<&'d Value> {
        doc.get("paths")?.get(path)?.get(method.as_str().to_ascii_lowercase())
    }

    #[test]
    fn every_route_of_the_table_is_documented_with_its_parameters_answers_and_errors() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let table = crate::http::route_table();
        for (method, path, role) in &table {
            let what = format!("{method} {path}");
            let op = operation(&doc, method, path).unwrap_or_else(|| panic!("{what} is not in the document"));
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                assert!(
                    params.iter().any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true),
                    "{what}: path parameter {name}"
                );
            }
            let ok = &op["responses"]["200"];
            assert!(ok["content"].as_object().is_some_and(|c| !c.is_empty()), "{what}: no 200 answer: {op}");
            for status in ["400", "403", "404", "413", "500", "503", "504"] {
                assert!(op["responses"][status]["$ref"].is_string(), "{what}: no {status}");
            }
            assert_eq!(op["x-triage-role"], format!("{role:?}").to_ascii_lowercase(), "{what}");
            let csrf = op["security"].as_array().is_some_and(|s| s.iter().all(|r| r.get("csrf").is_some()));
            assert_eq!(csrf, *method != axum::http::Method::GET, "{what}: CSRF header");
        }
        // And nothing the table does not serve.
        let documented: usize = doc["paths"]
            .as_object()
            .map_or(0, |p| p.values().map(|i| i.as_object().map_or(0, Map::len)).sum());
        assert_eq!(documented, table.len());
        for (status, response) in doc["components"]["responses"].as_object().into_iter().flatten() {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{status}");
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }

    #[test]
    fn bodies_queries_streams_and_the_report_are_described() {
        let doc = document();
        let get = |path: &str| operation(&doc, &axum::http::Method::GET, path).cloned().unwrap_or_default();
        let post = |path: &str| operation(&doc, &axum::http::Method::POST, path).cloned().unwrap_or_default();
        let scale = post("/api/k8s/namespaces/{ns}/deployments/{name}/scale");
        assert_eq!(
            scale["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ScaleRequest"
        );
        let pods = get("/api/k8s/namespaces/{ns}/pods");
        let mut names: Vec<&str> =
            pods["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["continue", "env", "limit", "ns", "selector"]);
        for path in [
            "/api/live",
            "/api/k8s/namespaces/{ns}/deployments/{name}/rollout",
            "/api/k8s/namespaces/{ns}/pods/{name}/logs/follow",
            "/api/runs/{run_id}/events",
        ] {
            let events = &get(path)["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"];
            assert!(events.as_array().is_some_and(|e| !e.is_empty()), "{path}: {events}");
        }
        assert!(
            get("/api/runs/{run_id}/report.md")["responses"]["200"]["content"]["text/markdown"].is_object()
        );
        let series = get("/api/prom/series");
        assert!(series["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == "match[]"));
        let query = get("/api/prom/query");
        assert_eq!(
            query["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/PrometheusQueryAnswer"
        );
        // Integer widths are bounds, and optional query parameters are never null.
        let limit =
            pods["parameters"].as_array().into_iter().flatten().find(|p| p["name"] == "limit").cloned();
        let limit = limit.unwrap_or_default();
        assert_eq!(limit["schema"]["maximum"], u32::MAX);
        assert_eq!(limit["schema"]["type"], json!(["integer"]));
        // Tuples are 2020-12 `prefixItems`.
        let recorded = &doc["components"]["schemas"]["Job"]["properties"]["recorded"]["items"];
        assert!(recorded["prefixItems"].is_array(), "{recorded}");
    }
}
