//! `histogram_quantile` over classic `le`-labelled bucket series.
//!
//! Buckets are grouped by all their labels except `le` (the name included, so `a_bucket` and
//! `b_bucket` stay apart), through the same [`KeyCache`] as aggregations. The
//! estimate itself is `bucketQuantile` from promql/quantile.go in Prometheus 2.42, step for
//! step: sort by bound, require a `+Inf` bucket, merge equal bounds, force counts monotonic,
//! then interpolate linearly inside the bucket that holds the requested rank.

use std::rc::Rc;

use tachyscale_tsdb::Labels;

use crate::eval::labels::{KeyCache, Keyer, SeriesIds, SeriesLabels, StepSlots};
use crate::eval::Elem;
use crate::gofmt::parse_go_float;

const BUCKET_LABEL: &str = "le";

/// Reusable per-node state.
pub(crate) struct HistogramQuantile {
    keys: KeyCache,
    output_keyer: Keyer,
    /// Per key id: the output labels (without `le` and `__name__`) and their series id,
    /// made on first use.
    output_labels: Vec<Option<(Rc<Labels>, u32)>>,
    ids: SeriesIds,
    group_of_key: StepSlots,
    groups: Vec<(usize, Vec<Bucket>)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    upper_bound: f64,
    count: f64,
}

impl HistogramQuantile {
    pub(crate) fn new(ids: SeriesIds) -> Self {
        HistogramQuantile {
            ids,
            keys: KeyCache::new(Keyer::except(&[BUCKET_LABEL.to_string()])),
            output_keyer: Keyer::except_with_name(&[BUCKET_LABEL.to_string()]),
            output_labels: Vec::new(),
            group_of_key: StepSlots::default(),
            groups: Vec::new(),
        }
    }
}

impl HistogramQuantile {
    /// One output sample per group of buckets, labelled without `le` and `__name__`, in order
    /// of first appearance. Samples without a parseable `le` are ignored.
    pub(crate) fn eval(&mut self, q: f64, input: &[Elem]) -> Vec<Elem> {
        self.group_of_key.next_step();
        self.groups.clear();
        for elem in input {
            let Some(upper_bound) = elem
                .labels
                .get_label(BUCKET_LABEL)
                .and_then(|l| parse_go_float(&l.value))
            else {
                continue;
            };
            let bucket = Bucket {
                upper_bound,
                count: elem.value,
            };
            let key = self.keys.key_id(&elem.labels);
            match self.group_of_key.get(key) {
                Some(g) => self.groups[g].1.push(bucket),
                None => {
                    self.group_of_key.set(key, self.groups.len());
                    self.groups.push((key, vec![bucket]));
                }
            }
        }
        let mut groups = std::mem::take(&mut self.groups);
        let mut out = Vec::with_capacity(groups.len());
        for (key, buckets) in &mut groups {
            out.push(Elem {
                labels: self.output_labels_of(*key),
                value: bucket_quantile(q, buckets),
            });
        }
        self.groups = groups;
        out
    }

    fn output_labels_of(&mut self, key: usize) -> SeriesLabels {
        if key >= self.output_labels.len() {
            self.output_labels.resize(key + 1, None);
        }
        if let Some((labels, id)) = &self.output_labels[key] {
            return SeriesLabels::shared(Rc::clone(labels), *id);
        }
        let labels = Rc::new(self.output_keyer.key_labels(self.keys.rep(key)));
        let id = self.ids.next();
        self.output_labels[key] = Some((Rc::clone(&labels), id));
        SeriesLabels::shared(labels, id)
    }
}

