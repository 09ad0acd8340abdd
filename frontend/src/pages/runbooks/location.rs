//! What a flow page's URL says: `/runbooks/{id}`, `/runbooks/{id}?param=value…` (an alert's
//! link: the form's values, and whether to start at once) and `/runbooks/{id}/runs/{run_id}`
//! (also `?run_id=`), a run's permalink. The environment is the link's `env=` or the value of
//! the alert label that names one (see `crate::env::link_env`).

use std::collections::BTreeMap;

use triage_shared::runbook::Param;

use crate::format::url::encode;

/// The flow page's view: the runbook, the run shown (if any) and the link's query (empty when a
/// run is shown: its parameters are the run's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowLocation {
    pub id: String,
    pub run_id: Option<String>,
    pub query: BTreeMap<String, String>,
}

impl FlowLocation {
    /// From the path's `id` and `run_id` and the query string (whose `run_id` also names a run).
    pub fn new(id: String, path_run_id: Option<String>, query: BTreeMap<String, String>) -> FlowLocation {
        let run_id = path_run_id.or_else(|| query.get("run_id").cloned()).filter(|r| !r.is_empty());
        let query = if run_id.is_some() { BTreeMap::new() } else { query };
        FlowLocation { id, run_id, query }
    }
}

/// `/runbooks/{id}`: a flow, its form empty or with its defaults (in the current environment).
pub fn flow_href(id: &str) -> String {
    crate::env::href(&format!("/runbooks/{}", encode(id)))
}

/// `/runbooks/{id}/runs/{run_id}`: a run's permalink (in the current environment).
pub fn run_href(id: &str, run_id: &str) -> String {
    crate::env::href(&format!("/runbooks/{}/runs/{}", encode(id), encode(run_id)))
}

/// A link that opens flow `id` with these parameter values and starts it (`?run=1` when there
/// are none). No environment: the caller adds the one the link is about.
pub fn start_href(id: &str, values: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = values.iter().map(|(name, value)| format!("{name}={}", encode(value))).collect();
    let query = if pairs.is_empty() { "?run=1".to_owned() } else { format!("?{}", pairs.join("&")) };
    format!("/runbooks/{}{query}", encode(id))
}

/// Flow `id` with the link's `query` in environment `env`: the parameter `drop` (the alert label
/// that named an unknown environment) and any `env=` left out.
pub fn flow_href_in(id: &str, query: &BTreeMap<String, String>, drop: &str, env: &str) -> String {
    let pairs: Vec<String> = query
        .iter()
        .filter(|(k, _)| k.as_str() != drop && k.as_str() != triage_shared::env::ENV_PARAM)
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let path = if pairs.is_empty() {
        format!("/runbooks/{}", encode(id))
    } else {
        format!("/runbooks/{}?{}", encode(id), pairs.join("&"))
    };
    crate::env::href_in(&path, env)
}

/// The form's first values: the link's value for each declared parameter, else its default,
/// else empty. Query keys that are not parameters are ignored.
pub fn initial_values(params: &[Param], query: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|p| {
            let value = query.get(&p.name).cloned().or_else(|| p.default.clone()).unwrap_or_default();
            (p.name.clone(), value)
        })
        .collect()
}

/// An alert link starts the flow at once when it says so (`run=1`) or carries any parameter.
pub fn link_starts_run(params: &[Param], query: &BTreeMap<String, String>) -> bool {
    query.get("run").is_some_and(|v| v == "1" || v == "true")
        || params.iter().any(|p| query.get(&p.name).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::runbooks::fixtures::{map, param};

    #[test]
    fn link_values_win_over_defaults_and_unknown_keys_are_ignored() {
        let params = vec![param("namespace", Some("streaming-analytics")), param("consumer_group", None)];
        let query = map(&[("consumer_group", "g1"), ("evil", "x")]);
        assert_eq!(
            initial_values(&params, &query),
            map(&[("namespace", "streaming-analytics"), ("consumer_group", "g1")])
        );
        assert!(link_starts_run(&params, &query));
        assert!(!link_starts_run(&params, &map(&[("evil", "x")])));
        assert!(link_starts_run(&params, &map(&[("run", "1")])));
        assert!(!link_starts_run(&params, &map(&[])));
    }

    #[test]
    fn a_run_in_the_path_or_the_query_drops_the_link_values() {
        let q = map(&[("namespace", "a")]);
        let plain = FlowLocation::new("lag".into(), None, q.clone());
        assert_eq!((plain.run_id, plain.query), (None, q.clone()));
        let run = FlowLocation::new("lag".into(), Some("r1".into()), q.clone());
        assert_eq!((run.run_id.as_deref(), run.query.len()), (Some("r1"), 0));
        let by_query = FlowLocation::new("lag".into(), None, map(&[("run_id", "r2")]));
        assert_eq!(by_query.run_id.as_deref(), Some("r2"));
        assert_eq!(FlowLocation::new("lag".into(), None, map(&[("run_id", "")])).run_id, None);
        assert_eq!(run_href("lag", "r1"), "/runbooks/lag/runs/r1");
        assert_eq!(start_href("lag", &[]), "/runbooks/lag?run=1");
        assert_eq!(start_href("lag", &[("group", "g&1"), ("ns", "a")]), "/runbooks/lag?group=g%261&ns=a");
    }

    #[test]
    fn a_flow_in_another_environment_drops_the_label_that_named_an_unknown_one() {
        let q = map(&[("namespace", "a b"), ("cluster", "us-east-1"), ("env", "x")]);
        assert_eq!(
            flow_href_in("lag", &q, "cluster", "prod-eu"),
            "/runbooks/lag?namespace=a%20b&env=prod-eu"
        );
        assert_eq!(flow_href_in("lag", &map(&[]), "cluster", "staging"), "/runbooks/lag?env=staging");
    }
}
