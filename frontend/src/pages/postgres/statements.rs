//! The statements tab: the top `pg_stat_statements` entries in the chosen order, filtered by
//! database and role, with the guarded statistics reset.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use triage_shared::pg::{StatementOrder, StatementRow, StatementsReport};

use super::location::PgLocation;
use super::reset::ResetDialog;
use crate::api;
use crate::format::duration::ms;
use crate::format::text::one_line;
use crate::format::time::utc;
use crate::format::units::{count, pct};
use crate::widgets::{
    CopyButton, DataTable, Empty, Kubectl, Level, RefreshControls, keyed_resource, quiet, resource_view,
};

/// A shared-buffer hit ratio below 90 % reads from disk a lot; below 99 % is worth a look.
pub fn hit_level(ratio: Option<f64>) -> Level {
    match ratio {
        Some(r) if r < 0.9 => Level::Crit,
        Some(r) if r < 0.99 => Level::Warn,
        Some(_) => Level::Ok,
        None => Level::Neutral,
    }
}

/// The column header and tooltip of each order.
pub fn order_label(order: StatementOrder) -> (&'static str, &'static str) {
    match order {
        StatementOrder::Total => ("Total", "Total execution time, biggest first"),
        StatementOrder::Mean => ("Mean", "Mean execution time, slowest first"),
        StatementOrder::Calls => ("Calls", "Number of executions, most first"),
        StatementOrder::Max => ("Max", "Slowest single execution first"),
        StatementOrder::Stddev => ("Stddev", "Standard deviation of the execution time, most erratic first"),
        StatementOrder::Rows => ("Rows", "Rows returned or affected, most first"),
        StatementOrder::HitRatio => ("Hit ratio", "Shared-buffer hit ratio, lowest (most disk reads) first"),
    }
}

/// The psql line that shows the same top list.
pub fn psql_top(order: StatementOrder) -> String {
    let col = match order {
        StatementOrder::Total => "total_exec_time",
        StatementOrder::Mean => "mean_exec_time",
        StatementOrder::Calls => "calls",
        StatementOrder::Max => "max_exec_time",
        StatementOrder::Stddev => "stddev_exec_time",
        StatementOrder::Rows => "rows",
        StatementOrder::HitRatio => "shared_blks_hit::float / nullif(shared_blks_hit + shared_blks_read, 0)",
    };
    let dir = if order == StatementOrder::HitRatio { "ASC NULLS LAST" } else { "DESC" };
    format!(
        "psql -c \"SELECT query, calls, mean_exec_time, max_exec_time, stddev_exec_time, total_exec_time FROM pg_stat_statements ORDER BY {col} {dir} LIMIT 50\""
    )
}

fn statement_row(r: StatementRow, rank: usize, order: StatementOrder) -> impl IntoView {
    let text = one_line(&r.query);
    let hit = r.hit_ratio.map_or_else(|| "—".to_owned(), pct);
    let hit_lvl = hit_level(r.hit_ratio);
    let where_ = match (&r.database, &r.role) {
        (Some(d), Some(u)) => format!("{d} · {u}"),
        (Some(d), None) => d.clone(),
        _ => String::new(),
    };
    let strong = move |o: StatementOrder| order == o;
    view! {
        <tr data-testid="pg-statement-row" data-rank=rank.to_string() data-calls=r.calls.to_string()>
            <td class="query-cell">
                <code class="sql" title=r.query.clone() data-testid="pg-statement-query">{text}</code>
                <div class="muted small">{where_}</div>
            </td>
            <td class="num" class:strong=strong(StatementOrder::Calls)>{count(r.calls)}</td>
            <td class="num" class:strong=strong(StatementOrder::Mean)>{ms(r.mean_ms)}</td>
            <td class="num" class:strong=strong(StatementOrder::Max)>{ms(r.max_ms)}</td>
            <td class="num" class:strong=strong(StatementOrder::Stddev)>{ms(r.stddev_ms)}</td>
            <td class="num" class:strong=strong(StatementOrder::Total)>{ms(r.total_ms)}</td>
            <td class="num">{format!("{:.1}%", r.share_pct)}</td>
            <td class="num" class:strong=strong(StatementOrder::Rows)>{count(r.rows)}</td>
            <td class="num"><span class=format!("{}-text", hit_lvl.class())>{hit}</span></td>
            <td><CopyButton text=Signal::stored(r.query.clone()) testid="pg-copy-query" /></td>
        </tr>
    }
}

/// A filter of the statements: "all", then `choices`, with the current value kept among them
/// even when the report no longer lists it.
fn filter_select(
    label: &'static str,
    testid: &'static str,
    current: Memo<String>,
    choices: impl Fn() -> Vec<String> + Send + Sync + 'static,
    on_pick: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <select data-testid=testid prop:value=move || current.get()
                on:change=move |ev| on_pick(event_target_value(&ev))>
                <option value="">"all"</option>
                {move || {
                    let mut list = choices();
                    let cur = current.get();
                    if !cur.is_empty() && !list.contains(&cur) { list.push(cur); }
                    list.into_iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()
                }}
            </select>
        </label>
    }
}

