//! Why an exposition was rejected, and where.
//!
//! The parsers work in byte offsets and produce a crate-internal [`Fail`]; only the one
//! error that ends a parse is turned into a [`ParseError`] with a line and column, by
//! counting newlines up to its offset. That keeps line bookkeeping out of the hot loop.
//! [`ErrorKind::reason`] is a bounded `&'static str` for the scraper's
//! `*_errors_total{reason}` metric; the `Display` text may quote (truncated) input.

/// A rejected exposition: the first problem found, with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column within the line.
    pub column: usize,
    /// Byte offset into the body.
    pub offset: usize,
    pub kind: ErrorKind,
}

impl ParseError {
    /// The bounded reason label of [`ErrorKind::reason`].
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// Locates `offset` in `body` (error path only: counts newlines before it).
    pub(crate) fn at(body: &[u8], offset: usize, kind: ErrorKind) -> ParseError {
        let offset = offset.min(body.len());
        let before = &body[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        ParseError {
            line,
            column: offset - line_start + 1,
            offset,
            kind,
        }
    }
}

/// A problem found at a byte offset, before it is located by line.
#[derive(Debug)]
pub(crate) struct Fail {
    pub offset: usize,
    pub kind: ErrorKind,
}

pub(crate) fn fail(offset: usize, kind: ErrorKind) -> Fail {
    Fail { offset, kind }
}

/// At most this many bytes of input are quoted in an error message.
const SNIPPET_BYTES: usize = 64;

/// Input quoted in an error, cut to [`SNIPPET_BYTES`] on a character boundary.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= SNIPPET_BYTES {
        return text.into_owned();
    }
    let mut end = SNIPPET_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What was wrong. Variants are grouped by the rule they enforce; fields quote the input
