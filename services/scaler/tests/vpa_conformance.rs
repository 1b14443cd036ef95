//! The VPA half of `shared/reference/vpa-cpa-algorithm.md`, one test per vector (named
//! for it), plus derived cases at the edges the vectors do not reach: bucket boundaries,
//! ε on subtract, OOMs inside and after a window, multi-interval window advance, expiry at
//! exactly 8 intervals, confidence with few samples, policy capping both ways,
//! `controlledResources: [cpu]`, mode `Off`, checkpoint round trips (also as a property)
//! and an upstream-written checkpoint fixture. Also measures the memory a typical
//! container costs, since the scaler must fit 100,000 of them in 2 KB each.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tachyscale_scaler::time::parse_rfc3339_ms;
use tachyscale_scaler::vpa::checkpoint::VpaCheckpoint;
use tachyscale_scaler::vpa::container::{
    AggregateContainerState, AggregationConfig, ContainerInstance, DiscardReason, PeakChange,
};
use tachyscale_scaler::vpa::decaying::DecayingHistogram;
use tachyscale_scaler::vpa::estimator::{estimate_from_value, pod_minimum, Bound, EstimatorConfig};
use tachyscale_scaler::vpa::histogram::{
    BucketWeights, Histogram, HistogramOptions, CPU_HISTOGRAM_OPTIONS, MEMORY_HISTOGRAM_OPTIONS,
};
use tachyscale_scaler::vpa::policy::VpaSpec;
use tachyscale_scaler::vpa::recommender::{
    CpuSample, MemorySample, OomEvent, Recommender, RecommenderConfig, SampleTarget,
};
use tachyscale_scaler::vpa::resources::{RecommendedPodResources, ResourceList, ResourceName};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const MIB: i64 = 1024 * 1024;
/// The decaying vectors' t0: Unix 1234567890.
const T0_MS: i64 = 1_234_567_890_000;

fn leak(options: HistogramOptions) -> &'static HistogramOptions {
    Box::leak(Box::new(options))
}

/// Upstream's `testHistogramOptions`: linear, max 10, bucket size 1, ε 1e-15.
fn linear_10() -> &'static HistogramOptions {
    leak(HistogramOptions::linear(10.0, 1.0, 1e-15).unwrap())
}

fn exponential_500() -> &'static HistogramOptions {
    leak(HistogramOptions::exponential(500.0, 40.0, 1.5, 1e-15).unwrap())
}

fn one_to_four(options: &'static HistogramOptions) -> Histogram {
    let mut h = Histogram::new(options);
    for i in 1..=4 {
        h.add_sample(f64::from(i), f64::from(i));
    }
    h
}

// ---- Histogram vectors -------------------------------------------------------------

#[test]
fn linear_percentiles_of_samples_one_to_four() {
    let h = one_to_four(linear_10());
    let expected = [
        (0.0, 2.0),
        (0.1, 2.0),
        (0.2, 3.0),
        (0.3, 3.0),
        (0.4, 4.0),
        (0.5, 4.0),
        (0.6, 4.0),
        (0.7, 5.0),
        (0.8, 5.0),
        (0.9, 5.0),
        (1.0, 5.0),
    ];
    for (p, value) in expected {
        assert_eq!(h.percentile(p), value, "P{p}");
    }
}

#[test]
fn empty_histogram_percentiles_are_zero() {
    let h = Histogram::new(linear_10());
    assert!(h.is_empty());
    for p in [-0.5, 0.0, 0.5, 1.0, 1.5] {
        assert_eq!(h.percentile(p), 0.0);
    }
    let d = DecayingHistogram::new(linear_10(), HOUR_MS);
    assert_eq!(d.percentile(0.5), 0.0);
}

#[test]
fn exponential_bucket_starts_and_count() {
    let options = exponential_500();
    assert_eq!(options.num_buckets(), 6);
    let starts: Vec<f64> = (0..6).map(|b| options.bucket_start(b).unwrap()).collect();
    assert_eq!(starts, [0.0, 40.0, 100.0, 190.0, 325.0, 527.5]);
    assert_eq!(options.bucket_start(6), None);
}

#[test]
fn exponential_find_bucket() {
    let options = exponential_500();
    let found: Vec<usize> = [-1.0, 39.99, 40.0, 100.0, 900.0]
        .iter()
        .map(|v| options.find_bucket(*v))
        .collect();
    assert_eq!(found, [0, 0, 1, 2, 5]);
}

#[test]
fn bucket_boundaries_exactly_at_just_below_and_above_max() {
    let cpu = &*CPU_HISTOGRAM_OPTIONS;
    for bucket in [1, 2, 10, 50, 100, 174] {
        let start = cpu.bucket_start(bucket).unwrap();
        assert!(cpu.find_bucket(start) >= bucket - 1 && cpu.find_bucket(start) <= bucket);
        assert_eq!(
            cpu.find_bucket(start * (1.0 - 1e-9)),
            bucket - 1,
            "just below {bucket}"
        );
        assert_eq!(
            cpu.find_bucket(start * (1.0 + 1e-9)),
            bucket,
            "just above {bucket}"
        );
    }
    let last = cpu.num_buckets() - 1;
    // "max 1000" means the last bucket starts at or above 1000 cores (here 1022.2).
    let last_start = cpu.bucket_start(last).unwrap();
    assert!(last_start >= 1000.0 && cpu.bucket_start(last - 1).unwrap() < 1000.0);
    assert_eq!(cpu.find_bucket(1000.0), last - 1);
    assert_eq!(cpu.find_bucket(last_start * (1.0 + 1e-9)), last);
    assert_eq!(cpu.find_bucket(1e9), last);
    // A sample in the last bucket reads as that bucket's start: it has no upper bound.
    let mut h = Histogram::new(&CPU_HISTOGRAM_OPTIONS);
    h.add_sample(5000.0, 1.0);
    assert_eq!(h.percentile(0.5), cpu.bucket_start(last).unwrap());
    // Percentiles outside [0, 1] read the first and the last bucket.
    let options = leak(HistogramOptions::linear(1.0, 0.1, 1e-15).unwrap());
    let mut h = Histogram::new(options);
    h.add_sample(0.1, 0.1);
    h.add_sample(0.2, 0.2);
    assert_eq!(h.percentile(-0.1), 0.2);
    assert!((h.percentile(1.1) - 0.3).abs() < 1e-15);
}

