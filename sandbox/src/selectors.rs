//! Label and field selectors, as the Kubernetes API parses them, and `LabelSelector` objects
//! (`matchLabels` + `matchExpressions`) converted to the same form.

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (`app=x,tier!=db,env in (a,b),!legacy`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// The values of `(a,b)`. As in the API server's parser, an empty item (`(,a)`, `(a,)`, `(a,,b)`)
/// is the empty value, which a label can hold; only `()` has no values.
fn set_values(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, found {text:?}"))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(text) {
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEq(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Eq(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Eq(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().to_owned(), set_values(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Requirement::In(k.trim().to_owned(), set_values(v)?)
            } else if part.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                Requirement::Exists(part.to_owned())
            } else {
                return Err(format!("unable to parse requirement: {part:?}"));
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Converts a `LabelSelector` object (`matchLabels` and `matchExpressions` with `In`, `NotIn`,
    /// `Exists`, `DoesNotExist`), as the API server's `LabelSelectorAsSelector` does. Errors name
    /// the offending field below `spec.selector`-like `path`, as `(field, message)`.
    pub fn from_object(selector: &Value, path: &str) -> Result<Self, (String, String)> {
        let mut reqs = Vec::new();
        match &selector["matchLabels"] {
            Value::Null => {}
            Value::Object(labels) => {
                for (k, v) in labels {
                    let v = v.as_str().ok_or_else(|| {
                        (format!("{path}.matchLabels"), format!("Invalid value: {v}: must be a string"))
                    })?;
                    reqs.push(Requirement::Eq(k.clone(), v.to_owned()));
                }
            }
            other => {
                return Err((
                    format!("{path}.matchLabels"),
                    format!("Invalid value: {other}: must be a map"),
                ));
            }
        }
        let expressions = match &selector["matchExpressions"] {
            Value::Null => &Vec::new(),
            Value::Array(items) => items,
            other => {
                return Err((
                    format!("{path}.matchExpressions"),
                    format!("Invalid value: {other}: must be a list"),
                ));
            }
        };
        for (i, e) in expressions.iter().enumerate() {
            let field = format!("{path}.matchExpressions[{i}]");
            let key = e["key"].as_str().unwrap_or_default().to_owned();
            if key.is_empty() {
                return Err((format!("{field}.key"), "Required value".to_owned()));
            }
            let values: Vec<String> = match &e["values"] {
                Value::Null => Vec::new(),
                Value::Array(vs) => vs.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect(),
                other => {
                    return Err((
                        format!("{field}.values"),
                        format!("Invalid value: {other}: must be a list"),
                    ));
                }
            };
            let operator = e["operator"].as_str().unwrap_or_default();
            let req = match operator {
                "In" | "NotIn" if values.is_empty() => {
                    return Err((
                        format!("{field}.values"),
                        "Required value: must be specified when `operator` is 'In' or 'NotIn'".to_owned(),
                    ));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err((
                        format!("{field}.values"),
                        "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                            .to_owned(),
                    ));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::NotExists(key),
                other => {
                    return Err((
                        format!("{field}.operator"),
                        format!("Invalid value: \"{other}\": not a valid selector operator"),
                    ));
                }
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether the selector has no requirement (it selects everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the `metadata.labels` of `object` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.matches_labels(&object["metadata"]["labels"])
    }

    /// Whether a labels map (`{"app": "x"}`) satisfies every requirement.
    pub fn matches_labels(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

impl Requirement {
    fn key(&self) -> &str {
        match self {
            Requirement::Eq(k, _)
            | Requirement::NotEq(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::NotExists(k) => k,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |vs: &[String]| {
            let mut vs = vs.to_vec();
            vs.sort();
            vs.join(",")
        };
        match self {
            Requirement::Eq(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEq(k, v) => write!(f, "{k}!={v}"),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", set(vs)),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", set(vs)),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::NotExists(k) => write!(f, "!{k}"),
        }
    }
}

/// The API server's canonical text (requirements sorted by key, set values sorted), as in a
/// Scale's `status.selector`: `tier in (web),track notin (canary)`.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut reqs: Vec<&Requirement> = self.0.iter().collect();
        reqs.sort_by(|a, b| a.key().cmp(b.key()));
        let parts: Vec<String> = reqs.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// A parsed field selector (`metadata.name=x,status.phase!=Running`).
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, equal, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid field selector: {part:?}"));
            };
            reqs.push((path.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut v = object;
            for segment in path.split('.') {
                v = &v[segment];
            }
            let actual = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let o = json!({"metadata": {"labels": {"app": "stream-processor", "tier": "backend"}}});
        for (sel, expected) in [
            ("app=stream-processor", true),
            ("app==stream-processor,tier=backend", true),
            ("app!=stream-processor", false),
            ("app in (kafka, stream-processor)", true),
            ("app notin (kafka,stream-processor)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).expect(sel).matches(&o), expected, "{sel}");
        }
        // Found by the `label_selector` fuzz target: `(,app)` holds the empty value too.
        let empty_tier = json!({"metadata": {"labels": {"tier": ""}}});
        assert!(LabelSelector::parse("tier in (,app)").expect("parse").matches(&empty_tier));
        assert!(!LabelSelector::parse("tier notin (app,)").expect("parse").matches(&empty_tier));
        assert!(LabelSelector::parse("app=(").is_ok());
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn selector_objects_convert_like_the_api_server() {
        let checkout = json!({"matchExpressions": [
            {"key": "track", "operator": "NotIn", "values": ["canary"]},
            {"key": "tier", "operator": "In", "values": ["web"]}]});
        let sel = LabelSelector::from_object(&checkout, "spec.selector").expect("valid");
        assert_eq!(sel.to_string(), "tier in (web),track notin (canary)");
        let labels = |l: Value| json!({"metadata": {"labels": l}});
        assert!(sel.matches(&labels(json!({"tier": "web", "track": "stable", "app": "checkout"}))));
        assert!(sel.matches(&labels(json!({"tier": "web"}))), "NotIn holds when the key is absent");
        assert!(!sel.matches(&labels(json!({"tier": "web", "track": "canary"}))));
        assert!(!sel.matches(&labels(json!({"tier": "db"}))));
        // The text form parses back to the same selector.
        assert_eq!(LabelSelector::parse(&sel.to_string()).expect("parse").to_string(), sel.to_string());

        let mixed = json!({"matchLabels": {"app": "checkout", "track": "canary"},
                           "matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"},
                                                {"key": "tier", "operator": "Exists"}]});
        let sel = LabelSelector::from_object(&mixed, "spec.selector").expect("valid");
        assert_eq!(sel.to_string(), "app=checkout,!legacy,tier,track=canary");
        assert!(sel.matches_labels(&json!({"app": "checkout", "track": "canary", "tier": "web"})));
        assert!(!sel.matches_labels(&json!({"app": "checkout", "track": "canary"})));
        assert!(LabelSelector::from_object(&json!({}), "spec.selector").expect("empty").is_empty());
    }

    #[test]
    fn invalid_selector_objects_name_the_field() {
        for (selector, field) in [
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
                "spec.selector.matchExpressions[0].values",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "spec.selector.matchExpressions[0].values",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]}),
                "spec.selector.matchExpressions[0].operator",
            ),
            (json!({"matchExpressions": [{"operator": "Exists"}]}), "spec.selector.matchExpressions[0].key"),
            (json!({"matchLabels": {"a": 1}}), "spec.selector.matchLabels"),
        ] {
            let err = LabelSelector::from_object(&selector, "spec.selector").expect_err("invalid");
            assert_eq!(err.0, field, "{selector}: {err:?}");
        }
    }

    #[test]
    fn field_selector_paths() {
        let o = json!({"metadata": {"name": "p1"}, "involvedObject": {"name": "p1", "kind": "Pod"}, "status": {"phase": "Running"}});
        assert!(FieldSelector::parse("metadata.name=p1").expect("parse").matches(&o));
        assert!(
            FieldSelector::parse("involvedObject.name=p1,involvedObject.kind=Pod")
                .expect("parse")
                .matches(&o)
        );
        assert!(!FieldSelector::parse("status.phase!=Running").expect("parse").matches(&o));
        assert!(FieldSelector::parse("bogus").is_err());
    }
}
