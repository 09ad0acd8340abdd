//! Runbook summaries and parameters for the unit tests of the runbook and alert pages.

use std::collections::BTreeMap;

use triage_shared::runbook::{Param, ParamKind, RunbookSummary};

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

pub fn param(name: &str, default: Option<&str>) -> Param {
    Param {
        name: name.to_owned(),
        label: None,
        kind: ParamKind::LabelValue,
        default: default.map(str::to_owned),
        help: None,
    }
}

pub fn summary(id: &str, component: &str, alerts: &[&str], params: Vec<Param>) -> RunbookSummary {
    RunbookSummary {
        id: id.to_owned(),
        title: format!("Title of {id}"),
        summary: "when things go wrong".to_owned(),
        component: component.to_owned(),
        alerts: alerts.iter().map(|a| (*a).to_owned()).collect(),
        params,
        steps: 3,
    }
}
