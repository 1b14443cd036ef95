//! The label set that relabeling reads and rewrites.
//!
//! [`LabelSet`] is a `Vec<(String, String)>` kept sorted by name with unique names. That is the
//! smallest structure that gives Prometheus' `labels.Builder` semantics (model/labels,
//! v2.42) without a hash map: label sets are small (a target has tens of labels, a series
//! rarely more than fifteen), binary search over a contiguous vector beats hashing at that
//! size, and the sorted order is the order Prometheus iterates in (`labelmap` writes in that
//! order, so "last writer wins" is reproducible). Callers convert from and to their own
//! representation with [`LabelSet::from_pairs`] / [`LabelSet::iter`] / [`LabelSet::into_vec`].
//!
//! Semantics copied from `labels.Builder`:
//! - reading a missing label gives the empty string;
//! - setting a label to the empty string deletes it.
//!
//! Deviations: a pair with an empty value handed to [`LabelSet::from_pairs`] is kept as given
//! (like the builder's base set) and reads as absent; duplicate names in the input keep the
//! last occurrence (Prometheus leaves them in place, which is invalid anyway).

use std::cmp::Ordering;

/// Reports whether `name` is a valid label name in Prometheus 2.42 (legacy validation,
/// `model.LabelName.IsValid`): `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A set of labels sorted by name, with `labels.Builder` semantics (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSet {
    labels: Vec<(String, String)>,
}

impl LabelSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `capacity` labels.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            labels: Vec::with_capacity(capacity),
        }
    }

    /// Builds a set from `(name, value)` pairs in any order. A later duplicate name replaces an
    /// earlier one; pairs with empty values are kept as given.
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        // Stable sort keeps input order among equal names, so "keep the last" is well defined.
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(String, String)> = Vec::with_capacity(labels.len());
        for pair in labels {
            match deduped.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => deduped.push(pair),
            }
        }
        Self { labels: deduped }
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.labels.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value of `name`, or `""` when the label is absent (as `labels.Builder.Get`).
    pub fn get(&self, name: &str) -> &str {
        match self.position(name) {
            Ok(i) => &self.labels[i].1,
            Err(_) => "",
        }
    }

    /// Whether a label called `name` is present (even with an empty value).
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`; an empty `value` deletes the label (as `labels.Builder.Set`).
    /// Allocates only when something changes.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => {
                let slot = &mut self.labels[i].1;
                if slot != value {
                    value.clone_into(slot);
                }
            }
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(i, (name.to_owned(), value.to_owned())),
        }
    }

    /// Like [`LabelSet::set`] but takes an owned value, saving a copy when the caller already
    /// built one.
    pub fn set_owned(&mut self, name: &str, value: String) {
        match self.position(name) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => self.labels[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(i, (name.to_owned(), value)),
        }
    }

    /// Removes `name` if present.
    pub fn delete(&mut self, name: &str) {
        if let Ok(i) = self.position(name) {
            self.labels.remove(i);
        }
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.labels.retain(|(n, v)| keep(n, v));
    }

    /// Iterates `(name, value)` in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of labels (including any empty-valued ones given to `from_pairs`).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The labels as a sorted slice.
    pub fn as_slice(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The labels as a sorted vector, without copying.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.labels
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for LabelSet {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

impl IntoIterator for LabelSet {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.labels.into_iter()
    }
}

impl PartialOrd for LabelSet {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LabelSet {
    fn cmp(&self, other: &Self) -> Ordering {
        self.labels.cmp(&other.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_and_keeps_last_duplicate() {
        let set = LabelSet::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        let pairs: Vec<_> = set.iter().collect();
        assert_eq!(pairs, vec![("a", "2"), ("b", "3")]);
    }

    #[test]
    fn get_of_missing_label_is_empty() {
        let set = LabelSet::from_pairs([("a", "1")]);
        assert_eq!(set.get("zzz"), "");
        assert_eq!(set.get("a"), "1");
    }

    #[test]
    fn set_empty_value_deletes() {
        let mut set = LabelSet::from_pairs([("a", "1"), ("b", "2")]);
        set.set("a", "");
        assert!(!set.contains("a"));
        set.set_owned("b", String::new());
        assert!(set.is_empty());
        set.set("c", "");
        assert!(
            set.is_empty(),
            "setting a missing label to empty adds nothing"
        );
    }

    #[test]
    fn set_inserts_in_order_and_overwrites() {
        let mut set = LabelSet::new();
        set.set("m", "1");
        set.set("a", "2");
        set.set_owned("z", "3".to_owned());
        set.set("m", "4");
        let pairs: Vec<_> = set.iter().collect();
        assert_eq!(pairs, vec![("a", "2"), ("m", "4"), ("z", "3")]);
    }

    #[test]
    fn empty_values_from_input_read_as_absent_but_are_kept() {
        let set = LabelSet::from_pairs([("a", "")]);
        assert_eq!(set.get("a"), "");
        assert!(set.contains("a"));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn delete_and_retain() {
        let mut set = LabelSet::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
        set.delete("b");
        set.delete("missing");
        set.retain(|n, _| n != "c");
        assert_eq!(set.into_vec(), vec![("a".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn label_name_validity_is_legacy_prometheus() {
        for ok in ["a", "_", "__name__", "A9_b", "_1"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é", "$1", "a b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }
}
