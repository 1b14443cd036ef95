//! Metric observations in, one replica proposal per metric out, and the rule that combines
//! several metrics — including the fail-safe for metrics that could not be read.
//!
//! Follows `computeReplicasForMetrics`, `computeReplicasForMetric` and the
//! `computeStatusFor*Metric` functions of `horizontal.go` (Kubernetes 1.34):
//! - the highest valid proposal wins;
//! - if every metric is invalid, or some are and the highest valid proposal is below the
//!   current replicas, nothing is scaled (the first failure becomes the `ScalingActive`
//!   condition). A scale-up still happens when some metric is invalid;
//! - which target field is read: Resource/ContainerResource `averageValue` before
//!   `averageUtilization`; Object by `target.type`; External `averageValue` before `value`;
//!   Object/External per-pod targets divide by the status replicas, everything else uses the
//!   spec replicas.
//!
//! Fetching is the caller's job: it passes one [`MetricObservation`] per metric of
//! [`HpaSettings::metrics`](super::HpaSettings::metrics), in order. A failed or stale fetch
//! is [`MetricObservation::Failed`]; a missing or mismatched observation is treated the same
//! way, so a broken source can only ever hold replicas where they are or let another metric
//! scale up.

use serde::{Deserialize, Serialize};

use super::observations::MetricObservation;
use super::pods::HpaPod;
use super::reconcile::HpaObservation;
use super::replicas::{self, Calculation};
use super::settings::HpaSettings;
use super::spec::{MetricSourceType, MetricSpec, MetricTargetType};

/// Why one metric gave no proposal. Messages follow upstream's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    #[error("unable to get metric: {message}")]
    FetchFailed { message: String },
    #[error("no observation was supplied for this metric")]
    NoObservation,
    #[error("an observation of kind {got} cannot feed a {expected} metric")]
    ObservationMismatch {
        expected: &'static str,
        got: &'static str,
    },
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetricsForTargetedPods,
    #[error("no metrics returned matched known pods")]
    NoMetricsMatchedKnownPods,
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest {
        resource: String,
        container: String,
        pod: String,
    },
    #[error("container {container} not found in Pod {pod}")]
    ContainerNotFound { container: String, pod: String },
    #[error("invalid {source_type} metric source: {detail}")]
    InvalidSource {
        source_type: &'static str,
        detail: &'static str,
    },
}

impl MetricError {
    /// A bounded label for `*_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            MetricError::FetchFailed { .. } => "fetch_failed",
            MetricError::NoObservation => "no_observation",
            MetricError::ObservationMismatch { .. } => "observation_mismatch",
            MetricError::NoPods => "no_pods",
            MetricError::NoMetricsForTargetedPods => "no_metrics_for_targeted_pods",
            MetricError::NoMetricsMatchedKnownPods => "no_metrics_matched_known_pods",
            MetricError::MissingRequest { .. } => "missing_request",
            MetricError::ContainerNotFound { .. } => "container_not_found",
            MetricError::InvalidSource { .. } => "invalid_source",
        }
    }
}

/// An invalid metric as reported in a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricFailure {
    /// The `ScalingActive=False` condition reason upstream sets (`FailedGetResourceMetric`…).
    pub condition_reason: String,
    /// [`MetricError::reason`].
    pub error: String,
    /// Upstream-style message, e.g. `failed to get cpu resource metric value: …`.
    pub message: String,
}

/// One metric's outcome: a replica count with how it was reached, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricProposal {
    pub index: usize,
    #[serde(rename = "type")]
    pub source_type: MetricSourceType,
    /// As upstream names it (`cpu resource utilization (percentage of request)`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<Calculation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<MetricFailure>,
}

/// The combination of all proposals (`computeReplicasForMetrics`).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsOutcome {
    /// One per metric of the settings, in order.
    pub proposals: Vec<MetricProposal>,
    /// Highest valid proposal (upstream's `replicas`, 0 when none).
    pub replicas: i32,
    /// Name of the metric that gave it.
    pub metric_name: String,
    pub invalid_count: usize,
    pub first_failure: Option<MetricFailure>,
    /// All metrics invalid, or some invalid and `replicas` below the spec replicas: the sync
    /// must not scale.
    pub blocked: bool,
}

