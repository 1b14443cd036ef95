//! The pods behind a scale target, as far as the replica calculation looks at them: which
//! samples to trust (grouping), what each pod requests, and how many pods are Running and
//! Ready.
//!
//! Follows `groupPods`, `calculateRequests`/`calculatePodRequestsFromContainers` and
//! `getReadyPodsCount` in `replica_calculator.go` (Kubernetes 1.34), with one documented
//! difference: pods in phase `Succeeded` are ignored like `Failed` ones (they hold no load
//! and will not come back), as the reference requires. Pod-level requests
//! (`spec.resources`, KEP-2837) are not modelled: requests always come from containers.
//!
//! [`HpaPod`] is a flat runtime type the control loop fills from the Pod objects it lists
//! (only the fields read here); `explain` converts trimmed Pod JSON into it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tachyscale_gomath::GO_ZERO_TIME_MS;

use super::metrics::MetricError;
use super::observations::PodMetricSample;
use super::settings::{duration_ms, HpaOptions};
use crate::time::option_rfc3339_ms;

/// `v1.PodPhase`; anything unrecognised reads as `Unknown`, which counts like `Running`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    #[default]
    #[serde(other)]
    Unknown,
}

/// `v1.ConditionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[serde(other)]
    Unknown,
}

/// The pod's `Ready` condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyCondition {
    pub status: ConditionStatus,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "lastTransitionTime"
    )]
    pub last_transition_time_ms: Option<i64>,
}

/// One container's requests, milli-units by resource name (`cpu`, `memory`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRequests {
    pub name: String,
    /// For init containers: `restartPolicy: Always` (a sidecar), whose requests count.
    #[serde(default)]
    pub restart_policy_always: bool,
    #[serde(default, rename = "requests")]
    pub requests_milli: BTreeMap<String, i64>,
}

/// What the calculation reads of a Pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaPod {
    pub name: String,
    #[serde(default)]
    pub phase: PodPhase,
    /// `metadata.deletionTimestamp`: a pod being deleted is ignored.
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "deletionTimestamp"
    )]
    pub deletion_timestamp_ms: Option<i64>,
    /// `status.startTime`.
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "startTime"
    )]
    pub start_time_ms: Option<i64>,
    /// The `Ready` condition, if the pod has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadyCondition>,
    #[serde(default)]
    pub containers: Vec<ContainerRequests>,
    #[serde(default)]
    pub init_containers: Vec<ContainerRequests>,
}

impl HpaPod {
    /// `podutil.IsPodReady`: the Ready condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.ready
            .as_ref()
            .is_some_and(|ready| ready.status == ConditionStatus::True)
    }
}

/// How the pods were sorted for one metric (`groupPods`). Names are sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodGroups {
    /// Pods whose sample counts.
    pub ready: usize,
    /// Pending pods, and for `cpu` pods whose samples cannot be trusted yet; on a scale-up
    /// they count as using nothing.
    pub unready_pods: BTreeSet<String>,
    /// Pods without a sample; they count as using the target (scale-down) or nothing
    /// (scale-up).
    pub missing_pods: BTreeSet<String>,
    /// Pods being deleted, failed or succeeded; they do not count.
    pub ignored_pods: BTreeSet<String>,
}

