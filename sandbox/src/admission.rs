//! What the API server does to a Deployment, StatefulSet or Pod before storing it: strict decoding
//! against the real types (unknown fields, wrong types), validation with the API server's field
//! paths and wording, and defaulting.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::selectors::LabelSelector;
use crate::store::Kind;

/// One field error, as in a `Status`'s `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn required(field: impl Into<String>) -> Self {
        Self { reason: "FieldValueRequired", field: field.into(), message: "Required value".to_owned() }
    }

    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {value}: {detail}"),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self { reason: "FieldValueForbidden", field: field.into(), message: format!("Forbidden: {detail}") }
    }

    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let supported: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Self {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!("Unsupported value: \"{value}\": supported values: {}", supported.join(", ")),
        }
    }

    /// Errors about a selector object come from [`LabelSelector::from_object`] as (field, message).
    fn from_selector((field, message): (String, String)) -> Self {
        let reason = if message.starts_with("Required") {
            "FieldValueRequired"
        } else if message.starts_with("Forbidden") {
            "FieldValueForbidden"
        } else {
            "FieldValueInvalid"
        };
        Self { reason, field, message }
    }
}

/// Kinds a client may create.
pub fn creatable(kind: Kind) -> bool {
    matches!(kind, Kind::Deployment | Kind::StatefulSet | Kind::Pod)
}

// ---------- strict decoding ----------

