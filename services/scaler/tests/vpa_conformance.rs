//! The VPA half of `shared/reference/vpa-cpa-algorithm.md`, one test per vector (named
//! for it), plus derived cases at the edges the vectors do not reach: bucket boundaries,
//! ε on subtract, OOMs inside and after a window, multi-interval window advance, expiry at
//! exactly 8 intervals, confidence with few samples, policy capping both ways,
//! `controlledResources: [cpu]` and mode `Off`. Checkpoint round trips, the upstream
//! checkpoint fixture, explain examples and memory use are in `vpa_engine.rs`.
#![allow(clippy::unwrap_used)]

mod support;

use tachyscale_scaler::vpa::container::{
    AggregateContainerState, AggregationConfig, ContainerInstance, DiscardReason, PeakChange,
};
use tachyscale_scaler::vpa::decaying::DecayingHistogram;
use tachyscale_scaler::vpa::estimator::{estimate_from_value, pod_minimum, Bound, EstimatorConfig};
use tachyscale_scaler::vpa::histogram::{
    BucketWeights, Histogram, HistogramOptions, CPU_HISTOGRAM_OPTIONS,
};
use tachyscale_scaler::vpa::recommender::{
    CpuSample, OomEvent, Recommender, RecommenderConfig, SampleTarget,
};
use tachyscale_scaler::vpa::resources::{ResourceList, ResourceName};

use support::{feed_day, only, spec, t, DAY_MS, HOUR_MS, MIB, TARGET_REF};

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