/// Sorts `pods` into ready, unready, missing and ignored for a metric with `samples`.
/// `resource` is the resource name for Resource/ContainerResource metrics; the readiness
/// rules for samples apply only to `cpu`, whose usage spikes while a pod initialises.
pub fn group_pods(
    pods: &[HpaPod],
    samples: &BTreeMap<String, PodMetricSample>,
    resource: Option<&str>,
    options: &HpaOptions,
    now_ms: i64,
) -> PodGroups {
    let mut groups = PodGroups::default();
    let cpu_initialization_ms = duration_ms(options.cpu_initialization_period);
    let readiness_delay_ms = duration_ms(options.initial_readiness_delay);
    for pod in pods {
        if pod.deletion_timestamp_ms.is_some()
            || matches!(pod.phase, PodPhase::Failed | PodPhase::Succeeded)
        {
            groups.ignored_pods.insert(pod.name.clone());
            continue;
        }
        if pod.phase == PodPhase::Pending {
            groups.unready_pods.insert(pod.name.clone());
            continue;
        }
        let Some(sample) = samples.get(&pod.name) else {
            groups.missing_pods.insert(pod.name.clone());
            continue;
        };
        if resource == Some("cpu") {
            let unready = match (&pod.ready, pod.start_time_ms) {
                (Some(ready), Some(start_ms)) => {
                    // Without `lastTransitionTime` the condition compares as Go's zero time.
                    let transition_ms = ready.last_transition_time_ms.unwrap_or(GO_ZERO_TIME_MS);
                    let not_ready = ready.status == ConditionStatus::False;
                    if start_ms.saturating_add(cpu_initialization_ms) > now_ms {
                        // Still initialising: trust the sample only if the pod is Ready and a
                        // whole metric window was collected after it became Ready.
                        not_ready
                            || sample.timestamp_ms < transition_ms.saturating_add(sample.window_ms)
                    } else {
                        // Later: distrust only pods that never became Ready.
                        not_ready && start_ms.saturating_add(readiness_delay_ms) > transition_ms
                    }
                }
                _ => true,
            };
            if unready {
                groups.unready_pods.insert(pod.name.clone());
                continue;
            }
        }
        groups.ready += 1;
    }
    groups
}

/// Each pod's request of `resource` in milli-units: the named container's, or the sum over
/// all containers and restartable (`restartPolicy: Always`) init containers. Every pod
/// listed must have the request, ignored ones included, as upstream.
pub fn pod_requests(
    pods: &[HpaPod],
    container: Option<&str>,
    resource: &str,
) -> Result<BTreeMap<String, i64>, MetricError> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        requests.insert(pod.name.clone(), pod_request(pod, container, resource)?);
    }
    Ok(requests)
}

fn pod_request(pod: &HpaPod, container: Option<&str>, resource: &str) -> Result<i64, MetricError> {
    let sidecars = pod
        .init_containers
        .iter()
        .filter(|c| c.restart_policy_always);
    let mut request: i64 = 0;
    for candidate in pod.containers.iter().chain(sidecars) {
        let wanted = container.is_none_or(|name| name == candidate.name);
        if !wanted {
            continue;
        }
        let Some(milli) = candidate.requests_milli.get(resource) else {
            return Err(MetricError::MissingRequest {
                resource: resource.to_string(),
                container: candidate.name.clone(),
                pod: pod.name.clone(),
            });
        };
        request = request.saturating_add(*milli);
        if container.is_some() {
            // Container names are unique within a pod.
            return Ok(request);
        }
    }
    match container {
        Some(name) => Err(MetricError::ContainerNotFound {
            container: name.to_string(),
            pod: pod.name.clone(),
        }),
        None => Ok(request),
    }
}

