//! Writing expositions in either format: for tests, the fuzz target's re-parse check, and
//! the scraper's synthetic benchmark targets.
//!
//! The writer produces what the parsers accept and what reads back bit-exactly:
//! - values: integers below 10^15 as integers, other numbers in the shortest decimal that
//!   round-trips (`{}` between 1e-4 and 1e15, `{:e}` outside), `-0` for negative zero,
//!   `NaN`, `+Inf`, `-Inf`;
//! - label values escape `\`, `"` and newline; HELP escapes `\` and newline (and `"` in
//!   OpenMetrics, as its ABNF asks);
//! - timestamps: text 0.0.4 integer milliseconds (the text format cannot carry negative
//!   ones: Prometheus' lexer takes digits only); OpenMetrics seconds with exactly three
//!   decimals, which the parser turns back into the same milliseconds.
//!
//! It does not check OpenMetrics' type rules (feeding it a NaN counter writes one), and
//! OpenMetrics has no escape for a carriage return, so a label value or help text
//! containing one is written as is and the OpenMetrics parser will refuse it.

use std::fmt::Write as _;

use crate::exposition::{Exposition, Family, Label};
use crate::Format;

/// Writes a family's metadata lines: text `# HELP`, `# TYPE` (`untyped` for types the text
/// format lacks); OpenMetrics `# TYPE`, `# UNIT`, `# HELP`.
pub fn write_family(out: &mut String, format: Format, family: &Family<'_>) {
    match format {
        Format::Text004 => {
            if let Some(help) = family.help {
                out.push_str("# HELP ");
                out.push_str(family.name);
                out.push(' ');
                escape(out, help, false);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(family.name);
            out.push(' ');
            out.push_str(family.kind.as_text_str().unwrap_or("untyped"));
            out.push('\n');
        }
        Format::OpenMetrics100 => {
            out.push_str("# TYPE ");
            out.push_str(family.name);
            out.push(' ');
            out.push_str(family.kind.as_openmetrics_str());
            out.push('\n');
            if let Some(unit) = family.unit {
                out.push_str("# UNIT ");
                out.push_str(family.name);
                out.push(' ');
                out.push_str(unit);
                out.push('\n');
            }
            if let Some(help) = family.help {
                out.push_str("# HELP ");
                out.push_str(family.name);
                out.push(' ');
                escape(out, help, true);
                out.push('\n');
            }
        }
    }
}

/// Writes one sample line.
pub fn write_sample<'l, I, L>(
    out: &mut String,
    format: Format,
    name: &str,
    labels: I,
    value: f64,
    timestamp_ms: Option<i64>,
) where
    I: IntoIterator<Item = L>,
    L: Into<Label<'l>>,
{
    out.push_str(name);
    let mut first = true;
    for label in labels {
        let label = label.into();
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(label.name);
        out.push_str("=\"");
        escape(out, label.value, true);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    if let Some(ts) = timestamp_ms {
        out.push(' ');
        match format {
            Format::Text004 => {
                let _ = write!(out, "{ts}");
            }
            Format::OpenMetrics100 => {
                let sign = if ts < 0 { "-" } else { "" };
                let abs = ts.unsigned_abs();
                let _ = write!(out, "{sign}{}.{:03}", abs / 1000, abs % 1000);
            }
        }
    }
    out.push('\n');
}

/// Ends an exposition: `# EOF` for OpenMetrics, nothing for text 0.0.4.
pub fn write_eof(out: &mut String, format: Format) {
    if format == Format::OpenMetrics100 {
        out.push_str("# EOF\n");
    }
}

/// Writes a parsed exposition back out in `format`: samples in order, each family's
/// metadata once, in family order, no later than its first sample. Families therefore come
/// back in the same order with the same samples (text 0.0.4 families need not be
/// contiguous, so a family may get its metadata before an earlier-indexed family's first
/// sample appears; OpenMetrics families are contiguous and this is their plain order).
pub fn format_exposition(exposition: &Exposition<'_>, format: Format) -> String {
    let mut out = String::with_capacity(exposition.body().len() + 64);
    let families: Vec<Family<'_>> = exposition.families().collect();
    let mut next_family = 0;
    for s in exposition.samples() {
        while next_family <= s.family_index() && next_family < families.len() {
            write_family(&mut out, format, &families[next_family]);
            next_family += 1;
        }
        write_sample(
            &mut out,
            format,
            s.name(),
            s.labels(),
            s.value(),
            s.timestamp_ms(),
        );
    }
    for family in &families[next_family.min(families.len())..] {
        write_family(&mut out, format, family);
    }
    write_eof(&mut out, format);
    out
}

/// Writes a value so that both parsers read back the same bits (NaN: the same NaN-ness).
fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: |v| < 1e15 fits an i64.
        let _ = write!(out, "{}", v as i64);
    } else if (1e-4..1e15).contains(&v.abs()) {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{v:e}");
    }
}

