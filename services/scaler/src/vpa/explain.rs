//! `explain` for one VPA: replay the given samples, OOMs and checkpoints through the same
//! [`Recommender`] the control loop runs, and show every intermediate value — percentiles,
//! confidence, raw estimate, after margin, after confidence multiplier, after pod minimum,
//! after policy — with the final `status.recommendation` and a reason for each capping.
//!
//! The input ([`super::explain_input::VpaExplainInput`]) is a hand-written document;
//! checkpoints are loaded before any sample, then samples replay in time order. The
//! output is for people and scripts: amounts are quantity strings, every step is shown.

use std::collections::BTreeMap;

use serde::Serialize;

use super::estimator::{Bound, EstimateSteps, ResourceEstimate};
use super::evaluation::{ContainerRecommendation, EvaluationOutcome};
use super::explain_input::{expand, invalid, Event};
pub use super::explain_input::{
    ContainerHistory, CpuSeries, MemorySeries, OomInput, VpaExplainInput, MAX_EXPLAIN_SAMPLES,
};
use super::policy::{
    CappingReason, ContainerPolicy, ContainerScalingMode, ControlledValues, UpdateMode,
};
use super::recommender::{Recommender, RecommenderConfig, SampleTarget};
use super::resources::{
    RecommendedContainerResources, RecommendedPodResources, ResourceList, ResourceName,
};
use super::VpaError;
use crate::time::{option_rfc3339_ms, rfc3339_ms};

/// The explanation: per container every step, and the VPA's recommendation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaExplanation {
    /// Evaluation time.
    #[serde(with = "rfc3339_ms")]
    pub now: i64,
    /// `spec.updatePolicy.updateMode` (upstream's default `Recreate` when unset).
    pub update_mode: UpdateMode,
    /// Whether this recommender (`default`) handles the VPA (`spec.recommenders`).
    pub handled: bool,
    /// N: containers that get a recommendation, sharing the pod minimum.
    pub recommended_containers: usize,
    /// The pod minimum (25m CPU, 250Mi memory) divided by N.
    pub pod_minimum: ResourceList,
    /// Every container seen, by name.
    pub containers: Vec<ContainerExplanation>,
    /// What the VPA's `status.recommendation` would be.
    pub recommendation: RecommendedPodResources,
}

/// One container's explanation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerExplanation {
    /// Container name.
    pub container_name: String,
    /// `containerName` of the policy that applies (its own or `"*"`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Scaling mode.
    pub mode: ContainerScalingMode,
    /// Resources recommended.
    pub controlled_resources: Vec<ResourceName>,
    /// Whether limits follow (does not change the numbers here).
    pub controlled_values: ControlledValues,
    /// What happened to the input.
    pub samples: SampleCounts,
    /// Start of the first CPU sample.
    #[serde(with = "option_rfc3339_ms")]
    pub first_sample_start: Option<i64>,
    /// Start of the last CPU sample.
    #[serde(with = "option_rfc3339_ms")]
    pub last_sample_start: Option<i64>,
    /// CPU samples aggregated (including checkpoints).
    pub total_samples_count: u64,
    /// History in days, capped by samples per day at one a minute.
    pub confidence: f64,
    /// Why there is no recommendation, if there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// CPU steps (millicores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<ResourceExplanation>,
    /// Memory steps (bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ResourceExplanation>,
    /// Every value the policy moved, and why.
    pub cappings: Vec<CappingExplanation>,
    /// Other remarks (resources not controlled, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The container's entry in `status.recommendation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<RecommendedContainerResources>,
}

/// Input accounting for one container.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleCounts {
    /// CPU samples aggregated.
    pub cpu_added: u64,
    /// CPU samples dropped.
    pub cpu_discarded: u64,
    /// Memory samples kept.
    pub memory_added: u64,
    /// Memory samples dropped.
    pub memory_discarded: u64,
    /// OOMs recorded.
    pub ooms_recorded: u64,
    /// OOMs dropped.
    pub ooms_discarded: u64,
    /// Whether a checkpoint was loaded for this container.
    pub checkpoint_loaded: bool,
    /// Dropped samples by reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub discard_reasons: BTreeMap<String, u64>,
}

