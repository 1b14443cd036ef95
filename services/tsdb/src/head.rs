//! The head: every in-memory series, how samples reach them, and how they expire.
//!
//! Concurrency follows Prometheus' head. Series are found by label hash in one of
//! [`STRIPES`] independently locked hash tables, so appends to existing series take a shared
//! stripe lock plus that series' own mutex: writers on different series never wait for each
//! other and no lock spans the head. The postings index has one `RwLock`, written only when
//! a series is created or expired, and read by queries to resolve matchers. Lock order is
//! stripe, then catalog, then series.
//!
//! Time is an argument: retention cuts relative to the newest sample the head has seen
//! (as Prometheus does), so an hour of simulated data expires exactly like a real hour.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use hashbrown::{HashMap, HashTable};
use parking_lot::{Mutex, RwLock};

use crate::chunk::DEFAULT_SAMPLES_PER_CHUNK;
use crate::index::{Index, SeriesId};
use crate::intern::Interner;
use crate::labels::{hash_label_pairs, Label, Labels};
use crate::matcher::Matcher;
use crate::query::{Queryable, SampleBudget, SelectError, SeriesSamples};
use crate::series::{Refusal, SeriesChunks};

/// Number of independently locked series tables.
pub const STRIPES: usize = 256;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// How far behind the newest sample data is kept.
    pub retention_ms: i64,
    /// Samples per chunk before a new one is cut.
    pub samples_per_chunk: u16,
    /// Series beyond this many are refused with [`AppendError::SeriesLimit`].
    pub max_series: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            retention_ms: 3_600_000,
            samples_per_chunk: DEFAULT_SAMPLES_PER_CHUNK,
            max_series: 5_000_000,
        }
    }
}

/// Why a sample or series was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("sample timestamp {ts_ms} is older than the series' newest sample")]
    OutOfOrder { ts_ms: i64 },
    #[error("series already has a sample at timestamp {ts_ms}")]
    Duplicate { ts_ms: i64 },
    #[error("sample timestamp {ts_ms} is older than the retention window (cutoff {cutoff_ms})")]
    TooOld { ts_ms: i64, cutoff_ms: i64 },
    #[error("series limit of {limit} reached")]
    SeriesLimit { limit: usize },
    #[error("labels are not sorted by name or repeat a name at position {position}")]
    UnsortedLabels { position: usize },
    #[error("label at position {position} has an empty name or value")]
    EmptyLabel { position: usize },
    #[error("series has no labels")]
    NoLabels,
}

impl AppendError {
    /// Bounded reason label for `*_rejected_total` metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::OutOfOrder { .. } => "out_of_order",
            AppendError::Duplicate { .. } => "duplicate",
            AppendError::TooOld { .. } => "too_old",
            AppendError::SeriesLimit { .. } => "series_limit",
            AppendError::UnsortedLabels { .. } => "unsorted_labels",
            AppendError::EmptyLabel { .. } => "empty_label",
            AppendError::NoLabels => "no_labels",
        }
    }

    /// All reasons, for pre-registering metric label values.
    pub const REASONS: [&'static str; 7] = [
        "out_of_order",
        "duplicate",
        "too_old",
        "series_limit",
        "unsorted_labels",
        "empty_label",
        "no_labels",
    ];
}

/// A stored series.
#[derive(Debug)]
pub struct MemSeries {
    id: SeriesId,
    labels: Labels,
    hash: u64,
    chunks: Mutex<SeriesChunks>,
}

impl MemSeries {
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    fn has_labels(&self, pairs: &[(&str, &str)]) -> bool {
        self.labels.len() == pairs.len()
            && self
                .labels
                .iter()
                .zip(pairs)
                .all(|(l, (n, v))| &*l.name == *n && &*l.value == *v)
    }
}

/// A handle to a series that skips the label lookup on later appends.
pub type SeriesRef = Arc<MemSeries>;

