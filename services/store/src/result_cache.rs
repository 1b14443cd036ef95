//! Shared query results: identical queries from many ScaledObjects and HPAs are evaluated
//! once per data generation.
//!
//! An entry is keyed by query text and valid while the generation of the query's metrics
//! is unchanged and the entry is younger than `max_age` (so windows keep sliding and stale
//! series drop out even when no sample arrives). Concurrent callers of a missing entry wait
//! for one evaluation instead of starting their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tachyscale_promql::{Expr, Value};
use tokio::sync::OnceCell;

use crate::api::{now_ms, ApiError, AppState};
use crate::evaluate::evaluate;
use crate::generations::Dependencies;

/// A parsed query and the metric names it reads.
#[derive(Debug)]
pub struct PreparedQuery {
    pub text: String,
    pub expr: Arc<Expr>,
    pub deps: Dependencies,
}

impl PreparedQuery {
    pub fn parse(text: &str) -> Result<PreparedQuery, tachyscale_promql::ParseError> {
        let expr = tachyscale_promql::parse(text)?;
        Ok(PreparedQuery {
            text: text.to_string(),
            deps: Dependencies::of(&expr),
            expr: Arc::new(expr),
        })
    }
}

/// One evaluation's outcome.
#[derive(Debug)]
pub struct Answer {
    pub value: Value,
    /// The evaluation instant.
    pub at_ms: i64,
    /// The data generation it read.
    pub generation: u64,
}

pub type Outcome = Result<Arc<Answer>, ApiError>;

struct Entry {
    generation: u64,
    created: Instant,
    /// The evaluation instant (wall clock, ms).
    at_ms: i64,
    outcome: OnceCell<Outcome>,
}

pub struct ResultCache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    max_age: Duration,
    max_entries: usize,
}

impl ResultCache {
    pub fn new(max_age: Duration, max_entries: usize) -> Self {
        ResultCache {
            entries: Mutex::new(HashMap::new()),
            max_age,
            max_entries: max_entries.max(1),
        }
    }

    /// The entry for `text` at `generation`, fresh if none is usable; `true` when reused.
    /// An entry evaluated before the newest input sample's timestamp is not reused: that
    /// sample was invisible to it (written with a clock slightly ahead of ours) and becomes
    /// visible as time passes, with no new generation to say so.
    fn entry(
        &self,
        text: &str,
        generation: u64,
        now: Instant,
        now_ms: i64,
        newest_ts_ms: i64,
    ) -> (Arc<Entry>, bool) {
        let mut entries = self.entries.lock();
        if let Some(entry) = entries.get(text) {
            if entry.generation == generation
                && now.duration_since(entry.created) < self.max_age
                && entry.at_ms >= newest_ts_ms
            {
                return (entry.clone(), true);
            }
        }
        if entries.len() >= self.max_entries && !entries.contains_key(text) {
            let max_age = self.max_age;
            entries.retain(|_, e| now.duration_since(e.created) < max_age);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        let entry = Arc::new(Entry {
            generation,
            created: now,
            at_ms: now_ms,
            outcome: OnceCell::new(),
        });
        entries.insert(text.to_string(), entry.clone());
        (entry, false)
    }

    /// Drops `entry` if it is still the one cached for `text`.
    fn forget(&self, text: &str, entry: &Arc<Entry>) {
        let mut entries = self.entries.lock();
        if entries.get(text).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            entries.remove(text);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Evaluates `query` at the current time, or reuses the answer for the same data.
pub async fn evaluate_shared(state: &AppState, query: &PreparedQuery) -> Outcome {
    // Read before evaluating: a write that lands during the evaluation moves the
    // generation on, so the next caller evaluates again instead of reusing a stale answer.
    let version = state.generations().of(&query.deps);
    let generation = version.generation;
    let (entry, reused) = state.result_cache().entry(
        &query.text,
        generation,
        Instant::now(),
        now_ms(),
        version.newest_ts_ms,
    );
    state
        .metrics()
        .scaling
        .result_cache_lookups
        .with_label_values(&[if reused { "hit" } else { "miss" }])
        .inc();
    let outcome = entry
        .outcome
        .get_or_init(|| async {
            let expr = query.expr.clone();
            let at_ms = entry.at_ms;
            evaluate(state, "shared", move |db, opts| {
                tachyscale_promql::instant_query(db, &expr, at_ms, opts)
            })
            .await
            .map(|value| {
                Arc::new(Answer {
                    value,
                    at_ms,
                    generation,
                })
            })
        })
        .await
        .clone();
    // A full or stopping store says nothing about the data: the next caller tries again.
    if matches!(
        outcome,
        Err(ApiError::Timeout(_) | ApiError::Unavailable(_) | ApiError::Internal(_))
    ) {
        state.result_cache().forget(&query.text, &entry);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_reused_only_for_the_same_generation_and_age() {
        let cache = ResultCache::new(Duration::from_secs(1), 10);
        let t0 = Instant::now();
        let ms = |d: u64| t0 + Duration::from_millis(d);
        let (_, reused) = cache.entry("up", 1, t0, 1_000, 900);
        assert!(!reused);
        let (_, reused) = cache.entry("up", 1, ms(500), 1_500, 900);
        assert!(reused);
        let (_, reused) = cache.entry("up", 2, ms(600), 1_600, 900);
        assert!(!reused, "a new generation re-evaluates");
        let (_, reused) = cache.entry("up", 2, ms(1700), 2_700, 900);
        assert!(!reused, "an old entry re-evaluates");
        let (_, reused) = cache.entry("up", 2, ms(1800), 2_800, 2_750);
        assert!(
            !reused,
            "an entry older than the newest sample re-evaluates"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ResultCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..10 {
            cache.entry(&format!("q{i}"), 0, t0, 0, 0);
            assert!(cache.len() <= 3);
        }
    }
}
