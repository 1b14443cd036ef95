//! The numeric core of each function, on plain slices and floats.
//!
//! Everything here is a pure function of samples and parameters, with no labels and no
//! stepping, so each can be checked against hand-computed values. The algorithms follow
//! promql/functions.go and promql/quantile.go in Prometheus 2.42 operation for operation
//! (including their order of floating-point operations and Go's math semantics), because the
//! point is bit-identical answers, not merely close ones.

use tachyscale_gomath as gomath;
use tachyscale_tsdb::Sample;

use crate::ast::Function;

/// Evaluates a range-vector function over the samples of one series in one window (stale
/// markers already removed, at least one sample). `param` is φ for `quantile_over_time`.
pub(crate) fn range_function(
    func: Function,
    samples: &[Sample],
    param: Option<f64>,
    range_start_ms: i64,
    range_end_ms: i64,
    range_ms: i64,
) -> Option<f64> {
    let window = Window {
        samples,
        range_start_ms,
        range_end_ms,
        range_ms,
    };
    match func {
        Function::Rate => extrapolated_rate(&window, true, true),
        Function::Increase => extrapolated_rate(&window, true, false),
        Function::Delta => extrapolated_rate(&window, false, false),
        Function::Irate => instant_delta(samples, true),
        Function::Idelta => instant_delta(samples, false),
        Function::AvgOverTime => Some(avg_over_time(samples)),
        Function::MinOverTime => Some(min_over_time(samples)),
        Function::MaxOverTime => Some(max_over_time(samples)),
        Function::SumOverTime => Some(sum_over_time(samples)),
        Function::CountOverTime => Some(samples.len() as f64),
        Function::LastOverTime => samples.last().map(|s| s.value),
        Function::QuantileOverTime => {
            let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
            Some(quantile(param.unwrap_or(f64::NAN), &mut values))
        }
        Function::Scalar
        | Function::Vector
        | Function::Abs
        | Function::Ceil
        | Function::Floor
        | Function::Round
        | Function::ClampMin
        | Function::ClampMax
        | Function::HistogramQuantile => None,
    }
}

struct Window<'a> {
    samples: &'a [Sample],
    range_start_ms: i64,
    range_end_ms: i64,
    range_ms: i64,
}

