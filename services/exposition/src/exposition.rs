//! The [`Parser`] with its reusable buffers, and the [`Exposition`] view a parse returns.
//!
//! Storage is offset-based so the buffers carry no lifetime and survive from one parse to
//! the next: a sample is a name range into the body, a range of the shared label vector, a
//! value, an optional timestamp and a family index; a label is a name range and a value
//! that lives either in the body (no escapes, the common case) or in one string arena that
//! holds every unescaped value and help text. The [`Exposition`] pairs the buffers with the
//! body again and hands out `&str`s, so callers never see offsets.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::error::{fail, ErrorKind, Fail, ParseError};
use crate::limits::Limits;
use crate::om_rules::OmScratch;
use crate::scan::{hash_str, scan_quoted, unescape_into, Prehashed};
use crate::{openmetrics, text, Format, MetricType};

/// A byte range of the body or the arena. Bodies are below 4 GiB, so `u32` suffices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Parser::parse refuses bodies of u32::MAX bytes or more.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub(crate) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub(crate) fn len(self) -> usize {
        (self.end - self.start) as usize
    }
}

/// A string in the body, or (after unescaping) in the arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StrRef {
    pub span: Span,
    pub in_arena: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct LabelRec {
    pub name: Span,
    pub value: StrRef,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleRec {
    pub name: Span,
    /// `name{labels}` as written in the body (the series' identity within one target).
    pub series: Span,
    /// Index range into `Store::labels`.
    pub labels: Span,
    pub value: f64,
    pub timestamp_ms: i64,
    pub has_timestamp: bool,
    pub family: u32,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FamilyRec {
    pub name: Span,
    pub kind: MetricType,
    pub help: Option<StrRef>,
    pub unit: Option<Span>,
    pub help_seen: bool,
    pub type_seen: bool,
    pub unit_seen: bool,
    pub samples: u32,
}

/// Every buffer one parse fills; cleared, not freed, between parses.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub samples: Vec<SampleRec>,
    pub labels: Vec<LabelRec>,
    pub families: Vec<FamilyRec>,
    pub arena: String,
    /// Family name hash → first family with that hash (text format lookups).
    pub family_index: HashMap<u64, u32, Prehashed>,
    /// Name hashes of the current sample's labels, once it has more than
    /// [`LINEAR_DUPLICATE_CHECK`] of them.
    pub label_names: HashSet<u64, Prehashed>,
}

/// Up to this many labels, a repeated name is found by comparing with each earlier one;
/// beyond, by hash, so a sample with thousands of labels costs linear time.
const LINEAR_DUPLICATE_CHECK: usize = 16;

impl Store {
    fn clear(&mut self) {
        self.samples.clear();
        self.labels.clear();
        self.families.clear();
        self.arena.clear();
        self.family_index.clear();
    }
}

/// What a format parser works with: the body (as text and bytes), the buffers and limits.
pub(crate) struct Ctx<'b> {
    pub text: &'b str,
    pub body: &'b [u8],
    pub store: &'b mut Store,
    pub limits: Limits,
}