/// The three bounds of one resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceExplanation {
    /// Whether the resource is in `controlledResources`.
    pub controlled: bool,
    /// Target.
    pub target: StepsExplanation,
    /// Lower bound.
    pub lower_bound: StepsExplanation,
    /// Upper bound.
    pub upper_bound: StepsExplanation,
}

/// A confidence multiplier: a number, or `"+Inf"` with no history.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Multiplier {
    /// A finite factor.
    Number(f64),
    /// `"+Inf"`.
    Text(String),
}

/// The pipeline of one bound; amounts are quantity strings (`"250m"`, bytes).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepsExplanation {
    /// Percentile read.
    pub percentile: f64,
    /// Histogram value there (upper bucket boundary), cores or bytes.
    pub percentile_value: f64,
    /// In millicores / bytes, truncated.
    pub raw: String,
    /// Plus the safety margin.
    pub after_margin: String,
    /// Confidence multiplier (absent for the target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence_multiplier: Option<Multiplier>,
    /// After the multiplier (capped at 1e14).
    pub after_confidence: String,
    /// After the per-container pod minimum.
    pub after_pod_minimum: String,
    /// After `minAllowed`/`maxAllowed` (absent when the resource is not controlled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_policy: Option<String>,
}

/// One capping.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CappingExplanation {
    /// Which bound.
    pub bound: Bound,
    /// Which resource.
    pub resource: ResourceName,
    /// Upstream's wording: `capped to minAllowed` / `capped to maxAllowed`.
    pub reason: CappingReason,
    /// Before.
    pub from: String,
    /// After.
    pub to: String,
}

