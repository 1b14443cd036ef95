//! Label sets as the evaluator passes them around, and grouping by label subsets.
//!
//! The hot path of a query like `sum by (pod) (rate(x[5m]))` touches every series at every
//! step, so nothing here allocates per sample, and after a range query's first step nothing
//! even reads label strings (which, spread over the heap, cost a cache miss each):
//!
//! - [`SeriesLabels`] is a sample's labels: a shared reference to a selector's label table (or
//!   to labels built during evaluation), a flag for "without `__name__`" (so name-dropping is a
//!   flag flip, not a copy) and, for selected series, a dense id that is the same at every step.
//! - [`Keyer`] hashes and compares a label subset (`by`, `without`, `on`, `ignoring`) in place.
//! - [`KeyCache`] turns labels into a dense key id through a [`Keyer`]: a 64-bit hash looked up
//!   in a [`ChainedIndex`] (collisions confirmed by comparing real labels), remembered per series
//!   id so later steps are an array lookup. [`StepSlots`] then maps key ids to per-step data.

use std::cell::Cell;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use tachyscale_tsdb::labels::hash_label_pairs;
use tachyscale_tsdb::{Label, Labels, METRIC_NAME};

use crate::error::EvalError;
use crate::gofmt::quote_go_string;

/// Marks labels that do not belong to a selected series (built during evaluation).
const NO_ID: u32 = u32::MAX;

/// Hands out the series ids of one query: to selected series, and to the output series of
/// aggregations, whose labels also stay the same from step to step.
#[derive(Clone, Default)]
pub(crate) struct SeriesIds(Rc<Cell<u32>>);

impl SeriesIds {
    /// A fresh id, or `NO_ID` (no caching, still correct) once 2^32 - 1 are used up.
    pub(crate) fn next(&self) -> u32 {
        let id = self.0.get();
        if id != NO_ID {
            self.0.set(id + 1);
        }
        id
    }
}

/// Where a sample's labels live.
#[derive(Clone, Debug)]
enum Source {
    /// Built during evaluation.
    Owned(Rc<Labels>),
    /// Entry `.1` of a selector's label table. Cloning bumps the table's (hot) reference
    /// count rather than touching the series' own memory, which matters at 100k series a step.
    Table(Rc<[Labels]>, u32),
}

/// The labels of one sample in an intermediate vector.
#[derive(Clone, Debug)]
pub(crate) struct SeriesLabels {
    source: Source,
    /// When set, `__name__` is logically absent.
    without_name: bool,
    /// The selected series these labels belong to, or `NO_ID`.
    id: u32,
}

impl SeriesLabels {
    pub(crate) fn new(labels: Rc<Labels>) -> Self {
        SeriesLabels {
            source: Source::Owned(labels),
            without_name: false,
            id: NO_ID,
        }
    }

    /// Labels that are the same whenever `id` is (an aggregation's output for one group).
    pub(crate) fn shared(labels: Rc<Labels>, id: u32) -> Self {
        SeriesLabels {
            source: Source::Owned(labels),
            without_name: false,
            id,
        }
    }

    /// The labels of selected series `id`, entry `index` of `table`; equal ids must mean
    /// equal labels within a query.
    pub(crate) fn in_table(table: &Rc<[Labels]>, index: usize, id: u32) -> Self {
        debug_assert!(index < table.len());
        SeriesLabels {
            source: Source::Table(Rc::clone(table), index as u32),
            without_name: false,
            id,
        }
    }

    fn labels(&self) -> &Labels {
        match &self.source {
            Source::Owned(labels) => labels,
            Source::Table(table, index) => &table[*index as usize],
        }
    }

    /// A dense index identifying these exact visible labels across steps, if they belong to
    /// a selected series.
    fn slot(&self) -> Option<usize> {
        (self.id != NO_ID).then(|| self.id as usize * 2 + usize::from(self.without_name))
    }

    pub(crate) fn owned(labels: Labels) -> Self {
        SeriesLabels::new(Rc::new(labels))
    }

