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
/// API server itself would reject (`In`/`NotIn` without values, unknown operators).
pub fn selector_of(what: &str, selector: &LabelSelector) -> Result<Selector, ApiError> {
    let refuse = |why: String| ApiError::new(ErrorKind::Unprocessable, format!("{what}: {why}"));
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(refuse(format!(
                    "its selector's `{}` requirement on {:?} lists no values",
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
        ] {
            let error = selector_of("deployment x", &selector).expect_err("must be refused");
            assert_eq!(error.kind, ErrorKind::Unprocessable, "{selector:?}");
            assert!(error.message.starts_with("deployment x: "), "{}", error.message);
        }
    }

    #[test]
    fn views_say_when_a_selector_is_empty() {
        assert_eq!(selector_text(Some(&LabelSelector::default())), "(every pod)");
        assert_eq!(selector_text(None), "");
    }
}
