//! Go's float64 bit handling and conversions: `math.Max`/`math.Min` (NaN and signed-zero
//! rules), `math.Frexp`/`math.Ldexp` (exact mantissa/exponent split, one rounding into
//! subnormals) and `int64(f)` as amd64 executes it. The elementary functions next door are
//! built on [`frexp`] and [`ldexp`].
//!
//! Followed: Go 1.22 `src/math/{dim.go, frexp.go, ldexp.go, bits.go}`.

const SHIFT: u32 = 52;
const MASK: u64 = 0x7ff;
const BIAS: i64 = 1023;
const SMALLEST_NORMAL: f64 = 2.2250738585072014e-308;

/// Go `math.Max`: +Inf wins over NaN, otherwise NaN wins; +0 beats -0.
pub fn max(x: f64, y: f64) -> f64 {
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
pub fn min(x: f64, y: f64) -> f64 {
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

/// Scales subnormals into the normal range, returning the compensating exponent.
fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < SMALLEST_NORMAL {
        return (x * (1u64 << 52) as f64, -52);
    }
    (x, 0)
}

/// Go `math.Frexp`: `x = frac × 2^exp` with `|frac|` in `[0.5, 1)`.
pub fn frexp(x: f64) -> (f64, i64) {
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

/// Go `math.Ldexp`: `frac × 2^exp`, exact unless the result is subnormal, where it rounds
/// once.
///
/// Deviation: Go adds to the exponent with wrapping `int` arithmetic, so an exponent within
/// 64 of `i64::MAX` can wrap to a huge negative one and give 0; here the sum saturates and
/// the result is ±Inf (0 for `i64::MIN`), which is what Go gives for every exponent that
/// does not wrap. Callers pass exponents far from the limits, except text such as
/// `0x2p9223372036854775807` parsed as a hex float, which must overflow rather than wrap.
pub fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (f, e) = normalize(frac);
    let mut exp = exp.saturating_add(e);
    let mut bits = f.to_bits();
    exp = exp.saturating_add(((bits >> SHIFT) & MASK) as i64 - BIAS);
    if exp < -1075 {
        return 0.0_f64.copysign(f);
    }
    if exp > 1023 {
        return f64::INFINITY.copysign(f);
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

/// Go's `int64(f)` on amd64: truncation toward zero, and the "integer indefinite" value
/// `math.MinInt64` for NaN and anything out of range (Rust's `as` would saturate).
pub fn float_to_int(f: f64) -> i64 {
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// `round(x)` of the VPA's `decaying_histogram.go`: `int(math.Floor(x + 0.5))`.
pub fn round_half_up(x: f64) -> i64 {
    float_to_int((x + 0.5).floor())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_min_propagate_nan_like_go() {
        assert!(max(f64::NAN, 1.0).is_nan());
        assert!(max(1.0, f64::NAN).is_nan());
        assert_eq!(max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert!(min(f64::NAN, 1.0).is_nan());
        assert_eq!(min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert!(max(-0.0, 0.0).is_sign_positive());
        assert!(min(-0.0, 0.0).is_sign_negative());
        assert_eq!(max(1.0, 2.0), 2.0);
        assert_eq!(min(1.0, 2.0), 1.0);
    }

    #[test]
    fn frexp_and_ldexp_round_trip() {
        for x in [
            1.0,
            1.05,
            3.5,
            -0.1,
            -0.75,
            6.02e23,
            1e300,
            3.0e-310,
            5e-324,
            2.2250738585072014e-308,
        ] {
            let (frac, exp) = frexp(x);
            assert!((0.5..1.0).contains(&frac.abs()), "{x}");
            assert_eq!(ldexp(frac, exp), x);
        }
    }

    #[test]
    fn ldexp_out_of_range_saturates() {
        assert_eq!(ldexp(1.0, -106_752), 0.0);
        assert!(ldexp(-1.0, -2000).is_sign_negative());
        assert_eq!(ldexp(-1.0, 1024), f64::NEG_INFINITY);
        // The exponent sum saturates instead of wrapping around to a tiny number.
        assert_eq!(ldexp(2.0, i64::MAX), f64::INFINITY);
        assert_eq!(ldexp(2.0, i64::MIN), 0.0);
    }

    #[test]
    fn float_to_int_truncates_and_maps_nan_to_min_int() {
        assert_eq!(float_to_int(f64::NAN), i64::MIN);
        assert_eq!(float_to_int(1e19), i64::MIN);
        assert_eq!(float_to_int(-2.7), -2);
        assert_eq!(round_half_up(-106_751.99), -106_752);
        assert_eq!(round_half_up(2.5), 3);
    }
}
