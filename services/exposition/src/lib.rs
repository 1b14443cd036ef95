//! Strict, allocation-light parsers for the Prometheus text exposition format 0.0.4 and the
//! OpenMetrics 1.0 text format, plus a writer for both.
//!
//! The scraper parses hundreds of kubelet-sized bodies (2,000–5,000 samples, ~300 KB) per
//! second, so the shape is chosen for that loop:
//!
//! - A [`Parser`] owns every buffer (samples, labels, families, and one string arena for
//!   the few values that contain escapes). [`Parser::parse`] clears and refills them, so a
//!   scrape loop that keeps one `Parser` per target allocates nothing in steady state.
//! - Samples and labels are stored as byte ranges into the body; the [`Exposition`] a parse
//!   returns borrows both the body and the parser and hands out `&str` slices. Labels of all
//!   samples live in one shared `Vec`, each sample holding a range of it.
//! - An exposition is accepted or rejected as a whole: the first problem ends the parse with
//!   a [`ParseError`] (line, byte column, offset, and an [`ErrorKind`] whose
//!   [`ErrorKind::reason`] is a bounded string for a `reason` metric label).
//!
//! ```
//! use tachyscale_exposition::{Format, Limits, Parser};
//!
//! let mut parser = Parser::new(Limits::default());
//! let body = "# TYPE up gauge\nup{job=\"node\"} 1 1700000000000\n";
//! let exposition = parser.parse(body, Format::Text004).unwrap();
//! let sample = exposition.samples().next().unwrap();
//! assert_eq!(sample.name(), "up");
//! assert_eq!(sample.label("job"), Some("node"));
//! assert_eq!(sample.timestamp_ms(), Some(1_700_000_000_000));
//! ```
//!
//! # Upstream behaviour followed
//!
//! - Text 0.0.4: Prometheus 2.42 `model/textparse/promlex.l` and `promparse.go` plus the
//!   scrape loop's checks — spaces and tabs between tokens (not before a sample's name),
//!   optional (even missing) commas between labels, unknown label value escapes kept
//!   literally, NUL and CR allowed inside label values, timestamps as unsigned decimal
//!   milliseconds, the final newline optional (`NewPromParser` appends one), values that
//!   overflow `f64` refused (Go's `ParseFloat` `ErrRange`), duplicate label names refused,
//!   NaN normalised to Prometheus' `value.NormalNaN` bit pattern ([`NORMAL_NAN_BITS`]).
//!   Checked against a real Prometheus 2.42 scraping every `testdata/text` case: it agrees
//!   on all of them except the deviations below.
//! - OpenMetrics 1.0: the specification's ABNF and rules, as pinned down by the
//!   OpenMetrics conformance corpus (`tests/testdata/parsers`, all 211 cases pass) and the
//!   reference parser it was written for (`prometheus_client/openmetrics/parser.py`):
//!   clashing family names, metric grouping, timestamp order within a metric,
//!   histogram/summary/stateset/info value rules, exemplar placement and length.
//!   Non-canonical `le`/`quantile` spellings (`le="1"`, `1e-04`) are accepted as the spec
//!   requires; `+Inf` must be spelled exactly so. Unknown escapes (`\z`) are kept literally
//!   (the ABNF allows `\` before any character).
//!
//! # Deviations
//!
//! Text 0.0.4 (stricter than Prometheus 2.42, which accepts these):
//! - A second `# HELP` or `# TYPE` for one name, and a `# TYPE` after samples of that name
//!   (client_golang's `expfmt` rejects all three too).
//! - A raw newline inside a quoted label value (Prometheus' lexer lets a quoted value span
//!   lines); a metric name followed directly by a value without blank (`a-1` is the metric
//!   `a` with value `-1` to Prometheus); a `# HELP`/`# TYPE` name followed directly by text
//!   (`# HELP a-b x` is help `b x` for `a` to Prometheus).
//! - A NUL byte where a line should start is an invalid metric name; Prometheus' lexer
//!   takes it as the end of the body and silently drops everything after it.
//!
//! Both formats: empty label values are kept as parsed (Prometheus drops such labels when
//! it builds the series); samples repeating a series are kept (Prometheus' scrape loop
//! counts them as duplicates; the OpenMetrics corpus requires repeated series with equal
//! timestamps to parse).
//!
//! OpenMetrics 1.0 (beyond what the corpus and reference parser check):
//! - Histogram bucket and count values, and summary counts, must be integers (spec: "Count
//!   and bucket values MUST be integers"); `le` is refused on a histogram's `_count`/`_sum`/
//!   `_created`, `quantile` on a summary's (spec: the Metric's LabelSet "MUST NOT have" them).
//! - `_created` values must be finite (they are timestamps; negative ones are fine).
//! - Exemplars are validated and discarded; the exemplar-within-bucket rule is not checked.
//! - Timestamps are converted to milliseconds exactly from their decimal digits, truncating
//!   toward zero (Prometheus computes `int64(f * 1000)` in floating point, which can be
//!   1 ms off); timestamps beyond the `i64` range saturate. Their order within a metric is
//!   checked on the full value, not on the milliseconds.