#[test]
fn subtract_treats_weights_within_epsilon_as_empty() {
    let epsilon = 1e-15;
    let options = leak(HistogramOptions::linear(1.0, 0.1, epsilon).unwrap());
    let mut h = Histogram::new(options);
    h.add_sample(0.1, epsilon * 2.5);
    assert!(!h.is_empty());
    h.subtract_sample(0.1, epsilon);
    assert!(!h.is_empty());
    h.subtract_sample(0.1, epsilon);
    assert!(h.is_empty());
    // Subtracting more than a bucket holds removes only what it holds.
    let mut h = Histogram::new(linear_10());
    h.add_sample(3.0, 2.0);
    h.add_sample(5.0, 1.0);
    h.subtract_sample(3.0, 10.0);
    assert_eq!(h.bucket_weight(3), 0.0);
    assert_eq!(h.total_weight(), 1.0);
    assert_eq!(h.min_max_bucket(), (5, 5));
    // Within ε of the bucket's weight also empties it exactly.
    let options = leak(HistogramOptions::linear(10.0, 1.0, 1e-4).unwrap());
    let mut h = Histogram::new(options);
    h.add_sample(2.0, 1.0);
    h.subtract_sample(2.0, 1.0 - 0.5e-4);
    assert_eq!(h.bucket_weight(2), 0.0);
    assert!(h.is_empty());
}

#[test]
fn tiny_samples_do_not_empty_a_histogram() {
    let epsilon = 1e-15;
    let options = leak(HistogramOptions::linear(1.0, 0.1, epsilon).unwrap());
    let mut h = Histogram::new(options);
    h.add_sample(9.9, epsilon * 3.0);
    h.add_sample(0.1, epsilon * 0.3);
    assert!(!h.is_empty());
    h.add_sample(999.9, epsilon * 0.3);
    assert!(!h.is_empty());
}

#[test]
fn merge_adds_bucket_weights() {
    let mut a = Histogram::new(linear_10());
    a.add_sample(1.0, 1.0);
    a.add_sample(2.0, 1.0);
    let mut b = Histogram::new(linear_10());
    b.add_sample(2.0, 1.0);
    b.add_sample(3.0, 1.0);
    let mut expected = Histogram::new(linear_10());
    for v in [1.0, 2.0, 2.0, 3.0] {
        expected.add_sample(v, 1.0);
    }
    a.merge(&b).unwrap();
    assert!(a.approx_eq(&expected));
}

// ---- Decaying vectors --------------------------------------------------------------

#[test]
fn decaying_simple_decay_after_twenty_half_lives() {
    let mut h = DecayingHistogram::new(linear_10(), HOUR_MS);
    h.add_sample(2.0, 1000.0, T0_MS);
    h.add_sample(1.0, 1.0, T0_MS + 20 * HOUR_MS);
    assert_eq!(h.percentile(0.999), 2.0);
    assert_eq!(h.percentile(1.0), 3.0);
}

#[test]
fn decaying_longterm_decay_after_101_half_lives() {
    let mut h = DecayingHistogram::new(linear_10(), HOUR_MS);
    h.add_sample(2.0, 1.0, T0_MS);
    h.add_sample(1.0, 1.0, T0_MS + 101 * HOUR_MS);
    assert_eq!(h.percentile(1.0), 2.0);
}

#[test]
fn decaying_percentiles_of_four_hourly_samples() {
    let mut h = DecayingHistogram::new(linear_10(), HOUR_MS);
    for i in 1..=4 {
        h.add_sample(
            f64::from(i),
            f64::from(i),
            T0_MS + i64::from(i - 1) * HOUR_MS,
        );
    }
    let expected = [
        (0.0, 2.0),
        (0.02, 2.0),
        (0.03, 3.0),
        (0.10, 3.0),
        (0.11, 4.0),
        (0.34, 4.0),
        (0.35, 5.0),
        (1.0, 5.0),
    ];
    for (p, value) in expected {
        assert_eq!(h.percentile(p), value, "P{p}");
    }
}

#[test]
fn decaying_without_elapsed_time_is_a_plain_histogram() {
    let mut h = DecayingHistogram::new(linear_10(), HOUR_MS);
    for i in 1..=4 {
        h.add_sample(f64::from(i), f64::from(i), T0_MS);
    }
    let plain = one_to_four(linear_10());
    for p in [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
        assert_eq!(h.percentile(p), plain.percentile(p));
    }
}

