//! Go's float64 and `time` arithmetic, ported operation for operation, so that the VPA
//! recommender computes the same bits as upstream.
//!
//! The recommender's answers depend on a handful of library calls whose last bit differs
//! between implementations: `math.Exp2` (the decay factor of every sample), `math.Log`
//! (`FindBucket`), `math.Pow` (bucket starts and confidence multipliers), `math.Ldexp`
//! (reference-timestamp shifts), `int(f)` on NaN, `time.Time.Round` (which rounds since
//! the year-1 zero time, not the Unix epoch) and `time.Time.Sub` (which saturates at
//! ±2^63 ns). Rust's `exp2`/`ln`/`powf` call the platform libm, which is usually
//! correctly rounded while Go's portable code is not, so a sample that lands exactly on a
//! bucket boundary or a weight compared against ε could go the other way. Porting the Go
//! code keeps histograms and checkpoints bit-identical to an upstream recommender built
//! for amd64 (Go does not fuse multiply-adds there at the default `GOAMD64=v1`; on arm64
//! it may, so upstream itself differs between architectures in the last bit).
//!
//! Followed: Go 1.22 `src/math/{exp.go, log.go, pow.go, ldexp.go, frexp.go}` and
//! `src/time/time.go` (`Round`, `Sub`). Deviation: [`pow`] ports only integer exponents
//! (the recommender uses −2 and +1); a fractional exponent falls back to `f64::powf`.

// Go's constants are kept digit for digit, so they can be checked against the source;
// they parse to the same f64 either way.
#![allow(clippy::excessive_precision)]

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix milliseconds. Upstream keeps
/// "no timestamp yet" as this value, and arithmetic on it saturates (see [`sub_ns`]).
pub const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

const NANOS_PER_MILLI: i128 = 1_000_000;
const SHIFT: u32 = 52;
const MASK: u64 = 0x7FF;
const BIAS: i64 = 1023;
const SMALLEST_NORMAL: f64 = 2.2250738585072014e-308;