/// (truncated to 64 bytes) where that helps whoever reads the scrape error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    // --- Whole-body rules ---
    #[error("body is not valid UTF-8")]
    InvalidUtf8,
    #[error("body is 4 GiB or larger")]
    BodyTooLarge,
    #[error("body starts with a byte order mark")]
    ByteOrderMark,
    #[error("carriage return in body")]
    CarriageReturn,
    #[error("blank line")]
    BlankLine,
    #[error("exposition does not end with \"# EOF\"")]
    MissingEof,
    #[error("content after \"# EOF\"")]
    ContentAfterEof,

    // --- Syntax ---
    #[error("invalid metric name")]
    InvalidMetricName,
    #[error("invalid label name")]
    InvalidLabelName,
    #[error("expected {expected} in label set")]
    InvalidLabelSet { expected: &'static str },
    #[error("unterminated label value")]
    UnterminatedLabelValue,
    #[error("label name \"{name}\" repeated")]
    DuplicateLabel { name: String },
    #[error("missing sample value")]
    MissingValue,
    #[error("invalid sample value \"{token}\"")]
    InvalidValue { token: String },
    #[error("invalid timestamp \"{token}\"")]
    InvalidTimestamp { token: String },
    #[error("unexpected \"{token}\" after the timestamp")]
    TrailingContent { token: String },
    #[error("invalid comment line: only \"# TYPE\", \"# HELP\" and \"# UNIT\" are allowed")]
    InvalidComment,
    #[error("malformed {keyword} line")]
    InvalidMetadata { keyword: &'static str },
    #[error("invalid metric type \"{token}\"")]
    InvalidType { token: String },
    #[error("expected a single space after {after}")]
    MissingSpace { after: &'static str },
    #[error("malformed exemplar")]
    InvalidExemplar,

    // --- Metadata and family structure ---
    #[error("second {keyword} line for metric family \"{family}\"")]
    DuplicateMetadata {
        keyword: &'static str,
        family: String,
    },
    #[error("{keyword} line for metric family \"{family}\" after its samples")]
    MetadataAfterSamples {
        keyword: &'static str,
        family: String,
    },
    #[error("unit \"{unit}\" is not a suffix of metric family name \"{family}\"")]
    UnitMismatch { unit: String, family: String },
    #[error("metric family \"{family}\" of type {kind} must not have a unit")]
    UnitNotAllowed {
        family: String,
        kind: crate::MetricType,
    },
    #[error("metric name \"{name}\" clashes with another metric family")]
    NameClash { name: String },
    #[error("samples of one metric of \"{family}\" are not contiguous")]
    InterleavedMetric { family: String },
    #[error("timestamps of one metric go backwards")]
    TimestampOrder,
    #[error("some samples of one metric have a timestamp and some do not")]
    MixedTimestamps,

    // --- Type-specific value rules (OpenMetrics) ---
    #[error("{sample} value must not be {problem}")]
    InvalidCounterValue {
        sample: &'static str,
        problem: &'static str,
    },
    #[error("{sample} value must be an integer")]
    NonIntegerCount { sample: &'static str },
    #[error("_created value must be a finite timestamp")]
    InvalidCreated,
    #[error("histogram bucket without a valid \"le\" label")]
    InvalidBucketBound,
    #[error("\"{label}\" label on a {sample} sample")]
    MisplacedLabel {
        label: &'static str,
        sample: &'static str,
    },
    #[error("histogram buckets not sorted by increasing \"le\"")]
    BucketsNotSorted,
    #[error("histogram bucket values decrease")]
    BucketsNotCumulative,
    #[error("histogram without an le=\"+Inf\" bucket")]
    MissingInfBucket,
    #[error("{count} does not equal the +Inf bucket")]
    CountMismatch { count: &'static str },
    #[error("{present} present without {missing}")]
    IncompleteHistogram {
        present: &'static str,
        missing: &'static str,
    },
    #[error("histogram with negative buckets must not have _sum")]
    SumWithNegativeBuckets,
    #[error("negative _gsum without negative buckets")]
    NegativeGsum,
    #[error("summary quantile sample without a valid \"quantile\" label")]
    InvalidQuantile,
    #[error("summary quantile value must not be negative")]
    NegativeQuantile,
    #[error("stateset sample without a \"{family}\" label")]
    StatesetMissingLabel { family: String },
    #[error("stateset value must be 0 or 1")]
    InvalidStatesetValue,
    #[error("info value must be 1")]
    InvalidInfoValue,
    #[error("exemplar on a sample other than a counter's _total or a histogram's _bucket")]
    ExemplarNotAllowed,
    #[error("exemplar label set longer than 128 characters")]
    ExemplarTooLong,

    // --- Limits ---
    #[error("more than {limit} samples")]
    SampleLimit { limit: usize },
    #[error("more than {limit} labels (including __name__) on one sample")]
    LabelLimit { limit: usize },
    #[error("label name longer than {limit} bytes")]
    LabelNameLimit { limit: usize },
    #[error("label value (or metric name) longer than {limit} bytes")]
    LabelValueLimit { limit: usize },
}

impl ErrorKind {
    /// A short snake_case reason from a fixed set, for metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ErrorKind::InvalidUtf8 => "invalid_utf8",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::ByteOrderMark => "byte_order_mark",
            ErrorKind::CarriageReturn => "carriage_return",
            ErrorKind::BlankLine => "blank_line",
            ErrorKind::MissingEof => "missing_eof",
            ErrorKind::ContentAfterEof => "content_after_eof",
            ErrorKind::InvalidMetricName => "invalid_metric_name",
            ErrorKind::InvalidLabelName => "invalid_label_name",
            ErrorKind::InvalidLabelSet { .. } => "invalid_label_set",
            ErrorKind::UnterminatedLabelValue => "unterminated_label_value",
            ErrorKind::DuplicateLabel { .. } => "duplicate_label",
            ErrorKind::MissingValue => "missing_value",
            ErrorKind::InvalidValue { .. } => "invalid_value",
            ErrorKind::InvalidTimestamp { .. } => "invalid_timestamp",
            ErrorKind::TrailingContent { .. } => "trailing_content",
            ErrorKind::InvalidComment => "invalid_comment",
            ErrorKind::InvalidMetadata { .. } => "invalid_metadata",
            ErrorKind::InvalidType { .. } => "invalid_type",
            ErrorKind::MissingSpace { .. } => "missing_space",
            ErrorKind::InvalidExemplar => "invalid_exemplar",
            ErrorKind::DuplicateMetadata { .. } => "duplicate_metadata",
            ErrorKind::MetadataAfterSamples { .. } => "metadata_after_samples",
            ErrorKind::UnitMismatch { .. } => "unit_mismatch",
            ErrorKind::UnitNotAllowed { .. } => "unit_not_allowed",
            ErrorKind::NameClash { .. } => "name_clash",
            ErrorKind::InterleavedMetric { .. } => "interleaved_metric",
            ErrorKind::TimestampOrder => "timestamp_order",
            ErrorKind::MixedTimestamps => "mixed_timestamps",
            ErrorKind::InvalidCounterValue { .. } => "invalid_counter_value",
            ErrorKind::NonIntegerCount { .. } => "non_integer_count",
            ErrorKind::InvalidCreated => "invalid_created",
            ErrorKind::InvalidBucketBound => "invalid_bucket_bound",
            ErrorKind::MisplacedLabel { .. } => "misplaced_label",
            ErrorKind::BucketsNotSorted => "buckets_not_sorted",
            ErrorKind::BucketsNotCumulative => "buckets_not_cumulative",
            ErrorKind::MissingInfBucket => "missing_inf_bucket",
            ErrorKind::CountMismatch { .. } => "count_mismatch",
            ErrorKind::IncompleteHistogram { .. } => "incomplete_histogram",
            ErrorKind::SumWithNegativeBuckets => "sum_with_negative_buckets",
            ErrorKind::NegativeGsum => "negative_gsum",
            ErrorKind::InvalidQuantile => "invalid_quantile",
            ErrorKind::NegativeQuantile => "negative_quantile",
            ErrorKind::StatesetMissingLabel { .. } => "stateset_missing_label",
            ErrorKind::InvalidStatesetValue => "invalid_stateset_value",
            ErrorKind::InvalidInfoValue => "invalid_info_value",
            ErrorKind::ExemplarNotAllowed => "exemplar_not_allowed",
            ErrorKind::ExemplarTooLong => "exemplar_too_long",
            ErrorKind::SampleLimit { .. } => "sample_limit",
            ErrorKind::LabelLimit { .. } => "label_limit",
            ErrorKind::LabelNameLimit { .. } => "label_name_length_limit",
            ErrorKind::LabelValueLimit { .. } => "label_value_length_limit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_located_by_line_and_byte_column() {
        let body = b"a 1\nbb 2\nccc x\n";
        let err = ParseError::at(body, 13, ErrorKind::MissingValue);
        assert_eq!((err.line, err.column, err.offset), (3, 5, 13));
        let first = ParseError::at(body, 0, ErrorKind::MissingValue);
        assert_eq!((first.line, first.column), (1, 1));
        let past_end = ParseError::at(body, 999, ErrorKind::MissingEof);
        assert_eq!(
            (past_end.line, past_end.column, past_end.offset),
            (4, 1, 15)
        );
    }

    #[test]
    fn display_names_the_line_and_quotes_the_label() {
        let err = ParseError::at(
            b"x\n",
            0,
            ErrorKind::DuplicateLabel {
                name: "le".to_string(),
            },
        );
        assert_eq!(err.to_string(), "line 1: label name \"le\" repeated");
        assert_eq!(err.reason(), "duplicate_label");
    }

    #[test]
    fn snippets_are_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let s = snippet(long.as_bytes());
        assert!(s.ends_with('…'));
        assert!(s.len() <= SNIPPET_BYTES + '…'.len_utf8());
        assert_eq!(snippet(b"short"), "short");
    }
}
