//! Label sets: the identity of a series.
//!
//! A [`Labels`] is a sorted, duplicate-free list of name/value pairs. Names and values are
//! `Arc<str>` so that label sets handed out by the head share the interned strings instead of
//! copying them (see [`crate::intern`]); cloning a label set is a handful of reference-count
//! bumps. The query evaluator builds new label sets (dropping `__name__`, keeping `by` labels)
//! from the same strings, so no label text is ever copied on the query path either.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

impl Label {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A sorted set of labels with unique names and non-empty values.
///
/// Ordering compares label by label (name, then value), the order Prometheus uses to sort
/// series in query results.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order. Later duplicates replace earlier ones and
    /// empty values are dropped, matching how PromQL treats an empty value as an absent label.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<Arc<str>>,
        V: Into<Arc<str>>,
    {
        let mut builder = LabelsBuilder::default();
        for (name, value) in pairs {
            builder.set(name.into(), value.into());
        }
        builder.build()
    }

    /// Wraps labels the caller has already validated as sorted and unique.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(labels)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.0[i].value)
    }

    /// The value of `__name__`, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// A copy without `__name__`; what PromQL functions and arithmetic return.
    pub fn without_metric_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// A copy without the named labels.
    pub fn without<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.iter().any(|n| n.as_ref() == &*l.name))
                .cloned()
                .collect(),
        )
    }

    /// A copy with only the named labels.
    pub fn keep<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| names.iter().any(|n| n.as_ref() == &*l.name))
                .cloned()
                .collect(),
        )
    }

    /// A builder seeded with this set, for edits that add or replace labels.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.clone(),
        }
    }

    /// A stable 64-bit hash of the label pairs, used to find series and group samples.
    pub fn stable_hash(&self) -> u64 {
        hash_label_pairs(self.0.iter().map(|l| (&*l.name, &*l.value)))
    }

    /// Approximate heap bytes owned by this set's vector (strings are shared and counted by
    /// the interner).
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Label>()
    }
}

/// Hashes label pairs the same way for borrowed (wire) and owned (stored) labels, so the
/// ingest path can look a series up before allocating anything.
pub fn hash_label_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut hasher = foldhash::quality::FixedState::with_seed(0x7461_6368_7973_6361).build_hasher();
    for (name, value) in pairs {
        hasher.write(name.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(value.as_bytes());
        hasher.write_u8(0xfe);
    }
    hasher.finish()
}

use std::hash::BuildHasher;

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.stable_hash());
    }
}

impl fmt::Display for Labels {
    /// Prometheus' notation: `name{a="b", c="d"}`, or `{a="b"}` without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(name) = name {
            f.write_str(name)?;
        }
        let mut rest = self.0.iter().filter(|l| &*l.name != METRIC_NAME).peekable();
        if name.is_some() && rest.peek().is_none() {
            return Ok(());
        }
        f.write_str("{")?;
        let mut first = true;
        for label in rest {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", label.name, &*label.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Edits a label set; `build` sorts and drops empty values.
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: Arc<str>, value: Arc<str>) -> &mut Self {
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(existing) => existing.value = value,
            None => self.labels.push(Label { name, value }),
        }
        self
    }

    pub fn delete(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| &*l.name != name);
        self
    }

    pub fn build(mut self) -> Labels {
        self.labels.retain(|l| !l.value.is_empty());
        self.labels.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(self.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_and_drops_empty_values() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels.as_slice()[0].name.as_ref(), "a");
        assert_eq!(labels.get("b"), Some("2"));
        assert_eq!(labels.get("c"), None);
    }

    #[test]
    fn display_matches_prometheus_notation() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        assert_eq!(labels.to_string(), r#"up{job="x"}"#);
        assert_eq!(Labels::from_pairs([("__name__", "up")]).to_string(), "up");
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn hash_is_equal_for_borrowed_and_owned_pairs() {
        let labels = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let borrowed = hash_label_pairs([("a", "1"), ("b", "2")].into_iter());
        assert_eq!(labels.stable_hash(), borrowed);
        let shifted = hash_label_pairs([("a", "12"), ("b", "")].into_iter());
        assert_ne!(borrowed, shifted);
    }
}
