//! Loading selected series once, and reading them at each evaluation step.
//!
//! A range query steps through time, but the storage is asked only once per selector: the
//! [`Loader`] selects the whole window the query will need (first step minus offset minus range
//! or lookback, to last step minus offset) and counts the samples against the limit. Each
//! step then finds its samples by galloping forward from where the previous step stopped (a
//! fresh binary search per series per step is mostly cache misses at 100k series). Instant
//! selectors keep stale markers (a stale newest sample hides the series); range selectors drop
//! them at load. Selected labels go into one shared table per selector, and every selected
//! series gets a query-wide id that later stages use to cache per-series work across steps.

use std::rc::Rc;

use tachyscale_tsdb::{is_stale_nan, Labels, Queryable, Sample};

use crate::ast::{Function, VectorSelector};
use crate::error::EvalError;
use crate::eval::functions::range_function;
use crate::eval::labels::{ChainedIndex, SeriesIds, SeriesLabels};
use crate::eval::Elem;

/// The samples of one selected series.
pub(crate) struct LoadedSeries {
    pub(crate) samples: Vec<Sample>,
    /// Unique among all series the query selected (see [`SeriesLabels::in_table`]).
    pub(crate) id: u32,
}

/// The series one selector selected: labels in one shared table, samples alongside.
pub(crate) struct Loaded {
    pub(crate) labels: Rc<[Labels]>,
    pub(crate) series: Vec<LoadedSeries>,
}

impl Loaded {
    pub(crate) fn series_labels(&self, index: usize) -> SeriesLabels {
        SeriesLabels::in_table(&self.labels, index, self.series[index].id)
    }
}

/// Selects series for every selector of a query, enforcing the sample limit across them.
pub(crate) struct Loader<'a> {
    db: &'a dyn Queryable,
    first_step_ms: i64,
    last_step_ms: i64,
    lookback_ms: i64,
    max_samples: usize,
    loaded: usize,
    ids: SeriesIds,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(
        db: &'a dyn Queryable,
        first_step_ms: i64,
        last_step_ms: i64,
        lookback_ms: i64,
        max_samples: usize,
    ) -> Self {
        Loader {
            db,
            first_step_ms,
            last_step_ms,
            lookback_ms,
            max_samples,
            loaded: 0,
            ids: SeriesIds::default(),
        }
    }

    pub(crate) fn lookback_ms(&self) -> i64 {
        self.lookback_ms
    }

    /// The query's series id allocator, for nodes whose outputs persist across steps.
    pub(crate) fn ids(&self) -> SeriesIds {
        self.ids.clone()
    }

    /// Selects the series of `selector` for all steps: with `range_ms` for a range selector
    /// (stale markers removed, empty series dropped), else for an instant selector.
    pub(crate) fn load(
        &mut self,
        selector: &VectorSelector,
        range_ms: Option<i64>,
    ) -> Result<Loaded, EvalError> {
        let before = range_ms.unwrap_or(self.lookback_ms);
        let mint = self
            .first_step_ms
            .saturating_sub(selector.offset_ms)
            .saturating_sub(before);
        let maxt = self.last_step_ms.saturating_sub(selector.offset_ms);
        let remaining = self.max_samples.saturating_sub(self.loaded);
        let selected = self
            .db
            .select(&selector.all_matchers(), mint, maxt, remaining)
            .map_err(|_| EvalError::TooManySamples)?;
        let mut labels = Vec::with_capacity(selected.len());
        let mut out = Vec::with_capacity(selected.len());
        for series in selected {
            self.loaded = self.loaded.saturating_add(series.samples.len());
            if self.loaded > self.max_samples {
                return Err(EvalError::TooManySamples);
            }
            let mut samples = series.samples;
            if range_ms.is_some() {
                samples.retain(|s| !is_stale_nan(s.value));
                if samples.is_empty() {
                    continue;
                }
            }
            let id = self.ids.next();
            labels.push(series.labels);
            out.push(LoadedSeries { samples, id });
        }
        Ok(Loaded {
            labels: Rc::from(labels),
            series: out,
        })
    }
}

/// The samples of a range selector at reference time `ref_ms`: `[ref - range, ref]`, both
/// ends included as in Prometheus 2.x.
pub(crate) fn range_window(samples: &[Sample], ref_ms: i64, range_ms: i64) -> &[Sample] {
    let start = ref_ms.saturating_sub(range_ms);
    let lo = samples.partition_point(|s| s.ts_ms < start);
    let hi = samples.partition_point(|s| s.ts_ms <= ref_ms);
    &samples[lo..hi.max(lo)]
}

