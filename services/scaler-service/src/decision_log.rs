//! The decision log: one entry for every change the scaler makes or would make (with
//! `dryRun`), and for every tick where it held back for a reason the user should see (a
//! failing or stale source blocking a scale-down, a write that failed).
//!
//! Each entry carries the engine's full explanation — every input and intermediate value —
//! so "why did it scale to 7 at 10:02:03?" is answered from the log alone. Entries go to
//! `tracing` (one `info!` per entry, with the JSON) and to a bounded in-memory ring served
//! at `GET /v1/decisions`; when the ring is full the oldest entry is dropped and counted.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;

/// Entries kept for `GET /v1/decisions` unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// What kind of decision an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DecisionKind {
    /// Replicas changed (or would have, with `dryRun`).
    Scale,
    /// A scale-down was held because a source failed or was stale.
    HeldBySourceFailure,
    /// The sources of a held policy answer again.
    SourcesRecovered,
    /// The engine asked for a change but writing it failed.
    WriteFailed,
    /// A new VPA recommendation was published.
    Recommendation,
}

/// One decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionEntry {
    /// Monotonic sequence number, for `?after=` paging.
    pub seq: u64,
    pub time: String,
    pub time_ms: i64,
    pub policy: String,
    pub engine: &'static str,
    pub kind: DecisionKind,
    pub target: String,
    pub current_replicas: Option<i32>,
    pub desired_replicas: Option<i32>,
    pub applied: bool,
    pub dry_run: bool,
    pub reason: String,
    /// The engine's explanation: inputs and every intermediate value.
    pub explanation: serde_json::Value,
}

/// A bounded ring of entries.
pub struct DecisionLog {
    capacity: usize,
    state: Mutex<LogState>,
}

struct LogState {
    next_seq: u64,
    entries: VecDeque<DecisionEntry>,
    dropped: u64,
}

impl DecisionLog {
    pub fn new(capacity: usize) -> DecisionLog {
        DecisionLog {
            capacity: capacity.max(1),
            state: Mutex::new(LogState {
                next_seq: 1,
                entries: VecDeque::new(),
                dropped: 0,
            }),
        }
    }

    /// Appends an entry (its `seq` is assigned here), logs it, and returns the sequence
    /// number and whether an old entry was dropped to make room.
    pub fn record(&self, mut entry: DecisionEntry) -> (u64, bool) {
        entry.seq = {
            let mut state = self.state.lock();
            state.next_seq += 1;
            state.next_seq - 1
        };
        // Logged before it is stored, outside the lock: formatting the explanation is the
        // expensive part.
        tracing::info!(
            policy = %entry.policy,
            engine = entry.engine,
            kind = ?entry.kind,
            target = %entry.target,
            current = ?entry.current_replicas,
            desired = ?entry.desired_replicas,
            applied = entry.applied,
            dry_run = entry.dry_run,
            reason = %entry.reason,
            explanation = %entry.explanation,
            "decision"
        );
        let seq = entry.seq;
        let mut state = self.state.lock();
        state.entries.push_back(entry);
        let dropped = state.entries.len() > self.capacity;
        if dropped {
            state.entries.pop_front();
            state.dropped += 1;
        }
        (seq, dropped)
    }

    /// Entries with `seq > after`, oldest first, at most `limit`, optionally of one policy.
    pub fn entries(&self, after: u64, limit: usize, policy: Option<&str>) -> Vec<DecisionEntry> {
        self.state
            .lock()
            .entries
            .iter()
            .filter(|entry| entry.seq > after)
            .filter(|entry| policy.is_none_or(|name| entry.policy == name))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(policy: &str) -> DecisionEntry {
        DecisionEntry {
            seq: 0,
            time: String::new(),
            time_ms: 0,
            policy: policy.into(),
            engine: "hpa",
            kind: DecisionKind::Scale,
            target: "Deployment/shop/web".into(),
            current_replicas: Some(1),
            desired_replicas: Some(2),
            applied: true,
            dry_run: false,
            reason: "test".into(),
            explanation: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_entries_and_pages_by_sequence() {
        let log = DecisionLog::new(3);
        for policy in ["a", "b", "a", "b"] {
            log.record(entry(policy));
        }
        let all = log.entries(0, 10, None);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(log.entries(3, 10, None).len(), 1);
        assert_eq!(log.entries(0, 10, Some("a")).len(), 1);
        assert_eq!(log.entries(0, 1, None)[0].seq, 2);
    }
}
