//! OpenMetrics 1.0 rules beyond syntax: families, metric grouping, and per-type values.
//!
//! Follows the OpenMetrics conformance corpus and the reference parser it was written
//! against (`prometheus_client/openmetrics/parser.py`), state machine for state machine:
//!
//! - A family starts with metadata naming a new family, or with a sample whose name is not
//!   one the current family's type allows (counter: `_total`, `_created`; histogram:
//!   `_bucket`, `_count`, `_sum`, `_created`; …; no TYPE yet: the name itself); such a
//!   sample starts an `unknown` family. Metadata for the current family after its first
//!   sample, and a second HELP/TYPE/UNIT, are errors.
//! - When a family ends, every sample name it could produce is registered; meeting one
//!   again — a family reappearing, or `foo_created` as a gauge next to a counter `foo` —
//!   is a name clash. UNIT must be the name's `_unit` suffix, and absent on info/stateset.
//! - Samples form groups (a metric: labels minus `le` on buckets, minus `quantile` on
//!   quantiles, minus the family-name label on statesets; one group for all of an info
//!   family). A group may not come back once another has started; within a group,
//!   timestamps must be all present or all absent and must not go backwards.
//! - Histogram points (a group at one timestamp) are checked when they end: `+Inf` bucket,
//!   sorted `le`, cumulative values, `_count` equal to `+Inf`, `_sum`/`_count` together,
//!   no `_sum` with negative buckets, negative `_gsum` only with negative buckets.
//!
//! Groups are found by an order-independent hash of their labels with an exact comparison
//! on every hash match ([`crate::om_metric`]), so label order does not matter and a hash
//! collision can never reject a good exposition.

use std::collections::HashSet;

use crate::error::{fail, snippet, ErrorKind, Fail};
use crate::exposition::{Ctx, Span};
use crate::float::parse_bound;
use crate::om_metric::{group_hash, is_histogram, same_group, Point, Skip, Suffix};
use crate::scan::{hash_str, is_name_char, Prehashed};
use crate::MetricType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    Help,
    Type,
    Unit,
}

impl Keyword {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Keyword::Help => "HELP",
            Keyword::Type => "TYPE",
            Keyword::Unit => "UNIT",
        }
    }
}

/// A syntactically valid sample line, its labels already stored.
pub(crate) struct SampleLine {
    pub name: Span,
    pub labels: Span,
    pub value: f64,
    /// Seconds (for ordering) and milliseconds.
    pub timestamp: Option<(f64, i64)>,
    pub has_exemplar: bool,
    /// Start of the line, for errors.
    pub offset: usize,
}

/// The previous sample's group.
#[derive(Clone, Copy, Debug)]
struct Prev {
    hash: u64,
    labels: Span,
    skip: Skip,
    ts: Option<f64>,
}

/// The family being read.
#[derive(Clone, Copy, Debug)]
struct Current {
    index: u32,
    name: Span,
    /// From `# TYPE`; `None` (no TYPE yet) behaves as unknown.
    declared: Option<MetricType>,
    first_offset: usize,
    unit_offset: usize,
    samples: u32,
    prev: Option<Prev>,
    point: Point,
}

/// Reusable state of the OpenMetrics rules.
#[derive(Debug, Default)]
pub(crate) struct OmScratch {
    /// Hashes of every sample name finished families can produce.
    seen_names: HashSet<u64, Prehashed>,
    /// (hash, family, suffix) of each registered name, for exact checks on a hash match.
    seen_list: Vec<(u64, u32, &'static str)>,
    name_buf: Vec<u8>,
    /// Group hashes of the current family, and the groups themselves.
    groups: HashSet<u64, Prehashed>,
    group_starts: Vec<(u64, Span, Skip)>,
    current: Option<Current>,
}

impl OmScratch {
    pub(crate) fn reset(&mut self) {
        self.seen_names.clear();
        self.seen_list.clear();
        self.groups.clear();
        self.group_starts.clear();
        self.current = None;
    }

