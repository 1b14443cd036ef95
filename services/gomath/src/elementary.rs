//! Go's portable `math.Exp2`, `math.Log`, `math.Pow` and `math.Atan2`, which amd64 Go
//! runs (or whose assembly computes the same bits, for `Log`). Rust's `exp2`/`ln`/`powf`/
//! `atan2` call the platform libm, usually correctly rounded where Go's code is not, so
//! they differ from Go in the last bit often enough to change a PromQL answer or a VPA
//! histogram bucket.
//!
//! Followed: Go 1.22 `src/math/{exp.go, log.go, pow.go, atan.go, atan2.go}` (the same
//! algorithms as Go 1.19/1.20, which Prometheus 2.42 uses for `^` and `atan2`).

// Go's constants are kept digit for digit, so they can be checked against the source;
// they parse to the same f64 either way.
#![allow(clippy::excessive_precision)]

use crate::float::{frexp, ldexp};

const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;

/// `expmulti` of `exp.go`: `e^r × 2^k` where `r = hi - lo`.
fn expmulti(hi: f64, lo: f64, k: i64) -> f64 {
    const P1: f64 = 1.66666666666666657415e-01;
    const P2: f64 = -2.77777777770155933842e-03;
    const P3: f64 = 6.61375632143793436117e-05;
    const P4: f64 = -1.65339022054652515390e-06;
    const P5: f64 = 4.13813679705723846039e-08;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    ldexp(y, k)
}

/// Go `math.Exp2` (the portable Go code, which amd64 uses).
pub fn exp2(x: f64) -> f64 {
    const OVERFLOW: f64 = 1.0239999999999999e+03;
    const UNDERFLOW: f64 = -1.0740e+03;
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

/// Go `math.Log` (the FreeBSD `e_log.c` algorithm both Go's portable code and its amd64
/// assembly implement).
pub fn log(x: f64) -> f64 {
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

fn is_odd_int(x: f64) -> bool {
    if x.abs() >= (1u64 << 53) as f64 {
        return false;
    }
    x.trunc() == x && (x as i64) & 1 == 1
}

/// Go `math.Pow`: Prometheus' `^` operator and the VPA's bucket starts and confidence
/// multipliers.
///
/// Integer exponents are computed by repeated squaring of the [`frexp`] mantissa, exactly
/// as Go does, so they are bit-identical to Go. Deviation: the fractional part of an
/// exponent goes through `exp(yf × log(x))` with Go's [`log`] but the platform's `exp`
/// (Go's amd64 `Exp` is assembly), so a non-integer exponent can still differ from Go in
/// the last bit.
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

    let abs_y = y.abs();
    let mut yi = abs_y.trunc();
    let mut yf = abs_y - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= (1u64 << 63) as f64 {
        // A large even integer: overflows or underflows for every x except -1 (and 1,
        // handled above).
        if x == -1.0 {
            return 1.0;
        }
        return if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }

    // The answer is a1 × 2^ae.
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = (yf * log(x)).exp();
    }

    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            // Certain overflow or underflow; ldexp below reports it.
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

/// Go `math.Atan2` (pure Go, from Cephes), bit-identical to Prometheus' `atan2` operator.
pub fn atan2(y: f64, x: f64) -> f64 {
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
    let q = atan(y / x);
    if x < 0.0 {
        if q <= 0.0 {
            return q + PI;
        }
        return q - PI;
    }
    q
}

/// Go `math.Atan`.
fn atan(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    if x > 0.0 {
        return reduced_atan(x);
    }
    -reduced_atan(-x)
}

/// `satan` of `atan.go`: reduces a positive argument to `[0, 0.66]` for [`atan_series`].
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

/// `xatan` of `atan.go`: the rational approximation on `[0, 0.66]`.
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
    fn pow_follows_go_special_cases() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(2.0, -2.0), 0.25);
        assert_eq!(pow(1.0, f64::NAN), 1.0);
        assert_eq!(pow(f64::NAN, 0.0), 1.0);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(-2.0, 3.0), -8.0);
        assert_eq!(pow(-1.0, f64::INFINITY), 1.0);
        assert_eq!(pow(0.5, f64::INFINITY), 0.0);
        assert_eq!(pow(-0.0, -3.0), f64::NEG_INFINITY);
        assert_eq!(pow(f64::NEG_INFINITY, 3.0), f64::NEG_INFINITY);
        assert_eq!(pow(f64::INFINITY, -2.0), 0.0);
        assert_eq!(pow(f64::INFINITY, 1.0), f64::INFINITY);
        assert_eq!(pow(9.0, 0.5), 3.0);
        assert_eq!(pow(10.0, 400.0), f64::INFINITY);
        assert_eq!(pow(10.0, -400.0), 0.0);
        assert!((pow(2.0, 0.25) - 2f64.powf(0.25)).abs() < 1e-15);
    }

    #[test]
    fn pow_with_integer_exponents_matches_repeated_multiplication() {
        assert_eq!(pow(1.5, 2.0), 2.25);
        assert_eq!(pow(2.0, -2.0), 0.25);
        let close = (pow(1.05, 175.0) - 1.05f64.powf(175.0)).abs() / 1.05f64.powf(175.0);
        assert!(close < 1e-14);
    }

    #[test]
    fn atan2_and_log_match_go() {
        // Values printed by Prometheus 2.42 for `v atan2 3` and `1.7 atan2 v`.
        assert_eq!(atan2(7.25, 3.0), 1.1784561825793807);
        assert_eq!(atan2(1e-5, 3.0), 3.3333333333209882e-6);
        assert_eq!(atan2(1.7, 0.5), 1.2847448850775782);
        assert_eq!(atan2(1.7, 100.0), 1.699836261724613e-2);
        assert_eq!(atan2(0.0, -1.0), std::f64::consts::PI);
        assert_eq!(atan2(-1.0, f64::NEG_INFINITY), -std::f64::consts::PI);
        assert!(atan2(f64::NAN, 1.0).is_nan());
        assert_eq!(log(1.0), 0.0);
        assert_eq!(log(0.0), f64::NEG_INFINITY);
        assert!(log(-1.0).is_nan());
        // `3 ^ -2.7` as Prometheus 2.42 prints it (libm's log gives ...536e-2).
        assert_eq!(pow(3.0, -2.7), 5.1495895196885515e-2);
    }
}
