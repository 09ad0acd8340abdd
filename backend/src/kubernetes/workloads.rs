//! Which objects belong to a workload, decided once for every action and view.
//!
//! A deployment's selector is converted whole (`matchLabels` and every `matchExpressions`
//! operator) by [`selector_of`]; an empty selector is refused, never read as "all pods". Pods are
//! a deployment's only when their owner chain leads to it (pod → ReplicaSet → Deployment, by
//! uid): labels alone can overlap between workloads, ownership cannot.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, ListParams};
use kube::core::Selector;
use triage_shared::{ApiError, ErrorKind};

use crate::kubernetes::map_error;

/// The label selector of a workload as the API's query syntax, or why it cannot be used.
///
/// Refuses an empty selector (which the API would read as "every pod") and requirements the
/// API server itself would reject (`In`/`NotIn` without values, unknown operators, keys and
/// values outside label syntax — a value such as `x,tier!=db` would change the selector's text).
pub fn selector_of(what: &str, selector: &LabelSelector) -> Result<Selector, ApiError> {
    let refuse = |why: String| ApiError::new(ErrorKind::Unprocessable, format!("{what}: {why}"));
    for (key, value) in selector.match_labels.iter().flatten() {
        check_label(key, Some(value)).map_err(&refuse)?;
    }
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or_default();
        check_label(&requirement.key, None).map_err(&refuse)?;
        for value in values {
            check_label(&requirement.key, Some(value)).map_err(&refuse)?;
        }
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(refuse(format!(
                    "its selector's `{}` requirement on {:?} lists no values",
                    requirement.operator, requirement.key
                )));
            }
            // The empty value alone prints as `tier in ()`, which reads back as a set without
            // values, not as the empty value (found by the `label_selector` fuzz target).
            "In" | "NotIn" if values.iter().all(String::is_empty) => {
                return Err(refuse(format!(
                    "its selector's `{}` requirement on {:?} lists only the empty value, which a \
                     selector's text cannot carry",
                    requirement.operator, requirement.key
                )));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(refuse(format!("its selector uses the unknown operator {other:?}"))),
        }
    }
    let converted = Selector::try_from(selector.clone()).map_err(|e| refuse(e.to_string()))?;
    if converted.selects_all() {
        return Err(refuse(
            "its selector is empty, which would select every pod of the namespace; Triage will not act on it"
                .to_owned(),
        ));
    }
    Ok(converted)
}

/// A label key (an optional DNS-1123 subdomain prefix and `/`, then a name) and value (empty or
/// a name) as the API server accepts them: a name is at most 63 of `[A-Za-z0-9._-]`,
/// alphanumeric at both ends.
fn check_label(key: &str, value: Option<&str>) -> Result<(), String> {
    let is_name = |s: &str| {
        let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        s.len() <= 63
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && edge(s.chars().next())
            && edge(s.chars().last())
    };
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    if !is_name(name) || prefix.is_some_and(|p| triage_shared::k8s::check_object_name(p).is_err()) {
        return Err(format!("its selector's label key {key:?} is not a valid label key"));
    }
    match value {
        Some(v) if !v.is_empty() && !is_name(v) => {
            Err(format!("its selector's value {v:?} for {key:?} is not a valid label value"))
        }
        _ => Ok(()),
    }
}

/// A label selector typed by a person (`app=x,tier!=db,env in (a,b),!legacy`), parsed the way
/// the API server parses it: every comma-separated part must be one requirement with valid label
/// syntax, and there must be at least one, so `,`, `!!!` or spaces never read as "every pod".
pub fn parse_selector_text(text: &str) -> Result<Selector, String> {
    use kube::core::Expression;
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or_else(|| format!("{text:?} has an unmatched `)`"))?,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{text:?} has an unclosed `(`"));
    }
    parts.push(&text[start..]);
    let set = |key: &str, values: &str| -> Result<std::collections::BTreeSet<String>, String> {
        let inner =
            values.trim().strip_prefix('(').and_then(|v| v.strip_suffix(')')).ok_or_else(|| {
                format!("the values for {key:?} must be a parenthesised list, such as (a,b)")
            })?;
        let values: std::collections::BTreeSet<String> =
            inner.split(',').map(|v| v.trim().to_owned()).collect();
        for v in &values {
            check_label(key, Some(v))?;
        }
        Ok(values)
    };
    let mut expressions = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{text:?} has an empty requirement (a stray comma)"));
        }
        let expression = if let Some(key) = part.strip_prefix('!') {
            check_label(key.trim(), None)?;
            Expression::DoesNotExist(key.trim().to_owned())
        } else if let Some((k, v)) = part.split_once("!=") {
            check_label(k.trim(), Some(v.trim()))?;
            Expression::NotEqual(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            check_label(k.trim(), Some(v.trim()))?;
            Expression::Equal(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = part.split_once(" notin ") {
            check_label(k.trim(), None)?;
            Expression::NotIn(k.trim().to_owned(), set(k.trim(), v)?)
        } else if let Some((k, v)) = part.split_once(" in ") {
            check_label(k.trim(), None)?;
            Expression::In(k.trim().to_owned(), set(k.trim(), v)?)
        } else {
            check_label(part, None)?;
            Expression::Exists(part.to_owned())
        };
        expressions.push(expression);
    }
    Ok(expressions.into_iter().collect())
}

/// Text of a selector for views: the selector itself, or a sentence when it is empty.
pub fn selector_text(selector: Option<&LabelSelector>) -> String {
    match selector {
        None => String::new(),
        Some(s) => match Selector::try_from(s.clone()) {
            Ok(sel) if sel.selects_all() => "(every pod)".to_owned(),
            Ok(sel) => sel.to_string(),
            Err(e) => format!("(unusable selector: {e})"),
        },
    }
}

/// The selector of a deployment, converted by [`selector_of`].
pub fn deployment_selector(d: &Deployment) -> Result<Selector, ApiError> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
    selector_of(&format!("deployment {name}"), &selector)
}

