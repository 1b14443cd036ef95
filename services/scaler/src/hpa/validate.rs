//! The API server's validation of an HPA spec, so a spec we accept is one Kubernetes accepts
//! and every refusal names the field, as `kubectl apply` would
//! (`spec.metrics[1].resource.target.averageUtilization: must be greater than 0`).
//!
//! Follows `pkg/apis/autoscaling/validation/validation.go` (Kubernetes 1.34) with
//! `HPAScaleToZero` and `HPAConfigurableTolerance` enabled, applied to the spec as written
//! (before defaulting: an absent `policies` list is defaulted, an empty one is refused).
//! Messages are upstream's detail text without the `Invalid value: …` middle part.
//!
//! Deviations, all stricter than the API server and all about specs the controller could
//! not use as written:
//! - `target.type` must suit the source (`Utilization` only for Resource/ContainerResource,
//!   `AverageValue` only for Pods) and the field it names must be set. Upstream accepts, for
//!   example, an Object target of type `Value` holding only `averageValue`, which the
//!   controller then reports as an invalid metric on every sync.
//! - A metric `selector` must convert to a selector (`LabelSelectorAsSelector`); upstream
//!   finds out only when fetching the metric.
//! - `minReplicas` and `maxReplicas` above `i32::MAX` cannot be written at all (they are
//!   `i32`), as upstream.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::spec::{
    CrossVersionObjectReference, HpaScalingRules, HpaSpec, MetricIdentifier, MetricSourceType,
    MetricSpec, MetricTarget, MetricTargetType,
};
use super::HpaError;

/// `MaxStabilizationWindowSeconds`: one hour.
pub const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;
/// `MaxPeriodSeconds`: half an hour.
pub const MAX_PERIOD_SECONDS: i32 = 1800;

/// One broken rule: the JSON path of the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl HpaSpec {
    /// Checks the spec against the API validation rules; `Err` lists every broken rule.
    pub fn validate(&self) -> Result<(), HpaError> {
        let errors = validate_spec(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(HpaError::InvalidSpec { errors })
        }
    }
}

/// Every broken rule of `spec`, in the order upstream reports them.
pub fn validate_spec(spec: &HpaSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(min) = spec.min_replicas {
        if min < 0 {
            errors.push(FieldError::new(
                "spec.minReplicas",
                "must be greater than or equal to 0",
            ));
        }
    }
    if spec.max_replicas < 1 {
        errors.push(FieldError::new(
            "spec.maxReplicas",
            "must be greater than 0",
        ));
    }
    if let Some(min) = spec.min_replicas {
        if spec.max_replicas < min {
            errors.push(FieldError::new(
                "spec.maxReplicas",
                "must be greater than or equal to `minReplicas`",
            ));
        }
    }
    object_reference(&spec.scale_target_ref, "spec.scaleTargetRef", &mut errors);

    let mut scales_to_zero_ok = false;
    for (index, metric) in spec.metrics.iter().enumerate() {
        metric_spec(metric, &format!("spec.metrics[{index}]"), &mut errors);
        scales_to_zero_ok |= matches!(
            metric.source_type,
            MetricSourceType::Object | MetricSourceType::External
        );
    }
    if spec.min_replicas == Some(0) && !scales_to_zero_ok {
        errors.push(FieldError::new(
            "spec.metrics",
            "must specify at least one Object or External metric to support scaling to zero replicas",
        ));
    }

    if let Some(behavior) = &spec.behavior {
        if let Some(rules) = &behavior.scale_up {
            scaling_rules(rules, "spec.behavior.scaleUp", &mut errors);
        }
        if let Some(rules) = &behavior.scale_down {
            scaling_rules(rules, "spec.behavior.scaleDown", &mut errors);
        }
    }
    errors
}

