//! The Postgres page: per configured target, the top `pg_stat_statements` entries, the window
//! diff between snapshots, connections against `max_connections`, index advice and tables.
//!
//! The URL holds the view (`/postgres?target=…&tab=…&order=…&db=…&role=…&from=…&to=…`), so
//! every view can be linked to. Each view shows its psql equivalent.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use triage_shared::ApiError;
use triage_shared::pg::{
    ActivityReport, DiffReport, IndexAdviceReport, IndexSuggestion, ResetRequest, Session, SnapshotInfo,
    StatementOrder, StatementRow, StatementsReport, TableStats, TablesReport,
};

use crate::api;
use crate::components::k8s_format::{Level, can_act, capacity_bar, role_label, utc_time};
use crate::components::k8s_widgets::{
    Badge, Empty, ErrorBox, Kubectl, Loading, RefreshControls, UsageBar, keyed_resource,
};
use crate::components::pg_format::{
    PgLocation, PgTab, advice_label, count, dead_level, hit_level, ms, one_line, order_label, pct, psql_top,
    secs, size, state_level,
};

fn quiet() -> NavigateOptions {
    NavigateOptions { scroll: false, ..Default::default() }
}

fn bump(n: &mut u32) {
    *n = n.wrapping_add(1);
}

/// Puts `text` on the clipboard (the browser asks nothing for a click-initiated write).
fn copy_to_clipboard(text: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
}

/// Renders a resource: loading, its error in words, or `ok` with the value.
fn resource_view<K: Clone + 'static, T: Clone + Send + Sync + 'static>(
    res: LocalResource<(K, Result<T, ApiError>)>,
    what: &'static str,
    ok: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    move || match res.get().map(|(_, r)| r) {
        None => view! { <Loading what=what /> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox what=what message=e.message /> }.into_any(),
        Some(Ok(v)) => ok(v),
    }
}

/// A button that copies `text` and says so for a moment.
#[component]
fn CopyButton(
    #[prop(into)] text: String,
    #[prop(into)] testid: String,
    #[prop(into)] label: String,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = StoredValue::new(text);
    view! {
        <button
            class="copy"
            data-testid=testid
            title="Copy to the clipboard"
            on:click=move |_| {
                text.with_value(|t| copy_to_clipboard(t));
                copied.set(true);
                set_timeout(move || copied.set(false), std::time::Duration::from_millis(1500));
            }
        >
            {move || if copied.get() { "Copied".to_owned() } else { label.clone() }}
        </button>
    }
}

