//! Invariants of the HPA that must hold for any load, history and spec, checked with
//! proptest: the result stays within `[minReplicas, maxReplicas]` when the current replicas
//! are, a single metric's recommendation never falls when its load rises, and load inside
//! the tolerance never changes anything.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use tachyscale_scaler::hpa::{
    reconcile, record_rescale, ConditionStatus, ContainerRequests, CrossVersionObjectReference,
    HpaBehavior, HpaObservation, HpaOptions, HpaPod, HpaScalingPolicy, HpaScalingRules,
    HpaSettings, HpaSpec, HpaState, MetricObservation, MetricSpec, MetricTarget, PodMetrics,
    PodPhase, ReadyCondition, Recommendation, ScaleEvent, ScaleSnapshot, SelectPolicy,
};

const NOW_MS: i64 = 1_800_000_000_000;

fn pods(count: usize) -> Vec<HpaPod> {
    (0..count)
        .map(|i| HpaPod {
            name: format!("pod-{i}"),
            phase: PodPhase::Running,
            start_time_ms: Some(NOW_MS - 3_600_000),
            ready: Some(ReadyCondition {
                status: ConditionStatus::True,
                last_transition_time_ms: Some(NOW_MS - 3_500_000),
            }),
            containers: vec![ContainerRequests {
                name: "app".into(),
                restart_policy_always: false,
                requests_milli: [("cpu".to_string(), 1000)].into(),
            }],
            ..HpaPod::default()
        })
        .collect()
}

fn cpu_samples(count: usize, usage_milli: i64) -> MetricObservation {
    let names: Vec<String> = (0..count).map(|i| format!("pod-{i}")).collect();
    MetricObservation::PerPod(PodMetrics::uniform(
        NOW_MS,
        30_000,
        names.iter().map(|name| (name.as_str(), usage_milli)),
    ))
}

fn spec(min: i32, max: i32, behavior: Option<HpaBehavior>) -> HpaSpec {
    HpaSpec {
        scale_target_ref: CrossVersionObjectReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        },
        min_replicas: Some(min),
        max_replicas: max,
        metrics: vec![MetricSpec::resource("cpu", MetricTarget::utilization(60))],
        behavior,
    }
}

fn policy() -> impl Strategy<Value = HpaScalingPolicy> {
    (any::<bool>(), 1..200i32, 1..1800i32).prop_map(|(pods, value, period)| {
        if pods {
            HpaScalingPolicy::pods(value, period)
        } else {
            HpaScalingPolicy::percent(value, period)
        }
    })
}

fn rules() -> impl Strategy<Value = Option<HpaScalingRules>> {
    proptest::option::of(
        (
            proptest::option::of(0..3600i32),
            prop_oneof![
                Just(SelectPolicy::Max),
                Just(SelectPolicy::Min),
                Just(SelectPolicy::Disabled)
            ],
            proptest::collection::vec(policy(), 1..4),
            proptest::option::of(0..500i64),
        )
            .prop_map(|(window, select, policies, tolerance)| HpaScalingRules {
                stabilization_window_seconds: window,
                select_policy: Some(select),
                policies: Some(policies),
                tolerance_milli: tolerance,
            }),
    )
}

fn behavior() -> impl Strategy<Value = Option<HpaBehavior>> {
    proptest::option::of(
        (rules(), rules()).prop_map(|(scale_up, scale_down)| HpaBehavior {
            scale_up,
            scale_down,
        }),
    )
}

fn history() -> impl Strategy<Value = HpaState> {
    let recommendation = (0..200i32, 0..3_600i64).prop_map(|(replicas, age)| Recommendation {
        replicas,
        timestamp_ms: NOW_MS - age * 1000,
    });
    let event = (1..50i32, 0..3_600i64).prop_map(|(change, age)| ScaleEvent {
        replica_change: change,
        timestamp_ms: NOW_MS - age * 1000,
        outdated: false,
    });
    (
        proptest::collection::vec(recommendation, 0..6),
        proptest::collection::vec(event.clone(), 0..4),
        proptest::collection::vec(event, 0..4),
    )
        .prop_map(
            |(recommendations, scale_up_events, scale_down_events)| HpaState {
                recommendations,
                scale_up_events,
                scale_down_events,
            },
        )
}

fn decide(settings: &HpaSettings, state: &mut HpaState, current: i32, usage_milli: i64) -> i32 {
    let count = usize::try_from(current).unwrap();
    let pods = pods(count);
    let metrics = [cpu_samples(count, usage_milli)];
    let observation = HpaObservation {
        scale: ScaleSnapshot {
            spec_replicas: current,
            status_replicas: current,
        },
        pods: &pods,
        metrics: &metrics,
        now_ms: NOW_MS,
    };
    reconcile(settings, state, &observation).desired_replicas
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn result_stays_within_min_and_max(
        min in 1..20i32,
        span in 0..60i32,
        current_offset in 0..60i32,
        usage in 0..20_000i64,
        behavior in behavior(),
        mut state in history(),
    ) {
        let max = min + span;
        let current = min + current_offset % (span + 1);
        let settings = HpaSettings::new(&spec(min, max, behavior), HpaOptions::default()).unwrap();
        let desired = decide(&settings, &mut state, current, usage);
        prop_assert!((min..=max).contains(&desired), "{desired} outside [{min}, {max}]");
        // And again after recording the rescale, a sync later.
        record_rescale(&settings, &mut state, current, desired, NOW_MS);
        let next = decide(&settings, &mut state, desired.max(1), usage);
        prop_assert!((min..=max).contains(&next), "{next} outside [{min}, {max}]");
    }

    #[test]
    fn more_load_never_means_fewer_replicas(
        current in 1..30i32,
        low in 0..5_000i64,
        extra in 0..5_000i64,
        behavior in behavior(),
        state in history(),
    ) {
        let settings = HpaSettings::new(&spec(1, 100, behavior), HpaOptions::default()).unwrap();
        let at_low = decide(&settings, &mut state.clone(), current, low);
        let at_high = decide(&settings, &mut state.clone(), current, low + extra);
        prop_assert!(at_high >= at_low, "usage {low} → {at_low}, usage {} → {at_high}", low + extra);
    }

    #[test]
    fn load_inside_the_tolerance_changes_nothing(
        current in 1..30i32,
        // 60 % target, 10 % tolerance: utilization 54..=66 is within.
        utilization in 54..=66i64,
        behavior in proptest::option::of(Just(HpaBehavior::default())),
    ) {
        let settings = HpaSettings::new(&spec(1, 100, behavior), HpaOptions::default()).unwrap();
        // An empty history: nothing else pulls the recommendation away from current.
        let mut fresh = HpaState::default();
        let desired = decide(&settings, &mut fresh, current, utilization * 10);
        prop_assert_eq!(desired, current);
    }
}
