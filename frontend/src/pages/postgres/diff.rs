//! The window diff tab: what each statement added between two snapshots (or a snapshot and
//! now), and taking a snapshot.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use triage_shared::pg::{DiffReport, SnapshotInfo};

use super::location::{PgLocation, PgTab};
use crate::api;
use crate::format::duration::{ms, secs};
use crate::format::text::one_line;
use crate::format::time::utc;
use crate::format::units::count;
use crate::widgets::{
    Badge, CopyButton, DataTable, Empty, Level, RefreshControls, bump, keyed_resource, quiet, resource_view,
};

fn snapshot_label(s: &SnapshotInfo) -> String {
    format!("#{} · {} UTC · {} · {} statements", s.id, utc(&s.taken_at), s.kind, s.statements)
}

#[component]
pub fn DiffTab(target: String, location: Signal<PgLocation>) -> impl IntoView {
    let nav = StoredValue::new_local(use_navigate());
    let target_v = StoredValue::new(target.clone());
    let reload_list = RwSignal::new(0u32);
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let taking = RwSignal::new(false);
    let take_error = RwSignal::new(None::<String>);
    let list = keyed_resource(
        move || reload_list.get(),
        move |_| {
            let t = target_v.get_value();
            async move { api::pg::snapshots(&t).await }
        },
    );
    let from = Memo::new(move |_| location.get().from);
    let to = Memo::new(move |_| location.get().to);
    // Without a chosen start: the newest snapshot.
    let start = Memo::new(move |_| {
        from.get().or_else(|| list.get().and_then(|(_, r)| r.ok()).and_then(|l| l.first().map(|s| s.id)))
    });
    let diff = keyed_resource(
        move || (start.get(), to.get(), reload.get()),
        move |(start, to, _)| {
            let t = target_v.get_value();
            async move {
                match start {
                    Some(from) => api::pg::diff(&t, from, to).await.map(Some),
                    None => Ok(None),
                }
            }
        },
    );
    let go = move |from: Option<i64>, to: Option<i64>| {
        let loc = PgLocation {
            target: Some(target_v.get_value()),
            tab: PgTab::Diff,
            from,
            to,
            ..Default::default()
        };
        nav.with_value(|n| n(&loc.href(), quiet()));
    };
    let take = move |_| {
        taking.set(true);
        take_error.set(None);
        let t = target_v.get_value();
        spawn_local(async move {
            match api::pg::take_snapshot(&t).await {
                Ok(_) => reload_list.update(bump),
                Err(e) => take_error.set(Some(e.message)),
            }
            taking.set(false);
        });
    };
    let options = move |selected: Option<i64>| {
        list.get()
            .and_then(|(_, r)| r.ok())
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                let id = s.id;
                view! { <option value=id.to_string() selected=selected == Some(id)>{snapshot_label(&s)}</option> }
            })
            .collect_view()
    };

    let table = resource_view(diff, "the window diff", move |d: Option<DiffReport>| {
        let Some(d) = d else {
            return view! { <Empty message="No snapshot yet: take one now, let the workload run, then compare with now or a later snapshot. Snapshots are also taken periodically." /> }.into_any();
        };
        let end = d.to.as_ref().map_or_else(|| format!("now ({} UTC)", utc(&d.to_time)), snapshot_label);
        let summary = format!(
            "From {} to {}: {} over {} · {} statements changed{} · {:.0} ms to analyse",
            snapshot_label(&d.from),
            end,
            ms(d.total_added_ms),
            secs(d.seconds),
            count(d.statements_changed),
            if d.reset_detected {
                " · statistics were reset inside the window: figures are lower bounds"
            } else {
                ""
            },
            d.took_ms,
        );
        if d.rows.is_empty() {
            return view! { <p class="summary small">{summary}</p><Empty message="Nothing ran in this window." /> }.into_any();
        }
        view! {
            <p class="summary small" data-testid="pg-diff-summary">{summary}</p>
            <DataTable testid="pg-diff">
                <thead><tr>
                    <th>"Statement"</th><th class="num">"Added time ▾"</th><th class="num">"% of window"</th>
                    <th class="num">"Calls"</th><th class="num">"Mean"</th><th class="num">"Rows"</th><th></th>
                </tr></thead>
                <tbody>
                    {d.rows.into_iter().map(|r| view! {
                        <tr data-testid="pg-diff-row">
                            <td class="query-cell">
                                <code class="sql" title=r.query.clone()>{one_line(&r.query)}</code>
                                {r.new_in_window.then(|| view! { " "<Badge level=Level::Warn text="new in window" title="Not in the first snapshot: it ran only inside the window" /> })}
                            </td>
                            <td class="num strong">{ms(r.total_ms)}</td>
                            <td class="num">{format!("{:.1}%", r.share_pct)}</td>
                            <td class="num">{count(r.calls)}</td>
                            <td class="num">{ms(r.mean_ms)}</td>
                            <td class="num">{count(r.rows)}</td>
                            <td><CopyButton text=Signal::stored(r.query.clone()) testid="pg-copy-query" /></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </DataTable>
        }
        .into_any()
    });

    view! {
        <div class="toolbar">
            <label>
                "From "
                <select data-testid="pg-diff-from" on:change=move |ev| go(event_target_value(&ev).parse().ok(), to.get_untracked())>
                    {move || options(start.get())}
                </select>
            </label>
            <label>
                "to "
                <select data-testid="pg-diff-to" on:change=move |ev| go(start.get_untracked(), event_target_value(&ev).parse().ok())>
                    <option value="now" selected=move || to.get().is_none()>"now (live)"</option>
                    {move || options(to.get())}
                </select>
            </label>
            <button class="primary" data-testid="pg-take-snapshot" disabled=move || taking.get() on:click=take>"Take snapshot now"</button>
            {move || take_error.get().map(|e| view! { <span class="crit-text small">{e}</span> })}
            <span class="spacer"></span>
            <RefreshControls reload=reload auto=auto />
        </div>
        <p class="legend-note small muted">"Ranked by the execution time each statement added between the two readings: the view for an alert window."</p>
        {table}
    }
}