mod error;
mod exposition;
mod float;
mod format;
mod limits;
mod om_metric;
mod om_rules;
mod openmetrics;
mod scan;
mod text;

pub use error::{ErrorKind, ParseError};
pub use exposition::{Exposition, Families, Family, Label, Labels, Parser, SampleRef, Samples};
pub use float::NORMAL_NAN_BITS;
pub use format::{format_exposition, write_eof, write_family, write_sample};
pub use limits::Limits;

/// The `Accept` header Prometheus 2.42 sends when scraping: OpenMetrics preferred, text
/// 0.0.4 next, anything else last.
pub const ACCEPT_HEADER: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Which text format a body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`).
    Text004,
    /// OpenMetrics 1.0 text format (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics100,
}

impl Format {
    /// Picks the parser for a response's `Content-Type` as Prometheus 2.42's
    /// `textparse.New` does: media type `application/openmetrics-text` (any parameters,
    /// any case) selects OpenMetrics; anything else, including a missing or malformed
    /// header, falls back to the text format.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let Some(ct) = content_type else {
            return Format::Text004;
        };
        let media_type = ct.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics100
        } else {
            Format::Text004
        }
    }

    /// The `Content-Type` a body written in this format should carry.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics100 => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The type of a metric family, as declared by `# TYPE` (or [`MetricType::Unknown`] when
/// there is none). The text format's `untyped` is `Unknown`, as in Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The OpenMetrics spelling (`counter`, …, `gaugehistogram`, `unknown`).
    pub fn as_openmetrics_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The text 0.0.4 spelling, or `None` for the OpenMetrics-only types (which the text
    /// format can only carry as untyped samples).
    pub fn as_text_str(self) -> Option<&'static str> {
        match self {
            MetricType::Counter => Some("counter"),
            MetricType::Gauge => Some("gauge"),
            MetricType::Histogram => Some("histogram"),
            MetricType::Summary => Some("summary"),
            MetricType::Unknown => Some("untyped"),
            MetricType::GaugeHistogram | MetricType::Info | MetricType::StateSet => None,
        }
    }

    /// The five types Prometheus 2.42's text parser knows.
    pub(crate) fn from_text(s: &[u8]) -> Option<MetricType> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// The eight OpenMetrics types; `untyped` is not one of them.
    pub(crate) fn from_openmetrics(s: &[u8]) -> Option<MetricType> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::StateSet,
            b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// Sample-name suffixes a family of this type uses in OpenMetrics (spec section
    /// "Suffixes"); `""` is the family name itself.
    pub(crate) fn openmetrics_suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Summary => &["", "_count", "_sum", "_created"],
            MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
            MetricType::GaugeHistogram => &["_gcount", "_gsum", "_bucket"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[""],
        }
    }
}

impl std::fmt::Display for MetricType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_openmetrics_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_selects_openmetrics_only_for_its_media_type() {
        let om = Some("application/openmetrics-text; version=1.0.0; charset=utf-8");
        assert_eq!(Format::from_content_type(om), Format::OpenMetrics100);
        let upper = Some(" Application/OpenMetrics-Text ;version=0.0.1");
        assert_eq!(Format::from_content_type(upper), Format::OpenMetrics100);
        for other in [
            None,
            Some(""),
            Some("text/plain; version=0.0.4"),
            Some("application/json"),
            Some(";;;"),
            Some("application/openmetrics-textx"),
        ] {
            assert_eq!(
                Format::from_content_type(other),
                Format::Text004,
                "{other:?}"
            );
        }
    }

    #[test]
    fn type_spellings_round_trip() {
        for t in [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::Unknown,
        ] {
            let om = t.as_openmetrics_str();
            assert_eq!(MetricType::from_openmetrics(om.as_bytes()), Some(t));
            if let Some(text) = t.as_text_str() {
                assert_eq!(MetricType::from_text(text.as_bytes()), Some(t));
            }
        }
        assert_eq!(MetricType::from_openmetrics(b"untyped"), None);
        assert_eq!(MetricType::from_text(b"info"), None);
    }
}
