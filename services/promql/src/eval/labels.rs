//! Label sets as the evaluator passes them around, and grouping by label subsets.
//!
//! The hot path of a query like `sum by (pod) (rate(x[5m]))` touches every series at every
//! step, so nothing here allocates per sample. An intermediate sample's labels are a shared
//! [`SeriesLabels`]: the series' `Rc<Labels>` plus a flag for "without `__name__`", which makes
//! the name-dropping that most functions and operators do an O(1) flag flip instead of a copy.
//! Grouping (`by`, `without`, `on`, `ignoring`) goes through [`Keyer`], which hashes and compares
//! label subsets in place, and [`ChainedIndex`], a map from those 64-bit hashes to dense entry
//! ids that resolves hash collisions by asking the caller to compare the real labels.

use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use tachyscale_tsdb::labels::hash_label_pairs;
use tachyscale_tsdb::{Label, Labels, METRIC_NAME};

use crate::error::EvalError;
use crate::gomath::quote_go_string;

/// The labels of one sample in an intermediate vector.
#[derive(Clone, Debug)]
pub(crate) struct SeriesLabels {
    labels: Rc<Labels>,
    /// When set, `__name__` is logically absent.
    without_name: bool,
}

impl SeriesLabels {
    pub(crate) fn new(labels: Rc<Labels>) -> Self {
        SeriesLabels {
            labels,
            without_name: false,
        }
    }

    pub(crate) fn owned(labels: Labels) -> Self {
        SeriesLabels::new(Rc::new(labels))
    }

    pub(crate) fn empty() -> Self {
        SeriesLabels::owned(Labels::empty())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Label> + '_ {
        let skip_name = self.without_name;
        self.labels
            .iter()
            .filter(move |l| !(skip_name && &*l.name == METRIC_NAME))
    }

    pub(crate) fn get_label(&self, name: &str) -> Option<&Label> {
        if self.without_name && name == METRIC_NAME {
            return None;
        }
        let slice = self.labels.as_slice();
        slice
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &slice[i])
    }

    fn has_name(&self) -> bool {
        !self.without_name && self.labels.get(METRIC_NAME).is_some()
    }

    /// Drops `__name__`; returns whether there was one, i.e. whether labels may now collide.
    pub(crate) fn drop_name(&mut self) -> bool {
        let had = self.has_name();
        if had {
            self.without_name = true;
        }
        had
    }

    /// The same value as [`Labels::stable_hash`] of the visible labels.
    pub(crate) fn hash(&self) -> u64 {
        hash_label_pairs(self.iter().map(|l| (&*l.name, &*l.value)))
    }

    pub(crate) fn same_as(&self, other: &SeriesLabels) -> bool {
        if Rc::ptr_eq(&self.labels, &other.labels) && self.without_name == other.without_name {
            return true;
        }
        self.iter().eq(other.iter())
    }

    /// A standalone label set, for results.
    pub(crate) fn to_labels(&self) -> Labels {
        if self.without_name && self.labels.get(METRIC_NAME).is_some() {
            return self.labels.without_metric_name();
        }
        (*self.labels).clone()
    }

    /// Like [`SeriesLabels::to_labels`], reusing the allocation when nothing else holds it.
    pub(crate) fn into_labels(self) -> Labels {
        if self.without_name && self.labels.get(METRIC_NAME).is_some() {
            return self.labels.without_metric_name();
        }
        Rc::try_unwrap(self.labels).unwrap_or_else(|rc| (*rc).clone())
    }
}

/// Prometheus' `labels.Labels.String()`: `{__name__="x", a="b"}`, used in error messages.
pub(crate) fn go_labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        out.push_str(&quote_go_string(&l.value));
    }
    out.push('}');
    out
}

/// A label subset used as a grouping or matching key.
#[derive(Clone, Debug)]
pub(crate) struct Keyer {
    /// `true`: keep only `names`; `false`: keep everything except `names`.
    keep: bool,
    /// Sorted and deduplicated, so kept labels come out in label order.
    names: Vec<String>,
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    names
}

impl Keyer {
    /// Only the listed labels (`by`, `on`); `__name__` only if listed.
    pub(crate) fn only(names: &[String]) -> Self {
        Keyer {
            keep: true,
            names: sorted(names),
        }
    }

    /// Everything except the listed labels, exactly.
    pub(crate) fn except(names: &[String]) -> Self {
        Keyer {
            keep: false,
            names: sorted(names),
        }
    }

    /// Everything except the listed labels and `__name__` (`without`, `ignoring`, and the
    /// default matching of binary operators).
    pub(crate) fn except_with_name(names: &[String]) -> Self {
        let mut all = names.to_vec();
        all.push(METRIC_NAME.to_string());
        Keyer::except(&all)
    }

    /// The visible labels that belong to the key, in label order.
    pub(crate) fn key_iter<'a>(&'a self, labels: &'a SeriesLabels) -> impl Iterator<Item = &'a Label> + 'a {
        let only = self.keep.then(|| self.names.iter().filter_map(|n| labels.get_label(n)));
        let except = (!self.keep).then(|| {
            labels
                .iter()
                .filter(|l| self.names.binary_search_by(|n| n.as_str().cmp(&*l.name)).is_err())
        });
        only.into_iter().flatten().chain(except.into_iter().flatten())
    }

    pub(crate) fn hash(&self, labels: &SeriesLabels) -> u64 {
        hash_label_pairs(self.key_iter(labels).map(|l| (&*l.name, &*l.value)))
    }

    pub(crate) fn same_key(&self, a: &SeriesLabels, b: &SeriesLabels) -> bool {
        self.key_iter(a).eq(self.key_iter(b))
    }

    pub(crate) fn key_labels(&self, labels: &SeriesLabels) -> Labels {
        Labels::from_sorted(self.key_iter(labels).cloned().collect())
    }
}