impl Ctx<'_> {
    pub(crate) fn span_bytes(&self, s: Span) -> &[u8] {
        self.body.get(s.range()).unwrap_or_default()
    }

    pub(crate) fn str_bytes(&self, r: StrRef) -> &[u8] {
        if r.in_arena {
            self.store
                .arena
                .as_bytes()
                .get(r.span.range())
                .unwrap_or_default()
        } else {
            self.span_bytes(r.span)
        }
    }

    /// Stores `text[start..end]`, unescaped into the arena if it has escapes.
    pub(crate) fn string(
        &mut self,
        start: usize,
        end: usize,
        escaped: bool,
        unquote: bool,
    ) -> StrRef {
        if !escaped {
            return StrRef {
                span: Span::new(start, end),
                in_arena: false,
            };
        }
        let from = self.store.arena.len();
        unescape_into(
            self.text.get(start..end).unwrap_or(""),
            unquote,
            &mut self.store.arena,
        );
        StrRef {
            span: Span::new(from, self.store.arena.len()),
            in_arena: true,
        }
    }

    /// Reads the quoted label value whose opening quote is at `quote`; returns it and the
    /// offset just past its closing quote.
    pub(crate) fn quoted_value(
        &mut self,
        quote: usize,
        end: usize,
    ) -> Result<(StrRef, usize), Fail> {
        let (close, escaped) = scan_quoted(self.body, quote + 1, end)?;
        Ok((self.string(quote + 1, close, escaped, true), close + 1))
    }

    /// Help text from `start..end`, unescaped; `None` when empty (OpenMetrics: an empty
    /// HELP is as if there were none; the text format is treated the same for consistency).
    pub(crate) fn help(&mut self, start: usize, end: usize, unquote: bool) -> Option<StrRef> {
        if start >= end {
            return None;
        }
        let escaped = self.body[start..end].contains(&b'\\');
        Some(self.string(start, end, escaped, unquote))
    }

    /// Checks the sample limits before a sample named `name` is parsed; returns where its
    /// labels will start.
    pub(crate) fn begin_sample(&self, name: Span) -> Result<usize, Fail> {
        self.limits
            .check_sample(self.store.samples.len(), name.len(), name.start as usize)?;
        Ok(self.store.labels.len())
    }

    /// Adds a label to the sample whose labels start at `first`, refusing a repeated name
    /// (or `__name__`, which the metric name already is). Exemplar labels skip the limits.
    pub(crate) fn push_label(
        &mut self,
        first: usize,
        name: Span,
        value: StrRef,
        check_limits: bool,
    ) -> Result<(), Fail> {
        let body = self.body;
        let bytes = |s: Span| body.get(s.range()).unwrap_or_default();
        let name_bytes = bytes(name);
        let store = &mut *self.store;
        let before = store.labels.len() - first;
        let same_name = |l: &LabelRec| bytes(l.name) == name_bytes;
        let repeated = name_bytes == b"__name__"
            || if before < LINEAR_DUPLICATE_CHECK {
                store.labels[first..].iter().any(same_name)
            } else {
                if before == LINEAR_DUPLICATE_CHECK {
                    store.label_names.clear();
                    for l in &store.labels[first..] {
                        store.label_names.insert(hash_str(bytes(l.name)));
                    }
                }
                // A hash match is confirmed by comparing names: exact despite collisions.
                !store.label_names.insert(hash_str(name_bytes))
                    && store.labels[first..].iter().any(same_name)
            };
        if repeated {
            return Err(fail(
                name.start as usize,
                ErrorKind::DuplicateLabel {
                    name: crate::error::snippet(name_bytes),
                },
            ));
        }
        if check_limits {
            self.limits.check_label(
                self.store.labels.len() - first,
                name.len(),
                value.span.len(),
                name.start as usize,
            )?;
        }
        self.store.labels.push(LabelRec { name, value });
        Ok(())
    }

    pub(crate) fn push_family(&mut self, name: Span, kind: MetricType) -> u32 {
        let index = self.store.families.len() as u32;
        self.store.families.push(FamilyRec {
            name,
            kind,
            help: None,
            unit: None,
            help_seen: false,
            type_seen: false,
            unit_seen: false,
            samples: 0,
        });
        index
    }

    /// Adds a family and makes it findable by name (text format).
    pub(crate) fn push_indexed_family(&mut self, name: Span) -> u32 {
        let index = self.push_family(name, MetricType::Unknown);
        let hash = hash_str(self.span_bytes(name));
        self.store.family_index.entry(hash).or_insert(index);
        index
    }

    /// The family named `name` (text format).
    pub(crate) fn find_family(&self, name: &[u8]) -> Option<u32> {
        let candidate = *self.store.family_index.get(&hash_str(name))?;
        let family_name = |i: u32| self.span_bytes(self.store.families[i as usize].name);
        if family_name(candidate) == name {
            return Some(candidate);
        }
        // A hash collision: fall back to a scan, which is exact.
        (0..self.store.families.len() as u32).find(|&i| family_name(i) == name)
    }
}

