//! The replica calculator: from one metric's samples (or value) to a replica count, with
//! every intermediate value kept so a decision can be explained.
//!
//! Follows `replica_calculator.go` and `metrics/utilization.go` (Kubernetes 1.34) step for
//! step, including the integer arithmetic that makes the conformance vectors come out:
//! utilization is `(Σ usage × 100) / Σ request` truncated before it is divided by the target,
//! averages are integer divisions, replica counts are `ceil(ratio × pods)` in `f64`.
//!
//! The shape of the pod-based path (`GetResourceReplicas`, `calcPlainMetricReplicas`):
//! 1. group the pods ([`super::pods::group_pods`]) and drop samples of ignored and unready
//!    pods; no samples left is an error;
//! 2. compute the usage ratio from the trusted samples;
//! 3. if nothing is missing and no unready pod could hide load on a scale-up: `current` when
//!    within tolerance, else `ceil(ratio × ready pods)`;
//! 4. otherwise fill in the gaps against the proposed direction (missing pods use the target
//!    on a scale-down and nothing on a scale-up; unready pods use nothing on a scale-up),
//!    recompute, and keep `current` if the new ratio is within tolerance, crosses 1, or the
//!    new count lands on the wrong side of `current`.
//!
//! Samples of pods that are not in the pod list stay in the sample set, as upstream: they
//! count towards "no samples left" and towards the pod count in step 4, but have no request.
//! Counts that do not fit an `i32` saturate (Go's conversion is undefined there).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics::MetricError;
use super::observations::PodMetricSample;
use super::pods::{group_pods, pod_requests, ready_pod_count, HpaPod, PodGroups};
use super::settings::{HpaOptions, Tolerances};
use crate::units::{milli, option_milli};

/// How the replica count of a [`Calculation`] was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReplicaStep {
    /// The ratio is within tolerance: keep the current replicas.
    WithinTolerance,
    /// `ceil(ratio × basis)` with nothing to fill in.
    Proportional,
    /// Missing or unready pods were filled in; `ceil(newRatio × basis)`.
    Rebalanced,
    /// After filling in, the new ratio is within tolerance: keep the current replicas.
    RebalancedWithinTolerance,
    /// Filling in flipped the direction (the ratio crossed 1): keep the current replicas.
    DirectionReversed,
    /// The rebalanced count lies on the wrong side of the current replicas: keep them.
    CountReversed,
    /// Current replicas are 0 (scale from zero): `ceil(ratio)`, no tolerance.
    FromZero,
    /// A per-pod target of an Object/External metric: `ceil(total / target)`.
    PerPodTarget,
}

/// One metric's replica count and everything that led to it. Quantities are milli-units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calculation {
    pub replicas: i32,
    pub step: ReplicaStep,
    /// Usage over target (utilization percent over target percent for Utilization).
    pub usage_ratio: f64,
    /// The ratio after filling in missing and unready pods, when that happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_usage_ratio: Option<f64>,
    /// Utilization in percent of requests (truncated), for Utilization targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_utilization: Option<i32>,
    /// Average usage per trusted pod (pod metrics), the metric value (Object/External
    /// `Value`; External: the sum of items), or the usage per current pod (`AverageValue` of
    /// Object/External: `ceil(total / statusReplicas)`, 0 without replicas).
    #[serde(with = "milli")]
    pub usage: i64,
    /// The total the per-pod usage was derived from (Object/External `AverageValue`).
    #[serde(
        default,
        with = "option_milli",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_usage: Option<i64>,
    /// The target value or average value (absent for Utilization).
    #[serde(
        default,
        with = "option_milli",
        skip_serializing_if = "Option::is_none"
    )]
    pub target: Option<i64>,
    /// The count the ratio was multiplied by: ready pods, samples after filling in, Running
    /// and Ready pods (Object/External `Value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_basis: Option<i64>,
    /// How the pods were grouped (pod metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodGroups>,
}

