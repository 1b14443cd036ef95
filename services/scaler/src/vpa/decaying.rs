//! A histogram whose samples lose half their weight every half-life
//! ([`DecayingHistogram`]), the form both of a container's usage histograms take.
//!
//! Follows `vertical-pod-autoscaler/pkg/recommender/util/decaying_histogram.go` (VPA
//! 1.7): a sample at time t is added with weight × 2^((t − ref)/halfLife); only relative
//! weights matter, so when t passes ref + 100 half-lives the reference moves to t rounded
//! to a multiple of the half-life (counted from Go's year-1 zero time) and every tracked
//! weight is scaled by 2^round((oldRef − newRef)/halfLife). The reference starts at Go's
//! zero time, so the first sample always shifts it; durations saturate at ±292 years as
//! Go's do, which makes that first scale factor 0. Times are `i64` milliseconds; Go's
//! nanosecond arithmetic is reproduced exactly for millisecond inputs.

use tachyscale_gomath as gomath;

use super::histogram::{BucketWeights, Histogram, HistogramOptions};
use super::VpaError;

/// The decay factor is renormalised once it would exceed 2^100 (`maxDecayExponent`).
const MAX_DECAY_EXPONENT: i64 = 100;

/// A decaying histogram and its checkpoint reference time.
#[derive(Clone, Debug)]
pub struct DecayingHistogram {
    histogram: Histogram,
    half_life_ms: i64,
    /// Reference time, a multiple of the half-life since Go's zero time, or
    /// [`gomath::GO_ZERO_TIME_MS`] before the first sample.
    reference_ms: i64,
}

/// A histogram's checkpoint: reference time plus scaled bucket weights
/// (`HistogramCheckpoint`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecayingCheckpoint {
    /// `referenceTimestamp`; `None` is Go's zero time (JSON `null`).
    pub reference_ms: Option<i64>,
    /// `bucketWeights` and `totalWeight`.
    pub buckets: BucketWeights,
}

impl DecayingHistogram {
    /// An empty histogram (`NewDecayingHistogram`). `half_life_ms` must be positive.
    pub fn new(options: &'static HistogramOptions, half_life_ms: i64) -> Self {
        DecayingHistogram {
            histogram: Histogram::new(options),
            half_life_ms: half_life_ms.max(1),
            reference_ms: gomath::GO_ZERO_TIME_MS,
        }
    }

    /// The underlying histogram (weights relative to the reference time).
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// The half-life in milliseconds.
    pub fn half_life_ms(&self) -> i64 {
        self.half_life_ms
    }

    /// The reference time, `None` before the first sample.
    pub fn reference_ms(&self) -> Option<i64> {
        (self.reference_ms != gomath::GO_ZERO_TIME_MS).then_some(self.reference_ms)
    }

    /// Adds a sample taken at `ts_ms`.
    pub fn add_sample(&mut self, value: f64, weight: f64, ts_ms: i64) {
        let factor = self.decay_factor(ts_ms);
        self.histogram.add_sample(value, weight * factor);
    }

    /// Removes a sample taken at `ts_ms`.
    pub fn subtract_sample(&mut self, value: f64, weight: f64, ts_ms: i64) {
        let factor = self.decay_factor(ts_ms);
        self.histogram.subtract_sample(value, weight * factor);
    }

    /// Adds all samples of `other`, first aligning the older reference time with the
    /// younger one (`Merge`). Upstream shifts `other` in place; we shift a copy.
    pub fn merge(&mut self, other: &DecayingHistogram) -> Result<(), VpaError> {
        if self.half_life_ms != other.half_life_ms {
            return Err(VpaError::HistogramMismatch { what: "half-lives" });
        }
        if self.reference_ms < other.reference_ms {
            self.shift_reference(other.reference_ms);
        } else if other.reference_ms < self.reference_ms {
            let mut aligned = other.clone();
            aligned.shift_reference(self.reference_ms);
            return self.histogram.merge(&aligned.histogram);
        }
        self.histogram.merge(&other.histogram)
    }

    /// See [`Histogram::percentile`].
    pub fn percentile(&self, percentile: f64) -> f64 {
        self.histogram.percentile(percentile)
    }