/// The postings index and the id → series map, guarded together.
#[derive(Default)]
struct Catalog {
    index: Index,
    by_id: HashMap<SeriesId, SeriesRef>,
}

/// Counters the head keeps itself; read them with [`Head::counters`].
#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    rejected: [AtomicU64; AppendError::REASONS.len()],
    series_created: AtomicU64,
    series_removed: AtomicU64,
}

/// Monotonic totals since the head was created.
#[derive(Clone, Debug, Default)]
pub struct HeadCounters {
    pub samples_appended: u64,
    /// `(reason, count)` for every [`AppendError::reason`].
    pub rejected: Vec<(&'static str, u64)>,
    pub series_created: u64,
    pub series_removed: u64,
}

/// A point-in-time view of the head's size.
#[derive(Clone, Debug, Default)]
pub struct HeadStats {
    pub series: usize,
    pub samples: usize,
    pub chunks: usize,
    /// Encoded chunk bytes (what Gorilla and Prometheus count as bytes per sample).
    pub chunk_encoded_bytes: usize,
    /// Bytes reserved for chunks, including buffer slack.
    pub chunk_reserved_bytes: usize,
    /// Chunk descriptors (time bounds, offsets).
    pub chunk_meta_bytes: usize,
    /// Series structs and their label vectors.
    pub series_bytes: usize,
    /// Postings lists, id map and stripe tables.
    pub index_bytes: usize,
    /// Distinct label strings.
    pub interned_strings: usize,
    pub interned_bytes: usize,
    pub min_ts_ms: Option<i64>,
    pub max_ts_ms: Option<i64>,
}

impl HeadStats {
    /// Bytes the head spends per series beyond encoded sample data.
    pub fn overhead_bytes(&self) -> usize {
        self.chunk_reserved_bytes - self.chunk_encoded_bytes.min(self.chunk_reserved_bytes)
            + self.chunk_meta_bytes
            + self.series_bytes
            + self.index_bytes
            + self.interned_bytes
    }
}

/// What one retention pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub cutoff_ms: i64,
    pub chunks_dropped: usize,
    pub series_removed: usize,
    pub strings_released: usize,
}

/// The in-memory series store.
pub struct Head {
    options: HeadOptions,
    stripes: Box<[RwLock<HashTable<SeriesRef>>]>,
    catalog: RwLock<Catalog>,
    interner: Interner,
    series_count: AtomicUsize,
    max_ts_ms: AtomicI64,
    counters: Counters,
}

impl Head {
    pub fn new(options: HeadOptions) -> Self {
        Head {
            options,
            stripes: (0..STRIPES)
                .map(|_| RwLock::new(HashTable::new()))
                .collect(),
            catalog: RwLock::new(Catalog::default()),
            interner: Interner::default(),
            series_count: AtomicUsize::new(0),
            max_ts_ms: AtomicI64::new(i64::MIN),
            counters: Counters::default(),
        }
    }

    pub fn options(&self) -> &HeadOptions {
        &self.options
    }

