//! Bucketed histograms of the VPA recommender: bucketing schemes ([`HistogramOptions`]) and
//! a histogram that stores only its occupied bucket range ([`Histogram`]).
//!
//! Follows `vertical-pod-autoscaler/pkg/recommender/util/histogram.go` and
//! `histogram_options.go` (VPA 1.7) operation for operation — ε handling, the
//! upper-boundary percentile, min/max bucket tracking, checkpoint scaling — with Go's math
//! ([`tachyscale_gomath`]) so weights and percentiles are bit-identical to upstream.
//!
//! Deviation, for memory: upstream keeps a dense `[]float64` of all 176 buckets (1.4 KB per
//! histogram, two per container). We keep a `Vec<f64>` covering only the buckets that hold
//! a non-zero weight, plus its offset, and the options behind a `&'static` shared by every
//! histogram. Buckets outside the stored range are exactly 0.0, which is what upstream's
//! dense array holds there, so every sum, comparison and scan sees the same numbers. The
//! range grows when a sample lands outside it and shrinks when an end bucket becomes
//! exactly zero; once a container's usage range is established, adding a sample does not
//! allocate. Bucket indexes are `u16`, so options are limited to 65,536 buckets.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use tachyscale_gomath as gomath;

use super::VpaError;

/// The minimal weight of a sample before decay (`minSampleWeight`).
pub const MIN_SAMPLE_WEIGHT: f64 = 0.1;
/// Weight below which a bucket counts as empty: `0.001 × MIN_SAMPLE_WEIGHT` (`epsilon`).
pub const EPSILON: f64 = 1e-4;
/// Weight of the largest bucket in a checkpoint (`MaxCheckpointWeight`).
pub const MAX_CHECKPOINT_WEIGHT: u32 = 10_000;
/// Largest number of buckets a [`HistogramOptions`] may have (indexes are `u16`).
pub const MAX_BUCKETS: usize = 1 << 16;

/// CPU histograms: cores, first bucket 0.01 core, 5 % growth, up to 1000 cores (176 buckets).
///
/// Upstream's open pull request kubernetes/autoscaler#7554 would make the first bucket
/// 1 millicore; released versions (and checkpoints "v3") use 0.01.
pub static CPU_HISTOGRAM_OPTIONS: LazyLock<HistogramOptions> = LazyLock::new(|| {
    HistogramOptions::exponential(1000.0, 0.01, 1.0 + 0.05, EPSILON)
        .expect("constant CPU histogram options are valid")
});

/// Memory histograms: bytes, first bucket 10 MB, 5 % growth, up to 1 TB (176 buckets).
pub static MEMORY_HISTOGRAM_OPTIONS: LazyLock<HistogramOptions> = LazyLock::new(|| {
    HistogramOptions::exponential(1e12, 1e7, 1.0 + 0.05, EPSILON)
        .expect("constant memory histogram options are valid")
});

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scheme {
    Linear {
        bucket_size: f64,
    },
    Exponential {
        first_bucket_size: f64,
        ratio: f64,
        log_ratio: f64,
    },
}

/// How values map to buckets, and the weight below which a bucket is empty.
///
/// Bucket starts are computed once, the way upstream computes them on every call, and
/// shared by every histogram through a `&'static`.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramOptions {
    scheme: Scheme,
    epsilon: f64,
    starts: Box<[f64]>,
}

impl HistogramOptions {
    /// Fixed-size buckets from 0; the last bucket starts at or above `max_value`
    /// (`NewLinearHistogramOptions`).
    pub fn linear(max_value: f64, bucket_size: f64, epsilon: f64) -> Result<Self, VpaError> {
        if !(max_value > 0.0 && bucket_size > 0.0 && epsilon > 0.0) {
            return Err(VpaError::InvalidHistogramOptions {
                problem: "maxValue, bucketSize and epsilon must be positive",
            });
        }
        let num_buckets = checked_count(gomath::float_to_int((max_value / bucket_size).ceil()))?;
        let starts = (0..num_buckets).map(|b| b as f64 * bucket_size).collect();
        Ok(HistogramOptions {
            scheme: Scheme::Linear { bucket_size },
            epsilon,
            starts,
        })
    }

