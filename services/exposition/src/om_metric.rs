//! The parts of an OpenMetrics family below the family: which MetricPoint part a sample is
//! (its suffix), which metric it belongs to (its group), and the histogram rules that need a
//! whole point.
//!
//! A group is a sample's labels minus the one label that varies within a metric: `le` on
//! histogram buckets, `quantile` on summary quantiles, the family-name label on statesets
//! (and, following the reference parser, all of an info family is one group). Groups are
//! compared by an order-independent hash — the wrapping sum of per-label hashes — and, on
//! every hash match, exactly, so label order never matters and a collision can only cost a
//! comparison, never a wrong verdict.

use crate::error::{fail, ErrorKind, Fail};
use crate::exposition::{Ctx, LabelRec};
use crate::scan::hash_bytes;
use crate::MetricType;

/// Which part of a MetricPoint a sample is, by its name's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suffix {
    Bare,
    Total,
    Created,
    Bucket,
    Count,
    Sum,
    Gcount,
    Gsum,
    Info,
}

impl Suffix {
    /// How error messages name the sample (a bare summary sample is a quantile).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Suffix::Bare => "quantile",
            Suffix::Total => "_total",
            Suffix::Created => "_created",
            Suffix::Bucket => "_bucket",
            Suffix::Count => "_count",
            Suffix::Sum => "_sum",
            Suffix::Gcount => "_gcount",
            Suffix::Gsum => "_gsum",
            Suffix::Info => "_info",
        }
    }

    /// The suffix if a family of `kind` may have a sample ending in `s`.
    pub(crate) fn allowed(kind: MetricType, s: &[u8]) -> Option<Suffix> {
        let suffix = match s {
            b"" => Suffix::Bare,
            b"_total" => Suffix::Total,
            b"_created" => Suffix::Created,
            b"_bucket" => Suffix::Bucket,
            b"_count" => Suffix::Count,
            b"_sum" => Suffix::Sum,
            b"_gcount" => Suffix::Gcount,
            b"_gsum" => Suffix::Gsum,
            b"_info" => Suffix::Info,
            _ => return None,
        };
        let ok = match kind {
            MetricType::Counter => matches!(suffix, Suffix::Total | Suffix::Created),
            MetricType::Summary => matches!(
                suffix,
                Suffix::Bare | Suffix::Count | Suffix::Sum | Suffix::Created
            ),
            MetricType::Histogram => matches!(
                suffix,
                Suffix::Bucket | Suffix::Count | Suffix::Sum | Suffix::Created
            ),
            MetricType::GaugeHistogram => {
                matches!(suffix, Suffix::Bucket | Suffix::Gcount | Suffix::Gsum)
            }
            MetricType::Info => suffix == Suffix::Info,
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => {
                suffix == Suffix::Bare
            }
        };
        ok.then_some(suffix)
    }
}

/// Which label a group ignores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    Nothing,
    /// Info: every sample of the family is one group.
    All,
    Le,
    Quantile,
    FamilyName,
}

impl Skip {
    pub(crate) fn for_sample(kind: MetricType, suffix: Suffix) -> Skip {
        match (kind, suffix) {
            (MetricType::Info, _) => Skip::All,
            (MetricType::Summary, Suffix::Bare) => Skip::Quantile,
            (MetricType::StateSet, _) => Skip::FamilyName,
            (MetricType::Histogram | MetricType::GaugeHistogram, Suffix::Bucket) => Skip::Le,
            _ => Skip::Nothing,
        }
    }
}

pub(crate) fn is_histogram(kind: MetricType) -> bool {
    matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram)
}

/// A histogram MetricPoint being accumulated.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Point {
    pub open: bool,
    /// Line of its latest sample, for errors.
    offset: usize,
    last_le: Option<f64>,
    last_value: f64,
    count: Option<f64>,
    has_sum: bool,
    has_gsum: bool,
    negative_buckets: bool,
    negative_gsum: bool,
}

impl Point {
    /// A point opened by its first sample.
    pub(crate) fn open() -> Point {
        Point {
            open: true,
            ..Point::default()
        }
    }

