//! Go's float64 and `time` arithmetic, ported operation for operation, for code whose
//! answers must be bit-identical to a Go program: the PromQL evaluator (Prometheus 2.42)
//! and the VPA recommender (Kubernetes autoscaler).
//!
//! A few of Go's library routines disagree with the obvious Rust spelling in the last bit
//! or on special values: `math.Max`/`math.Min` propagate NaN (Rust's `f64::max` drops it),
//! `math.Pow` computes integer powers by repeated squaring (so `x^3` can differ from libm's
//! `pow`), `math.Log`, `math.Exp2` and `math.Atan2` are Go's own polynomial approximations
//! while Rust's `ln`/`exp2`/`atan2` call the platform libm, `int64(f)` on NaN is
//! `math.MinInt64` where Rust's `as` saturates, `time.Time.Round` rounds since the year-1
//! zero time rather than the Unix epoch, and `time.Time.Sub` saturates at ±2^63 ns. A
//! PromQL answer, a VPA bucket boundary or a weight compared against ε can go the other
//! way on any of these, so both callers use the ports here instead of libm.
//!
//! The ports match Go built for amd64 (Go does not fuse multiply-adds there at the default
//! `GOAMD64=v1`; on arm64 it may, so Go itself differs between architectures in the last
//! bit). Followed: Go 1.22 `src/math/{exp.go, log.go, pow.go, ldexp.go, frexp.go,
//! atan.go, atan2.go, dim.go}` (unchanged since Go 1.19, which Prometheus 2.42 was built
//! with) and `src/time/time.go` (`Round`, `Sub`, `Duration.Seconds`). Deviations are
//! listed on the functions: [`pow`] takes the fractional part of an exponent through the
//! platform's `exp` (Go's amd64 `Exp` is assembly), and [`ldexp`] saturates an `i64`
//! exponent overflow instead of wrapping.
//!
//! - `float`: [`max`], [`min`], [`frexp`], [`ldexp`], [`float_to_int`], [`round_half_up`];
//! - `elementary`: [`exp2`], [`log`], [`pow`], [`atan2`];
//! - `time`: [`GO_ZERO_TIME_MS`], [`sub_ns`], [`ms_to_ns`], [`round_time_ms`],
//!   [`duration_seconds`].
//!
//! Pure: no I/O, no dependencies beyond `std`.

mod elementary;
mod float;
mod time;

pub use elementary::{atan2, exp2, log, pow};
pub use float::{float_to_int, frexp, ldexp, max, min, round_half_up};
pub use time::{duration_seconds, ms_to_ns, round_time_ms, sub_ns, GO_ZERO_TIME_MS};
