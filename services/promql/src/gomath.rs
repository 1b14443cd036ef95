//! Go's float semantics, where they differ from Rust's.
//!
//! Prometheus is written in Go, and a few of Go's float routines disagree with the obvious Rust
//! spelling: `math.Max`/`math.Min` propagate NaN (Rust's `f64::max` drops it), `math.Pow`
//! computes integer powers by repeated squaring (so `x^3` can differ from libm's `pow` in the
//! last bit), `strconv.ParseFloat` rejects out-of-range input that Rust turns into infinity,
//! and `fmt`'s `%v` prints `1e+06` where Rust prints `1000000`. Keeping them together here lets
//! the evaluator and the printer say "Go semantics" once instead of re-deriving them inline.

/// Go `math.Max`: +Inf wins over NaN, otherwise NaN wins; +0 beats -0.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y {
        x
    } else {
        y
    }
}

/// Go `math.Min`: -Inf wins over NaN, otherwise NaN wins; -0 beats +0.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y {
        x
    } else {
        y
    }
}

const SHIFT: u32 = 52;
const MASK: u64 = 0x7ff;
const BIAS: i64 = 1023;
const SMALLEST_NORMAL: f64 = 2.2250738585072014e-308;

/// Scales subnormals into the normal range, returning the compensating exponent.
fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < SMALLEST_NORMAL {
        return (x * (1u64 << 52) as f64, -52);
    }
    (x, 0)
}

/// Go `math.Frexp`: `x = frac * 2^exp` with `|frac|` in `[0.5, 1)`.
fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || x.is_infinite() || x.is_nan() {
        return (x, 0);
    }
    let (f, mut exp) = normalize(x);
    let mut bits = f.to_bits();
    exp += ((bits >> SHIFT) & MASK) as i64 - BIAS + 1;
    bits &= !(MASK << SHIFT);
    bits |= ((-1 + BIAS) as u64) << SHIFT;
    (f64::from_bits(bits), exp)
}

/// Go `math.Ldexp`: `frac * 2^exp`, rounding once into subnormals.
fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (f, e) = normalize(frac);
    let mut exp = exp + e;
    let mut bits = f.to_bits();
    exp += ((bits >> SHIFT) & MASK) as i64 - BIAS;
    if exp < -1075 {
        return 0.0_f64.copysign(f);
    }
    if exp > 1023 {
        return if f < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    bits &= !(MASK << SHIFT);
    bits |= ((exp + BIAS) as u64) << SHIFT;
    m * f64::from_bits(bits)
}

fn is_odd_int(x: f64) -> bool {
    if x.abs() >= (1u64 << 53) as f64 {
        return false;
    }
    x.trunc() == x && (x as i64) & 1 == 1
}

/// Go `math.Pow` (Go 1.19/1.20 algorithm, used by Prometheus 2.42 for `^`).
///
/// Integer exponents are computed by repeated squaring of the mantissa; the fractional part
/// goes through `exp(yf * ln(x))`, where Rust's libm may differ from Go's in the last bit.
pub(crate) fn go_pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        if y < 0.0 {
            return if x.is_sign_negative() && is_odd_int(y) {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
        }
        return if x.is_sign_negative() && is_odd_int(y) {
            x
        } else {
            0.0
        };
    }
    if y.is_infinite() {
        if x == -1.0 {
            return 1.0;
        }
        return if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x < 0.0 {
            return go_pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }

    let abs_y = y.abs();
    let mut yi = abs_y.trunc();
    let mut yf = abs_y - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9.223372036854775808e18 {
        if x == -1.0 {
            return 1.0;
        }
        return if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }

    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = (yf * x.ln()).exp();
    }

    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }

    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// Go `time.Duration.Seconds()` for a whole number of milliseconds: whole seconds plus the
/// remainder divided by 1e9 nanoseconds, which is not always bit-equal to `ms / 1000.0`.
pub(crate) fn duration_seconds(ms: i64) -> f64 {
    let ns = i128::from(ms) * 1_000_000;
    let sec = ns / 1_000_000_000;
    let nsec = ns % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
}