/// The first index at or after `from` whose sample is not `before`, where `before` holds for
/// a prefix of `samples` that includes everything below `from`. Gallops forward from `from`,
/// so a position that moved little since the last step costs a probe or two.
fn gallop(samples: &[Sample], from: usize, before: impl Fn(&Sample) -> bool) -> usize {
    let n = samples.len();
    let mut lo = from.min(n);
    let mut step = 1;
    loop {
        let probe = lo + step - 1;
        if probe >= n {
            return lo + samples[lo..].partition_point(&before);
        }
        if !before(&samples[probe]) {
            return lo + samples[lo..probe].partition_point(&before);
        }
        lo = probe + 1;
        step *= 2;
    }
}

/// Per-series search positions kept between steps. Range-query steps only move forward, so
/// each step resumes where the previous one stopped instead of bisecting every series'
/// samples again, which at 100k series is mostly cache misses.
#[derive(Default)]
struct Cursors {
    positions: Vec<usize>,
    last_ms: Option<i64>,
}

impl Cursors {
    /// Prepares for evaluation at `t` over `n` series; going back in time starts over.
    fn start_step(&mut self, n: usize, t: i64) {
        if self.positions.len() != n || self.last_ms.is_some_and(|last| t < last) {
            self.positions.clear();
            self.positions.resize(n, 0);
        }
        self.last_ms = Some(t);
    }

    fn seek(
        &mut self,
        series: usize,
        samples: &[Sample],
        before: impl Fn(&Sample) -> bool,
    ) -> usize {
        let position = gallop(samples, self.positions[series], before);
        self.positions[series] = position;
        position
    }
}

/// An instant vector selector with its loaded series.
pub(crate) struct InstantSelector {
    loaded: Loaded,
    offset_ms: i64,
    lookback_ms: i64,
    /// Per series: how many samples are at or before the last reference time.
    ends: Cursors,
    /// An output buffer handed back by the consumer of the last step.
    spare: Vec<Elem>,
}

impl InstantSelector {
    pub(crate) fn new(loaded: Loaded, offset_ms: i64, lookback_ms: i64) -> Self {
        InstantSelector {
            loaded,
            offset_ms,
            lookback_ms,
            ends: Cursors::default(),
            spare: Vec::new(),
        }
    }

    pub(crate) fn eval(&mut self, t: i64) -> Vec<Elem> {
        let ref_ms = t.saturating_sub(self.offset_ms);
        let oldest = ref_ms.saturating_sub(self.lookback_ms);
        self.ends.start_step(self.loaded.series.len(), t);
        let mut out = std::mem::take(&mut self.spare);
        out.reserve(self.loaded.series.len());
        for (i, s) in self.loaded.series.iter().enumerate() {
            let end = self.ends.seek(i, &s.samples, |x| x.ts_ms <= ref_ms);
            let Some(newest) = end.checked_sub(1).and_then(|e| s.samples.get(e)) else {
                continue;
            };
            if newest.ts_ms < oldest || is_stale_nan(newest.value) {
                continue;
            }
            out.push(Elem {
                labels: self.loaded.series_labels(i),
                value: newest.value,
            });
        }
        out
    }

    /// Takes back an output buffer for reuse.
    pub(crate) fn recycle(&mut self, mut buffer: Vec<Elem>) {
        buffer.clear();
        if buffer.capacity() > self.spare.capacity() {
            self.spare = buffer;
        }
    }
}

/// A function over a range selector (`rate(x[5m])`), evaluated series by series.
pub(crate) struct RangeFunction {
    func: Function,
    loaded: Loaded,
    range_ms: i64,
    offset_ms: i64,
    /// Present when dropping `__name__` makes some series' labels identical.
    conflicts: Option<Conflicts>,
    /// Per series: the window's first and end positions at the last step.
    starts: Cursors,
    ends: Cursors,
    spare: Vec<Elem>,
}

/// Series that become indistinguishable once `__name__` is dropped. Prometheus fails the
/// query as soon as two of them both produce output (at any step), so we track who has.
struct Conflicts {
    group_of: Vec<u32>,
    produced: Vec<bool>,
    producers_in_group: Vec<u32>,
}

const NO_GROUP: u32 = u32::MAX;

