//! `pg_stat_activity`: client backends by state and application against `max_connections` and
//! the reserved slots, the longest and idle-in-transaction sessions, and blocking chains.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio_postgres::Client;
use triage_shared::pg::{ActivityReport, AppStateCount, BlockingChain, Session, StateCount};

use super::{MARKER, TxError};

/// Most sessions listed (the counts cover all of them).
const MAX_SESSIONS: usize = 200;

pub(super) async fn report(tx: &Client, target: &str) -> Result<ActivityReport, TxError> {
    let settings = tx
        .query_one(
            &format!(
                "{MARKER} SELECT current_setting('server_version'),
                        current_setting('max_connections')::bigint,
                        current_setting('superuser_reserved_connections')::bigint,
                        COALESCE(current_setting('reserved_connections', true), '0')::bigint"
            ),
            &[],
        )
        .await?;
    let server_version: String = settings.get(0);
    let max_connections: i64 = settings.get(1);
    let reserved_connections: i64 = settings.get::<_, i64>(2) + settings.get::<_, i64>(3);

    let rows = tx
        .query(
            &format!(
                "{MARKER} SELECT pid, datname::text, usename::text, COALESCE(application_name, ''),
                        client_addr::text, COALESCE(state, 'unknown'), wait_event_type, wait_event,
                        extract(epoch FROM now() - backend_start)::float8,
                        extract(epoch FROM now() - xact_start)::float8,
                        extract(epoch FROM now() - query_start)::float8,
                        extract(epoch FROM now() - state_change)::float8,
                        COALESCE(query, ''), pg_blocking_pids(pid), pid = pg_backend_pid()
                 FROM pg_stat_activity
                 WHERE backend_type = 'client backend'"
            ),
            &[],
        )
        .await?;
    let mut all: Vec<Session> = Vec::with_capacity(rows.len());
    let mut own_pid = None;
    for r in &rows {
        let session = Session {
            pid: r.get(0),
            database: r.get(1),
            user: r.get(2),
            application: r.get(3),
            client_addr: r.get(4),
            state: r.get(5),
            wait_event_type: r.get(6),
            wait_event: r.get(7),
            backend_secs: r.get(8),
            transaction_secs: r.get(9),
            query_secs: r.get(10),
            state_secs: r.get(11),
            query: r.get(12),
            blocked_by: r.get::<_, Option<Vec<i32>>>(13).unwrap_or_default(),
        };
        if r.get::<_, bool>(14) {
            own_pid = Some(session.pid);
        }
        all.push(session);
    }
    Ok(summarise(target, server_version, max_connections, reserved_connections, all, own_pid))
}

fn is_idle_in_transaction(s: &Session) -> bool {
    s.state.starts_with("idle in transaction")
}

/// How long a session has been in the situation that matters: idle in transaction since its
/// state changed, active since its query started.
fn duration(s: &Session) -> f64 {
    if is_idle_in_transaction(s) { s.state_secs } else { s.query_secs.or(s.transaction_secs) }.unwrap_or(0.0)
}