/// The inputs of a pod-based calculation.
#[derive(Clone, Copy, Debug)]
pub struct PodMetricInput<'a> {
    /// The scale target's spec replicas.
    pub current_replicas: i32,
    pub samples: &'a BTreeMap<String, PodMetricSample>,
    pub pods: &'a [HpaPod],
    /// The resource of a Resource/ContainerResource metric; `None` for Pods metrics.
    pub resource: Option<&'a str>,
    pub tolerances: &'a Tolerances,
    pub options: &'a HpaOptions,
    pub now_ms: i64,
}

/// `GetResourceReplicas`: a Utilization target (percent of requests) of a resource, summed
/// over the pod's containers or taken from `container`.
pub fn utilization_replicas(
    input: &PodMetricInput<'_>,
    target_utilization: i32,
    container: Option<&str>,
) -> Result<Calculation, MetricError> {
    let (groups, mut samples) = trusted_samples(input)?;
    let requests = pod_requests(input.pods, container, input.resource.unwrap_or_default())?;
    let (ratio, utilization, raw_average) =
        utilization_ratio(&samples, &requests, target_utilization)?;
    let mut calculation = Calculation {
        replicas: input.current_replicas,
        step: ReplicaStep::WithinTolerance,
        usage_ratio: ratio,
        new_usage_ratio: None,
        utilization: Some(utilization),
        target_utilization: Some(target_utilization),
        usage: raw_average,
        total_usage: None,
        target: None,
        replica_basis: None,
        pods: None,
    };
    let scale_up_with_unready = !groups.unready_pods.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && groups.missing_pods.is_empty() {
        proportional(&mut calculation, input, groups.ready);
    } else {
        if ratio < 1.0 {
            // Scale-down: a missing pod uses its whole request, or the target when above 100 %.
            let fallback = i128::from(target_utilization.max(100));
            for pod in &groups.missing_pods {
                let request = i128::from(requests.get(pod).copied().unwrap_or(0));
                samples.insert(pod.clone(), saturate_i64(request * fallback / 100));
            }
        } else if ratio > 1.0 {
            for pod in &groups.missing_pods {
                samples.insert(pod.clone(), 0);
            }
        }
        if scale_up_with_unready {
            for pod in &groups.unready_pods {
                samples.insert(pod.clone(), 0);
            }
        }
        let (new_ratio, _, _) = utilization_ratio(&samples, &requests, target_utilization)?;
        rebalanced(&mut calculation, input, new_ratio, samples.len());
    }
    calculation.pods = Some(groups);
    Ok(calculation)
}

/// `calcPlainMetricReplicas`: an AverageValue target of a Pods metric or of a resource.
pub fn plain_metric_replicas(
    input: &PodMetricInput<'_>,
    target_milli: i64,
) -> Result<Calculation, MetricError> {
    let (groups, mut samples) = trusted_samples(input)?;
    let (ratio, usage) = usage_ratio(&samples, target_milli);
    let mut calculation = Calculation {
        replicas: input.current_replicas,
        step: ReplicaStep::WithinTolerance,
        usage_ratio: ratio,
        new_usage_ratio: None,
        utilization: None,
        target_utilization: None,
        usage,
        total_usage: None,
        target: Some(target_milli),
        replica_basis: None,
        pods: None,
    };
    let scale_up_with_unready = !groups.unready_pods.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && groups.missing_pods.is_empty() {
        proportional(&mut calculation, input, groups.ready);
    } else {
        let missing_value = if ratio < 1.0 {
            Some(target_milli)
        } else if ratio > 1.0 {
            Some(0)
        } else {
            None
        };
        if let Some(value) = missing_value {
            for pod in &groups.missing_pods {
                samples.insert(pod.clone(), value);
            }
        }
        if scale_up_with_unready {
            for pod in &groups.unready_pods {
                samples.insert(pod.clone(), 0);
            }
        }
        let (new_ratio, _) = usage_ratio(&samples, target_milli);
        rebalanced(&mut calculation, input, new_ratio, samples.len());
    }
    calculation.pods = Some(groups);
    Ok(calculation)
}

