//! The conformance vectors of `shared/reference/hpa-algorithm.md` (taken from upstream's
//! `replica_calculator_test.go` and `horizontal_test.go`), one test per vector, named for its
//! ID. Each exists because users compare our answers with the controller's: a vector that
//! fails here is an HPA that would scale differently on our side.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use tachyscale_scaler::hpa::limits::{
    convert_desired_replicas_with_behavior_rate, convert_desired_replicas_with_rules,
};
use tachyscale_scaler::hpa::replicas::{
    plain_metric_replicas, utilization_replicas, PodMetricInput,
};
use tachyscale_scaler::hpa::stabilization::stabilize_with_behavior;
use tachyscale_scaler::hpa::HpaScalingPolicy as P;
use tachyscale_scaler::hpa::{
    compute_replicas_for_metrics, Behavior, Calculation, ConditionStatus, ContainerRequests,
    CrossVersionObjectReference, ExternalObservation, HpaObservation, HpaOptions, HpaPod,
    HpaScalingPolicy, HpaSettings, HpaSpec, HpaState, LimitReason, MetricObservation, MetricSpec,
    MetricTarget, PodMetricSample, PodPhase, ReadyCondition, Recommendation, ScaleEvent,
    ScaleSnapshot, ScalingRules, SelectPolicy, Tolerances,
};

const NOW_MS: i64 = 1_800_000_000_000;
const MINUTE_MS: i64 = 60_000;

/// A pod of a vector: R = ready, U = unready (CPU: Running but not Ready, started a minute
/// ago), M = missing metric, I = ignored (Failed), P = Pending. Values are milli-units.
#[derive(Clone, Copy)]
enum Pod {
    R(i64),
    U(i64),
    M,
    I(i64),
    P(i64),
}

fn hpa_pod(index: usize, state: Pod, cpu_request: i64) -> HpaPod {
    let ready_since_hour = ReadyCondition {
        status: ConditionStatus::True,
        last_transition_time_ms: Some(NOW_MS - 59 * MINUTE_MS),
    };
    let (phase, start_ms, ready) = match state {
        Pod::R(_) | Pod::M => (PodPhase::Running, NOW_MS - 60 * MINUTE_MS, ready_since_hour),
        Pod::U(_) => (
            PodPhase::Running,
            NOW_MS - MINUTE_MS,
            ReadyCondition {
                status: ConditionStatus::False,
                last_transition_time_ms: Some(NOW_MS - MINUTE_MS),
            },
        ),
        Pod::I(_) => (PodPhase::Failed, NOW_MS - 60 * MINUTE_MS, ready_since_hour),
        Pod::P(_) => (PodPhase::Pending, NOW_MS - MINUTE_MS, ready_since_hour),
    };
    HpaPod {
        name: format!("pod-{index}"),
        phase,
        start_time_ms: Some(start_ms),
        ready: Some(ready),
        containers: vec![ContainerRequests {
            name: "app".into(),
            restart_policy_always: false,
            requests_milli: [("cpu".to_string(), cpu_request)].into(),
        }],
        ..HpaPod::default()
    }
}

fn samples_of(pods: &[Pod]) -> BTreeMap<String, PodMetricSample> {
    pods.iter()
        .enumerate()
        .filter_map(|(index, pod)| {
            let value = match *pod {
                Pod::R(v) | Pod::U(v) | Pod::I(v) | Pod::P(v) => v,
                Pod::M => return None,
            };
            let sample = PodMetricSample {
                value_milli: value,
                timestamp_ms: NOW_MS,
                window_ms: 30_000,
            };
            Some((format!("pod-{index}"), sample))
        })
        .collect()
}

/// A CPU Utilization vector: pods with (state, request), target percent, tolerances.
fn cpu(current: i32, pods: &[(Pod, i64)], target: i32, tolerances: Tolerances) -> Calculation {
    let states: Vec<Pod> = pods.iter().map(|(state, _)| *state).collect();
    let hpa_pods: Vec<HpaPod> = pods
        .iter()
        .enumerate()
        .map(|(index, (state, request))| hpa_pod(index, *state, *request))
        .collect();
    let samples = samples_of(&states);
    let options = HpaOptions::default();
    let input = PodMetricInput {
        current_replicas: current,
        samples: &samples,
        pods: &hpa_pods,
        resource: Some("cpu"),
        tolerances: &tolerances,
        options: &options,
        now_ms: NOW_MS,
    };
    utilization_replicas(&input, target, None).unwrap()
}