/// `bucketQuantile` from promql/quantile.go (2.42).
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // total_cmp keeps -0 next to +0, where coalescing merges them as Go's `==` does.
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce(buckets);
    ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_sort_search(buckets.len() - 1, |i| buckets[i].count >= rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Merges buckets with equal upper bounds (they come from differently-formatted `le` values
/// such as "1" and "1.0"), summing their counts.
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out = 0;
    for i in 1..buckets.len() {
        if buckets[i].upper_bound == buckets[out].upper_bound {
            buckets[out].count += buckets[i].count;
        } else {
            out += 1;
            buckets[out] = buckets[i];
        }
    }
    buckets.truncate(out + 1);
}

/// Raises any count below the running maximum to it (scrapes of buckets are not atomic).
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = f64::NEG_INFINITY;
    for b in buckets {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
}

/// Go's `sort.Search`: the smallest `i` in `[0, n)` with `pred(i)`, or `n`, by bisection (so
/// it agrees with Go even when `pred` is not monotonic, e.g. with NaN counts).
fn go_sort_search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyscale_tsdb::Labels;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    #[test]
    fn interpolates_inside_the_bucket_holding_the_rank() {
        // 10 observations: 2 <= 0.1, 6 <= 0.5, 10 <= +Inf (8 <= 1).
        let mut b = buckets(&[(0.5, 6.0), (0.1, 2.0), (f64::INFINITY, 10.0), (1.0, 8.0)]);
        // rank 5 falls in (0.1, 0.5]: 0.1 + 0.4 * (3 / 4).
        assert_eq!(
            bucket_quantile(0.5, &mut b),
            0.1 + (0.5 - 0.1) * (3.0 / 4.0)
        );
        // rank 9.5 lies in the +Inf bucket: answer is the highest finite bound.
        let mut b = buckets(&[(0.1, 2.0), (0.5, 6.0), (1.0, 8.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.95, &mut b), 1.0);
        // The first bucket interpolates from zero.
        let mut b = buckets(&[(0.1, 2.0), (0.5, 6.0), (1.0, 8.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.1, &mut b), 0.1 * (1.0 / 2.0));
    }

    #[test]
    fn edge_cases_follow_prometheus() {
        let ok = || buckets(&[(1.0, 1.0), (f64::INFINITY, 2.0)]);
        assert!(bucket_quantile(f64::NAN, &mut ok()).is_nan());
        assert_eq!(bucket_quantile(-1.0, &mut ok()), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(2.0, &mut ok()), f64::INFINITY);
        assert!(
            bucket_quantile(0.5, &mut buckets(&[(1.0, 1.0), (2.0, 2.0)])).is_nan(),
            "no +Inf"
        );
        assert!(
            bucket_quantile(0.5, &mut buckets(&[(f64::INFINITY, 2.0)])).is_nan(),
            "one bucket"
        );
        assert!(bucket_quantile(0.5, &mut buckets(&[(1.0, 0.0), (f64::INFINITY, 0.0)])).is_nan());
        // A non-positive lowest bound is returned as is.
        let mut b = buckets(&[(-1.0, 5.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.2, &mut b), -1.0);
    }

    #[test]
    fn equal_bounds_merge_and_counts_become_monotonic() {
        let mut b = buckets(&[(1.0, 1.0), (1.0, 1.0), (2.0, 1.0), (f64::INFINITY, 4.0)]);
        coalesce(&mut b);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].count, 2.0);
        ensure_monotonic(&mut b);
        assert_eq!(b[1].count, 2.0);
    }

    fn elem(pairs: &[(&str, &str)], value: f64) -> Elem {
        Elem {
            labels: SeriesLabels::owned(Labels::from_pairs(pairs.iter().copied())),
            value,
        }
    }

    #[test]
    fn groups_by_labels_without_le_and_drops_the_name() {
        let input = vec![
            elem(&[("__name__", "h_bucket"), ("job", "a"), ("le", "1")], 5.0),
            elem(
                &[("__name__", "h_bucket"), ("job", "b"), ("le", "+Inf")],
                4.0,
            ),
            elem(
                &[("__name__", "h_bucket"), ("job", "a"), ("le", "+Inf")],
                10.0,
            ),
            elem(
                &[("__name__", "h_bucket"), ("job", "b"), ("le", "1e0")],
                4.0,
            ),
            elem(
                &[("__name__", "h_bucket"), ("job", "a"), ("le", "oops")],
                7.0,
            ),
            elem(&[("__name__", "h_bucket"), ("job", "c")], 7.0),
        ];
        let out = HistogramQuantile::new(SeriesIds::default()).eval(0.5, &input);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].labels.to_labels(),
            Labels::from_pairs([("job", "a")])
        );
        assert_eq!(out[0].value, 1.0);
        assert_eq!(out[1].value, 0.5);
    }

    #[test]
    fn sort_search_matches_go() {
        assert_eq!(go_sort_search(5, |i| i >= 3), 3);
        assert_eq!(go_sort_search(5, |_| false), 5);
        assert_eq!(go_sort_search(0, |_| true), 0);
    }
}
