//! Counted admission: at most `global` holders at once, and at most `per_caller` for one caller.
//!
//! Used for everything a caller can hold open or start in parallel (server-sent event streams,
//! runbook runs): a [`Permit`] is taken before the work starts and given back when it is dropped,
//! however the work ends (finished, failed, client gone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use triage_shared::{ApiError, ErrorKind};

#[derive(Default)]
struct Counts {
    total: usize,
    by_caller: HashMap<String, usize>,
}

/// One kind of limited thing (e.g. "event streams"), with its two bounds.
#[derive(Clone)]
pub struct Limiter {
    what: &'static str,
    global: usize,
    per_caller: usize,
    /// Seconds a refused caller is told to wait (`Retry-After`).
    retry_after_secs: u64,
    counts: Arc<Mutex<Counts>>,
}

/// A held slot; dropping it gives the slot back.
pub struct Permit {
    caller: String,
    counts: Arc<Mutex<Counts>>,
}

impl Limiter {
    pub fn new(what: &'static str, global: usize, per_caller: usize, retry_after_secs: u64) -> Self {
        Self {
            what,
            global: global.max(1),
            per_caller: per_caller.max(1),
            retry_after_secs,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for `caller`, or says in words which bound is reached (429).
    pub fn acquire(&self, caller: &str) -> Result<Permit, ApiError> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = counts.by_caller.get(caller).copied().unwrap_or(0);
        let refusal = if mine >= self.per_caller {
            Some(format!(
                "you already have {mine} {} open, the most one caller may have; close one and retry",
                self.what
            ))
        } else if counts.total >= self.global {
            Some(format!(
                "Triage is serving {} {}, its limit; retry in {} s",
                counts.total, self.what, self.retry_after_secs
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            return Err(ApiError::new(ErrorKind::RateLimited, message).with_detail(serde_json::json!({
                "limit": self.what, "retry_after_secs": self.retry_after_secs
            })));
        }
        counts.total += 1;
        *counts.by_caller.entry(caller.to_owned()).or_default() += 1;
        Ok(Permit { caller: caller.to_owned(), counts: self.counts.clone() })
    }

    /// Slots held now, in all and by `caller`.
    pub fn held(&self, caller: &str) -> (usize, usize) {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        (counts.total, counts.by_caller.get(caller).copied().unwrap_or(0))
    }
}

/// A streaming response that holds `permit` until its body is dropped (finished, or the client
/// went away), whatever produced the stream.
pub fn held_by(response: axum::response::Response, permit: Permit) -> axum::response::Response {
    use futures::StreamExt;
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    axum::response::Response::from_parts(parts, axum::body::Body::from_stream(stream))
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_caller.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_caller.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bounds_hold_and_slots_come_back() {
        let limiter = Limiter::new("event streams", 3, 2, 5);
        let a1 = limiter.acquire("ana").expect("first");
        let _a2 = limiter.acquire("ana").expect("second");
        let refused = limiter.acquire("ana").err().expect("per caller");
        assert_eq!(refused.kind, ErrorKind::RateLimited);
        assert!(refused.message.contains("one caller"), "{}", refused.message);
        let _b1 = limiter.acquire("bo").expect("another caller");
        let full = limiter.acquire("cy").err().expect("global");
        assert!(full.message.contains("its limit"), "{}", full.message);
        drop(a1);
        assert_eq!(limiter.held("ana"), (2, 1));
        let _c1 = limiter.acquire("cy").expect("a slot came back");
    }
}