/// Replays the input and explains the resulting recommendation.
pub fn explain(input: &VpaExplainInput) -> Result<VpaExplanation, VpaError> {
    let mut recommender: Recommender<()> = Recommender::new(RecommenderConfig::default());
    recommender.set_vpa((), input.spec.clone())?;
    let mut counts: BTreeMap<String, SampleCounts> = BTreeMap::new();
    for (i, checkpoint) in input.checkpoints.iter().enumerate() {
        let container = &checkpoint.spec.container_name;
        if container.is_empty() {
            return Err(invalid(
                format!("checkpoints[{i}].spec.containerName"),
                "required",
            ));
        }
        recommender.load_checkpoint((), checkpoint, input.now)?;
        counts
            .entry(container.clone())
            .or_default()
            .checkpoint_loaded = true;
    }
    for event in expand(&input.containers)? {
        let history = &input.containers[event.history];
        let target = SampleTarget {
            container: &history.name,
            pod: &history.pod,
        };
        let count = counts.entry(history.name.clone()).or_default();
        let (result, added, discarded) = match event.event {
            Event::Cpu(sample) => (
                recommender.add_cpu_sample(&(), target, sample).map(|_| ()),
                &mut count.cpu_added,
                &mut count.cpu_discarded,
            ),
            Event::Memory(sample) => (
                recommender
                    .add_memory_sample(&(), target, sample)
                    .map(|_| ()),
                &mut count.memory_added,
                &mut count.memory_discarded,
            ),
            Event::Oom(oom) => (
                recommender.record_oom(&(), target, oom).map(|_| ()),
                &mut count.ooms_recorded,
                &mut count.ooms_discarded,
            ),
        };
        match result {
            Ok(()) => *added += 1,
            Err(reason) => {
                *discarded += 1;
                let name = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
                *count
                    .discard_reasons
                    .entry(name.unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }

    let spec = &input.spec;
    let mut containers = Vec::new();
    let mut recommendation = RecommendedPodResources::default();
    let evaluation = recommender.evaluate(&(), input.now, |evaluation| {
        let mut explanation = describe(evaluation.container, evaluation.policy, &counts);
        let aggregate = evaluation.aggregate;
        explanation.first_sample_start = aggregate.first_sample_ms();
        explanation.last_sample_start = aggregate.last_sample_ms();
        explanation.total_samples_count = aggregate.total_samples_count();
        explanation.confidence = aggregate.confidence(recommender_confidence_interval());
        match evaluation.outcome {
            EvaluationOutcome::Skipped(reason) => {
                explanation.skipped = Some(reason.as_str().to_owned())
            }
            EvaluationOutcome::Recommended {
                estimate,
                recommendation: result,
                cappings,
            } => {
                explanation.confidence = estimate.confidence;
                for resource in ResourceName::ALL {
                    let controlled = evaluation
                        .policy
                        .is_none_or(|policy| policy.controls(resource));
                    let steps = resource_explanation(
                        resource,
                        estimate.resource(resource),
                        controlled,
                        result,
                    );
                    match resource {
                        ResourceName::Cpu => explanation.cpu = Some(steps),
                        ResourceName::Memory => explanation.memory = Some(steps),
                    }
                    if !controlled {
                        explanation.notes.push(format!(
                            "{} is not in controlledResources: not recommended",
                            resource.as_str()
                        ));
                    }
                }
                explanation.cappings = cappings
                    .iter()
                    .map(|capping| CappingExplanation {
                        bound: capping.bound,
                        resource: capping.resource,
                        reason: capping.reason,
                        from: capping.resource.format(capping.from),
                        to: capping.resource.format(capping.to),
                    })
                    .collect();
                let api = result.to_api(evaluation.container);
                recommendation.container_recommendations.push(api.clone());
                explanation.recommendation = Some(api);
            }
        }
        containers.push(explanation);
    });

    let handled = evaluation.is_some();
    if !handled {
        for name in counts.keys() {
            let mut explanation = describe(name, spec.container_policy(name), &counts);
            if let Some(aggregate) = recommender.aggregate(&(), name) {
                explanation.first_sample_start = aggregate.first_sample_ms();
                explanation.last_sample_start = aggregate.last_sample_ms();
                explanation.total_samples_count = aggregate.total_samples_count();
                explanation.confidence = aggregate.confidence(recommender_confidence_interval());
            }
            explanation.skipped =
                Some("spec.recommenders does not name the default recommender".to_owned());
            containers.push(explanation);
        }
    }
    Ok(VpaExplanation {
        now: input.now,
        update_mode: spec
            .update_policy
            .as_ref()
            .and_then(|p| p.update_mode)
            .unwrap_or(UpdateMode::Recreate),
        handled,
        recommended_containers: evaluation.map_or(0, |e| e.recommended_containers),
        pod_minimum: evaluation.map(|e| e.pod_minimum).unwrap_or_default(),
        containers,
        recommendation,
    })
}

fn recommender_confidence_interval() -> i64 {
    RecommenderConfig::default()
        .estimator
        .confidence_interval_ms
}

fn describe(
    container: &str,
    policy: Option<&ContainerPolicy>,
    counts: &BTreeMap<String, SampleCounts>,
) -> ContainerExplanation {
    ContainerExplanation {
        container_name: container.to_owned(),
        policy: policy.map(|p| p.container_name.clone()),
        mode: policy
            .map(ContainerPolicy::effective_mode)
            .unwrap_or_default(),
        controlled_resources: ResourceName::ALL
            .into_iter()
            .filter(|resource| policy.is_none_or(|p| p.controls(*resource)))
            .collect(),
        controlled_values: policy.and_then(|p| p.controlled_values).unwrap_or_default(),
        samples: counts.get(container).cloned().unwrap_or_default(),
        first_sample_start: None,
        last_sample_start: None,
        total_samples_count: 0,
        confidence: 0.0,
        skipped: None,
        cpu: None,
        memory: None,
        cappings: Vec::new(),
        notes: Vec::new(),
        recommendation: None,
    }
}

fn resource_explanation(
    resource: ResourceName,
    estimate: &ResourceEstimate,
    controlled: bool,
    result: &ContainerRecommendation,
) -> ResourceExplanation {
    let steps = |bound: Bound, final_list: &ResourceList| {
        let step: &EstimateSteps = estimate.get(bound);
        StepsExplanation {
            percentile: step.percentile,
            percentile_value: step.percentile_value,
            raw: resource.format(step.raw),
            after_margin: resource.format(step.after_margin),
            confidence_multiplier: step.confidence_multiplier.map(|m| {
                if m.is_finite() {
                    Multiplier::Number(m)
                } else {
                    Multiplier::Text("+Inf".to_owned())
                }
            }),
            after_confidence: resource.format(step.after_confidence),
            after_pod_minimum: resource.format(step.after_pod_minimum),
            after_policy: final_list
                .get(resource)
                .map(|amount| resource.format(amount)),
        }
    };
    ResourceExplanation {
        controlled,
        target: steps(Bound::Target, &result.target),
        lower_bound: steps(Bound::LowerBound, &result.lower_bound),
        upper_bound: steps(Bound::UpperBound, &result.upper_bound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> VpaExplainInput {
        serde_json::from_str(json).unwrap()
    }

    const SPEC: &str =
        r#""spec":{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}}"#;

    #[test]
    fn a_single_sample_explains_the_no_confidence_bounds() {
        let doc = format!(
            r#"{{{SPEC},"now":"2026-01-02T00:00:00Z","containers":[{{"name":"app","cpu":[{{"timestamp":"2026-01-01T00:00:00Z","usage":"300m"}}],"memory":[{{"timestamp":"2026-01-01T00:00:00Z","usage":"400Mi"}}]}}]}}"#
        );
        let explanation = explain(&input(&doc)).unwrap();
        let app = &explanation.containers[0];
        assert_eq!(app.confidence, 0.0);
        let cpu = app.cpu.as_ref().unwrap();
        assert_eq!(
            cpu.upper_bound.confidence_multiplier,
            Some(Multiplier::Text("+Inf".into()))
        );
        assert_eq!(cpu.upper_bound.after_confidence, "100000000000000m");
        assert_eq!(cpu.lower_bound.after_pod_minimum, "25m");
        assert_eq!(
            explanation.recommendation.container_recommendations.len(),
            1
        );
    }

    #[test]
    fn series_need_an_interval_and_are_bounded() {
        let doc = format!(
            r#"{{{SPEC},"now":"2026-01-02T00:00:00Z","containers":[{{"name":"app","cpu":[{{"timestamp":"2026-01-01T00:00:00Z","usage":1,"count":3}}]}}]}}"#
        );
        let err = explain(&input(&doc)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "containers[0].cpu[0].intervalSeconds: required when count is above 1"
        );
        let doc = doc.replace(r#""count":3"#, r#""count":2000000,"intervalSeconds":1"#);
        assert!(explain(&input(&doc))
            .unwrap_err()
            .to_string()
            .contains("more than 1000000 samples"));
    }

    #[test]
    fn discarded_samples_are_counted_by_reason() {
        let doc = format!(
            r#"{{{SPEC},"now":"2026-01-02T00:00:00Z","containers":[{{"name":"app","cpu":[{{"timestamp":"2026-01-01T00:00:00Z","usage":1}},{{"timestamp":"2026-01-01T00:00:00Z","usage":2}}]}}]}}"#
        );
        let explanation = explain(&input(&doc)).unwrap();
        let samples = &explanation.containers[0].samples;
        assert_eq!((samples.cpu_added, samples.cpu_discarded), (1, 1));
        assert_eq!(
            samples.discard_reasons.get("notNewerThanLastCpuSample"),
            Some(&1)
        );
    }
}
