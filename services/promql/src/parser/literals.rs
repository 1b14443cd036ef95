//! Number and duration literals, with the exact acceptance rules of Prometheus 2.42: Go's
//! `ParseInt(s, 0, 64)`-then-`ParseFloat` for numbers (so `0x1f` is hex and `010` octal) and
//! `model.ParseDuration` for durations (ordered units, ~292-year limit).

use crate::gofmt::parse_go_float;

/// A number literal: Go `ParseInt(s, 0, 64)` first (so `0x1f` is hex and `010` is octal),
/// then `ParseFloat`, as Prometheus' `parseNumber` does.
pub(super) fn parse_number(text: &str) -> std::result::Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    if lower == "inf" {
        return Ok(f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    let as_int = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        None
    };
    if let Some(n) = as_int {
        return Ok(n as f64);
    }
    parse_go_float(text)
        .ok_or_else(|| format!("error parsing number: {text:?} is not a valid number"))
}

/// Prometheus' `model.ParseDuration`: units `y w d h m s ms`, each at most once and in that
/// order, at most ~292 years.
pub(super) fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    const UNITS: [(&str, i128); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {text:?}");
    let mut rest = text;
    let mut next_unit = 0;
    let mut total_ms: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: i128 = rest[..digits]
            .parse()
            .map_err(|_| "duration out of range".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?
            + next_unit;
        next_unit = idx + 1;
        total_ms = total_ms.saturating_add(n.saturating_mul(UNITS[idx].1));
        if total_ms.saturating_mul(1_000_000) > i128::from(i64::MAX) {
            return Err("duration out of range".to_string());
        }
    }
    if text.is_empty() {
        return Err("empty duration string".to_string());
    }
    i64::try_from(total_ms).map_err(|_| "duration out of range".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Expr;
    use crate::parser::test_support::{err, ok};

    #[test]
    fn number_literals() {
        assert_eq!(ok("0x1f"), Expr::Number(31.0));
        assert_eq!(ok("010"), Expr::Number(8.0));
        assert_eq!(ok("089"), Expr::Number(89.0));
        assert_eq!(ok("1e3"), Expr::Number(1000.0));
        assert_eq!(ok(".5"), Expr::Number(0.5));
        assert_eq!(ok("Inf"), Expr::Number(f64::INFINITY));
        assert_eq!(ok("-inf"), Expr::Number(f64::NEG_INFINITY));
        assert!(matches!(ok("NaN"), Expr::Number(v) if v.is_nan()));
        assert_eq!(ok("1 # comment"), Expr::Number(1.0));
    }

    #[test]
    fn string_literals() {
        assert_eq!(ok(r#""a\tb""#), Expr::String("a\tb".into()));
        assert_eq!(ok("'x'"), Expr::String("x".into()));
        assert_eq!(ok("`a\\b`"), Expr::String("a\\b".into()));
    }

    #[test]
    fn numbers_out_of_range_or_malformed_are_errors() {
        let e = err("1 + 1e400");
        assert_eq!(e.pos, 4);
        assert!(
            e.message.starts_with("error parsing number"),
            "{}",
            e.message
        );
        assert!(err("0x").message.starts_with("error parsing number"));
        assert_eq!(ok("99999999999999999999"), Expr::Number(1e20));
        assert_eq!(
            ok("0777777777777777777777777"),
            Expr::Number(777777777777777777777777.0)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1s500ms"), Ok(1_500));
        assert_eq!(parse_duration("1y"), Ok(31_536_000_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("1hs").is_err());
        assert!(parse_duration("1000y").is_err());
        let Expr::MatrixSelector(ms) = ok("x[1w2d]") else {
            panic!("matrix")
        };
        assert_eq!(ms.range_ms, 9 * 86_400_000);
    }
}