    /// Bucket 0 is `[0, f)`; bucket n ≥ 1 starts at `f·(rⁿ − 1)/(r − 1)`; the last bucket
    /// starts at or above `max_value` (`NewExponentialHistogramOptions`).
    pub fn exponential(
        max_value: f64,
        first_bucket_size: f64,
        ratio: f64,
        epsilon: f64,
    ) -> Result<Self, VpaError> {
        if !(max_value > 0.0 && first_bucket_size > 0.0 && ratio > 1.0 && epsilon > 0.0) {
            return Err(VpaError::InvalidHistogramOptions {
                problem: "maxValue, firstBucketSize and epsilon must be > 0, ratio must be > 1",
            });
        }
        let log_ratio = gomath::log(ratio);
        let buckets = gomath::log(max_value * (ratio - 1.0) / first_bucket_size + 1.0) / log_ratio;
        let num_buckets = checked_count(gomath::float_to_int(buckets.ceil()))?;
        let starts = (0..num_buckets)
            .map(|b| match b {
                0 => 0.0,
                b => first_bucket_size * (gomath::pow(ratio, b as f64) - 1.0) / (ratio - 1.0),
            })
            .collect();
        Ok(HistogramOptions {
            scheme: Scheme::Exponential {
                first_bucket_size,
                ratio,
                log_ratio,
            },
            epsilon,
            starts,
        })
    }

    /// Number of buckets.
    pub fn num_buckets(&self) -> usize {
        self.starts.len()
    }

    /// Weight below which a bucket counts as empty.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The bucket a value falls into; values outside the range go to the first or last
    /// bucket. NaN goes to bucket 0 (upstream would index out of range and panic).
    pub fn find_bucket(&self, value: f64) -> usize {
        let last = self.starts.len() - 1;
        let bucket = match self.scheme {
            Scheme::Linear { bucket_size } => gomath::float_to_int(value / bucket_size),
            Scheme::Exponential {
                first_bucket_size,
                ratio,
                log_ratio,
            } => {
                if value < first_bucket_size || value.is_nan() {
                    return 0;
                }
                let scaled = value * (ratio - 1.0) / first_bucket_size + 1.0;
                match gomath::float_to_int(gomath::log(scaled) / log_ratio) {
                    // +Inf (and values whose log overflows an int) belong to the last bucket.
                    i64::MIN => return last,
                    bucket => bucket,
                }
            }
        };
        usize::try_from(bucket).map_or(0, |bucket| bucket.min(last))
    }

    /// Start of a bucket, `None` outside `0..num_buckets`.
    pub fn bucket_start(&self, bucket: usize) -> Option<f64> {
        self.starts.get(bucket).copied()
    }

    /// Upper boundary of a bucket, or its start for the last (unbounded) bucket.
    fn percentile_value(&self, bucket: usize) -> f64 {
        match self.starts.get(bucket + 1) {
            Some(end) => *end,
            None => self.starts[bucket],
        }
    }
}

fn checked_count(buckets_above_first: i64) -> Result<usize, VpaError> {
    match usize::try_from(buckets_above_first) {
        Ok(count) if count < MAX_BUCKETS => Ok(count + 1),
        _ => Err(VpaError::InvalidHistogramOptions {
            problem: "more than 65536 buckets",
        }),
    }
}

/// A histogram's checkpoint form: bucket weights scaled so the largest is 10,000, and the
/// total weight they stand for (`HistogramCheckpoint` without its reference timestamp).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketWeights {
    /// Bucket index → scaled weight; zeros are dropped.
    pub weights: BTreeMap<i64, u32>,
    /// Sum of the original weights.
    pub total_weight: f64,
}

/// An approximate distribution: the total weight of the samples in each bucket.
#[derive(Clone, Debug)]
pub struct Histogram {
    options: &'static HistogramOptions,
    /// Weights of buckets `offset .. offset + weights.len()`; all others are exactly 0.0.
    weights: Vec<f64>,
    offset: u16,
    /// First non-empty bucket (weight ≥ ε) if any, otherwise the last bucket.
    min_bucket: u16,
    /// Last non-empty bucket if any, otherwise 0.
    max_bucket: u16,
    total_weight: f64,
}

impl Histogram {
    /// An empty histogram (`NewHistogram`).
    pub fn new(options: &'static HistogramOptions) -> Self {
        Histogram {
            options,
            weights: Vec::new(),
            offset: 0,
            min_bucket: last_index(options),
            max_bucket: 0,
            total_weight: 0.0,
        }
    }