/// A reusable parser: owns the buffers every parse fills. Keep one per scrape target (or
/// per worker) and call [`Parser::parse`] for each body; in steady state nothing is
/// allocated.
#[derive(Debug, Default)]
pub struct Parser {
    limits: Limits,
    store: Store,
    om: OmScratch,
}

impl Parser {
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            ..Parser::default()
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Parses a whole body in `format`. The body must be UTF-8 (an invalid byte is a
    /// [`ErrorKind::InvalidUtf8`] error at its offset). Either everything parses and the
    /// returned [`Exposition`] holds every sample, or the first problem is returned.
    pub fn parse<'p, B>(
        &'p mut self,
        body: &'p B,
        format: Format,
    ) -> Result<Exposition<'p>, ParseError>
    where
        B: AsRef<[u8]> + ?Sized,
    {
        let bytes = body.as_ref();
        self.store.clear();
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ParseError::at(bytes, e.valid_up_to(), ErrorKind::InvalidUtf8))?;
        if bytes.len() >= u32::MAX as usize {
            return Err(ParseError::at(bytes, 0, ErrorKind::BodyTooLarge));
        }
        if text.starts_with('\u{feff}') {
            return Err(ParseError::at(bytes, 0, ErrorKind::ByteOrderMark));
        }
        let mut ctx = Ctx {
            text,
            body: bytes,
            store: &mut self.store,
            limits: self.limits,
        };
        let result = match format {
            Format::Text004 => text::parse(&mut ctx),
            Format::OpenMetrics100 => openmetrics::parse(&mut ctx, &mut self.om),
        };
        result.map_err(|f| ParseError::at(bytes, f.offset, f.kind))?;
        Ok(Exposition {
            text,
            store: &self.store,
            format,
        })
    }
}

/// A successfully parsed body: samples in body order and the metric families they belong
/// to. Borrows the body and the [`Parser`]; cheap to copy.
#[derive(Clone, Copy)]
pub struct Exposition<'p> {
    text: &'p str,
    store: &'p Store,
    format: Format,
}

impl<'p> Exposition<'p> {
    pub fn format(&self) -> Format {
        self.format
    }

    /// The body this was parsed from.
    pub fn body(&self) -> &'p str {
        self.text
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.store.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.samples.is_empty()
    }

    pub fn samples(&self) -> Samples<'p> {
        Samples {
            exposition: *self,
            iter: self.store.samples.iter(),
        }
    }

    pub fn sample(&self, index: usize) -> Option<SampleRef<'p>> {
        let rec = self.store.samples.get(index)?;
        Some(SampleRef {
            exposition: *self,
            rec,
        })
    }

    /// Metric families in order of first appearance, including metadata-only ones and the
    /// implicit untyped family of samples without metadata.
    pub fn families(&self) -> Families<'p> {
        Families {
            exposition: *self,
            iter: self.store.families.iter(),
        }
    }

    pub fn family(&self, index: usize) -> Option<Family<'p>> {
        self.store.families.get(index).map(|f| self.family_view(f))
    }

    fn body_str(&self, s: Span) -> &'p str {
        self.text.get(s.range()).unwrap_or("")
    }

    fn string(&self, r: StrRef) -> &'p str {
        if r.in_arena {
            self.store.arena.get(r.span.range()).unwrap_or("")
        } else {
            self.body_str(r.span)
        }
    }

    fn family_view(&self, f: &FamilyRec) -> Family<'p> {
        Family {
            name: self.body_str(f.name),
            kind: f.kind,
            help: f.help.map(|h| self.string(h)),
            unit: f.unit.map(|u| self.body_str(u)),
        }
    }
}

impl std::fmt::Debug for Exposition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("format", &self.format)
            .field("families", &self.store.families.len())
            .field("samples", &self.store.samples.len())
            .finish()
    }
}