/// Decodes `object` as its `k8s-openapi` type and back: a type error is `Err`, and fields the
/// type does not have (dropped on the way) are returned as `spec.template.spec.containers[0].imag`.
pub fn unknown_fields(kind: Kind, object: &Value) -> Result<Vec<String>, String> {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Result<Value, String> {
        let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    let decoded = match kind {
        Kind::Deployment => round_trip::<Deployment>(object)?,
        Kind::StatefulSet => round_trip::<StatefulSet>(object)?,
        Kind::Pod => round_trip::<Pod>(object)?,
        _ => return Ok(Vec::new()),
    };
    let mut unknown = Vec::new();
    dropped(object, &decoded, "", &mut unknown);
    Ok(unknown)
}

fn dropped(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match o.get(k) {
                    _ if v.is_null() => {}
                    None => out.push(p),
                    Some(ov) => dropped(v, ov, &p, out),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                dropped(iv, ov, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

// ---------- Go-style values, as the API server prints them in messages ----------

fn go_string_map(map: &Value) -> String {
    match map.as_object() {
        None => "map[string]string(nil)".to_owned(),
        Some(m) => {
            let items: Vec<String> =
                m.iter().map(|(k, v)| format!("\"{k}\":\"{}\"", v.as_str().unwrap_or_default())).collect();
            format!("map[string]string{{{}}}", items.join(", "))
        }
    }
}

fn go_selector(selector: &Value) -> String {
    let expressions = match selector["matchExpressions"].as_array() {
        None => "[]v1.LabelSelectorRequirement(nil)".to_owned(),
        Some(es) => {
            let items: Vec<String> = es
                .iter()
                .map(|e| {
                    let values: Vec<String> = e["values"]
                        .as_array()
                        .map(|vs| {
                            vs.iter().map(|v| format!("\"{}\"", v.as_str().unwrap_or_default())).collect()
                        })
                        .unwrap_or_default();
                    format!(
                        "v1.LabelSelectorRequirement{{Key:\"{}\", Operator:\"{}\", Values:[]string{{{}}}}}",
                        e["key"].as_str().unwrap_or_default(),
                        e["operator"].as_str().unwrap_or_default(),
                        values.join(", ")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{expressions}}}",
        go_string_map(&selector["matchLabels"])
    )
}

// ---------- names and labels ----------

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what object names must be (`kubectl`'s first check of a typo'd name).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

fn validate_labels(labels: &Value, field: &str, causes: &mut Vec<Cause>) {
    let Some(map) = labels.as_object() else { return };
    for (k, v) in map {
        if !is_label_key(k) {
            causes.push(Cause::invalid(field, &format!("\"{k}\""), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
        }
        match v.as_str() {
            Some(s) if is_label_value(s) => {}
            _ => causes.push(Cause::invalid(field, &v.to_string(), LABEL_VALUE)),
        }
    }
}

fn validate_name(object: &Value, causes: &mut Vec<Cause>) {
    match object["metadata"]["name"].as_str() {
        None | Some("") => causes.push(Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".to_owned(),
            message: "Required value: name or generateName is required".to_owned(),
        }),
        Some(name) if !is_dns_subdomain(name) => {
            causes.push(Cause::invalid("metadata.name", &format!("\"{name}\""), DNS1123_SUBDOMAIN));
        }
        Some(_) => {}
    }
    validate_labels(&object["metadata"]["labels"], "metadata.labels", causes);
}

// ---------- pod specs ----------

fn validate_pod_spec(spec: &Value, field: &str, causes: &mut Vec<Cause>) {
    let containers = spec["containers"].as_array().filter(|c| !c.is_empty());
    let Some(containers) = containers else {
        causes.push(Cause::required(format!("{field}.containers")));
        return;
    };
    let mut seen = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{field}.containers[{i}]");
        match c["name"].as_str() {
            None | Some("") => causes.push(Cause::required(format!("{at}.name"))),
            Some(name) if !is_dns_label(name) => {
                causes.push(Cause::invalid(format!("{at}.name"), &format!("\"{name}\""), DNS1123_LABEL));
            }
            Some(name) if seen.contains(&name) => causes.push(Cause {
                reason: "FieldValueDuplicate",
                field: format!("{at}.name"),
                message: format!("Duplicate value: \"{name}\""),
            }),
            Some(name) => seen.push(name),
        }
        if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
            causes.push(Cause::required(format!("{at}.image")));
        }
    }
    if let Some(policy) = spec["restartPolicy"].as_str()
        && !["Always", "OnFailure", "Never"].contains(&policy)
    {
        causes.push(Cause::not_supported(
            format!("{field}.restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        ));
    }
}

/// Selector and template of a Deployment or StatefulSet: the selector is required and not empty,
/// and the template's labels must match it.
fn validate_controller(kind: Kind, object: &Value, causes: &mut Vec<Cause>) {
    let spec = &object["spec"];
    if let Some(r) = spec.get("replicas").filter(|r| !r.is_null())
        && r.as_i64().is_none_or(|r| r < 0)
    {
        causes.push(Cause::invalid("spec.replicas", &r.to_string(), "must be greater than or equal to 0"));
    }
    let template_labels = &spec["template"]["metadata"]["labels"];
    let selector = match &spec["selector"] {
        Value::Null => {
            causes.push(Cause::required("spec.selector"));
            None
        }
        s => match LabelSelector::from_object(s, "spec.selector") {
            Ok(sel) if sel.is_empty() => {
                let what = if kind == Kind::Deployment { "deployment" } else { "statefulset" };
                causes.push(Cause::invalid(
                    "spec.selector",
                    &go_selector(s),
                    &format!("empty selector is invalid for {what}"),
                ));
                None
            }
            Ok(sel) => Some(sel),
            Err(e) => {
                causes.push(Cause::from_selector(e));
                None
            }
        },
    };
    // A missing selector selects nothing, so the template cannot match it either.
    let mismatch = match &selector {
        Some(sel) => !sel.matches_labels(template_labels),
        None => spec["selector"].is_null(),
    };
    if mismatch {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            &go_string_map(template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    validate_labels(template_labels, "spec.template.metadata.labels", causes);
    validate_pod_spec(&spec["template"]["spec"], "spec.template.spec", causes);
    let restart = spec["template"]["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    if restart != "Always" {
        causes.push(Cause::not_supported("spec.template.spec.restartPolicy", restart, &["Always"]));
    }
    if kind == Kind::StatefulSet {
        if let Some(p) = spec["podManagementPolicy"].as_str()
            && !["OrderedReady", "Parallel"].contains(&p)
        {
            causes.push(Cause::not_supported("spec.podManagementPolicy", p, &["OrderedReady", "Parallel"]));
        }
        if let Some(t) = spec["updateStrategy"]["type"].as_str()
            && !["RollingUpdate", "OnDelete"].contains(&t)
        {
            causes.push(Cause::not_supported("spec.updateStrategy.type", t, &["OnDelete", "RollingUpdate"]));
        }
    }
}

/// Every field error of a new object, in the API server's order.
pub fn validate(kind: Kind, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    validate_name(object, &mut causes);
    match kind {
        Kind::Deployment | Kind::StatefulSet => validate_controller(kind, object, &mut causes),
        Kind::Pod => validate_pod_spec(&object["spec"], "spec", &mut causes),
        _ => {}
    }
    causes
}

/// Field errors of an update from `old` to `new` (the new object's own errors included).
pub fn validate_update(kind: Kind, old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if new["metadata"]["name"] != old["metadata"]["name"] {
        causes.push(Cause::invalid(
            "metadata.name",
            &new["metadata"]["name"].to_string(),
            "field is immutable",
        ));
    }
    match kind {
        Kind::Deployment | Kind::StatefulSet => {
            validate_controller(kind, new, &mut causes);
            if new["spec"]["selector"] != old["spec"]["selector"] {
                causes.push(Cause::invalid(
                    "spec.selector",
                    &go_selector(&new["spec"]["selector"]),
                    "field is immutable",
                ));
            }
            if kind == Kind::StatefulSet {
                let mutable = [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "revisionHistoryLimit",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                    "selector",
                ];
                let strip = |spec: &Value| {
                    let mut s = spec.clone();
                    if let Some(m) = s.as_object_mut() {
                        m.retain(|k, _| !mutable.contains(&k.as_str()));
                    }
                    s
                };
                if strip(&new["spec"]) != strip(&old["spec"]) {
                    causes.push(Cause::forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
                }
            }
        }
        Kind::Pod => {
            // Only container images may change in a running pod's spec.
            let without_images = |spec: &Value| {
                let mut s = spec.clone();
                for list in ["containers", "initContainers"] {
                    if let Some(cs) = s[list].as_array_mut() {
                        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                            c.remove("image");
                        }
                    }
                }
                s
            };
            if without_images(&new["spec"]) != without_images(&old["spec"]) {
                causes.push(Cause::forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
            }
            validate_labels(&new["metadata"]["labels"], "metadata.labels", &mut causes);
        }
        _ => {}
    }
    causes
}

// ---------- defaults ----------

fn set_default(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        let slot = map.entry(key.to_owned()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

fn default_containers(containers: &mut Value) {
    let Some(list) = containers.as_array_mut() else { return };
    for c in list {
        let image = c["image"].as_str().unwrap_or_default();
        // The tag is what follows the last ':' after the last '/' (a registry port is not a tag).
        let tag = image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, t)| t);
        let pull =
            if image.contains('@') || tag.is_some_and(|t| t != "latest") { "IfNotPresent" } else { "Always" };
        set_default(c, "imagePullPolicy", json!(pull));
        set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
        set_default(c, "terminationMessagePolicy", json!("File"));
        set_default(c, "resources", json!({}));
        if let Some(ports) = c["ports"].as_array_mut() {
            for p in ports {
                set_default(p, "protocol", json!("TCP"));
            }
        }
    }
}

fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    default_containers(&mut spec["containers"]);
    if spec["initContainers"].is_array() {
        default_containers(&mut spec["initContainers"]);
    }
}

/// Fills in what the API server defaults (and, for pods, what admission adds).
pub fn apply_defaults(kind: Kind, object: &mut Value) {
    let spec = &mut object["spec"];
    match kind {
        Kind::Deployment => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec["strategy"]["type"] == "RollingUpdate" {
                set_default(&mut spec["strategy"], "rollingUpdate", json!({}));
                set_default(&mut spec["strategy"]["rollingUpdate"], "maxSurge", json!("25%"));
                set_default(&mut spec["strategy"]["rollingUpdate"], "maxUnavailable", json!("25%"));
            }
            default_pod_spec(&mut spec["template"]["spec"]);
        }
        Kind::StatefulSet => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "updateStrategy", json!({"type": "RollingUpdate"}));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                set_default(&mut spec["updateStrategy"], "rollingUpdate", json!({"partition": 0}));
            }
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            default_pod_spec(&mut spec["template"]["spec"]);
        }
        Kind::Pod => {
            default_pod_spec(spec);
            set_default(spec, "serviceAccountName", json!("default"));
            set_default(spec, "enableServiceLinks", json!(true));
            set_default(spec, "priority", json!(0));
            set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
            set_default(
                spec,
                "tolerations",
                json!([
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                ]),
            );
        }
        _ => {}
    }
}

/// The text of an `Invalid` status: one cause inline, several in brackets.
pub fn invalid_message(kind: Kind, name: &str, causes: &[Cause]) -> String {
    let parts: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
    let text = if parts.len() == 1 { parts[0].clone() } else { format!("[{}]", parts.join(", ")) };
    format!("{} \"{name}\" is invalid: {text}", kind.qualified_kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(selector: Value, labels: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "checkout"},
               "spec": {"replicas": 2, "selector": selector,
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}})
    }

    #[test]
    fn template_labels_must_match_the_selector() {
        let ok = deployment(
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}),
            json!({"tier": "web"}),
        );
        assert_eq!(validate(Kind::Deployment, &ok), Vec::new());
        let bad = deployment(json!({"matchLabels": {"app": "checkout"}}), json!({"app": "other"}));
        let causes = validate(Kind::Deployment, &bad);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "spec.template.metadata.labels");
        assert_eq!(
            invalid_message(Kind::Deployment, "checkout", &causes),
            "Deployment.apps \"checkout\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
        );
        let missing = deployment(Value::Null, json!({"app": "x"}));
        let fields: Vec<String> = validate(Kind::Deployment, &missing).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["spec.selector", "spec.template.metadata.labels"]);
        let empty = deployment(json!({}), json!({"app": "x"}));
        let causes = validate(Kind::Deployment, &empty);
        assert!(causes[0].message.ends_with("empty selector is invalid for deployment"), "{causes:?}");
    }

    #[test]
    fn names_containers_and_unknown_fields() {
        let mut d = deployment(json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
        d["metadata"]["name"] = json!("Bad_Name");
        d["spec"]["template"]["spec"]["containers"][0].as_object_mut().map(|c| c.remove("image"));
        let fields: Vec<String> = validate(Kind::Deployment, &d).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["metadata.name", "spec.template.spec.containers[0].image"]);

        d["spec"]["replica"] = json!(3);
        d["spec"]["template"]["spec"]["containers"][0]["imag"] = json!("x");
        assert_eq!(
            unknown_fields(Kind::Deployment, &d).expect("decodes"),
            ["spec.replica", "spec.template.spec.containers[0].imag"]
        );
        d["spec"]["replicas"] = json!("two");
        assert!(unknown_fields(Kind::Deployment, &d).is_err());
        assert!(is_dns_subdomain("checkout-canary") && !is_dns_subdomain("-x") && !is_dns_subdomain("A"));
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let mut d = deployment(json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
        apply_defaults(Kind::Deployment, &mut d);
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            (c["imagePullPolicy"].as_str(), c["terminationMessagePolicy"].as_str()),
            (Some("Never"), Some("File"))
        );
        let mut p = json!({"spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "r:5000/x:1.2"}]}});
        apply_defaults(Kind::Pod, &mut p);
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(p["spec"]["containers"][1]["imagePullPolicy"], "IfNotPresent");
    }
}
