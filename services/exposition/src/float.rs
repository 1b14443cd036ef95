//! Number syntax: sample values, timestamps, and `le`/`quantile` bounds.
//!
//! Both formats share one value grammar. OpenMetrics 1.0's ABNF:
//!
//! ```text
//! number     = realnumber / [SIGN] ("inf" / "infinity") / "nan"      ; case-insensitive
//! realnumber = [SIGN] 1*DIGIT ["." *DIGIT] ["e" [SIGN] 1*DIGIT]
//!            / [SIGN] *DIGIT "." 1*DIGIT ["e" [SIGN] 1*DIGIT]
//! ```
//!
//! is exactly what Prometheus' text parser accepts through Go's `strconv.ParseFloat` once
//! its `parseFloat` wrapper has refused `p`, `P` and `_` (which leaves no hex floats and no
//! digit separators): decimal with optional fraction and exponent, `Inf`/`Infinity` with
//! optional sign and `NaN` without, in any case. The grammar is checked here byte by byte
//! and only then converted — by Clinger's exact fast path when the digits fit 53 bits and
//! the exponent ±22, else by `str::parse::<f64>` (which alone would also accept `+nan`).
//!
//! Like Go's `ParseFloat`, a finite spelling that overflows `f64` (`1e400`) is an error.
//! Every NaN becomes Prometheus' `value.NormalNaN` so a scraped NaN can never look like
//! the staleness marker.

/// Bit pattern of the NaN every parsed `NaN` becomes: Prometheus' `value.NormalNaN`
/// (`0x7ff8000000000001`), distinct from the staleness marker `0x7ff0000000000002`.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Prometheus' normal NaN.
pub(crate) fn normal_nan() -> f64 {
    f64::from_bits(NORMAL_NAN_BITS)
}

/// Where the parts of a `realnumber` are in its token.
struct Real {
    negative: bool,
    /// Byte range of the integer digits.
    int: (usize, usize),
    /// Byte range of the fraction digits.
    frac: (usize, usize),
    /// Decimal exponent, clamped to ±`EXP_CLAMP`.
    exp: i64,
}

/// Exponents beyond this are clamped; any such number overflows or underflows `f64`.
const EXP_CLAMP: i64 = 100_000;

