//! What the caller observed for each metric, in the form the calculation needs and the form
//! documents use.
//!
//! The control loop fetches metrics (metrics-server, the custom and external metrics APIs,
//! or our own store) and hands over one [`MetricObservation`] per metric of the spec: per-pod
//! samples for Resource, ContainerResource and Pods metrics (with the sample's timestamp and
//! window, which the CPU readiness rules compare against the Ready condition), the value of an
//! Object metric, the items of an External metric, or the error that made the fetch fail.
//! Values are milli-units, as the controller reads them (`MilliValue()`).
//!
//! The document form of per-pod samples lets a shared `timestamp` and `window` be written
//! once; a sample without a window gets the controller's default for custom metrics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::settings::duration_ms_text;
use crate::time::{option_rfc3339_ms, rfc3339_ms};
use crate::units::milli;

/// Default window of a sample without one: the controller's default for custom metrics
/// (`metricServerDefaultMetricWindow`, one minute).
pub const DEFAULT_METRIC_WINDOW_MS: i64 = 60_000;

/// What the caller read for one metric of the spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum MetricObservation {
    /// One sample per pod (by pod name), for Resource, ContainerResource (the named
    /// container's usage) and Pods metrics.
    PerPod(PodMetrics),
    /// The value of an Object metric.
    Object(ObjectObservation),
    /// The values returned for an External metric; the controller uses their sum.
    External(ExternalObservation),
    /// The fetch failed, or the caller judged the data stale: the metric is invalid.
    /// Written `{"error": "…"}`.
    #[serde(rename = "error")]
    Failed(String),
}

/// A pod's sample: usage in milli-units, when it was taken and over which window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodMetricSample {
    #[serde(rename = "value", with = "milli")]
    pub value_milli: i64,
    #[serde(rename = "timestamp", with = "rfc3339_ms")]
    pub timestamp_ms: i64,
    #[serde(rename = "window", with = "duration_ms_text")]
    pub window_ms: i64,
}

/// Samples by pod name. In documents, a shared `timestamp` and `window` may be given once and
/// each pod's entry may be a bare quantity:
/// `{"timestamp": "…", "window": "30s", "values": {"web-1": "250m", "web-2": {"value": 1, "timestamp": "…"}}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPodMetrics", into = "RawPodMetrics")]
pub struct PodMetrics {
    pub samples: BTreeMap<String, PodMetricSample>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPodMetrics {
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none"
    )]
    timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<RawWindow>,
    values: BTreeMap<String, RawPodSample>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct RawWindow(#[serde(with = "duration_ms_text")] i64);

#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawPodSample {
    Full(RawPodSampleFields),
    Value(#[serde(with = "milli")] i64),
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPodSampleFields {
    #[serde(with = "milli")]
    value: i64,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none"
    )]
    timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<RawWindow>,
}

impl TryFrom<RawPodMetrics> for PodMetrics {
    type Error = String;

    fn try_from(raw: RawPodMetrics) -> Result<PodMetrics, String> {
        let mut samples = BTreeMap::new();
        for (pod, entry) in raw.values {
            let (value_milli, timestamp, window) = match entry {
                RawPodSample::Value(value) => (value, None, None),
                RawPodSample::Full(fields) => (fields.value, fields.timestamp, fields.window),
            };
            let timestamp_ms = timestamp.or(raw.timestamp).ok_or_else(|| {
                format!(
                    "sample of pod {pod:?} has no timestamp (set one on the sample or the metric)"
                )
            })?;
            let window_ms = window
                .or(raw.window.clone())
                .map_or(DEFAULT_METRIC_WINDOW_MS, |window| window.0);
            samples.insert(
                pod,
                PodMetricSample {
                    value_milli,
                    timestamp_ms,
                    window_ms,
                },
            );
        }
        Ok(PodMetrics { samples })
    }
}

impl From<PodMetrics> for RawPodMetrics {
    fn from(metrics: PodMetrics) -> RawPodMetrics {
        let values = metrics
            .samples
            .into_iter()
            .map(|(pod, sample)| {
                let fields = RawPodSampleFields {
                    value: sample.value_milli,
                    timestamp: Some(sample.timestamp_ms),
                    window: Some(RawWindow(sample.window_ms)),
                };
                (pod, RawPodSample::Full(fields))
            })
            .collect();
        RawPodMetrics {
            timestamp: None,
            window: None,
            values,
        }
    }
}

impl PodMetrics {
    /// Samples all taken at `timestamp_ms` over `window_ms`, from `(pod, milli-units)` pairs.
    pub fn uniform<'a>(
        timestamp_ms: i64,
        window_ms: i64,
        values: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> PodMetrics {
        let samples = values
            .into_iter()
            .map(|(pod, value_milli)| {
                (
                    pod.to_string(),
                    PodMetricSample {
                        value_milli,
                        timestamp_ms,
                        window_ms,
                    },
                )
            })
            .collect();
        PodMetrics { samples }
    }
}

/// The value of an Object metric, milli-units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectObservation {
    #[serde(rename = "value", with = "milli")]
    pub value_milli: i64,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "timestamp"
    )]
    pub timestamp_ms: Option<i64>,
}

/// The items of an External metric, milli-units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalObservation {
    #[serde(rename = "values", with = "milli_list")]
    pub values_milli: Vec<i64>,
    #[serde(
        default,
        with = "option_rfc3339_ms",
        skip_serializing_if = "Option::is_none",
        rename = "timestamp"
    )]
    pub timestamp_ms: Option<i64>,
}

mod milli_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Item(#[serde(with = "crate::units::milli")] i64);

    pub fn serialize<S: Serializer>(values: &[i64], serializer: S) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|v| Item(*v))
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
        Ok(Vec::<Item>::deserialize(deserializer)?
            .into_iter()
            .map(|item| item.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_pod_document_form_shares_timestamp_and_window() {
        let json = r#"{"perPod": {"timestamp": "2026-03-01T12:00:00Z", "window": "30s",
            "values": {"a": "250m", "b": {"value": 2, "timestamp": "2026-03-01T12:00:05Z"}}}}"#;
        let MetricObservation::PerPod(metrics) = serde_json::from_str(json).unwrap() else {
            panic!("not per-pod");
        };
        let a = &metrics.samples["a"];
        let b = &metrics.samples["b"];
        assert_eq!((a.value_milli, a.window_ms), (250, 30_000));
        assert_eq!(b.value_milli, 2000);
        assert_eq!(b.timestamp_ms - a.timestamp_ms, 5_000);
        let round_trip: MetricObservation = serde_json::from_str(
            &serde_json::to_string(&MetricObservation::PerPod(metrics.clone())).unwrap(),
        )
        .unwrap();
        assert_eq!(round_trip, MetricObservation::PerPod(metrics));
    }

    #[test]
    fn per_pod_sample_without_any_timestamp_is_refused() {
        let err = serde_json::from_str::<MetricObservation>(r#"{"perPod": {"values": {"a": 1}}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("has no timestamp"), "{err}");
    }

    #[test]
    fn external_and_failed_observations_read() {
        let external: MetricObservation =
            serde_json::from_str(r#"{"external": {"values": ["5", 3, "500m"]}}"#).unwrap();
        assert_eq!(
            external,
            MetricObservation::External(ExternalObservation {
                values_milli: vec![5000, 3000, 500],
                timestamp_ms: None
            })
        );
        let failed: MetricObservation =
            serde_json::from_str(r#"{"error": "connection refused"}"#).unwrap();
        assert_eq!(
            failed,
            MetricObservation::Failed("connection refused".into())
        );
    }
}