/// Escapes a label value (`quote`: also `"`) or help text.
fn escape(out: &mut String, s: &str, quote: bool) {
    let needs = |c: char| c == '\\' || c == '\n' || (quote && c == '"');
    if !s.contains(needs) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Parser, NORMAL_NAN_BITS};

    fn value_text(v: f64) -> String {
        let mut s = String::new();
        write_value(&mut s, v);
        s
    }

    #[test]
    fn values_are_written_compactly_and_exactly() {
        assert_eq!(value_text(1.0), "1");
        assert_eq!(value_text(-12345.0), "-12345");
        assert_eq!(value_text(0.25), "0.25");
        assert_eq!(value_text(-0.0), "-0");
        assert_eq!(value_text(1e300), "1e300");
        assert_eq!(value_text(1.5e-7), "1.5e-7");
        assert_eq!(value_text(f64::NAN), "NaN");
        assert_eq!(value_text(f64::NEG_INFINITY), "-Inf");
        for v in [
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            0.1 + 0.2,
            1e15,
            123456.789e10,
        ] {
            let back: f64 = value_text(v).parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v}");
        }
    }

    #[test]
    fn openmetrics_timestamps_are_seconds_with_milliseconds() {
        let mut s = String::new();
        write_sample(
            &mut s,
            Format::OpenMetrics100,
            "a",
            [("l", "v")],
            1.0,
            Some(-1500),
        );
        write_sample(
            &mut s,
            Format::OpenMetrics100,
            "a",
            [("l", "w")],
            1.0,
            Some(7),
        );
        assert_eq!(s, "a{l=\"v\"} 1 -1.500\na{l=\"w\"} 1 0.007\n");
    }

    #[test]
    fn parsed_exposition_formats_back_to_the_same_samples() {
        let body =
            "# HELP a x\\\\y\n# TYPE a gauge\na{l=\"q\\\"\\n\"} NaN 5\n# TYPE e summary\nb 2\n";
        let mut p = Parser::new(Limits::default());
        let e = p.parse(body, Format::Text004).unwrap();
        let text = format_exposition(&e, Format::Text004);
        assert_eq!(
            text,
            "# HELP a x\\\\y\n# TYPE a gauge\na{l=\"q\\\"\\n\"} NaN 5\n# TYPE e summary\n# TYPE b untyped\nb 2\n"
        );
        let om = format_exposition(&e, Format::OpenMetrics100);
        let mut p2 = Parser::new(Limits::default());
        let back = p2.parse(&om, Format::OpenMetrics100).unwrap();
        let s = back.sample(0).unwrap();
        assert_eq!(s.value().to_bits(), NORMAL_NAN_BITS);
        assert_eq!(s.label("l"), Some("q\"\n"));
        assert_eq!(s.timestamp_ms(), Some(5));
        assert_eq!(back.families().count(), 3);
    }
}