fn with_request(pods: &[Pod], request: i64) -> Vec<(Pod, i64)> {
    pods.iter().map(|pod| (*pod, request)).collect()
}

fn default_tolerance() -> Tolerances {
    Tolerances::uniform(0.1)
}

fn check(calc: &Calculation, replicas: i32, utilization: i32, raw: i64) {
    assert_eq!(
        (calc.replicas, calc.utilization, calc.usage),
        (replicas, Some(utilization), raw),
        "{calc:?}"
    );
}

#[test]
fn r1_ready_pods_above_target_scale_up() {
    let pods = with_request(&[Pod::R(600), Pod::R(1000), Pod::R(1400)], 2000);
    check(&cpu(3, &pods, 30, default_tolerance()), 5, 50, 1000);
}

#[test]
fn r2_unready_pod_counts_as_idle_on_scale_up() {
    let pods = with_request(&[Pod::U(600), Pod::R(1000), Pod::R(1400)], 2000);
    check(&cpu(3, &pods, 30, default_tolerance()), 4, 60, 1200);
}

#[test]
fn r3_unready_pods_that_flip_the_direction_keep_current() {
    let pods = with_request(&[Pod::R(800), Pod::U(1000), Pod::U(1400)], 2000);
    check(&cpu(3, &pods, 30, default_tolerance()), 3, 40, 800);
}

#[test]
fn r4_failed_pods_are_ignored() {
    let pods = with_request(
        &[Pod::R(1000), Pod::R(1400), Pod::I(2000), Pod::I(2000)],
        2000,
    );
    let calc = cpu(2, &pods, 30, default_tolerance());
    check(&calc, 4, 60, 1200);
    assert_eq!(calc.pods.unwrap().ignored_pods.len(), 2);
}

#[test]
fn r7_scale_down_with_all_pods_ready() {
    let pods = with_request(
        &[
            Pod::R(200),
            Pod::R(600),
            Pod::R(1000),
            Pod::R(500),
            Pod::R(500),
        ],
        2000,
    );
    check(&cpu(5, &pods, 50, default_tolerance()), 3, 28, 560);
}

#[test]
fn r8_unready_pods_do_not_count_on_scale_down() {
    let pods = with_request(
        &[
            Pod::R(200),
            Pod::R(600),
            Pod::R(1000),
            Pod::U(500),
            Pod::U(500),
        ],
        2000,
    );
    check(&cpu(5, &pods, 50, default_tolerance()), 2, 30, 600);
}

#[test]
fn r9_pending_pods_are_unready() {
    let pods = with_request(
        &[Pod::R(200), Pod::P(0), Pod::P(0), Pod::P(0), Pod::P(0)],
        2000,
    );
    check(&cpu(5, &pods, 50, default_tolerance()), 1, 10, 200);
}

const R11_REQUESTS: [i64; 3] = [1800, 2000, 2200];

fn r11_pods(usage: [i64; 3]) -> Vec<(Pod, i64)> {
    usage
        .iter()
        .zip(R11_REQUESTS)
        .map(|(usage, request)| (Pod::R(*usage), request))
        .collect()
}

#[test]
fn r11_within_tolerance_keeps_current() {
    check(
        &cpu(3, &r11_pods([2020, 2060, 2040]), 100, default_tolerance()),
        3,
        102,
        2040,
    );
}

#[test]
fn r12_zero_tolerance_scales_on_one_percent() {
    let zero = Tolerances::uniform(0.0);
    check(
        &cpu(3, &r11_pods([1818, 2020, 2222]), 100, zero),
        4,
        101,
        2020,
    );
}

#[test]
fn r13_large_scale_up_tolerance_holds() {
    let tolerances = Tolerances {
        scale_down: 0.1,
        scale_up: 2.0,
    };
    check(
        &cpu(3, &r11_pods([3780, 3820, 3800]), 100, tolerances),
        3,
        190,
        3800,
    );
}