impl RangeFunction {
    /// `one_name` says the selector fixes the metric name, so dropping it cannot make two
    /// series' labels equal.
    pub(crate) fn new(
        func: Function,
        loaded: Loaded,
        range_ms: i64,
        offset_ms: i64,
        one_name: bool,
    ) -> Self {
        let conflicts = if keeps_metric_name(func) || one_name {
            None
        } else {
            find_conflicts(&loaded)
        };
        RangeFunction {
            func,
            loaded,
            range_ms,
            offset_ms,
            conflicts,
            starts: Cursors::default(),
            ends: Cursors::default(),
            spare: Vec::new(),
        }
    }

    /// Takes back an output buffer for reuse.
    pub(crate) fn recycle(&mut self, mut buffer: Vec<Elem>) {
        buffer.clear();
        if buffer.capacity() > self.spare.capacity() {
            self.spare = buffer;
        }
    }

    pub(crate) fn eval(&mut self, t: i64, param: Option<f64>) -> Result<Vec<Elem>, EvalError> {
        let ref_ms = t.saturating_sub(self.offset_ms);
        let range_start = ref_ms.saturating_sub(self.range_ms);
        let keep_name = keeps_metric_name(self.func);
        let n = self.loaded.series.len();
        self.starts.start_step(n, t);
        self.ends.start_step(n, t);
        let mut out = std::mem::take(&mut self.spare);
        out.reserve(n);
        for (i, s) in self.loaded.series.iter().enumerate() {
            let lo = self.starts.seek(i, &s.samples, |x| x.ts_ms < range_start);
            let hi = self.ends.seek(i, &s.samples, |x| x.ts_ms <= ref_ms);
            if hi <= lo {
                continue;
            }
            let window = &s.samples[lo..hi];
            let Some(value) =
                range_function(self.func, window, param, range_start, ref_ms, self.range_ms)
            else {
                continue;
            };
            if let Some(c) = &mut self.conflicts {
                c.record_output(i)?;
            }
            let mut labels = self.loaded.series_labels(i);
            if !keep_name {
                labels.hide_name();
            }
            out.push(Elem { labels, value });
        }
        Ok(out)
    }
}

/// `last_over_time` acts like an offset and keeps the metric name (promql/engine.go in 2.42);
/// every other range-vector function drops it.
fn keeps_metric_name(func: Function) -> bool {
    func == Function::LastOverTime
}

fn find_conflicts(loaded: &Loaded) -> Option<Conflicts> {
    let first_name = loaded.labels.first()?.metric_name();
    if loaded.labels.iter().all(|l| l.metric_name() == first_name) {
        return None; // distinct label sets with one name stay distinct without it
    }
    let series = &loaded.series;
    let mut index = ChainedIndex::default();
    let mut entry_series: Vec<usize> = Vec::new();
    let mut entry_group: Vec<u32> = Vec::new();
    let mut group_of = vec![NO_GROUP; series.len()];
    let mut groups = 0u32;
    let stripped: Vec<SeriesLabels> = (0..series.len())
        .map(|i| {
            let mut l = loaded.series_labels(i);
            l.hide_name();
            l
        })
        .collect();
    for (i, labels) in stripped.iter().enumerate() {
        let h = labels.hash();
        match index.find(h, |e| stripped[entry_series[e]].same_as(labels)) {
            Some(e) => {
                if entry_group[e] == NO_GROUP {
                    entry_group[e] = groups;
                    group_of[entry_series[e]] = groups;
                    groups += 1;
                }
                group_of[i] = entry_group[e];
            }
            None => {
                index.insert(h);
                entry_series.push(i);
                entry_group.push(NO_GROUP);
            }
        }
    }
    (groups > 0).then(|| Conflicts {
        produced: vec![false; series.len()],
        producers_in_group: vec![0; groups as usize],
        group_of,
    })
}

