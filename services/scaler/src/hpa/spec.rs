//! The `spec` of an autoscaling/v2 `HorizontalPodAutoscaler`, field for field, so users can
//! paste the YAML or JSON they already run.
//!
//! Reference: <https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/>
//! and `k8s.io/api/autoscaling/v2/types.go`. The shape is the API's, not a tidier one: a
//! [`MetricSpec`] has a `type` plus one optional source per type, because that is what users
//! write and what [`crate::hpa::validate`] has to check ("must populate the given metric
//! source only"). Fields the API server defaults (`minReplicas`, `metrics`, the `behavior`
//! parts) are `Option`s here; [`crate::hpa::settings`] applies the defaults.
//!
//! Quantities (`value`, `averageValue`, `tolerance`) are held as milli-units
//! ([`crate::units`]), exactly what the controller reads with `MilliValue()`. Scalar fields
//! the API validates rather than requires (`name`, `kind`, `maxReplicas`, policy `value`) are
//! read with a default so that leaving them out gives the API's validation message with its
//! field path instead of a decoding error. Unknown fields are rejected.

use serde::{Deserialize, Serialize};

pub use super::selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator};
use crate::units::option_milli;

/// `HorizontalPodAutoscalerSpec`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaSpec {
    /// The workload whose scale subresource is set.
    pub scale_target_ref: CrossVersionObjectReference,
    /// Lower bound; 1 when absent. 0 is allowed with an Object or External metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Upper bound, at least 1 and at least `minReplicas`.
    #[serde(default)]
    pub max_replicas: i32,
    /// What to scale on; empty means CPU utilization 80 %.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpec>,
    /// Stabilization windows, rate-limit policies and tolerances per direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HpaBehavior>,
}

/// `CrossVersionObjectReference`: the scale target or an Object metric's object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrossVersionObjectReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// `MetricSourceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricSourceType {
    Resource,
    ContainerResource,
    Pods,
    Object,
    External,
}

impl MetricSourceType {
    /// The API name, also the JSON value of `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricSourceType::Resource => "Resource",
            MetricSourceType::ContainerResource => "ContainerResource",
            MetricSourceType::Pods => "Pods",
            MetricSourceType::Object => "Object",
            MetricSourceType::External => "External",
        }
    }

    /// The name of the field that holds this type's source (`resource`, `containerResource`…).
    pub fn field_name(self) -> &'static str {
        match self {
            MetricSourceType::Resource => "resource",
            MetricSourceType::ContainerResource => "containerResource",
            MetricSourceType::Pods => "pods",
            MetricSourceType::Object => "object",
            MetricSourceType::External => "external",
        }
    }

    /// The `ScalingActive=False` reason upstream sets when this type's metric fails.
    pub fn failure_reason(self) -> &'static str {
        match self {
            MetricSourceType::Resource => "FailedGetResourceMetric",
            MetricSourceType::ContainerResource => "FailedGetContainerResourceMetric",
            MetricSourceType::Pods => "FailedGetPodsMetric",
            MetricSourceType::Object => "FailedGetObjectMetric",
            MetricSourceType::External => "FailedGetExternalMetric",
        }
    }
}

/// `MetricSpec`: a `type` and the source of that type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    #[serde(rename = "type")]
    pub source_type: MetricSourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_resource: Option<ContainerResourceMetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalMetricSource>,
}

/// `ResourceMetricSource`: a resource of the pods (`cpu`, `memory`), summed over containers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceMetricSource {
    #[serde(default)]
    pub name: String,
    pub target: MetricTarget,
}

/// `ContainerResourceMetricSource`: a resource of one named container of each pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResourceMetricSource {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub container: String,
    pub target: MetricTarget,
}

/// `PodsMetricSource`: a custom metric per pod, averaged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodsMetricSource {
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

/// `ObjectMetricSource`: a custom metric describing one object (an Ingress, a Service…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMetricSource {
    #[serde(default)]
    pub described_object: CrossVersionObjectReference,
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

/// `ExternalMetricSource`: a metric of something outside the cluster (a queue length…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalMetricSource {
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

/// `MetricIdentifier`: a metric name and an optional selector over its labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricIdentifier {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// `MetricTargetType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricTargetType {
    Utilization,
    Value,
    AverageValue,
}

impl MetricTargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricTargetType::Utilization => "Utilization",
            MetricTargetType::Value => "Value",
            MetricTargetType::AverageValue => "AverageValue",
        }
    }
}

