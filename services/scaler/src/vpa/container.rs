//! What the recommender remembers about a container: the aggregate of all its instances'
//! usage ([`AggregateContainerState`]) and each running instance's memory-peak window
//! ([`ContainerInstance`]).
//!
//! Follows `vertical-pod-autoscaler/pkg/recommender/model/aggregate_container_state.go`
//! and `container.go` (VPA 1.7):
//!
//! - CPU: a sample is kept only if it is strictly newer than the instance's last CPU
//!   sample and not negative, and is added to the CPU histogram at its own time with
//!   weight max(request in cores, 0.1). With no request known (0) that is the reference's
//!   fixed weight 0.1; with a request, whenever the request grows the history decays
//!   faster, as upstream intends. First/last sample time and the sample count come from
//!   CPU samples only.
//! - Memory: one peak per 24 h interval per instance, anchored at the instance's first
//!   memory sample. Inside the current window a larger sample replaces the peak (subtract
//!   the old, add the new, both at the window end, weight 1.0); a sample at or past the
//!   window end advances the window by whole intervals and starts a new peak. Samples
//!   older than the instance's last memory sample are dropped. Upstream quirk kept: while
//!   the window's peak is 0 a larger sample does not replace it.
//! - OOM: `used = max(request, usage peak of the window)` (the OOM peak is left out so
//!   repeated OOMs do not compound), `needed = max(used + 100 MiB, used × 1.2)`, recorded as
//!   a memory sample that is never dropped as out of order; an OOM from before the
//!   current window's interval is refused.
//! - Expiry: an aggregate expires 8 intervals after its last CPU sample (after its
//!   creation if it never had one).
//!
//! Peak changes are returned as a [`PeakChange`] and applied by the aggregate, so tests
//! (and `explain`) can see exactly which subtract/add pairs a sample caused.

use tachyscale_gomath as gomath;

use super::decaying::DecayingHistogram;
use super::histogram::{CPU_HISTOGRAM_OPTIONS, MEMORY_HISTOGRAM_OPTIONS, MIN_SAMPLE_WEIGHT};

/// Default length of a memory aggregation interval (24 h).
pub const MEMORY_AGGREGATION_INTERVAL_MS: i64 = 24 * 3_600_000;
/// Default number of intervals after which an idle aggregate expires.
pub const MEMORY_AGGREGATION_INTERVAL_COUNT: i64 = 8;
/// Default half-life of both usage histograms (24 h).
pub const HISTOGRAM_DECAY_HALF_LIFE_MS: i64 = 24 * 3_600_000;
/// Default memory added after an OOM, relative (`OOMBumpUpRatio`).
pub const OOM_BUMP_UP_RATIO: f64 = 1.2;
/// Default minimum memory added after an OOM, bytes (`OOMMinBumpUp`, 100 MiB).
pub const OOM_MIN_BUMP_UP_BYTES: f64 = 100.0 * 1024.0 * 1024.0;
/// Largest resource amount (`MaxResourceAmount`, 1e14 millicores or bytes).
pub const MAX_RESOURCE_AMOUNT: i64 = 100_000_000_000_000;

/// The knobs of sample aggregation (`AggregationsConfig`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AggregationConfig {
    /// Length of one memory-peak interval.
    pub memory_aggregation_interval_ms: i64,
    /// Intervals without samples after which an aggregate expires.
    pub memory_aggregation_interval_count: i64,
    /// Half-life of the CPU histogram.
    pub cpu_half_life_ms: i64,
    /// Half-life of the memory histogram.
    pub memory_half_life_ms: i64,
    /// Relative memory bump after an OOM.
    pub oom_bump_up_ratio: f64,
    /// Minimum memory bump after an OOM, bytes.
    pub oom_min_bump_up_bytes: f64,
}

impl Default for AggregationConfig {
    fn default() -> Self {
        AggregationConfig {
            memory_aggregation_interval_ms: MEMORY_AGGREGATION_INTERVAL_MS,
            memory_aggregation_interval_count: MEMORY_AGGREGATION_INTERVAL_COUNT,
            cpu_half_life_ms: HISTOGRAM_DECAY_HALF_LIFE_MS,
            memory_half_life_ms: HISTOGRAM_DECAY_HALF_LIFE_MS,
            oom_bump_up_ratio: OOM_BUMP_UP_RATIO,
            oom_min_bump_up_bytes: OOM_MIN_BUMP_UP_BYTES,
        }
    }
}

impl AggregationConfig {
    /// How long an aggregate lives without samples (interval × count).
    pub fn expiry_ms(&self) -> i64 {
        self.memory_aggregation_interval_ms
            .saturating_mul(self.memory_aggregation_interval_count)
    }
}

