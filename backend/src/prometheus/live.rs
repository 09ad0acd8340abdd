//! Live range queries over server-sent events, coalesced.
//!
//! All viewers of one backend who subscribe to the same [`LiveQuery`] share one poll loop: one
//! upstream query per refresh whatever the number of viewers. The loop stops when its last
//! viewer leaves. Each update is serialized once and fanned out through a broadcast channel; a
//! viewer too slow to keep up is dropped (its browser reconnects and gets the latest update at
//! once) rather than holding the others back. The event is framed for the wire once too (a shared
//! [`Bytes`]): a thousand viewers of one query hold one copy of it, not a thousand. Events: `update` (a `LiveUpdate`) and
//! `query-error` (an `ApiError`, e.g. Prometheus rejected the query).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use tokio::sync::broadcast;
use triage_shared::prom::LiveQuery;
use triage_shared::{ApiError, ErrorKind};

use crate::prometheus::PromClient;

/// One SSE event, framed for the wire (`event: NAME\ndata: JSON\n\n`) and shared by every viewer.
pub type Message = Bytes;

/// Frames one event; `json` is compact serde_json output, so it holds no newline and fits one
/// `data:` line.
fn frame(event: &str, json: &str) -> Message {
    let mut out = String::with_capacity(json.len() + event.len() + 16);
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    // Forwarded JSON may hold line breaks between its tokens (compact as Prometheus's is, another
    // server's need not be): each line is its own `data:` line, which the browser joins with
    // `\n` again, so the event stays one event and its JSON the same JSON.
    for line in json.split(['\r', '\n']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

struct Entry {
    tx: broadcast::Sender<Message>,
    last: Option<Message>,
    /// Subscriptions held now; the loop is stopped the moment this reaches zero.
    viewers: usize,
    task: Option<tokio::task::AbortHandle>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<LiveQuery, Entry>,
    /// Per caller, how many of their subscriptions watch each query.
    by_caller: HashMap<String, HashMap<LiveQuery, usize>>,
}

pub struct LiveHub {
    prom: Arc<PromClient>,
    table: Mutex<Table>,
    /// Most distinct queries polled at once, and per caller.
    max_queries: usize,
    max_queries_per_caller: usize,
    /// Upstream polls made, for tests and `/metrics`.
    polls: std::sync::atomic::AtomicU64,
}

/// Messages a viewer may fall behind by before it is dropped.
const VIEWER_BUFFER: usize = 8;

/// One viewer's subscription: updates to come, and its place among the query's viewers, given
/// back on drop (the last viewer's drop stops the poll loop at once, not at its next tick).
pub struct Subscription {
    rx: broadcast::Receiver<Message>,
    hub: Arc<LiveHub>,
    query: LiveQuery,
    caller: String,
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Message, broadcast::error::RecvError> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.leave(&self.query, &self.caller);
    }
}

impl LiveHub {
    pub fn new(prom: Arc<PromClient>, max_queries: usize, max_queries_per_caller: usize) -> Arc<Self> {
        Arc::new(Self {
            prom,
            table: Mutex::new(Table::default()),
            max_queries: max_queries.max(1),
            max_queries_per_caller: max_queries_per_caller.max(1),
            polls: Default::default(),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn poll_count(&self) -> u64 {
        self.polls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn active_queries(&self) -> usize {
        self.table().entries.len()
    }

    /// Joins (or starts) the poll loop for `query` as `caller`; returns the latest update, if
    /// any, and the subscription to the ones to come. A new distinct query is refused (429) when
    /// Triage or this caller already polls the most allowed.
    pub fn subscribe(
        self: &Arc<Self>,
        query: LiveQuery,
        caller: &str,
    ) -> Result<(Option<Message>, Subscription), ApiError> {
        let mut table = self.table();
        let mine = table.by_caller.get(caller);
        let new_for_caller = mine.is_none_or(|m| !m.contains_key(&query));
        if new_for_caller && mine.is_some_and(|m| m.len() >= self.max_queries_per_caller) {
            return Err(ApiError::new(
                ErrorKind::RateLimited,
                format!(
                    "you already follow {} distinct live queries, the most one caller may; close a chart and retry",
                    self.max_queries_per_caller
                ),
            )
            .with_detail(serde_json::json!({"limit": "live queries per caller", "retry_after_secs": 5})));
        }
        if !table.entries.contains_key(&query) && table.entries.len() >= self.max_queries {
            return Err(ApiError::new(
                ErrorKind::RateLimited,
                format!(
                    "Triage already polls {} distinct live queries, its limit; retry shortly",
                    self.max_queries
                ),
            )
            .with_detail(serde_json::json!({"limit": "live queries", "retry_after_secs": 5})));
        }
        *table.by_caller.entry(caller.to_owned()).or_default().entry(query.clone()).or_default() += 1;
        let (last, rx) = if let Some(entry) = table.entries.get_mut(&query) {
            entry.viewers += 1;
            (entry.last.clone(), entry.tx.subscribe())
        } else {
            let (tx, rx) = broadcast::channel(VIEWER_BUFFER);
            let hub = self.clone();
            let q = query.clone();
            let task = tokio::spawn(async move { hub.poll_loop(q).await }).abort_handle();
            table.entries.insert(query.clone(), Entry { tx, last: None, viewers: 1, task: Some(task) });
            (None, rx)
        };
        drop(table);
        Ok((last, Subscription { rx, hub: self.clone(), query, caller: caller.to_owned() }))
    }

    /// One viewer of `query` left; the last one stops its loop.
    fn leave(&self, query: &LiveQuery, caller: &str) {
        let mut table = self.table();
        if let Some(mine) = table.by_caller.get_mut(caller) {
            if let Some(n) = mine.get_mut(query) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    mine.remove(query);
                }
            }
            if mine.is_empty() {
                table.by_caller.remove(caller);
            }
        }
        let last = table.entries.get_mut(query).is_some_and(|e| {
            e.viewers = e.viewers.saturating_sub(1);
            e.viewers == 0
        });
        if last && let Some(Entry { task: Some(task), .. }) = table.entries.remove(query) {
            task.abort();
        }
    }

    async fn poll_loop(self: Arc<Self>, query: LiveQuery) {
        let interval = Duration::from_secs(u64::from(query.interval.max(1)));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let message = self.fetch(&query).await;
            let mut table = self.table();
            let Some(entry) = table.entries.get_mut(&query) else { return };
            entry.last = Some(message.clone());
            // Err only means no receivers at this instant; `leave` stops the loop.
            let _ = entry.tx.send(message);
        }
    }

    async fn fetch(&self, query: &LiveQuery) -> Message {
        self.polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        // Align the window to the step so consecutive polls share points (and cache well upstream).
        let step = f64::from(query.step.max(1));
        let end = (now / step).floor() * step;
        let start = end - f64::from(query.window);
        // Through the answer cache: loops and query routes asking the same thing at the same
        // moment share one upstream call.
        match self.prom.query_range_json(&query.query, start, end, step).await {
            // A number serialized here and Prometheus's answer as it came (JSON text both).
            Ok(result) => {
                let fetched_at = serde_json::Value::from(now);
                let mut json = String::with_capacity(result.len() + 40);
                json.push_str("{\"fetched_at\":");
                json.push_str(&fetched_at.to_string());
                json.push_str(",\"result\":");
                json.push_str(&String::from_utf8_lossy(&result));
                json.push('}');
                frame("update", &json)
            }
            Err(e) => match serde_json::to_string(&ApiError::from(e)) {
                Ok(json) => frame("query-error", &json),
                Err(e) => frame(
                    "query-error",
                    &serde_json::json!({"kind": "internal", "message": e.to_string()}).to_string(),
                ),
            },
        }
    }
}

/// Parses the query string of `GET /api/live` (`query=…&step=…&window=…&interval=…`) into a
/// subscription, refusing in words what cannot be one. Never panics, whatever the input.
pub fn parse_subscription(raw: &str) -> Result<LiveQuery, String> {
    let q: LiveQuery =
        serde_urlencoded::from_str(raw).map_err(|e| format!("invalid live query parameters: {e}"))?;
    if q.interval < 1 || q.interval > 3600 {
        return Err("interval must be between 1 and 3600 seconds".to_owned());
    }
    if q.step < 1 {
        return Err("step must be at least 1 second".to_owned());
    }
    if q.query.trim().is_empty() {
        return Err("the query is empty".to_owned());
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_line_breaks_in_its_json_stays_one_event() {
        let framed = frame("update", "{\"a\":\n1,\r\n\"b\":2}");
        assert_eq!(&framed[..], b"event: update\ndata: {\"a\":\ndata: 1,\ndata: \ndata: \"b\":2}\n\n");
        let compact = frame("update", "{\"a\":1}");
        assert_eq!(&compact[..], b"event: update\ndata: {\"a\":1}\n\n");
    }
}
