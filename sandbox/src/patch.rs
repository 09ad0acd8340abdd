//! JSON merge patch (RFC 7386, also used for strategic merge on the fields the sandbox has) and
//! JSON patch (RFC 6902: add, replace, remove, test).

use serde_json::Value;

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
