//! The tables tab: sizes, live and dead rows, and the last vacuum and analyze of each table.

use leptos::prelude::*;
use triage_shared::pg::{TableStats, TablesReport};

use crate::api;
use crate::format::time::utc;
use crate::format::units::{count, pct, size};
use crate::widgets::{Badge, DataTable, Empty, Level, resource_tab};

/// Dead tuples: 20 % is where autovacuum steps in by default; above it vacuum is behind.
pub fn dead_level(ratio: f64) -> Level {
    if ratio >= 0.2 {
        Level::Crit
    } else if ratio >= 0.1 {
        Level::Warn
    } else {
        Level::Ok
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableSort {
    Size,
    DeadRatio,
    DeadRows,
    Name,
}

fn table_row(t: TableStats) -> impl IntoView {
    let when = |v: &Option<String>| v.as_deref().map(utc).unwrap_or_else(|| "never".to_owned());
    let vacuum = match (&t.last_vacuum, &t.last_autovacuum) {
        (Some(a), Some(b)) => Some(if a > b { a.clone() } else { b.clone() }),
        (a, b) => a.clone().or_else(|| b.clone()),
    };
    let analyze = match (&t.last_analyze, &t.last_autoanalyze) {
        (Some(a), Some(b)) => Some(if a > b { a.clone() } else { b.clone() }),
        (a, b) => a.clone().or_else(|| b.clone()),
    };
    let level = dead_level(t.dead_ratio);
    view! {
        <tr data-testid="pg-table-row" data-table=t.table.clone() data-dead-ratio=format!("{:.4}", t.dead_ratio)>
            <td class="name">{format!("{}.{}", t.schema, t.table)}</td>
            <td class="num">{size(t.total_bytes)}</td>
            <td class="num">{size(t.table_bytes)}</td>
            <td class="num">{size(t.index_bytes)}</td>
            <td class="num">{size(t.toast_bytes)}</td>
            <td class="num">{count(t.live_rows)}</td>
            <td class="num">{count(t.dead_rows)}</td>
            <td class="num"><Badge level=level text=pct(t.dead_ratio) /></td>
            <td class="nowrap small" title=format!("manual {} · auto {}", when(&t.last_vacuum), when(&t.last_autovacuum))>{when(&vacuum)}</td>
            <td class="nowrap small" title=format!("manual {} · auto {}", when(&t.last_analyze), when(&t.last_autoanalyze))>{when(&analyze)}</td>
        </tr>
    }
}

#[component]
pub fn TablesTab(target: String) -> impl IntoView {
    let target_v = StoredValue::new(target);
    let auto_refresh = false;
    let sort = RwSignal::new(TableSort::Size);
    let fetch = move || {
        let t = target_v.get_value();
        async move { api::pg::tables(&t).await }
    };
    let th = move |label: &'static str, by: TableSort| {
        view! {
            <th class="num" aria-sort=move || if sort.get() == by { "descending" } else { "none" }>
                <button class="link th" on:click=move |_| sort.set(by)>{move || if sort.get() == by { format!("{label} ▾") } else { label.to_owned() }}</button>
            </th>
        }
    };
    let cmd = "psql -c \"SELECT relname, pg_size_pretty(pg_total_relation_size(relid)), n_live_tup, n_dead_tup, last_autovacuum FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC\"".to_owned();
    resource_tab("the tables", cmd, auto_refresh, fetch, move |r: TablesReport| {
        if r.tables.is_empty() {
            return view! { <Empty message=format!("No user table in database {}.", r.database) /> }
                .into_any();
        }
        let n = r.tables.len();
        let rows = move || {
            let mut list = r.tables.clone();
            match sort.get() {
                TableSort::Size => list.sort_by_key(|t| std::cmp::Reverse(t.total_bytes)),
                TableSort::DeadRatio => list.sort_by(|a, b| b.dead_ratio.total_cmp(&a.dead_ratio)),
                TableSort::DeadRows => list.sort_by_key(|t| std::cmp::Reverse(t.dead_rows)),
                TableSort::Name => list.sort_by(|a, b| (&a.schema, &a.table).cmp(&(&b.schema, &b.table))),
            }
            list.into_iter().map(table_row).collect_view()
        };
        view! {
            <p class="summary small">{format!("{n} tables in database {}", r.database)}</p>
            <DataTable testid="pg-tables">
                <thead><tr>
                    <th><button class="link th" on:click=move |_| sort.set(TableSort::Name)>"Table"</button></th>
                    {th("Total", TableSort::Size)}
                    <th class="num">"Table"</th><th class="num">"Indexes"</th><th class="num">"TOAST"</th>
                    <th class="num">"Live rows"</th>
                    {th("Dead rows", TableSort::DeadRows)}
                    {th("Dead ratio", TableSort::DeadRatio)}
                    <th>"Last vacuum (UTC)"</th><th>"Last analyze (UTC)"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </DataTable>
        }
        .into_any()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_rows_past_autovacuum_are_critical() {
        assert_eq!(dead_level(0.25), Level::Crit);
        assert_eq!(dead_level(0.15), Level::Warn);
        assert_eq!(dead_level(0.01), Level::Ok);
    }
}