/// `GetObjectMetricReplicas` / `GetExternalMetricReplicas` after the fetch: a `Value`
/// target. From zero replicas the count is `ceil(ratio)` without tolerance, so an
/// Object/External metric can wake a workload scaled to zero.
pub fn value_replicas(
    current_replicas: i32,
    usage_milli: i64,
    target_milli: i64,
    tolerances: &Tolerances,
    pods: &[HpaPod],
) -> Result<Calculation, MetricError> {
    let ratio = usage_milli as f64 / target_milli as f64;
    let mut calculation = Calculation {
        replicas: current_replicas,
        step: ReplicaStep::WithinTolerance,
        usage_ratio: ratio,
        new_usage_ratio: None,
        utilization: None,
        target_utilization: None,
        usage: usage_milli,
        total_usage: None,
        target: Some(target_milli),
        replica_basis: None,
        pods: None,
    };
    if current_replicas == 0 {
        calculation.replicas = ceil_to_i32(ratio);
        calculation.step = ReplicaStep::FromZero;
    } else if !tolerances.is_within(ratio) {
        let ready = ready_pod_count(pods)?;
        calculation.replicas = ceil_to_i32(ratio * ready as f64);
        calculation.step = ReplicaStep::Proportional;
        calculation.replica_basis = Some(ready);
    }
    Ok(calculation)
}

/// `GetObjectPerPodMetricReplicas` / `GetExternalPerPodMetricReplicas` after the fetch: an
/// `AverageValue` target, judged against the status replicas.
pub fn per_pod_replicas(
    status_replicas: i32,
    total_milli: i64,
    target_milli: i64,
    tolerances: &Tolerances,
) -> Calculation {
    let ratio = total_milli as f64 / (target_milli as f64 * f64::from(status_replicas));
    let (replicas, step) = if tolerances.is_within(ratio) {
        (status_replicas, ReplicaStep::WithinTolerance)
    } else {
        (
            ceil_to_i32(total_milli as f64 / target_milli as f64),
            ReplicaStep::PerPodTarget,
        )
    };
    let usage = if status_replicas == 0 {
        0
    } else {
        let per_pod = (total_milli as f64 / f64::from(status_replicas)).ceil();
        // `as` saturates at the i64 range, like upstream's overflow guard.
        per_pod as i64
    };
    Calculation {
        replicas,
        step,
        usage_ratio: ratio,
        new_usage_ratio: None,
        utilization: None,
        target_utilization: None,
        usage,
        total_usage: Some(total_milli),
        target: Some(target_milli),
        replica_basis: None,
        pods: None,
    }
}

/// Groups the pods and keeps the samples of pods that are neither ignored nor unready.
fn trusted_samples(
    input: &PodMetricInput<'_>,
) -> Result<(PodGroups, BTreeMap<String, i64>), MetricError> {
    if input.pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    let groups = group_pods(
        input.pods,
        input.samples,
        input.resource,
        input.options,
        input.now_ms,
    );
    let samples: BTreeMap<String, i64> = input
        .samples
        .iter()
        .filter(|(pod, _)| {
            !groups.ignored_pods.contains(*pod) && !groups.unready_pods.contains(*pod)
        })
        .map(|(pod, sample)| (pod.clone(), sample.value_milli))
        .collect();
    if samples.is_empty() {
        return Err(MetricError::NoMetricsForTargetedPods);
    }
    Ok((groups, samples))
}

/// Step 3: nothing to fill in.
fn proportional(calculation: &mut Calculation, input: &PodMetricInput<'_>, ready: usize) {
    if input.tolerances.is_within(calculation.usage_ratio) {
        calculation.replicas = input.current_replicas;
        calculation.step = ReplicaStep::WithinTolerance;
    } else {
        let basis = i64::try_from(ready).unwrap_or(i64::MAX);
        calculation.replicas = ceil_to_i32(calculation.usage_ratio * basis as f64);
        calculation.step = ReplicaStep::Proportional;
        calculation.replica_basis = Some(basis);
    }
}