#[component]
pub fn Postgres() -> impl IntoView {
    let params = use_query_map();
    let navigate = use_navigate();
    let targets = LocalResource::new(api::pg::targets);
    let whoami = LocalResource::new(api::whoami);

    let location = Memo::new(move |_| {
        let p = params.read();
        PgLocation {
            target: p.get("target").filter(|t| !t.is_empty()),
            tab: PgTab::parse(p.get("tab").as_deref()),
            order: p.get("order").and_then(|o| StatementOrder::parse(&o)).unwrap_or_default(),
            database: p.get("db").unwrap_or_default(),
            role: p.get("role").unwrap_or_default(),
            from: p.get("from").and_then(|f| f.parse().ok()),
            to: p.get("to").and_then(|t| t.parse().ok()),
        }
    });
    let target = Memo::new(move |_| {
        location
            .get()
            .target
            .or_else(|| targets.get().and_then(Result::ok).and_then(|l| l.into_iter().next()))
    });
    let tab = Memo::new(move |_| location.get().tab);
    let allowed = Signal::derive(move || can_act(whoami.get().and_then(Result::ok).map(|i| i.role)));
    let role_text = move || match whoami.get() {
        None => "role…".to_owned(),
        Some(Ok(i)) => format!("{} · {}", i.subject, role_label(Some(i.role))),
        Some(Err(_)) => "reader (role unknown)".to_owned(),
    };
    let target_options = move || {
        let mut list = targets.get().and_then(Result::ok).unwrap_or_default();
        if let Some(t) = location.get().target.filter(|t| !list.contains(t)) {
            list.push(t);
        }
        list
    };

    let content = move || {
        let Some(t) = target.get() else {
            return match targets.get() {
                None => view! { <Loading what="the PostgreSQL targets" /> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox what="the PostgreSQL targets" message=e.message /> }.into_any(),
                Some(Ok(_)) => view! { <Empty message="No PostgreSQL target is configured: add [[postgres.targets]] to Triage's configuration." /> }.into_any(),
            };
        };
        match tab.get() {
            PgTab::Statements => {
                view! { <StatementsTab target=t location=location.into() can_act=allowed /> }.into_any()
            }
            PgTab::Diff => view! { <DiffTab target=t location=location.into() /> }.into_any(),
            PgTab::Connections => view! { <ConnectionsTab target=t /> }.into_any(),
            PgTab::Indexes => view! { <IndexesTab target=t /> }.into_any(),
            PgTab::Tables => view! { <TablesTab target=t /> }.into_any(),
        }
    };

    view! {
        <section class="pg" data-testid="page-postgres">
            <div class="page-head">
                <h1>"Postgres"</h1>
                <label class="ns-picker" style:visibility=move || if target.get().is_some() { "visible" } else { "hidden" }>
                    "Target "
                    <select
                        data-testid="pg-target"
                        prop:value=move || target.get().unwrap_or_default()
                        on:change=move |ev| {
                            let loc = PgLocation { target: Some(event_target_value(&ev)), tab: tab.get_untracked(), ..Default::default() };
                            navigate(&loc.href(), quiet());
                        }
                    >
                        {move || target_options().into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <span class="spacer"></span>
                <span class="role-chip" class:can-act=move || allowed.get() data-testid="pg-role"
                    title="Operators may reset the statistics (audited); everyone may read.">
                    {role_text}
                </span>
            </div>
            <nav class="subtabs" role="tablist" aria-label="Postgres views">
                {PgTab::ALL
                    .iter()
                    .map(|&t| {
                        view! {
                            <a
                                role="tab"
                                data-noscroll
                                data-testid=format!("pg-tab-{}", t.id())
                                href=move || PgLocation { target: target.get(), tab: t, ..Default::default() }.href()
                                class:active=move || tab.get() == t
                                aria-selected=move || (tab.get() == t).to_string()
                            >
                                {t.label()}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
            {content}
        </section>
    }
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
            <td><CopyButton text=r.query.clone() testid="pg-copy-query" label="Copy" /></td>
        </tr>
    }
}

#[component]
fn StatementsTab(target: String, location: Signal<PgLocation>, can_act: Signal<bool>) -> impl IntoView {
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
            r.stats_reset.as_deref().map(|s| format!(" · since {} UTC", utc_time(s))).unwrap_or_default(),
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
            <div class="table-wrap panel flush">
                <table class="data" data-testid="pg-statements">
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
                            <th></th>
                        </tr>
                    </thead>
                    <tbody>
                        {r.rows.into_iter().enumerate().map(|(i, row)| statement_row(row, i + 1, o)).collect_view()}
                    </tbody>
                </table>
            </div>
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
            <label>
                "Database "
                <select data-testid="pg-database" prop:value=move || database.get()
                    on:change=move |ev| { let v = event_target_value(&ev); go(&|l| l.database = v.clone()); }>
                    <option value="">"all"</option>
                    {move || {
                        let mut list = choices().0;
                        let cur = database.get();
                        if !cur.is_empty() && !list.contains(&cur) { list.push(cur); }
                        list.into_iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()
                    }}
                </select>
            </label>
            <label>
                "Role "
                <select data-testid="pg-role-filter" prop:value=move || role.get()
                    on:change=move |ev| { let v = event_target_value(&ev); go(&|l| l.role = v.clone()); }>
                    <option value="">"all"</option>
                    {move || {
                        let mut list = choices().1;
                        let cur = role.get();
                        if !cur.is_empty() && !list.contains(&cur) { list.push(cur); }
                        list.into_iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()
                    }}
                </select>
            </label>
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

/// Dry run → type the target's name → reset. Audited by the backend.
#[component]
fn ResetDialog(target: String, open: RwSignal<bool>, reload: RwSignal<u32>) -> impl IntoView {
    let target_v = StoredValue::new(target.clone());
    let plan = LocalResource::new(move || {
        let t = target_v.get_value();
        async move { api::pg::reset(&t, &ResetRequest { dry_run: true, confirm: None }).await }
    });
    let typed = RwSignal::new(String::new());
    let outcome: RwSignal<Option<Result<String, String>>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let run = move || {
        busy.set(true);
        let t = target_v.get_value();
        let confirm = typed.get_untracked();
        spawn_local(async move {
            let r = api::pg::reset(&t, &ResetRequest { dry_run: false, confirm: Some(confirm) }).await;
            busy.set(false);
            outcome.set(Some(match r {
                Ok(o) => {
                    reload.update(bump);
                    Ok(format!("Statistics reset (audit entry {}).", o.audit_id.unwrap_or_default()))
                }
                Err(e) => Err(e.message),
            }));
        });
    };
    view! {
        <div class="modal-backdrop" on:click=move |_| open.set(false)>
            <div class="panel dialog" role="dialog" aria-modal="true" aria-labelledby="pg-reset-title" data-testid="pg-reset-dialog"
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { open.set(false) }>
                <div class="dialog-head">
                    <h2 id="pg-reset-title">{format!("Reset statistics of {target}")}</h2>
                    <button class="icon" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
                </div>
                {move || match plan.get() {
                    None => view! { <Loading what="the dry run" /> }.into_any(),
                    Some(Err(e)) => view! { <div class="action-error">{e.message}</div> }.into_any(),
                    Some(Ok(p)) => view! {
                        <div class="dry-run">
                            <div class="muted small">"Dry run: this would"</div>
                            <div class="dry-run-summary">{p.summary.clone()}</div>
                            <div class="kubectl"><span class="prompt">"$"</span><code>{p.kubectl.clone()}</code></div>
                        </div>
                    }.into_any(),
                }}
                <label class="confirm">
                    {format!("Type {target} to confirm")}
                    <input type="text" data-testid="pg-reset-confirm" autofocus prop:value=move || typed.get()
                        on:input=move |ev| typed.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Enter" && typed.get_untracked() == target_v.get_value() { run(); }
                        } />
                </label>
                {move || outcome.get().map(|o| match o {
                    Ok(m) => view! { <div class="action-result" data-testid="pg-reset-result">{m}</div> }.into_any(),
                    Err(m) => view! { <div class="action-error" data-testid="pg-reset-error">{m}</div> }.into_any(),
                })}
                <div class="dialog-foot">
                    <button on:click=move |_| open.set(false)>"Close"</button>
                    <button class="danger" data-testid="pg-reset-apply"
                        disabled=move || busy.get() || typed.get() != target_v.get_value()
                        on:click=move |_| run()>
                        "Reset"
                    </button>
                </div>
            </div>
        </div>
    }
}

fn snapshot_label(s: &SnapshotInfo) -> String {
    format!("#{} · {} UTC · {} · {} statements", s.id, utc_time(&s.taken_at), s.kind, s.statements)
}

#[component]
fn DiffTab(target: String, location: Signal<PgLocation>) -> impl IntoView {
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
        let end = d.to.as_ref().map_or_else(|| format!("now ({} UTC)", utc_time(&d.to_time)), snapshot_label);
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
            <div class="table-wrap panel flush">
                <table class="data" data-testid="pg-diff">
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
                                <td><CopyButton text=r.query.clone() testid="pg-copy-query" label="Copy" /></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
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

fn session_row(s: Session) -> impl IntoView {
    let how_long = if s.state.starts_with("idle in transaction") { s.state_secs } else { s.query_secs };
    let wait = match (&s.wait_event_type, &s.wait_event) {
        (Some(t), Some(e)) => format!("{t}: {e}"),
        _ => String::new(),
    };
    view! {
        <tr data-testid="pg-session-row" data-app=s.application.clone() data-state=s.state.clone()>
            <td class="num mono">{s.pid}</td>
            <td>{if s.application.is_empty() { "(none)".to_owned() } else { s.application.clone() }}</td>
            <td><Badge level=state_level(&s.state) text=s.state.clone() /></td>
            <td class="num">{how_long.map(secs).unwrap_or_default()}</td>
            <td class="num">{s.transaction_secs.map(secs).unwrap_or_default()}</td>
            <td class="small">{wait}</td>
            <td class="small">{format!("{} · {}", s.database.clone().unwrap_or_default(), s.user.clone().unwrap_or_default())}</td>
            <td class="query-cell"><code class="sql" title=s.query.clone()>{one_line(&s.query)}</code></td>
        </tr>
    }
}

#[component]
fn ConnectionsTab(target: String) -> impl IntoView {
    let target_v = StoredValue::new(target);
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(true);
    let report = keyed_resource(
        move || reload.get(),
        move |_| {
            let t = target_v.get_value();
            async move { api::pg::activity(&t).await }
        },
    );
    let body = resource_view(report, "the connections", move |r: ActivityReport| {
        let usable = (r.max_connections - r.reserved_connections).max(1);
        let bar = capacity_bar(r.total_connections as f64, Some(usable as f64));
        let bar_text = format!("{} of {} connections", r.total_connections, r.max_connections);
        let bar_sub = format!(
            "{} reserved · {} left for applications",
            r.reserved_connections, r.available_connections
        );
        let title = format!(
            "{} client connections; max_connections {} of which {} reserved for superusers",
            r.total_connections, r.max_connections, r.reserved_connections
        );
        let idle_level = if r.idle_in_transaction > 0 { Level::Crit } else { Level::Ok };
        view! {
            <section class="panel pg-conn-head" data-testid="pg-connections"
                data-total=r.total_connections.to_string() data-max=r.max_connections.to_string()
                data-idle-in-transaction=r.idle_in_transaction.to_string()>
                <div class="pg-bar"><UsageBar bar=bar text=bar_text sub=bar_sub title=title /></div>
                <div class="facts">
                    <div><dt>"Idle in transaction"</dt><dd><Badge level=idle_level text=r.idle_in_transaction.to_string() /></dd></div>
                    <div><dt>"Longest idle in transaction"</dt><dd>{r.longest_idle_in_transaction_secs.map(secs).unwrap_or_else(|| "—".to_owned())}</dd></div>
                    <div><dt>"Longest transaction"</dt><dd>{r.longest_transaction_secs.map(secs).unwrap_or_else(|| "—".to_owned())}</dd></div>
                    <div><dt>"Longest running query"</dt><dd>{r.longest_query_secs.map(secs).unwrap_or_else(|| "—".to_owned())}</dd></div>
                    <div><dt>"Server"</dt><dd>{format!("PostgreSQL {}", r.server_version)}</dd></div>
                </div>
            </section>
            <div class="top-grid">
                <section class="panel">
                    <h2 class="section-title">"By application and state"</h2>
                    <table class="data" data-testid="pg-by-app">
                        <thead><tr><th>"Application"</th><th>"State"</th><th class="num">"Connections"</th></tr></thead>
                        <tbody>
                            {r.by_application.into_iter().map(|a| view! {
                                <tr data-testid="pg-app-row" data-app=a.application.clone() data-state=a.state.clone() data-count=a.count.to_string()>
                                    <td><b>{if a.application.is_empty() { "(none)".to_owned() } else { a.application.clone() }}</b></td>
                                    <td><Badge level=state_level(&a.state) text=a.state.clone() /></td>
                                    <td class="num">{a.count}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </section>
                {(!r.blocking.is_empty()).then(|| view! {
                    <section class="panel" data-testid="pg-blocking">
                        <h2 class="section-title">"Blocking chains"</h2>
                        {r.blocking.into_iter().map(|ch| view! {
                            <div class="pg-chain">
                                <div><Badge level=Level::Crit text="blocker" />" "<b>{format!("pid {} · {} · {}", ch.blocker.pid, ch.blocker.application, ch.blocker.state)}</b>
                                    " "<code class="sql">{one_line(&ch.blocker.query)}</code></div>
                                <ul>
                                    {ch.blocked.into_iter().map(|(depth, s)| view! {
                                        <li style=format!("margin-left: {}px", depth * 16)>
                                            {format!("pid {} · {} · waiting {} ({})", s.pid, s.application, s.query_secs.map(secs).unwrap_or_default(), s.wait_event.clone().unwrap_or_default())}
                                            " "<code class="sql">{one_line(&s.query)}</code>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </div>
                        }).collect_view()}
                    </section>
                })}
                <section class="panel">
                    <h2 class="section-title">"Sessions that are not idle, longest first"</h2>
                    {if r.sessions.is_empty() {
                        view! { <p class="muted">"Every session is idle."</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap">
                                <table class="data" data-testid="pg-sessions">
                                    <thead><tr><th class="num">"PID"</th><th>"Application"</th><th>"State"</th><th class="num">"For"</th><th class="num">"Transaction"</th><th>"Waiting on"</th><th>"Database · user"</th><th>"Query"</th></tr></thead>
                                    <tbody>{r.sessions.into_iter().map(session_row).collect_view()}</tbody>
                                </table>
                            </div>
                            {r.sessions_truncated.then(|| view! { <p class="small muted">"Only the 200 longest are listed."</p> })}
                        }.into_any()
                    }}
                </section>
            </div>
        }
        .into_any()
    });
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        <Kubectl cmd="psql -c \"SELECT count(*), state, application_name FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 2, 3\"".to_owned() />
        {body}
    }
}

fn suggestion_card(s: IndexSuggestion) -> impl IntoView {
    let (label, level) = advice_label(s.kind);
    let what = match &s.index {
        Some(i) => format!("{}.{} — index {i} ({})", s.schema, s.table, s.columns.join(", ")),
        None => format!("{}.{} ({})", s.schema, s.table, s.columns.join(", ")),
    };
    view! {
        <section class="panel pg-advice" data-testid="pg-advice" data-kind=label data-table=s.table.clone() data-columns=s.columns.join(",")>
            <div class="detail-head">
                <Badge level=level text=label />
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
            {s.statement.clone().map(|q| view! { <div class="small muted">"Statement: "<code class="sql">{one_line(&q)}</code></div> })}
            <div class="pg-ddl">
                <code data-testid="pg-ddl">{s.ddl.clone()}</code>
                <CopyButton text=s.ddl.clone() testid="pg-copy-ddl" label="Copy DDL" />
            </div>
        </section>
    }
}

#[component]
fn IndexesTab(target: String) -> impl IntoView {
    let target_v = StoredValue::new(target);
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let report = keyed_resource(
        move || reload.get(),
        move |_| {
            let t = target_v.get_value();
            async move { api::pg::index_advice(&t).await }
        },
    );
    let body = resource_view(report, "the index advice", move |r: IndexAdviceReport| {
        let since = r.stats_reset.as_deref().map_or_else(
            || "Index usage counts since the statistics were created.".to_owned(),
            |s| format!("Index usage counts since {} UTC.", utc_time(s)),
        );
        view! {
            <p class="summary small">{format!("{} suggestions · {since} Triage never runs DDL: copy it and run it yourself. {:.0} ms to analyse.", r.suggestions.len(), r.took_ms)}</p>
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
    });
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        <Kubectl cmd="psql -c \"SELECT relname, seq_scan, seq_tup_read, idx_scan, n_live_tup FROM pg_stat_user_tables ORDER BY seq_tup_read DESC\"".to_owned() />
        {body}
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
    let when = |v: &Option<String>| v.as_deref().map(utc_time).unwrap_or_else(|| "never".to_owned());
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
fn TablesTab(target: String) -> impl IntoView {
    let target_v = StoredValue::new(target);
    let reload = RwSignal::new(0u32);
    let auto = RwSignal::new(false);
    let sort = RwSignal::new(TableSort::Size);
    let report = keyed_resource(
        move || reload.get(),
        move |_| {
            let t = target_v.get_value();
            async move { api::pg::tables(&t).await }
        },
    );
    let th = move |label: &'static str, by: TableSort| {
        view! {
            <th class="num" aria-sort=move || if sort.get() == by { "descending" } else { "none" }>
                <button class="link th" on:click=move |_| sort.set(by)>{move || if sort.get() == by { format!("{label} ▾") } else { label.to_owned() }}</button>
            </th>
        }
    };
    let body = resource_view(report, "the tables", move |r: TablesReport| {
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
            <div class="table-wrap panel flush">
                <table class="data" data-testid="pg-tables">
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
                </table>
            </div>
        }
        .into_any()
    });
    view! {
        <div class="toolbar"><span class="spacer"></span><RefreshControls reload=reload auto=auto /></div>
        <Kubectl cmd="psql -c \"SELECT relname, pg_size_pretty(pg_total_relation_size(relid)), n_live_tup, n_dead_tup, last_autovacuum FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC\"".to_owned() />
        {body}
    }
}