/// Whether `meta`'s controller reference names an object of `kind` with uid `uid`.
fn controlled_by(meta: &ObjectMeta, kind: &str, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.kind == kind && r.uid == uid)
}

/// The ReplicaSets a deployment controls (matching its selector and owned by its uid).
pub async fn owned_replica_sets(
    client: &kube::Client,
    ns: &str,
    d: &Deployment,
) -> Result<Vec<ReplicaSet>, ApiError> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let uid = d.metadata.uid.as_deref().unwrap_or_default();
    let selector = deployment_selector(d)?;
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(|e| map_error(e, "list", &format!("replica sets of deployment {name}")))?;
    Ok(list
        .items
        .into_iter()
        .filter(|rs| !uid.is_empty() && controlled_by(&rs.metadata, "Deployment", uid))
        .collect())
}

/// The pods a deployment owns: matching its selector, and controlled by one of its ReplicaSets.
pub async fn owned_pods(client: &kube::Client, ns: &str, d: &Deployment) -> Result<Vec<Pod>, ApiError> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let selector = deployment_selector(d)?;
    let replica_sets: BTreeSet<String> =
        owned_replica_sets(client, ns, d).await?.into_iter().filter_map(|rs| rs.metadata.uid).collect();
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(|e| map_error(e, "list", &format!("pods of deployment {name}")))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| replica_sets.iter().any(|uid| controlled_by(&p.metadata, "ReplicaSet", uid)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn both_parts_and_every_operator_are_kept() {
        let selector = LabelSelector {
            match_labels: Some([("app".to_owned(), "checkout".to_owned())].into()),
            match_expressions: Some(vec![
                requirement("tier", "In", &["web", "api"]),
                requirement("track", "NotIn", &["canary"]),
                requirement("team", "Exists", &[]),
                requirement("legacy", "DoesNotExist", &[]),
            ]),
        };
        let text = selector_of("deployment checkout", &selector).map(|s| s.to_string());
        assert_eq!(text.as_deref(), Ok("app=checkout,tier in (api,web),track notin (canary),team,!legacy"));
    }

    #[test]
    fn expressions_alone_are_a_selector() {
        let selector = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![requirement("tier", "In", &["web"])]),
        };
        assert_eq!(selector_of("d", &selector).map(|s| s.to_string()).as_deref(), Ok("tier in (web)"));
    }

    #[test]
    fn empty_and_broken_selectors_are_refused() {
        for selector in [
            LabelSelector::default(),
            LabelSelector { match_labels: Some(Default::default()), match_expressions: Some(vec![]) },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement("tier", "In", &[])]),
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement("tier", "Near", &["x"])]),
            },
            // Found by the `label_selector` fuzz target: the text would read as two requirements.
            LabelSelector {
                match_labels: Some([("app".to_owned(), "x,tier!=db".to_owned())].into()),
                match_expressions: None,
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement("a in (b),c", "Exists", &[])]),
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement("tier", "NotIn", &["web)", "x"])]),
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement("tier", "NotIn", &["", ""])]),
            },
            LabelSelector {
                match_labels: Some([("Bad.Prefix/app".to_owned(), "x".to_owned())].into()),
                match_expressions: None,
            },
        ] {
            let error = selector_of("deployment x", &selector).expect_err("must be refused");
            assert_eq!(error.kind, ErrorKind::Unprocessable, "{selector:?}");
            assert!(error.message.starts_with("deployment x: "), "{}", error.message);
        }
    }

    #[test]
    fn typed_selectors_parse_like_the_api_servers() {
        let ok = |t: &str| parse_selector_text(t).map(|s| s.to_string());
        assert_eq!(ok("app=x, tier!=db").as_deref(), Ok("app=x,tier!=db"));
        assert_eq!(ok("env in (a, b),!legacy,team").as_deref(), Ok("env in (a,b),!legacy,team"));
        for bad in ["", " ", ",", "app=x,", "!!!", "app in (a", "a b", "app=x y", "tier in a,b", "=x"] {
            assert!(parse_selector_text(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn views_say_when_a_selector_is_empty() {
        assert_eq!(selector_text(Some(&LabelSelector::default())), "(every pod)");
        assert_eq!(selector_text(None), "");
    }
}
