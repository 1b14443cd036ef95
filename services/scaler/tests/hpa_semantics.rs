//! Cases derived from upstream semantics that the reference vectors do not pin down:
//! tolerance boundaries, per-direction tolerances, missing pods, direction flips, behavior
//! period edges, `selectPolicy: Disabled`, scaling to and from zero, the invalid-metric
//! rules (the fail-safe), first-seen history, ContainerResource, sidecar requests and CPU
//! readiness. They go through [`reconcile`] with specs written as users write them.
#![allow(clippy::unwrap_used)]

use tachyscale_scaler::hpa::{
    reconcile, record_rescale, ConditionStatus, ContainerRequests, DecisionReason,
    ExternalObservation, HpaObservation, HpaOptions, HpaPod, HpaSettings, HpaSpec, HpaState,
    MetricObservation, ObjectObservation, PodMetrics, PodPhase, ReadyCondition, ReplicaStep,
    ScaleDecision, ScaleEvent, ScaleSnapshot,
};

const NOW_MS: i64 = 1_800_000_000_000;
const MINUTE_MS: i64 = 60_000;

fn settings(yaml: &str) -> HpaSettings {
    let spec: HpaSpec = serde_yaml_ng::from_str(yaml).unwrap();
    HpaSettings::new(&spec, HpaOptions::default()).unwrap()
}

/// A pod Ready for an hour, with these containers (name, cpu request) and sidecars.
fn pod_with(name: &str, containers: &[(&str, i64)], sidecars: &[(&str, i64)]) -> HpaPod {
    let requests = |list: &[(&str, i64)], always: bool| -> Vec<ContainerRequests> {
        list.iter()
            .map(|(container, cpu)| ContainerRequests {
                name: container.to_string(),
                restart_policy_always: always,
                requests_milli: [("cpu".to_string(), *cpu)].into(),
            })
            .collect()
    };
    HpaPod {
        name: name.into(),
        phase: PodPhase::Running,
        start_time_ms: Some(NOW_MS - 60 * MINUTE_MS),
        ready: Some(ReadyCondition {
            status: ConditionStatus::True,
            last_transition_time_ms: Some(NOW_MS - 59 * MINUTE_MS),
        }),
        containers: requests(containers, false),
        init_containers: requests(sidecars, true),
        ..HpaPod::default()
    }
}

fn pods(count: usize) -> Vec<HpaPod> {
    (0..count)
        .map(|i| pod_with(&format!("pod-{i}"), &[("app", 1000)], &[]))
        .collect()
}

/// Per-pod samples `pod-0`, `pod-1`, … (`None` = no sample), taken now over 30 s.
fn per_pod(values: &[Option<i64>]) -> MetricObservation {
    let names: Vec<String> = (0..values.len()).map(|i| format!("pod-{i}")).collect();
    MetricObservation::PerPod(PodMetrics::uniform(
        NOW_MS,
        30_000,
        names
            .iter()
            .zip(values)
            .filter_map(|(name, value)| value.map(|v| (name.as_str(), v))),
    ))
}

fn external(total: i64) -> MetricObservation {
    MetricObservation::External(ExternalObservation {
        values_milli: vec![total],
        timestamp_ms: Some(NOW_MS),
    })
}

fn sync(
    settings: &HpaSettings,
    state: &mut HpaState,
    replicas: i32,
    pods: &[HpaPod],
    metrics: &[MetricObservation],
    now_ms: i64,
) -> ScaleDecision {
    let observation = HpaObservation {
        scale: ScaleSnapshot {
            spec_replicas: replicas,
            status_replicas: replicas,
        },
        pods,
        metrics,
        now_ms,
    };
    reconcile(settings, state, &observation)
}

const CPU_100: &str = "scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 50\nmetrics:\n- type: Resource\n  resource: {name: cpu, target: {type: Utilization, averageUtilization: 100}}\n";

