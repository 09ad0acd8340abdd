//! The connections tab: connections against `max_connections`, by application and state, the
//! blocking chains and the sessions that are not idle.

use leptos::prelude::*;
use triage_shared::pg::{ActivityReport, Session};

use crate::api;
use crate::format::duration::secs;
use crate::format::text::one_line;
use crate::widgets::{Badge, Level, UsageBar, capacity_bar, resource_tab};

/// Session state → level: idle in transaction holds locks and a connection slot.
pub fn state_level(state: &str) -> Level {
    if state.starts_with("idle in transaction") {
        Level::Crit
    } else if state == "active" {
        Level::Ok
    } else {
        Level::Neutral
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
pub fn ConnectionsTab(target: String) -> impl IntoView {
    let target_v = StoredValue::new(target);
    let auto_refresh = true;
    let fetch = move || {
        let t = target_v.get_value();
        async move { api::pg::activity(&t).await }
    };
    let cmd = "psql -c \"SELECT count(*), state, application_name FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 2, 3\"".to_owned();
    resource_tab("the connections", cmd, auto_refresh, fetch, move |r: ActivityReport| {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_in_transaction_is_critical() {
        assert_eq!(state_level("idle in transaction (aborted)"), Level::Crit);
        assert_eq!(state_level("active"), Level::Ok);
        assert_eq!(state_level("idle"), Level::Neutral);
    }
}