/// `resourceAmountFromFloat`: truncation toward zero, capped at 1e14, negatives (and NaN,
/// which Go turns into `math.MinInt64`) to 0.
pub fn resource_amount_from_float(amount: f64) -> i64 {
    if amount > MAX_RESOURCE_AMOUNT as f64 {
        return MAX_RESOURCE_AMOUNT;
    }
    if amount < 0.0 || amount.is_nan() {
        return 0;
    }
    amount as i64
}

/// Why a sample changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DiscardReason {
    /// Usage below zero.
    NegativeUsage,
    /// A CPU sample not strictly newer than the instance's last one.
    NotNewerThanLastCpuSample,
    /// A memory sample older than the instance's last one.
    OlderThanLastMemorySample,
    /// An OOM from before the current memory window's interval.
    OomTooOld,
}

/// How one memory sample changed the memory-peak histogram; all at `window_end_ms`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PeakChange {
    /// The sample was kept but was not a new peak.
    None,
    /// A new window started with this peak.
    Add { bytes: i64, window_end_ms: i64 },
    /// The window's peak grew from `old_bytes` to `new_bytes`.
    Replace {
        old_bytes: i64,
        new_bytes: i64,
        window_end_ms: i64,
    },
}

/// One running container instance (a pod's container): its memory window and the last
/// samples seen (`ContainerState`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerInstance {
    last_cpu_sample_ms: Option<i64>,
    last_memory_sample_ms: Option<i64>,
    /// End (exclusive) of the current memory window; `None` before the first sample.
    window_end_ms: Option<i64>,
    memory_peak_bytes: i64,
    oom_peak_bytes: i64,
}

impl ContainerInstance {
    /// The latest sample time of either kind, for expiry.
    pub fn last_activity_ms(&self) -> Option<i64> {
        self.last_cpu_sample_ms.max(self.last_memory_sample_ms)
    }

    /// End of the current memory window.
    pub fn window_end_ms(&self) -> Option<i64> {
        self.window_end_ms
    }

    /// The window's peak, usage- or OOM-derived (`GetMaxMemoryPeak`).
    pub fn max_memory_peak_bytes(&self) -> i64 {
        self.memory_peak_bytes.max(self.oom_peak_bytes)
    }

    /// Accepts a CPU sample if it is newer than the last one (`addCPUSample`).
    pub fn accept_cpu_sample(
        &mut self,
        ts_ms: i64,
        usage_millicores: i64,
    ) -> Result<(), DiscardReason> {
        if usage_millicores < 0 {
            return Err(DiscardReason::NegativeUsage);
        }
        if self.last_cpu_sample_ms.is_some_and(|last| ts_ms <= last) {
            return Err(DiscardReason::NotNewerThanLastCpuSample);
        }
        self.last_cpu_sample_ms = Some(ts_ms);
        Ok(())
    }

    /// Updates the memory window with a sample (`addMemorySample`); the returned change
    /// must be applied to the aggregate.
    pub fn memory_sample(
        &mut self,
        ts_ms: i64,
        usage_bytes: i64,
        is_oom: bool,
        interval_ms: i64,
    ) -> Result<PeakChange, DiscardReason> {
        if usage_bytes < 0 {
            return Err(DiscardReason::NegativeUsage);
        }
        if !is_oom && self.last_memory_sample_ms.is_some_and(|last| ts_ms < last) {
            return Err(DiscardReason::OlderThanLastMemorySample);
        }
        self.last_memory_sample_ms = Some(ts_ms);
        let window_end_ms = *self.window_end_ms.get_or_insert(ts_ms);
        if ts_ms < window_end_ms {
            let old_peak = self.max_memory_peak_bytes();
            if old_peak == 0 || usage_bytes <= old_peak {
                return Ok(PeakChange::None);
            }
            self.set_peak(usage_bytes, is_oom);
            return Ok(PeakChange::Replace {
                old_bytes: old_peak,
                new_bytes: usage_bytes,
                window_end_ms,
            });
        }
        let interval_ms = interval_ms.max(1);
        let elapsed_ms = ts_ms - window_end_ms;
        let window_end_ms = window_end_ms + (elapsed_ms - elapsed_ms % interval_ms) + interval_ms;
        self.window_end_ms = Some(window_end_ms);
        self.memory_peak_bytes = 0;
        self.oom_peak_bytes = 0;
        self.set_peak(usage_bytes, is_oom);
        Ok(PeakChange::Add {
            bytes: usage_bytes,
            window_end_ms,
        })
    }