#[test]
fn decaying_merge_equals_adding_all_samples() {
    let mut a = DecayingHistogram::new(linear_10(), HOUR_MS);
    a.add_sample(1.0, 1.0, T0_MS);
    a.add_sample(2.0, 1.0, T0_MS + HOUR_MS);
    let mut b = DecayingHistogram::new(linear_10(), HOUR_MS);
    b.add_sample(2.0, 1.0, T0_MS + 2 * HOUR_MS);
    b.add_sample(3.0, 1.0, T0_MS + HOUR_MS);
    let mut expected = DecayingHistogram::new(linear_10(), HOUR_MS);
    expected.add_sample(2.0, 1.0, T0_MS + 2 * HOUR_MS);
    expected.add_sample(2.0, 1.0, T0_MS + HOUR_MS);
    expected.add_sample(3.0, 1.0, T0_MS + HOUR_MS);
    expected.add_sample(1.0, 1.0, T0_MS);
    a.merge(&b).unwrap();
    assert_eq!(a.reference_ms(), expected.reference_ms());
    assert!(a.histogram().approx_eq(expected.histogram()));
}

#[test]
fn decaying_checkpoint_keeps_the_reference_timestamp() {
    let mut h = DecayingHistogram::new(linear_10(), HOUR_MS);
    h.add_sample(2.0, 1.0, T0_MS + 100 * HOUR_MS);
    let checkpoint = h.save_checkpoint();
    assert_eq!(checkpoint.reference_ms, h.reference_ms());
    assert!(checkpoint.reference_ms.is_some());
    assert!(!checkpoint.buckets.weights.is_empty());
    let mut loaded = DecayingHistogram::new(linear_10(), HOUR_MS);
    loaded.load_checkpoint(&checkpoint, "cpu").unwrap();
    assert_eq!(loaded.reference_ms(), h.reference_ms());
    assert!(!loaded.is_empty());
}

// ---- Checkpoint vectors ------------------------------------------------------------

fn saved(samples: &[(f64, f64)]) -> BucketWeights {
    let mut h = Histogram::new(linear_10());
    for (value, weight) in samples {
        h.add_sample(*value, *weight);
    }
    h.save_checkpoint()
}

#[test]
fn checkpoint_save_single_bucket_is_max_weight() {
    let checkpoint = saved(&[(1.0, 1.0)]);
    assert_eq!(checkpoint.total_weight, 1.0);
    assert_eq!(
        checkpoint.weights.into_iter().collect::<Vec<_>>(),
        [(1, 10_000)]
    );
}

#[test]
fn checkpoint_save_drops_relatively_small_buckets() {
    let checkpoint = saved(&[(1.0, 1.0), (2.0, 100_000.0)]);
    assert_eq!(checkpoint.total_weight, 100_001.0);
    assert_eq!(
        checkpoint.weights.into_iter().collect::<Vec<_>>(),
        [(2, 10_000)]
    );
}

#[test]
fn checkpoint_save_scales_every_bucket() {
    let checkpoint = saved(&[(1.0, 1.0), (2.0, 10_000.0), (3.0, 50.0)]);
    assert_eq!(checkpoint.total_weight, 10_051.0);
    assert_eq!(
        checkpoint.weights.into_iter().collect::<Vec<_>>(),
        [(1, 1), (2, 10_000), (3, 50)]
    );
}

#[test]
fn checkpoint_save_of_empty_histogram_is_empty() {
    let checkpoint = saved(&[]);
    assert_eq!(checkpoint.total_weight, 0.0);
    assert!(checkpoint.weights.is_empty());
}

#[test]
fn checkpoint_load_rescales_to_total_weight() {
    let mut h = Histogram::new(linear_10());
    let checkpoint = BucketWeights {
        weights: [(0, 1), (1, 2)].into_iter().collect(),
        total_weight: 6.0,
    };
    h.load_checkpoint(&checkpoint, "cpu").unwrap();
    assert_eq!(h.total_weight(), 6.0);
    assert_eq!(h.bucket_weight(0), 2.0);
    assert_eq!(h.bucket_weight(1), 4.0);
}

#[test]
fn checkpoint_load_rejects_bad_buckets_and_totals() {
    let cases = [
        (
            vec![(-1, 1)],
            1.0,
            "cpu histogram checkpoint has bucket -1, outside 0..11",
        ),
        (
            vec![(99, 1)],
            1.0,
            "cpu histogram checkpoint has bucket 99, outside 0..11",
        ),
        (
            vec![],
            -1.0,
            "cpu histogram checkpoint has negative total weight -1",
        ),
    ];
    for (weights, total_weight, message) in cases {
        let mut h = Histogram::new(linear_10());
        let checkpoint = BucketWeights {
            weights: weights.into_iter().collect(),
            total_weight,
        };
        assert_eq!(
            h.load_checkpoint(&checkpoint, "cpu")
                .unwrap_err()
                .to_string(),
            message
        );
    }
}

// ---- Estimator vectors -------------------------------------------------------------

#[test]
#[allow(clippy::approx_constant)] // 3.14 is the reference's vector, not π
fn estimator_margin_of_constant_3_14() {
    let cpu = estimate_from_value(ResourceName::Cpu, Bound::Target, 0.9, 3.14, 1.0, 0.1, 0);
    assert_eq!((cpu.raw, cpu.after_margin), (3140, 3454));
    let memory = estimate_from_value(
        ResourceName::Memory,
        Bound::Target,
        0.9,
        3.14e9,
        1.0,
        0.1,
        0,
    );
    assert_eq!(
        (memory.raw, memory.after_margin),
        (3_140_000_000, 3_454_000_000)
    );
}