fn object_reference(
    reference: &CrossVersionObjectReference,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (field, value) in [("kind", &reference.kind), ("name", &reference.name)] {
        if value.is_empty() {
            errors.push(FieldError::new(format!("{path}.{field}"), "Required value"));
        } else {
            path_segment_name(value, &format!("{path}.{field}"), errors);
        }
    }
}

/// `IsValidPathSegmentName`: the name becomes a URL path segment.
fn path_segment_name(name: &str, path: &str, errors: &mut Vec<FieldError>) {
    if name == "." || name == ".." {
        errors.push(FieldError::new(path, format!("may not be '{name}'")));
        return;
    }
    for forbidden in ['/', '%'] {
        if name.contains(forbidden) {
            errors.push(FieldError::new(
                path,
                format!("may not contain '{forbidden}'"),
            ));
        }
    }
}

fn metric_spec(metric: &MetricSpec, path: &str, errors: &mut Vec<FieldError>) {
    let present = [
        (MetricSourceType::Resource, metric.resource.is_some()),
        (
            MetricSourceType::ContainerResource,
            metric.container_resource.is_some(),
        ),
        (MetricSourceType::Pods, metric.pods.is_some()),
        (MetricSourceType::Object, metric.object.is_some()),
        (MetricSourceType::External, metric.external.is_some()),
    ];
    let expected = metric.source_type;
    let field = format!("{path}.{}", expected.field_name());
    match expected {
        MetricSourceType::Resource => match &metric.resource {
            Some(source) => {
                if source.name.is_empty() {
                    errors.push(FieldError::new(
                        format!("{field}.name"),
                        "must specify a resource name",
                    ));
                }
                utilization_or_value(&source.target, &field, errors);
            }
            None => missing_source(&field, errors),
        },
        MetricSourceType::ContainerResource => match &metric.container_resource {
            Some(source) => {
                if source.name.is_empty() {
                    errors.push(FieldError::new(
                        format!("{field}.name"),
                        "must specify a resource name",
                    ));
                } else if !is_container_resource_name(&source.name) {
                    errors.push(FieldError::new(
                        format!("{field}.name"),
                        "must be a standard resource type or fully qualified",
                    ));
                }
                if source.container.is_empty() {
                    errors.push(FieldError::new(
                        format!("{field}.container"),
                        "must specify a container",
                    ));
                } else if !is_dns1123_label(&source.container) {
                    errors.push(FieldError::new(
                        format!("{field}.container"),
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                    ));
                }
                utilization_or_value(&source.target, &field, errors);
            }
            None => missing_source(&field, errors),
        },
        MetricSourceType::Pods => match &metric.pods {
            Some(source) => {
                identifier(&source.metric, &format!("{field}.metric"), errors);
                metric_target(
                    &source.target,
                    &field,
                    &[MetricTargetType::AverageValue],
                    errors,
                );
                if source.target.average_value_milli.is_none() {
                    errors.push(FieldError::new(
                        format!("{field}.target.averageValue"),
                        "must specify a positive target averageValue",
                    ));
                }
            }
            None => missing_source(&field, errors),
        },
        MetricSourceType::Object => match &metric.object {
            Some(source) => {
                object_reference(
                    &source.described_object,
                    &format!("{field}.describedObject"),
                    errors,
                );
                identifier(&source.metric, &format!("{field}.metric"), errors);
                let allowed = [MetricTargetType::Value, MetricTargetType::AverageValue];
                metric_target(&source.target, &field, &allowed, errors);
                if source.target.value_milli.is_none()
                    && source.target.average_value_milli.is_none()
                {
                    errors.push(FieldError::new(
                        format!("{field}.target.averageValue"),
                        "must set either a target value or averageValue",
                    ));
                }
            }
            None => missing_source(&field, errors),
        },
        MetricSourceType::External => match &metric.external {
            Some(source) => {
                identifier(&source.metric, &format!("{field}.metric"), errors);
                let allowed = [MetricTargetType::Value, MetricTargetType::AverageValue];
                metric_target(&source.target, &field, &allowed, errors);
                let target = &source.target;
                if target.value_milli.is_none() && target.average_value_milli.is_none() {
                    errors.push(FieldError::new(
                        format!("{field}.target.averageValue"),
                        "must set either a target value for metric or a per-pod target",
                    ));
                }
                if target.value_milli.is_some() && target.average_value_milli.is_some() {
                    errors.push(FieldError::new(
                        format!("{field}.target.value"),
                        "may not set both a target value for metric and a per-pod target",
                    ));
                }
            }
            None => missing_source(&field, errors),
        },
    }
    for (source_type, is_present) in present {
        if is_present && source_type != expected {
            errors.push(FieldError::new(
                format!("{path}.{}", source_type.field_name()),
                "must populate the given metric source only",
            ));
        }
    }
}