#[test]
fn r14_small_scale_up_tolerance_scales() {
    let tolerances = Tolerances {
        scale_down: 2.0,
        scale_up: 0.08,
    };
    check(
        &cpu(3, &r11_pods([2200, 2160, 2180]), 100, tolerances),
        4,
        109,
        2180,
    );
}

#[test]
fn r15_large_scale_down_tolerance_holds() {
    let tolerances = Tolerances {
        scale_down: 0.36,
        scale_up: 0.1,
    };
    check(
        &cpu(3, &r11_pods([1320, 1280, 1300]), 100, tolerances),
        3,
        65,
        1300,
    );
}

#[test]
fn r18_missing_pods_use_their_request_on_scale_down() {
    let pods = with_request(&[Pod::R(800), Pod::R(190), Pod::M, Pod::M], 2000);
    let calc = cpu(4, &pods, 100, default_tolerance());
    check(&calc, 3, 24, 495);
    assert_eq!(calc.new_usage_ratio, Some(0.62));
}

#[test]
fn r19_missing_pod_at_exact_target_keeps_current() {
    let pods = with_request(&[Pod::R(2000), Pod::M], 2000);
    check(&cpu(2, &pods, 100, default_tolerance()), 2, 100, 2000);
}

#[test]
fn r22_missing_pod_that_flips_a_scale_down_keeps_current() {
    let pods = with_request(&[Pod::U(200), Pod::R(900), Pod::M], 2000);
    check(&cpu(3, &pods, 50, default_tolerance()), 3, 45, 900);
}

#[test]
fn r23_missing_and_unready_pods_count_as_idle_on_scale_up() {
    let pods = with_request(&[Pod::U(200), Pod::R(4000), Pod::M], 2000);
    check(&cpu(3, &pods, 50, default_tolerance()), 4, 200, 4000);
}

#[test]
fn r24_scale_down_with_unready_and_missing_pods() {
    let pods = with_request(&[Pod::U(200), Pod::R(200), Pod::R(200), Pod::M], 2000);
    check(&cpu(4, &pods, 50, default_tolerance()), 3, 10, 200);
}

/// A Pods-metric vector: values per pod (the flagged one not Ready), target in milli-units.
fn pods_metric(current: i32, values: &[i64], not_ready: Option<usize>, target: i64) -> Calculation {
    let states: Vec<Pod> = values.iter().map(|v| Pod::R(*v)).collect();
    let hpa_pods: Vec<HpaPod> = states
        .iter()
        .enumerate()
        .map(|(index, state)| {
            let mut pod = hpa_pod(index, *state, 1000);
            if not_ready == Some(index) {
                pod.ready = Some(ReadyCondition {
                    status: ConditionStatus::False,
                    last_transition_time_ms: Some(NOW_MS - MINUTE_MS),
                });
                pod.start_time_ms = Some(NOW_MS - MINUTE_MS);
            }
            pod
        })
        .collect();
    let samples = samples_of(&states);
    let (tolerances, options) = (default_tolerance(), HpaOptions::default());
    let input = PodMetricInput {
        current_replicas: current,
        samples: &samples,
        pods: &hpa_pods,
        resource: None,
        tolerances: &tolerances,
        options: &options,
        now_ms: NOW_MS,
    };
    plain_metric_replicas(&input, target).unwrap()
}

#[test]
fn p1_pods_metric_scales_up() {
    let calc = pods_metric(3, &[20000, 10000, 30000], None, 15000);
    assert_eq!((calc.replicas, calc.usage), (4, 20000));
}

#[test]
fn p2_pods_metric_ignores_readiness() {
    let calc = pods_metric(3, &[50000, 10000, 30000], Some(2), 15000);
    assert_eq!((calc.replicas, calc.usage), (6, 30000));
}

#[test]
fn p3_pods_metric_average_is_an_integer_division() {
    let calc = pods_metric(3, &[50000, 15000, 30000], None, 15000);
    assert_eq!((calc.replicas, calc.usage), (7, 31666));
}

