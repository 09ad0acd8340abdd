//! The index advice tab: suggested, unused, duplicate and redundant indexes with their DDL to
//! copy (Triage never runs it), and every index with its use.

use leptos::prelude::*;
use triage_shared::pg::{
    AdviceKind, AdviceVerification, IndexAdviceReport, IndexSuggestion, PlannerEvidence,
};

use crate::api;
use crate::format::text::one_line;
use crate::format::time::utc;
use crate::format::units::{count, pct, size};
use crate::widgets::{Badge, CopyButton, Empty, Level, resource_tab};

pub fn advice_label(kind: AdviceKind) -> (&'static str, Level) {
    match kind {
        AdviceKind::CreateIndex => ("missing index", Level::Crit),
        AdviceKind::UnusedIndex => ("unused index", Level::Warn),
        AdviceKind::DuplicateIndex => ("duplicate index", Level::Warn),
        AdviceKind::RedundantIndex => ("redundant index", Level::Warn),
    }
}

fn suggestion_card(s: IndexSuggestion) -> impl IntoView {
    let (label, level) = advice_label(s.kind);
    let what = match &s.index {
        Some(i) => format!("{}.{} — index {i} ({})", s.schema, s.table, s.columns.join(", ")),
        None => format!("{}.{} ({})", s.schema, s.table, s.columns.join(", ")),
    };
    let verdict = (s.kind == AdviceKind::CreateIndex).then(|| {
        if s.verified {
            view! { <Badge level=Level::Ok text="verified by the planner" /> }.into_any()
        } else {
            view! { <Badge level=Level::Neutral text="not verified by the planner" /> }.into_any()
        }
    });
    let evidence = s.planner.clone();
    view! {
        <section class="panel pg-advice" data-testid="pg-advice" data-kind=label data-table=s.table.clone() data-columns=s.columns.join(",") data-verified=s.verified.to_string()>
            <div class="detail-head">
                <Badge level=level text=label />
                {verdict}
                <h2>{what}</h2>
            </div>
            <p>{s.reason.clone()}</p>
            <div class="facts">
                <div><dt>"Sequential scans"</dt><dd>{count(s.seq_scan)}</dd></div>
                <div><dt>"Rows read by them"</dt><dd>{count(s.seq_tup_read)}</dd></div>
                <div><dt>"Index scans"</dt><dd>{count(s.idx_scan)}</dd></div>
                <div><dt>"Live rows"</dt><dd>{count(s.live_rows)}</dd></div>
                <div><dt>"Table size"</dt><dd>{size(s.table_bytes)}</dd></div>
                {s.index_bytes.map(|b| view! { <div><dt>"Index size"</dt><dd>{size(b)}</dd></div> })}
            </div>
            {(!s.column_stats.is_empty()).then(|| view! {
                <table class="data small">
                    <thead><tr><th>"Column"</th><th class="num">"n_distinct"</th><th class="num">"Selectivity"</th><th class="num">"Correlation"</th><th class="num">"Null fraction"</th></tr></thead>
                    <tbody>
                        {s.column_stats.iter().map(|c| view! {
                            <tr>
                                <td class="mono">{c.column.clone()}</td>
                                <td class="num">{c.n_distinct.map(|v| format!("{v}")).unwrap_or_else(|| "—".to_owned())}</td>
                                <td class="num">{c.selectivity.map(|v| format!("{v:.5}")).unwrap_or_else(|| "—".to_owned())}</td>
                                <td class="num">{c.correlation.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".to_owned())}</td>
                                <td class="num">{c.null_frac.map(pct).unwrap_or_else(|| "—".to_owned())}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {(!evidence.is_empty()).then(|| planner_table(evidence))}
            {s.statement.clone().filter(|_| !s.verified).map(|q| view! { <div class="small muted">"Statement: "<code class="sql">{one_line(&q)}</code></div> })}
            <div class="pg-ddl">
                <code data-testid="pg-ddl">{s.ddl.clone()}</code>
                <CopyButton text=Signal::stored(s.ddl.clone()) testid="pg-copy-ddl" label="Copy DDL" />
            </div>
        </section>
    }
}

/// The statements the planner used the index for: cost without and with it (a bar each, the
/// "with" one scaled to the "without"), and the plan node it replaces.
fn planner_table(evidence: Vec<PlannerEvidence>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data small" data-testid="pg-planner">
                <caption class="sr-only">"What the planner chose with the suggested index"</caption>
                <thead><tr><th>"Statement"</th><th class="num">"Share of time"</th><th>"Estimated cost"</th><th>"Plan"</th></tr></thead>
                <tbody>
                    {evidence.into_iter().map(|e| {
                        let ratio = if e.cost_before > 0.0 { (e.cost_after / e.cost_before).clamp(0.0, 1.0) } else { 1.0 };
                        let width = format!("width: {:.1}%", ratio * 100.0);
                        view! {
                            <tr data-testid="pg-planner-row">
                                <td><code class="sql">{one_line(&e.statement)}</code></td>
                                <td class="num">{format!("{:.1} %", e.share_pct)}</td>
                                <td>
                                    <div class="cost-bars" role="img" aria-label=format!("estimated cost {:.0} without the index, {:.0} with it", e.cost_before, e.cost_after)>
                                        <div class="cost-bar before"></div>
                                        <div class="cost-bar after" style=width></div>
                                    </div>
                                    <span class="mono">{format!("{:.0} → {:.0}", e.cost_before, e.cost_after)}</span>
                                </td>
                                <td class="mono">{e.before.clone()}" → "{e.after.clone()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// How the advice was checked, or how to let the planner check it.
fn verification_note(v: AdviceVerification) -> impl IntoView {
    let failures = v.failures.clone();
    view! {
        <p class="small" data-testid="pg-verification" data-hypopg=v.hypopg.clone().unwrap_or_default()>{v.message.clone()}</p>
        {(!failures.is_empty()).then(|| view! {
            <details class="small">
                <summary>{format!("{} statements could not be planned", failures.len())}</summary>
                <ul>{failures.into_iter().map(|f| view! { <li class="mono">{f}</li> }).collect_view()}</ul>
            </details>
        })}
    }
}

#[component]
pub fn IndexesTab(target: String) -> impl IntoView {
    let target_v = StoredValue::new(target);
    let auto_refresh = false;
    let fetch = move || {
        let t = target_v.get_value();
        async move { api::pg::index_advice(&t).await }
    };
    let cmd = "psql -c \"SELECT relname, seq_scan, seq_tup_read, idx_scan, n_live_tup FROM pg_stat_user_tables ORDER BY seq_tup_read DESC\"".to_owned();
    resource_tab("the index advice", cmd, auto_refresh, fetch, move |r: IndexAdviceReport| {
        let since = r.stats_reset.as_deref().map_or_else(
            || "Index usage counts since the statistics were created.".to_owned(),
            |s| format!("Index usage counts since {} UTC.", utc(s)),
        );
        view! {
            <p class="summary small">{format!("{} suggestions · {since} Triage never runs DDL: copy it and run it yourself. {:.0} ms to analyse.", r.suggestions.len(), r.took_ms)}</p>
            {verification_note(r.verification.clone())}
            {if r.suggestions.is_empty() {
                view! { <Empty message="No advice: no table is read mostly by large sequential scans, and every index is used." /> }.into_any()
            } else {
                view! { <div class="pg-advice-list">{r.suggestions.into_iter().map(suggestion_card).collect_view()}</div> }.into_any()
            }}
            <section class="panel">
                <h2 class="section-title">"Indexes and their use"</h2>
                <div class="table-wrap">
                    <table class="data" data-testid="pg-indexes">
                        <thead><tr><th>"Index"</th><th>"Table"</th><th>"Columns"</th><th class="num">"Scans"</th><th class="num">"Size"</th><th>"Definition"</th></tr></thead>
                        <tbody>
                            {r.indexes.into_iter().map(|i| view! {
                                <tr data-testid="pg-index-row" data-index=i.index.clone() data-scans=i.idx_scan.to_string()>
                                    <td class="name">{i.index.clone()}</td>
                                    <td>{format!("{}.{}", i.schema, i.table)}</td>
                                    <td class="mono small">{i.columns.join(", ")}</td>
                                    <td class="num" class:warn-text=i.idx_scan == 0>{count(i.idx_scan)}</td>
                                    <td class="num">{size(i.bytes)}</td>
                                    <td class="mono small">{i.definition.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        }
        .into_any()
    })
}
