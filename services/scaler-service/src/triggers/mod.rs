//! Metric sources declared the way KEDA declares triggers (`type`, `metadata`,
//! `metricType`), so the `triggers:` of an existing ScaledObject can be pasted into a
//! policy and give the same metric, target and activation.
//!
//! Each trigger type has a pure half — metadata parsing with KEDA's keys and defaults, and
//! the arithmetic that turns what the source returned into a value — and a fetch half that
//! talks to the source. Values follow KEDA's conventions exactly: the reading is sent to the
//! HPA as `int64(value × 1000)` milli-units (`GenerateMetricInMili`), activation is a strict
//! `value > activation threshold`, and the metric target defaults to `AverageValue`.
//!
//! - [`sqs`]: `aws-sqs-queue`, queue depth from `GetQueueAttributes`;
//! - [`cloudwatch`]: `aws-cloudwatch`, the newest datapoint of `GetMetricData`;
//! - [`prometheus`]: `prometheus`, an instant query against the store or any
//!   Prometheus-compatible API.

pub mod cloudwatch;
pub mod metadata;
pub mod prometheus;
pub mod sqs;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use metadata::MetadataError;

/// A trigger as written in a policy (and in a KEDA ScaledObject).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TriggerSpec {
    /// `aws-sqs-queue`, `aws-cloudwatch` or `prometheus`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Optional name, used in logs and the decision log.
    #[serde(default)]
    pub name: Option<String>,
    /// `AverageValue` (the default) or `Value`, as in KEDA.
    #[serde(default)]
    pub metric_type: Option<MetricTargetType>,
    /// KEDA's metadata keys, every value a string.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// How the HPA compares a trigger's value with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum MetricTargetType {
    /// Value divided by the current replicas: "this many per replica" (KEDA's default).
    #[default]
    AverageValue,
    /// The value itself against the target, scaled by the ready pods.
    Value,
}

/// A parsed, validated trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Sqs(sqs::SqsTrigger),
    CloudWatch(cloudwatch::CloudWatchTrigger),
    Prometheus(prometheus::PrometheusTrigger),
}

/// What the HPA is given for a trigger: KEDA's `GetMetricSpecForScaling`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMetric {
    /// `s{index}-{name}`, the External metric name KEDA gives the HPA.
    pub metric_name: String,
    pub target_type: MetricTargetType,
    /// The target in milli-units, as KEDA builds it (`int64(target × 1000)`).
    pub target_milli: i64,
}

/// One reading of a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerReading {
    pub value: f64,
    /// The value sent to the HPA: `int64(value × 1000)`.
    pub value_milli: i64,
    /// `value > activation threshold`.
    pub active: bool,
}

impl TriggerReading {
    pub fn new(value: f64, activation: f64) -> TriggerReading {
        TriggerReading {
            value,
            value_milli: milli_of(value),
            active: value > activation,
        }
    }
}

/// Go's `int64(value * 1000)`: truncation toward zero, saturating (Go's conversion of an
/// out-of-range float is implementation-defined; saturating is what amd64 gives for
/// positive overflow in practice and the only sane choice).
pub fn milli_of(value: f64) -> i64 {
    let scaled = value * 1000.0;
    if scaled.is_nan() {
        0
    } else {
        scaled as i64
    }
}

impl Trigger {
    /// Parses a trigger; `index` is its position in the policy's `triggers`, which names
    /// its metric (`s0-…`) as KEDA does.
    pub fn parse(spec: &TriggerSpec, index: usize) -> Result<Trigger, MetadataError> {
        let trigger = match spec.kind.as_str() {
            "aws-sqs-queue" => Trigger::Sqs(sqs::SqsTrigger::parse(&spec.metadata, index)?),
            "aws-cloudwatch" => {
                Trigger::CloudWatch(cloudwatch::CloudWatchTrigger::parse(&spec.metadata, index)?)
            }
            "prometheus" => {
                Trigger::Prometheus(prometheus::PrometheusTrigger::parse(&spec.metadata, index)?)
            }
            other => {
                return Err(MetadataError::UnknownType {
                    kind: other.to_owned(),
                })
            }
        };
        Ok(trigger)
    }

    /// The External metric this trigger gives the HPA.
    pub fn metric(&self, metric_type: MetricTargetType) -> TriggerMetric {
        let (metric_name, target) = match self {
            Trigger::Sqs(trigger) => (trigger.metric_name.clone(), trigger.queue_length as f64),
            Trigger::CloudWatch(trigger) => {
                (trigger.metric_name.clone(), trigger.target_metric_value)
            }
            Trigger::Prometheus(trigger) => (trigger.metric_name.clone(), trigger.threshold),
        };
        TriggerMetric {
            metric_name,
            target_type: metric_type,
            target_milli: milli_of(target),
        }
    }

    /// The trigger type, as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Sqs(_) => "aws-sqs-queue",
            Trigger::CloudWatch(_) => "aws-cloudwatch",
            Trigger::Prometheus(_) => "prometheus",
        }
    }
}

/// KEDA's `NormalizeString` for metric names: lower case, with characters a metric name
/// cannot hold replaced by `-`.
pub fn normalize_metric_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect()
}