    /// Adds one sample of the point; `le` is the parsed bound of a `_bucket`.
    pub(crate) fn add(
        &mut self,
        suffix: Suffix,
        le: Option<f64>,
        v: f64,
        offset: usize,
    ) -> Result<(), Fail> {
        self.offset = offset;
        match suffix {
            Suffix::Bucket => {
                let le = le.unwrap_or(f64::NAN);
                if le < 0.0 {
                    self.negative_buckets = true;
                }
                if self.last_le.is_some_and(|last| le <= last) {
                    return Err(fail(offset, ErrorKind::BucketsNotSorted));
                }
                if v < self.last_value {
                    return Err(fail(offset, ErrorKind::BucketsNotCumulative));
                }
                self.last_le = Some(le);
                self.last_value = v;
            }
            Suffix::Count | Suffix::Gcount => self.count = Some(v),
            Suffix::Sum => self.has_sum = true,
            Suffix::Gsum => {
                self.has_gsum = true;
                self.negative_gsum |= v < 0.0;
            }
            _ => {}
        }
        Ok(())
    }

    /// The histogram rules that need the whole point.
    pub(crate) fn check(&self, kind: MetricType) -> Result<(), Fail> {
        let (count_name, sum_name) = if kind == MetricType::GaugeHistogram {
            ("_gcount", "_gsum")
        } else {
            ("_count", "_sum")
        };
        let err = |kind: ErrorKind| Err(fail(self.offset, kind));
        if self.last_le != Some(f64::INFINITY) {
            return err(ErrorKind::MissingInfBucket);
        }
        if self.count.is_some_and(|count| count != self.last_value) {
            return err(ErrorKind::CountMismatch { count: count_name });
        }
        if (self.has_sum || self.has_gsum) && self.count.is_none() {
            return err(ErrorKind::IncompleteHistogram {
                present: sum_name,
                missing: count_name,
            });
        }
        if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            return err(ErrorKind::IncompleteHistogram {
                present: count_name,
                missing: sum_name,
            });
        }
        if self.negative_buckets && self.has_sum {
            return err(ErrorKind::SumWithNegativeBuckets);
        }
        if !self.negative_buckets && self.negative_gsum {
            return err(ErrorKind::NegativeGsum);
        }
        Ok(())
    }
}

fn skipped(skip: Skip, family_name: &[u8]) -> Option<&[u8]> {
    match skip {
        Skip::Nothing | Skip::All => None,
        Skip::Le => Some(b"le"),
        Skip::Quantile => Some(b"quantile"),
        Skip::FamilyName => Some(family_name),
    }
}

/// Order-independent hash of a group's labels.
pub(crate) fn group_hash(
    ctx: &Ctx<'_>,
    labels: &[LabelRec],
    skip: Skip,
    family_name: &[u8],
) -> u64 {
    if skip == Skip::All {
        return 0;
    }
    let ignored = skipped(skip, family_name);
    labels
        .iter()
        .map(|l| (ctx.span_bytes(l.name), l))
        .filter(|&(name, _)| Some(name) != ignored)
        .fold(0u64, |acc, (name, l)| {
            acc.wrapping_add(hash_bytes(hash_bytes(0, name), ctx.str_bytes(l.value)))
        })
}

/// A sample's (name, value) pairs without the `ignored` label.
fn kept_labels<'a>(
    ctx: &'a Ctx<'_>,
    labels: &'a [LabelRec],
    ignored: Option<&'a [u8]>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    labels
        .iter()
        .map(|l| (ctx.span_bytes(l.name), ctx.str_bytes(l.value)))
        .filter(move |(name, _)| Some(*name) != ignored)
}

