//! The Audit page: every action taken through Triage, newest first — who, when, in which
//! environment, what, why (the reason a guarded environment asks for), what the dry run said,
//! who approved it (under `approval` protection), and how it ended. Filters run in the browser; the list reloads every 10 s.

use leptos::prelude::*;
use triage_shared::actions::AuditEntry;

use serde_json::Value;
use triage_shared::actions::AuditOutcome;

use crate::api;
use crate::format::text::matches_filter;
use crate::format::time::utc;
use crate::widgets::{
    Badge, DataTable, Empty, ErrorBox, FilterInput, Level, Loading, RefreshControls, keyed_resource,
};

/// How many entries to fetch (newest first).
const LIMIT: u32 = 100;

pub fn audit_outcome(outcome: AuditOutcome) -> (&'static str, Level) {
    match outcome {
        AuditOutcome::Pending => ("pending", Level::Warn),
        AuditOutcome::Succeeded => ("succeeded", Level::Ok),
        AuditOutcome::Failed => ("failed", Level::Crit),
    }
}

/// An action's parameters in one line: `replicas=12, force=true`.
pub fn params_text(params: &Value) -> String {
    match params {
        Value::Null => String::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn entry_row(e: AuditEntry) -> impl IntoView {
    let (label, level) = audit_outcome(e.outcome);
    let who_title = {
        let mut parts = vec![e.subject.clone()];
        if let Some(mail) = &e.email {
            parts.push(mail.clone());
        }
        if !e.groups.is_empty() {
            parts.push(format!("groups: {}", e.groups.join(", ")));
        }
        parts.join("\n")
    };
    let when_title = match &e.finished_at {
        Some(f) => format!("started {} · finished {f}", e.at),
        None => format!("started {}", e.at),
    };
    let who = e.email.clone().unwrap_or_else(|| e.subject.clone());
    let params = params_text(&e.params);
    view! {
        <tr data-testid="audit-row" data-action=e.action.clone() data-outcome=label class:failed-row={level == Level::Crit}>
            <td class="nowrap mono small" title=when_title>{utc(&e.at)}</td>
            <td title=who_title>{who}</td>
            <td class="nowrap" data-testid="audit-env">{e.env.clone()}</td>
            <td class="nowrap"><code>{e.action.clone()}</code></td>
            <td class="mono small">{e.target.clone()}</td>
            <td>
                {e.dry_run_summary.clone()}
                {(!params.is_empty()).then(|| view! { <div class="muted small mono">{params}</div> })}
            </td>
            <td class="small" data-testid="audit-reason">{e.reason.clone().unwrap_or_default()}</td>
            <td class="nowrap small" data-testid="audit-approved-by">{e.approved_by.clone().unwrap_or_default()}</td>
            <td><Badge level=level text=label /></td>
            <td class="crit-text small">{e.error.clone().unwrap_or_default()}</td>
        </tr>
    }
}

#[component]
pub fn Audit() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(true);
    let action = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let entries = keyed_resource(move || reload.get(), |_| api::audit(LIMIT));

    let actions = move || {
        let mut list: Vec<String> = entries
            .map(|(_, r)| {
                r.as_ref().map(|l| l.iter().map(|e| e.action.clone()).collect()).unwrap_or_default()
            })
            .unwrap_or_default();
        list.sort();
        list.dedup();
        list
    };

    let table = move || {
        match entries.get().map(|(_, r)| r) {
        None => view! { <Loading what="the audit log" /> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox what="the audit log" message=e.message /> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! {
            <Empty message="No action has been taken through Triage yet. Scale, restart and delete from the Kubernetes page are recorded here." />
        }
        .into_any(),
        Some(Ok(list)) => {
            let total = list.len();
            let (wanted, needle) = (action.get(), text.get());
            let shown: Vec<AuditEntry> = list
                .into_iter()
                .filter(|e| wanted.is_empty() || e.action == wanted)
                .filter(|e| {
                    matches_filter(
                        &[
                            &e.subject,
                            e.email.as_deref().unwrap_or(""),
                            &e.action,
                            &e.target,
                            &e.dry_run_summary,
                            e.error.as_deref().unwrap_or(""),
                            &e.env,
                            e.reason.as_deref().unwrap_or(""),
                            e.approved_by.as_deref().unwrap_or(""),
                        ],
                        &needle,
                    )
                })
                .collect();
            let count = if shown.len() == total {
                format!("{total} entries, newest first")
            } else {
                format!("{} of {total} entries, newest first", shown.len())
            };
            let rows = if shown.is_empty() {
                view! { <tr><td colspan="10" class="muted">"No entry matches the filters."</td></tr> }.into_any()
            } else {
                shown.into_iter().map(entry_row).collect_view().into_any()
            };
            view! {
                <p class="summary small" data-testid="audit-summary">{count}</p>
                <DataTable testid="audit-table">
                    <thead>
                        <tr>
                            <th>"Time (UTC)"</th><th>"Who"</th><th>"Environment"</th><th>"Action"</th><th>"Target"</th>
                            <th>"Dry run said"</th><th>"Reason"</th><th>"Approved by"</th><th>"Outcome"</th><th>"Error"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </DataTable>
            }
            .into_any()
        }
    }
    };

    view! {
        <section data-testid="page-audit">
            <div class="page-head">
                <h1>"Audit"</h1>
                <span class="muted small">"Every action taken through Triage: who, when, what the dry run said, and the outcome."</span>
            </div>
            <div class="toolbar">
                <label>
                    "Action "
                    <select
                        data-testid="audit-action-filter"
                        prop:value=move || action.get()
                        on:change=move |ev| action.set(event_target_value(&ev))
                    >
                        <option value="">"all"</option>
                        {move || actions().into_iter().map(|a| {
                            let selected = action.get_untracked() == a;
                            view! { <option value=a.clone() selected=selected>{a.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <FilterInput testid="audit-filter" label="Filter the audit log" placeholder="filter: who, environment, target, summary, reason, error…" value=text />
                <span class="spacer"></span>
                <RefreshControls reload=reload auto=auto />
            </div>
            {table}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_text() {
        assert_eq!(audit_outcome(AuditOutcome::Failed), ("failed", Level::Crit));
        assert_eq!(params_text(&serde_json::json!({"replicas": 12, "who": "x"})), "replicas=12, who=x");
        assert_eq!(params_text(&Value::Null), "");
    }
}