/// The inputs every metric calculation shares.
struct MetricContext<'a> {
    settings: &'a HpaSettings,
    spec_replicas: i32,
    status_replicas: i32,
    pods: &'a [HpaPod],
    now_ms: i64,
}

/// Every metric's proposal and their combination, without stabilization or limits (what
/// [`super::reconcile()`] builds on; useful alone to show what each metric asks for).
pub fn compute_replicas_for_metrics(
    settings: &HpaSettings,
    observation: &HpaObservation<'_>,
) -> MetricsOutcome {
    let context = MetricContext {
        settings,
        spec_replicas: observation.scale.spec_replicas,
        status_replicas: observation.scale.status_replicas,
        pods: observation.pods,
        now_ms: observation.now_ms,
    };
    let observations = observation.metrics;
    let metrics = &context.settings.metrics;
    let mut outcome = MetricsOutcome {
        proposals: Vec::with_capacity(metrics.len()),
        replicas: 0,
        metric_name: String::new(),
        invalid_count: 0,
        first_failure: None,
        blocked: false,
    };
    for (index, metric) in metrics.iter().enumerate() {
        let name = metric.describe();
        let result = match observations.get(index) {
            Some(observation) => compute_replicas_for_metric(&context, metric, observation),
            None => Err(MetricError::NoObservation),
        };
        let mut proposal = MetricProposal {
            index,
            source_type: metric.source_type,
            name: name.clone(),
            replicas: None,
            calculation: None,
            failure: None,
        };
        match result {
            Ok(calculation) => {
                let replicas = calculation.replicas;
                // Upstream's exact rule: the first proposal, or any larger one, wins.
                if outcome.replicas == 0 || replicas > outcome.replicas {
                    outcome.replicas = replicas;
                    outcome.metric_name = name;
                }
                proposal.replicas = Some(replicas);
                proposal.calculation = Some(calculation);
            }
            Err(error) => {
                let failure = failure_of(metric, &error);
                if outcome.first_failure.is_none() {
                    outcome.first_failure = Some(failure.clone());
                }
                outcome.invalid_count += 1;
                proposal.failure = Some(failure);
            }
        }
        outcome.proposals.push(proposal);
    }
    outcome.blocked = outcome.invalid_count >= metrics.len()
        || (outcome.invalid_count > 0 && outcome.replicas < context.spec_replicas);
    outcome
}

fn failure_of(metric: &MetricSpec, error: &MetricError) -> MetricFailure {
    let prefix = match metric.source_type {
        MetricSourceType::Resource => {
            let name = metric.resource.as_ref().map_or("", |s| s.name.as_str());
            format!("failed to get {name} resource metric value")
        }
        MetricSourceType::ContainerResource => {
            let container = metric
                .container_resource
                .as_ref()
                .map_or("", |s| s.container.as_str());
            format!("failed to get {container} container metric value")
        }
        MetricSourceType::Pods => "failed to get pods metric value".to_string(),
        MetricSourceType::Object => "failed to get object metric value".to_string(),
        MetricSourceType::External => {
            let name = metric
                .external
                .as_ref()
                .map_or("", |s| s.metric.name.as_str());
            format!("failed to get {name} external metric value")
        }
    };
    MetricFailure {
        condition_reason: metric.source_type.failure_reason().to_string(),
        error: error.reason().to_string(),
        message: format!("{prefix}: {error}"),
    }
}

fn observation_kind(observation: &MetricObservation) -> &'static str {
    match observation {
        MetricObservation::PerPod(_) => "perPod",
        MetricObservation::Object(_) => "object",
        MetricObservation::External(_) => "external",
        MetricObservation::Failed(_) => "error",
    }
}