#[test]
fn pod_minimum_applies_to_one_container() {
    let minimum = pod_minimum(&EstimatorConfig::default(), 1);
    let cpu = estimate_from_value(
        ResourceName::Cpu,
        Bound::Target,
        0.9,
        0.001,
        1.0,
        0.15,
        minimum.cpu_millicores.unwrap(),
    );
    let memory = estimate_from_value(
        ResourceName::Memory,
        Bound::Target,
        0.9,
        1e6,
        1.0,
        0.15,
        minimum.memory_bytes.unwrap(),
    );
    assert_eq!(
        (cpu.after_pod_minimum, memory.after_pod_minimum),
        (25, 262_144_000)
    );
}

#[test]
fn pod_minimum_splits_across_two_containers() {
    let minimum = pod_minimum(&EstimatorConfig::default(), 2);
    let cpu = estimate_from_value(
        ResourceName::Cpu,
        Bound::Target,
        0.9,
        0.001,
        1.0,
        0.15,
        minimum.cpu_millicores.unwrap(),
    );
    let memory = estimate_from_value(
        ResourceName::Memory,
        Bound::Target,
        0.9,
        1e6,
        1.0,
        0.15,
        minimum.memory_bytes.unwrap(),
    );
    assert_eq!(
        (cpu.after_pod_minimum, memory.after_pod_minimum),
        (12, 131_072_000)
    );
}

#[test]
fn no_history_means_minimum_lower_bound_and_capped_upper_bound() {
    let lower = estimate_from_value(
        ResourceName::Memory,
        Bound::LowerBound,
        0.5,
        5e8,
        0.0,
        0.15,
        1000,
    );
    assert_eq!(lower.after_pod_minimum, 1000);
    let upper = estimate_from_value(
        ResourceName::Memory,
        Bound::UpperBound,
        0.95,
        5e8,
        0.0,
        0.15,
        1000,
    );
    assert_eq!(upper.after_pod_minimum, 100_000_000_000_000);
}

// ---- Memory window and OOM vectors -------------------------------------------------

/// 2017-04-18 17:35:05 UTC.
fn t() -> i64 {
    parse_rfc3339_ms("2017-04-18T17:35:05Z").unwrap()
}

fn mem(instance: &mut ContainerInstance, ts_ms: i64, mib: i64) -> PeakChange {
    instance
        .memory_sample(ts_ms, mib * MIB, false, DAY_MS)
        .unwrap()
}

fn oom(instance: &mut ContainerInstance, ts_ms: i64, request_mib: i64) -> PeakChange {
    let needed = instance
        .oom_needed_bytes(ts_ms, request_mib * MIB, &AggregationConfig::default())
        .unwrap();
    instance.memory_sample(ts_ms, needed, true, DAY_MS).unwrap()
}

#[test]
fn memory_windows_add_replace_and_advance() {
    let mut c = ContainerInstance::default();
    assert_eq!(
        mem(&mut c, t(), 5),
        PeakChange::Add {
            bytes: 5 * MIB,
            window_end_ms: t() + DAY_MS
        }
    );
    assert_eq!(
        mem(&mut c, t() + 12 * HOUR_MS, 10),
        PeakChange::Replace {
            old_bytes: 5 * MIB,
            new_bytes: 10 * MIB,
            window_end_ms: t() + DAY_MS
        }
    );
    assert_eq!(
        mem(&mut c, t() + DAY_MS, 2),
        PeakChange::Add {
            bytes: 2 * MIB,
            window_end_ms: t() + 2 * DAY_MS
        }
    );
}

#[test]
fn oom_with_request_1000_adds_1200() {
    let mut c = ContainerInstance::default();
    assert_eq!(
        oom(&mut c, t(), 1000),
        PeakChange::Add {
            bytes: 1200 * MIB,
            window_end_ms: t() + DAY_MS
        }
    );
}

#[test]
fn oom_with_request_1_adds_101() {
    let mut c = ContainerInstance::default();
    assert_eq!(
        oom(&mut c, t(), 1),
        PeakChange::Add {
            bytes: 101 * MIB,
            window_end_ms: t() + DAY_MS
        }
    );
}

#[test]
fn oom_after_memory_3000_replaces_it_with_3600() {
    let mut c = ContainerInstance::default();
    mem(&mut c, t(), 3000);
    assert_eq!(
        oom(&mut c, t(), 1000),
        PeakChange::Replace {
            old_bytes: 3000 * MIB,
            new_bytes: 3600 * MIB,
            window_end_ms: t() + DAY_MS
        }
    );
}

#[test]
fn oom_within_the_window_replaces_and_after_it_starts_a_new_one() {
    let mut c = ContainerInstance::default();
    mem(&mut c, t(), 500);
    // Within the window: used = max(request 100, peak 500) = 500 → 600.
    assert_eq!(
        oom(&mut c, t() + 6 * HOUR_MS, 100),
        PeakChange::Replace {
            old_bytes: 500 * MIB,
            new_bytes: 600 * MIB,
            window_end_ms: t() + DAY_MS
        }
    );
    // After the window: the stale usage peak (500) still counts, the OOM opens a window.
    assert_eq!(
        oom(&mut c, t() + 30 * HOUR_MS, 100),
        PeakChange::Add {
            bytes: 600 * MIB,
            window_end_ms: t() + 2 * DAY_MS
        }
    );
    // A usage sample above the OOM peak replaces it.
    assert_eq!(
        mem(&mut c, t() + 31 * HOUR_MS, 700),
        PeakChange::Replace {
            old_bytes: 600 * MIB,
            new_bytes: 700 * MIB,
            window_end_ms: t() + 2 * DAY_MS
        }
    );
    // An OOM from before the window's interval is refused.
    let too_old = c.oom_needed_bytes(t() + DAY_MS - 1, MIB, &AggregationConfig::default());
    assert_eq!(too_old, Err(DiscardReason::OomTooOld));
}

