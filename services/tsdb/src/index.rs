//! Inverted index from label pairs to series ids (postings), as in Prometheus' head index.
//!
//! Each `name=value` pair maps to the sorted list of ids of the series carrying it. A
//! selector is answered by set operations on those lists: matchers that cannot match an
//! absent label intersect the union of the lists of the values they accept, matchers that
//! can (`a=""`, `a!="x"`, `a!~"re"`) subtract the lists of the values they reject. Only the
//! values of the named labels are scanned, never the series.
//!
//! Ids are handed out in increasing order under the index's write lock, so appending an id
//! keeps every list sorted without a sort.

use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use crate::labels::Labels;
use crate::matcher::{MatchOp, Matcher};

/// A series' position in the index; increasing in creation order and never reused.
pub type SeriesId = u64;

/// Label pair → sorted series ids.
#[derive(Default)]
pub struct Index {
    postings: HashMap<Arc<str>, HashMap<Arc<str>, Vec<SeriesId>>>,
    all: Vec<SeriesId>,
    next_id: SeriesId,
}

impl Index {
    /// Registers a new series and returns its id.
    pub fn add(&mut self, labels: &Labels) -> SeriesId {
        let id = self.next_id;
        self.next_id += 1;
        for label in labels {
            self.postings
                .entry(label.name.clone())
                .or_default()
                .entry(label.value.clone())
                .or_default()
                .push(id);
        }
        self.all.push(id);
        id
    }

    /// Removes series, given their ids and label sets, in one pass per affected list.
    pub fn remove(&mut self, removed: &[(SeriesId, Labels)]) {
        if removed.is_empty() {
            return;
        }
        let ids: HashSet<SeriesId> = removed.iter().map(|(id, _)| *id).collect();
        let mut touched: HashSet<(Arc<str>, Arc<str>)> = HashSet::new();
        for (_, labels) in removed {
            for label in labels {
                touched.insert((label.name.clone(), label.value.clone()));
            }
        }
        for (name, value) in touched {
            let Some(values) = self.postings.get_mut(&*name) else {
                continue;
            };
            if let Some(list) = values.get_mut(&*value) {
                list.retain(|id| !ids.contains(id));
                if list.is_empty() {
                    values.remove(&*value);
                } else if list.capacity() > 2 * list.len() + 4 {
                    list.shrink_to_fit();
                }
            }
            if values.is_empty() {
                self.postings.remove(&*name);
            }
        }
        self.all.retain(|id| !ids.contains(id));
    }

    /// Ids of the series matching every matcher, sorted.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesId> {
        let mut positive: Vec<Vec<SeriesId>> = Vec::new();
        let mut negative: Vec<Vec<SeriesId>> = Vec::new();
        for matcher in matchers {
            if matcher.matches_empty() {
                negative.push(self.values_union(&matcher.name, |v| !matcher.matches(v)));
            } else {
                let set = match matcher.op {
                    MatchOp::Equal => self.postings_for(&matcher.name, &matcher.value).to_vec(),
                    _ => self.values_union(&matcher.name, |v| matcher.matches(v)),
                };
                if set.is_empty() {
                    return Vec::new();
                }
                positive.push(set);
            }
        }
        positive.sort_by_key(Vec::len);
        let mut result = match positive.split_first() {
            Some((first, rest)) => rest
                .iter()
                .fold(first.clone(), |acc, list| intersect(&acc, list)),
            None => self.all.clone(),
        };
        for list in &negative {
            if result.is_empty() {
                break;
            }
            result = subtract(&result, list);
        }
        result
    }

    fn postings_for(&self, name: &str, value: &str) -> &[SeriesId] {
        self.postings
            .get(name)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// The union of the lists of every value of `name` accepted by `accept`.
    fn values_union(&self, name: &str, accept: impl Fn(&str) -> bool) -> Vec<SeriesId> {
        let Some(values) = self.postings.get(name) else {
            return Vec::new();
        };
        let lists: Vec<&Vec<SeriesId>> = values
            .iter()
            .filter(|(value, _)| accept(value))
            .map(|(_, list)| list)
            .collect();
        match lists.as_slice() {
            [] => Vec::new(),
            [only] => (*only).clone(),
            _ => {
                let mut merged: Vec<SeriesId> =
                    lists.iter().flat_map(|list| list.iter().copied()).collect();
                merged.sort_unstable();
                merged.dedup();
                merged
            }
        }
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = self.postings.keys().cloned().collect();
        names.sort();
        names
    }

    /// All values of one label, sorted.
    pub fn label_values(&self, name: &str) -> Vec<Arc<str>> {
        let mut values: Vec<Arc<str>> = self
            .postings
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default();
        values.sort();
        values
    }

    pub fn series_count(&self) -> usize {
        self.all.len()
    }

    /// Heap bytes of the lists and maps (strings are accounted by the interner).
    pub fn heap_bytes(&self) -> usize {
        let id = std::mem::size_of::<SeriesId>();
        let slot = std::mem::size_of::<(Arc<str>, Vec<SeriesId>)>() + 1;
        let mut bytes = self.all.capacity() * id;
        bytes += self.postings.capacity()
            * (std::mem::size_of::<(Arc<str>, HashMap<Arc<str>, Vec<SeriesId>>)>() + 1);
        for values in self.postings.values() {
            bytes += values.capacity() * slot;
            bytes += values.values().map(|l| l.capacity() * id).sum::<usize>();
        }
        bytes
    }
}

