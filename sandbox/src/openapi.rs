//! The smallest OpenAPI documents kubectl needs to trust the server with validation.
//!
//! `kubectl create|apply` (with the default `--validate=strict`) first asks whether the server
//! supports the `fieldValidation` query parameter for the object's kind: kubectl 1.29+ reads
//! `/openapi/v3` and the group-version document it points to, 1.27 and 1.28 read the protobuf
//! `/openapi/v2`. A 404 there is not a fallback but an error ("failed to download openapi"), so
//! both are served: one PATCH operation per kind, carrying `x-kubernetes-group-version-kind` and
//! the `fieldValidation` parameter. kubectl then sends `fieldValidation=Strict` and leaves the
//! checking to the server (`admission.rs`). No schemas are served: `kubectl explain` has nothing to
//! show, and `kubectl apply` computes its patches from its built-in types, as it does whenever a
//! kind's schema is missing.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::status_error;
use crate::store::Kind;

const QUERY_PARAMETERS: [&str; 4] = ["dryRun", "fieldManager", "fieldValidation", "force"];

/// `api/v1`, `apis/apps/v1`: the group-version keys of `/openapi/v3`.
fn group_versions() -> Vec<String> {
    let mut keys: Vec<String> = Kind::ALL
        .iter()
        .map(|k| {
            let i = k.info();
            if i.group.is_empty() {
                format!("api/{}", i.version)
            } else {
                format!("apis/{}/{}", i.group, i.version)
            }
        })
        .collect();
    keys.dedup();
    keys
}

fn kinds_of(key: &str) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| {
            let i = k.info();
            let own = if i.group.is_empty() {
                format!("api/{}", i.version)
            } else {
                format!("apis/{}/{}", i.group, i.version)
            };
            own == key
        })
        .collect()
}

/// The path of one object of `kind`, with OpenAPI placeholders.
fn object_path(kind: Kind) -> String {
    let i = kind.info();
    let base = if i.group.is_empty() {
        format!("/api/{}", i.version)
    } else {
        format!("/apis/{}/{}", i.group, i.version)
    };
    if i.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", i.plural)
    } else {
        format!("{base}/{}/{{name}}", i.plural)
    }
}

fn v3_document(key: &str) -> Option<Value> {
    let kinds = kinds_of(key);
    if kinds.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for kind in kinds {
        let i = kind.info();
        let parameters: Vec<Value> = QUERY_PARAMETERS
            .iter()
            .map(|p| json!({"name": p, "in": "query", "uniqueItems": true, "schema": {"type": "string"}}))
            .collect();
        paths.insert(
            object_path(kind),
            json!({"patch": {
                "operationId": format!("patch{}", i.kind),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": i.group, "version": i.version, "kind": i.kind},
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}}
            }}),
        );
    }
    Some(json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths,
                "components": {"schemas": {}}}))
}

/// Part of each document URL: kubectl caches documents on disk by it.
fn document_hash() -> String {
    crate::world::hash_text(&format!("{:?}", group_versions())).to_uppercase()
}

fn json_body(value: &Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

pub async fn v3_root() -> Response {
    let hash = document_hash();
    let paths: serde_json::Map<String, Value> = group_versions()
        .into_iter()
        .map(|key| {
            let url = format!("/openapi/v3/{key}?hash={hash}");
            (key, json!({"serverRelativeURL": url}))
        })
        .collect();
    json_body(&json!({"paths": paths}))
}

pub async fn v3_group_version(Path(key): Path<String>) -> Response {
    match v3_document(&key) {
        Some(doc) => json_body(&doc),
        None => status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
    }
}

// ---------- /openapi/v2: protobuf (gnostic's openapi_v2.Document), the only form kubectl reads ----------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field: a string, bytes or an embedded message.
fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    varint(out, number << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn message(build: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    build(&mut out);
    out
}

/// Field numbers are those of gnostic's `OpenAPIv2.proto`.
fn v2_document() -> Vec<u8> {
    message(|doc| {
        field(doc, 1, b"2.0");
        field(
            doc,
            2,
            &message(|info| {
                field(info, 1, b"Kubernetes");
                field(info, 2, b"v1.33.0");
            }),
        );
        let paths = message(|paths| {
            for kind in Kind::ALL {
                let i = kind.info();
                let operation = message(|op| {
                    field(op, 5, format!("patch{}", i.kind).as_bytes());
                    for name in QUERY_PARAMETERS {
                        // ParametersItem.parameter → Parameter.non_body_parameter →
                        // NonBodyParameter.query_parameter_sub_schema.
                        let query = message(|q| {
                            field(q, 2, b"query");
                            field(q, 4, name.as_bytes());
                            field(q, 6, b"string");
                        });
                        let non_body = message(|n| field(n, 3, &query));
                        let parameter = message(|p| field(p, 2, &non_body));
                        field(op, 8, &message(|item| field(item, 1, &parameter)));
                    }
                    let gvk = format!("group: \"{}\"\nkind: {}\nversion: {}\n", i.group, i.kind, i.version);
                    let extension = message(|e| {
                        field(e, 1, b"x-kubernetes-group-version-kind");
                        field(e, 2, &message(|any| field(any, 2, gvk.as_bytes())));
                    });
                    field(op, 13, &extension);
                });
                let item = message(|p| field(p, 8, &operation));
                field(
                    paths,
                    2,
                    &message(|named| {
                        field(named, 1, object_path(kind).as_bytes());
                        field(named, 2, &item);
                    }),
                );
            }
        });
        field(doc, 8, &paths);
    })
}

pub async fn v2() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")],
        v2_document(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_patch_operation_with_field_validation() {
        let apps = v3_document("apis/apps/v1").expect("apps/v1");
        let op = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "StatefulSet");
        assert!(
            op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation"))
        );
        assert!(
            v3_document("api/v1").expect("v1")["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
                .is_object()
        );
        assert!(v3_document("apis/metrics.k8s.io/v1beta1").is_none());
        assert!(group_versions().contains(&"apis/networking.k8s.io/v1".to_owned()));
    }

    #[test]
    fn protobuf_varints() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert!(v2_document().starts_with(&[0x0a, 3, b'2', b'.', b'0']));
    }
}