fn compute_replicas_for_metric(
    context: &MetricContext<'_>,
    metric: &MetricSpec,
    observation: &MetricObservation,
) -> Result<Calculation, MetricError> {
    if let MetricObservation::Failed(message) = observation {
        return Err(MetricError::FetchFailed {
            message: message.clone(),
        });
    }
    let mismatch = |expected: &'static str| MetricError::ObservationMismatch {
        expected,
        got: observation_kind(observation),
    };
    let tolerances = &context.settings.tolerances;
    let invalid = |source_type: &'static str| MetricError::InvalidSource {
        source_type,
        detail: "neither a value target nor an average value target was set",
    };
    match metric.source_type {
        MetricSourceType::Resource | MetricSourceType::ContainerResource => {
            let (resource, container, target) = match (&metric.resource, &metric.container_resource)
            {
                (Some(s), _) if metric.source_type == MetricSourceType::Resource => {
                    (s.name.as_str(), None, &s.target)
                }
                (_, Some(s)) if metric.source_type == MetricSourceType::ContainerResource => {
                    (s.name.as_str(), Some(s.container.as_str()), &s.target)
                }
                _ => return Err(invalid("resource")),
            };
            let MetricObservation::PerPod(samples) = observation else {
                return Err(mismatch("resource"));
            };
            let input = replicas::PodMetricInput {
                current_replicas: context.spec_replicas,
                samples: &samples.samples,
                pods: context.pods,
                resource: Some(resource),
                tolerances,
                options: &context.settings.options,
                now_ms: context.now_ms,
            };
            if let Some(target_milli) = target.average_value_milli {
                replicas::plain_metric_replicas(&input, target_milli)
            } else if let Some(target_percent) = target.average_utilization {
                replicas::utilization_replicas(&input, target_percent, container)
            } else {
                Err(MetricError::InvalidSource {
                    source_type: "resource",
                    detail: "neither an average utilization target nor an average value (usage) target was set",
                })
            }
        }
        MetricSourceType::Pods => {
            let target = metric
                .pods
                .as_ref()
                .and_then(|s| s.target.average_value_milli)
                .ok_or_else(|| invalid("pods"))?;
            let MetricObservation::PerPod(samples) = observation else {
                return Err(mismatch("pods"));
            };
            let input = replicas::PodMetricInput {
                current_replicas: context.spec_replicas,
                samples: &samples.samples,
                pods: context.pods,
                resource: None,
                tolerances,
                options: &context.settings.options,
                now_ms: context.now_ms,
            };
            replicas::plain_metric_replicas(&input, target)
        }
        MetricSourceType::Object => {
            let target = &metric
                .object
                .as_ref()
                .ok_or_else(|| invalid("object"))?
                .target;
            let MetricObservation::Object(object) = observation else {
                return Err(mismatch("object"));
            };
            match (
                target.target_type,
                target.value_milli,
                target.average_value_milli,
            ) {
                (MetricTargetType::Value, Some(target_milli), _) => replicas::value_replicas(
                    context.spec_replicas,
                    object.value_milli,
                    target_milli,
                    tolerances,
                    context.pods,
                ),
                (MetricTargetType::AverageValue, _, Some(target_milli)) => {
                    Ok(replicas::per_pod_replicas(
                        context.status_replicas,
                        object.value_milli,
                        target_milli,
                        tolerances,
                    ))
                }
                _ => Err(invalid("object")),
            }
        }
        MetricSourceType::External => {
            let target = &metric
                .external
                .as_ref()
                .ok_or_else(|| invalid("external"))?
                .target;
            let MetricObservation::External(external) = observation else {
                return Err(mismatch("external"));
            };
            let usage_milli = external
                .values_milli
                .iter()
                .fold(0i64, |sum, value| sum.saturating_add(*value));
            if let Some(target_milli) = target.average_value_milli {
                Ok(replicas::per_pod_replicas(
                    context.status_replicas,
                    usage_milli,
                    target_milli,
                    tolerances,
                ))
            } else if let Some(target_milli) = target.value_milli {
                replicas::value_replicas(
                    context.spec_replicas,
                    usage_milli,
                    target_milli,
                    tolerances,
                    context.pods,
                )
            } else {
                Err(invalid("external"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_the_upstream_condition_reason_and_message() {
        let metric = MetricSpec::resource("cpu", crate::hpa::spec::MetricTarget::utilization(50));
        let failure = failure_of(&metric, &MetricError::NoMetricsForTargetedPods);
        assert_eq!(failure.condition_reason, "FailedGetResourceMetric");
        assert_eq!(failure.error, "no_metrics_for_targeted_pods");
        assert_eq!(
            failure.message,
            "failed to get cpu resource metric value: did not receive metrics for targeted pods (pods might be unready)"
        );
        assert_eq!(MetricError::NoObservation.reason(), "no_observation");
    }
}