#[test]
fn p4_pods_metric_scales_down() {
    let calc = pods_metric(5, &[12000; 5], None, 20000);
    assert_eq!((calc.replicas, calc.usage), (3, 12000));
}

#[test]
fn p5_pods_metric_within_tolerance() {
    let calc = pods_metric(3, &[20000, 21000, 21000], None, 20000);
    assert_eq!((calc.replicas, calc.usage), (3, 20666));
}

fn external_settings(target: MetricTarget) -> HpaSettings {
    let spec = HpaSpec {
        scale_target_ref: CrossVersionObjectReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "worker".into(),
        },
        min_replicas: Some(1),
        max_replicas: 100,
        metrics: vec![MetricSpec::external("queue_messages_ready", target)],
        behavior: None,
    };
    HpaSettings::new(&spec, HpaOptions::default()).unwrap()
}

/// An External vector through the metric pipeline; the value arrives as two items.
fn external(
    target: MetricTarget,
    spec_replicas: i32,
    status_replicas: i32,
    ready_pods: usize,
    value: i64,
) -> i32 {
    let pods: Vec<HpaPod> = (0..spec_replicas.max(1) as usize)
        .map(|index| {
            let state = if index < ready_pods {
                Pod::R(0)
            } else {
                Pod::U(0)
            };
            hpa_pod(index, state, 1000)
        })
        .collect();
    let metrics = [MetricObservation::External(ExternalObservation {
        values_milli: vec![value - 600, 600],
        timestamp_ms: Some(NOW_MS),
    })];
    let observation = HpaObservation {
        scale: ScaleSnapshot {
            spec_replicas,
            status_replicas,
        },
        pods: &pods,
        metrics: &metrics,
        now_ms: NOW_MS,
    };
    let outcome = compute_replicas_for_metrics(&external_settings(target), &observation);
    assert!(!outcome.blocked, "{outcome:?}");
    outcome.replicas
}

#[test]
fn e1_value_target_scales_by_ready_pods() {
    assert_eq!(external(MetricTarget::value(4400), 3, 3, 1, 8600), 2);
}

#[test]
fn e2_value_target_scales_down() {
    assert_eq!(external(MetricTarget::value(14334), 5, 5, 5, 8600), 3);
}

#[test]
fn e3_value_target_within_tolerance() {
    assert_eq!(external(MetricTarget::value(8888), 3, 3, 3, 8600), 3);
}

#[test]
fn ep1_average_value_target_scales_up() {
    assert_eq!(
        external(MetricTarget::average_value(2150), 3, 3, 3, 8600),
        4
    );
}

#[test]
fn ep2_average_value_target_scales_down() {
    assert_eq!(
        external(MetricTarget::average_value(2867), 5, 5, 5, 8600),
        3
    );
}

#[test]
fn ep3_average_value_target_within_tolerance() {
    assert_eq!(
        external(MetricTarget::average_value(2900), 3, 3, 3, 8600),
        3
    );
}

/// Events `gen({a, b, c}, 120)`: changes a, b, c made 100 s, 60 s and 20 s ago.
fn events(changes: [i32; 3]) -> Vec<ScaleEvent> {
    changes
        .iter()
        .zip([100, 60, 20])
        .map(|(change, age_seconds)| ScaleEvent {
            replica_change: *change,
            timestamp_ms: NOW_MS - age_seconds * 1000,
            outdated: false,
        })
        .collect()
}

fn rules(policies: Vec<HpaScalingPolicy>) -> ScalingRules {
    ScalingRules {
        stabilization_window_seconds: 0,
        select_policy: SelectPolicy::Max,
        policies,
        tolerance: None,
    }
}

struct RateCase {
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    up: Option<Vec<HpaScalingPolicy>>,
    down: Option<Vec<HpaScalingPolicy>>,
    up_events: Vec<ScaleEvent>,
    down_events: Vec<ScaleEvent>,
}