#[test]
fn tolerance_bounds_are_inclusive_at_exactly_0_9_and_1_1() {
    let settings = settings(CPU_100);
    let proposal = |usage: i64| {
        let decision = sync(
            &settings,
            &mut HpaState::default(),
            10,
            &pods(10),
            &[per_pod(&[Some(usage); 10])],
            NOW_MS,
        );
        let calc = decision.metrics[0].calculation.clone().unwrap();
        (calc.replicas, calc.step)
    };
    assert_eq!(proposal(900), (10, ReplicaStep::WithinTolerance));
    assert_eq!(proposal(1100), (10, ReplicaStep::WithinTolerance));
    assert_eq!(proposal(890), (9, ReplicaStep::Proportional));
    assert_eq!(proposal(1110), (12, ReplicaStep::Proportional));
}

#[test]
fn per_direction_tolerances_come_from_behavior() {
    let settings = settings(&format!(
        "{CPU_100}behavior:\n  scaleUp: {{tolerance: 0}}\n  scaleDown: {{tolerance: '0.5', stabilizationWindowSeconds: 0}}\n"
    ));
    let up = sync(
        &settings,
        &mut HpaState::default(),
        10,
        &pods(10),
        &[per_pod(&[Some(1020); 10])],
        NOW_MS,
    );
    assert_eq!((up.desired_replicas, up.rescale), (11, true));
    let down = sync(
        &settings,
        &mut HpaState::default(),
        10,
        &pods(10),
        &[per_pod(&[Some(600); 10])],
        NOW_MS,
    );
    assert_eq!((down.desired_replicas, down.rescale), (10, false));
    assert_eq!(
        down.metrics[0].calculation.as_ref().unwrap().step,
        ReplicaStep::WithinTolerance
    );
}

const PODS_100: &str = "scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 50\nmetrics:\n- type: Pods\n  pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: 100m}}\n";

#[test]
fn missing_pods_count_at_the_target_on_scale_down() {
    let settings = settings(PODS_100);
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &[per_pod(&[Some(50), Some(50), None, None])],
        NOW_MS,
    );
    let calc = decision.metrics[0].calculation.clone().unwrap();
    assert_eq!((calc.usage_ratio, calc.new_usage_ratio), (0.5, Some(0.75)));
    assert_eq!(
        (calc.replicas, calc.step, calc.replica_basis),
        (3, ReplicaStep::Rebalanced, Some(4))
    );
}

#[test]
fn missing_pods_that_flip_a_scale_up_keep_current() {
    let settings = settings(PODS_100);
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        3,
        &pods(3),
        &[per_pod(&[Some(150), None, None])],
        NOW_MS,
    );
    let calc = decision.metrics[0].calculation.clone().unwrap();
    assert_eq!(
        (calc.replicas, calc.step),
        (3, ReplicaStep::DirectionReversed)
    );
    assert_eq!(calc.pods.unwrap().missing_pods.len(), 2);
    assert!(!decision.rescale);
}

#[test]
fn container_resource_uses_only_the_named_container() {
    let settings = settings("scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 50\nmetrics:\n- type: ContainerResource\n  containerResource: {name: cpu, container: app, target: {type: Utilization, averageUtilization: 50}}\n");
    let pods: Vec<HpaPod> = (0..2)
        .map(|i| pod_with(&format!("pod-{i}"), &[("app", 500), ("proxy", 500)], &[]))
        .collect();
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        2,
        &pods,
        &[per_pod(&[Some(400), Some(400)])],
        NOW_MS,
    );
    let calc = decision.metrics[0].calculation.clone().unwrap();
    assert_eq!((calc.utilization, calc.replicas), (Some(80), 4));
    assert_eq!(
        decision.metric_name.as_deref(),
        Some("cpu container resource utilization (percentage of request)")
    );
}

