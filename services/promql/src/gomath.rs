//! Go's float arithmetic, where it differs from Rust's.
//!
//! Prometheus is written in Go, and a few of Go's math routines disagree with the obvious Rust
//! spelling: `math.Max`/`math.Min` propagate NaN (Rust's `f64::max` drops it), `math.Pow`
//! computes integer powers by repeated squaring (so `x^3` can differ from libm's `pow` in the
//! last bit), and `math.Atan2`/`math.Log` are Go's own polynomial approximations. Answers are
//! meant to be bit-identical to Prometheus', so these are ports of Go's algorithms (constants
//! as in Go's source) rather than calls into the platform's libm. Go's text formats for
//! numbers and strings live next door in [`crate::gofmt`].

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
pub(crate) fn ldexp(frac: f64, exp: i64) -> f64 {
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
/// Integer exponents are computed by repeated squaring of the mantissa, exactly as Go does.
/// The fractional part goes through `exp(yf * log(x))` with Go's `log` algorithm but the
/// platform's `exp` (Go's amd64 `Exp` is assembly), so a non-integer exponent can still
/// differ from Prometheus in the last bit.
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
    if yi >= (1u64 << 63) as f64 {
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
        a1 = (yf * go_log(x)).exp();
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

/// Go `math.Log` (the FreeBSD `e_log.c` algorithm Go implements, also in its amd64 assembly).
#[allow(clippy::excessive_precision)] // constants digit for digit as in Go's source
fn go_log(x: f64) -> f64 {
    const LN2_HI: f64 = 6.93147180369123816490e-01;
    const LN2_LO: f64 = 1.90821492927058770002e-10;
    const L1: f64 = 6.666666666666735130e-01;
    const L2: f64 = 3.999999999940941908e-01;
    const L3: f64 = 2.857142874366239149e-01;
    const L4: f64 = 2.222219843214978396e-01;
    const L5: f64 = 1.818357216161805012e-01;
    const L6: f64 = 1.531383769920937332e-01;
    const L7: f64 = 1.479819860511658591e-01;
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

/// Go `math.Atan2` (pure Go, from Cephes), bit-identical to Prometheus' `atan2` operator.
pub(crate) fn go_atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if y == 0.0 {
        if x >= 0.0 && !x.is_sign_negative() {
            return 0.0_f64.copysign(y);
        }
        return PI.copysign(y);
    }
    if x == 0.0 {
        return (PI / 2.0).copysign(y);
    }
    if x.is_infinite() {
        if x > 0.0 {
            return if y.is_infinite() {
                (PI / 4.0).copysign(y)
            } else {
                0.0_f64.copysign(y)
            };
        }
        return if y.is_infinite() {
            (3.0 * PI / 4.0).copysign(y)
        } else {
            PI.copysign(y)
        };
    }
    if y.is_infinite() {
        return (PI / 2.0).copysign(y);
    }
    let q = go_atan(y / x);
    if x < 0.0 {
        if q <= 0.0 {
            return q + PI;
        }
        return q - PI;
    }
    q
}

fn go_atan(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    if x > 0.0 {
        return reduced_atan(x);
    }
    -reduced_atan(-x)
}

/// Reduces a positive argument to `[0, 0.66]` for [`atan_series`].
#[allow(clippy::excessive_precision)] // constants digit for digit as in Go's source
fn reduced_atan(x: f64) -> f64 {
    use std::f64::consts::PI;
    const MORE_BITS: f64 = 6.123233995736765886130e-17; // pi/2 = PIO2 + MORE_BITS
    const TAN_3PI_8: f64 = 2.41421356237309504880;
    if x <= 0.66 {
        return atan_series(x);
    }
    if x > TAN_3PI_8 {
        return PI / 2.0 - atan_series(1.0 / x) + MORE_BITS;
    }
    PI / 4.0 + atan_series((x - 1.0) / (x + 1.0)) + 0.5 * MORE_BITS
}

#[allow(clippy::excessive_precision)] // constants digit for digit as in Go's source
fn atan_series(x: f64) -> f64 {
    const P0: f64 = -8.750608600031904122785e-01;
    const P1: f64 = -1.615753718733365076637e+01;
    const P2: f64 = -7.500855792314704667340e+01;
    const P3: f64 = -1.228866684490136173410e+02;
    const P4: f64 = -6.485021904942025371773e+01;
    const Q0: f64 = 2.485846490142306297962e+01;
    const Q1: f64 = 1.650270098316988542046e+02;
    const Q2: f64 = 4.328810604912902668951e+02;
    const Q3: f64 = 4.853903996359136964868e+02;
    const Q4: f64 = 1.945506571482613964425e+02;
    let mut z = x * x;
    z = z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4)
        / (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
    x * z + x
}

/// Go `time.Duration.Seconds()` for a whole number of milliseconds: whole seconds plus the
/// remainder divided by 1e9 nanoseconds, which is not always bit-equal to `ms / 1000.0`.
pub(crate) fn duration_seconds(ms: i64) -> f64 {
    let ns = i128::from(ms) * 1_000_000;
    let sec = ns / 1_000_000_000;
    let nsec = ns % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
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
    fn atan2_and_log_match_go() {
        // Values printed by Prometheus 2.42 for `v atan2 3` and `1.7 atan2 v`.
        assert_eq!(go_atan2(7.25, 3.0), 1.1784561825793807);
        assert_eq!(go_atan2(1e-5, 3.0), 3.3333333333209882e-6);
        assert_eq!(go_atan2(1.7, 0.5), 1.2847448850775782);
        assert_eq!(go_atan2(1.7, 100.0), 1.699836261724613e-2);
        assert_eq!(go_atan2(0.0, -1.0), std::f64::consts::PI);
        assert_eq!(go_atan2(-1.0, f64::NEG_INFINITY), -std::f64::consts::PI);
        assert!(go_atan2(f64::NAN, 1.0).is_nan());
        assert_eq!(go_log(1.0), 0.0);
        assert_eq!(go_log(0.0), f64::NEG_INFINITY);
        assert!(go_log(-1.0).is_nan());
        // `3 ^ -2.7` as Prometheus 2.42 prints it (libm's log gives ...536e-2).
        assert_eq!(go_pow(3.0, -2.7), 5.1495895196885515e-2);
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
}