impl RateCase {
    fn new(current: i32, desired: i32, min: i32, max: i32) -> RateCase {
        RateCase {
            current,
            desired,
            min,
            max,
            up: None,
            down: None,
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    fn run(self) -> (i32, LimitReason) {
        let behavior = Behavior {
            scale_up: self.up.map_or_else(ScalingRules::default_scale_up, rules),
            scale_down: self
                .down
                .map_or_else(|| ScalingRules::default_scale_down(300), rules),
        };
        let state = HpaState {
            recommendations: Vec::new(),
            scale_up_events: self.up_events,
            scale_down_events: self.down_events,
        };
        let limits = convert_desired_replicas_with_behavior_rate(
            &state,
            &behavior,
            self.current,
            self.desired,
            self.min,
            self.max,
            NOW_MS,
        );
        (limits.replicas, limits.reason)
    }
}

#[test]
fn b1_desired_within_range() {
    assert_eq!(
        RateCase::new(5, 7, 3, 8).run(),
        (7, LimitReason::DesiredWithinRange)
    );
}

#[test]
fn b2_below_min_is_too_few_replicas() {
    assert_eq!(
        RateCase::new(3, 1, 2, 8).run(),
        (2, LimitReason::TooFewReplicas)
    );
}

#[test]
fn b4_above_max_is_too_many_replicas() {
    assert_eq!(
        RateCase::new(20, 1000, 1, 10).run(),
        (10, LimitReason::TooManyReplicas)
    );
}

#[test]
fn b6_percent_scale_up_rounds_up() {
    let case = RateCase {
        up: Some(vec![P::percent(1, 60)]),
        ..RateCase::new(3, 1000, 1, 2000)
    };
    assert_eq!(case.run(), (4, LimitReason::ScaleUpLimit));
}

#[test]
fn b7_default_scale_up_doubles() {
    assert_eq!(
        RateCase::new(10, 50, 1, 1000).run(),
        (20, LimitReason::ScaleUpLimit)
    );
}

#[test]
fn b8_max_policy_picks_the_pods_policy_when_larger() {
    let case = RateCase {
        up: Some(vec![P::pods(100, 60), P::percent(100, 60)]),
        ..RateCase::new(10, 500, 1, 1000)
    };
    assert_eq!(case.run(), (110, LimitReason::ScaleUpLimit));
}

#[test]
fn b9_max_policy_picks_the_percent_policy_when_larger() {
    let case = RateCase {
        up: Some(vec![P::pods(2, 60), P::percent(100, 60)]),
        ..RateCase::new(10, 500, 1, 1000)
    };
    assert_eq!(case.run(), (20, LimitReason::ScaleUpLimit));
}

#[test]
fn b11_pods_policy_alone() {
    let case = RateCase {
        up: Some(vec![P::pods(30, 60)]),
        ..RateCase::new(10, 50, 1, 1000)
    };
    assert_eq!(case.run(), (40, LimitReason::ScaleUpLimit));
}

#[test]
fn b12_percent_policy_alone() {
    let case = RateCase {
        up: Some(vec![P::percent(200, 60)]),
        ..RateCase::new(10, 50, 1, 1000)
    };
    assert_eq!(case.run(), (30, LimitReason::ScaleUpLimit));
}

#[test]
fn b13_scale_down_max_policy_picks_the_lower_limit() {
    let case = RateCase {
        down: Some(vec![P::pods(20, 60), P::percent(1, 60)]),
        ..RateCase::new(100, 2, 1, 1000)
    };
    assert_eq!(case.run(), (80, LimitReason::ScaleDownLimit));
}

#[test]
fn b14_scale_down_pods_policy_smaller_than_percent() {
    let case = RateCase {
        down: Some(vec![P::pods(2, 60), P::percent(1, 60)]),
        ..RateCase::new(100, 2, 1, 1000)
    };
    assert_eq!(case.run(), (98, LimitReason::ScaleDownLimit));
}

#[test]
fn b16_min_replicas_binds_before_the_rate() {
    let case = RateCase {
        down: Some(vec![P::percent(100, 60)]),
        ..RateCase::new(10, 2, 5, 1000)
    };
    assert_eq!(case.run(), (5, LimitReason::TooFewReplicas));
}

#[test]
fn b17_pods_scale_down_rate() {
    let case = RateCase {
        down: Some(vec![P::pods(5, 60)]),
        ..RateCase::new(10, 2, 1, 1000)
    };
    assert_eq!(case.run(), (5, LimitReason::ScaleDownLimit));
}

#[test]
fn b20_recent_scale_ups_use_up_the_pods_budget() {
    let case = RateCase {
        up: Some(vec![P::pods(5, 120)]),
        up_events: events([1, 5, 9]),
        ..RateCase::new(100, 500, 1, 1000)
    };
    assert_eq!(case.run(), (100, LimitReason::ScaleUpLimit));
}

#[test]
fn b22_percent_budget_measures_from_the_period_start() {
    let case = RateCase {
        up: Some(vec![P::percent(200, 120)]),
        up_events: events([1, 5, 9]),
        ..RateCase::new(100, 500, 1, 1000)
    };
    assert_eq!(case.run(), (255, LimitReason::ScaleUpLimit));
}

#[test]
fn b28_recent_scale_downs_raise_the_period_start() {
    let case = RateCase {
        down: Some(vec![P::percent(50, 120)]),
        down_events: events([2, 4, 6]),
        ..RateCase::new(100, 0, 1, 1000)
    };
    assert_eq!(case.run(), (56, LimitReason::ScaleDownLimit));
}

/// Stabilization: history as (value, age in seconds), windows in seconds.
fn stabilize(history: &[(i32, i64)], current: i32, desired: i32, up: i32, down: i32) -> i32 {
    let mut state = HpaState {
        recommendations: history
            .iter()
            .map(|(replicas, age_seconds)| Recommendation {
                replicas: *replicas,
                timestamp_ms: NOW_MS - age_seconds * 1000,
            })
            .collect(),
        ..HpaState::default()
    };
    let behavior = Behavior {
        scale_up: ScalingRules {
            stabilization_window_seconds: up,
            ..ScalingRules::default_scale_up()
        },
        scale_down: ScalingRules::default_scale_down(down),
    };
    stabilize_with_behavior(&mut state, &behavior, current, desired, NOW_MS).stabilized
}

#[test]
fn s1_no_history_takes_the_recommendation() {
    assert_eq!(stabilize(&[], 100, 5, 0, 0), 5);
}

#[test]
fn s2_scale_down_window_holds_the_highest_recent() {
    assert_eq!(stabilize(&[(4, 120), (5, 60)], 100, 3, 0, 180), 5);
}

#[test]
fn s3_scale_up_window_holds_the_lowest_recent() {
    assert_eq!(stabilize(&[(4, 120), (5, 60)], 1, 7, 300, 0), 4);
}

#[test]
fn s4_scale_up_window_does_not_hold_a_scale_down() {
    assert_eq!(stabilize(&[(1, 120), (2, 60)], 100, 3, 300, 0), 3);
}

#[test]
fn s5_scale_down_window_does_not_hold_a_scale_up() {
    assert_eq!(stabilize(&[(4, 120), (5, 60)], 1, 3, 0, 300), 3);
}

#[test]
fn s6_old_recommendations_are_outside_every_window() {
    assert_eq!(stabilize(&[(10, 600), (9, 540)], 100, 3, 0, 0), 3);
}

#[test]
fn rules_desired_within_range() {
    let limits = convert_desired_replicas_with_rules(5, 7, 3, 8);
    assert_eq!(
        (limits.replicas, limits.reason),
        (7, LimitReason::DesiredWithinRange)
    );
}

#[test]
fn rules_below_min_is_too_few_replicas() {
    let limits = convert_desired_replicas_with_rules(3, 1, 2, 8);
    assert_eq!(
        (limits.replicas, limits.reason),
        (2, LimitReason::TooFewReplicas)
    );
}

#[test]
fn rules_above_max_is_too_many_replicas() {
    let limits = convert_desired_replicas_with_rules(20, 1000, 1, 10);
    assert_eq!(
        (limits.replicas, limits.reason),
        (10, LimitReason::TooManyReplicas)
    );
}

#[test]
fn rules_scale_up_limited_to_twice_current() {
    let limits = convert_desired_replicas_with_rules(3, 1000, 1, 2000);
    assert_eq!(
        (limits.replicas, limits.reason),
        (6, LimitReason::ScaleUpLimit)
    );
}
