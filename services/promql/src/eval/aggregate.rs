//! Aggregation operators: `sum`, `avg`, `min`, `max`, `count`, `quantile`, `topk`, `bottomk`.
//!
//! Samples are grouped through a [`KeyCache`] (grouping labels hashed and confirmed once per
//! series, then remembered by series id), and each group's output labels are built once per
//! query, so a step allocates nothing per sample. Groups come out in order of first appearance,
//! like Prometheus' `orderedResult`. The per-group arithmetic follows `aggregation` in
//! promql/engine.go (2.42): plain summation, the overflow-safe incremental mean, NaN-replacing
//! min/max, and `topk`/`bottomk` as bounded heaps mirroring Go's `container/heap` (which, with
//! Prometheus' NaN-is-smallest ordering, decides which of several NaNs is kept).

use std::cmp::Ordering;

use crate::ast::{AggregateOp, Grouping};
use crate::error::EvalError;
use crate::eval::functions::{cmp_nan_first, mean_step, quantile};
use crate::eval::labels::{KeyCache, Keyer, SeriesIds, SeriesLabels, StepSlots};
use crate::eval::Elem;
use crate::gofmt::format_go_float;

/// Reusable per-node state: the grouping key and the buffers of the last step.
pub(crate) struct Aggregator {
    op: AggregateOp,
    keys: KeyCache,
    /// This step's group index per key id.
    group_of_key: StepSlots,
    groups: Vec<Group>,
    /// Per key: the series id of the group's output.
    output_ids: Vec<u32>,
    ids: SeriesIds,
    spare: Vec<Elem>,
}

struct Group {
    key: usize,
    value: f64,
    count: usize,
    values: Vec<f64>,
    /// `topk`/`bottomk`: (value, input index), a heap with the worst kept sample at the root.
    heap: Vec<(f64, usize)>,
}