    /// The memory an OOM shows was needed (`RecordOOM` before the sample is added), or
    /// `OomTooOld` when it precedes the current window's interval.
    pub fn oom_needed_bytes(
        &self,
        ts_ms: i64,
        request_bytes: i64,
        config: &AggregationConfig,
    ) -> Result<i64, DiscardReason> {
        if let Some(window_end_ms) = self.window_end_ms {
            if ts_ms < window_end_ms - config.memory_aggregation_interval_ms {
                return Err(DiscardReason::OomTooOld);
            }
        }
        let used = request_bytes.max(self.memory_peak_bytes);
        let bumped = used.saturating_add(resource_amount_from_float(config.oom_min_bump_up_bytes));
        let scaled = resource_amount_from_float(used as f64 * config.oom_bump_up_ratio);
        Ok(bumped.max(scaled))
    }

    fn set_peak(&mut self, usage_bytes: i64, is_oom: bool) {
        if is_oom {
            self.oom_peak_bytes = usage_bytes;
        } else {
            self.memory_peak_bytes = usage_bytes;
        }
    }
}

/// Aggregated usage of all instances of one container: CPU usage and memory-peak
/// histograms, and the CPU sample span and count (`AggregateContainerState`).
#[derive(Clone, Debug)]
pub struct AggregateContainerState {
    cpu: DecayingHistogram,
    memory: DecayingHistogram,
    first_sample_ms: Option<i64>,
    last_sample_ms: Option<i64>,
    total_samples_count: u64,
    creation_ms: i64,
}

impl AggregateContainerState {
    /// An empty aggregate created at `now_ms`.
    pub fn new(config: &AggregationConfig, now_ms: i64) -> Self {
        AggregateContainerState {
            cpu: DecayingHistogram::new(&CPU_HISTOGRAM_OPTIONS, config.cpu_half_life_ms),
            memory: DecayingHistogram::new(&MEMORY_HISTOGRAM_OPTIONS, config.memory_half_life_ms),
            first_sample_ms: None,
            last_sample_ms: None,
            total_samples_count: 0,
            creation_ms: now_ms,
        }
    }

    /// Adds an accepted CPU sample (`addCPUSample`): weight max(request cores, 0.1).
    pub fn add_cpu_sample(&mut self, ts_ms: i64, usage_millicores: i64, request_millicores: i64) {
        let usage_cores = usage_millicores as f64 / 1000.0;
        let request_cores = request_millicores as f64 / 1000.0;
        self.cpu
            .add_sample(usage_cores, request_cores.max(MIN_SAMPLE_WEIGHT), ts_ms);
        if self.last_sample_ms.is_none_or(|last| ts_ms > last) {
            self.last_sample_ms = Some(ts_ms);
        }
        if self.first_sample_ms.is_none_or(|first| ts_ms < first) {
            self.first_sample_ms = Some(ts_ms);
        }
        self.total_samples_count += 1;
    }

    /// Applies a memory-peak change from [`ContainerInstance::memory_sample`].
    pub fn apply_peak_change(&mut self, change: PeakChange) {
        match change {
            PeakChange::None => {}
            PeakChange::Add {
                bytes,
                window_end_ms,
            } => {
                self.memory.add_sample(bytes as f64, 1.0, window_end_ms);
            }
            PeakChange::Replace {
                old_bytes,
                new_bytes,
                window_end_ms,
            } => {
                self.memory
                    .subtract_sample(old_bytes as f64, 1.0, window_end_ms);
                self.memory.add_sample(new_bytes as f64, 1.0, window_end_ms);
            }
        }
    }

    /// Removes an instance's current, unfinished peak (the checkpoint writer does this
    /// so a restart does not count the interval twice).
    pub fn subtract_peak(&mut self, bytes: i64, window_end_ms: i64) {
        self.memory
            .subtract_sample(bytes as f64, 1.0, window_end_ms);
    }

    /// Merges another aggregate (`MergeContainerState`).
    pub fn merge(&mut self, other: &AggregateContainerState) -> Result<(), super::VpaError> {
        self.cpu.merge(&other.cpu)?;
        self.memory.merge(&other.memory)?;
        if let Some(first) = other.first_sample_ms {
            if self.first_sample_ms.is_none_or(|mine| first < mine) {
                self.first_sample_ms = Some(first);
            }
        }
        if other.last_sample_ms > self.last_sample_ms {
            self.last_sample_ms = other.last_sample_ms;
        }
        self.total_samples_count += other.total_samples_count;
        Ok(())
    }

    /// CPU usage histogram (cores).
    pub fn cpu(&self) -> &DecayingHistogram {
        &self.cpu
    }

