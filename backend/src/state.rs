//! Application state shared by every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Settings;
use crate::metrics::HttpMetrics;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub metrics: Arc<HttpMetrics>,
    /// Cleared when shutdown begins so `/readyz` takes the replica out of rotation first.
    ready: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
            metrics: Arc::new(HttpMetrics::default()),
            ready: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}