/// A metric family's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family<'a> {
    pub name: &'a str,
    pub kind: MetricType,
    /// Unescaped HELP text; `None` when absent or empty.
    pub help: Option<&'a str>,
    /// OpenMetrics UNIT; `None` when absent or empty (always `None` for text 0.0.4).
    pub unit: Option<&'a str>,
}

/// A label with its unescaped value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl<'a> From<(&'a str, &'a str)> for Label<'a> {
    fn from((name, value): (&'a str, &'a str)) -> Self {
        Label { name, value }
    }
}

/// One sample of an [`Exposition`].
#[derive(Clone, Copy)]
pub struct SampleRef<'p> {
    exposition: Exposition<'p>,
    rec: &'p SampleRec,
}

impl<'p> SampleRef<'p> {
    /// The sample's metric name (with any `_total`, `_bucket`… suffix).
    pub fn name(&self) -> &'p str {
        self.exposition.body_str(self.rec.name)
    }

    /// The raw `name{labels}` text of the sample's series, exactly as written (escapes
    /// not decoded). Equal texts are the same series of one target, which is what a
    /// scraper's series cache keys on without allocating.
    pub fn series_text(&self) -> &'p str {
        self.exposition.body_str(self.rec.series)
    }

    /// Labels in body order.
    pub fn labels(&self) -> Labels<'p> {
        let labels = &self.exposition.store.labels;
        let iter = labels
            .get(self.rec.labels.range())
            .unwrap_or_default()
            .iter();
        Labels {
            exposition: self.exposition,
            iter,
        }
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&'p str> {
        self.labels().find(|l| l.name == name).map(|l| l.value)
    }

    /// The value; every NaN has the bits [`crate::NORMAL_NAN_BITS`].
    pub fn value(&self) -> f64 {
        self.rec.value
    }

    /// Timestamp in milliseconds since the epoch, if the sample has one.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.rec.has_timestamp.then_some(self.rec.timestamp_ms)
    }

    pub fn family_index(&self) -> usize {
        self.rec.family as usize
    }

    pub fn family(&self) -> Family<'p> {
        let store = self.exposition.store;
        match store.families.get(self.rec.family as usize) {
            Some(f) => self.exposition.family_view(f),
            None => Family {
                name: self.name(),
                kind: MetricType::Unknown,
                help: None,
                unit: None,
            },
        }
    }
}

impl std::fmt::Debug for SampleRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("name", &self.name())
            .field("labels", &self.labels().collect::<Vec<_>>())
            .field("value", &self.value())
            .field("timestamp_ms", &self.timestamp_ms())
            .finish()
    }
}

/// Iterator over an [`Exposition`]'s samples.
#[derive(Clone)]
pub struct Samples<'p> {
    exposition: Exposition<'p>,
    iter: std::slice::Iter<'p, SampleRec>,
}

impl<'p> Iterator for Samples<'p> {
    type Item = SampleRef<'p>;

    fn next(&mut self) -> Option<SampleRef<'p>> {
        let rec = self.iter.next()?;
        Some(SampleRef {
            exposition: self.exposition,
            rec,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl ExactSizeIterator for Samples<'_> {}

/// Iterator over a sample's labels.
#[derive(Clone)]
pub struct Labels<'p> {
    exposition: Exposition<'p>,
    iter: std::slice::Iter<'p, LabelRec>,
}

impl<'p> Iterator for Labels<'p> {
    type Item = Label<'p>;

    fn next(&mut self) -> Option<Label<'p>> {
        let l = self.iter.next()?;
        Some(Label {
            name: self.exposition.body_str(l.name),
            value: self.exposition.string(l.value),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl ExactSizeIterator for Labels<'_> {}

/// Iterator over an [`Exposition`]'s families.
#[derive(Clone)]
pub struct Families<'p> {
    exposition: Exposition<'p>,
    iter: std::slice::Iter<'p, FamilyRec>,
}

impl<'p> Iterator for Families<'p> {
    type Item = Family<'p>;

    fn next(&mut self) -> Option<Family<'p>> {
        let f = self.iter.next()?;
        Some(self.exposition.family_view(f))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl ExactSizeIterator for Families<'_> {}