/// `getReadyPodsCount`: pods Running with Ready `True`; an empty pod list is an error.
pub fn ready_pod_count(pods: &[HpaPod]) -> Result<i64, MetricError> {
    if pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    let ready = pods
        .iter()
        .filter(|pod| pod.phase == PodPhase::Running && pod.is_ready())
        .count();
    Ok(i64::try_from(ready).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;
    const MINUTE_MS: i64 = 60_000;

    fn running(
        name: &str,
        started_ago_ms: i64,
        ready: ConditionStatus,
        ready_ago_ms: i64,
    ) -> HpaPod {
        HpaPod {
            name: name.into(),
            phase: PodPhase::Running,
            start_time_ms: Some(NOW_MS - started_ago_ms),
            ready: Some(ReadyCondition {
                status: ready,
                last_transition_time_ms: Some(NOW_MS - ready_ago_ms),
            }),
            ..HpaPod::default()
        }
    }

    fn sample(age_ms: i64, window_ms: i64) -> PodMetricSample {
        PodMetricSample {
            value_milli: 100,
            timestamp_ms: NOW_MS - age_ms,
            window_ms,
        }
    }

    fn group(pods: &[HpaPod], samples: &[(&str, PodMetricSample)], resource: &str) -> PodGroups {
        let samples = samples
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect();
        group_pods(
            pods,
            &samples,
            Some(resource),
            &HpaOptions::default(),
            NOW_MS,
        )
    }

    #[test]
    fn deleted_failed_and_succeeded_pods_are_ignored_and_pending_ones_unready() {
        let mut deleting = running("a", 10 * MINUTE_MS, ConditionStatus::True, 9 * MINUTE_MS);
        deleting.deletion_timestamp_ms = Some(NOW_MS);
        let failed = HpaPod {
            name: "b".into(),
            phase: PodPhase::Failed,
            ..HpaPod::default()
        };
        let succeeded = HpaPod {
            name: "c".into(),
            phase: PodPhase::Succeeded,
            ..HpaPod::default()
        };
        let pending = HpaPod {
            name: "d".into(),
            phase: PodPhase::Pending,
            ..HpaPod::default()
        };
        let groups = group(
            &[deleting, failed, succeeded, pending],
            &[("a", sample(0, 30_000)), ("d", sample(0, 30_000))],
            "cpu",
        );
        assert_eq!(groups.ignored_pods.len(), 3);
        assert_eq!(groups.unready_pods.iter().collect::<Vec<_>>(), ["d"]);
        assert_eq!(groups.ready, 0);
    }

    #[test]
    fn cpu_sample_during_initialization_needs_a_full_window_after_ready() {
        // Started 2 min ago (inside the 5 min period), Ready 40 s ago, 30 s window.
        let pod = running("a", 2 * MINUTE_MS, ConditionStatus::True, 40_000);
        // Sample taken 5 s ago: 35 s after Ready ≥ 30 s window → ready.
        assert_eq!(
            group(
                std::slice::from_ref(&pod),
                &[("a", sample(5_000, 30_000))],
                "cpu"
            )
            .ready,
            1
        );
        // Sample taken 15 s ago: 25 s after Ready < 30 s window → unready.
        assert_eq!(
            group(
                std::slice::from_ref(&pod),
                &[("a", sample(15_000, 30_000))],
                "cpu"
            )
            .unready_pods
            .len(),
            1
        );
        // Exactly one window after Ready is not "before": ready.
        assert_eq!(
            group(
                std::slice::from_ref(&pod),
                &[("a", sample(10_000, 30_000))],
                "cpu"
            )
            .ready,
            1
        );
        // The same sample of a non-cpu resource is always trusted.
        assert_eq!(
            group(&[pod], &[("a", sample(15_000, 30_000))], "memory").ready,
            1
        );
    }

    #[test]
    fn cpu_pod_not_ready_during_initialization_is_unready() {
        let pod = running("a", 2 * MINUTE_MS, ConditionStatus::False, 110_000);
        assert_eq!(
            group(&[pod], &[("a", sample(0, 30_000))], "cpu")
                .unready_pods
                .len(),
            1
        );
    }

    #[test]
    fn cpu_pod_after_initialization_is_unready_only_if_it_never_became_ready() {
        // Started 10 min ago, turned not-ready 5 min ago: it was ready before → counts.
        let was_ready = running("a", 10 * MINUTE_MS, ConditionStatus::False, 5 * MINUTE_MS);
        assert_eq!(
            group(&[was_ready], &[("a", sample(0, 30_000))], "cpu").ready,
            1
        );
        // Not ready since 10 s after start (within the 30 s delay): never ready → unready.
        let never = running(
            "b",
            10 * MINUTE_MS,
            ConditionStatus::False,
            10 * MINUTE_MS - 10_000,
        );
        assert_eq!(
            group(&[never], &[("b", sample(0, 30_000))], "cpu")
                .unready_pods
                .len(),
            1
        );
        // Transition exactly at start + delay: "after" is strict, so it counts as ready.
        let edge = running(
            "c",
            10 * MINUTE_MS,
            ConditionStatus::False,
            10 * MINUTE_MS - 30_000,
        );
        assert_eq!(group(&[edge], &[("c", sample(0, 30_000))], "cpu").ready, 1);
        // Unknown status is not False.
        let unknown = running(
            "d",
            10 * MINUTE_MS,
            ConditionStatus::Unknown,
            10 * MINUTE_MS,
        );
        assert_eq!(
            group(&[unknown], &[("d", sample(0, 30_000))], "cpu").ready,
            1
        );
    }

    #[test]
    fn cpu_pod_without_ready_condition_or_start_time_is_unready() {
        let mut no_condition = running("a", 10 * MINUTE_MS, ConditionStatus::True, 9 * MINUTE_MS);
        no_condition.ready = None;
        let mut no_start = running("b", 10 * MINUTE_MS, ConditionStatus::True, 9 * MINUTE_MS);
        no_start.start_time_ms = None;
        let groups = group(
            &[no_condition, no_start],
            &[("a", sample(0, 1)), ("b", sample(0, 1))],
            "cpu",
        );
        assert_eq!(groups.unready_pods.len(), 2);
    }

    #[test]
    fn pod_without_sample_is_missing() {
        let pod = running("a", 10 * MINUTE_MS, ConditionStatus::True, 9 * MINUTE_MS);
        assert_eq!(group(&[pod], &[], "cpu").missing_pods.len(), 1);
    }

    fn with_containers(containers: Vec<ContainerRequests>, init: Vec<ContainerRequests>) -> HpaPod {
        HpaPod {
            name: "p".into(),
            containers,
            init_containers: init,
            ..HpaPod::default()
        }
    }

    fn container(name: &str, cpu: Option<i64>, always: bool) -> ContainerRequests {
        ContainerRequests {
            name: name.into(),
            restart_policy_always: always,
            requests_milli: cpu
                .map(|cpu| ("cpu".to_string(), cpu))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn requests_sum_containers_and_sidecar_init_containers() {
        let pod = with_containers(
            vec![
                container("app", Some(500), false),
                container("proxy", Some(100), false),
            ],
            vec![
                container("migrate", None, false),
                container("log-shipper", Some(50), true),
            ],
        );
        assert_eq!(
            pod_requests(std::slice::from_ref(&pod), None, "cpu").unwrap()["p"],
            650
        );
        assert_eq!(
            pod_requests(std::slice::from_ref(&pod), Some("proxy"), "cpu").unwrap()["p"],
            100
        );
        assert_eq!(
            pod_requests(std::slice::from_ref(&pod), Some("log-shipper"), "cpu").unwrap()["p"],
            50
        );
        let err = pod_requests(&[pod], Some("nope"), "cpu").unwrap_err();
        assert_eq!(err.to_string(), "container nope not found in Pod p");
    }

    #[test]
    fn missing_request_is_an_error_naming_container_and_pod() {
        let pod = with_containers(
            vec![
                container("app", Some(500), false),
                container("proxy", None, false),
            ],
            vec![],
        );
        let err = pod_requests(std::slice::from_ref(&pod), None, "cpu").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing request for cpu in container proxy of Pod p"
        );
        // The named container has its request, so the other one does not matter.
        assert_eq!(pod_requests(&[pod], Some("app"), "cpu").unwrap()["p"], 500);
    }

    #[test]
    fn ready_count_needs_running_and_ready() {
        let ready = running("a", MINUTE_MS, ConditionStatus::True, MINUTE_MS);
        let not_ready = running("b", MINUTE_MS, ConditionStatus::False, MINUTE_MS);
        let mut pending = running("c", MINUTE_MS, ConditionStatus::True, MINUTE_MS);
        pending.phase = PodPhase::Pending;
        assert_eq!(ready_pod_count(&[ready, not_ready, pending]), Ok(1));
        assert_eq!(ready_pod_count(&[]), Err(MetricError::NoPods));
    }
}