/// Hasher for keys that already are good 64-bit hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const NO_ENTRY: u32 = u32::MAX;

/// Dense entry ids by 64-bit hash, with collision chains the caller resolves.
///
/// Entries are numbered 0, 1, 2, ... in insertion order, so callers keep their payload in a
/// parallel `Vec` and reuse both across evaluation steps via [`ChainedIndex::clear`].
#[derive(Default)]
pub(crate) struct ChainedIndex {
    heads: hashbrown::HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    next: Vec<u32>,
}

impl ChainedIndex {
    pub(crate) fn clear(&mut self) {
        self.heads.clear();
        self.next.clear();
    }

    /// The entry under `hash` for which `is_match(entry)` holds.
    pub(crate) fn find(&self, hash: u64, mut is_match: impl FnMut(usize) -> bool) -> Option<usize> {
        let mut cur = *self.heads.get(&hash)?;
        while cur != NO_ENTRY {
            if is_match(cur as usize) {
                return Some(cur as usize);
            }
            cur = self.next[cur as usize];
        }
        None
    }

    /// Adds an entry under `hash` and returns its id.
    pub(crate) fn insert(&mut self, hash: u64) -> usize {
        let id = u32::try_from(self.next.len()).expect("fewer than 2^32 entries per vector");
        let previous = self.heads.insert(hash, id).unwrap_or(NO_ENTRY);
        self.next.push(previous);
        id as usize
    }
}

/// Fails if two entries have identical labels (Prometheus' `ContainsSameLabelset` check).
pub(crate) fn ensure_unique<'a>(
    labels: impl Iterator<Item = &'a SeriesLabels>,
    index: &mut ChainedIndex,
) -> Result<(), EvalError> {
    index.clear();
    let all: Vec<&SeriesLabels> = labels.collect();
    for (i, l) in all.iter().enumerate() {
        let h = l.hash();
        if index.find(h, |j| all[j].same_as(l)).is_some() {
            return Err(EvalError::DuplicateLabelset);
        }
        let id = index.insert(h);
        debug_assert_eq!(id, i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sl(pairs: &[(&str, &str)]) -> SeriesLabels {
        SeriesLabels::owned(Labels::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn dropping_the_name_hides_it_everywhere() {
        let mut l = sl(&[("__name__", "up"), ("job", "a")]);
        assert!(l.drop_name());
        assert!(!l.drop_name(), "second drop changes nothing");
        assert!(l.get_label(METRIC_NAME).is_none());
        assert_eq!(l.to_labels(), Labels::from_pairs([("job", "a")]));
        assert_eq!(l.hash(), Labels::from_pairs([("job", "a")]).stable_hash());
        assert!(l.same_as(&sl(&[("job", "a")])));
        assert_eq!(l.into_labels(), Labels::from_pairs([("job", "a")]));
    }

    #[test]
    fn keyers_select_label_subsets() {
        let l = sl(&[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "3")]);
        let by = Keyer::only(&["c".into(), "a".into(), "zz".into()]);
        assert_eq!(by.key_labels(&l), Labels::from_pairs([("a", "1"), ("c", "3")]));
        let without = Keyer::except_with_name(&["b".into()]);
        assert_eq!(without.key_labels(&l), Labels::from_pairs([("a", "1"), ("c", "3")]));
        assert_eq!(by.hash(&l), without.hash(&l));
        assert!(by.same_key(&l, &sl(&[("a", "1"), ("c", "3"), ("d", "4")])));
        let by_name = Keyer::only(&[METRIC_NAME.into()]);
        assert_eq!(by_name.key_labels(&l).len(), 1);
        let except_le = Keyer::except(&["le".into()]);
        assert_eq!(except_le.key_labels(&l).len(), 4, "keeps __name__");
    }

    #[test]
    fn chained_index_resolves_collisions_by_comparison() {
        let mut index = ChainedIndex::default();
        let values = ["x", "y", "z"];
        for _ in values {
            index.insert(42); // every entry under the same hash
        }
        assert_eq!(index.find(42, |i| values[i] == "y"), Some(1));
        assert_eq!(index.find(42, |i| values[i] == "w"), None);
        assert_eq!(index.find(7, |_| true), None);
        index.clear();
        assert_eq!(index.find(42, |_| true), None);
    }

    #[test]
    fn ensure_unique_detects_identical_label_sets() {
        let mut index = ChainedIndex::default();
        let mut a = sl(&[("__name__", "a"), ("x", "1")]);
        let mut b = sl(&[("__name__", "b"), ("x", "1")]);
        assert!(ensure_unique([&a, &b].into_iter(), &mut index).is_ok());
        a.drop_name();
        b.drop_name();
        assert_eq!(
            ensure_unique([&a, &b].into_iter(), &mut index),
            Err(EvalError::DuplicateLabelset)
        );
    }

    #[test]
    fn go_label_strings_include_the_name() {
        let l = Labels::from_pairs([("__name__", "up"), ("a", "x\"y")]);
        assert_eq!(go_labels_string(&l), r#"{__name__="up", a="x\"y"}"#);
    }
}
