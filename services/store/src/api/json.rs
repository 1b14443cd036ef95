//! Prometheus' JSON success envelope and the exact number formats of its query API.
//!
//! Results can hold millions of points, so they are written straight into a `String`
//! instead of through an intermediate `serde_json::Value`. Numbers follow Prometheus 2.42
//! (`web/api/v1/api.go`, `marshalPointJSON`): timestamps are seconds written as integer
//! seconds plus a three-digit millisecond fraction when non-zero; values are strings in Go's
//! shortest `'f'` format, `'e'` format below 1e-6 or from 1e21, and `NaN`, `+Inf`, `-Inf`.

use std::fmt::Write as _;

use tachyscale_promql::Value;
use tachyscale_tsdb::{Labels, Sample};

/// Writes `{"status":"success","data":<data>}`.
pub fn success(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    out.push_str(r#"{"status":"success","data":"#);
    out.push_str(data);
    out.push('}');
    out
}

/// Writes a JSON string literal with escaping.
pub fn push_str_literal(out: &mut String, s: &str) {
    // serde_json's escaping of a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// Writes a label set as a JSON object.
pub fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_literal(out, &label.name);
        out.push(':');
        push_str_literal(out, &label.value);
    }
    out.push('}');
}

/// Writes a millisecond timestamp as seconds, Prometheus style.
pub fn push_timestamp(out: &mut String, ts_ms: i64) {
    let (sign, abs) = if ts_ms < 0 {
        ("-", ts_ms.unsigned_abs())
    } else {
        ("", ts_ms as u64)
    };
    let _ = write!(out, "{sign}{}", abs / 1000);
    let fraction = abs % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// Formats a float as Go's `strconv.FormatFloat` does in Prometheus' API.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's shortest exponent form is "1.5e-7"; Go's is "1.5e-07".
        let formatted = format!("{v:e}");
        return match formatted.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => formatted,
        };
    }
    format!("{v}")
}

/// Writes `[ts, "value"]`.
pub fn push_point(out: &mut String, ts_ms: i64, value: f64) {
    out.push('[');
    push_timestamp(out, ts_ms);
    out.push_str(",\"");
    out.push_str(&format_value(value));
    out.push_str("\"]");
}

fn push_series(out: &mut String, labels: &Labels, samples: &[Sample]) {
    out.push_str(r#"{"metric":"#);
    push_labels(out, labels);
    out.push_str(r#","values":["#);
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_point(out, s.ts_ms, s.value);
    }
    out.push_str("]}");
}

/// The `data` object of a query response.
pub fn query_data(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    match value {
        Value::Scalar { ts_ms, value } => {
            out.push_str(r#"{"resultType":"scalar","result":"#);
            push_point(&mut out, *ts_ms, *value);
        }
        Value::String { ts_ms, value } => {
            out.push_str(r#"{"resultType":"string","result":["#);
            push_timestamp(&mut out, *ts_ms);
            out.push(',');
            push_str_literal(&mut out, value);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str(r#"{"resultType":"vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(&mut out, &s.labels);
                out.push_str(r#","value":"#);
                push_point(&mut out, s.ts_ms, s.value);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str(r#"{"resultType":"matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_series(&mut out, &s.labels, &s.samples);
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// A JSON array of strings.
pub fn string_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_literal(&mut out, item.as_ref());
    }
    out.push(']');
    out
}

/// A JSON array of label objects.
pub fn label_set_list(sets: &[Labels]) -> String {
    let mut out = String::from("[");
    for (i, labels) in sets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_labels(&mut out, labels);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_go() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(-2.5), "-2.5");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(1e-7), "1e-07");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(1e20), "100000000000000000000");
        assert_eq!(format_value(123456.789), "123456.789");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(2.5e-300), "2.5e-300");
    }

    #[test]
    fn timestamps_format_like_prometheus() {
        let ts = |ms| {
            let mut s = String::new();
            push_timestamp(&mut s, ms);
            s
        };
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_435_781_451_000), "1435781451");
        assert_eq!(ts(1_500), "1.500");
        assert_eq!(ts(5), "0.005");
        assert_eq!(ts(-1_500), "-1.500");
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = String::new();
        push_labels(&mut s, &Labels::from_pairs([("a", "x\"y\n")]));
        assert_eq!(s, r#"{"a":"x\"y\n"}"#);
    }
}