    /// The bucketing scheme.
    pub fn options(&self) -> &'static HistogramOptions {
        self.options
    }

    /// Weight of one bucket (0.0 outside the stored range).
    pub fn bucket_weight(&self, bucket: usize) -> f64 {
        bucket
            .checked_sub(usize::from(self.offset))
            .and_then(|index| self.weights.get(index))
            .copied()
            .unwrap_or(0.0)
    }

    /// Sum of all weights added minus those subtracted.
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// First and last non-empty bucket, as upstream tracks them (last bucket and 0 when
    /// empty).
    pub fn min_max_bucket(&self) -> (usize, usize) {
        (usize::from(self.min_bucket), usize::from(self.max_bucket))
    }

    /// The stored bucket range (`start..end`), for tests and memory accounting.
    pub fn stored_range(&self) -> std::ops::Range<usize> {
        let start = usize::from(self.offset);
        start..start + self.weights.len()
    }

    /// Heap bytes held by this histogram (the options are shared, not counted).
    pub fn approx_heap_bytes(&self) -> usize {
        self.weights.capacity() * std::mem::size_of::<f64>()
    }

    /// Adds a sample (`AddSample`). Negative and NaN weights are ignored (upstream panics).
    pub fn add_sample(&mut self, value: f64, weight: f64) {
        if weight.is_nan() || weight < 0.0 {
            return;
        }
        let bucket = self.options.find_bucket(value);
        if weight == 0.0 && !self.stored_range().contains(&bucket) {
            return;
        }
        let slot = self.slot_mut(bucket);
        *slot += weight;
        let now_weight = *slot;
        self.total_weight += weight;
        let epsilon = self.options.epsilon;
        let bucket = bucket as u16;
        if bucket < self.min_bucket && now_weight >= epsilon {
            self.min_bucket = bucket;
        }
        if bucket > self.max_bucket && now_weight >= epsilon {
            self.max_bucket = bucket;
        }
    }

    /// Removes a sample (`SubtractSample`): a bucket left within ε of zero becomes exactly
    /// zero. Negative and NaN weights are ignored.
    pub fn subtract_sample(&mut self, value: f64, weight: f64) {
        if weight.is_nan() || weight < 0.0 {
            return;
        }
        let bucket = self.options.find_bucket(value);
        let current = self.bucket_weight(bucket);
        let weight = if weight > current - self.options.epsilon {
            current
        } else {
            weight
        };
        self.total_weight -= weight;
        if self.stored_range().contains(&bucket) {
            *self.slot_mut(bucket) -= weight;
        }
        self.update_min_max_bucket();
        self.trim();
    }

    /// Adds every bucket of `other` (`Merge`); both must share the same options.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), VpaError> {
        if !std::ptr::eq(self.options, other.options) && self.options != other.options {
            return Err(VpaError::HistogramMismatch {
                what: "bucket options",
            });
        }
        for bucket in usize::from(other.min_bucket)..=usize::from(other.max_bucket) {
            let weight = other.bucket_weight(bucket);
            if weight != 0.0 {
                *self.slot_mut(bucket) += weight;
            }
        }
        self.total_weight += other.total_weight;
        self.min_bucket = self.min_bucket.min(other.min_bucket);
        self.max_bucket = self.max_bucket.max(other.max_bucket);
        Ok(())
    }

    /// True when the first tracked bucket holds less than ε (`IsEmpty`).
    pub fn is_empty(&self) -> bool {
        self.bucket_weight(usize::from(self.min_bucket)) < self.options.epsilon
    }

    /// The upper boundary of the bucket where the cumulative weight first reaches
    /// `percentile × total` (the start of the last bucket if it is that one); 0.0 when
    /// empty (`Percentile`).
    pub fn percentile(&self, percentile: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let threshold = percentile * self.total_weight;
        let max = usize::from(self.max_bucket);
        let mut bucket = usize::from(self.min_bucket);
        let mut partial_sum = 0.0;
        while bucket < max {
            partial_sum += self.bucket_weight(bucket);
            if partial_sum >= threshold {
                break;
            }
            bucket += 1;
        }
        self.options.percentile_value(bucket)
    }

    /// Multiplies the weights of the tracked range and the total (`scale`); buckets
    /// outside `[min, max]` keep their (sub-ε) weight, as upstream.
    pub(crate) fn scale(&mut self, factor: f64) {
        if factor.is_nan() || factor < 0.0 {
            return;
        }
        for bucket in usize::from(self.min_bucket)..=usize::from(self.max_bucket) {
            if self.stored_range().contains(&bucket) {
                *self.slot_mut(bucket) *= factor;
            }
        }
        self.total_weight *= factor;
        self.update_min_max_bucket();
        self.trim();
    }

    /// The checkpoint form (`SaveToChekpoint`): weights scaled so the largest tracked
    /// bucket is 10,000, each rounded half up, zeros dropped.
    pub fn save_checkpoint(&self) -> BucketWeights {
        let range = usize::from(self.min_bucket)..=usize::from(self.max_bucket);
        let max = range
            .clone()
            .map(|b| self.bucket_weight(b))
            .fold(0.0, |max, w| if w > max { w } else { max });
        let ratio = f64::from(MAX_CHECKPOINT_WEIGHT) / max;
        let mut weights = BTreeMap::new();
        for bucket in range {
            // Go's uint32(int): the low 32 bits.
            let scaled = gomath::round_half_up(self.bucket_weight(bucket) * ratio) as u32;
            if scaled > 0 {
                weights.insert(bucket as i64, scaled);
            }
        }
        BucketWeights {
            weights,
            total_weight: self.total_weight,
        }
    }

    /// Adds a checkpoint's weights, rescaled so they sum to its total weight
    /// (`LoadFromCheckpoint`). `histogram` names it in errors ("cpu", "memory").
    pub fn load_checkpoint(
        &mut self,
        checkpoint: &BucketWeights,
        histogram: &'static str,
    ) -> Result<(), VpaError> {
        if checkpoint.total_weight < 0.0 || checkpoint.total_weight.is_nan() {
            return Err(VpaError::NegativeTotalWeight {
                histogram,
                total_weight: checkpoint.total_weight,
            });
        }
        let num_buckets = self.options.num_buckets();
        let mut sum: i64 = 0;
        for (&bucket, &weight) in &checkpoint.weights {
            sum += i64::from(weight);
            if bucket < 0 || bucket >= num_buckets as i64 {
                return Err(VpaError::BucketOutOfRange {
                    histogram,
                    bucket,
                    num_buckets,
                });
            }
        }
        if sum == 0 {
            return Ok(());
        }
        let ratio = checkpoint.total_weight / sum as f64;
        for (&bucket, &weight) in &checkpoint.weights {
            let index = bucket as usize;
            self.min_bucket = self.min_bucket.min(index as u16);
            self.max_bucket = self.max_bucket.max(index as u16);
            if weight > 0 {
                *self.slot_mut(index) += f64::from(weight) * ratio;
            }
        }
        self.total_weight += checkpoint.total_weight;
        Ok(())
    }

    /// Upstream `Equals`: same tracked range, weights within 1e-15.
    pub fn approx_eq(&self, other: &Histogram) -> bool {
        (std::ptr::eq(self.options, other.options) || self.options == other.options)
            && self.min_bucket == other.min_bucket
            && self.max_bucket == other.max_bucket
            && (usize::from(self.min_bucket)..=usize::from(self.max_bucket))
                .all(|b| (self.bucket_weight(b) - other.bucket_weight(b)).abs() <= 1e-15)
    }

    fn update_min_max_bucket(&mut self) {
        let epsilon = self.options.epsilon;
        let last = last_index(self.options);
        while self.bucket_weight(usize::from(self.min_bucket)) < epsilon && self.min_bucket < last {
            self.min_bucket += 1;
        }
        while self.bucket_weight(usize::from(self.max_bucket)) < epsilon && self.max_bucket > 0 {
            self.max_bucket -= 1;
        }
    }

    /// The weight slot of a bucket, growing the stored range to cover it.
    fn slot_mut(&mut self, bucket: usize) -> &mut f64 {
        let offset = usize::from(self.offset);
        if self.weights.is_empty() {
            self.offset = bucket as u16;
            self.weights.reserve_exact(1);
            self.weights.push(0.0);
        } else if bucket < offset {
            let extra = offset - bucket;
            let mut grown = Vec::with_capacity(self.weights.len() + extra);
            grown.resize(extra, 0.0);
            grown.extend_from_slice(&self.weights);
            self.weights = grown;
            self.offset = bucket as u16;
        } else if bucket >= offset + self.weights.len() {
            let len = bucket - offset + 1;
            self.weights.reserve_exact(len - self.weights.len());
            self.weights.resize(len, 0.0);
        }
        let index = bucket - usize::from(self.offset);
        &mut self.weights[index]
    }

    /// Drops exact zeros at both ends of the stored range, and spare capacity when it is
    /// more than half the storage.
    fn trim(&mut self) {
        let Some(first) = self.weights.iter().position(|w| *w != 0.0) else {
            self.weights = Vec::new();
            self.offset = 0;
            return;
        };
        let last = self
            .weights
            .iter()
            .rposition(|w| *w != 0.0)
            .unwrap_or(first);
        self.weights.truncate(last + 1);
        if first > 0 {
            self.weights.drain(..first);
            self.offset += first as u16;
        }
        if self.weights.capacity() > 2 * self.weights.len() + 2 {
            self.weights.shrink_to_fit();
        }
    }
}

