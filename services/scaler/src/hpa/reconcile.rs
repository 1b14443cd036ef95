//! One sync of one HPA: the decision whether to set the scale, to what, and why.
//!
//! Follows `reconcileAutoscaler` and `normalizeDesiredReplicas{,WithBehaviors}` in
//! `horizontal.go` (Kubernetes 1.34), in its order:
//! 1. the first time an HPA is seen its current replicas become a recommendation;
//! 2. current replicas 0 with `minReplicas` > 0: scaling is disabled; above `maxReplicas`:
//!    go to the maximum; below `minReplicas`: go to the minimum (no metrics are computed);
//! 3. otherwise compute every metric ([`super::metrics`]); if that is blocked by invalid
//!    metrics, change nothing;
//! 4. stabilize ([`super::stabilization`]) and limit ([`super::limits`]): the classic path without `behavior`, the
//!    policy path with it.
//!
//! What upstream does with I/O stays with the caller: fetching metrics and pods, updating the
//! scale subresource, then calling [`record_rescale`], and writing status and events. The
//! [`ScaleDecision`] carries what the conditions and events would say.

use serde::{Deserialize, Serialize};

use super::limits::{
    convert_desired_replicas_with_behavior_rate, convert_desired_replicas_with_rules, LimitReason,
    RateLimits,
};
use super::metrics::{compute_replicas_for_metrics, MetricProposal};
use super::observations::MetricObservation;
use super::pods::{ConditionStatus, HpaPod};
use super::settings::{duration_ms, HpaSettings};
use super::stabilization::{stabilize_recommendation, stabilize_with_behavior, Stabilization};
use super::state::{store_scale_event, HpaState};

/// The scale subresource of the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSnapshot {
    /// `spec.replicas`: what the controller compares against and changes.
    pub spec_replicas: i32,
    /// `status.replicas`: what per-pod Object/External targets divide by.
    pub status_replicas: i32,
}

/// Everything one sync observes.
#[derive(Clone, Copy, Debug)]
pub struct HpaObservation<'a> {
    pub scale: ScaleSnapshot,
    /// The pods the target's selector selects.
    pub pods: &'a [HpaPod],
    /// One observation per entry of [`HpaSettings::metrics`], in order.
    pub metrics: &'a [MetricObservation],
    pub now_ms: i64,
}

/// Why the decision is what it is (a bounded set, usable as a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionReason {
    /// The target has 0 replicas and `minReplicas` > 0: the HPA does nothing.
    ScalingDisabled,
    /// Current replicas above `maxReplicas`: set to the maximum.
    AboveMaxReplicas,
    /// Current replicas below `minReplicas`: set to the minimum.
    BelowMinReplicas,
    /// All metrics invalid, or some invalid while the rest would scale down: no change.
    InvalidMetrics,
    /// The (stabilized) recommendation was applied as is.
    DesiredWithinRange,
    /// Capped by the scale-up rate.
    ScaleUpLimit,
    /// Capped by `maxReplicas`.
    TooManyReplicas,
    /// Held by the scale-down rate.
    ScaleDownLimit,
    /// Raised to `minReplicas`.
    TooFewReplicas,
}

impl DecisionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionReason::ScalingDisabled => "ScalingDisabled",
            DecisionReason::AboveMaxReplicas => "AboveMaxReplicas",
            DecisionReason::BelowMinReplicas => "BelowMinReplicas",
            DecisionReason::InvalidMetrics => "InvalidMetrics",
            DecisionReason::DesiredWithinRange => "DesiredWithinRange",
            DecisionReason::ScaleUpLimit => "ScaleUpLimit",
            DecisionReason::TooManyReplicas => "TooManyReplicas",
            DecisionReason::ScaleDownLimit => "ScaleDownLimit",
            DecisionReason::TooFewReplicas => "TooFewReplicas",
        }
    }
}

/// `HorizontalPodAutoscalerConditionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionType {
    AbleToScale,
    ScalingActive,
    ScalingLimited,
}

