//! The VPA `spec` users paste (`VerticalPodAutoscalerSpec`, autoscaling.k8s.io/v1), its
//! validation, and how a container policy caps a recommendation.
//!
//! Field names, enums and defaults follow
//! `vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1/types.go` (VPA 1.7); see
//! <https://github.com/kubernetes/autoscaler/blob/master/vertical-pod-autoscaler/docs/api.md>.
//! Unknown fields are refused, so a typo is an error rather than a silently ignored
//! setting; the feature-gated alpha fields (`startupBoost`, per-VPA OOM and aggregation
//! settings) are not supported and are refused the same way.
//!
//! [`VpaSpec::validate`] applies the admission controller's checks (`validateVPA`):
//! container names present and unique, `minAllowed ≤ maxAllowed`, memory in whole bytes,
//! no `controlledValues: RequestsAndLimits` on a container whose mode is `Off`, at most one
//! recommender, a positive `minReplicas`. Deviation: a CPU quantity finer than a millicore
//! is rounded up when read, so it cannot be refused as upstream refuses it.
//!
//! Capping follows `pkg/utils/vpa/capping.go` `applyVPAPolicyForContainer`: each bound is
//! raised to a non-zero `minAllowed`, then lowered to a non-zero `maxAllowed`.

use serde::{Deserialize, Serialize};

use super::estimator::Bound;
use super::resources::{milli_to_units_rounding_up, ResourceList, ResourceName};
use super::VpaError;
use crate::units;

/// The container policy name that applies to containers without their own.
pub const DEFAULT_CONTAINER_POLICY: &str = "*";

/// `spec` of a `VerticalPodAutoscaler`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VpaSpec {
    /// The controller (Deployment, StatefulSet, …) whose pods are scaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// When and how recommendations are applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_policy: Option<UpdatePolicy>,
    /// Per-container constraints on the recommendation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<ResourcePolicy>,
    /// The recommender responsible; empty means the default one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recommenders: Vec<RecommenderSelector>,
}

/// `targetRef` (`CrossVersionObjectReference`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetRef {
    /// API version of the target, e.g. `apps/v1`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the target, e.g. `Deployment`.
    pub kind: String,
    /// Name of the target.
    pub name: String,
}

/// `updatePolicy` (`PodUpdatePolicy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePolicy {
    /// How recommendations are applied; upstream's default is `Recreate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_mode: Option<UpdateMode>,
    /// Replicas that must stay alive before the updater evicts a pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Conditions that must all hold before a pod is evicted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eviction_requirements: Vec<EvictionRequirement>,
}

/// `updateMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateMode {
    /// Recommend only.
    Off,
    /// Apply at pod creation only.
    Initial,
    /// Apply at creation and by evicting pods.
    Recreate,
    /// Resize in place where possible, else evict.
    InPlaceOrRecreate,
    /// Deprecated alias of `Recreate`.
    Auto,
}

/// One eviction condition (`EvictionRequirement`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvictionRequirement {
    /// Resources the condition looks at.
    pub resources: Vec<ResourceName>,
    /// The change that allows eviction.
    pub change_requirement: ChangeRequirement,
}

/// `changeRequirement`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeRequirement {
    /// Scale up only.
    TargetHigherThanRequests,
    /// Scale down only.
    TargetLowerThanRequests,
}

/// `resourcePolicy` (`PodResourcePolicy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcePolicy {
    /// One policy per container name, plus optionally `"*"` for the rest.
    pub container_policies: Vec<ContainerPolicy>,
}

/// `containerPolicies[]` (`ContainerResourcePolicy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPolicy {
    /// Container name, or `"*"` for containers without their own policy.
    pub container_name: String,
    /// `Auto` (the default) or `Off` (no recommendation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ContainerScalingMode>,
    /// Lowest recommendation (quantities; a zero value means no minimum).
    #[serde(skip_serializing_if = "PolicyResources::is_empty")]
    pub min_allowed: PolicyResources,
    /// Highest recommendation (quantities; a zero value means no maximum).
    #[serde(skip_serializing_if = "PolicyResources::is_empty")]
    pub max_allowed: PolicyResources,
    /// Resources recommended; default `[cpu, memory]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controlled_resources: Option<Vec<ResourceName>>,
    /// Whether limits follow requests; does not change the recommendation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controlled_values: Option<ControlledValues>,
}

