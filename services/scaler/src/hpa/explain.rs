//! `explain`: one HPA sync as a JSON document in, every step of the decision out. It is the
//! same code path as the control loop ([`reconcile`] then [`record_rescale`]), fed from a
//! document a user can write by hand or paste from `kubectl`: the HPA `spec`, the scale,
//! trimmed Pod objects, the metric values, the controller's memory and the time.
//!
//! The schema is described in the project README (section "tachyscale explain"); the examples in
//! `examples/explain/` at the repository root are run by the tests.
//!
//! Pods are read leniently (unknown fields are skipped) so `kubectl get pods -o json` items
//! can be pasted whole; everything else rejects unknown fields. An empty `history` means the
//! controller sees the HPA for the first time, which holds off any scale-down for the
//! stabilization window, exactly as after a controller restart upstream.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::observations::MetricObservation;
use super::pods::{ConditionStatus, ContainerRequests, HpaPod, PodPhase, ReadyCondition};
use super::reconcile::{reconcile, record_rescale, HpaObservation, ScaleDecision, ScaleSnapshot};
use super::settings::{HpaOptions, HpaSettings};
use super::spec::HpaSpec;
use super::state::HpaState;
use super::validate::FieldError;
use super::HpaError;
use crate::time::{option_rfc3339_ms, rfc3339_ms};
use crate::units::milli;

/// The input document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaExplainInput {
    /// The HPA's `spec`, as in the API object.
    pub spec: HpaSpec,
    /// The target's scale subresource.
    pub scale: ScaleInput,
    /// The pods the target selects, shaped like (trimmed) Pod objects.
    #[serde(default)]
    pub pods: Vec<PodObject>,
    /// One observation per metric of the spec (per the default CPU metric if it has none).
    #[serde(default)]
    pub metrics: Vec<MetricObservation>,
    /// The controller's memory from earlier syncs.
    #[serde(default)]
    pub history: HpaState,
    /// Controller flag overrides.
    #[serde(default)]
    pub options: HpaOptions,
    /// The time of this sync.
    #[serde(rename = "now", with = "rfc3339_ms")]
    pub now_ms: i64,
}

/// `scale.spec.replicas` and `scale.status.replicas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleInput {
    pub replicas: i32,
    /// Defaults to `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_replicas: Option<i32>,
}

/// A Pod object, only the fields the HPA reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodObject {
    pub metadata: PodObjectMeta,
    #[serde(default)]
    pub spec: PodObjectSpec,
    #[serde(default)]
    pub status: PodObjectStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodObjectMeta {
    pub name: String,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "deletionTimestamp"
    )]
    pub deletion_timestamp_ms: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodObjectSpec {
    #[serde(default)]
    pub containers: Vec<ContainerObject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerObject>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerObject {
    pub name: String,
    #[serde(default)]
    pub resources: ResourcesObject,
    /// `Always` on an init container makes it a sidecar whose requests count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesObject {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
}

/// A quantity in milli-units (`"500m"`, `2`, `"1Gi"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(#[serde(with = "milli")] pub i64);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodObjectStatus {
    #[serde(default)]
    pub phase: PodPhase,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "startTime"
    )]
    pub start_time_ms: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<PodConditionObject>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodConditionObject {
    #[serde(rename = "type")]
    pub condition_type: String,
    pub status: ConditionStatus,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "lastTransitionTime"
    )]
    pub last_transition_time_ms: Option<i64>,
}

impl From<&ContainerObject> for ContainerRequests {
    fn from(container: &ContainerObject) -> ContainerRequests {
        ContainerRequests {
            name: container.name.clone(),
            restart_policy_always: container.restart_policy.as_deref() == Some("Always"),
            requests_milli: container
                .resources
                .requests
                .iter()
                .map(|(resource, quantity)| (resource.clone(), quantity.0))
                .collect(),
        }
    }
}

impl From<&PodObject> for HpaPod {
    fn from(pod: &PodObject) -> HpaPod {
        let ready = pod
            .status
            .conditions
            .iter()
            .find(|condition| condition.condition_type == "Ready")
            .map(|condition| ReadyCondition {
                status: condition.status,
                last_transition_time_ms: condition.last_transition_time_ms,
            });
        HpaPod {
            name: pod.metadata.name.clone(),
            phase: pod.status.phase,
            deletion_timestamp_ms: pod.metadata.deletion_timestamp_ms,
            start_time_ms: pod.status.start_time_ms,
            ready,
            containers: pod
                .spec
                .containers
                .iter()
                .map(ContainerRequests::from)
                .collect(),
            init_containers: pod
                .spec
                .init_containers
                .iter()
                .map(ContainerRequests::from)
                .collect(),
        }
    }
}