    /// Memory peak histogram (bytes).
    pub fn memory(&self) -> &DecayingHistogram {
        &self.memory
    }

    pub(crate) fn histograms_mut(&mut self) -> (&mut DecayingHistogram, &mut DecayingHistogram) {
        (&mut self.cpu, &mut self.memory)
    }

    /// Start of the first CPU sample.
    pub fn first_sample_ms(&self) -> Option<i64> {
        self.first_sample_ms
    }

    /// Start of the last CPU sample.
    pub fn last_sample_ms(&self) -> Option<i64> {
        self.last_sample_ms
    }

    /// Number of CPU samples.
    pub fn total_samples_count(&self) -> u64 {
        self.total_samples_count
    }

    pub(crate) fn set_sample_span(
        &mut self,
        first_ms: Option<i64>,
        last_ms: Option<i64>,
        count: u64,
    ) {
        self.first_sample_ms = first_ms;
        self.last_sample_ms = last_ms;
        self.total_samples_count = count;
    }

    /// History length in intervals of `interval_ms`, capped by the sample count at one
    /// sample a minute (`getConfidence`); upstream uses 24 h.
    pub fn confidence(&self, interval_ms: i64) -> f64 {
        let first = self.first_sample_ms.unwrap_or(gomath::GO_ZERO_TIME_MS);
        let last = self.last_sample_ms.unwrap_or(gomath::GO_ZERO_TIME_MS);
        let interval_ns = gomath::ms_to_ns(interval_ms);
        let lifespan = gomath::sub_ns(last, first) as f64 / interval_ns as f64;
        // time.Duration.Minutes(): whole minutes plus the fraction.
        let minutes =
            (interval_ns / 60_000_000_000) as f64 + (interval_ns % 60_000_000_000) as f64 / 60e9;
        let samples = self.total_samples_count as f64 / minutes;
        lifespan.min(samples)
    }

    /// Expired: no CPU sample for `interval × count` (since creation if none ever came).
    pub fn is_expired(&self, now_ms: i64, config: &AggregationConfig) -> bool {
        let since = if self.total_samples_count == 0 {
            self.creation_ms
        } else {
            self.last_sample_ms.unwrap_or(self.creation_ms)
        };
        now_ms.saturating_sub(since) >= config.expiry_ms()
    }