#[component]
pub fn StatementsTab(target: String, location: Signal<PgLocation>, can_act: Signal<bool>) -> impl IntoView {
    let nav = StoredValue::new_local(use_navigate());
    let target_v = StoredValue::new(target.clone());
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let order = Memo::new(move |_| location.get().order);
    let database = Memo::new(move |_| location.get().database);
    let role = Memo::new(move |_| location.get().role);
    let report = keyed_resource(
        move || (order.get(), database.get(), role.get(), reload.get()),
        move |(order, db, role, _)| {
            let t = target_v.get_value();
            async move { api::pg::statements(&t, order, &db, &role).await }
        },
    );
    let go = move |change: &dyn Fn(&mut PgLocation)| {
        let mut loc = location.get_untracked();
        loc.target = Some(target_v.get_value());
        change(&mut loc);
        let url = loc.href();
        nav.with_value(|n| n(&url, quiet()));
    };
    let header = move |o: StatementOrder| {
        let (label, title) = order_label(o);
        view! {
            <th class="num" aria-sort=move || if order.get() == o { "descending" } else { "none" }>
                <button class="link th" title=title data-testid=format!("pg-sort-{}", o.id())
                    on:click=move |_| go(&|l| l.order = o)>
                    {move || if order.get() == o { format!("{label} ▾") } else { label.to_owned() }}
                </button>
            </th>
        }
    };

    let table = resource_view(report, "the statements", move |r: StatementsReport| {
        let summary = format!(
            "{} statements, {} in total · pg_stat_statements {}{} · PostgreSQL {} · {}",
            count(r.statements),
            ms(r.total_ms),
            r.extension_version,
            r.stats_reset.as_deref().map(|s| format!(" · since {} UTC", utc(s))).unwrap_or_default(),
            r.server_version,
            format_args!("{:.0} ms to analyse", r.took_ms),
        );
        if r.rows.is_empty() {
            return view! {
                <p class="summary small">{summary}</p>
                <Empty message="No statement matches (or statistics were just reset)." />
            }
            .into_any();
        }
        let o = r.order;
        view! {
            <p class="summary small" data-testid="pg-statements-summary">{summary}</p>
            <DataTable testid="pg-statements">
                <thead>
                    <tr>
                        <th>"Statement (normalized)"</th>
                        {header(StatementOrder::Calls)}
                        {header(StatementOrder::Mean)}
                        {header(StatementOrder::Max)}
                        {header(StatementOrder::Stddev)}
                        {header(StatementOrder::Total)}
                        <th class="num" title="Share of the total time of all statements">"% time"</th>
                        {header(StatementOrder::Rows)}
                        {header(StatementOrder::HitRatio)}
                        <th><span class="sr-only">"Details"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {r.rows.into_iter().enumerate().map(|(i, row)| statement_row(row, i + 1, o)).collect_view()}
                </tbody>
            </DataTable>
        }
        .into_any()
    });

    let choices =
        move || report.get().and_then(|(_, r)| r.ok()).map(|r| (r.databases, r.roles)).unwrap_or_default();
    let reset_open = RwSignal::new(false);

    view! {
        <div class="toolbar">
            <label>
                "Order by "
                <select data-testid="pg-order" prop:value=move || order.get().id().to_owned()
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        go(&|l| l.order = StatementOrder::parse(&v).unwrap_or_default());
                    }>
                    {StatementOrder::ALL.iter().map(|o| view! { <option value=o.id()>{order_label(*o).0}</option> }).collect_view()}
                </select>
            </label>
            {filter_select("Database ", "pg-database", database, move || choices().0, move |v| go(&|l| l.database = v.clone()))}
            {filter_select("Role ", "pg-role-filter", role, move || choices().1, move |v| go(&|l| l.role = v.clone()))}
            <span class="spacer"></span>
            <button
                class="danger-outline"
                data-testid="pg-reset-open"
                disabled=move || !can_act.get()
                title=move || if can_act.get() { "Forget every pg_stat_statements entry (dry run first, audited)".to_owned() } else { "Resetting statistics needs the operator role".to_owned() }
                on:click=move |_| reset_open.set(true)
            >
                "Reset statistics…"
            </button>
            <RefreshControls reload=reload auto=auto />
        </div>
        <Kubectl cmd=Signal::derive(move || psql_top(order.get())) />
        {move || reset_open.get().then(|| view! { <ResetDialog target=target_v.get_value() open=reset_open reload=reload /> })}
        {table}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_ratios_and_the_psql_line() {
        assert_eq!(hit_level(Some(0.5)), Level::Crit);
        assert_eq!(hit_level(Some(0.995)), Level::Ok);
        assert!(psql_top(StatementOrder::Mean).contains("ORDER BY mean_exec_time DESC"));
    }
}