/// `mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerScalingMode {
    /// Recommend for this container.
    #[default]
    Auto,
    /// Leave this container alone.
    Off,
}

/// `controlledValues`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlledValues {
    /// Requests and proportionally limits.
    #[default]
    RequestsAndLimits,
    /// Requests only.
    RequestsOnly,
}

/// `recommenders[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecommenderSelector {
    /// Recommender name.
    pub name: String,
}

/// `minAllowed` / `maxAllowed`: quantities kept as milli-units until validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyResources {
    /// CPU (milli-units are millicores).
    #[serde(with = "units::option_milli", skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Memory in milli-bytes (must be whole bytes).
    #[serde(with = "units::option_milli", skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
}

impl PolicyResources {
    /// True when neither resource is set.
    pub fn is_empty(&self) -> bool {
        self.cpu.is_none() && self.memory.is_none()
    }

    /// CPU millicores and memory bytes.
    pub fn to_resource_list(self) -> ResourceList {
        ResourceList {
            cpu_millicores: self.cpu,
            memory_bytes: self.memory.map(milli_to_units_rounding_up),
        }
    }

    fn milli(&self, resource: ResourceName) -> Option<i64> {
        match resource {
            ResourceName::Cpu => self.cpu,
            ResourceName::Memory => self.memory,
        }
    }
}

/// Which end of the allowed range a value was moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CappingReason {
    /// Raised to `minAllowed`.
    #[serde(rename = "capped to minAllowed")]
    MinAllowed,
    /// Lowered to `maxAllowed`.
    #[serde(rename = "capped to maxAllowed")]
    MaxAllowed,
}

/// One value the policy changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capping {
    /// Target, lower or upper bound.
    pub bound: Bound,
    /// CPU or memory.
    pub resource: ResourceName,
    /// Why.
    pub reason: CappingReason,
    /// Value before (millicores or bytes).
    pub from: i64,
    /// Value after.
    pub to: i64,
}

impl ContainerPolicy {
    /// The scaling mode, `Auto` unless set.
    pub fn effective_mode(&self) -> ContainerScalingMode {
        self.mode.unwrap_or_default()
    }

    /// Whether a resource is recommended for this container.
    pub fn controls(&self, resource: ResourceName) -> bool {
        self.controlled_resources
            .as_ref()
            .is_none_or(|list| list.contains(&resource))
    }

    /// Caps one bound's values to this policy, appending what changed to `cappings`.
    pub fn cap(&self, bound: Bound, list: &mut ResourceList, cappings: &mut Vec<Capping>) {
        let min = self.min_allowed.to_resource_list();
        let max = self.max_allowed.to_resource_list();
        for resource in ResourceName::ALL {
            let Some(value) = list.get(resource) else {
                continue;
            };
            let mut capped = value;
            if let Some(min) = min.get(resource).filter(|min| *min != 0 && capped < *min) {
                cappings.push(Capping {
                    bound,
                    resource,
                    reason: CappingReason::MinAllowed,
                    from: capped,
                    to: min,
                });
                capped = min;
            }
            if let Some(max) = max.get(resource).filter(|max| *max != 0 && capped > *max) {
                cappings.push(Capping {
                    bound,
                    resource,
                    reason: CappingReason::MaxAllowed,
                    from: capped,
                    to: max,
                });
                capped = max;
            }
            list.set(resource, Some(capped));
        }
    }
}

impl VpaSpec {
    /// The policy for a container: its own, else the `"*"` one (`GetContainerResourcePolicy`).
    pub fn container_policy(&self, container: &str) -> Option<&ContainerPolicy> {
        let policies = self
            .resource_policy
            .as_ref()
            .map(|p| p.container_policies.as_slice())
            .unwrap_or_default();
        let mut default = None;
        for policy in policies {
            if policy.container_name == container {
                return Some(policy);
            }
            if policy.container_name == DEFAULT_CONTAINER_POLICY {
                default = Some(policy);
            }
        }
        default
    }