#[test]
fn window_advances_over_several_intervals() {
    let mut c = ContainerInstance::default();
    mem(&mut c, t(), 5);
    assert_eq!(
        mem(&mut c, t() + 5 * DAY_MS + HOUR_MS, 6),
        PeakChange::Add {
            bytes: 6 * MIB,
            window_end_ms: t() + 6 * DAY_MS
        }
    );
}

#[test]
fn aggregate_expires_at_exactly_eight_intervals() {
    let config = AggregationConfig::default();
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    let target = SampleTarget {
        container: "app",
        pod: "p",
    };
    r.add_cpu_sample(
        "ns/web",
        target,
        CpuSample {
            ts_ms: t(),
            usage_millicores: 100,
            request_millicores: 0,
        },
    )
    .unwrap();
    assert_eq!(config.expiry_ms(), 8 * DAY_MS);
    assert!(
        r.recommend("ns/web", t() + 8 * DAY_MS - 1)
            .unwrap()
            .container_recommendations
            .len()
            == 1
    );
    assert!(r
        .recommend("ns/web", t() + 8 * DAY_MS)
        .unwrap()
        .container_recommendations
        .is_empty());
    assert_eq!(r.expire(t() + 8 * DAY_MS - 1), 0);
    assert_eq!(r.expire(t() + 8 * DAY_MS), 1);
}

#[test]
fn confidence_with_few_samples_is_their_share_of_a_day() {
    let config = AggregationConfig::default();
    let mut a = AggregateContainerState::new(&config, t());
    for i in 0..72 {
        a.add_cpu_sample(t() + i * HOUR_MS, 200, 0);
    }
    // Three days of history but only 72 samples: 72 / 1440.
    assert_eq!(a.confidence(DAY_MS), 72.0 / 1440.0);
    let mut single = AggregateContainerState::new(&config, t());
    single.add_cpu_sample(t(), 200, 0);
    assert_eq!(single.confidence(DAY_MS), 0.0);
}

// ---- Recommender end to end --------------------------------------------------------

fn spec(json: &str) -> VpaSpec {
    serde_json::from_str(json).unwrap()
}

const TARGET_REF: &str = r#""targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}"#;

/// A day of one-minute CPU samples at 300m and hourly memory at 400 MiB, per container.
fn feed_day(r: &mut Recommender<String>, vpa: &str, container: &str) {
    let target = SampleTarget {
        container,
        pod: "web-1",
    };
    for minute in 0..1440 {
        let ts_ms = t() + minute * 60_000;
        r.add_cpu_sample(
            vpa,
            target,
            CpuSample {
                ts_ms,
                usage_millicores: 300,
                request_millicores: 0,
            },
        )
        .unwrap();
        if minute % 60 == 0 {
            r.add_memory_sample(
                vpa,
                target,
                MemorySample {
                    ts_ms,
                    usage_bytes: 400 * MIB,
                },
            )
            .unwrap();
        }
    }
}

fn only(
    recommendation: &RecommendedPodResources,
    container: &str,
) -> (ResourceList, ResourceList, ResourceList, ResourceList) {
    let c = recommendation
        .container_recommendations
        .iter()
        .find(|c| c.container_name == container)
        .unwrap();
    (c.target, c.lower_bound, c.upper_bound, c.uncapped_target)
}

#[test]
fn min_and_max_allowed_cap_both_ways() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    r.set_vpa(
        "ns/web".into(),
        spec(&format!(
            r#"{{{TARGET_REF},"resourcePolicy":{{"containerPolicies":[{{"containerName":"*","minAllowed":{{"cpu":"500m"}},"maxAllowed":{{"memory":"300Mi"}}}}]}}}}"#
        )),
    )
    .unwrap();
    feed_day(&mut r, "ns/web", "app");
    let now = t() + DAY_MS;
    let (target, lower, upper, uncapped) = only(&r.recommend("ns/web", now).unwrap(), "app");
    assert_eq!(target.cpu_millicores, Some(500));
    assert_eq!(lower.cpu_millicores, Some(500));
    assert!(upper.cpu_millicores.unwrap() > 500);
    assert_eq!(target.memory_bytes, Some(300 * MIB));
    assert_eq!(upper.memory_bytes, Some(300 * MIB));
    // The uncapped target is the estimator's: the 300m bucket's upper end plus 15 %.
    assert!(uncapped.cpu_millicores.unwrap() < 500);
    assert!(uncapped.memory_bytes.unwrap() > 300 * MIB);
}

#[test]
fn controlled_resources_cpu_only_leaves_memory_out() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    r.set_vpa(
        "ns/web".into(),
        spec(&format!(
            r#"{{{TARGET_REF},"resourcePolicy":{{"containerPolicies":[{{"containerName":"app","controlledResources":["cpu"]}}]}}}}"#
        )),
    )
    .unwrap();
    feed_day(&mut r, "ns/web", "app");
    let (target, lower, upper, uncapped) =
        only(&r.recommend("ns/web", t() + DAY_MS).unwrap(), "app");
    for list in [target, lower, upper, uncapped] {
        assert!(list.cpu_millicores.is_some());
        assert_eq!(list.memory_bytes, None);
    }
    let json = serde_json::to_value(r.recommend("ns/web", t() + DAY_MS).unwrap()).unwrap();
    assert!(json["containerRecommendations"][0]["target"]
        .get("memory")
        .is_none());
}

