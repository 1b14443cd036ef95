//! The VPA engine as the control loop and users meet it: checkpoints written by us and by
//! upstream (`tests/fixtures/vpa-checkpoint-v3.json`, shaped like `kubectl get
//! vpacheckpoint -o json`), checkpoint properties, the `explain` examples the README
//! shows, the memory a typical container costs (the scaler must fit 100,000 containers
//! in 2 KB each; the 100,000-container cycle is timed by `tachyscale-loadtest scaler`).
#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use tachyscale_scaler::time::parse_rfc3339_ms;
use tachyscale_scaler::vpa::checkpoint::VpaCheckpoint;
use tachyscale_scaler::vpa::container::{
    AggregateContainerState, AggregationConfig, ContainerInstance,
};
use tachyscale_scaler::vpa::histogram::{
    Histogram, CPU_HISTOGRAM_OPTIONS, MEMORY_HISTOGRAM_OPTIONS,
};
use tachyscale_scaler::vpa::recommender::{
    CpuSample, MemorySample, Recommender, RecommenderConfig, SampleTarget,
};

use support::{feed_day, only, spec, t, DAY_MS, HOUR_MS, MIB, TARGET_REF};

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