    /// Heap bytes held by both histograms.
    pub fn approx_heap_bytes(&self) -> usize {
        self.cpu.approx_heap_bytes() + self.memory.approx_heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;
    const HOUR_MS: i64 = 3_600_000;
    // 2017-04-18T17:35:05Z
    const T_MS: i64 = 1_492_536_905_000;
    const I_MS: i64 = MEMORY_AGGREGATION_INTERVAL_MS;

    fn memory(instance: &mut ContainerInstance, ts_ms: i64, mib: i64) -> PeakChange {
        instance
            .memory_sample(ts_ms, mib * MIB, false, I_MS)
            .unwrap()
    }

    #[test]
    fn cpu_samples_must_be_strictly_newer() {
        let mut instance = ContainerInstance::default();
        assert_eq!(instance.accept_cpu_sample(T_MS, 100), Ok(()));
        assert_eq!(
            instance.accept_cpu_sample(T_MS, 100),
            Err(DiscardReason::NotNewerThanLastCpuSample)
        );
        assert_eq!(
            instance.accept_cpu_sample(T_MS - 1, 100),
            Err(DiscardReason::NotNewerThanLastCpuSample)
        );
        assert_eq!(
            instance.accept_cpu_sample(T_MS + 1, -1),
            Err(DiscardReason::NegativeUsage)
        );
        assert_eq!(instance.accept_cpu_sample(T_MS + 1, 0), Ok(()));
    }

    #[test]
    fn window_advances_by_whole_intervals_over_several_days() {
        let mut instance = ContainerInstance::default();
        assert_eq!(
            memory(&mut instance, T_MS, 5),
            PeakChange::Add {
                bytes: 5 * MIB,
                window_end_ms: T_MS + I_MS
            }
        );
        // 3.5 intervals later: the window end moves to T + 4 I.
        assert_eq!(
            memory(&mut instance, T_MS + 3 * I_MS + 12 * HOUR_MS, 7),
            PeakChange::Add {
                bytes: 7 * MIB,
                window_end_ms: T_MS + 4 * I_MS
            }
        );
        // Exactly at the window end a new window starts.
        assert_eq!(
            memory(&mut instance, T_MS + 4 * I_MS, 1),
            PeakChange::Add {
                bytes: MIB,
                window_end_ms: T_MS + 5 * I_MS
            }
        );
    }

    #[test]
    fn smaller_and_out_of_order_memory_samples_change_nothing() {
        let mut instance = ContainerInstance::default();
        memory(&mut instance, T_MS, 10);
        assert_eq!(memory(&mut instance, T_MS + HOUR_MS, 4), PeakChange::None);
        assert_eq!(
            instance.memory_sample(T_MS, 50 * MIB, false, I_MS),
            Err(DiscardReason::OlderThanLastMemorySample)
        );
        // Equal timestamps are accepted.
        assert!(matches!(
            memory(&mut instance, T_MS + HOUR_MS, 11),
            PeakChange::Replace { .. }
        ));
    }

    #[test]
    fn zero_peak_is_never_replaced_within_its_window() {
        let mut instance = ContainerInstance::default();
        memory(&mut instance, T_MS, 0);
        assert_eq!(memory(&mut instance, T_MS + HOUR_MS, 10), PeakChange::None);
    }

    #[test]
    fn oom_before_the_current_interval_is_too_old() {
        let config = AggregationConfig::default();
        let mut instance = ContainerInstance::default();
        memory(&mut instance, T_MS + 2 * I_MS, 10);
        // Window is [T + 2I, T + 3I); OOMs from T + 2I on are accepted.
        assert!(instance
            .oom_needed_bytes(T_MS + 2 * I_MS, MIB, &config)
            .is_ok());
        assert_eq!(
            instance.oom_needed_bytes(T_MS + 2 * I_MS - 1, MIB, &config),
            Err(DiscardReason::OomTooOld)
        );
    }

    #[test]
    fn oom_bump_ignores_the_previous_oom_peak() {
        let config = AggregationConfig::default();
        let mut instance = ContainerInstance::default();
        let needed = instance
            .oom_needed_bytes(T_MS, 1000 * MIB, &config)
            .unwrap();
        assert_eq!(needed, 1200 * MIB);
        instance.memory_sample(T_MS, needed, true, I_MS).unwrap();
        // A second OOM with the same request needs the same, not 1.2 × 1200 MiB.
        assert_eq!(
            instance.oom_needed_bytes(T_MS + HOUR_MS, 1000 * MIB, &config),
            Ok(1200 * MIB)
        );
    }

    #[test]
    fn cpu_weight_is_the_request_but_at_least_a_tenth() {
        let config = AggregationConfig::default();
        let mut a = AggregateContainerState::new(&config, T_MS);
        a.add_cpu_sample(T_MS, 500, 0);
        let mut b = AggregateContainerState::new(&config, T_MS);
        b.add_cpu_sample(T_MS, 500, 2000);
        let mut c = AggregateContainerState::new(&config, T_MS);
        c.add_cpu_sample(T_MS, 500, 50);
        // Same time, same decay factor: only the weights differ.
        let ratio = b.cpu().histogram().total_weight() / a.cpu().histogram().total_weight();
        assert!((ratio - 20.0).abs() < 1e-12);
        assert_eq!(
            c.cpu().histogram().total_weight(),
            a.cpu().histogram().total_weight()
        );
        assert_eq!(
            (
                b.first_sample_ms(),
                b.last_sample_ms(),
                b.total_samples_count()
            ),
            (Some(T_MS), Some(T_MS), 1)
        );
    }

    #[test]
    fn expiry_is_at_exactly_eight_intervals() {
        let config = AggregationConfig::default();
        let mut a = AggregateContainerState::new(&config, T_MS);
        a.add_cpu_sample(T_MS, 100, 0);
        assert!(!a.is_expired(T_MS + 8 * I_MS - 1, &config));
        assert!(a.is_expired(T_MS + 8 * I_MS, &config));
        let empty = AggregateContainerState::new(&config, T_MS);
        assert!(empty.is_expired(T_MS + 8 * I_MS, &config));
    }

    #[test]
    fn confidence_is_the_smaller_of_days_and_samples_per_day() {
        let config = AggregationConfig::default();
        let mut a = AggregateContainerState::new(&config, T_MS);
        // Ten samples over two days: 10/1440 of a day's worth.
        for i in 0..10 {
            a.add_cpu_sample(T_MS + i * 2 * I_MS / 9, 100, 0);
        }
        assert!((a.confidence(I_MS) - 10.0 / 1440.0).abs() < 1e-15);
        let mut b = AggregateContainerState::new(&config, T_MS);
        for i in 0..2880 {
            b.add_cpu_sample(T_MS + i * 60_000, 100, 0);
        }
        assert!((b.confidence(I_MS) - 2879.0 / 1440.0).abs() < 1e-12);
    }
}