#[test]
fn mode_off_skips_the_container_and_the_pod_minimum_split() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    r.set_vpa(
        "ns/web".into(),
        spec(&format!(
            r#"{{{TARGET_REF},"resourcePolicy":{{"containerPolicies":[{{"containerName":"sidecar","mode":"Off"}}]}}}}"#
        )),
    )
    .unwrap();
    let target = SampleTarget {
        container: "app",
        pod: "web-1",
    };
    let sidecar = SampleTarget {
        container: "sidecar",
        pod: "web-1",
    };
    for (i, container) in [target, sidecar].into_iter().enumerate() {
        let sample = CpuSample {
            ts_ms: t() + i as i64,
            usage_millicores: 1,
            request_millicores: 0,
        };
        r.add_cpu_sample("ns/web", container, sample).unwrap();
    }
    let recommendation = r.recommend("ns/web", t() + HOUR_MS).unwrap();
    assert_eq!(recommendation.container_recommendations.len(), 1);
    // One recommended container: it gets the whole pod minimum.
    let (target, ..) = only(&recommendation, "app");
    assert_eq!(
        target,
        ResourceList {
            cpu_millicores: Some(25),
            memory_bytes: Some(262_144_000)
        }
    );
}

#[test]
fn recommendation_json_has_upstream_shape() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    feed_day(&mut r, "ns/web", "app");
    let json = serde_json::to_value(r.recommend("ns/web", t() + DAY_MS).unwrap()).unwrap();
    let app = &json["containerRecommendations"][0];
    assert_eq!(app["containerName"], "app");
    for field in ["target", "lowerBound", "upperBound", "uncappedTarget"] {
        assert!(
            app[field]["cpu"].as_str().unwrap().ends_with('m'),
            "{field}"
        );
        assert!(
            app[field]["memory"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .is_ok(),
            "{field}"
        );
    }
}

#[test]
fn oom_raises_the_memory_recommendation() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    feed_day(&mut r, "ns/web", "app");
    let before = only(&r.recommend("ns/web", t() + DAY_MS).unwrap(), "app")
        .0
        .memory_bytes
        .unwrap();
    let target = SampleTarget {
        container: "app",
        pod: "web-1",
    };
    let outcome = r
        .record_oom(
            "ns/web",
            target,
            OomEvent {
                ts_ms: t() + DAY_MS,
                request_bytes: 512 * MIB,
            },
        )
        .unwrap();
    // used = max(request 512Mi, peak 400Mi); max(used + 100Mi, used × 1.2) = 614.4Mi.
    assert_eq!(outcome.needed_bytes, (512.0 * 1.2 * MIB as f64) as i64);
    let after = only(&r.recommend("ns/web", t() + DAY_MS).unwrap(), "app")
        .0
        .memory_bytes
        .unwrap();
    assert!(after > before);
}

// ---- Checkpoint round trips and the upstream fixture -------------------------------

fn day_aggregate() -> AggregateContainerState {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    feed_day(&mut r, "ns/web", "app");
    r.aggregate("ns/web", "app").unwrap().clone()
}

#[test]
fn checkpoint_written_by_us_loads_back_to_the_same_percentiles() {
    let state = day_aggregate();
    let checkpoint = VpaCheckpoint::save(&state, "ns", "web", "app", t() + DAY_MS);
    let json = serde_json::to_string_pretty(&checkpoint).unwrap();
    let loaded = VpaCheckpoint::from_json(&json)
        .unwrap()
        .load(&AggregationConfig::default(), t() + DAY_MS)
        .unwrap();
    for p in [0.5, 0.9, 0.95] {
        assert_eq!(loaded.cpu().percentile(p), state.cpu().percentile(p));
        assert_eq!(loaded.memory().percentile(p), state.memory().percentile(p));
    }
    assert_eq!(loaded.confidence(DAY_MS), state.confidence(DAY_MS));
}

#[test]
fn checkpoints_leave_out_the_unfinished_memory_peak() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    feed_day(&mut r, "ns/web", "app");
    // The only window, [t, t + 1d), is open until t + 1d: before that its peak is left out.
    let open = r.checkpoints("ns/web", "ns", "web", t() + 23 * HOUR_MS);
    assert!(open[0].status.memory_histogram.bucket_weights.is_empty());
    let closed = r.checkpoints("ns/web", "ns", "web", t() + DAY_MS);
    assert!(!closed[0].status.memory_histogram.bucket_weights.is_empty());
    assert_eq!(closed[0].metadata.name, "web-app");
}