fn scan_digits(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && t[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Checks the `realnumber` grammar and locates its parts.
fn scan_real(t: &[u8]) -> Option<Real> {
    let mut i = 0;
    let negative = match t.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    i = scan_digits(t, i);
    let int = (int_start, i);
    let mut frac = (i, i);
    if t.get(i) == Some(&b'.') {
        let start = i + 1;
        i = scan_digits(t, start);
        frac = (start, i);
    }
    if int.0 == int.1 && frac.0 == frac.1 {
        return None;
    }
    let mut exp = 0i64;
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_negative = match t.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        i = scan_digits(t, start);
        if i == start {
            return None;
        }
        for &d in &t[start..i] {
            exp = (exp * 10 + i64::from(d - b'0')).min(EXP_CLAMP);
        }
        if exp_negative {
            exp = -exp;
        }
    }
    if i != t.len() {
        return None;
    }
    Some(Real {
        negative,
        int,
        frac,
        exp,
    })
}

/// `Inf`, `Infinity` (signed or not) and unsigned `NaN`, any case.
fn special(t: &[u8]) -> Option<f64> {
    let (sign, rest) = match t.first() {
        Some(b'+') => (1.0, &t[1..]),
        Some(b'-') => (-1.0, &t[1..]),
        _ => {
            if t.eq_ignore_ascii_case(b"nan") {
                return Some(normal_nan());
            }
            (1.0, t)
        }
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    None
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Converts a token already known to match `realnumber`; `None` if it overflows `f64`.
///
/// Clinger's fast path first: when all digits form an integer `m < 2^53` and the decimal
/// exponent `e` is within ±22, `m` and `10^|e|` are exact and one IEEE multiplication or
/// division rounds correctly, giving the same bits as `str::parse`. Everything else goes
/// to `str::parse`.
fn real_to_f64(t: &[u8], r: &Real) -> Option<f64> {
    let digits = t[r.int.0..r.int.1].iter().chain(&t[r.frac.0..r.frac.1]);
    let mut m: u64 = 0;
    let mut small = true;
    for &d in digits {
        m = m * 10 + u64::from(d - b'0');
        if m >= 1 << 53 {
            small = false;
            break;
        }
    }
    let e = r.exp - (r.frac.1 - r.frac.0) as i64;
    if small && (-22..=22).contains(&e) {
        let m = m as f64;
        let v = if e >= 0 {
            m * POW10[e as usize]
        } else {
            m / POW10[(-e) as usize]
        };
        return Some(if r.negative { -v } else { v });
    }
    let s = std::str::from_utf8(t).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Parses a sample or exemplar value (either format).
pub(crate) fn parse_value(t: &[u8]) -> Option<f64> {
    if let Some(v) = special(t) {
        return Some(v);
    }
    let r = scan_real(t)?;
    real_to_f64(t, &r)
}

/// Parses an `le` or `quantile` label value: any valid number except NaN, where positive
/// infinity must be spelled `+Inf` — the reference parser's reading of the spec's
/// "Canonical Numbers" (exposers MUST write `+Inf`; parsers MUST NOT reject other
/// renderings of finite numbers, so `le="1"` and `le="1e-04"` are fine).
pub(crate) fn parse_bound(t: &[u8]) -> Option<f64> {
    let v = parse_value(t)?;
    if v.is_nan() || (v == f64::INFINITY && t != b"+Inf") {
        return None;
    }
    Some(v)
}

/// Parses a text 0.0.4 timestamp: unsigned decimal milliseconds that fit an `i64`
/// (Prometheus' lexer takes `[0-9]+`, then `strconv.ParseInt`).
pub(crate) fn parse_text_timestamp(t: &[u8]) -> Option<i64> {
    if t.is_empty() {
        return None;
    }
    t.iter().try_fold(0i64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })
}

/// Parses an OpenMetrics timestamp (a `realnumber` of seconds, so no Inf or NaN) into its
/// value in seconds (for ordering checks) and whole milliseconds truncated toward zero,
/// computed exactly from the decimal digits and saturating at the `i64` range.
pub(crate) fn parse_openmetrics_timestamp(t: &[u8]) -> Option<(f64, i64)> {
    let r = scan_real(t)?;
    let seconds = real_to_f64(t, &r)?;
    Some((seconds, decimal_to_ms(t, &r)))
}

/// `trunc(value × 1000)` from the digits: shifts the decimal point three places right and
/// keeps the integer part.
fn decimal_to_ms(t: &[u8], r: &Real) -> i64 {
    let int_len = r.int.1 - r.int.0;
    let frac_len = r.frac.1 - r.frac.0;
    let total = int_len + frac_len;
    let digit = |k: usize| -> i64 {
        let b = if k < int_len {
            t[r.int.0 + k]
        } else {
            t[r.frac.0 + k - int_len]
        };
        i64::from(b - b'0')
    };
    // Number of digits left of the point after multiplying by 1000.
    let point = int_len as i64 + r.exp + 3;
    if point <= 0 {
        return 0;
    }
    let mut acc: i64 = 0;
    let mut k: usize = 0;
    while (k as i64) < point {
        let d = if k < total { digit(k) } else { 0 };
        if k >= total && acc == 0 {
            // Only zeros remain: the value is 0 however far the exponent shifts it.
            break;
        }
        match acc.checked_mul(10).and_then(|a| a.checked_add(d)) {
            Some(a) => acc = a,
            None => {
                return if r.negative { i64::MIN } else { i64::MAX };
            }
        }
        k += 1;
    }
    if r.negative {
        -acc
    } else {
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<f64> {
        parse_value(s.as_bytes())
    }

    #[test]
    fn accepts_go_parse_float_decimal_syntax() {
        assert_eq!(v("1"), Some(1.0));
        assert_eq!(v("-1"), Some(-1.0));
        assert_eq!(v("+1"), Some(1.0));
        assert_eq!(v("1e3"), Some(1000.0));
        assert_eq!(v("1E+3"), Some(1000.0));
        assert_eq!(v(".5"), Some(0.5));
        assert_eq!(v("5."), Some(5.0));
        assert_eq!(v("1.e2"), Some(100.0));
        assert_eq!(v("-.5e-1"), Some(-0.05));
        assert_eq!(
            v("0000000000000000000000000000000000000000001.2e-1"),
            Some(0.12)
        );
        assert_eq!(v("9223372036854775808"), Some(9_223_372_036_854_775_808.0));
        assert_eq!(v("1.7976931348623157e308"), Some(f64::MAX));
        assert_eq!(v("1e-400"), Some(0.0));
    }

    #[test]
    fn accepts_inf_and_nan_in_any_case() {
        for s in ["+Inf", "Inf", "inf", "INF", "+infinity", "Infinity"] {
            assert_eq!(v(s), Some(f64::INFINITY), "{s}");
        }
        for s in ["-Inf", "-inf", "-Infinity"] {
            assert_eq!(v(s), Some(f64::NEG_INFINITY), "{s}");
        }
        for s in ["NaN", "nan", "NAN"] {
            assert_eq!(v(s).map(f64::to_bits), Some(NORMAL_NAN_BITS), "{s}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for s in [
            "", "+", "-", ".", "e3", "1e", "1e+", "1_000", "0x1p-3", "0x1", "0b1", "0o1", "1 ",
            " 1", "+NaN", "-nan", "infinit", "1.2.3", "--1", "1e3.5", "Inf1", "1d", "١", "1e400",
            "-1e400",
        ] {
            assert_eq!(v(s), None, "{s:?} should not parse");
        }
    }

    #[test]
    fn fast_path_gives_the_same_bits_as_str_parse() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 10_000_000_000_000_000).to_string();
            let point = (x >> 56) as usize % (digits.len() + 1);
            let exp = (x >> 40) as i64 % 30 - 15;
            let s = format!("{}.{}e{exp}", &digits[..point], &digits[point..]);
            let s = s.replace(".e", "e");
            let want: f64 = s.parse().unwrap();
            assert_eq!(v(&s).map(f64::to_bits), Some(want.to_bits()), "{s}");
        }
        assert_eq!(v("1520879607.789"), Some(1_520_879_607.789));
        assert_eq!(v("0.1"), Some(0.1));
        assert_eq!(v("9007199254740993"), Some(9_007_199_254_740_993.0));
    }

    #[test]
    fn negative_zero_keeps_its_sign() {
        assert_eq!(v("-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(v("-0.0").map(f64::to_bits), Some((-0.0f64).to_bits()));
    }

    #[test]
    fn bounds_require_the_canonical_plus_inf() {
        let b = |s: &str| parse_bound(s.as_bytes());
        assert_eq!(b("+Inf"), Some(f64::INFINITY));
        assert_eq!(b("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(b("1"), Some(1.0));
        assert_eq!(b("1e-04"), Some(0.0001));
        for s in ["+INF", "Inf", "inf", "+Infinity", "NaN", "", "x"] {
            assert_eq!(b(s), None, "{s}");
        }
    }

    #[test]
    fn text_timestamps_are_unsigned_int64_milliseconds() {
        let t = |s: &str| parse_text_timestamp(s.as_bytes());
        assert_eq!(t("0"), Some(0));
        assert_eq!(t("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(t("9223372036854775807"), Some(i64::MAX));
        for s in ["", "-1", "+1", "1.5", "9223372036854775808", "1e3"] {
            assert_eq!(t(s), None, "{s}");
        }
    }

    #[test]
    fn openmetrics_timestamps_become_truncated_milliseconds() {
        let ms = |s: &str| parse_openmetrics_timestamp(s.as_bytes()).map(|(_, ms)| ms);
        assert_eq!(ms("0"), Some(0));
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("1.005"), Some(1005)); // 1.005 * 1000.0 is 1004.9999999999999
        assert_eq!(ms("1520879607.789"), Some(1_520_879_607_789));
        assert_eq!(ms("1.5e3"), Some(1_500_000));
        assert_eq!(ms("-1.5"), Some(-1500));
        assert_eq!(ms("-0.0005"), Some(0));
        assert_eq!(ms("0.0000000001"), Some(0));
        assert_eq!(ms("123e-5"), Some(1));
        assert_eq!(ms(".001"), Some(1));
        assert_eq!(ms("000"), Some(0));
        assert_eq!(ms("12345678901234567890.1234567890"), Some(i64::MAX));
        assert_eq!(ms("-12345678901234567890"), Some(i64::MIN));
        assert_eq!(ms("0e99999999999"), Some(0));
        assert_eq!(ms("1e300"), Some(i64::MAX));
        for s in [
            "NaN", "Inf", "-Inf", "+Inf", "0x1p-3", "1_2", "1.1.1", "z", "1e400", "",
        ] {
            assert_eq!(ms(s), None, "{s}");
        }
    }

    #[test]
    fn openmetrics_timestamp_seconds_keep_sub_millisecond_order() {
        let secs = |s: &str| parse_openmetrics_timestamp(s.as_bytes()).map(|(s, _)| s);
        assert!(secs("1.0001") > secs("1.0000"));
    }
}