#[test]
fn sidecar_init_containers_count_in_requests() {
    let settings = settings(CPU_100);
    let pods = vec![pod_with("pod-0", &[("app", 500)], &[("mesh", 500)])];
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        1,
        &pods,
        &[per_pod(&[Some(1000)])],
        NOW_MS,
    );
    assert_eq!(
        decision.metrics[0]
            .calculation
            .as_ref()
            .unwrap()
            .utilization,
        Some(100)
    );
}

#[test]
fn container_missing_from_pods_is_an_invalid_metric() {
    let settings = settings("scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 5\nmetrics:\n- type: ContainerResource\n  containerResource: {name: cpu, container: sidecar, target: {type: Utilization, averageUtilization: 50}}\n");
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        1,
        &pods(1),
        &[per_pod(&[Some(400)])],
        NOW_MS,
    );
    assert_eq!(decision.reason, DecisionReason::InvalidMetrics);
    let failure = decision.metrics[0].failure.clone().unwrap();
    assert_eq!(failure.condition_reason, "FailedGetContainerResourceMetric");
    assert_eq!(
        failure.message,
        "failed to get sidecar container metric value: container sidecar not found in Pod pod-0"
    );
}

#[test]
fn cpu_sample_of_a_pod_not_ready_long_enough_is_left_out_of_a_scale_up() {
    let settings = settings(CPU_100);
    let mut fresh = pod_with("pod-1", &[("app", 1000)], &[]);
    fresh.start_time_ms = Some(NOW_MS - 2 * MINUTE_MS);
    fresh.ready = Some(ReadyCondition {
        status: ConditionStatus::True,
        last_transition_time_ms: Some(NOW_MS - 10_000),
    });
    let pods = vec![pod_with("pod-0", &[("app", 1000)], &[]), fresh];
    // The fresh pod's 2000m sample is 10 s after it became Ready, within the 30 s window.
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        2,
        &pods,
        &[per_pod(&[Some(1500), Some(2000)])],
        NOW_MS,
    );
    let calc = decision.metrics[0].calculation.clone().unwrap();
    assert_eq!(
        calc.pods
            .as_ref()
            .unwrap()
            .unready_pods
            .iter()
            .collect::<Vec<_>>(),
        ["pod-1"]
    );
    assert_eq!(
        (calc.utilization, calc.new_usage_ratio),
        (Some(150), Some(0.75))
    );
    assert_eq!(
        (calc.replicas, calc.step),
        (2, ReplicaStep::DirectionReversed)
    );
}

const EXTERNAL_VALUE: &str = "scaleTargetRef: {kind: Deployment, name: worker}\nminReplicas: 0\nmaxReplicas: 20\nmetrics:\n- type: External\n  external: {metric: {name: queue}, target: {type: Value, value: 10}}\n";

#[test]
fn external_value_scales_from_zero() {
    let settings = settings(EXTERNAL_VALUE);
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        0,
        &[],
        &[external(25_000)],
        NOW_MS,
    );
    assert_eq!((decision.desired_replicas, decision.rescale), (3, true));
    assert_eq!(
        decision.metrics[0].calculation.as_ref().unwrap().step,
        ReplicaStep::FromZero
    );
    let idle = sync(
        &settings,
        &mut HpaState::default(),
        0,
        &[],
        &[external(0)],
        NOW_MS,
    );
    assert_eq!((idle.desired_replicas, idle.rescale), (0, false));
}

#[test]
fn object_value_scales_to_zero_when_idle() {
    let settings = settings("scaleTargetRef: {kind: Deployment, name: worker}\nminReplicas: 0\nmaxReplicas: 20\nmetrics:\n- type: Object\n  object: {describedObject: {kind: Service, name: api}, metric: {name: rps}, target: {type: Value, value: 10}}\nbehavior:\n  scaleDown: {stabilizationWindowSeconds: 0}\n");
    let idle = [MetricObservation::Object(ObjectObservation {
        value_milli: 0,
        timestamp_ms: None,
    })];
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        2,
        &pods(2),
        &idle,
        NOW_MS,
    );
    assert_eq!((decision.desired_replicas, decision.rescale), (0, true));
    assert_eq!(
        decision.rescale_reason.as_deref(),
        Some("All metrics below target")
    );
}