/// `t.Sub(u)` in nanoseconds, saturating at the `time.Duration` range like Go.
pub fn sub_ns(t_ms: i64, u_ms: i64) -> i64 {
    let nanos = (i128::from(t_ms) - i128::from(u_ms)) * NANOS_PER_MILLI;
    nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A millisecond duration in nanoseconds (`time.Duration`), saturating.
pub fn ms_to_ns(duration_ms: i64) -> i64 {
    sub_ns(duration_ms, 0)
}

/// `t.Round(d)`: the nearest multiple of `d` counted from Go's zero time, halfway values
/// rounding up. `d <= 0` returns `t`.
pub fn round_time_ms(t_ms: i64, d_ms: i64) -> i64 {
    if d_ms <= 0 {
        return t_ms;
    }
    let since_zero = i128::from(t_ms) - i128::from(GO_ZERO_TIME_MS);
    let remainder = since_zero.rem_euclid(i128::from(d_ms));
    let rounded = if remainder * 2 < i128::from(d_ms) {
        i128::from(t_ms) - remainder
    } else {
        i128::from(t_ms) + (i128::from(d_ms) - remainder)
    };
    rounded.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
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

/// `round(x)` of `decaying_histogram.go`: `int(math.Floor(x + 0.5))`.
pub fn round_half_up(x: f64) -> i64 {
    float_to_int((x + 0.5).floor())
}

fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < SMALLEST_NORMAL {
        (x * (1u64 << 52) as f64, -52)
    } else {
        (x, 0)
    }
}

/// `math.Frexp`: `f = frac × 2^exp` with `|frac|` in [0.5, 1).
pub fn frexp(f: f64) -> (f64, i64) {
    if f == 0.0 || f.is_infinite() || f.is_nan() {
        return (f, 0);
    }
    let (f, mut exp) = normalize(f);
    let mut bits = f.to_bits();
    exp += ((bits >> SHIFT) & MASK) as i64 - BIAS + 1;
    bits &= !(MASK << SHIFT);
    bits |= ((-1 + BIAS) as u64) << SHIFT;
    (f64::from_bits(bits), exp)
}

/// `math.Ldexp`: `frac × 2^exp`, exact unless the result is subnormal.
pub fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let mut exp = exp.saturating_add(e);
    let mut bits = frac.to_bits();
    exp = exp.saturating_add(((bits >> SHIFT) & MASK) as i64 - BIAS);
    if exp < -1075 {
        return 0.0f64.copysign(frac);
    }
    if exp > 1023 {
        return f64::INFINITY.copysign(frac);
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

fn expmulti(hi: f64, lo: f64, k: i64) -> f64 {
    const P1: f64 = 1.666_666_666_666_666_574_15e-1;
    const P2: f64 = -2.777_777_777_701_559_338_42e-3;
    const P3: f64 = 6.613_756_321_437_934_361_17e-5;
    const P4: f64 = -1.653_390_220_546_525_153_9e-6;
    const P5: f64 = 4.138_136_797_057_238_460_39e-8;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    ldexp(y, k)
}

/// `math.Exp2` (the portable Go code, which amd64 uses).
pub fn exp2(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_9e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const OVERFLOW: f64 = 1.023_999_999_999_999_9e3;
    const UNDERFLOW: f64 = -1.074e3;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    if x < UNDERFLOW {
        return 0.0;
    }
    let k: i64 = if x > 0.0 {
        (x + 0.5) as i64
    } else if x < 0.0 {
        (x - 0.5) as i64
    } else {
        0
    };
    let t = x - k as f64;
    let hi = t * LN2_HI;
    let lo = -t * LN2_LO;
    expmulti(hi, lo, k)
}

/// `math.Log` (the FreeBSD algorithm both Go's portable code and its amd64 assembly use).
pub fn log(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_9e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const L1: f64 = 6.666_666_666_666_735_13e-1;
    const L2: f64 = 3.999_999_999_940_941_908e-1;
    const L3: f64 = 2.857_142_874_366_239_149e-1;
    const L4: f64 = 2.222_219_843_214_978_396e-1;
    const L5: f64 = 1.818_357_216_161_805_012e-1;
    const L6: f64 = 1.531_383_769_920_937_332e-1;
    const L7: f64 = 1.479_819_860_511_658_591e-1;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::SQRT_2 / 2.0 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = ki as f64;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
    let t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// `math.Pow` for integer exponents (repeated squaring on the `Frexp` mantissa, exactly
/// as Go does); fractional exponents fall back to `f64::powf`.
pub fn pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    let y_is_odd_int =
        y.fract() == 0.0 && y.abs() < 9.007_199_254_740_992e15 && (y as i64) & 1 == 1;
    if x == 0.0 {
        return if y < 0.0 {
            if x.is_sign_negative() && y_is_odd_int {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        } else if x.is_sign_negative() && y_is_odd_int {
            x
        } else {
            0.0
        };
    }
    if y.is_infinite() {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y == f64::INFINITY) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x == f64::NEG_INFINITY {
            return pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let y_abs = y.abs();
    let (yi, yf) = (y_abs.trunc(), y_abs.fract());
    if yf != 0.0 {
        return x.powf(y);
    }
    if yi >= 9.223_372_036_854_775_808e18 {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_of_integers_is_exact() {
        for k in -60..=60 {
            assert_eq!(exp2(f64::from(k)), 2f64.powi(k), "2^{k}");
        }
        assert_eq!(exp2(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp2(2000.0), f64::INFINITY);
    }

    #[test]
    fn exp2_and_log_agree_with_libm_to_an_ulp() {
        for i in 1..2000 {
            let x = f64::from(i) * 0.0137 - 13.0;
            let ours = exp2(x);
            let libm = x.exp2();
            assert!(
                (ours - libm).abs() <= libm * 2.3e-16,
                "exp2({x}) {ours} vs {libm}"
            );
            let y = f64::from(i) * 0.731;
            assert!(
                (log(y) - y.ln()).abs() <= 4.5e-16 * y.ln().abs().max(1.0),
                "log({y})"
            );
        }
    }

    #[test]
    fn pow_with_integer_exponents_matches_repeated_multiplication() {
        assert_eq!(pow(1.5, 2.0), 2.25);
        assert_eq!(pow(2.0, -2.0), 0.25);
        assert_eq!(pow(f64::INFINITY, -2.0), 0.0);
        assert_eq!(pow(f64::INFINITY, 1.0), f64::INFINITY);
        let close = (pow(1.05, 175.0) - 1.05f64.powf(175.0)).abs() / 1.05f64.powf(175.0);
        assert!(close < 1e-14);
    }

    #[test]
    fn time_round_counts_from_the_year_one_zero_time() {
        let hour = 3_600_000;
        // Unix 1234567890 = 2009-02-13T23:31:30Z rounds to midnight with a 1 h period.
        assert_eq!(round_time_ms(1_234_567_890_000, hour), 1_234_569_600_000);
        assert_eq!(
            round_time_ms(1_234_567_890_000 - 120_000, hour),
            1_234_566_000_000
        );
        // Exactly half way rounds up.
        assert_eq!(round_time_ms(1_800_000, hour), hour);
        // A 7 h period is not aligned to the Unix epoch.
        let seven = 7 * hour;
        assert_eq!((round_time_ms(0, seven) - GO_ZERO_TIME_MS) % seven, 0);
        assert_ne!(round_time_ms(0, seven) % seven, 0);
    }

    #[test]
    fn durations_saturate_like_go() {
        assert_eq!(sub_ns(1_500_000_000_000, GO_ZERO_TIME_MS), i64::MAX);
        assert_eq!(sub_ns(GO_ZERO_TIME_MS, 1_500_000_000_000), i64::MIN);
        assert_eq!(sub_ns(2, 1), 1_000_000);
        assert_eq!(float_to_int(f64::NAN), i64::MIN);
        assert_eq!(float_to_int(-2.7), -2);
        assert_eq!(round_half_up(-106_751.99), -106_752);
    }

    #[test]
    fn frexp_and_ldexp_round_trip() {
        for x in [1.05, 3.0e-310, 6.02e23, -0.75] {
            let (frac, exp) = frexp(x);
            assert!((0.5..1.0).contains(&frac.abs()));
            assert_eq!(ldexp(frac, exp), x);
        }
        assert_eq!(ldexp(1.0, -106_752), 0.0);
    }
}
