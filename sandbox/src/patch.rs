//! JSON merge patch (RFC 7386), strategic merge patch (what `kubectl apply`, `edit`, `rollout
//! restart` send) and JSON patch (RFC 6902: add, replace, remove, test).

use serde_json::Value;

/// The merge key of the object lists a strategic merge patch merges element by element (the
/// `patchMergeKey` of the Kubernetes types the sandbox stores); every other list is replaced.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            "name"
        }
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "conditions" => "type",
        "ownerReferences" => "uid",
        _ => return None,
    })
}

/// Strategic merge patch: maps merge as in a merge patch, lists with a merge key merge by it,
/// and the directives `$patch` (`replace`, `delete`), `$retainKeys`, `$setElementOrder/…` and
/// `$deleteFromPrimitiveList/…` are honoured.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch_map.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) = (map.get_mut(field), value.as_array()) {
                items.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                map.remove(key);
            }
            Value::Object(m) if m.get("$patch").and_then(Value::as_str) == Some("delete") => {
                map.remove(key);
            }
            Value::Array(items) => {
                let slot = map.entry(key.clone()).or_insert(Value::Null);
                merge_list(slot, items, merge_key(key));
            }
            _ => strategic_merge_patch(map.entry(key.clone()).or_insert(Value::Null), value),
        }
    }
    if let Some(Value::Array(keep)) = patch_map.get("$retainKeys") {
        map.retain(|k, _| keep.iter().any(|r| r == k));
    }
}

fn merge_list(target: &mut Value, patch: &[Value], key: Option<&str>) {
    let replace = patch.iter().any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"));
    let (Some(key), Value::Array(current), false) = (key, &mut *target, replace) else {
        let items = patch.iter().filter(|e| e.get("$patch").is_none()).cloned().collect();
        *target = Value::Array(items);
        return;
    };
    for element in patch {
        let position = current.iter().position(|c| c.get(key).is_some() && c.get(key) == element.get(key));
        let delete = element.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                current.remove(i);
            }
            (Some(i), false) => strategic_merge_patch(&mut current[i], element),
            (None, false) => current.push(element.clone()),
            (None, true) => {}
        }
    }
}

pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, String> {
    let mut doc = target.clone();
    for op in ops.as_array().ok_or("a JSON patch is an array of operations")? {
        let kind = op["op"].as_str().ok_or("operation without `op`")?;
        let path = op["path"].as_str().ok_or("operation without `path`")?;
        let tokens: Vec<String> = path.split('/').skip(1).map(unescape).collect();
        let (last, parents) = tokens.split_last().ok_or("the root path cannot be patched")?;
        let mut parent = &mut doc;
        for t in parents {
            parent = match parent {
                Value::Object(m) => m.get_mut(t).ok_or_else(|| format!("path {path} does not exist"))?,
                Value::Array(a) => {
                    let i: usize = t.parse().map_err(|_| format!("bad array index in {path}"))?;
                    a.get_mut(i).ok_or_else(|| format!("path {path} does not exist"))?
                }
                _ => return Err(format!("path {path} does not exist")),
            };
        }
        match (kind, parent) {
            ("add" | "replace", Value::Object(m)) => {
                if kind == "replace" && !m.contains_key(last) {
                    return Err(format!("path {path} does not exist"));
                }
                m.insert(last.clone(), op["value"].clone());
            }
            ("add", Value::Array(a)) if last == "-" => a.push(op["value"].clone()),
            ("add" | "replace", Value::Array(a)) => {
                let i: usize = last.parse().map_err(|_| format!("bad array index in {path}"))?;
                if kind == "add" && i <= a.len() {
                    a.insert(i, op["value"].clone());
                } else if kind == "replace" && i < a.len() {
                    a[i] = op["value"].clone();
                } else {
                    return Err(format!("index out of range in {path}"));
                }
            }
            ("remove", Value::Object(m)) => {
                m.remove(last).ok_or_else(|| format!("path {path} does not exist"))?;
            }
            ("remove", Value::Array(a)) => {
                let i: usize = last.parse().map_err(|_| format!("bad array index in {path}"))?;
                if i >= a.len() {
                    return Err(format!("index out of range in {path}"));
                }
                a.remove(i);
            }
            ("test", p) => {
                let actual = match p {
                    Value::Object(m) => m.get(last).cloned(),
                    Value::Array(a) => last.parse::<usize>().ok().and_then(|i| a.get(i).cloned()),
                    _ => None,
                };
                if actual.as_ref() != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            (other, _) => return Err(format!("unsupported operation {other:?} at {path}")),
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes() {
        let mut doc = json!({"spec": {"replicas": 3, "paused": true}, "metadata": {"name": "x"}});
        merge_patch(&mut doc, &json!({"spec": {"replicas": 6, "paused": null}}));
        assert_eq!(doc, json!({"spec": {"replicas": 6}, "metadata": {"name": "x"}}));
    }

    #[test]
    fn strategic_merge_patch_merges_lists_by_key() {
        let mut doc = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "app", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "proxy:1"}]}}}});
        // What `kubectl apply` sends when the file changes the image, an env value and drops B.
        let patch = json!({"spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"name": "app", "image": "web:2",
                            "$setElementOrder/env": [{"name": "A"}],
                            "env": [{"name": "A", "value": "10"}, {"name": "B", "$patch": "delete"}]}]}}}});
        strategic_merge_patch(&mut doc, &patch);
        assert_eq!(doc["spec"]["replicas"], 3);
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers[0],
            json!({"name": "app", "image": "web:2", "env": [{"name": "A", "value": "10"}]})
        );
        assert_eq!(containers[1], json!({"name": "sidecar", "image": "proxy:1"}));

        let mut strategy =
            json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}});
        strategic_merge_patch(
            &mut strategy,
            &json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}),
        );
        assert_eq!(strategy, json!({"strategy": {"type": "Recreate"}}));
        let mut list = json!({"args": ["a", "b"], "finalizers": ["x", "y"]});
        strategic_merge_patch(
            &mut list,
            &json!({"args": ["c"], "$deleteFromPrimitiveList/finalizers": ["x"]}),
        );
        assert_eq!(list, json!({"args": ["c"], "finalizers": ["y"]}));
    }

    #[test]
    fn json_patch_ops() {
        let doc = json!({"spec": {"replicas": 3, "list": [1, 2]}});
        let out = json_patch(
            &doc,
            &json!([{"op": "test", "path": "/spec/replicas", "value": 3},
                    {"op": "replace", "path": "/spec/replicas", "value": 5},
                    {"op": "add", "path": "/spec/list/-", "value": 3},
                    {"op": "remove", "path": "/spec/list/0"}]),
        )
        .expect("valid patch");
        assert_eq!(out, json!({"spec": {"replicas": 5, "list": [2, 3]}}));
        assert!(json_patch(&doc, &json!([{"op": "replace", "path": "/spec/nope", "value": 1}])).is_err());
    }
}