/// A status condition this sync would set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaCondition {
    #[serde(rename = "type")]
    pub condition_type: ConditionType,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

impl HpaCondition {
    fn new(
        condition_type: ConditionType,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> HpaCondition {
        HpaCondition {
            condition_type,
            status: if status {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The outcome of one sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleDecision {
    pub current_replicas: i32,
    pub status_replicas: i32,
    /// What the scale should be; equals `current_replicas` when `rescale` is false.
    pub desired_replicas: i32,
    /// Whether to update the scale subresource (then call [`record_rescale`]).
    pub rescale: bool,
    pub reason: DecisionReason,
    /// Human explanation of `reason`.
    pub message: String,
    /// Upstream's `SuccessfulRescale` reason (`cpu resource utilization (percentage of
    /// request) above target`, `All metrics below target`, …) when rescaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescale_reason: Option<String>,
    /// The highest valid metric proposal and the metric that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Every metric's proposal or failure, in spec order (empty when no metric was computed).
    #[serde(default)]
    pub metrics: Vec<MetricProposal>,
    pub invalid_metrics: usize,
    /// `invalid metrics (n invalid out of m), first error is: …` when any metric is invalid,
    /// also when the decision went ahead on the valid ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization: Option<Stabilization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RateLimits>,
    pub conditions: Vec<HpaCondition>,
}

/// Runs one sync: updates `state` (recommendation history) and returns the decision.
pub fn reconcile(
    settings: &HpaSettings,
    state: &mut HpaState,
    observation: &HpaObservation<'_>,
) -> ScaleDecision {
    let current = observation.scale.spec_replicas;
    let now_ms = observation.now_ms;
    state.record_initial(current, now_ms);
    let mut decision = ScaleDecision {
        current_replicas: current,
        status_replicas: observation.scale.status_replicas,
        desired_replicas: current,
        rescale: false,
        reason: DecisionReason::DesiredWithinRange,
        message: String::new(),
        rescale_reason: None,
        metric_replicas: None,
        metric_name: None,
        metrics: Vec::new(),
        invalid_metrics: 0,
        metric_error: None,
        stabilization: None,
        limits: None,
        conditions: Vec::new(),
    };

    if current == 0 && settings.min_replicas != 0 {
        let message = "scaling is disabled since the replica count of the target is zero";
        decision.reason = DecisionReason::ScalingDisabled;
        decision.message = message.into();
        decision.conditions.push(HpaCondition::new(
            ConditionType::ScalingActive,
            false,
            "ScalingDisabled",
            message,
        ));
        return decision;
    }
    if current > settings.max_replicas || current < settings.min_replicas {
        let (target, reason, text) = if current > settings.max_replicas {
            (
                settings.max_replicas,
                DecisionReason::AboveMaxReplicas,
                "Current number of replicas above Spec.MaxReplicas",
            )
        } else {
            (
                settings.min_replicas,
                DecisionReason::BelowMinReplicas,
                "Current number of replicas below Spec.MinReplicas",
            )
        };
        decision.desired_replicas = target;
        decision.rescale = true;
        decision.reason = reason;
        decision.message = text.into();
        decision.rescale_reason = Some(text.into());
        return decision;
    }

    let outcome = compute_replicas_for_metrics(settings, observation);
    decision.metrics = outcome.proposals;
    decision.invalid_metrics = outcome.invalid_count;
    if let Some(failure) = &outcome.first_failure {
        decision.metric_error = Some(format!(
            "invalid metrics ({} invalid out of {}), first error is: {}",
            outcome.invalid_count,
            settings.metrics.len(),
            failure.message
        ));
    }
    if outcome.blocked {
        let (reason, message) = match &outcome.first_failure {
            Some(failure) => (failure.condition_reason.clone(), failure.message.clone()),
            None => (
                "FailedGetMetrics".to_string(),
                "no metric could be computed".to_string(),
            ),
        };
        decision.reason = DecisionReason::InvalidMetrics;
        decision.message = format!(
            "not scaling: {}",
            decision
                .metric_error
                .clone()
                .unwrap_or_else(|| message.clone())
        );
        decision.conditions.push(HpaCondition::new(
            ConditionType::ScalingActive,
            false,
            &reason,
            format!("the HPA was unable to compute the replica count: {message}"),
        ));
        return decision;
    }
    decision.conditions.push(HpaCondition::new(
        ConditionType::ScalingActive,
        true,
        "ValidMetricFound",
        format!(
            "the HPA was able to successfully calculate a replica count from {}",
            outcome.metric_name
        ),
    ));
    decision.metric_replicas = Some(outcome.replicas);
    decision.metric_name = Some(outcome.metric_name.clone());

    let desired = outcome.replicas.max(0);
    let rescale_reason = if desired > current {
        Some(format!("{} above target", outcome.metric_name))
    } else if desired < current {
        Some("All metrics below target".to_string())
    } else {
        None
    };
    let (stabilization, limits) = match &settings.behavior {
        None => {
            let window_ms = duration_ms(settings.options.downscale_stabilization);
            let stabilization = stabilize_recommendation(state, desired, window_ms, now_ms);
            let limits = convert_desired_replicas_with_rules(
                current,
                stabilization.stabilized,
                settings.min_replicas,
                settings.max_replicas,
            );
            (stabilization, limits)
        }
        Some(behavior) => {
            let stabilization = stabilize_with_behavior(state, behavior, current, desired, now_ms);
            let limits = convert_desired_replicas_with_behavior_rate(
                state,
                behavior,
                current,
                stabilization.stabilized,
                settings.min_replicas,
                settings.max_replicas,
                now_ms,
            );
            (stabilization, limits)
        }
    };
    decision.conditions.push(HpaCondition::new(
        ConditionType::AbleToScale,
        true,
        &stabilization.reason,
        stabilization.message.clone(),
    ));
    decision.conditions.push(HpaCondition::new(
        ConditionType::ScalingLimited,
        limits.replicas != stabilization.stabilized,
        limits.reason.as_str(),
        limits.message.clone(),
    ));
    decision.desired_replicas = limits.replicas;
    decision.rescale = limits.replicas != current;
    decision.reason = limit_reason(limits.reason);
    decision.message = if stabilization.stabilized == stabilization.recommendation {
        limits.message.clone()
    } else {
        format!("{}; {}", stabilization.message, limits.message)
    };
    if decision.rescale {
        decision.rescale_reason = rescale_reason;
    }
    decision.stabilization = Some(stabilization);
    decision.limits = Some(limits);
    decision
}

fn limit_reason(reason: LimitReason) -> DecisionReason {
    match reason {
        LimitReason::DesiredWithinRange => DecisionReason::DesiredWithinRange,
        LimitReason::ScaleUpLimit => DecisionReason::ScaleUpLimit,
        LimitReason::TooManyReplicas => DecisionReason::TooManyReplicas,
        LimitReason::ScaleDownLimit => DecisionReason::ScaleDownLimit,
        LimitReason::TooFewReplicas => DecisionReason::TooFewReplicas,
    }
}

/// Call after the scale update for a decision with `rescale` succeeded
/// (`storeScaleEvent`): remembers `|new − previous|` for the behavior rate limits. Does
/// nothing for HPAs without `behavior`, whose limits do not look at past events.
pub fn record_rescale(
    settings: &HpaSettings,
    state: &mut HpaState,
    previous_replicas: i32,
    new_replicas: i32,
    now_ms: i64,
) {
    if let Some(behavior) = &settings.behavior {
        store_scale_event(state, behavior, previous_replicas, new_replicas, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::observations::ExternalObservation;
    use crate::hpa::settings::HpaOptions;
    use crate::hpa::spec::{HpaSpec, MetricSpec, MetricTarget};

    const NOW_MS: i64 = 1_800_000_000_000;

    fn settings(min: i32, max: i32) -> HpaSettings {
        let spec = HpaSpec {
            scale_target_ref: crate::hpa::spec::CrossVersionObjectReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
            },
            min_replicas: Some(min),
            max_replicas: max,
            metrics: vec![MetricSpec::external(
                "queue",
                MetricTarget::average_value(10_000),
            )],
            behavior: None,
        };
        HpaSettings::new(&spec, HpaOptions::default()).unwrap()
    }

    fn observe<'a>(
        spec_replicas: i32,
        metrics: &'a [MetricObservation],
        now_ms: i64,
    ) -> HpaObservation<'a> {
        HpaObservation {
            scale: ScaleSnapshot {
                spec_replicas,
                status_replicas: spec_replicas,
            },
            pods: &[],
            metrics,
            now_ms,
        }
    }

    fn queue(total: i64) -> Vec<MetricObservation> {
        vec![MetricObservation::External(ExternalObservation {
            values_milli: vec![total],
            timestamp_ms: None,
        })]
    }

    #[test]
    fn zero_replicas_with_nonzero_min_disables_scaling() {
        let mut state = HpaState::default();
        let decision = reconcile(
            &settings(1, 10),
            &mut state,
            &observe(0, &queue(50_000), NOW_MS),
        );
        assert_eq!(
            (decision.rescale, decision.reason),
            (false, DecisionReason::ScalingDisabled)
        );
        assert_eq!(decision.conditions[0].reason, "ScalingDisabled");
        assert!(decision.metrics.is_empty());
    }

    #[test]
    fn out_of_bounds_replicas_go_to_the_bound_without_metrics() {
        let mut state = HpaState::default();
        let above = reconcile(&settings(1, 10), &mut state, &observe(12, &[], NOW_MS));
        assert_eq!(
            (above.desired_replicas, above.reason),
            (10, DecisionReason::AboveMaxReplicas)
        );
        let below = reconcile(&settings(3, 10), &mut state, &observe(2, &[], NOW_MS));
        assert_eq!((below.desired_replicas, below.rescale), (3, true));
        assert_eq!(
            below.rescale_reason.as_deref(),
            Some("Current number of replicas below Spec.MinReplicas")
        );
    }

    #[test]
    fn first_seen_history_delays_scale_down_for_the_window() {
        let settings = settings(1, 10);
        let mut state = HpaState::default();
        // Load for 2 pods at 5 current: held at 5 by the first-seen recommendation.
        let first = reconcile(&settings, &mut state, &observe(5, &queue(20_000), NOW_MS));
        assert_eq!((first.desired_replicas, first.rescale), (5, false));
        assert_eq!(first.conditions[1].reason, "ScaleDownStabilized");
        // Five minutes and a bit later the first entry has left the window.
        let later = reconcile(
            &settings,
            &mut state,
            &observe(5, &queue(20_000), NOW_MS + 300_001),
        );
        assert_eq!((later.desired_replicas, later.rescale), (2, true));
        assert_eq!(
            later.rescale_reason.as_deref(),
            Some("All metrics below target")
        );
    }

    #[test]
    fn failed_metric_blocks_and_says_why() {
        let mut state = HpaState::default();
        let failed = [MetricObservation::Failed("timeout".into())];
        let decision = reconcile(&settings(1, 10), &mut state, &observe(4, &failed, NOW_MS));
        assert_eq!(
            (decision.rescale, decision.reason),
            (false, DecisionReason::InvalidMetrics)
        );
        assert_eq!(decision.conditions[0].reason, "FailedGetExternalMetric");
        assert_eq!(
            decision.metric_error.as_deref(),
            Some("invalid metrics (1 invalid out of 1), first error is: failed to get queue external metric value: unable to get metric: timeout")
        );
        assert_eq!(
            state.recommendations.len(),
            1,
            "only the first-seen entry; no recommendation stored"
        );
    }
}
