//! What one VPA's containers are recommended, from their aggregates and the VPA spec.
//!
//! Follows `routines/recommender.go` (`UpdateVPAs`, `GetContainerNameToAggregateStateMap`),
//! `logic/recommender.go` (`GetRecommendedPodResources`) and
//! `pkg/utils/vpa/capping.go` (`ApplyVPAPolicy`) of VPA 1.7:
//!
//! - a container is left out when its policy mode is `Off` or it never had a CPU sample,
//!   and (deviation: upstream's hourly garbage collection does this a little later) when
//!   its aggregate has expired;
//! - the pod minimum is divided among the N containers that remain;
//! - each bound is filtered to `controlledResources`, the target is kept as
//!   `uncappedTarget`, then target, lower and upper bound are capped to
//!   `minAllowed`/`maxAllowed`;
//! - a VPA whose `recommenders` names another recommender gets nothing.
//!
//! It is separate from [`super::recommender`] so that `explain` and the control loop share
//! it, and it works on any iterator of (name, aggregate) so it does not care how they are
//! stored. Nothing here allocates unless a policy caps a value.

use super::container::AggregateContainerState;
use super::estimator::{estimate_container, pod_minimum, Bound, ContainerEstimate};
use super::policy::{Capping, ContainerPolicy, VpaSpec};
use super::recommender::RecommenderConfig;
use super::resources::{RecommendedContainerResources, ResourceList, ResourceName};

/// A container's recommendation, amounts in millicores and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerRecommendation {
    /// Recommended requests.
    pub target: ResourceList,
    /// Lowest reasonable requests.
    pub lower_bound: ResourceList,
    /// Highest reasonable requests.
    pub upper_bound: ResourceList,
    /// Target before `minAllowed`/`maxAllowed`.
    pub uncapped_target: ResourceList,
}

impl ContainerRecommendation {
    /// The API shape.
    pub fn to_api(&self, container_name: &str) -> RecommendedContainerResources {
        RecommendedContainerResources {
            container_name: container_name.to_owned(),
            target: self.target,
            lower_bound: self.lower_bound,
            upper_bound: self.upper_bound,
            uncapped_target: self.uncapped_target,
        }
    }
}

/// Why a container of a VPA gets no recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Its policy's mode is `Off`.
    ModeOff,
    /// No CPU sample yet.
    NoCpuSamples,
    /// No CPU sample for the expiry period.
    Expired,
}

impl SkipReason {
    /// Human-readable reason.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ModeOff => "container policy mode is Off",
            SkipReason::NoCpuSamples => "no CPU samples yet",
            SkipReason::Expired => "no CPU samples for the expiry period (8 intervals)",
        }
    }
}

/// One container's result in [`Recommender::evaluate`].
#[derive(Clone, Copy, Debug)]
pub struct ContainerEvaluation<'a> {
    /// Container name.
    pub container: &'a str,
    /// Its aggregate.
    pub aggregate: &'a AggregateContainerState,
    /// Its policy, if any.
    pub policy: Option<&'a ContainerPolicy>,
    /// The outcome.
    pub outcome: EvaluationOutcome<'a>,
}

/// Recommended or skipped.
#[derive(Clone, Copy, Debug)]
pub enum EvaluationOutcome<'a> {
    /// No recommendation.
    Skipped(SkipReason),
    /// The estimate, the final recommendation and what the policy changed.
    Recommended {
        /// Estimator output with every step.
        estimate: &'a ContainerEstimate,
        /// After controlled resources and capping.
        recommendation: &'a ContainerRecommendation,
        /// Values the policy moved.
        cappings: &'a [Capping],
    },
}

/// VPA-wide values of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VpaEvaluation {
    /// N: containers that get a recommendation.
    pub recommended_containers: usize,
    /// The pod minimum divided by N.
    pub pod_minimum: ResourceList,
}

/// Filters to the controlled resources, keeps the uncapped target, caps all three.
pub fn recommend_container(
    estimate: &ContainerEstimate,
    policy: Option<&ContainerPolicy>,
    cappings: &mut Vec<Capping>,
) -> ContainerRecommendation {
    let mut bounds = Bound::ALL.map(|bound| {
        let mut list = estimate.bound(bound);
        for resource in ResourceName::ALL {
            if policy.is_some_and(|policy| !policy.controls(resource)) {
                list.set(resource, None);
            }
        }
        list
    });
    let uncapped_target = bounds[0];
    if let Some(policy) = policy {
        for (bound, list) in Bound::ALL.iter().zip(bounds.iter_mut()) {
            policy.cap(*bound, list, cappings);
        }
    }
    let [target, lower_bound, upper_bound] = bounds;
    ContainerRecommendation {
        target,
        lower_bound,
        upper_bound,
        uncapped_target,
    }
}