    pub(crate) fn empty() -> Self {
        SeriesLabels::owned(Labels::empty())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Label> + '_ {
        let skip_name = self.without_name;
        self.labels()
            .iter()
            .filter(move |l| !(skip_name && &*l.name == METRIC_NAME))
    }

    pub(crate) fn get_label(&self, name: &str) -> Option<&Label> {
        if self.without_name && name == METRIC_NAME {
            return None;
        }
        let slice = self.labels().as_slice();
        slice
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &slice[i])
    }

    fn contains_name(labels: &Labels) -> bool {
        // `__name__` sorts before lowercase names, so it is nearly always first.
        match labels.as_slice().first() {
            None => false,
            Some(first) => match (*first.name).cmp(METRIC_NAME) {
                std::cmp::Ordering::Equal => true,
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Less => labels.get(METRIC_NAME).is_some(),
            },
        }
    }

    /// Drops `__name__` without checking whether there is one.
    pub(crate) fn hide_name(&mut self) {
        self.without_name = true;
    }

    /// Drops `__name__`; returns whether there was one, i.e. whether labels may now collide.
    pub(crate) fn drop_name(&mut self) -> bool {
        if self.without_name {
            return false;
        }
        self.without_name = true;
        Self::contains_name(self.labels())
    }

    /// The same value as [`Labels::stable_hash`] of the visible labels.
    pub(crate) fn hash(&self) -> u64 {
        hash_label_pairs(self.iter().map(|l| (&*l.name, &*l.value)))
    }

    pub(crate) fn same_as(&self, other: &SeriesLabels) -> bool {
        let same_source = match (&self.source, &other.source) {
            (Source::Owned(a), Source::Owned(b)) => Rc::ptr_eq(a, b),
            (Source::Table(a, i), Source::Table(b, j)) => Rc::ptr_eq(a, b) && i == j,
            _ => false,
        };
        if same_source && self.without_name == other.without_name {
            return true;
        }
        self.iter().eq(other.iter())
    }

    /// A standalone label set, for results.
    pub(crate) fn to_labels(&self) -> Labels {
        let labels = self.labels();
        if self.without_name && Self::contains_name(labels) {
            return labels.without_metric_name();
        }
        labels.clone()
    }

    /// Like [`SeriesLabels::to_labels`], reusing the allocation when nothing else holds it.
    pub(crate) fn into_labels(self) -> Labels {
        if self.without_name && Self::contains_name(self.labels()) {
            return self.labels().without_metric_name();
        }
        match self.source {
            Source::Owned(labels) => Rc::try_unwrap(labels).unwrap_or_else(|rc| (*rc).clone()),
            Source::Table(table, index) => table[index as usize].clone(),
        }
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

    /// All visible labels: for telling series apart.
    pub(crate) fn identity() -> Self {
        Keyer::except(&[])
    }

    /// Everything except the listed labels and `__name__` (`without`, `ignoring`, and the
    /// default matching of binary operators).
    pub(crate) fn except_with_name(names: &[String]) -> Self {
        let mut all = names.to_vec();
        all.push(METRIC_NAME.to_string());
        Keyer::except(&all)
    }

    /// The visible labels that belong to the key, in label order.
    pub(crate) fn key_iter<'a>(
        &'a self,
        labels: &'a SeriesLabels,
    ) -> impl Iterator<Item = &'a Label> + 'a {
        let only = self
            .keep
            .then(|| self.names.iter().filter_map(|n| labels.get_label(n)));
        let except = (!self.keep).then(|| {
            labels.iter().filter(|l| {
                self.names
                    .binary_search_by(|n| n.as_str().cmp(&*l.name))
                    .is_err()
            })
        });
        only.into_iter()
            .flatten()
            .chain(except.into_iter().flatten())
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
/// parallel `Vec`.
#[derive(Default)]
pub(crate) struct ChainedIndex {
    heads: hashbrown::HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    next: Vec<u32>,
}

impl ChainedIndex {
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

/// Most `by`/`on` labels for which [`KeyCache`] gathers a key without allocating.
const INLINE_KEY_LABELS: usize = 8;

/// Dense ids for the distinct keys (per a [`Keyer`]) of the labels it is shown, kept across
/// evaluation steps.
pub(crate) struct KeyCache {
    keyer: Keyer,
    /// Per series slot: key id + 1, or 0 when not yet known.
    by_slot: Vec<u32>,
    /// Per key: labels that have it, for confirming hash matches.
    reps: Vec<SeriesLabels>,
    /// Per key: the key as a label set, built on first use.
    materialized: Vec<Option<Rc<Labels>>>,
    index: ChainedIndex,
}

impl KeyCache {
    pub(crate) fn new(keyer: Keyer) -> Self {
        KeyCache {
            keyer,
            by_slot: Vec::new(),
            reps: Vec::new(),
            materialized: Vec::new(),
            index: ChainedIndex::default(),
        }
    }

    pub(crate) fn keyer(&self) -> &Keyer {
        &self.keyer
    }

    /// The id of `labels`' key.
    pub(crate) fn key_id(&mut self, labels: &SeriesLabels) -> usize {
        let slot = labels.slot();
        if let Some(known) = slot.and_then(|s| self.by_slot.get(s)).filter(|k| **k != 0) {
            return *known as usize - 1;
        }
        let key = if self.keyer.keep && self.keyer.names.len() <= INLINE_KEY_LABELS {
            self.find_or_add_small(labels)
        } else {
            self.find_or_add(labels)
        };
        if let Some(s) = slot {
            if s >= self.by_slot.len() {
                self.by_slot.resize(s + 1, 0);
            }
            self.by_slot[s] = u32::try_from(key + 1).expect("fewer than 2^32 keys");
        }
        key
    }

    fn find_or_add(&mut self, labels: &SeriesLabels) -> usize {
        let h = self.keyer.hash(labels);
        let (keyer, reps) = (&self.keyer, &self.reps);
        match self.index.find(h, |k| keyer.same_key(&reps[k], labels)) {
            Some(k) => k,
            None => {
                self.reps.push(labels.clone());
                self.materialized.push(None);
                self.index.insert(h)
            }
        }
    }

    /// [`KeyCache::find_or_add`] for a short `by`/`on` list: looks each key label up once and
    /// compares against the key's label set, which is built when the key is first seen.
    fn find_or_add_small(&mut self, labels: &SeriesLabels) -> usize {
        let mut found: [Option<&Label>; INLINE_KEY_LABELS] = [None; INLINE_KEY_LABELS];
        let mut n = 0;
        for name in &self.keyer.names {
            if let Some(l) = labels.get_label(name) {
                found[n] = Some(l);
                n += 1;
            }
        }
        let key_labels = || found[..n].iter().flatten().copied();
        let h = hash_label_pairs(key_labels().map(|l| (&*l.name, &*l.value)));
        let materialized = &self.materialized;
        let existing = self.index.find(h, |k| {
            materialized[k]
                .as_ref()
                .is_some_and(|m| m.iter().eq(key_labels()))
        });
        match existing {
            Some(k) => k,
            None => {
                let key = Labels::from_sorted(key_labels().cloned().collect());
                self.reps.push(labels.clone());
                self.materialized.push(Some(Rc::new(key)));
                self.index.insert(h)
            }
        }
    }

    /// Labels seen with key `key`.
    pub(crate) fn rep(&self, key: usize) -> &SeriesLabels {
        &self.reps[key]
    }

    /// Key `key` as a shared label set (only the key's labels).
    pub(crate) fn key_labels(&mut self, key: usize) -> Rc<Labels> {
        if let Some(labels) = &self.materialized[key] {
            return Rc::clone(labels);
        }
        let labels = Rc::new(self.keyer.key_labels(&self.reps[key]));
        self.materialized[key] = Some(Rc::clone(&labels));
        labels
    }
}

/// A map from key ids to a `u32` that is emptied by starting a new step, in O(1).
#[derive(Default)]
pub(crate) struct StepSlots {
    step: u32,
    stamps: Vec<u32>,
    values: Vec<u32>,
}

impl StepSlots {
    pub(crate) fn next_step(&mut self) {
        self.step = self.step.wrapping_add(1);
        if self.step == 0 {
            self.stamps.fill(0);
            self.step = 1;
        }
    }

    pub(crate) fn get(&self, key: usize) -> Option<usize> {
        match self.stamps.get(key) {
            Some(stamp) if *stamp == self.step && self.step != 0 => Some(self.values[key] as usize),
            _ => None,
        }
    }

    pub(crate) fn set(&mut self, key: usize, value: usize) {
        if key >= self.stamps.len() {
            self.stamps.resize(key + 1, 0);
            self.values.resize(key + 1, 0);
        }
        self.stamps[key] = self.step;
        self.values[key] = u32::try_from(value).expect("fewer than 2^32 samples per step");
    }
}

/// Prometheus' `ContainsSameLabelset` check, run after operations that drop `__name__`.
pub(crate) struct Deduper {
    keys: KeyCache,
    seen: StepSlots,
}

impl Default for Deduper {
    fn default() -> Self {
        Deduper {
            keys: KeyCache::new(Keyer::identity()),
            seen: StepSlots::default(),
        }
    }
}

impl Deduper {
    /// Fails if two of `labels` are identical.
    pub(crate) fn check<'a>(
        &mut self,
        labels: impl Iterator<Item = &'a SeriesLabels>,
    ) -> Result<(), EvalError> {
        self.seen.next_step();
        for l in labels {
            let key = self.keys.key_id(l);
            if self.seen.get(key).is_some() {
                return Err(EvalError::DuplicateLabelset);
            }
            self.seen.set(key, 0);
        }
        Ok(())
    }
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
        assert_eq!(
            by.key_labels(&l),
            Labels::from_pairs([("a", "1"), ("c", "3")])
        );
        let without = Keyer::except_with_name(&["b".into()]);
        assert_eq!(
            without.key_labels(&l),
            Labels::from_pairs([("a", "1"), ("c", "3")])
        );
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
    }

    #[test]
    fn deduper_detects_identical_label_sets() {
        let mut dedupe = Deduper::default();
        let mut a = sl(&[("__name__", "a"), ("x", "1")]);
        let mut b = sl(&[("__name__", "b"), ("x", "1")]);
        assert!(dedupe.check([&a, &b].into_iter()).is_ok());
        a.drop_name();
        b.drop_name();
        assert_eq!(
            dedupe.check([&a, &b].into_iter()),
            Err(EvalError::DuplicateLabelset)
        );
        assert!(
            dedupe.check([&a].into_iter()).is_ok(),
            "a new step starts empty"
        );
    }

    #[test]
    fn key_cache_remembers_series_ids() {
        let table: Rc<[Labels]> = Rc::from(vec![
            Labels::from_pairs([("__name__", "m"), ("a", "1"), ("b", "2")]),
            Labels::from_pairs([("a", "1")]),
        ]);
        let mut cache = KeyCache::new(Keyer::only(&["a".into()]));
        let first = SeriesLabels::in_table(&table, 0, 7);
        let other = SeriesLabels::in_table(&table, 1, 8);
        let k = cache.key_id(&first);
        assert_eq!(cache.key_id(&other), k, "same key, different series");
        assert_eq!(cache.key_id(&first), k, "cached by id");
        let third = sl(&[("a", "2")]);
        assert_ne!(cache.key_id(&third), k);
        assert_eq!(*cache.key_labels(k), Labels::from_pairs([("a", "1")]));
        let mut named = first.clone();
        named.drop_name();
        assert_eq!(cache.key_id(&named), k, "the flag gets its own slot");
    }

    #[test]
    fn step_slots_forget_on_new_step() {
        let mut slots = StepSlots::default();
        slots.next_step();
        slots.set(3, 9);
        assert_eq!(slots.get(3), Some(9));
        assert_eq!(slots.get(2), None);
        slots.next_step();
        assert_eq!(slots.get(3), None);
    }

    #[test]
    fn go_label_strings_include_the_name() {
        let l = Labels::from_pairs([("__name__", "up"), ("a", "x\"y")]);
        assert_eq!(go_labels_string(&l), r#"{__name__="up", a="x\"y"}"#);
    }
}