    /// Starts a batch of appends; counts are published when the appender is dropped.
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            head: self,
            appended: 0,
            rejected: [0; AppendError::REASONS.len()],
        }
    }

    /// Newest sample time seen, if any.
    pub fn max_ts_ms(&self) -> Option<i64> {
        let t = self.max_ts_ms.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    pub fn series_count(&self) -> usize {
        self.series_count.load(Ordering::Relaxed)
    }

    fn stripe(&self, hash: u64) -> &RwLock<HashTable<SeriesRef>> {
        &self.stripes[(hash as usize) % STRIPES]
    }

    fn find(&self, hash: u64, pairs: &[(&str, &str)]) -> Option<SeriesRef> {
        self.stripe(hash)
            .read()
            .find(hash, |s| s.has_labels(pairs))
            .cloned()
    }

    /// The series with exactly these labels (sorted by name), created when new.
    fn get_or_create(&self, pairs: &[(&str, &str)]) -> Result<SeriesRef, AppendError> {
        let hash = hash_label_pairs(pairs.iter().copied());
        if let Some(series) = self.find(hash, pairs) {
            return Ok(series);
        }
        validate_pairs(pairs)?;
        let mut stripe = self.stripe(hash).write();
        if let Some(series) = stripe.find(hash, |s| s.has_labels(pairs)) {
            return Ok(series.clone());
        }
        let limit = self.options.max_series;
        if self.series_count.load(Ordering::Relaxed) >= limit {
            return Err(AppendError::SeriesLimit { limit });
        }
        let labels = Labels::from_sorted(
            pairs
                .iter()
                .map(|(n, v)| Label {
                    name: self.interner.intern(n),
                    value: self.interner.intern(v),
                })
                .collect(),
        );
        let series = {
            let mut catalog = self.catalog.write();
            let id = catalog.index.add(&labels);
            let series = Arc::new(MemSeries {
                id,
                labels,
                hash,
                chunks: Mutex::new(SeriesChunks::new()),
            });
            catalog.by_id.insert(id, series.clone());
            series
        };
        stripe.insert_unique(hash, series.clone(), |s| s.hash);
        self.series_count.fetch_add(1, Ordering::Relaxed);
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        Ok(series)
    }

    fn cutoff_ms(&self) -> Option<i64> {
        self.max_ts_ms()
            .map(|max| max.saturating_sub(self.options.retention_ms))
    }

    fn check_not_too_old(&self, ts_ms: i64) -> Result<(), AppendError> {
        match self.cutoff_ms() {
            Some(cutoff_ms) if ts_ms < cutoff_ms => Err(AppendError::TooOld { ts_ms, cutoff_ms }),
            _ => Ok(()),
        }
    }

    /// Drops chunks and series older than the retention window behind the newest sample.
    pub fn gc(&self) -> GcReport {
        let Some(cutoff_ms) = self.cutoff_ms() else {
            return GcReport::default();
        };
        let mut report = GcReport {
            cutoff_ms,
            ..GcReport::default()
        };
        let mut removed: Vec<(SeriesId, Labels)> = Vec::new();
        for stripe in self.stripes.iter() {
            let mut stripe = stripe.write();
            stripe.retain(|series| {
                let mut chunks = series.chunks.lock();
                report.chunks_dropped += chunks.drop_before(cutoff_ms);
                let expired = chunks.last_ts_ms().is_none_or(|last| last < cutoff_ms);
                if expired {
                    chunks.deleted = true;
                    removed.push((series.id, series.labels.clone()));
                }
                !expired
            });
        }
        if !removed.is_empty() {
            let mut catalog = self.catalog.write();
            for (id, _) in &removed {
                catalog.by_id.remove(id);
            }
            catalog.index.remove(&removed);
            if catalog.by_id.capacity() > 2 * catalog.by_id.len() + 1024 {
                catalog.by_id.shrink_to_fit();
            }
        }
        report.series_removed = removed.len();
        self.series_count
            .fetch_sub(removed.len(), Ordering::Relaxed);
        self.counters
            .series_removed
            .fetch_add(removed.len() as u64, Ordering::Relaxed);
        drop(removed);
        report.strings_released = self.interner.release_unused();
        report
    }

    /// Series matching all matchers, in id order.
    fn matching(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let catalog = self.catalog.read();
        catalog
            .index
            .select(matchers)
            .into_iter()
            .filter_map(|id| catalog.by_id.get(&id).cloned())
            .collect()
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> Vec<Arc<str>> {
        self.catalog.read().index.label_names()
    }

    /// All values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<Arc<str>> {
        self.catalog.read().index.label_values(name)
    }

    /// Totals since start.
    pub fn counters(&self) -> HeadCounters {
        let c = &self.counters;
        HeadCounters {
            samples_appended: c.appended.load(Ordering::Relaxed),
            rejected: AppendError::REASONS
                .iter()
                .zip(&c.rejected)
                .map(|(reason, n)| (*reason, n.load(Ordering::Relaxed)))
                .collect(),
            series_created: c.series_created.load(Ordering::Relaxed),
            series_removed: c.series_removed.load(Ordering::Relaxed),
        }
    }

    /// Walks every series to measure memory; O(series), meant for periodic reporting.
    pub fn stats(&self) -> HeadStats {
        let mut stats = HeadStats::default();
        let series_struct = std::mem::size_of::<MemSeries>() + 16;
        for stripe in self.stripes.iter() {
            let stripe = stripe.read();
            stats.index_bytes += stripe.capacity() * (std::mem::size_of::<SeriesRef>() + 1);
            for series in stripe.iter() {
                let usage = series.chunks.lock().usage();
                stats.series += 1;
                stats.samples += usage.samples;
                stats.chunks += usage.chunks;
                stats.chunk_encoded_bytes += usage.encoded_bytes;
                stats.chunk_reserved_bytes += usage.reserved_bytes;
                stats.chunk_meta_bytes += usage.meta_bytes;
                stats.series_bytes += series_struct + series.labels.heap_bytes();
            }
        }
        {
            let catalog = self.catalog.read();
            stats.index_bytes += catalog.index.heap_bytes();
            stats.index_bytes +=
                catalog.by_id.capacity() * (std::mem::size_of::<(SeriesId, SeriesRef)>() + 1);
        }
        let (strings, bytes) = self.interner.usage();
        stats.interned_strings = strings;
        stats.interned_bytes = bytes;
        stats.max_ts_ms = self.max_ts_ms();
        stats.min_ts_ms = self.cutoff_ms();
        stats
    }
}