/// Step 4: after filling in missing and unready pods.
fn rebalanced(
    calculation: &mut Calculation,
    input: &PodMetricInput<'_>,
    new_ratio: f64,
    sample_count: usize,
) {
    let ratio = calculation.usage_ratio;
    let current = input.current_replicas;
    calculation.new_usage_ratio = Some(new_ratio);
    calculation.replicas = current;
    if input.tolerances.is_within(new_ratio) {
        calculation.step = ReplicaStep::RebalancedWithinTolerance;
        return;
    }
    if (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        calculation.step = ReplicaStep::DirectionReversed;
        return;
    }
    let basis = i64::try_from(sample_count).unwrap_or(i64::MAX);
    let new_replicas = ceil_to_i32(new_ratio * basis as f64);
    calculation.replica_basis = Some(basis);
    if (new_ratio < 1.0 && new_replicas > current) || (new_ratio > 1.0 && new_replicas < current) {
        calculation.step = ReplicaStep::CountReversed;
        return;
    }
    calculation.replicas = new_replicas;
    calculation.step = ReplicaStep::Rebalanced;
}

/// `GetResourceUtilizationRatio`: samples without a request (pods not listed) are skipped.
/// Returns the ratio, the utilization percent and the raw average usage.
fn utilization_ratio(
    samples: &BTreeMap<String, i64>,
    requests: &BTreeMap<String, i64>,
    target_utilization: i32,
) -> Result<(f64, i32, i64), MetricError> {
    let mut usage_total: i128 = 0;
    let mut request_total: i128 = 0;
    let mut entries: i128 = 0;
    for (pod, value) in samples {
        if let Some(request) = requests.get(pod) {
            usage_total += i128::from(*value);
            request_total += i128::from(*request);
            entries += 1;
        }
    }
    if request_total == 0 || entries == 0 {
        return Err(MetricError::NoMetricsMatchedKnownPods);
    }
    let utilization = i32::try_from(
        (usage_total * 100 / request_total).clamp(i128::from(i32::MIN), i128::from(i32::MAX)),
    )
    .unwrap_or(i32::MAX);
    let raw_average = saturate_i64(usage_total / entries);
    Ok((
        f64::from(utilization) / f64::from(target_utilization),
        utilization,
        raw_average,
    ))
}

/// `GetMetricUsageRatio`: integer average over all samples, then over the target.
fn usage_ratio(samples: &BTreeMap<String, i64>, target_milli: i64) -> (f64, i64) {
    let total: i128 = samples.values().map(|value| i128::from(*value)).sum();
    let count = i128::try_from(samples.len()).unwrap_or(i128::MAX).max(1);
    let usage = saturate_i64(total / count);
    (usage as f64 / target_milli as f64, usage)
}

fn ceil_to_i32(value: f64) -> i32 {
    // `as` saturates and maps NaN to 0.
    value.ceil() as i32
}