    /// See [`Histogram::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// Heap bytes held (see [`Histogram::approx_heap_bytes`]).
    pub fn approx_heap_bytes(&self) -> usize {
        self.histogram.approx_heap_bytes()
    }

    /// The checkpoint form (`SaveToChekpoint`).
    pub fn save_checkpoint(&self) -> DecayingCheckpoint {
        DecayingCheckpoint {
            reference_ms: self.reference_ms(),
            buckets: self.histogram.save_checkpoint(),
        }
    }

    /// Adds a checkpoint's weights and takes its reference time (`LoadFromCheckpoint`).
    pub fn load_checkpoint(
        &mut self,
        checkpoint: &DecayingCheckpoint,
        histogram: &'static str,
    ) -> Result<(), VpaError> {
        self.histogram
            .load_checkpoint(&checkpoint.buckets, histogram)?;
        self.reference_ms = checkpoint.reference_ms.unwrap_or(gomath::GO_ZERO_TIME_MS);
        Ok(())
    }

    fn shift_reference(&mut self, new_reference_ms: i64) {
        let new_reference_ms = gomath::round_time_ms(new_reference_ms, self.half_life_ms);
        let half_life_ns = gomath::ms_to_ns(self.half_life_ms) as f64;
        let elapsed_ns = gomath::sub_ns(self.reference_ms, new_reference_ms) as f64;
        let exponent = gomath::round_half_up(elapsed_ns / half_life_ns);
        self.histogram.scale(gomath::ldexp(1.0, exponent));
        self.reference_ms = new_reference_ms;
    }

    fn decay_factor(&mut self, ts_ms: i64) -> f64 {
        let max_allowed_ms = self
            .reference_ms
            .saturating_add(self.half_life_ms.saturating_mul(MAX_DECAY_EXPONENT));
        if ts_ms > max_allowed_ms {
            self.shift_reference(ts_ms);
        }
        let half_life_ns = gomath::ms_to_ns(self.half_life_ms) as f64;
        gomath::exp2(gomath::sub_ns(ts_ms, self.reference_ms) as f64 / half_life_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpa::histogram::CPU_HISTOGRAM_OPTIONS;

    const HOUR_MS: i64 = 3_600_000;
    const T0_MS: i64 = 1_234_567_890_000;

    #[test]
    fn first_sample_moves_the_reference_to_a_rounded_time() {
        let mut h = DecayingHistogram::new(&CPU_HISTOGRAM_OPTIONS, HOUR_MS);
        assert_eq!(h.reference_ms(), None);
        h.add_sample(0.5, 0.1, T0_MS);
        assert_eq!(
            h.reference_ms(),
            Some(gomath::round_time_ms(T0_MS, HOUR_MS))
        );
        assert!(!h.is_empty());
    }

    #[test]
    fn reference_shifts_only_past_one_hundred_half_lives() {
        let mut h = DecayingHistogram::new(&CPU_HISTOGRAM_OPTIONS, HOUR_MS);
        h.add_sample(0.5, 0.1, T0_MS);
        let reference = h.reference_ms().unwrap();
        h.add_sample(0.5, 0.1, reference + 100 * HOUR_MS);
        assert_eq!(h.reference_ms(), Some(reference));
        h.add_sample(0.5, 0.1, reference + 100 * HOUR_MS + 1);
        assert_eq!(h.reference_ms(), Some(reference + 100 * HOUR_MS));
    }

    #[test]
    fn merge_aligns_the_older_reference() {
        let mut old = DecayingHistogram::new(&CPU_HISTOGRAM_OPTIONS, HOUR_MS);
        old.add_sample(0.5, 1.0, T0_MS);
        let mut young = DecayingHistogram::new(&CPU_HISTOGRAM_OPTIONS, HOUR_MS);
        young.add_sample(1.0, 1.0, T0_MS + 200 * HOUR_MS);
        let mut merged = old.clone();
        merged.merge(&young).unwrap();
        assert_eq!(merged.reference_ms(), young.reference_ms());
        let mut other_way = young.clone();
        other_way.merge(&old).unwrap();
        assert!(merged.histogram().approx_eq(other_way.histogram()));
        let other = DecayingHistogram::new(&CPU_HISTOGRAM_OPTIONS, 2 * HOUR_MS);
        assert!(merged.merge(&other).is_err());
    }
}
