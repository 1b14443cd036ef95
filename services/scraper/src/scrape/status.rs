//! What `/api/v1/targets` reports about a target, updated by its loop after each scrape.

use parking_lot::Mutex;
use serde::Serialize;

/// Health as Prometheus' targets page names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    Unknown,
    Up,
    Down,
}

/// The outcome of a target's latest scrape.
#[derive(Debug, Clone, Serialize)]
pub struct LastScrape {
    pub health: TargetHealth,
    /// Scheduled instant of the scrape, Unix ms.
    pub ts_ms: i64,
    pub duration_seconds: f64,
    pub samples: usize,
    pub error: String,
}

/// Shared between a target's loop (writer) and the HTTP API (reader).
#[derive(Debug)]
pub struct TargetStatus {
    last: Mutex<LastScrape>,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            last: Mutex::new(LastScrape {
                health: TargetHealth::Unknown,
                ts_ms: 0,
                duration_seconds: 0.0,
                samples: 0,
                error: String::new(),
            }),
        }
    }
}

impl TargetStatus {
    pub fn set(&self, last: LastScrape) {
        *self.last.lock() = last;
    }

    pub fn get(&self) -> LastScrape {
        self.last.lock().clone()
    }
}