fn saturate_i64(value: i128) -> i64 {
    i64::try_from(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::pods::{ConditionStatus, ContainerRequests, PodPhase, ReadyCondition};

    const NOW_MS: i64 = 1_800_000_000_000;

    fn pod(name: &str, cpu_request: i64) -> HpaPod {
        HpaPod {
            name: name.into(),
            phase: PodPhase::Running,
            start_time_ms: Some(NOW_MS - 3_600_000),
            ready: Some(ReadyCondition {
                status: ConditionStatus::True,
                last_transition_time_ms: Some(NOW_MS - 3_500_000),
            }),
            containers: vec![ContainerRequests {
                name: "app".into(),
                restart_policy_always: false,
                requests_milli: [("cpu".to_string(), cpu_request)].into(),
            }],
            ..HpaPod::default()
        }
    }

    fn samples(values: &[(&str, i64)]) -> BTreeMap<String, PodMetricSample> {
        values
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    PodMetricSample {
                        value_milli: *value,
                        timestamp_ms: NOW_MS,
                        window_ms: 30_000,
                    },
                )
            })
            .collect()
    }

    fn input<'a>(
        current: i32,
        pods: &'a [HpaPod],
        samples: &'a BTreeMap<String, PodMetricSample>,
        resource: Option<&'a str>,
        tolerances: &'a Tolerances,
        options: &'a HpaOptions,
    ) -> PodMetricInput<'a> {
        PodMetricInput {
            current_replicas: current,
            samples,
            pods,
            resource,
            tolerances,
            options,
            now_ms: NOW_MS,
        }
    }

    #[test]
    fn no_pods_and_no_trusted_samples_are_errors() {
        let (tolerances, options) = (Tolerances::uniform(0.1), HpaOptions::default());
        let none = samples(&[]);
        let empty = input(1, &[], &none, Some("cpu"), &tolerances, &options);
        assert_eq!(
            utilization_replicas(&empty, 50, None),
            Err(MetricError::NoPods)
        );
        let pods = [pod("a", 1000)];
        let missing = input(1, &pods, &none, Some("cpu"), &tolerances, &options);
        assert_eq!(
            plain_metric_replicas(&missing, 100),
            Err(MetricError::NoMetricsForTargetedPods)
        );
    }

    #[test]
    fn samples_of_unlisted_pods_alone_match_no_known_pod() {
        let (tolerances, options) = (Tolerances::uniform(0.1), HpaOptions::default());
        let pods = [pod("a", 1000)];
        let stray = samples(&[("zz", 500)]);
        let calc = input(1, &pods, &stray, Some("cpu"), &tolerances, &options);
        assert_eq!(
            utilization_replicas(&calc, 50, None),
            Err(MetricError::NoMetricsMatchedKnownPods)
        );
    }

    #[test]
    fn zero_requests_match_no_known_pod() {
        let (tolerances, options) = (Tolerances::uniform(0.1), HpaOptions::default());
        let pods = [pod("a", 0)];
        let values = samples(&[("a", 500)]);
        let calc = input(1, &pods, &values, Some("memory"), &tolerances, &options);
        // A request of another resource is missing: that error comes first.
        assert!(matches!(
            utilization_replicas(&calc, 50, None),
            Err(MetricError::MissingRequest { .. })
        ));
        let calc = input(1, &pods, &values, Some("cpu"), &tolerances, &options);
        assert_eq!(
            utilization_replicas(&calc, 50, None),
            Err(MetricError::NoMetricsMatchedKnownPods)
        );
    }

    #[test]
    fn metric_exactly_at_target_keeps_current_with_missing_pods() {
        // With the ratio exactly 1, missing pods are neither filled with the target nor with
        // zero, so the recomputed ratio is still 1 (Kubernetes ≥ 1.29; older releases
        // counted them as idle on the Pods path).
        let (tolerances, options) = (Tolerances::uniform(0.1), HpaOptions::default());
        let pods: Vec<HpaPod> = (0..4).map(|i| pod(&format!("p{i}"), 1000)).collect();
        let values = samples(&[("p0", 500)]);
        let plain =
            plain_metric_replicas(&input(4, &pods, &values, None, &tolerances, &options), 500)
                .unwrap();
        assert_eq!(plain.new_usage_ratio, Some(1.0));
        assert_eq!(
            (plain.replicas, plain.step),
            (4, ReplicaStep::RebalancedWithinTolerance)
        );
        let util = utilization_replicas(
            &input(4, &pods, &values, Some("cpu"), &tolerances, &options),
            50,
            None,
        )
        .unwrap();
        assert_eq!(util.new_usage_ratio, Some(1.0));
        assert_eq!(
            (util.replicas, util.step),
            (4, ReplicaStep::RebalancedWithinTolerance)
        );
    }

    #[test]
    fn value_target_from_zero_ignores_tolerance_and_pods() {
        let tolerances = Tolerances::uniform(0.1);
        let calc = value_replicas(0, 1050, 1000, &tolerances, &[]).unwrap();
        assert_eq!((calc.replicas, calc.step), (2, ReplicaStep::FromZero));
        let idle = value_replicas(0, 0, 1000, &tolerances, &[]).unwrap();
        assert_eq!(idle.replicas, 0);
        assert_eq!(
            value_replicas(3, 5000, 1000, &tolerances, &[]),
            Err(MetricError::NoPods)
        );
    }

    #[test]
    fn per_pod_target_without_status_replicas_reports_zero_usage() {
        let calc = per_pod_replicas(0, 8600, 2150, &Tolerances::uniform(0.1));
        assert_eq!(
            (calc.replicas, calc.usage, calc.step),
            (4, 0, ReplicaStep::PerPodTarget)
        );
        let huge = per_pod_replicas(1, i64::MAX, 1, &Tolerances::uniform(0.1));
        assert_eq!(huge.replicas, i32::MAX);
    }
}
