//! A target's series cache: raw exposition series text → final series, plus the staleness
//! sets, as Prometheus' `scrapeCache` keeps them.
//!
//! Relabeling and label building run once per series, when it first appears; every later
//! scrape finds the final `Arc<Series>` (or the fact that relabeling dropped it) by the raw
//! `name{labels}` text, which the zero-copy parser hands out without allocating. Entries
//! not seen in a successful scrape are forgotten, so a target's churn does not grow the
//! cache.
//!
//! Staleness (Prometheus 2.42 `scrape/scrape.go`): series seen in the previous successful
//! scrape and absent from this one get a stale marker at this scrape's timestamp; a failed
//! scrape counts as an empty one, so every series of a target that goes down is marked.
//! Series exposed with their own timestamp are not tracked, as in Prometheus: their
//! owner decides when they end.

use std::sync::Arc;

use hashbrown::HashMap;
use tachyscale_sender::sample::{Series, SeriesSample};
use tachyscale_tsdb::stale_nan;

/// What the cache knows about one raw series text.
struct Entry {
    /// `None` when metric relabeling dropped the series.
    series: Option<Arc<Series>>,
    last_iteration: u64,
}

/// Per-target series cache and staleness state.
#[derive(Default)]
pub struct SeriesCache {
    entries: HashMap<Box<str>, Entry>,
    iteration: u64,
    /// Series (by hash) written without an explicit timestamp by the last successful scrape.
    previous: HashMap<u64, Arc<Series>>,
    current: HashMap<u64, Arc<Series>>,
    /// Entries after the last successful scrape: failed scrapes do not prune, so a target
    /// with churning series that keeps failing is flushed when the cache grows well past it
    /// (Prometheus' `iterDone` rule: more than 2 × that + 1000).
    entries_after_success: usize,
}

/// How a raw series resolved.
pub enum Lookup<'c> {
    /// Known and kept.
    Series(&'c Arc<Series>),
    /// Known and dropped by metric relabeling.
    Dropped,
    /// Not seen before: the caller builds it and calls [`SeriesCache::insert`].
    Unknown,
}