/// Whether two samples' labels are the same group (exactly, in any order). Labels usually
/// come in the same order, which is checked first in one pass; otherwise small sets are
/// compared pairwise and large ones sorted.
pub(crate) fn same_group(
    ctx: &Ctx<'_>,
    a: &[LabelRec],
    a_skip: Skip,
    b: &[LabelRec],
    b_skip: Skip,
    family_name: &[u8],
) -> bool {
    if a_skip == Skip::All || b_skip == Skip::All {
        return a_skip == b_skip;
    }
    let (a_ignored, b_ignored) = (skipped(a_skip, family_name), skipped(b_skip, family_name));
    let kept = |labels, ignored| kept_labels(ctx, labels, ignored);
    if kept(a, a_ignored).count() != kept(b, b_ignored).count() {
        return false;
    }
    if kept(a, a_ignored).eq(kept(b, b_ignored)) {
        return true;
    }
    if a.len() <= 32 {
        // Names are unique within a sample, so matching each of `a` once suffices.
        return kept(a, a_ignored).all(|la| kept(b, b_ignored).any(|lb| lb == la));
    }
    let mut sorted_a: Vec<_> = kept(a, a_ignored).collect();
    let mut sorted_b: Vec<_> = kept(b, b_ignored).collect();
    sorted_a.sort_unstable();
    sorted_b.sort_unstable();
    sorted_a == sorted_b
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_follow_the_type() {
        assert_eq!(
            Suffix::allowed(MetricType::Counter, b"_total"),
            Some(Suffix::Total)
        );
        assert_eq!(Suffix::allowed(MetricType::Counter, b""), None);
        assert_eq!(Suffix::allowed(MetricType::Gauge, b"_total"), None);
        assert_eq!(
            Suffix::allowed(MetricType::GaugeHistogram, b"_gsum"),
            Some(Suffix::Gsum)
        );
        assert_eq!(Suffix::allowed(MetricType::GaugeHistogram, b"_sum"), None);
        assert_eq!(
            Suffix::allowed(MetricType::Summary, b""),
            Some(Suffix::Bare)
        );
        assert_eq!(Suffix::allowed(MetricType::Info, b""), None);
    }

    #[test]
    fn point_needs_inf_bucket_and_matching_count() {
        let mut p = Point::open();
        p.add(Suffix::Bucket, Some(1.0), 1.0, 0).unwrap();
        assert_eq!(
            p.check(MetricType::Histogram).unwrap_err().kind,
            ErrorKind::MissingInfBucket
        );
        p.add(Suffix::Bucket, Some(f64::INFINITY), 2.0, 0).unwrap();
        p.add(Suffix::Count, None, 3.0, 0).unwrap();
        p.add(Suffix::Sum, None, 3.0, 0).unwrap();
        assert_eq!(
            p.check(MetricType::Histogram).unwrap_err().kind,
            ErrorKind::CountMismatch { count: "_count" }
        );
    }

    #[test]
    fn point_buckets_must_increase() {
        let mut p = Point::open();
        p.add(Suffix::Bucket, Some(1.0), 2.0, 0).unwrap();
        let err = p.add(Suffix::Bucket, Some(1.0), 2.0, 0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BucketsNotSorted);
        let err = p.add(Suffix::Bucket, Some(2.0), 1.0, 0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BucketsNotCumulative);
    }

    #[test]
    fn negative_buckets_decide_the_sum_rules() {
        let mut with_sum = Point::open();
        for (le, v) in [(-1.0, 0.0), (f64::INFINITY, 1.0)] {
            with_sum.add(Suffix::Bucket, Some(le), v, 0).unwrap();
        }
        with_sum.add(Suffix::Count, None, 1.0, 0).unwrap();
        with_sum.add(Suffix::Sum, None, 1.0, 0).unwrap();
        assert_eq!(
            with_sum.check(MetricType::Histogram).unwrap_err().kind,
            ErrorKind::SumWithNegativeBuckets
        );
        let mut gauge = Point::open();
        gauge
            .add(Suffix::Bucket, Some(f64::INFINITY), 1.0, 0)
            .unwrap();
        gauge.add(Suffix::Gcount, None, 1.0, 0).unwrap();
        gauge.add(Suffix::Gsum, None, -1.0, 0).unwrap();
        assert_eq!(
            gauge.check(MetricType::GaugeHistogram).unwrap_err().kind,
            ErrorKind::NegativeGsum
        );
    }
}