/// `MetricTarget`: the value a metric should have. Quantities are milli-units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricTarget {
    #[serde(rename = "type")]
    pub target_type: MetricTargetType,
    /// Total value (Object, External), milli-units.
    #[serde(
        default,
        with = "option_milli",
        skip_serializing_if = "Option::is_none",
        rename = "value"
    )]
    pub value_milli: Option<i64>,
    /// Value per pod, milli-units.
    #[serde(
        default,
        with = "option_milli",
        skip_serializing_if = "Option::is_none",
        rename = "averageValue"
    )]
    pub average_value_milli: Option<i64>,
    /// Percent of the pods' requests (Resource, ContainerResource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

/// `HorizontalPodAutoscalerBehavior`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaBehavior {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HpaScalingRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HpaScalingRules>,
}

/// `HPAScalingRules`; absent parts take the defaults of `GenerateHPAScale{Up,Down}Rules`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaScalingRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Absent means the default policies; present and empty is a validation error, as
    /// upstream (defaulting only replaces a nil list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<HpaScalingPolicy>>,
    /// Ratio tolerance for this direction (`"0.05"`), milli-units.
    #[serde(
        default,
        with = "option_milli",
        skip_serializing_if = "Option::is_none",
        rename = "tolerance"
    )]
    pub tolerance_milli: Option<i64>,
}

/// `ScalingPolicySelect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// `HPAScalingPolicy`: at most `value` pods or percent per `periodSeconds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaScalingPolicy {
    #[serde(rename = "type")]
    pub policy_type: ScalingPolicyType,
    #[serde(default)]
    pub value: i32,
    #[serde(default)]
    pub period_seconds: i32,
}

/// `HPAScalingPolicyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalingPolicyType {
    Pods,
    Percent,
}

impl HpaScalingPolicy {
    pub fn pods(value: i32, period_seconds: i32) -> HpaScalingPolicy {
        HpaScalingPolicy {
            policy_type: ScalingPolicyType::Pods,
            value,
            period_seconds,
        }
    }

    pub fn percent(value: i32, period_seconds: i32) -> HpaScalingPolicy {
        HpaScalingPolicy {
            policy_type: ScalingPolicyType::Percent,
            value,
            period_seconds,
        }
    }
}

impl MetricTarget {
    pub fn utilization(percent: i32) -> MetricTarget {
        MetricTarget {
            target_type: MetricTargetType::Utilization,
            value_milli: None,
            average_value_milli: None,
            average_utilization: Some(percent),
        }
    }

    pub fn value(milli: i64) -> MetricTarget {
        MetricTarget {
            target_type: MetricTargetType::Value,
            value_milli: Some(milli),
            average_value_milli: None,
            average_utilization: None,
        }
    }

    pub fn average_value(milli: i64) -> MetricTarget {
        MetricTarget {
            target_type: MetricTargetType::AverageValue,
            value_milli: None,
            average_value_milli: Some(milli),
            average_utilization: None,
        }
    }
}

impl MetricSpec {
    fn empty(source_type: MetricSourceType) -> MetricSpec {
        MetricSpec {
            source_type,
            resource: None,
            container_resource: None,
            pods: None,
            object: None,
            external: None,
        }
    }

    /// A `Resource` metric (`cpu`, `memory`, …).
    pub fn resource(name: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            resource: Some(ResourceMetricSource {
                name: name.to_string(),
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::Resource)
        }
    }

    /// A `ContainerResource` metric of one named container.
    pub fn container_resource(name: &str, container: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            container_resource: Some(ContainerResourceMetricSource {
                name: name.to_string(),
                container: container.to_string(),
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::ContainerResource)
        }
    }

    /// A `Pods` metric with an `AverageValue` target in milli-units.
    pub fn pods(metric: &str, average_value_milli: i64) -> MetricSpec {
        MetricSpec {
            pods: Some(PodsMetricSource {
                metric: MetricIdentifier {
                    name: metric.to_string(),
                    selector: None,
                },
                target: MetricTarget::average_value(average_value_milli),
            }),
            ..MetricSpec::empty(MetricSourceType::Pods)
        }
    }

    /// An `Object` metric of `kind`/`name`.
    pub fn object(kind: &str, name: &str, metric: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            object: Some(ObjectMetricSource {
                described_object: CrossVersionObjectReference {
                    api_version: String::new(),
                    kind: kind.to_string(),
                    name: name.to_string(),
                },
                metric: MetricIdentifier {
                    name: metric.to_string(),
                    selector: None,
                },
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::Object)
        }
    }

    /// An `External` metric.
    pub fn external(metric: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            external: Some(ExternalMetricSource {
                metric: MetricIdentifier {
                    name: metric.to_string(),
                    selector: None,
                },
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::External)
        }
    }