impl Conflicts {
    fn record_output(&mut self, series: usize) -> Result<(), EvalError> {
        let group = self.group_of[series];
        if group == NO_GROUP || self.produced[series] {
            return Ok(());
        }
        self.produced[series] = true;
        let count = &mut self.producers_in_group[group as usize];
        *count += 1;
        if *count >= 2 {
            return Err(EvalError::DuplicateLabelset);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts_ms: i64, value: f64) -> Sample {
        Sample::new(ts_ms, value)
    }

    /// The instant selector's value for one series at `t`.
    fn instant_value(samples: &[Sample], t: i64, lookback_ms: i64) -> Option<f64> {
        let series = loaded(vec![(&[("a", "1")], samples.to_vec())]);
        let out = InstantSelector::new(series, 0, lookback_ms).eval(t);
        out.first().map(|e| e.value)
    }

    #[test]
    fn instant_value_includes_sample_exactly_at_lookback_boundary() {
        let samples = [s(0, 1.0)];
        assert_eq!(instant_value(&samples, 300_000, 300_000), Some(1.0));
        assert_eq!(instant_value(&samples, 300_001, 300_000), None);
        assert_eq!(
            instant_value(&samples, -1, 300_000),
            None,
            "sample after ref time"
        );
    }

    #[test]
    fn instant_value_hides_stale_series() {
        let samples = [s(0, 1.0), s(10, tachyscale_tsdb::stale_nan()), s(20, 2.0)];
        assert_eq!(instant_value(&samples, 15, 300_000), None);
        assert_eq!(instant_value(&samples, 5, 300_000), Some(1.0));
        assert_eq!(instant_value(&samples, 25, 300_000), Some(2.0));
    }

    #[test]
    fn gallop_finds_the_partition_point_from_any_valid_start() {
        let samples: Vec<Sample> = (0..100).map(|i| s(i * 10, 0.0)).collect();
        for target in [-5, 0, 5, 10, 333, 990, 995, 2000] {
            let want = samples.partition_point(|x| x.ts_ms < target);
            for from in [0, 1.min(want), want / 2, want] {
                assert_eq!(
                    gallop(&samples, from, |x| x.ts_ms < target),
                    want,
                    "{target} {from}"
                );
            }
        }
        assert_eq!(gallop(&[], 0, |_| true), 0);
    }

    #[test]
    fn cursors_restart_when_time_goes_backwards() {
        let series = loaded(vec![(
            &[("a", "1")],
            vec![s(0, 1.0), s(10, 2.0), s(20, 3.0)],
        )]);
        let mut sel = InstantSelector::new(series, 0, 100);
        assert_eq!(sel.eval(20)[0].value, 3.0);
        assert_eq!(sel.eval(5)[0].value, 1.0);
        assert_eq!(sel.eval(10)[0].value, 2.0);
    }

    #[test]
    fn range_window_is_closed_on_both_ends() {
        let samples = [s(0, 0.0), s(10, 1.0), s(20, 2.0), s(30, 3.0)];
        assert_eq!(range_window(&samples, 30, 20).len(), 3);
        assert_eq!(range_window(&samples, 29, 20).len(), 2);
        assert!(range_window(&samples, 100, 20).is_empty());
    }

    type TestSeries<'a> = (&'a [(&'a str, &'a str)], Vec<Sample>);

    fn loaded(series: Vec<TestSeries<'_>>) -> Loaded {
        let labels: Vec<Labels> = series
            .iter()
            .map(|(pairs, _)| Labels::from_pairs(pairs.iter().copied()))
            .collect();
        Loaded {
            labels: Rc::from(labels),
            series: series
                .into_iter()
                .enumerate()
                .map(|(i, (_, samples))| LoadedSeries {
                    samples,
                    id: i as u32,
                })
                .collect(),
        }
    }

    #[test]
    fn name_collisions_fail_only_once_both_series_produce_output() {
        let series = loaded(vec![
            (
                &[("__name__", "a"), ("x", "1")],
                vec![s(0, 1.0), s(10, 2.0)],
            ),
            (
                &[("__name__", "b"), ("x", "1")],
                vec![s(100, 1.0), s(110, 2.0)],
            ),
        ]);
        let mut f = RangeFunction::new(Function::Rate, series, 20, 0, false);
        assert_eq!(f.eval(10, None).map(|v| v.len()), Ok(1));
        assert_eq!(f.eval(110, None).err(), Some(EvalError::DuplicateLabelset));
    }

    #[test]
    fn last_over_time_keeps_the_name_and_never_conflicts() {
        let series = loaded(vec![
            (&[("__name__", "a"), ("x", "1")], vec![s(0, 1.0)]),
            (&[("__name__", "b"), ("x", "1")], vec![s(0, 2.0)]),
        ]);
        let mut f = RangeFunction::new(Function::LastOverTime, series, 20, 0, false);
        let out = f.eval(10, None).unwrap_or_default();
        assert_eq!(out.len(), 2);
        assert!(out[0].labels.get_label("__name__").is_some());
    }
}