/// Go `strconv.ParseFloat(s, 64)` success cases: decimal and hex-float syntax, `inf`,
/// `infinity` and `nan` in any case, and no result at all where Go reports a range error.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        // Go accepts no sign in front of NaN.
        return (s.len() == body.len()).then_some(f64::NAN);
    }
    let magnitude = if lower.starts_with("0x") {
        parse_hex_float(&lower[2..])?
    } else {
        parse_decimal(body)?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_decimal(body: &str) -> Option<f64> {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    let value: f64 = body.parse().ok()?;
    // Go reports overflow as a range error rather than returning infinity.
    value.is_finite().then_some(value)
}

/// Hex mantissa with a mandatory binary exponent (`1.8p3`), as Go requires.
fn parse_hex_float(body: &str) -> Option<f64> {
    let (mantissa, exponent) = body.split_once('p')?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    let mut exp2: i64 = 0;
    let mut sticky = false;
    for (is_frac, c) in int_part
        .chars()
        .map(|c| (false, c))
        .chain(frac_part.chars().map(|c| (true, c)))
    {
        let d = c.to_digit(16)? as u64;
        if value >> 58 == 0 {
            value = value * 16 + d;
            if is_frac {
                exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !is_frac {
                exp2 += 4;
            }
        }
    }
    let exp: i64 = exponent.parse().ok()?;
    let mantissa = (value | u64::from(sticky)) as f64;
    let result = ldexp(mantissa, exp.saturating_add(exp2));
    result.is_finite().then_some(result)
}

/// Go `fmt`'s `%v` for a float64: shortest round-trip digits, with exponent notation when the
/// decimal exponent is below -4 or at least 6, as `%g` does at shortest precision (`1e+06`,
/// `123456`, `1e-05`), and `+Inf`, `-Inf`, `NaN`.
pub(crate) fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's `{:e}` yields the shortest round-trip digits: "-1.2345e6".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
        return out;
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.push_str(&"0".repeat(point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

/// Go `strconv.Quote`-style double-quoted string, which the lexer reads back unchanged.
pub(crate) fn quote_go_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_min_propagate_nan_like_go() {
        assert!(go_max(f64::NAN, 1.0).is_nan());
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert!(go_min(f64::NAN, 1.0).is_nan());
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(-0.0, 0.0).is_sign_negative());
        assert_eq!(go_max(1.0, 2.0), 2.0);
        assert_eq!(go_min(1.0, 2.0), 1.0);
    }

    #[test]
    fn pow_follows_go_special_cases() {
        assert_eq!(go_pow(2.0, 10.0), 1024.0);
        assert_eq!(go_pow(2.0, -2.0), 0.25);
        assert_eq!(go_pow(1.0, f64::NAN), 1.0);
        assert_eq!(go_pow(f64::NAN, 0.0), 1.0);
        assert!(go_pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(go_pow(-2.0, 3.0), -8.0);
        assert_eq!(go_pow(-1.0, f64::INFINITY), 1.0);
        assert_eq!(go_pow(0.5, f64::INFINITY), 0.0);
        assert_eq!(go_pow(-0.0, -3.0), f64::NEG_INFINITY);
        assert_eq!(go_pow(f64::NEG_INFINITY, 3.0), f64::NEG_INFINITY);
        assert_eq!(go_pow(9.0, 0.5), 3.0);
        assert_eq!(go_pow(10.0, 400.0), f64::INFINITY);
        assert_eq!(go_pow(10.0, -400.0), 0.0);
        assert!((go_pow(2.0, 0.25) - 2f64.powf(0.25)).abs() < 1e-15);
    }

    #[test]
    fn frexp_and_ldexp_round_trip() {
        for x in [1.0, 3.5, -0.1, 1e300, 5e-324, 2.2250738585072014e-308] {
            let (f, e) = frexp(x);
            assert!(f.abs() >= 0.5 && f.abs() < 1.0, "{x}");
            assert_eq!(ldexp(f, e), x);
        }
    }

    #[test]
    fn duration_seconds_matches_go() {
        assert_eq!(duration_seconds(30_000), 30.0);
        assert_eq!(duration_seconds(1_500), 1.5);
        assert_eq!(duration_seconds(-1_500), -1.5);
    }

    #[test]
    fn parse_float_accepts_what_go_accepts() {
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_go_float("Infinity"), Some(f64::INFINITY));
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_go_float("+NaN"), None);
        assert_eq!(parse_go_float(".5"), Some(0.5));
        assert_eq!(parse_go_float("5."), Some(5.0));
        assert_eq!(parse_go_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_go_float("0x1.8p1"), Some(3.0));
        assert_eq!(parse_go_float("0x10"), None);
        assert_eq!(parse_go_float("1e400"), None);
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("1_000"), None);
        assert_eq!(parse_go_float("abc"), None);
        assert_eq!(parse_go_float("1e"), None);
    }

    #[test]
    fn format_float_matches_go_percent_v() {
        assert_eq!(format_go_float(1.0), "1");
        assert_eq!(format_go_float(0.1), "0.1");
        assert_eq!(format_go_float(123456.0), "123456");
        assert_eq!(format_go_float(1_000_000.0), "1e+06");
        assert_eq!(format_go_float(123456789.0), "1.23456789e+08");
        assert_eq!(format_go_float(0.0001), "0.0001");
        assert_eq!(format_go_float(0.00001), "1e-05");
        assert_eq!(format_go_float(-2.5), "-2.5");
        assert_eq!(format_go_float(-0.0), "-0");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
        assert_eq!(format_go_float(1e21), "1e+21");
    }

    #[test]
    fn quote_escapes_quotes_and_controls() {
        assert_eq!(quote_go_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(quote_go_string("\u{1}é"), "\"\\x01é\"");
    }
}