    /// The metric upstream adds to a spec without metrics (`SetDefaults_HorizontalPodAutoscaler`):
    /// CPU at 80 % of requests.
    pub fn default_cpu() -> MetricSpec {
        MetricSpec::resource("cpu", MetricTarget::utilization(DEFAULT_CPU_UTILIZATION))
    }

    /// The target of whichever source matches `type`, if it is populated.
    pub fn target(&self) -> Option<&MetricTarget> {
        match self.source_type {
            MetricSourceType::Resource => self.resource.as_ref().map(|s| &s.target),
            MetricSourceType::ContainerResource => {
                self.container_resource.as_ref().map(|s| &s.target)
            }
            MetricSourceType::Pods => self.pods.as_ref().map(|s| &s.target),
            MetricSourceType::Object => self.object.as_ref().map(|s| &s.target),
            MetricSourceType::External => self.external.as_ref().map(|s| &s.target),
        }
    }

    /// The metric's name as the controller writes it in events and conditions
    /// (`metricNameProposal`), e.g. `cpu resource utilization (percentage of request)`.
    pub fn describe(&self) -> String {
        match self.source_type {
            MetricSourceType::Resource => match &self.resource {
                Some(s) if s.target.average_value_milli.is_some() => {
                    format!("{} resource", s.name)
                }
                Some(s) => format!("{} resource utilization (percentage of request)", s.name),
                None => "resource metric".to_string(),
            },
            MetricSourceType::ContainerResource => match &self.container_resource {
                Some(s) if s.target.average_value_milli.is_some() => {
                    format!("{} resource", s.name)
                }
                Some(s) => format!(
                    "{} container resource utilization (percentage of request)",
                    s.name
                ),
                None => "container resource metric".to_string(),
            },
            MetricSourceType::Pods => match &self.pods {
                Some(s) => format!("pods metric {}", s.metric.name),
                None => "pods metric".to_string(),
            },
            MetricSourceType::Object => match &self.object {
                Some(s) => format!("{} metric {}", s.described_object.kind, s.metric.name),
                None => "object metric".to_string(),
            },
            MetricSourceType::External => match &self.external {
                Some(s) => {
                    let selector = s
                        .metric
                        .selector
                        .as_ref()
                        .and_then(|selector| selector.to_selector_string().ok())
                        .unwrap_or_default();
                    format!("external metric {}({selector})", s.metric.name)
                }
                None => "external metric".to_string(),
            },
        }
    }
}

/// `autoscaling.DefaultCPUUtilization`.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

#[cfg(test)]
mod tests {
    use super::*;

    const CPU_AND_QUEUE: &str = r#"
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 2
maxReplicas: 10
metrics:
- type: Resource
  resource:
    name: cpu
    target: {type: Utilization, averageUtilization: 60}
- type: External
  external:
    metric:
      name: queue_messages_ready
      selector:
        matchLabels: {queue: worker}
        matchExpressions:
        - {key: env, operator: In, values: [prod, canary]}
    target: {type: AverageValue, averageValue: 30}
behavior:
  scaleDown:
    stabilizationWindowSeconds: 120
    policies: [{type: Percent, value: 10, periodSeconds: 60}]
    tolerance: "0.05"
"#;

    #[test]
    fn pasted_yaml_spec_reads_with_quantities_in_milli_units() {
        let spec: HpaSpec = serde_yaml_ng::from_str(CPU_AND_QUEUE).unwrap();
        assert_eq!(spec.min_replicas, Some(2));
        assert_eq!(
            spec.metrics[0].target().unwrap().average_utilization,
            Some(60)
        );
        let external = spec.metrics[1].external.as_ref().unwrap();
        assert_eq!(external.target.average_value_milli, Some(30_000));
        let down = spec.behavior.as_ref().unwrap().scale_down.as_ref().unwrap();
        assert_eq!(down.tolerance_milli, Some(50));
        assert_eq!(
            down.policies.as_ref().unwrap()[0],
            HpaScalingPolicy::percent(10, 60)
        );
        assert_eq!(
            spec.metrics[1].describe(),
            "external metric queue_messages_ready(queue=worker,env in (prod,canary))"
        );
    }

    #[test]
    fn spec_round_trips_through_json() {
        let spec: HpaSpec = serde_yaml_ng::from_str(CPU_AND_QUEUE).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains(r#""averageValue":"30""#), "{json}");
        let back: HpaSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_yaml_ng::from_str::<HpaSpec>(
            "scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 3\nmaxReplica: 4\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("maxReplica"), "{err}");
        let err = serde_json::from_str::<MetricTarget>(
            r#"{"type":"Utilization","averageUtilisation":50}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("averageUtilisation"), "{err}");
    }
}