fn fixture() -> VpaCheckpoint {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vpa-checkpoint-v3.json"
    );
    VpaCheckpoint::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn upstream_checkpoint_fixture_gives_the_expected_recommendation() {
    let checkpoint = fixture();
    assert_eq!(checkpoint.spec.container_name, "app");
    let now = parse_rfc3339_ms("2026-03-01T12:05:00Z").unwrap();
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    r.set_vpa(
        "shop/web".into(),
        spec(&format!(
            r#"{{{TARGET_REF},"resourcePolicy":{{"containerPolicies":[{{"containerName":"app","maxAllowed":{{"memory":"900Mi"}}}}]}}}}"#
        )),
    )
    .unwrap();
    r.load_checkpoint("shop/web".into(), &checkpoint, now)
        .unwrap();
    let aggregate = r.aggregate("shop/web", "app").unwrap();
    // 6.5 days between first and last sample; 11337 samples would be 7.9 days.
    assert_eq!(aggregate.confidence(DAY_MS), 6.5);
    let (target, lower, upper, uncapped) = only(&r.recommend("shop/web", now).unwrap(), "app");
    // CPU: P90 in bucket 21 → start of 22 (0.38505 cores) → 385m + 57m; P50 → 357m + 53m,
    // × (1 + 0.001/6.5)^-2; P95 in bucket 25 → 511m + 76m, × (1 + 1/6.5).
    assert_eq!(target.cpu_millicores, Some(442));
    assert_eq!(lower.cpu_millicores, Some(409));
    assert_eq!(upper.cpu_millicores, Some(677));
    // Memory: P50 in bucket 30 → start of 31; P90 and P95 in bucket 31 → start of 32.
    assert_eq!(uncapped.memory_bytes, Some(865_936_536));
    assert_eq!(target.memory_bytes, Some(865_936_536));
    assert_eq!(lower.memory_bytes, Some(813_498_755));
    // 999157541 uncapped, above maxAllowed 900Mi.
    assert_eq!(upper.memory_bytes, Some(900 * MIB));
}

#[test]
fn fixture_round_trips_through_our_writer() {
    let checkpoint = fixture();
    let state = checkpoint.load(&AggregationConfig::default(), 0).unwrap();
    let again = VpaCheckpoint::save(&state, "shop", "web", "app", 0);
    assert_eq!(
        again.status.cpu_histogram.bucket_weights,
        checkpoint.status.cpu_histogram.bucket_weights
    );
    assert_eq!(
        again.status.memory_histogram.bucket_weights,
        checkpoint.status.memory_histogram.bucket_weights
    );
    assert_eq!(
        again.status.cpu_histogram.reference_timestamp,
        checkpoint.status.cpu_histogram.reference_timestamp
    );
    assert_eq!(again.status.total_samples_count, 11_337);
}

// ---- Properties --------------------------------------------------------------------

fn aggregate_from(samples: &[(u16, u8, u32)]) -> AggregateContainerState {
    let config = AggregationConfig::default();
    let mut state = AggregateContainerState::new(&config, t());
    let mut instance = ContainerInstance::default();
    for (i, (millicores, minutes, memory_mib)) in samples.iter().enumerate() {
        let ts_ms = t() + i as i64 * 60_000 + i64::from(*minutes) * 3_600_000;
        if instance
            .accept_cpu_sample(ts_ms, i64::from(*millicores))
            .is_ok()
        {
            state.add_cpu_sample(ts_ms, i64::from(*millicores), 0);
        }
        if let Ok(change) =
            instance.memory_sample(ts_ms, i64::from(*memory_mib) * MIB, false, DAY_MS)
        {
            state.apply_peak_change(change);
        }
    }
    state
}