/// Checks the structural invariants of a new series' labels.
fn validate_pairs(pairs: &[(&str, &str)]) -> Result<(), AppendError> {
    if pairs.is_empty() {
        return Err(AppendError::NoLabels);
    }
    for (position, (name, value)) in pairs.iter().enumerate() {
        if name.is_empty() || value.is_empty() {
            return Err(AppendError::EmptyLabel { position });
        }
        if position > 0 && pairs[position - 1].0 >= *name {
            return Err(AppendError::UnsortedLabels { position });
        }
    }
    Ok(())
}

/// A batch of appends from one writer (one remote-write request, one benchmark thread).
pub struct Appender<'h> {
    head: &'h Head,
    appended: u64,
    rejected: [u64; AppendError::REASONS.len()],
}

impl Appender<'_> {
    /// The existing series with exactly these labels, without creating one.
    pub fn existing(&self, pairs: &[(&str, &str)]) -> Option<SeriesRef> {
        self.head
            .find(hash_label_pairs(pairs.iter().copied()), pairs)
    }

    /// Looks up (or creates) the series with these labels, sorted by name.
    pub fn series(&mut self, pairs: &[(&str, &str)]) -> Result<SeriesRef, AppendError> {
        self.head
            .get_or_create(pairs)
            .inspect_err(|e| self.count(e))
    }

    /// Appends one sample to a series found by labels.
    pub fn append(
        &mut self,
        pairs: &[(&str, &str)],
        ts_ms: i64,
        value: f64,
    ) -> Result<SeriesRef, AppendError> {
        // Refuse before creating the series, so a stream of old samples leaves no trace.
        if let Err(e) = self.head.check_not_too_old(ts_ms) {
            self.count(&e);
            return Err(e);
        }
        let series = self.series(pairs)?;
        self.append_to(&series, ts_ms, value).map(|()| series)
    }

    /// Appends one sample to a series handle; a handle whose series expired is renewed.
    pub fn append_to(
        &mut self,
        series: &SeriesRef,
        ts_ms: i64,
        value: f64,
    ) -> Result<(), AppendError> {
        let result = self.try_append(series, ts_ms, value);
        if let Err(e) = &result {
            self.count(e);
        }
        result
    }

    fn try_append(
        &mut self,
        series: &SeriesRef,
        ts_ms: i64,
        value: f64,
    ) -> Result<(), AppendError> {
        let head = self.head;
        head.check_not_too_old(ts_ms)?;
        let per_chunk = head.options.samples_per_chunk;
        let mut outcome = series.chunks.lock().append(ts_ms, value, per_chunk);
        if outcome == Err(Refusal::Deleted) {
            let pairs: Vec<(&str, &str)> = series
                .labels
                .iter()
                .map(|l| (&*l.name, &*l.value))
                .collect();
            let renewed = head.get_or_create(&pairs)?;
            outcome = renewed.chunks.lock().append(ts_ms, value, per_chunk);
        }
        match outcome {
            Ok(()) => {
                self.appended += 1;
                if ts_ms > head.max_ts_ms.load(Ordering::Relaxed) {
                    head.max_ts_ms.fetch_max(ts_ms, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(Refusal::Duplicate) => Err(AppendError::Duplicate { ts_ms }),
            Err(Refusal::OutOfOrder | Refusal::Deleted) => Err(AppendError::OutOfOrder { ts_ms }),
        }
    }

    fn count(&mut self, error: &AppendError) {
        if let Some(i) = AppendError::REASONS
            .iter()
            .position(|r| *r == error.reason())
        {
            self.rejected[i] += 1;
        }
    }

    /// Samples appended by this appender so far.
    pub fn appended(&self) -> u64 {
        self.appended
    }
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        let c = &self.head.counters;
        c.appended.fetch_add(self.appended, Ordering::Relaxed);
        for (total, n) in c.rejected.iter().zip(self.rejected) {
            if n > 0 {
                total.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

impl Queryable for Head {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        max_samples: usize,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        let mut budget = SampleBudget::new(max_samples);
        let mut out = Vec::new();
        for series in self.matching(matchers) {
            let mut samples = Vec::new();
            series.chunks.lock().collect(mint_ms, maxt_ms, &mut samples);
            if samples.is_empty() {
                continue;
            }
            budget.charge(samples.len())?;
            out.push(SeriesSamples {
                labels: series.labels.clone(),
                samples,
            });
        }
        Ok(out)
    }

    fn series(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<Labels> {
        self.matching(matchers)
            .into_iter()
            .filter(|s| s.chunks.lock().overlaps(mint_ms, maxt_ms))
            .map(|s| s.labels.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatchOp;
    use crate::sample::{is_stale_nan, stale_nan};

    fn cpu(pod: &str) -> Vec<(&'static str, String)> {
        vec![
            ("__name__", "cpu".to_string()),
            ("namespace", "ns".to_string()),
            ("pod", pod.to_string()),
        ]
    }

    fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(n, s)| (*n, s.as_str())).collect()
    }

    #[test]
    fn appends_are_queryable_through_matchers() {
        let head = Head::new(HeadOptions::default());
        let mut app = head.appender();
        for pod in ["a", "b", "c"] {
            for t in 0..5 {
                app.append(&pairs(&cpu(pod)), t * 1000, t as f64).unwrap();
            }
        }
        drop(app);
        let m = [
            Matcher::equal("__name__", "cpu"),
            Matcher::new(MatchOp::RegexMatch, "pod", "a|c").unwrap(),
        ];
        let got = head.select(&m, 1000, 3000, usize::MAX).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].samples.len(), 3);
        assert_eq!(head.counters().samples_appended, 15);
        assert_eq!(head.label_values("pod").len(), 3);
    }

    #[test]
    fn rejected_samples_are_counted_by_reason() {
        let head = Head::new(HeadOptions::default());
        let mut app = head.appender();
        let labels = cpu("a");
        let p = pairs(&labels);
        app.append(&p, 2000, 1.0).unwrap();
        assert_eq!(
            app.append(&p, 2000, 1.0).unwrap_err(),
            AppendError::Duplicate { ts_ms: 2000 }
        );
        assert_eq!(
            app.append(&p, 1000, 1.0).unwrap_err(),
            AppendError::OutOfOrder { ts_ms: 1000 }
        );
        assert_eq!(
            app.append(&[("b", "1"), ("a", "1")], 1000, 1.0)
                .unwrap_err(),
            AppendError::UnsortedLabels { position: 1 }
        );
        drop(app);
        let counters = head.counters();
        let get = |r: &str| counters.rejected.iter().find(|(n, _)| *n == r).unwrap().1;
        assert_eq!(get("duplicate"), 1);
        assert_eq!(get("out_of_order"), 1);
        assert_eq!(get("unsorted_labels"), 1);
    }

    #[test]
    fn series_limit_refuses_new_series_only() {
        let head = Head::new(HeadOptions {
            max_series: 1,
            ..HeadOptions::default()
        });
        let mut app = head.appender();
        app.append(&pairs(&cpu("a")), 1, 1.0).unwrap();
        assert!(matches!(
            app.append(&pairs(&cpu("b")), 1, 1.0),
            Err(AppendError::SeriesLimit { limit: 1 })
        ));
        app.append(&pairs(&cpu("a")), 2, 1.0).unwrap();
    }

    #[test]
    fn stale_markers_are_stored_bit_exactly() {
        let head = Head::new(HeadOptions::default());
        let mut app = head.appender();
        app.append(&pairs(&cpu("a")), 1, 1.0).unwrap();
        app.append(&pairs(&cpu("a")), 2, stale_nan()).unwrap();
        drop(app);
        let got = head
            .select(&[Matcher::equal("pod", "a")], 0, 10, usize::MAX)
            .unwrap();
        assert!(is_stale_nan(got[0].samples[1].value));
    }

    #[test]
    fn retention_expires_chunks_series_and_strings() {
        let head = Head::new(HeadOptions {
            retention_ms: 10_000,
            samples_per_chunk: 5,
            ..HeadOptions::default()
        });
        let mut app = head.appender();
        let old = cpu("old");
        let live = cpu("live");
        for t in 0..5 {
            app.append(&pairs(&old), t * 1000, 1.0).unwrap();
        }
        for t in 0..40 {
            app.append(&pairs(&live), t * 1000, 1.0).unwrap();
        }
        assert!(matches!(
            app.append(&pairs(&old), 6_000, 1.0),
            Err(AppendError::TooOld { .. })
        ));
        drop(app);
        let report = head.gc();
        assert_eq!(report.series_removed, 1);
        assert!(report.chunks_dropped >= 5);
        assert_eq!(
            report.strings_released, 1,
            "only the string \"old\" is unused"
        );
        assert_eq!(head.series_count(), 1);
        assert_eq!(head.label_values("pod").len(), 1);
        let live_samples = head
            .select(&[Matcher::equal("pod", "live")], 0, 100_000, usize::MAX)
            .unwrap();
        assert!(live_samples[0].samples[0].ts_ms >= 25_000);
    }

    #[test]
    fn handle_to_expired_series_is_renewed() {
        let head = Head::new(HeadOptions {
            retention_ms: 1_000,
            ..HeadOptions::default()
        });
        let mut app = head.appender();
        let a = app.append(&pairs(&cpu("a")), 0, 1.0).unwrap();
        app.append(&pairs(&cpu("b")), 10_000, 1.0).unwrap();
        head.gc();
        app.append_to(&a, 10_500, 2.0).unwrap();
        let got = head
            .select(&[Matcher::equal("pod", "a")], 0, 20_000, usize::MAX)
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 1);
    }

    #[test]
    fn select_stops_at_the_sample_limit() {
        let head = Head::new(HeadOptions::default());
        let mut app = head.appender();
        for t in 0..10 {
            app.append(&pairs(&cpu("a")), t, 1.0).unwrap();
        }
        drop(app);
        let err = head
            .select(&[Matcher::equal("pod", "a")], 0, 100, 5)
            .unwrap_err();
        assert!(matches!(err, SelectError::TooManySamples { limit: 5 }));
    }
}