/// Sorted intersection of two sorted lists.
fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Sorted difference `a \ b` of two sorted lists.
fn subtract(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &id in a {
        while j < b.len() && b[j] < id {
            j += 1;
        }
        if j >= b.len() || b[j] != id {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute_force(series: &[Labels], matchers: &[Matcher]) -> Vec<SeriesId> {
        series
            .iter()
            .enumerate()
            .filter(|(_, labels)| {
                matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
            .map(|(i, _)| i as SeriesId)
            .collect()
    }

    #[test]
    fn empty_matcher_selects_series_without_the_label() {
        let mut index = Index::default();
        let series = [
            Labels::from_pairs([("__name__", "x"), ("a", "1")]),
            Labels::from_pairs([("__name__", "x")]),
        ];
        for labels in &series {
            index.add(labels);
        }
        let m = [Matcher::equal("__name__", "x"), Matcher::equal("a", "")];
        assert_eq!(index.select(&m), vec![1]);
        let ne = Matcher::new(MatchOp::NotEqual, "a", "1").unwrap();
        assert_eq!(index.select(&[ne]), vec![1]);
    }

    #[test]
    fn removed_series_disappear_from_postings_and_names() {
        let mut index = Index::default();
        let a = Labels::from_pairs([("__name__", "x"), ("pod", "a")]);
        let b = Labels::from_pairs([("__name__", "x"), ("pod", "b")]);
        let id_a = index.add(&a);
        index.add(&b);
        index.remove(&[(id_a, a)]);
        assert_eq!(index.select(&[Matcher::equal("__name__", "x")]), vec![1]);
        assert_eq!(index.label_values("pod").len(), 1);
    }

    fn labels_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::vec(
            (
                prop::sample::select(vec!["a", "b", "c", "__name__"]),
                prop::sample::select(vec!["", "x", "y", "xy", "z1"]),
            ),
            0..5,
        )
        .prop_map(Labels::from_pairs)
    }

    fn matcher_strategy() -> impl Strategy<Value = Matcher> {
        (
            prop::sample::select(vec![
                MatchOp::Equal,
                MatchOp::NotEqual,
                MatchOp::RegexMatch,
                MatchOp::RegexNoMatch,
            ]),
            prop::sample::select(vec!["a", "b", "c", "__name__", "missing"]),
            prop::sample::select(vec!["", "x", "y", "x.*", ".+", "x|y", "z.", ".*"]),
        )
            .prop_filter_map("plain values only for = and !=", |(op, name, value)| {
                Matcher::new(op, name, value).ok()
            })
    }

    proptest! {
        #[test]
        fn matchers_agree_with_brute_force_scan(
            series in proptest::collection::vec(labels_strategy(), 0..60),
            matchers in proptest::collection::vec(matcher_strategy(), 1..4),
            removed in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut index = Index::default();
            for labels in &series {
                index.add(labels);
            }
            prop_assert_eq!(index.select(&matchers), brute_force(&series, &matchers));

            if !series.is_empty() {
                let mut gone: Vec<(SeriesId, Labels)> = removed
                    .iter()
                    .map(|i| { let i = i.index(series.len()); (i as SeriesId, series[i].clone()) })
                    .collect();
                gone.sort_by_key(|(id, _)| *id);
                gone.dedup_by_key(|(id, _)| *id);
                index.remove(&gone);
                let expected: Vec<SeriesId> = brute_force(&series, &matchers)
                    .into_iter()
                    .filter(|id| !gone.iter().any(|(g, _)| g == id))
                    .collect();
                prop_assert_eq!(index.select(&matchers), expected);
            }
        }
    }
}