    /// Whether a container gets a recommendation (its mode is not `Off`).
    pub fn recommends(&self, container: &str) -> bool {
        self.container_policy(container)
            .is_none_or(|policy| policy.effective_mode() == ContainerScalingMode::Auto)
    }

    /// Whether the named recommender handles this VPA (no `recommenders`, or it is listed).
    pub fn handled_by(&self, recommender: &str) -> bool {
        self.recommenders.is_empty() || self.recommenders.iter().any(|r| r.name == recommender)
    }

    /// Checks the spec as the VPA admission controller does; the error names the field.
    pub fn validate(&self) -> Result<(), VpaError> {
        match &self.target_ref {
            None => return Err(invalid("spec.targetRef", "required")),
            Some(target) if target.kind.is_empty() => {
                return Err(invalid("spec.targetRef.kind", "required"))
            }
            Some(target) if target.name.is_empty() => {
                return Err(invalid("spec.targetRef.name", "required"))
            }
            Some(_) => {}
        }
        if let Some(min) = self.update_policy.as_ref().and_then(|p| p.min_replicas) {
            if min <= 0 {
                return Err(invalid("spec.updatePolicy.minReplicas", "must be positive"));
            }
        }
        if self.recommenders.len() > 1 {
            return Err(invalid(
                "spec.recommenders",
                "at most one recommender may be named",
            ));
        }
        if let Some((i, _)) = self
            .recommenders
            .iter()
            .enumerate()
            .find(|(_, r)| r.name.is_empty())
        {
            return Err(invalid(&format!("spec.recommenders[{i}].name"), "required"));
        }
        let policies = self
            .resource_policy
            .as_ref()
            .map(|p| p.container_policies.as_slice())
            .unwrap_or_default();
        for (i, policy) in policies.iter().enumerate() {
            let path = format!("spec.resourcePolicy.containerPolicies[{i}]");
            validate_container_policy(policy, &path)?;
            if policies[..i]
                .iter()
                .any(|earlier| earlier.container_name == policy.container_name)
            {
                return Err(invalid(
                    &format!("{path}.containerName"),
                    "duplicate container name",
                ));
            }
        }
        Ok(())
    }
}

fn validate_container_policy(policy: &ContainerPolicy, path: &str) -> Result<(), VpaError> {
    if policy.container_name.is_empty() {
        return Err(invalid(&format!("{path}.containerName"), "required"));
    }
    for (field, list) in [
        ("minAllowed", &policy.min_allowed),
        ("maxAllowed", &policy.max_allowed),
    ] {
        for resource in ResourceName::ALL {
            let Some(milli) = list.milli(resource) else {
                continue;
            };
            let field_path = format!("{path}.{field}.{}", resource.as_str());
            if milli < 0 {
                return Err(invalid(&field_path, "must not be negative"));
            }
            if resource == ResourceName::Memory && milli % 1000 != 0 {
                return Err(invalid(&field_path, "must be a whole number of bytes"));
            }
        }
    }
    for resource in ResourceName::ALL {
        if let (Some(min), Some(max)) = (
            policy.min_allowed.milli(resource),
            policy.max_allowed.milli(resource),
        ) {
            if max < min {
                let field_path = format!("{path}.minAllowed.{}", resource.as_str());
                return Err(invalid(&field_path, "greater than maxAllowed"));
            }
        }
    }
    if policy.mode == Some(ContainerScalingMode::Off)
        && policy.controlled_values == Some(ControlledValues::RequestsAndLimits)
    {
        return Err(invalid(
            &format!("{path}.controlledValues"),
            "must not be set when mode is Off",
        ));
    }
    Ok(())
}

