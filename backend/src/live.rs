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
use triage_shared::ApiError;
use triage_shared::prom::{LiveQuery, LiveUpdate};

use crate::prometheus::PromClient;

/// One SSE event, framed for the wire (`event: NAME\ndata: JSON\n\n`) and shared by every viewer.
pub type Message = Bytes;

/// Frames one event; `json` is compact serde_json output, so it holds no newline and fits one
/// `data:` line.
fn frame(event: &str, json: &str) -> Message {
    let mut out = String::with_capacity(json.len() + event.len() + 16);
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(json);
    out.push_str("\n\n");
    Bytes::from(out)
}

struct Entry {
    tx: broadcast::Sender<Message>,
    last: Option<Message>,
}

pub struct LiveHub {
    prom: Arc<PromClient>,
    entries: Mutex<HashMap<LiveQuery, Entry>>,
    /// Upstream polls made, for tests and `/metrics`.
    polls: std::sync::atomic::AtomicU64,
}

/// Messages a viewer may fall behind by before it is dropped.
const VIEWER_BUFFER: usize = 8;

impl LiveHub {
    pub fn new(prom: Arc<PromClient>) -> Arc<Self> {
        Arc::new(Self { prom, entries: Mutex::new(HashMap::new()), polls: Default::default() })
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<LiveQuery, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn poll_count(&self) -> u64 {
        self.polls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn active_queries(&self) -> usize {
        self.entries().len()
    }

    /// Joins (or starts) the poll loop for `query`; returns the latest update, if any, and the
    /// receiver of the ones to come.
    pub fn subscribe(self: &Arc<Self>, query: LiveQuery) -> (Option<Message>, broadcast::Receiver<Message>) {
        let mut entries = self.entries();
        if let Some(entry) = entries.get(&query) {
            return (entry.last.clone(), entry.tx.subscribe());
        }
        let (tx, rx) = broadcast::channel(VIEWER_BUFFER);
        entries.insert(query.clone(), Entry { tx, last: None });
        drop(entries);
        let hub = self.clone();
        tokio::spawn(async move { hub.poll_loop(query).await });
        (None, rx)
    }

    async fn poll_loop(self: Arc<Self>, query: LiveQuery) {
        let interval = Duration::from_secs(u64::from(query.interval.max(1)));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // Stop as soon as nobody listens (checked under the lock, so no subscriber is lost).
            {
                let mut entries = self.entries();
                if entries.get(&query).is_none_or(|e| e.tx.receiver_count() == 0) {
                    entries.remove(&query);
                    return;
                }
            }
            let message = self.fetch(&query).await;
            let mut entries = self.entries();
            let Some(entry) = entries.get_mut(&query) else { return };
            entry.last = Some(message.clone());
            // Err only means no receivers; the next round notices and stops.
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
        let result = self.prom.query_range(&query.query, start, end, step).await;
        let encoded = match result {
            Ok(result) => {
                serde_json::to_string(&LiveUpdate { fetched_at: now, result }).map(|json| ("update", json))
            }
            Err(e) => serde_json::to_string(&ApiError::from(e)).map(|json| ("query-error", json)),
        };
        match encoded {
            Ok((event, json)) => frame(event, &json),
            Err(e) => frame(
                "query-error",
                &serde_json::json!({"kind": "internal", "message": e.to_string()}).to_string(),
            ),
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