impl SeriesCache {
    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.iteration += 1;
        self.current.clear();
    }

    /// Finds `raw` and marks it seen in this scrape.
    pub fn lookup(&mut self, raw: &str) -> Lookup<'_> {
        match self.entries.get_mut(raw) {
            Some(entry) => {
                entry.last_iteration = self.iteration;
                match &entry.series {
                    Some(series) => Lookup::Series(series),
                    None => Lookup::Dropped,
                }
            }
            None => Lookup::Unknown,
        }
    }

    /// Remembers how `raw` resolved.
    pub fn insert(&mut self, raw: &str, series: Option<Arc<Series>>) {
        self.entries.insert(
            raw.into(),
            Entry {
                series,
                last_iteration: self.iteration,
            },
        );
    }

    /// Records that `series` was written without an explicit timestamp; returns false when
    /// it was already written in this scrape (a duplicate, which the caller skips).
    pub fn track(&mut self, series: &Arc<Series>) -> bool {
        match self.current.entry(series.hash) {
            hashbrown::hash_map::Entry::Occupied(_) => false,
            hashbrown::hash_map::Entry::Vacant(slot) => {
                slot.insert(series.clone());
                true
            }
        }
    }

    /// Ends a successful scrape: appends stale markers at `ts_ms` for series that vanished
    /// and forgets cache entries not seen. Returns how many markers were written.
    pub fn finish(&mut self, ts_ms: i64, out: &mut Vec<SeriesSample>) -> usize {
        let iteration = self.iteration;
        self.entries.retain(|_, e| e.last_iteration == iteration);
        self.entries_after_success = self.entries.len();
        let written = self.mark_vanished(ts_ms, out);
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
        written
    }

    /// Ends a failed scrape (or the target's last one): every series of the last successful
    /// scrape gets a stale marker at `ts_ms`. The cache keeps its entries: a target that
    /// comes back usually exposes the same series.
    pub fn fail(&mut self, ts_ms: i64, out: &mut Vec<SeriesSample>) -> usize {
        self.current.clear();
        if self.entries.len() > 2 * self.entries_after_success + 1000 {
            let iteration = self.iteration;
            self.entries.retain(|_, e| e.last_iteration == iteration);
        }
        let written = self.mark_vanished(ts_ms, out);
        self.previous.clear();
        written
    }

    fn mark_vanished(&self, ts_ms: i64, out: &mut Vec<SeriesSample>) -> usize {
        let before = out.len();
        for (hash, series) in &self.previous {
            if !self.current.contains_key(hash) {
                out.push(SeriesSample {
                    series: series.clone(),
                    ts_ms,
                    value: stale_nan(),
                });
            }
        }
        out.len() - before
    }

    /// Series held, for the cache-size gauge.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyscale_tsdb::{is_stale_nan, Labels};

    fn series(name: &str) -> Arc<Series> {
        Arc::new(Series::new(Labels::from_pairs([("__name__", name)])))
    }

    fn scrape(cache: &mut SeriesCache, names: &[&str], ts_ms: i64) -> Vec<SeriesSample> {
        cache.begin();
        let mut out = Vec::new();
        for name in names {
            let resolved = match cache.lookup(name) {
                Lookup::Series(s) => s.clone(),
                Lookup::Dropped => continue,
                Lookup::Unknown => {
                    let s = series(name);
                    cache.insert(name, Some(s.clone()));
                    s
                }
            };
            if cache.track(&resolved) {
                out.push(SeriesSample {
                    series: resolved,
                    ts_ms,
                    value: 1.0,
                });
            }
        }
        cache.finish(ts_ms, &mut out);
        out
    }

    fn stale_names(out: &[SeriesSample]) -> Vec<String> {
        let mut names: Vec<String> = out
            .iter()
            .filter(|s| is_stale_nan(s.value))
            .map(|s| s.series.labels.metric_name().unwrap_or("").to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_vanished_series_gets_one_stale_marker_at_the_next_scrape() {
        let mut cache = SeriesCache::default();
        scrape(&mut cache, &["a", "b", "c"], 1000);
        let out = scrape(&mut cache, &["a", "c"], 2000);
        assert_eq!(stale_names(&out), ["b"]);
        assert!(out.iter().all(|s| s.ts_ms == 2000));
        let out = scrape(&mut cache, &["a", "c"], 3000);
        assert!(stale_names(&out).is_empty(), "marked once only");
        assert_eq!(cache.len(), 2, "vanished entries are forgotten");
    }

    #[test]
    fn a_failed_scrape_marks_every_series_and_recovery_starts_clean() {
        let mut cache = SeriesCache::default();
        scrape(&mut cache, &["a", "b"], 1000);
        let mut out = Vec::new();
        cache.begin();
        assert_eq!(cache.fail(2000, &mut out), 2);
        assert_eq!(stale_names(&out), ["a", "b"]);
        let mut again = Vec::new();
        cache.begin();
        assert_eq!(cache.fail(3000, &mut again), 0, "already marked");
        let out = scrape(&mut cache, &["a"], 4000);
        assert!(stale_names(&out).is_empty());
    }

    #[test]
    fn failing_scrapes_with_churning_series_do_not_grow_the_cache_forever() {
        let mut cache = SeriesCache::default();
        for round in 0..20 {
            cache.begin();
            for i in 0..500 {
                let key = format!("s{round}_{i}");
                cache.insert(&key, Some(series(&key)));
            }
            cache.fail(round * 1000, &mut Vec::new());
            assert!(
                cache.len() <= 1500,
                "round {round}: {} entries",
                cache.len()
            );
        }
    }

    #[test]
    fn duplicates_within_a_scrape_are_written_once() {
        let mut cache = SeriesCache::default();
        let out = scrape(&mut cache, &["a", "a"], 1000);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn dropped_series_stay_dropped_without_relabeling_again() {
        let mut cache = SeriesCache::default();
        cache.begin();
        cache.insert("x", None);
        assert!(matches!(cache.lookup("x"), Lookup::Dropped));
        cache.finish(1000, &mut Vec::new());
        cache.begin();
        assert!(matches!(cache.lookup("x"), Lookup::Dropped));
    }
}
