//! Go's `time` arithmetic on millisecond timestamps: `Time.Sub` and `Duration` conversions
//! saturate at the ±2^63 ns range of `time.Duration`, `Time.Round` counts from Go's year-1
//! zero time rather than the Unix epoch, and `Duration.Seconds` splits whole seconds from
//! nanoseconds before dividing. Timestamps are `i64` Unix milliseconds, as everywhere in
//! tachyscale; the intermediate nanosecond values use `i128` so nothing overflows before
//! Go's saturation applies.
//!
//! Followed: Go 1.22 `src/time/time.go` (`Time.Sub`, `Time.Round`, `Duration.Seconds`).

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix milliseconds: the VPA keeps "no
/// timestamp yet" as this value, and the HPA reads a Ready condition without
/// `lastTransitionTime` as it. Arithmetic on it saturates (see [`sub_ns`]).
pub const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

const NANOS_PER_MILLI: i128 = 1_000_000;

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

/// Go `time.Duration.Seconds()` for a whole number of milliseconds: whole seconds plus the
/// remainder divided by 1e9 nanoseconds, which is not always bit-equal to `ms / 1000.0`.
pub fn duration_seconds(ms: i64) -> f64 {
    let ns = i128::from(ms) * NANOS_PER_MILLI;
    let sec = ns / 1_000_000_000;
    let nsec = ns % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(ms_to_ns(i64::MAX), i64::MAX);
    }

    #[test]
    fn duration_seconds_matches_go() {
        assert_eq!(duration_seconds(30_000), 30.0);
        assert_eq!(duration_seconds(1_500), 1.5);
        assert_eq!(duration_seconds(-1_500), -1.5);
    }
}