#[test]
fn zero_replicas_with_min_one_stays_disabled_whatever_the_metrics() {
    let settings = settings(&EXTERNAL_VALUE.replace("minReplicas: 0", "minReplicas: 1"));
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        0,
        &[],
        &[external(99_000)],
        NOW_MS,
    );
    assert_eq!(
        (decision.rescale, decision.reason),
        (false, DecisionReason::ScalingDisabled)
    );
}

const CPU_AND_QUEUE: &str = "scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 50\nmetrics:\n- type: Resource\n  resource: {name: cpu, target: {type: Utilization, averageUtilization: 100}}\n- type: External\n  external: {metric: {name: queue}, target: {type: AverageValue, averageValue: 10}}\nbehavior:\n  scaleDown: {stabilizationWindowSeconds: 0}\n";

#[test]
fn all_metrics_invalid_changes_nothing() {
    let settings = settings(CPU_AND_QUEUE);
    let failed = [
        MetricObservation::Failed("metrics-server down".into()),
        MetricObservation::Failed("timeout".into()),
    ];
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &failed,
        NOW_MS,
    );
    assert_eq!(
        (decision.rescale, decision.desired_replicas, decision.reason),
        (false, 4, DecisionReason::InvalidMetrics)
    );
    assert_eq!(decision.invalid_metrics, 2);
    assert_eq!(decision.conditions[0].reason, "FailedGetResourceMetric");
    assert_eq!(decision.conditions[0].status, ConditionStatus::False);
}

#[test]
fn failing_metric_never_lets_another_scale_down() {
    let settings = settings(CPU_AND_QUEUE);
    let metrics = [
        per_pod(&[Some(100); 4]),
        MetricObservation::Failed("stale: last sample 10m old".into()),
    ];
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &metrics,
        NOW_MS,
    );
    assert_eq!(decision.metrics[0].replicas, Some(1));
    assert_eq!(
        (decision.rescale, decision.reason),
        (false, DecisionReason::InvalidMetrics)
    );
    assert!(
        decision.message.contains("stale: last sample 10m old"),
        "{}",
        decision.message
    );
}

#[test]
fn failing_metric_does_not_stop_a_scale_up() {
    let settings = settings(CPU_AND_QUEUE);
    let metrics = [
        per_pod(&[Some(2000); 4]),
        MetricObservation::Failed("timeout".into()),
    ];
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &metrics,
        NOW_MS,
    );
    assert_eq!((decision.rescale, decision.desired_replicas), (true, 8));
    assert_eq!(decision.invalid_metrics, 1);
    assert!(decision
        .metric_error
        .as_deref()
        .unwrap()
        .starts_with("invalid metrics (1 invalid out of 2)"));
    assert_eq!(decision.conditions[0].reason, "ValidMetricFound");
}

#[test]
fn failing_metric_with_the_rest_at_current_is_not_blocked() {
    let settings = settings(CPU_AND_QUEUE);
    let metrics = [
        per_pod(&[Some(1000); 4]),
        MetricObservation::Failed("timeout".into()),
    ];
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &metrics,
        NOW_MS,
    );
    assert_eq!(decision.reason, DecisionReason::DesiredWithinRange);
    assert!(!decision.rescale);
}

#[test]
fn missing_or_mismatched_observations_are_invalid_metrics() {
    let settings = settings(CPU_AND_QUEUE);
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &[external(10_000)],
        NOW_MS,
    );
    let errors: Vec<_> = decision
        .metrics
        .iter()
        .map(|m| m.failure.clone().unwrap().error)
        .collect();
    assert_eq!(errors, ["observation_mismatch", "no_observation"]);
    assert_eq!(decision.reason, DecisionReason::InvalidMetrics);
}