impl Aggregator {
    pub(crate) fn new(op: AggregateOp, grouping: Option<&Grouping>, ids: SeriesIds) -> Self {
        let keyer = match grouping {
            Some(g) if g.without => Keyer::except_with_name(&g.labels),
            Some(g) => Keyer::only(&g.labels),
            None => Keyer::only(&[]),
        };
        Aggregator {
            op,
            keys: KeyCache::new(keyer),
            group_of_key: StepSlots::default(),
            groups: Vec::new(),
            output_ids: Vec::new(),
            ids,
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

    fn output_labels(&mut self, key: usize) -> SeriesLabels {
        while self.output_ids.len() <= key {
            self.output_ids.push(self.ids.next());
        }
        SeriesLabels::shared(self.keys.key_labels(key), self.output_ids[key])
    }

    /// Aggregates one step's input; `param` is φ or k where the operator takes one.
    pub(crate) fn eval(
        &mut self,
        input: &[Elem],
        param: Option<f64>,
    ) -> Result<Vec<Elem>, EvalError> {
        let k = match self.op {
            AggregateOp::Topk | AggregateOp::Bottomk => {
                let k = topk_limit(param.unwrap_or(f64::NAN))?;
                if k < 1 {
                    return Ok(Vec::new());
                }
                usize::try_from(k).unwrap_or(usize::MAX).min(input.len())
            }
            _ => 0,
        };
        self.group_of_key.next_step();
        self.groups.clear();
        for (i, elem) in input.iter().enumerate() {
            let key = self.keys.key_id(&elem.labels);
            match self.group_of_key.get(key) {
                Some(g) => self.accumulate(g, i, elem.value, k),
                None => {
                    self.group_of_key.set(key, self.groups.len());
                    self.groups.push(self.start_group(key, i, elem.value));
                }
            }
        }
        Ok(self.finish(input, param))
    }

    fn start_group(&self, key: usize, first: usize, value: f64) -> Group {
        let mut group = Group {
            key,
            value,
            count: 1,
            values: Vec::new(),
            heap: Vec::new(),
        };
        match self.op {
            AggregateOp::Quantile => group.values.push(value),
            AggregateOp::Topk | AggregateOp::Bottomk => group.heap.push((value, first)),
            _ => {}
        }
        group
    }

    fn accumulate(&mut self, g: usize, i: usize, v: f64, k: usize) {
        let op = self.op;
        let group = &mut self.groups[g];
        group.count += 1;
        match op {
            AggregateOp::Sum => group.value += v,
            AggregateOp::Avg => group.value = mean_step(group.value, v, group.count as f64),
            AggregateOp::Max => {
                if group.value < v || group.value.is_nan() {
                    group.value = v;
                }
            }
            AggregateOp::Min => {
                if group.value > v || group.value.is_nan() {
                    group.value = v;
                }
            }
            AggregateOp::Count => {}
            AggregateOp::Quantile => group.values.push(v),
            AggregateOp::Topk | AggregateOp::Bottomk => {
                let less = heap_less(op);
                let root = group.heap[0].0;
                if group.heap.len() < k {
                    group.heap.push((v, i));
                    let last = group.heap.len() - 1;
                    heap_up(&mut group.heap, last, less);
                } else if replaces_root(op, root, v) {
                    group.heap[0] = (v, i);
                    if k > 1 {
                        heap_down(&mut group.heap, 0, less);
                    }
                }
            }
        }
    }

    fn finish(&mut self, input: &[Elem], param: Option<f64>) -> Vec<Elem> {
        let mut out = std::mem::take(&mut self.spare);
        out.reserve(self.groups.len());
        let op = self.op;
        let mut groups = std::mem::take(&mut self.groups);
        for group in &mut groups {
            let value = match op {
                AggregateOp::Sum | AggregateOp::Avg | AggregateOp::Min | AggregateOp::Max => {
                    group.value
                }
                AggregateOp::Count => group.count as f64,
                AggregateOp::Quantile => quantile(param.unwrap_or(f64::NAN), &mut group.values),
                AggregateOp::Topk | AggregateOp::Bottomk => {
                    // Best first, NaN last, like Go's sort.Reverse over the heap.
                    group.heap.sort_by(|a, b| match op {
                        AggregateOp::Topk => cmp_nan_first(b.0, a.0),
                        _ => cmp_nan_last(a.0, b.0),
                    });
                    out.extend(group.heap.iter().map(|&(_, i)| input[i].clone()));
                    continue;
                }
            };
            out.push(Elem {
                labels: self.output_labels(group.key),
                value,
            });
        }
        self.groups = groups;
        out
    }
}

/// The `k` of `topk`/`bottomk`: the parameter truncated towards zero, if it fits an int64.
fn topk_limit(param: f64) -> Result<i64, EvalError> {
    // float64(math.MaxInt64) rounds up to 2^63, which Go's check still accepts.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..=LIMIT).contains(&param) {
        return Err(EvalError::ParameterOverflow(format_go_float(param)));
    }
    Ok(param as i64)
}

/// The heap order of promql/engine.go's `vectorByValueHeap` (topk: smallest on top) and
/// `vectorByReverseValueHeap` (bottomk: largest on top). Both call a NaN "less" than anything,
/// even another NaN; mirroring that asymmetry decides which of several NaNs survives.
fn heap_less(op: AggregateOp) -> fn(f64, f64) -> bool {
    match op {
        AggregateOp::Bottomk => |a, b| a.is_nan() || a > b,
        _ => |a, b| a.is_nan() || a < b,
    }
}

/// Whether `v` displaces the heap's root: it is better, or the root is NaN and it is not.
fn replaces_root(op: AggregateOp, root: f64, v: f64) -> bool {
    let better = match op {
        AggregateOp::Bottomk => root > v,
        _ => root < v,
    };
    better || (root.is_nan() && !v.is_nan())
}

/// Ascending with NaN last (bottomk's output order).
fn cmp_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Go `container/heap`'s `up`.
fn heap_up(heap: &mut [(f64, usize)], mut j: usize, less: fn(f64, f64) -> bool) {
    while j > 0 {
        let parent = (j - 1) / 2;
        if !less(heap[j].0, heap[parent].0) {
            break;
        }
        heap.swap(parent, j);
        j = parent;
    }
}

/// Go `container/heap`'s `down` (what `heap.Fix(h, 0)` does for the root).
fn heap_down(heap: &mut [(f64, usize)], mut i: usize, less: fn(f64, f64) -> bool) {
    let n = heap.len();
    loop {
        let left = 2 * i + 1;
        if left >= n {
            break;
        }
        let mut j = left;
        if left + 1 < n && less(heap[left + 1].0, heap[left].0) {
            j = left + 1;
        }
        if !less(heap[j].0, heap[i].0) {
            break;
        }
        heap.swap(i, j);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyscale_tsdb::Labels;

    fn elem(pairs: &[(&str, &str)], value: f64) -> Elem {
        Elem::from_pairs(pairs, value)
    }

    fn input() -> Vec<Elem> {
        vec![
            elem(&[("__name__", "m"), ("job", "a"), ("i", "1")], 1.0),
            elem(&[("__name__", "m"), ("job", "b"), ("i", "2")], 10.0),
            elem(&[("__name__", "m"), ("job", "a"), ("i", "3")], 3.0),
        ]
    }

    fn run(
        op: AggregateOp,
        grouping: Option<Grouping>,
        param: Option<f64>,
        input: Vec<Elem>,
    ) -> Vec<(Labels, f64)> {
        let mut agg = Aggregator::new(op, grouping.as_ref(), SeriesIds::default());
        agg.eval(&input, param)
            .expect("aggregation succeeds")
            .into_iter()
            .map(|e| (e.labels.to_labels(), e.value))
            .collect()
    }

    fn by(labels: &[&str]) -> Option<Grouping> {
        Some(Grouping {
            without: false,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn sum_by_groups_in_first_seen_order() {
        let out = run(AggregateOp::Sum, by(&["job"]), None, input());
        assert_eq!(
            out,
            vec![
                (Labels::from_pairs([("job", "a")]), 4.0),
                (Labels::from_pairs([("job", "b")]), 10.0)
            ]
        );
    }

    #[test]
    fn without_drops_listed_labels_and_the_name() {
        let g = Some(Grouping {
            without: true,
            labels: vec!["i".into()],
        });
        let out = run(AggregateOp::Count, g, None, input());
        assert_eq!(out[0], (Labels::from_pairs([("job", "a")]), 2.0));
    }

    #[test]
    fn by_name_keeps_the_name() {
        let out = run(AggregateOp::Max, by(&["__name__"]), None, input());
        assert_eq!(out, vec![(Labels::from_pairs([("__name__", "m")]), 10.0)]);
    }

    #[test]
    fn plain_aggregations() {
        assert_eq!(run(AggregateOp::Sum, None, None, input())[0].1, 14.0);
        assert_eq!(run(AggregateOp::Min, None, None, input())[0].1, 1.0);
        assert_eq!(run(AggregateOp::Max, None, None, input())[0].1, 10.0);
        assert_eq!(run(AggregateOp::Count, None, None, input())[0].1, 3.0);
        assert_eq!(
            run(AggregateOp::Quantile, None, Some(0.5), input())[0].1,
            3.0
        );
        let avg = run(
            AggregateOp::Avg,
            None,
            None,
            vec![elem(&[("a", "1")], 2.0), elem(&[("a", "2")], 4.0)],
        );
        assert_eq!(avg, vec![(Labels::empty(), 3.0)]);
    }

    #[test]
    fn min_max_replace_a_nan_start() {
        let v = vec![elem(&[("a", "1")], f64::NAN), elem(&[("a", "2")], 5.0)];
        assert_eq!(run(AggregateOp::Max, None, None, v.clone())[0].1, 5.0);
        assert_eq!(run(AggregateOp::Min, None, None, v)[0].1, 5.0);
    }

    #[test]
    fn topk_keeps_full_labels_sorted_by_value() {
        let out = run(AggregateOp::Topk, None, Some(2.0), input());
        assert_eq!(
            out.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec![10.0, 3.0]
        );
        assert_eq!(out[0].0.metric_name(), Some("m"));
        let out = run(AggregateOp::Bottomk, by(&["job"]), Some(1.9), input());
        assert_eq!(
            out.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec![1.0, 10.0]
        );
        assert!(run(AggregateOp::Topk, None, Some(0.5), input()).is_empty());
        assert_eq!(run(AggregateOp::Topk, None, Some(100.0), input()).len(), 3);
    }

    #[test]
    fn topk_and_bottomk_never_prefer_nan() {
        let v = vec![
            elem(&[("a", "1")], f64::NAN),
            elem(&[("a", "2")], 1.0),
            elem(&[("a", "3")], 2.0),
        ];
        let top = run(AggregateOp::Topk, None, Some(2.0), v.clone());
        assert_eq!(
            top.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec![2.0, 1.0]
        );
        let bottom = run(AggregateOp::Bottomk, None, Some(2.0), v.clone());
        assert_eq!(
            bottom.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            vec![1.0, 2.0]
        );
        let all = run(AggregateOp::Bottomk, None, Some(3.0), v);
        assert!(all[2].1.is_nan(), "NaN sorts last");
    }

    #[test]
    fn topk_keeps_the_nan_go_heap_keeps() {
        // Prometheus 2.42 answers `topk(3, g)` over NaN, 2, NaN, 5 with the first NaN: its
        // heap's Less calls a NaN smaller than another NaN, so the later NaN becomes the root
        // and is the one evicted.
        let v = vec![
            elem(&[("i", "1")], f64::NAN),
            elem(&[("i", "2")], 2.0),
            elem(&[("i", "3")], f64::NAN),
            elem(&[("i", "4")], 5.0),
        ];
        for op in [AggregateOp::Topk, AggregateOp::Bottomk] {
            let out = run(op, None, Some(3.0), v.clone());
            let nan = out
                .iter()
                .find(|(_, v)| v.is_nan())
                .map(|(l, _)| l.get("i"));
            assert_eq!(nan, Some(Some("1")), "{op:?}");
        }
    }

    #[test]
    fn topk_rejects_parameters_outside_int64() {
        let mut agg = Aggregator::new(AggregateOp::Topk, None, SeriesIds::default());
        let err = agg.eval(&input(), Some(f64::NAN)).err();
        assert_eq!(err, Some(EvalError::ParameterOverflow("NaN".into())));
        assert!(agg.eval(&input(), Some(1e19)).is_err());
    }
}