/// `extrapolatedRate` from promql/functions.go: the increase between the first and last
/// sample, corrected for counter resets, extrapolated towards the window edges (at most half an
/// average interval beyond the samples, and never below zero for counters).
fn extrapolated_rate(w: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let samples = w.samples;
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for s in &samples[1..] {
            if s.value < prev {
                result += prev;
            }
            prev = s.value;
        }
    }

    let mut duration_to_start = (first.ts_ms - w.range_start_ms) as f64 / 1000.0;
    let duration_to_end = (w.range_end_ms - last.ts_ms) as f64 / 1000.0;
    let sampled_interval = (last.ts_ms - first.ts_ms) as f64 / 1000.0;
    let average_duration_between_samples = sampled_interval / (samples.len() - 1) as f64;

    if is_counter && result > 0.0 && first.value >= 0.0 {
        let duration_to_zero = sampled_interval * (first.value / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_duration_between_samples * 1.1;
    let mut extrapolate_to_interval = sampled_interval;
    if duration_to_start < threshold {
        extrapolate_to_interval += duration_to_start;
    } else {
        extrapolate_to_interval += average_duration_between_samples / 2.0;
    }
    if duration_to_end < threshold {
        extrapolate_to_interval += duration_to_end;
    } else {
        extrapolate_to_interval += average_duration_between_samples / 2.0;
    }
    let mut factor = extrapolate_to_interval / sampled_interval;
    if is_rate {
        factor /= gomath::duration_seconds(w.range_ms);
    }
    Some(result * factor)
}

/// `instantValue` from promql/functions.go: `irate`/`idelta` from the last two samples.
fn instant_delta(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let last = samples[samples.len() - 1];
    let previous = samples[samples.len() - 2];
    let mut result = if is_rate && last.value < previous.value {
        last.value // counter reset
    } else {
        last.value - previous.value
    };
    let interval_ms = last.ts_ms - previous.ts_ms;
    if interval_ms == 0 {
        return None;
    }
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}

/// Whether an incremental mean should ignore `value`: an infinite mean stays as it is when
/// `value` is finite or the same infinity (subtracting it would turn the mean into NaN).
fn mean_keeps_infinity(mean: f64, value: f64) -> bool {
    mean.is_infinite()
        && ((value.is_infinite() && (mean > 0.0) == (value > 0.0))
            || (!value.is_infinite() && !value.is_nan()))
}

/// The incremental mean of the `avg` aggregation (engine.go in 2.42: plain, no compensation),
/// dividing before subtracting so large values do not overflow.
pub(crate) fn mean_step(mean: f64, value: f64, count: f64) -> f64 {
    if mean_keeps_infinity(mean, value) {
        return mean;
    }
    mean + (value / count - mean / count)
}

/// `kahanSumInc` from promql/functions.go: Neumaier's compensated summation step.
fn kahan_step(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// `funcSumOverTime` (2.42): compensated sum, the compensation dropped for infinite sums.
fn sum_over_time(samples: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for s in samples {
        (sum, c) = kahan_step(s.value, sum, c);
    }
    if sum.is_infinite() {
        return sum;
    }
    sum + c
}

/// `funcAvgOverTime` (2.42): the incremental mean with compensated accumulation.
fn avg_over_time(samples: &[Sample]) -> f64 {
    let (mut mean, mut c) = (0.0, 0.0);
    for (i, s) in samples.iter().enumerate() {
        let count = (i + 1) as f64;
        if mean_keeps_infinity(mean, s.value) {
            continue;
        }
        (mean, c) = kahan_step(s.value / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        return mean;
    }
    mean + c
}

fn min_over_time(samples: &[Sample]) -> f64 {
    let mut min = samples[0].value;
    for s in samples {
        if s.value < min || min.is_nan() {
            min = s.value;
        }
    }
    min
}

fn max_over_time(samples: &[Sample]) -> f64 {
    let mut max = samples[0].value;
    for s in samples {
        if s.value > max || max.is_nan() {
            max = s.value;
        }
    }
    max
}

/// Sort order of promql/quantile.go's `vectorByValueHeap`: NaN first, then ascending.
pub(crate) fn cmp_nan_first(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `quantile` from promql/quantile.go: linear interpolation between the two closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| cmp_nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = gomath::max(0.0, rank.floor());
    let upper = gomath::min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// The per-sample math of `abs`, `ceil`, `floor`, `round`, `clamp_min` and `clamp_max`;
/// `param` is the scalar second argument where there is one.
pub(crate) fn elementwise(func: Function, v: f64, param: Option<f64>) -> f64 {
    match func {
        Function::Abs => v.abs(),
        Function::Ceil => v.ceil(),
        Function::Floor => v.floor(),
        Function::Round => {
            // Multiplying by the inverse causes fewer floating point accuracy issues.
            let inverse = 1.0 / param.unwrap_or(1.0);
            (v * inverse + 0.5).floor() / inverse
        }
        Function::ClampMin => gomath::max(param.unwrap_or(f64::NAN), v),
        Function::ClampMax => gomath::min(param.unwrap_or(f64::NAN), v),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts_ms: i64, value: f64) -> Sample {
        Sample::new(ts_ms, value)
    }

    fn rate_at(func: Function, samples: &[Sample], t: i64, range: i64) -> Option<f64> {
        range_function(func, samples, None, t - range, t, range)
    }

    #[test]
    fn rate_extrapolates_to_window_edges() {
        // Samples every 15s from 15s to 60s in a 60s window ending at 60s: 3 intervals of 15s
        // covering 45s; the start gap (15s) is under 1.1 * 15s so extrapolates fully.
        let samples = [
            s(15_000, 10.0),
            s(30_000, 20.0),
            s(45_000, 30.0),
            s(60_000, 40.0),
        ];
        let v = rate_at(Function::Increase, &samples, 60_000, 60_000);
        // Counter zero point: 45s * 10/30 = 15s, not shorter than 15s.
        assert_eq!(v, Some(30.0 * (60.0 / 45.0)));
        let r = rate_at(Function::Rate, &samples, 60_000, 60_000);
        assert_eq!(r, Some(30.0 * ((60.0 / 45.0) / 60.0)));
    }

    #[test]
    fn rate_counts_counter_reset_once() {
        // 10 -> 20 -> 5 -> 15: increase = 15 - 10 + 20 (reset) = 25.
        let samples = [s(0, 10.0), s(10_000, 20.0), s(20_000, 5.0), s(30_000, 15.0)];
        let v = rate_at(Function::Increase, &samples, 30_000, 30_000);
        // Window [0, 30s]: both edges on samples, no extrapolation.
        assert_eq!(v, Some(25.0));
        let d = rate_at(Function::Delta, &samples, 30_000, 30_000);
        assert_eq!(d, Some(5.0), "delta ignores resets");
    }

    #[test]
    fn rate_does_not_extrapolate_counter_below_zero() {
        // First value 1 after 20s of increase 2: zero point 10s before first sample, window
        // starts 30s before it (beyond 1.1 * 20s, so only half an interval would be used,
        // 10s) -- the zero point (10s) is used since it is shorter than 30s.
        let samples = [s(30_000, 1.0), s(50_000, 3.0)];
        let v = rate_at(Function::Increase, &samples, 50_000, 50_000);
        // duration_to_start = min(30, 20*1/2=10) = 10 < 22 -> +10; end 0 -> +0.
        assert_eq!(v, Some(2.0 * (30.0 / 20.0)));
    }

    #[test]
    fn rate_uses_half_interval_when_far_from_edges() {
        let samples = [s(100_000, 100.0), s(110_000, 110.0)];
        // Window [0, 200s]: 100s from each edge, threshold 11s -> +5s each side.
        let v = rate_at(Function::Delta, &samples, 200_000, 200_000);
        assert_eq!(v, Some(10.0 * (20.0 / 10.0)));
    }

    #[test]
    fn rate_needs_two_samples() {
        assert_eq!(rate_at(Function::Rate, &[s(0, 1.0)], 0, 60_000), None);
    }

    #[test]
    fn irate_and_idelta_use_last_two_samples() {
        let samples = [s(0, 1.0), s(10_000, 50.0), s(15_000, 60.0)];
        assert_eq!(
            rate_at(Function::Irate, &samples, 15_000, 60_000),
            Some(2.0)
        );
        assert_eq!(
            rate_at(Function::Idelta, &samples, 15_000, 60_000),
            Some(10.0)
        );
        let reset = [s(10_000, 50.0), s(15_000, 5.0)];
        assert_eq!(rate_at(Function::Irate, &reset, 15_000, 60_000), Some(1.0));
        assert_eq!(
            rate_at(Function::Idelta, &reset, 15_000, 60_000),
            Some(-45.0)
        );
    }

    #[test]
    fn over_time_aggregations() {
        let samples = [s(1, 3.0), s(2, 1.0), s(3, 4.0), s(4, 2.0)];
        let at = |f| rate_at(f, &samples, 4, 10);
        let evens = [s(1, 2.0), s(2, 4.0), s(3, 6.0), s(4, 8.0)];
        assert_eq!(rate_at(Function::AvgOverTime, &evens, 4, 10), Some(5.0));
        assert_eq!(at(Function::MinOverTime), Some(1.0));
        assert_eq!(at(Function::MaxOverTime), Some(4.0));
        assert_eq!(at(Function::SumOverTime), Some(10.0));
        assert_eq!(at(Function::CountOverTime), Some(4.0));
        assert_eq!(at(Function::LastOverTime), Some(2.0));
        let q = range_function(Function::QuantileOverTime, &samples, Some(0.5), 0, 4, 10);
        assert_eq!(q, Some(2.5));
    }

    #[test]
    fn min_and_max_over_time_skip_leading_nan() {
        let samples = [s(1, f64::NAN), s(2, 5.0), s(3, 1.0)];
        assert_eq!(min_over_time(&samples), 1.0);
        assert_eq!(max_over_time(&samples), 5.0);
        let later_nan = [s(1, 5.0), s(2, f64::NAN)];
        assert_eq!(max_over_time(&later_nan), 5.0);
    }

    #[test]
    fn sum_over_time_compensates_rounding() {
        // Plain summation loses the 1.0 entirely; Neumaier's compensation keeps it.
        let samples = [s(1, 1e100), s(2, 1.0), s(3, -1e100)];
        assert_eq!(sum_over_time(&samples), 1.0);
        let samples = [s(1, 0.1), s(2, 0.2), s(3, 0.3)];
        assert_eq!(sum_over_time(&samples), 0.6);
        assert_eq!(
            sum_over_time(&[s(1, f64::INFINITY), s(2, 1.0)]),
            f64::INFINITY
        );
    }

    #[test]
    fn avg_keeps_infinite_mean() {
        let samples = [s(1, f64::INFINITY), s(2, 1.0), s(3, f64::INFINITY)];
        assert_eq!(avg_over_time(&samples), f64::INFINITY);
        let mixed = [s(1, f64::INFINITY), s(2, f64::NEG_INFINITY)];
        assert!(avg_over_time(&mixed).is_nan());
        let huge = [s(1, f64::MAX), s(2, f64::MAX)];
        assert_eq!(avg_over_time(&huge), f64::MAX);
    }

    #[test]
    fn quantile_interpolates_and_handles_bounds() {
        assert_eq!(quantile(0.5, &mut [1.0, 3.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(0.0, &mut [5.0, 1.0]), 1.0);
        assert_eq!(quantile(1.0, &mut [5.0, 1.0]), 5.0);
        assert_eq!(quantile(0.9, &mut [7.0]), 7.0);
        assert_eq!(quantile(-0.1, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &mut [1.0]), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
        assert!(quantile(0.5, &mut []).is_nan());
        // NaN sorts first.
        assert!(quantile(0.0, &mut [1.0, f64::NAN]).is_nan());
        assert_eq!(quantile(1.0, &mut [f64::NAN, 1.0]), 1.0);
    }

    #[test]
    fn elementwise_math_follows_go() {
        assert_eq!(elementwise(Function::Abs, -2.5, None), 2.5);
        assert_eq!(elementwise(Function::Ceil, 1.2, None), 2.0);
        assert_eq!(elementwise(Function::Floor, -1.2, None), -2.0);
        assert_eq!(elementwise(Function::Round, 2.5, None), 3.0);
        assert_eq!(elementwise(Function::Round, -2.5, None), -2.0);
        assert_eq!(elementwise(Function::Round, 17.0, Some(5.0)), 15.0);
        assert_eq!(elementwise(Function::Round, 0.123, Some(0.01)), 0.12);
        assert_eq!(elementwise(Function::ClampMin, 1.0, Some(3.0)), 3.0);
        assert_eq!(elementwise(Function::ClampMax, 5.0, Some(3.0)), 3.0);
        assert!(elementwise(Function::ClampMin, f64::NAN, Some(3.0)).is_nan());
        assert!(elementwise(Function::ClampMax, 1.0, Some(f64::NAN)).is_nan());
    }
}