#[test]
fn first_seen_history_delays_a_scale_down_with_default_behavior() {
    let settings = settings(&format!(
        "{CPU_100}behavior:\n  scaleUp: {{selectPolicy: Max}}\n"
    ));
    let mut state = HpaState::default();
    let low = [per_pod(&[Some(200); 4])];
    let first = sync(&settings, &mut state, 4, &pods(4), &low, NOW_MS);
    assert_eq!((first.desired_replicas, first.rescale), (4, false));
    assert_eq!(first.conditions[1].reason, "ScaleDownStabilized");
    let still = sync(
        &settings,
        &mut state,
        4,
        &pods(4),
        &low,
        NOW_MS + 5 * MINUTE_MS - 1_000,
    );
    assert_eq!((still.desired_replicas, still.rescale), (4, false));
    // With behavior, an entry exactly at the window start is outside it.
    let after = sync(
        &settings,
        &mut state,
        4,
        &pods(4),
        &low,
        NOW_MS + 5 * MINUTE_MS,
    );
    assert_eq!((after.desired_replicas, after.rescale), (1, true));
}

#[test]
fn disabled_scale_down_policy_never_scales_down() {
    let settings = settings(&format!("{CPU_100}behavior:\n  scaleDown: {{selectPolicy: Disabled, stabilizationWindowSeconds: 0}}\n"));
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        4,
        &pods(4),
        &[per_pod(&[Some(100); 4])],
        NOW_MS,
    );
    assert_eq!(
        (decision.desired_replicas, decision.reason),
        (4, DecisionReason::ScaleDownLimit)
    );
    assert!(!decision.rescale);
}

#[test]
fn recorded_rescales_spend_the_policy_budget_until_the_period_passes() {
    let settings = settings(&format!("{CPU_100}behavior:\n  scaleUp: {{policies: [{{type: Pods, value: 4, periodSeconds: 60}}]}}\n"));
    let mut state = HpaState::default();
    let hot = |n: usize| [per_pod(&vec![Some(3000); n])];
    let first = sync(&settings, &mut state, 10, &pods(10), &hot(10), NOW_MS);
    assert_eq!(
        (first.desired_replicas, first.reason),
        (14, DecisionReason::ScaleUpLimit)
    );
    record_rescale(&settings, &mut state, 10, 14, NOW_MS);
    assert_eq!(
        state.scale_up_events,
        vec![ScaleEvent {
            replica_change: 4,
            timestamp_ms: NOW_MS,
            outdated: false
        }]
    );
    // 30 s later the 4 pods added are still inside the 60 s period: no room.
    let second = sync(
        &settings,
        &mut state,
        14,
        &pods(14),
        &hot(14),
        NOW_MS + 30_000,
    );
    assert_eq!((second.desired_replicas, second.rescale), (14, false));
    // Exactly one period later the event no longer counts.
    let third = sync(
        &settings,
        &mut state,
        14,
        &pods(14),
        &hot(14),
        NOW_MS + 60_000,
    );
    assert_eq!(third.desired_replicas, 18);
}

#[test]
fn hpa_without_behavior_records_no_scale_events() {
    let settings = settings(CPU_100);
    let mut state = HpaState::default();
    record_rescale(&settings, &mut state, 2, 4, NOW_MS);
    assert_eq!(state, HpaState::default());
}

#[test]
fn classic_path_limits_a_scale_up_to_twice_current() {
    let settings = settings(CPU_100);
    let decision = sync(
        &settings,
        &mut HpaState::default(),
        3,
        &pods(3),
        &[per_pod(&[Some(5000); 3])],
        NOW_MS,
    );
    assert_eq!(decision.metrics[0].replicas, Some(15));
    assert_eq!(
        (decision.desired_replicas, decision.reason),
        (6, DecisionReason::ScaleUpLimit)
    );
    let limited = decision
        .conditions
        .iter()
        .find(|c| c.reason == "ScaleUpLimit")
        .unwrap();
    assert_eq!(limited.status, ConditionStatus::True);
}
