//! The Horizontal Pod Autoscaler of `kube-controller-manager` (autoscaling/v2), as pure
//! functions: the same replica counts, the same stabilization and rate limits, the same
//! condition reasons, computed from a snapshot the caller supplies.
//!
//! Upstream: `pkg/controller/podautoscaler/{horizontal.go, replica_calculator.go}`,
//! `pkg/apis/autoscaling/{v2/defaults.go, validation/validation.go}` (Kubernetes 1.34+, with
//! the per-direction tolerances of KEP-4951 and `minReplicas: 0` of `HPAScaleToZero`). The
//! conformance vectors of `shared/reference/hpa-algorithm.md` are tests of this module.
//!
//! Why pure: the controller keeps its memory (recent recommendations, scale events) in
//! process; here it is an [`HpaState`] the caller owns and passes by `&mut`, so the control
//! loop, the conformance tests and `explain` run exactly the same code, and a restarted
//! scaler can persist and reload the memory instead of losing its stabilization window.
//!
//! How the control loop uses it, once per sync period and target:
//!
//! 1. [`HpaSettings::new`] — validate the pasted [`HpaSpec`] (upstream API rules) and
//!    resolve defaults (metrics, behavior, tolerances) with the controller [`HpaOptions`].
//!    Do this when the spec changes, not every sync.
//! 2. Build an [`HpaObservation`]: the scale subresource ([`ScaleSnapshot`]), the selected
//!    pods as [`HpaPod`]s, one [`MetricObservation`] per entry of
//!    [`HpaSettings::metrics`] (a fetch that failed or is stale is
//!    [`MetricObservation::Failed`] — that is the fail-safe: it can block a scale-down, never
//!    cause one), and `now_ms`.
//! 3. [`reconcile()`] → [`ScaleDecision`] (whether to rescale, to what, why, with every
//!    intermediate value).
//! 4. After the scale update succeeded: [`record_rescale`], which feeds the behavior rate
//!    limits of later syncs.
//!
//! [`explain()`] wraps these steps for one JSON document (schema in the project README).
//!
//! Module map: [`spec`] (API types), [`validate`] (API validation), [`settings`] (defaults
//! and controller options), [`observations`] (what the caller fetched), [`pods`] (pod
//! grouping and requests), [`replicas`] (the replica calculator), [`metrics`] (one proposal
//! per metric, several metrics, the fail-safe), [`state`] (the controller's memory),
//! [`stabilization`] and [`limits`] (from recommendation to scale), [`mod@reconcile`] (the sync),
//! [`mod@explain`] (the document form).

pub mod explain;
pub mod limits;
pub mod metrics;
pub mod observations;
pub mod pods;
pub mod reconcile;
pub mod replicas;
pub mod selector;
pub mod settings;
pub mod spec;
pub mod stabilization;
pub mod state;
pub mod validate;

pub use explain::{explain, HpaExplainInput, HpaExplanation};
pub use limits::{LimitReason, PolicyLimit, RateLimits};
pub use metrics::{
    compute_replicas_for_metrics, MetricError, MetricFailure, MetricProposal, MetricsOutcome,
};
pub use observations::{
    ExternalObservation, MetricObservation, ObjectObservation, PodMetricSample, PodMetrics,
};
pub use pods::{ConditionStatus, ContainerRequests, HpaPod, PodGroups, PodPhase, ReadyCondition};
pub use reconcile::{
    reconcile, record_rescale, ConditionType, DecisionReason, HpaCondition, HpaObservation,
    ScaleDecision, ScaleSnapshot,
};
pub use replicas::{Calculation, ReplicaStep};
pub use settings::{Behavior, HpaOptions, HpaSettings, ScalingRules, Tolerances};
pub use spec::{
    CrossVersionObjectReference, HpaBehavior, HpaScalingPolicy, HpaScalingRules, HpaSpec,
    LabelSelector, MetricSourceType, MetricSpec, MetricTarget, MetricTargetType, ScalingPolicyType,
    SelectPolicy,
};
pub use stabilization::Stabilization;
pub use state::{HpaState, Recommendation, ScaleEvent};
pub use validate::FieldError;

/// Why an HPA could not be evaluated at all. Problems with a single metric are not errors:
/// they make that metric invalid and are reported in the [`ScaleDecision`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HpaError {
    /// The spec breaks the autoscaling/v2 API validation rules; every broken rule is listed.
    #[error("invalid HorizontalPodAutoscaler spec: {}", join(.errors))]
    InvalidSpec { errors: Vec<FieldError> },
    /// A controller option is out of range (a negative or non-finite tolerance, …).
    #[error("invalid HPA controller options: {}", join(.errors))]
    InvalidOptions { errors: Vec<FieldError> },
    /// The observed input cannot describe a real cluster (a negative replica count, …).
    #[error("invalid HPA input: {}", join(.errors))]
    InvalidInput { errors: Vec<FieldError> },
}

impl HpaError {
    /// A bounded label for `*_errors_total{reason}`: `invalid_spec`, `invalid_options` or
    /// `invalid_input`.
    pub fn reason(&self) -> &'static str {
        match self {
            HpaError::InvalidSpec { .. } => "invalid_spec",
            HpaError::InvalidOptions { .. } => "invalid_options",
            HpaError::InvalidInput { .. } => "invalid_input",
        }
    }

    /// The individual field errors, in the order found.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            HpaError::InvalidSpec { errors }
            | HpaError::InvalidOptions { errors }
            | HpaError::InvalidInput { errors } => errors,
        }
    }
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_list_every_field_and_have_bounded_reasons() {
        let err = HpaError::InvalidSpec {
            errors: vec![
                FieldError::new("spec.maxReplicas", "must be greater than 0"),
                FieldError::new("spec.minReplicas", "must be greater than or equal to 0"),
            ],
        };
        assert_eq!(
            err.to_string(),
            "invalid HorizontalPodAutoscaler spec: spec.maxReplicas: must be greater than 0; \
             spec.minReplicas: must be greater than or equal to 0"
        );
        assert_eq!(err.reason(), "invalid_spec");
        assert_eq!(err.field_errors().len(), 2);
    }
}