fn last_index(options: &HistogramOptions) -> u16 {
    (options.num_buckets() - 1) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(options: HistogramOptions) -> &'static HistogramOptions {
        Box::leak(Box::new(options))
    }

    fn linear_10() -> &'static HistogramOptions {
        leak(HistogramOptions::linear(10.0, 1.0, 1e-15).unwrap())
    }

    #[test]
    fn cpu_and_memory_options_have_176_buckets() {
        assert_eq!(CPU_HISTOGRAM_OPTIONS.num_buckets(), 176);
        assert_eq!(MEMORY_HISTOGRAM_OPTIONS.num_buckets(), 176);
        assert_eq!(CPU_HISTOGRAM_OPTIONS.find_bucket(0.0099), 0);
        assert_eq!(CPU_HISTOGRAM_OPTIONS.find_bucket(0.01), 1);
        assert_eq!(CPU_HISTOGRAM_OPTIONS.find_bucket(2000.0), 175);
        assert_eq!(CPU_HISTOGRAM_OPTIONS.find_bucket(f64::INFINITY), 175);
        assert_eq!(CPU_HISTOGRAM_OPTIONS.find_bucket(f64::NAN), 0);
    }

    #[test]
    fn invalid_options_are_refused() {
        assert!(HistogramOptions::linear(0.0, 1.0, 1e-4).is_err());
        assert!(HistogramOptions::exponential(10.0, 1.0, 1.0, 1e-4).is_err());
        assert!(HistogramOptions::linear(1e9, 1.0, 1e-4).is_err());
    }

    #[test]
    fn storage_covers_only_the_occupied_range() {
        let mut h = Histogram::new(&CPU_HISTOGRAM_OPTIONS);
        assert_eq!(h.stored_range(), 0..0);
        h.add_sample(0.25, 0.1);
        h.add_sample(0.5, 0.1);
        let range = h.stored_range();
        assert_eq!(range.start, CPU_HISTOGRAM_OPTIONS.find_bucket(0.25));
        assert_eq!(range.end - 1, CPU_HISTOGRAM_OPTIONS.find_bucket(0.5));
        h.subtract_sample(0.5, 0.1);
        assert_eq!(h.stored_range().len(), 1);
        h.subtract_sample(0.25, 0.1);
        assert_eq!(h.stored_range(), 0..0);
        assert!(h.is_empty());
    }

    #[test]
    fn adding_within_the_established_range_does_not_reallocate() {
        let mut h = Histogram::new(&CPU_HISTOGRAM_OPTIONS);
        h.add_sample(0.1, 0.1);
        h.add_sample(0.4, 0.1);
        let pointer = h.weights.as_ptr();
        for i in 0..1000 {
            h.add_sample(0.1 + f64::from(i % 30) * 0.01, 0.1);
        }
        assert_eq!(h.weights.as_ptr(), pointer);
    }

    #[test]
    fn merge_refuses_different_options() {
        let mut a = Histogram::new(&CPU_HISTOGRAM_OPTIONS);
        let b = Histogram::new(&MEMORY_HISTOGRAM_OPTIONS);
        assert!(a.merge(&b).is_err());
        let mut c = Histogram::new(linear_10());
        c.add_sample(3.0, 1.0);
        let mut d = Histogram::new(c.options());
        d.merge(&c).unwrap();
        assert!(d.approx_eq(&c));
    }

    #[test]
    fn scale_leaves_sub_epsilon_weights_outside_the_range_untouched() {
        let options = leak(HistogramOptions::linear(10.0, 1.0, 1e-4).unwrap());
        let mut h = Histogram::new(options);
        h.add_sample(1.0, 0.5e-4);
        assert!(h.is_empty());
        h.add_sample(5.0, 1.0);
        h.scale(0.5);
        assert_eq!(h.bucket_weight(1), 0.5e-4);
        assert_eq!(h.bucket_weight(5), 0.5);
        assert_eq!(h.min_max_bucket(), (5, 5));
    }
}