fn missing_source(field: &str, errors: &mut Vec<FieldError>) {
    errors.push(FieldError::new(
        field,
        "must populate information for the given metric source",
    ));
}

/// The target rules shared by Resource and ContainerResource.
fn utilization_or_value(target: &MetricTarget, field: &str, errors: &mut Vec<FieldError>) {
    let allowed = [
        MetricTargetType::Utilization,
        MetricTargetType::AverageValue,
    ];
    metric_target(target, field, &allowed, errors);
    if target.average_utilization.is_none() && target.average_value_milli.is_none() {
        errors.push(FieldError::new(
            format!("{field}.target.averageUtilization"),
            "must set either a target raw value or a target utilization",
        ));
    }
    if target.average_utilization.is_some() && target.average_value_milli.is_some() {
        errors.push(FieldError::new(
            format!("{field}.target.averageValue"),
            "may not set both a target raw value and a target utilization",
        ));
    }
}

/// `validateMetricTarget`, plus the type/source match described in the module docs.
fn metric_target(
    target: &MetricTarget,
    field: &str,
    allowed: &[MetricTargetType],
    errors: &mut Vec<FieldError>,
) {
    let path = format!("{field}.target");
    if !allowed.contains(&target.target_type) {
        let supported = allowed
            .iter()
            .map(|kind| format!("\"{}\"", kind.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        errors.push(FieldError::new(
            format!("{path}.type"),
            format!(
                "Unsupported value: \"{}\": supported values: {supported}",
                target.target_type.as_str()
            ),
        ));
    } else {
        let (name, set) = match target.target_type {
            MetricTargetType::Utilization => {
                ("averageUtilization", target.average_utilization.is_some())
            }
            MetricTargetType::Value => ("value", target.value_milli.is_some()),
            MetricTargetType::AverageValue => {
                ("averageValue", target.average_value_milli.is_some())
            }
        };
        if !set {
            errors.push(FieldError::new(
                format!("{path}.{name}"),
                format!("must be set when type is {}", target.target_type.as_str()),
            ));
        }
    }
    if target.value_milli.is_some_and(|milli| milli <= 0) {
        errors.push(FieldError::new(format!("{path}.value"), "must be positive"));
    }
    if target.average_value_milli.is_some_and(|milli| milli <= 0) {
        errors.push(FieldError::new(
            format!("{path}.averageValue"),
            "must be positive",
        ));
    }
    if target
        .average_utilization
        .is_some_and(|percent| percent < 1)
    {
        errors.push(FieldError::new(
            format!("{path}.averageUtilization"),
            "must be greater than 0",
        ));
    }
}

fn identifier(metric: &MetricIdentifier, path: &str, errors: &mut Vec<FieldError>) {
    if metric.name.is_empty() {
        errors.push(FieldError::new(
            format!("{path}.name"),
            "must specify a metric name",
        ));
    } else {
        path_segment_name(&metric.name, &format!("{path}.name"), errors);
    }
    if let Some(selector) = &metric.selector {
        if let Err(message) = selector.to_selector_string() {
            errors.push(FieldError::new(format!("{path}.selector"), message));
        }
    }
}

fn scaling_rules(rules: &HpaScalingRules, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(window) = rules.stabilization_window_seconds {
        if window < 0 {
            errors.push(FieldError::new(
                format!("{path}.stabilizationWindowSeconds"),
                "must be greater than or equal to zero",
            ));
        }
        if window > MAX_STABILIZATION_WINDOW_SECONDS {
            errors.push(FieldError::new(
                format!("{path}.stabilizationWindowSeconds"),
                format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(policies) = &rules.policies {
        if policies.is_empty() {
            errors.push(FieldError::new(
                format!("{path}.policies"),
                "must specify at least one Policy",
            ));
        }
        for (index, policy) in policies.iter().enumerate() {
            let policy_path = format!("{path}.policies[{index}]");
            if policy.value <= 0 {
                errors.push(FieldError::new(
                    format!("{policy_path}.value"),
                    "must be greater than zero",
                ));
            }
            if policy.period_seconds <= 0 {
                errors.push(FieldError::new(
                    format!("{policy_path}.periodSeconds"),
                    "must be greater than zero",
                ));
            }
            if policy.period_seconds > MAX_PERIOD_SECONDS {
                errors.push(FieldError::new(
                    format!("{policy_path}.periodSeconds"),
                    format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
                ));
            }
        }
    }
    if rules.tolerance_milli.is_some_and(|milli| milli < 0) {
        errors.push(FieldError::new(
            format!("{path}.tolerance"),
            "must be greater or equal to zero",
        ));
    }
}

/// `ValidateContainerResourceName`: a standard resource or a fully qualified (`a.b/c`) name.
fn is_container_resource_name(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "storage" | "ephemeral-storage")
        || name.starts_with("hugepages-")
        || name.contains('/')
}

/// `IsDNS1123Label`: at most 63 lowercase alphanumerics or `-`, alphanumeric at both ends.
fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    name.len() <= 63
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(yaml: &str) -> Vec<String> {
        let spec: HpaSpec = serde_yaml_ng::from_str(yaml).unwrap();
        validate_spec(&spec)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const HEAD: &str = "scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 5\n";

    #[test]
    fn valid_spec_has_no_errors() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: Resource\n  resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}\n"
        );
        assert!(messages(&yaml).is_empty());
    }

    #[test]
    fn replica_bounds_are_checked() {
        let errors = messages(
            "scaleTargetRef: {kind: Deployment, name: web}\nminReplicas: 7\nmaxReplicas: 5\n",
        );
        assert_eq!(
            errors,
            ["spec.maxReplicas: must be greater than or equal to `minReplicas`"]
        );
        let errors = messages("scaleTargetRef: {kind: Deployment}\nmaxReplicas: 0\n");
        assert_eq!(
            errors,
            [
                "spec.maxReplicas: must be greater than 0",
                "spec.scaleTargetRef.name: Required value"
            ]
        );
    }

    #[test]
    fn utilization_below_one_names_the_metric_index() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: External\n  external: {{metric: {{name: q}}, target: {{type: Value, value: 3}}}}\n\
             - type: Resource\n  resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 0}}}}\n"
        );
        assert_eq!(
            messages(&yaml),
            ["spec.metrics[1].resource.target.averageUtilization: must be greater than 0"]
        );
    }

    #[test]
    fn scale_to_zero_needs_an_object_or_external_metric() {
        let zero =
            "scaleTargetRef: {kind: Deployment, name: web}\nminReplicas: 0\nmaxReplicas: 5\n";
        assert_eq!(
            messages(zero),
            ["spec.metrics: must specify at least one Object or External metric to support scaling to zero replicas"]
        );
        let with_external = format!(
            "{zero}metrics:\n- type: External\n  external: {{metric: {{name: q}}, target: {{type: AverageValue, averageValue: 3}}}}\n"
        );
        assert!(messages(&with_external).is_empty());
        let negative =
            "scaleTargetRef: {kind: Deployment, name: web}\nminReplicas: -1\nmaxReplicas: 5\n";
        assert!(messages(negative)[0].contains("must be greater than or equal to 0"));
    }

    #[test]
    fn metric_sources_must_match_the_type() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: Pods\n  resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 5}}}}\n"
        );
        assert_eq!(
            messages(&yaml),
            [
                "spec.metrics[0].pods: must populate information for the given metric source",
                "spec.metrics[0].resource: must populate the given metric source only",
            ]
        );
    }

    #[test]
    fn target_type_must_suit_the_source() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: Pods\n  pods: {{metric: {{name: rps}}, target: {{type: Utilization, averageValue: 5}}}}\n"
        );
        assert_eq!(
            messages(&yaml),
            ["spec.metrics[0].pods.target.type: Unsupported value: \"Utilization\": supported values: \"AverageValue\""]
        );
        let yaml = format!(
            "{HEAD}metrics:\n- type: Object\n  object: {{describedObject: {{kind: Service, name: s}}, metric: {{name: rps}}, target: {{type: Value, averageValue: 5}}}}\n"
        );
        assert_eq!(
            messages(&yaml),
            ["spec.metrics[0].object.target.value: must be set when type is Value"]
        );
    }

    #[test]
    fn external_targets_take_one_of_value_or_average_value() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: External\n  external: {{metric: {{name: q/x}}, target: {{type: Value, value: 3, averageValue: -1}}}}\n"
        );
        assert_eq!(
            messages(&yaml),
            [
                "spec.metrics[0].external.metric.name: may not contain '/'",
                "spec.metrics[0].external.target.averageValue: must be positive",
                "spec.metrics[0].external.target.value: may not set both a target value for metric and a per-pod target",
            ]
        );
    }

    #[test]
    fn container_resource_needs_a_valid_container_and_resource() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: ContainerResource\n  containerResource: {{name: InvalidResource, container: '---***', target: {{type: Utilization, averageUtilization: 60}}}}\n"
        );
        let errors = messages(&yaml);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].ends_with("must be a standard resource type or fully qualified"));
        assert!(errors[1].starts_with(
            "spec.metrics[0].containerResource.container: a lowercase RFC 1123 label"
        ));
    }

    #[test]
    fn behavior_rules_follow_the_api_limits() {
        let yaml = format!(
            "{HEAD}behavior:\n  scaleUp:\n    stabilizationWindowSeconds: 3601\n    policies: [{{type: Pods, value: 0, periodSeconds: 1801}}]\n  scaleDown:\n    policies: []\n    tolerance: '-0.001'\n"
        );
        assert_eq!(
            messages(&yaml),
            [
                "spec.behavior.scaleUp.stabilizationWindowSeconds: must be less than or equal to 3600",
                "spec.behavior.scaleUp.policies[0].value: must be greater than zero",
                "spec.behavior.scaleUp.policies[0].periodSeconds: must be less than or equal to 1800",
                "spec.behavior.scaleDown.policies: must specify at least one Policy",
                "spec.behavior.scaleDown.tolerance: must be greater or equal to zero",
            ]
        );
        let absent_policies = format!(
            "{HEAD}behavior:\n  scaleUp: {{stabilizationWindowSeconds: 60, tolerance: 10}}\n"
        );
        assert!(messages(&absent_policies).is_empty());
    }

    #[test]
    fn invalid_metric_selector_is_refused_at_load() {
        let yaml = format!(
            "{HEAD}metrics:\n- type: External\n  external:\n    metric: {{name: q, selector: {{matchExpressions: [{{key: a, operator: Exists, values: [x]}}]}}}}\n    target: {{type: Value, value: 3}}\n"
        );
        assert_eq!(
            messages(&yaml),
            ["spec.metrics[0].external.metric.selector: matchExpressions[0].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]
        );
    }
}