/// The output document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaExplanation {
    #[serde(rename = "now", with = "rfc3339_ms")]
    pub now_ms: i64,
    /// What to do and why, with every metric's proposal, stabilization and limits.
    pub decision: ScaleDecision,
    /// The spec as the controller runs it: defaults applied, tolerances resolved.
    pub settings: HpaSettings,
    /// The controller's memory after this sync (and after recording the rescale, if any):
    /// the `history` of the next sync.
    pub history: HpaState,
}

/// Runs one sync on a document. Errors only for an invalid spec, options or input; metric
/// problems are part of the decision.
pub fn explain(input: &HpaExplainInput) -> Result<HpaExplanation, HpaError> {
    let settings = HpaSettings::new(&input.spec, input.options.clone())?;
    check_input(input, &settings)?;
    let pods: Vec<HpaPod> = input.pods.iter().map(HpaPod::from).collect();
    let scale = ScaleSnapshot {
        spec_replicas: input.scale.replicas,
        status_replicas: input.scale.status_replicas.unwrap_or(input.scale.replicas),
    };
    let mut history = input.history.clone();
    let observation = HpaObservation {
        scale,
        pods: &pods,
        metrics: &input.metrics,
        now_ms: input.now_ms,
    };
    let decision = reconcile(&settings, &mut history, &observation);
    if decision.rescale {
        record_rescale(
            &settings,
            &mut history,
            decision.current_replicas,
            decision.desired_replicas,
            input.now_ms,
        );
    }
    Ok(HpaExplanation {
        now_ms: input.now_ms,
        decision,
        settings,
        history,
    })
}

fn check_input(input: &HpaExplainInput, settings: &HpaSettings) -> Result<(), HpaError> {
    let mut errors = Vec::new();
    if input.scale.replicas < 0 {
        errors.push(FieldError::new(
            "scale.replicas",
            "must be greater than or equal to 0",
        ));
    }
    if input
        .scale
        .status_replicas
        .is_some_and(|replicas| replicas < 0)
    {
        errors.push(FieldError::new(
            "scale.statusReplicas",
            "must be greater than or equal to 0",
        ));
    }
    if input.metrics.len() > settings.metrics.len() {
        errors.push(FieldError::new(
            "metrics",
            format!(
                "{} observations for {} metrics (one observation per metric of the spec, in order)",
                input.metrics.len(),
                settings.metrics.len()
            ),
        ));
    }
    let mut names = BTreeSet::new();
    for (index, pod) in input.pods.iter().enumerate() {
        if !names.insert(pod.metadata.name.as_str()) {
            errors.push(FieldError::new(
                format!("pods[{index}].metadata.name"),
                "duplicate pod name",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(HpaError::InvalidInput { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"{
        "metadata": {"name": "web-1", "uid": "x", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "web:1", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1}}}],
                 "initContainers": [{"name": "mesh", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running", "startTime": "2026-03-01T11:00:00Z",
                   "conditions": [{"type": "PodScheduled", "status": "True"},
                                  {"type": "Ready", "status": "True", "lastTransitionTime": "2026-03-01T11:00:20Z"}]}
    }"#;

    #[test]
    fn kubectl_pod_json_converts_to_the_fields_the_hpa_reads() {
        let object: PodObject = serde_json::from_str(POD).unwrap();
        let pod = HpaPod::from(&object);
        assert_eq!(pod.phase, PodPhase::Running);
        assert!(pod.is_ready());
        assert_eq!(
            pod.containers[0].requests_milli["memory"],
            1_073_741_824_000
        );
        assert!(pod.init_containers[0].restart_policy_always);
        assert_eq!(
            pod.ready.unwrap().last_transition_time_ms.unwrap() - pod.start_time_ms.unwrap(),
            20_000
        );
    }

    #[test]
    fn inconsistent_input_is_refused_with_paths() {
        let json = format!(
            r#"{{"spec": {{"scaleTargetRef": {{"kind": "Deployment", "name": "web"}}, "maxReplicas": 3}},
                "scale": {{"replicas": -1}}, "pods": [{POD}, {POD}],
                "metrics": [{{"error": "a"}}, {{"error": "b"}}], "now": "2026-03-01T12:00:00Z"}}"#
        );
        let input: HpaExplainInput = serde_json::from_str(&json).unwrap();
        let err = explain(&input).unwrap_err();
        assert_eq!(err.reason(), "invalid_input");
        let paths: Vec<_> = err.field_errors().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["scale.replicas", "metrics", "pods[1].metadata.name"]
        );
    }

    #[test]
    fn invalid_spec_is_an_error_not_a_decision() {
        let json = r#"{"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 0},
                       "scale": {"replicas": 1}, "now": "2026-03-01T12:00:00Z"}"#;
        let input: HpaExplainInput = serde_json::from_str(json).unwrap();
        assert_eq!(explain(&input).unwrap_err().reason(), "invalid_spec");
    }
}