/// Cumulative weight fractions of the tracked buckets.
fn cumulative(h: &Histogram) -> Vec<f64> {
    let (min, max) = h.min_max_bucket();
    let mut sum = 0.0;
    (min..=max.max(min))
        .map(|b| {
            sum += h.bucket_weight(b);
            sum / h.total_weight()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Saving, loading and saving again gives the same checkpoint (up to the last bit of
    /// the total weight through JSON).
    #[test]
    fn checkpoint_save_load_save_is_a_fixed_point(samples in prop::collection::vec((0u16..4000, 0u8..100, 1u32..4000), 1..80)) {
        let state = aggregate_from(&samples);
        let first = VpaCheckpoint::save(&state, "ns", "vpa", "c", t());
        let json = serde_json::to_string(&first).unwrap();
        let loaded = VpaCheckpoint::from_json(&json).unwrap().load(&AggregationConfig::default(), t()).unwrap();
        let second = VpaCheckpoint::save(&loaded, "ns", "vpa", "c", t());
        for (a, b) in [(&first.status.cpu_histogram, &second.status.cpu_histogram), (&first.status.memory_histogram, &second.status.memory_histogram)] {
            prop_assert_eq!(&a.bucket_weights, &b.bucket_weights);
            prop_assert_eq!(a.reference_timestamp, b.reference_timestamp);
            prop_assert!((a.total_weight - b.total_weight).abs() <= a.total_weight * 1e-15);
        }
        prop_assert_eq!(first.status.total_samples_count, second.status.total_samples_count);
        prop_assert_eq!(first.status.first_sample_start, second.status.first_sample_start);
    }

    /// A loaded checkpoint gives the same percentiles, unless a cumulative weight fraction
    /// lies so close to the percentile that the 1/10000 rounding of the saved weights can
    /// move it across (then the case is skipped).
    #[test]
    fn checkpoint_preserves_percentiles_away_from_rounding_ties(samples in prop::collection::vec((0u16..4000, 0u8..100, 1u32..4000), 1..80)) {
        let state = aggregate_from(&samples);
        let checkpoint = VpaCheckpoint::save(&state, "ns", "vpa", "c", t());
        let json = serde_json::to_string(&checkpoint).unwrap();
        let loaded = VpaCheckpoint::from_json(&json).unwrap().load(&AggregationConfig::default(), t()).unwrap();
        for (original, restored) in [(state.cpu(), loaded.cpu()), (state.memory(), loaded.memory())] {
            let h = original.histogram();
            let (min, max) = h.min_max_bucket();
            let tolerance = (max.saturating_sub(min) + 1) as f64 * 0.5 / 10_000.0 + 1e-9;
            let fractions = cumulative(h);
            for p in [0.5, 0.9, 0.95] {
                prop_assume!(fractions.iter().all(|f| (f - p).abs() > tolerance));
                prop_assert_eq!(original.percentile(p), restored.percentile(p));
            }
        }
    }
}

// ---- Memory per container ----------------------------------------------------------

/// A typical container: one day of one-second CPU samples around a steady 250m (± 20 %)
/// and memory every 10 s around 300 MiB, with daily peaks. Upstream's dense histograms
/// would need 2 × 1408 bytes for the weights alone.
#[test]
fn a_typical_container_costs_under_2_kb() {
    let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
    let vpa = "production-namespace/checkout-service".to_owned();
    let target = SampleTarget {
        container: "checkout",
        pod: "checkout-service-7d9f8b6c4-x2k9p",
    };
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 1001) as i64 - 500
    };
    for second in 0..86_400 {
        let ts_ms = t() + second * 1000;
        let usage_millicores = 250 + noise() * 50 / 500;
        r.add_cpu_sample(
            vpa.as_str(),
            target,
            CpuSample {
                ts_ms,
                usage_millicores,
                request_millicores: 0,
            },
        )
        .unwrap();
        if second % 10 == 0 {
            let usage_bytes = 300 * MIB + noise() * 20 * MIB / 500;
            r.add_memory_sample(vpa.as_str(), target, MemorySample { ts_ms, usage_bytes })
                .unwrap();
        }
    }
    let total =
        r.approx_heap_bytes(|key| key.capacity()) + std::mem::size_of::<Recommender<String>>();
    let per_container = total / r.container_count();
    let aggregate = r.aggregate(vpa.as_str(), "checkout").unwrap();
    eprintln!(
        "typical container: {per_container} bytes in total (cpu buckets {:?}, memory buckets {:?})",
        aggregate.cpu().histogram().stored_range(),
        aggregate.memory().histogram().stored_range()
    );
    assert!(per_container < 2048, "{per_container} bytes per container");
    assert!(aggregate.approx_heap_bytes() < 400);
}

#[test]
fn histogram_options_are_shared_not_copied() {
    let a = Histogram::new(&CPU_HISTOGRAM_OPTIONS);
    let b = Histogram::new(&MEMORY_HISTOGRAM_OPTIONS);
    assert!(std::ptr::eq(a.options(), &*CPU_HISTOGRAM_OPTIONS));
    assert!(std::mem::size_of::<Histogram>() <= 48);
    assert_eq!(b.approx_heap_bytes(), 0);
}

// ---- Explain examples (examples/explain/vpa*.json, shown in the README) -------------

fn explain_example(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../../examples/explain/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let input: tachyscale_scaler::vpa::VpaExplainInput =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    serde_json::to_value(tachyscale_scaler::vpa::explain(&input).unwrap()).unwrap()
}

fn recommended(explanation: &serde_json::Value, container: &str) -> serde_json::Value {
    let list = explanation["recommendation"]["containerRecommendations"]
        .as_array()
        .unwrap();
    list.iter()
        .find(|c| c["containerName"] == container)
        .unwrap()
        .clone()
}

#[test]
fn every_vpa_explain_example_runs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/explain");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("vpa") && name.ends_with(".json") {
            let explanation = explain_example(&name);
            assert!(
                !explanation["recommendation"]["containerRecommendations"]
                    .as_array()
                    .unwrap()
                    .is_empty(),
                "{name}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 2);
}

#[test]
fn explain_example_vpa_json() {
    let explanation = explain_example("vpa.json");
    let app = recommended(&explanation, "app");
    // CPU: 180m for 18 h then 420m for 6 h, weighted toward the recent: P90 and P95 in the
    // 420m bucket (upper end 445m), P50 in the 180m bucket (upper end 195m), +15 %.
    assert_eq!(
        app["target"],
        serde_json::json!({"cpu": "511m", "memory": "628694953"})
    );
    assert_eq!(
        app["lowerBound"],
        serde_json::json!({"cpu": "223m", "memory": "627438575"})
    );
    // Upper bound × (1 + 1/0.9993); memory capped to maxAllowed 1Gi.
    assert_eq!(
        app["upperBound"],
        serde_json::json!({"cpu": "1022m", "memory": "1073741824"})
    );
    assert_eq!(app["uncappedTarget"], app["target"]);
    let containers = explanation["containers"].as_array().unwrap();
    assert_eq!(containers[0]["samples"]["oomsRecorded"], 1);
    assert_eq!(
        containers[0]["cappings"][0]["reason"],
        "capped to maxAllowed"
    );
    assert_eq!(containers[1]["containerName"], "istio-proxy");
    assert_eq!(containers[1]["skipped"], "container policy mode is Off");
    assert_eq!(explanation["recommendedContainers"], 1);
}

#[test]
fn explain_example_vpa_checkpoint_json() {
    let explanation = explain_example("vpa-checkpoint.json");
    let container = &explanation["containers"][0];
    assert_eq!(container["samples"]["checkpointLoaded"], true);
    assert_eq!(container["totalSamplesCount"], 11_337 + 59);
    let app = recommended(&explanation, "app");
    assert_eq!(
        app["target"],
        serde_json::json!({"cpu": "442m", "memory": "865936536"})
    );
    assert_eq!(app["upperBound"]["memory"], "943718400");
}