fn skip_reason(
    spec: &VpaSpec,
    name: &str,
    aggregate: &AggregateContainerState,
    config: &RecommenderConfig,
    now_ms: i64,
) -> Option<SkipReason> {
    if !spec.recommends(name) {
        Some(SkipReason::ModeOff)
    } else if aggregate.total_samples_count() == 0 {
        Some(SkipReason::NoCpuSamples)
    } else if aggregate.is_expired(now_ms, &config.aggregation) {
        Some(SkipReason::Expired)
    } else {
        None
    }
}

/// Evaluates the containers of one VPA in the order given, calling `f` for each;
/// `None` when the VPA belongs to another recommender. `cappings` is scratch space.
pub fn evaluate_containers<'a, I>(
    spec: &'a VpaSpec,
    containers: I,
    config: &RecommenderConfig,
    now_ms: i64,
    cappings: &mut Vec<Capping>,
    mut f: impl FnMut(ContainerEvaluation<'_>),
) -> Option<VpaEvaluation>
where
    I: Iterator<Item = (&'a str, &'a AggregateContainerState)> + Clone,
{
    if !spec.handled_by(&config.recommender_name) {
        return None;
    }
    let recommended_containers = containers
        .clone()
        .filter(|(name, aggregate)| skip_reason(spec, name, aggregate, config, now_ms).is_none())
        .count();
    let minimum = pod_minimum(&config.estimator, recommended_containers);
    for (name, aggregate) in containers {
        let policy = spec.container_policy(name);
        let evaluation = |outcome| ContainerEvaluation {
            container: name,
            aggregate,
            policy,
            outcome,
        };
        match skip_reason(spec, name, aggregate, config, now_ms) {
            Some(reason) => f(evaluation(EvaluationOutcome::Skipped(reason))),
            None => {
                cappings.clear();
                let estimate = estimate_container(aggregate, &config.estimator, &minimum);
                let recommendation = recommend_container(&estimate, policy, cappings);
                f(evaluation(EvaluationOutcome::Recommended {
                    estimate: &estimate,
                    recommendation: &recommendation,
                    cappings: cappings.as_slice(),
                }));
            }
        }
    }
    Some(VpaEvaluation {
        recommended_containers,
        pod_minimum: minimum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpa::container::AggregationConfig;
    use crate::vpa::estimator::EstimatorConfig;

    const T_MS: i64 = 1_700_000_000_000;

    fn estimate() -> ContainerEstimate {
        let mut aggregate = AggregateContainerState::new(&AggregationConfig::default(), T_MS);
        aggregate.add_cpu_sample(T_MS, 300, 0);
        let minimum = pod_minimum(&EstimatorConfig::default(), 1);
        estimate_container(&aggregate, &EstimatorConfig::default(), &minimum)
    }

    fn policy(json: &str) -> ContainerPolicy {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn without_a_policy_the_estimate_is_the_recommendation() {
        let estimate = estimate();
        let mut cappings = Vec::new();
        let result = recommend_container(&estimate, None, &mut cappings);
        assert_eq!(result.target, estimate.bound(Bound::Target));
        assert_eq!(result.uncapped_target, result.target);
        assert!(cappings.is_empty());
    }

    #[test]
    fn uncapped_target_is_filtered_but_not_capped() {
        let estimate = estimate();
        let mut cappings = Vec::new();
        let policy = policy(
            r#"{"containerName":"app","controlledResources":["memory"],"minAllowed":{"memory":"1Gi"}}"#,
        );
        let result = recommend_container(&estimate, Some(&policy), &mut cappings);
        assert_eq!(result.uncapped_target.cpu_millicores, None);
        assert_eq!(result.uncapped_target.memory_bytes, Some(262_144_000));
        assert_eq!(result.target.memory_bytes, Some(1 << 30));
        assert_eq!(result.lower_bound.memory_bytes, Some(1 << 30));
        assert_eq!(cappings.len(), 3);
    }

    #[test]
    fn mode_off_and_empty_containers_are_skipped_and_not_counted() {
        let config = RecommenderConfig::default();
        let spec: VpaSpec = serde_json::from_str(
            r#"{"resourcePolicy":{"containerPolicies":[{"containerName":"off","mode":"Off"}]}}"#,
        )
        .unwrap();
        let mut sampled = AggregateContainerState::new(&config.aggregation, T_MS);
        sampled.add_cpu_sample(T_MS, 300, 0);
        let empty = AggregateContainerState::new(&config.aggregation, T_MS);
        let containers = [("app", &sampled), ("new", &empty), ("off", &sampled)];
        let mut outcomes = Vec::new();
        let evaluation = evaluate_containers(
            &spec,
            containers.into_iter(),
            &config,
            T_MS,
            &mut Vec::new(),
            |e| {
                outcomes.push(match e.outcome {
                    EvaluationOutcome::Skipped(reason) => Some(reason),
                    EvaluationOutcome::Recommended { .. } => None,
                })
            },
        )
        .unwrap();
        assert_eq!(evaluation.recommended_containers, 1);
        assert_eq!(
            outcomes,
            [
                None,
                Some(SkipReason::NoCpuSamples),
                Some(SkipReason::ModeOff)
            ]
        );
    }
}
