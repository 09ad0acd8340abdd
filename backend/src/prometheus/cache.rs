//! Short-lived reuse of Prometheus answers for the query routes.
//!
//! Identical requests that arrive together share one upstream call (the later ones wait for the
//! first), and an answer is reused for `prometheus.cache_ttl_ms` after its request started, so ten
//! people on one dashboard cost Prometheus one query per refresh. Errors are shared only by the
//! requests already waiting; the next request asks again. What is kept is the serialized JSON, so
//! a reused answer costs no serialization either.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::OnceCell;

use crate::prometheus::PromError;

/// Answers kept at most; beyond it the oldest half is dropped.
const MAX_ENTRIES: usize = 512;

type Cell = Arc<OnceCell<Result<Bytes, PromError>>>;

pub struct ResponseCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Cell)>>,
}

impl ResponseCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The answer for `key`: reused if fresh, joined if being fetched, otherwise fetched by `fetch`.
    pub async fn get_or_fetch<F, Fut>(&self, key: String, fetch: F) -> Result<Bytes, PromError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, PromError>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            match entries.get(&key) {
                Some((born, cell)) if now.duration_since(*born) < self.ttl || cell.get().is_none() => {
                    cell.clone()
                }
                _ => {
                    let ttl = self.ttl;
                    entries.retain(|_, (born, cell)| now.duration_since(*born) < ttl || cell.get().is_none());
                    if entries.len() >= MAX_ENTRIES {
                        let mut ages: Vec<Instant> = entries.values().map(|(born, _)| *born).collect();
                        ages.sort_unstable();
                        let cut = ages[ages.len() / 2];
                        entries.retain(|_, (born, _)| *born > cut);
                    }
                    let cell = Cell::default();
                    entries.insert(key.clone(), (now, cell.clone()));
                    cell
                }
            }
        };
        let answer = cell.get_or_init(fetch).await.clone();
        if answer.is_err() || self.ttl.is_zero() {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.get(&key).is_some_and(|(_, c)| Arc::ptr_eq(c, &cell)) {
                entries.remove(&key);
            }
        }
        answer
    }

    /// Answers currently kept (for tests).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_identical_requests_share_one_fetch_and_errors_are_not_kept() {
        let cache = Arc::new(ResponseCache::new(Duration::from_millis(200)));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("q".to_owned(), || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Bytes::from_static(b"answer"))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task").expect("answer"), Bytes::from_static(b"answer"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "twenty identical requests made one upstream call");

        tokio::time::sleep(Duration::from_millis(250)).await;
        let again = cache.get_or_fetch("q".to_owned(), || async { Ok(Bytes::from_static(b"new")) }).await;
        assert_eq!(again.expect("answer"), Bytes::from_static(b"new"), "an expired answer is fetched again");

        let failed = cache
            .get_or_fetch("bad".to_owned(), || async { Err(PromError::Unreachable("down".to_owned())) })
            .await;
        assert!(failed.is_err());
        let retried = cache.get_or_fetch("bad".to_owned(), || async { Ok(Bytes::from_static(b"up")) }).await;
        assert_eq!(retried.expect("answer"), Bytes::from_static(b"up"), "an error is not reused");
    }

    #[tokio::test]
    async fn the_number_of_kept_answers_is_bounded() {
        let cache = ResponseCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES * 3) {
            cache.get_or_fetch(format!("q{i}"), || async { Ok(Bytes::new()) }).await.expect("answer");
        }
        assert!(cache.len() <= MAX_ENTRIES, "{} answers kept", cache.len());
    }
}