fn invalid(path: &str, problem: &str) -> VpaError {
    VpaError::InvalidSpec {
        path: path.to_owned(),
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> VpaSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    const BASE: &str = "targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n";

    #[test]
    fn a_pasted_upstream_spec_reads_and_validates() {
        let spec = spec(&format!(
            "{BASE}updatePolicy:\n  updateMode: InPlaceOrRecreate\n  minReplicas: 2\n\
             resourcePolicy:\n  containerPolicies:\n\
             \x20 - containerName: '*'\n    minAllowed: {{cpu: 100m, memory: 50Mi}}\n    maxAllowed: {{cpu: 1, memory: 500Mi}}\n    controlledResources: [cpu, memory]\n\
             \x20 - containerName: istio-proxy\n    mode: 'Off'\n"
        ));
        spec.validate().unwrap();
        assert_eq!(
            spec.update_policy.as_ref().unwrap().update_mode,
            Some(UpdateMode::InPlaceOrRecreate)
        );
        assert!(!spec.recommends("istio-proxy"));
        assert!(spec.recommends("app"));
        assert_eq!(
            spec.container_policy("app")
                .unwrap()
                .min_allowed
                .to_resource_list()
                .memory_bytes,
            Some(50 << 20)
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_yaml_ng::from_str::<VpaSpec>(&format!(
            "{BASE}updatePolicy: {{updateMod: Auto}}\n"
        ));
        assert!(err.unwrap_err().to_string().contains("updateMod"));
    }

    #[test]
    fn min_above_max_names_the_field() {
        let spec = spec(&format!(
            "{BASE}resourcePolicy:\n  containerPolicies:\n  - containerName: app\n    minAllowed: {{cpu: 2}}\n    maxAllowed: {{cpu: 1}}\n"
        ));
        assert_eq!(
            spec.validate().unwrap_err().to_string(),
            "spec.resourcePolicy.containerPolicies[0].minAllowed.cpu: greater than maxAllowed"
        );
    }

    #[test]
    fn validation_errors_name_their_paths() {
        let cases = [
            ("resourcePolicy: {containerPolicies: [{containerName: a}, {containerName: a}]}", "spec.resourcePolicy.containerPolicies[1].containerName: duplicate container name"),
            ("resourcePolicy: {containerPolicies: [{mode: Auto}]}", "spec.resourcePolicy.containerPolicies[0].containerName: required"),
            ("resourcePolicy: {containerPolicies: [{containerName: a, maxAllowed: {memory: 1500m}}]}", "spec.resourcePolicy.containerPolicies[0].maxAllowed.memory: must be a whole number of bytes"),
            ("resourcePolicy: {containerPolicies: [{containerName: a, minAllowed: {cpu: -1}}]}", "spec.resourcePolicy.containerPolicies[0].minAllowed.cpu: must not be negative"),
            ("resourcePolicy: {containerPolicies: [{containerName: a, mode: 'Off', controlledValues: RequestsAndLimits}]}", "spec.resourcePolicy.containerPolicies[0].controlledValues: must not be set when mode is Off"),
            ("recommenders: [{name: a}, {name: b}]", "spec.recommenders: at most one recommender may be named"),
            ("updatePolicy: {minReplicas: 0}", "spec.updatePolicy.minReplicas: must be positive"),
        ];
        for (yaml, expected) in cases {
            let spec = spec(&format!("{BASE}{yaml}\n"));
            assert_eq!(spec.validate().unwrap_err().to_string(), expected, "{yaml}");
        }
        assert_eq!(
            VpaSpec::default().validate().unwrap_err().to_string(),
            "spec.targetRef: required"
        );
    }

    #[test]
    fn capping_raises_to_min_then_lowers_to_max_and_ignores_zero() {
        let policy = ContainerPolicy {
            container_name: "app".into(),
            min_allowed: PolicyResources {
                cpu: Some(100),
                memory: Some(0),
            },
            max_allowed: PolicyResources {
                cpu: Some(500),
                memory: Some(1_000_000_000),
            },
            ..ContainerPolicy::default()
        };
        let mut cappings = Vec::new();
        let mut low = ResourceList {
            cpu_millicores: Some(25),
            memory_bytes: Some(10),
        };
        policy.cap(Bound::Target, &mut low, &mut cappings);
        assert_eq!(
            low,
            ResourceList {
                cpu_millicores: Some(100),
                memory_bytes: Some(10)
            }
        );
        let mut high = ResourceList {
            cpu_millicores: Some(900),
            memory_bytes: None,
        };
        policy.cap(Bound::UpperBound, &mut high, &mut cappings);
        assert_eq!(high.cpu_millicores, Some(500));
        assert_eq!(cappings.len(), 2);
        assert_eq!(cappings[1].reason, CappingReason::MaxAllowed);
    }
}