/// Counts, the longest sessions and the blocking chains. Triage's own session counts as a
/// connection but is not listed.
pub(super) fn summarise(
    target: &str,
    server_version: String,
    max_connections: i64,
    reserved_connections: i64,
    all: Vec<Session>,
    own_pid: Option<i32>,
) -> ActivityReport {
    let total = all.len() as i64;
    let mut by_state: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_app: BTreeMap<(String, String), i64> = BTreeMap::new();
    for s in &all {
        *by_state.entry(s.state.clone()).or_default() += 1;
        *by_app.entry((s.application.clone(), s.state.clone())).or_default() += 1;
    }
    let idle_tx: Vec<&Session> = all.iter().filter(|s| is_idle_in_transaction(s)).collect();
    let max_of = |it: &mut dyn Iterator<Item = Option<f64>>| {
        it.flatten().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let longest_idle = max_of(&mut idle_tx.iter().map(|s| s.state_secs));
    let longest_tx = max_of(&mut all.iter().filter(|s| Some(s.pid) != own_pid).map(|s| s.transaction_secs));
    let longest_query = max_of(
        &mut all.iter().filter(|s| s.state == "active" && Some(s.pid) != own_pid).map(|s| s.query_secs),
    );

    // Blocking: edges waiter → blockers; a chain per blocker that waits on nobody.
    let by_pid: HashMap<i32, &Session> = all.iter().map(|s| (s.pid, s)).collect();
    let mut waiters_of: HashMap<i32, Vec<i32>> = HashMap::new();
    for s in &all {
        for b in &s.blocked_by {
            waiters_of.entry(*b).or_default().push(s.pid);
        }
    }
    let mut roots: Vec<i32> = waiters_of
        .keys()
        .copied()
        .filter(|b| by_pid.get(b).is_none_or(|s| s.blocked_by.is_empty()))
        .collect();
    roots.sort_unstable();
    let mut blocking = Vec::new();
    for root in roots {
        let Some(blocker) = by_pid.get(&root) else { continue };
        let mut blocked = Vec::new();
        let mut seen = HashSet::from([root]);
        let mut frontier = vec![root];
        let mut depth = 0u32;
        while !frontier.is_empty() && depth < 32 {
            depth += 1;
            let mut next = Vec::new();
            for pid in frontier {
                for w in waiters_of.get(&pid).into_iter().flatten() {
                    if seen.insert(*w)
                        && let Some(s) = by_pid.get(w)
                    {
                        blocked.push((depth, (*s).clone()));
                        next.push(*w);
                    }
                }
            }
            frontier = next;
        }
        blocking.push(BlockingChain { blocker: (*blocker).clone(), blocked });
    }

    let mut sessions: Vec<Session> =
        all.iter().filter(|s| s.state != "idle" && Some(s.pid) != own_pid).cloned().collect();
    sessions.sort_by(|a, b| duration(b).total_cmp(&duration(a)));
    let truncated = sessions.len() > MAX_SESSIONS;
    sessions.truncate(MAX_SESSIONS);

    let mut by_state: Vec<StateCount> =
        by_state.into_iter().map(|(state, count)| StateCount { state, count }).collect();
    by_state.sort_by_key(|s| std::cmp::Reverse(s.count));
    let mut by_application: Vec<AppStateCount> = by_app
        .into_iter()
        .map(|((application, state), count)| AppStateCount { application, state, count })
        .collect();
    by_application.sort_by_key(|a| std::cmp::Reverse(a.count));

    ActivityReport {
        target: target.to_owned(),
        server_version,
        max_connections,
        reserved_connections,
        total_connections: total,
        available_connections: (max_connections - reserved_connections - total).max(0),
        idle_in_transaction: idle_tx.len() as i64,
        longest_idle_in_transaction_secs: longest_idle,
        longest_transaction_secs: longest_tx,
        longest_query_secs: longest_query,
        by_state,
        by_application,
        sessions,
        sessions_truncated: truncated,
        blocking,
        took_ms: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(pid: i32, state: &str, app: &str, state_secs: f64, blocked_by: Vec<i32>) -> Session {
        Session {
            pid,
            database: Some("app".into()),
            user: Some("u".into()),
            application: app.into(),
            client_addr: None,
            state: state.into(),
            wait_event_type: None,
            wait_event: None,
            backend_secs: Some(100.0),
            transaction_secs: Some(state_secs + 1.0),
            query_secs: Some(state_secs),
            state_secs: Some(state_secs),
            query: String::new(),
            blocked_by,
        }
    }

    #[test]
    fn counts_idle_transactions_and_builds_blocking_chains() {
        let all = vec![
            session(1, "idle in transaction", "stream-processor", 30.0, vec![]),
            session(2, "idle in transaction", "stream-processor", 90.0, vec![]),
            session(3, "active", "api", 5.0, vec![1]),
            session(4, "active", "api", 4.0, vec![3]),
            session(5, "idle", "api", 1000.0, vec![]),
            session(6, "active", "triage", 0.0, vec![]),
        ];
        let r = summarise("t", "15".into(), 100, 3, all, Some(6));
        assert_eq!(r.total_connections, 6);
        assert_eq!(r.available_connections, 91);
        assert_eq!(r.idle_in_transaction, 2);
        assert_eq!(r.longest_idle_in_transaction_secs, Some(90.0));
        assert_eq!(
            r.sessions.iter().map(|s| s.pid).collect::<Vec<_>>(),
            [2, 1, 3, 4],
            "longest first, idle and own left out"
        );
        assert_eq!(r.blocking.len(), 1);
        assert_eq!(r.blocking[0].blocker.pid, 1);
        assert_eq!(
            r.blocking[0].blocked.iter().map(|(d, s)| (*d, s.pid)).collect::<Vec<_>>(),
            [(1, 3), (2, 4)]
        );
        let sp = r.by_application.iter().find(|a| a.application == "stream-processor").expect("app row");
        assert_eq!((sp.state.as_str(), sp.count), ("idle in transaction", 2));
    }
}