    /// A `# KEYWORD name text` line; `text` is `text_start..end`, the line starts at `line`.
    pub(crate) fn metadata(
        &mut self,
        ctx: &mut Ctx<'_>,
        keyword: Keyword,
        name: Span,
        text_start: usize,
        end: usize,
        line: usize,
    ) -> Result<(), Fail> {
        let b = ctx.body;
        let name_bytes = &b[name.range()];
        let family_name = || snippet(name_bytes);
        let same = self
            .current
            .is_some_and(|c| &b[c.name.range()] == name_bytes);
        if !same {
            self.finish_family(ctx)?;
            let index = ctx.push_family(name, MetricType::Unknown);
            self.current = Some(Current {
                index,
                name,
                declared: None,
                first_offset: line,
                unit_offset: line,
                samples: 0,
                prev: None,
                point: Point::default(),
            });
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        if c.samples > 0 {
            return Err(fail(
                line,
                ErrorKind::MetadataAfterSamples {
                    keyword: keyword.as_str(),
                    family: family_name(),
                },
            ));
        }
        let rec = ctx.store.families[c.index as usize];
        let seen = match keyword {
            Keyword::Help => rec.help_seen,
            Keyword::Type => rec.type_seen,
            Keyword::Unit => rec.unit_seen,
        };
        if seen {
            return Err(fail(
                line,
                ErrorKind::DuplicateMetadata {
                    keyword: keyword.as_str(),
                    family: family_name(),
                },
            ));
        }
        let text = &b[text_start..end];
        let mut rec = rec;
        match keyword {
            Keyword::Help => {
                rec.help_seen = true;
                rec.help = ctx.help(text_start, end, true);
            }
            Keyword::Type => {
                let kind = MetricType::from_openmetrics(text).ok_or_else(|| {
                    fail(
                        text_start,
                        ErrorKind::InvalidType {
                            token: snippet(text),
                        },
                    )
                })?;
                rec.type_seen = true;
                rec.kind = kind;
                c.declared = Some(kind);
            }
            Keyword::Unit => {
                if !text.iter().all(|&ch| is_name_char(ch)) {
                    return Err(fail(
                        text_start,
                        ErrorKind::InvalidMetadata { keyword: "UNIT" },
                    ));
                }
                rec.unit_seen = true;
                rec.unit = (text_start < end).then(|| Span::new(text_start, end));
                c.unit_offset = line;
            }
        }
        ctx.store.families[c.index as usize] = rec;
        Ok(())
    }

    /// Checks a sample against the family rules; returns its family's index.
    pub(crate) fn sample(&mut self, ctx: &mut Ctx<'_>, s: &SampleLine) -> Result<u32, Fail> {
        let b = ctx.body;
        let sample_name = &b[s.name.range()];
        let allowed = self.current.and_then(|c| {
            let kind = c.declared.unwrap_or(MetricType::Unknown);
            Suffix::allowed(kind, sample_name.strip_prefix(&b[c.name.range()])?)
        });
        let suffix = match allowed {
            Some(suffix) => suffix,
            None => {
                self.finish_family(ctx)?;
                let index = ctx.push_family(s.name, MetricType::Unknown);
                let rec = &mut ctx.store.families[index as usize];
                rec.type_seen = true;
                self.current = Some(Current {
                    index,
                    name: s.name,
                    declared: Some(MetricType::Unknown),
                    first_offset: s.offset,
                    unit_offset: s.offset,
                    samples: 0,
                    prev: None,
                    point: Point::default(),
                });
                Suffix::Bare
            }
        };
        let OmScratch {
            groups,
            group_starts,
            current,
            ..
        } = self;
        let Some(c) = current.as_mut() else {
            return Err(fail(s.offset, ErrorKind::InvalidMetricName));
        };
        let kind = c.declared.unwrap_or(MetricType::Unknown);
        let family_name = &b[c.name.range()];
        let labels = &ctx.store.labels[s.labels.range()];
        let label = |name: &[u8]| {
            labels
                .iter()
                .find(|l| &b[l.name.range()] == name)
                .map(|l| ctx.str_bytes(l.value))
        };
        let err = |kind: ErrorKind| fail(s.offset, kind);
        let v = s.value;

        // Labels a type requires or forbids.
        if kind == MetricType::StateSet && label(family_name).is_none() {
            return Err(err(ErrorKind::StatesetMissingLabel {
                family: snippet(family_name),
            }));
        }
        let mut le = None;
        if is_histogram(kind) {
            if suffix == Suffix::Bucket {
                let bound = label(b"le").and_then(parse_bound);
                le = Some(bound.ok_or_else(|| err(ErrorKind::InvalidBucketBound))?);
            } else if label(b"le").is_some() {
                return Err(err(ErrorKind::MisplacedLabel {
                    label: "le",
                    sample: suffix.as_str(),
                }));
            }
        }
        if kind == MetricType::Summary {
            if suffix == Suffix::Bare {
                let q = label(b"quantile").and_then(parse_bound);
                if !q.is_some_and(|q| (0.0..=1.0).contains(&q)) {
                    return Err(err(ErrorKind::InvalidQuantile));
                }
            } else if label(b"quantile").is_some() {
                return Err(err(ErrorKind::MisplacedLabel {
                    label: "quantile",
                    sample: suffix.as_str(),
                }));
            }
        }

        // Grouping and timestamp order.
        let skip = Skip::for_sample(kind, suffix);
        let store_labels = &ctx.store.labels;
        let hash = group_hash(ctx, labels, skip, family_name);
        let ts = s.timestamp.map(|(secs, _)| secs);
        let same = c.prev.is_some_and(|p| {
            p.hash == hash
                && same_group(
                    ctx,
                    &store_labels[p.labels.range()],
                    p.skip,
                    labels,
                    skip,
                    family_name,
                )
        });
        if let (true, Some(p)) = (same, c.prev) {
            if p.ts.is_some() != ts.is_some() {
                return Err(err(ErrorKind::MixedTimestamps));
            }
            if kind != MetricType::Info && p.ts > ts {
                return Err(err(ErrorKind::TimestampOrder));
            }
        } else {
            let seen_before = c.prev.is_some()
                && groups.contains(&hash)
                && group_starts.iter().any(|&(h, other, other_skip)| {
                    h == hash
                        && same_group(
                            ctx,
                            &store_labels[other.range()],
                            other_skip,
                            labels,
                            skip,
                            family_name,
                        )
                });
            if seen_before {
                return Err(err(ErrorKind::InterleavedMetric {
                    family: snippet(family_name),
                }));
            }
            groups.insert(hash);
            group_starts.push((hash, s.labels, skip));
        }

        // Values.
        match (kind, suffix) {
            (MetricType::StateSet, _) if v != 0.0 && v != 1.0 => {
                return Err(err(ErrorKind::InvalidStatesetValue));
            }
            (MetricType::Info, _) if v != 1.0 => return Err(err(ErrorKind::InvalidInfoValue)),
            (MetricType::Summary, Suffix::Bare) if v < 0.0 => {
                return Err(err(ErrorKind::NegativeQuantile));
            }
            _ => {}
        }
        let counter_like = matches!(
            suffix,
            Suffix::Total | Suffix::Sum | Suffix::Count | Suffix::Bucket | Suffix::Gcount
        );
        if v.is_nan() && (counter_like || suffix == Suffix::Gsum) {
            return Err(err(ErrorKind::InvalidCounterValue {
                sample: suffix.as_str(),
                problem: "NaN",
            }));
        }
        if v < 0.0 && counter_like {
            return Err(err(ErrorKind::InvalidCounterValue {
                sample: suffix.as_str(),
                problem: "negative",
            }));
        }
        // Only histograms and summaries have these suffixes.
        let must_be_integer = matches!(suffix, Suffix::Bucket | Suffix::Count | Suffix::Gcount);
        if must_be_integer && (!v.is_finite() || v.fract() != 0.0) {
            return Err(err(ErrorKind::NonIntegerCount {
                sample: suffix.as_str(),
            }));
        }
        if suffix == Suffix::Created && !v.is_finite() {
            return Err(err(ErrorKind::InvalidCreated));
        }
        let exemplar_ok = (is_histogram(kind) && suffix == Suffix::Bucket)
            || (kind == MetricType::Counter && suffix == Suffix::Total);
        if s.has_exemplar && !exemplar_ok {
            return Err(err(ErrorKind::ExemplarNotAllowed));
        }

        // Histogram points.
        if is_histogram(kind) {
            let prev_ts = c.prev.map(|p| p.ts);
            if !same || prev_ts != Some(ts) {
                if c.point.open {
                    c.point.check(kind)?;
                }
                c.point = Point::open();
            }
            c.point.add(suffix, le, v, s.offset)?;
        }

        c.prev = Some(Prev {
            hash,
            labels: s.labels,
            skip,
            ts,
        });
        c.samples += 1;
        let index = c.index;
        ctx.store.families[index as usize].samples += 1;
        Ok(index)
    }

    /// Ends the current family: closes its last histogram point, registers its sample
    /// names (refusing clashes) and checks its unit.
    pub(crate) fn finish_family(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Fail> {
        let Some(c) = self.current.take() else {
            return Ok(());
        };
        self.groups.clear();
        self.group_starts.clear();
        let kind = c.declared.unwrap_or(MetricType::Unknown);
        if is_histogram(kind) && c.point.open {
            c.point.check(kind)?;
        }

        let b = ctx.body;
        let name = &b[c.name.range()];
        let suffixes = kind.openmetrics_suffixes();
        let bare: &[&'static str] = if suffixes.contains(&"") { &[] } else { &[""] };
        for &suffix in suffixes.iter().chain(bare) {
            self.name_buf.clear();
            self.name_buf.extend_from_slice(name);
            self.name_buf.extend_from_slice(suffix.as_bytes());
            let hash = hash_str(&self.name_buf);
            if !self.seen_names.insert(hash) {
                let families = &ctx.store.families;
                let clash = self.seen_list.iter().any(|&(h, f, other_suffix)| {
                    let other = &b[families[f as usize].name.range()];
                    h == hash
                        && other.len() + other_suffix.len() == self.name_buf.len()
                        && self.name_buf.starts_with(other)
                        && self.name_buf.ends_with(other_suffix.as_bytes())
                });
                if clash {
                    return Err(fail(
                        c.first_offset,
                        ErrorKind::NameClash {
                            name: snippet(&self.name_buf),
                        },
                    ));
                }
            }
            self.seen_list.push((hash, c.index, suffix));
        }

        if let Some(unit) = ctx.store.families[c.index as usize].unit {
            let unit = &b[unit.range()];
            let matches = name.len() > unit.len()
                && name.ends_with(unit)
                && name[name.len() - unit.len() - 1] == b'_';
            if !matches {
                return Err(fail(
                    c.unit_offset,
                    ErrorKind::UnitMismatch {
                        unit: snippet(unit),
                        family: snippet(name),
                    },
                ));
            }
            if matches!(kind, MetricType::Info | MetricType::StateSet) {
                return Err(fail(
                    c.unit_offset,
                    ErrorKind::UnitNotAllowed {
                        family: snippet(name),
                        kind,
                    },
                ));
            }
        }
        Ok(())
    }
}
