//! `VerticalPodAutoscalerCheckpoint` objects (autoscaling.k8s.io/v1, format "v3"): what a
//! recommender stores so that a restart does not forget a container's history.
//!
//! The JSON shape is upstream's (`pkg/apis/autoscaling.k8s.io/v1/types.go`), so checkpoints
//! written by a running VPA (`kubectl get vpacheckpoint -o json`) load here and ours load
//! there. Saving and loading follow `AggregateContainerState.SaveToCheckpoint` /
//! `LoadFromCheckpoint` and the histogram rules: each bucket is scaled so the largest is
//! 10,000 (`floor(w·10000/max + 0.5)`, zeros dropped); loading rescales the integers so
//! they sum to `totalWeight`, refusing negative totals and buckets outside the histogram.
//! A checkpoint is lossy (weights keep about four digits) but percentiles survive: the
//! tests check that a saved aggregate loads back to the same percentiles.
//!
//! Unknown fields are ignored, unlike in user-written specs: these objects come from the
//! API server, whose `metadata` carries uid, resourceVersion, managedFields and the like.
//! Timestamps are written with milliseconds when they have them; Kubernetes reads both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::container::{AggregateContainerState, AggregationConfig};
use super::decaying::DecayingCheckpoint;
use super::histogram::BucketWeights;
use super::VpaError;
use crate::time::option_rfc3339_ms;

/// The only checkpoint format version read and written (`SupportedCheckpointVersion`).
pub const CHECKPOINT_VERSION: &str = "v3";
/// `apiVersion` of checkpoint objects.
pub const API_VERSION: &str = "autoscaling.k8s.io/v1";
/// `kind` of checkpoint objects.
pub const KIND: &str = "VerticalPodAutoscalerCheckpoint";

/// A `VerticalPodAutoscalerCheckpoint` object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VpaCheckpoint {
    /// `autoscaling.k8s.io/v1`.
    pub api_version: String,
    /// `VerticalPodAutoscalerCheckpoint`.
    pub kind: String,
    /// Name (`<vpa>-<container>`) and namespace.
    pub metadata: CheckpointMetadata,
    /// Which VPA and container.
    pub spec: CheckpointSpec,
    /// The saved state.
    pub status: CheckpointStatus,
}

/// The part of `metadata` a checkpoint needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointMetadata {
    /// Object name.
    pub name: String,
    /// Namespace of the VPA.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// `spec` (`VerticalPodAutoscalerCheckpointSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CheckpointSpec {
    /// Name of the VPA object.
    pub vpa_object_name: String,
    /// Name of the container.
    pub container_name: String,
}

/// `status` (`VerticalPodAutoscalerCheckpointStatus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CheckpointStatus {
    /// When the checkpoint was written.
    #[serde(with = "option_rfc3339_ms")]
    pub last_update_time: Option<i64>,
    /// Format version, "v3".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// CPU usage histogram (cores).
    pub cpu_histogram: HistogramCheckpoint,
    /// Memory peak histogram (bytes).
    pub memory_histogram: HistogramCheckpoint,
    /// Start of the first CPU sample.
    #[serde(with = "option_rfc3339_ms")]
    pub first_sample_start: Option<i64>,
    /// Start of the last CPU sample.
    #[serde(with = "option_rfc3339_ms")]
    pub last_sample_start: Option<i64>,
    /// Number of CPU samples.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_samples_count: u64,
}

/// One histogram (`HistogramCheckpoint`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HistogramCheckpoint {
    /// Reference time of the decay; `null` before the first sample.
    #[serde(with = "option_rfc3339_ms")]
    pub reference_timestamp: Option<i64>,
    /// Bucket index → weight, the largest scaled to 10,000.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bucket_weights: BTreeMap<i64, u32>,
    /// Sum of the unscaled weights.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub total_weight: f64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

fn is_zero_f64(weight: &f64) -> bool {
    *weight == 0.0
}

impl HistogramCheckpoint {
    fn from_decaying(checkpoint: DecayingCheckpoint) -> Self {
        HistogramCheckpoint {
            reference_timestamp: checkpoint.reference_ms,
            bucket_weights: checkpoint.buckets.weights,
            total_weight: checkpoint.buckets.total_weight,
        }
    }

    fn to_decaying(&self) -> DecayingCheckpoint {
        DecayingCheckpoint {
            reference_ms: self.reference_timestamp,
            buckets: BucketWeights {
                weights: self.bucket_weights.clone(),
                total_weight: self.total_weight,
            },
        }
    }
}

impl VpaCheckpoint {
    /// Reads a checkpoint object from JSON.
    pub fn from_json(text: &str) -> Result<Self, VpaError> {
        serde_json::from_str(text).map_err(|source| VpaError::Decode {
            what: "VerticalPodAutoscalerCheckpoint",
            source,
        })
    }

    /// The checkpoint of an aggregate, named `<vpa>-<container>` like upstream's writer.
    pub fn save(
        state: &AggregateContainerState,
        namespace: &str,
        vpa_name: &str,
        container_name: &str,
        now_ms: i64,
    ) -> Self {
        VpaCheckpoint {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: CheckpointMetadata {
                name: format!("{vpa_name}-{container_name}"),
                namespace: namespace.to_owned(),
            },
            spec: CheckpointSpec {
                vpa_object_name: vpa_name.to_owned(),
                container_name: container_name.to_owned(),
            },
            status: save_status(state, now_ms),
        }
    }

    /// The aggregate this checkpoint describes, created at `now_ms`.
    pub fn load(
        &self,
        config: &AggregationConfig,
        now_ms: i64,
    ) -> Result<AggregateContainerState, VpaError> {
        load_status(&self.status, config, now_ms)
    }
}

/// `SaveToCheckpoint`: both histograms plus the CPU sample span.
pub fn save_status(state: &AggregateContainerState, now_ms: i64) -> CheckpointStatus {
    CheckpointStatus {
        last_update_time: Some(now_ms),
        version: CHECKPOINT_VERSION.to_owned(),
        cpu_histogram: HistogramCheckpoint::from_decaying(state.cpu().save_checkpoint()),
        memory_histogram: HistogramCheckpoint::from_decaying(state.memory().save_checkpoint()),
        first_sample_start: state.first_sample_ms(),
        last_sample_start: state.last_sample_ms(),
        total_samples_count: state.total_samples_count(),
    }
}

/// `LoadFromCheckpoint` into a new aggregate: version check, then memory, then CPU.
pub fn load_status(
    status: &CheckpointStatus,
    config: &AggregationConfig,
    now_ms: i64,
) -> Result<AggregateContainerState, VpaError> {
    if status.version != CHECKPOINT_VERSION {
        return Err(VpaError::UnsupportedCheckpointVersion {
            version: status.version.clone(),
        });
    }
    let mut state = AggregateContainerState::new(config, now_ms);
    state.set_sample_span(
        status.first_sample_start,
        status.last_sample_start,
        status.total_samples_count,
    );
    let (cpu, memory) = state.histograms_mut();
    memory.load_checkpoint(&status.memory_histogram.to_decaying(), "memory")?;
    cpu.load_checkpoint(&status.cpu_histogram.to_decaying(), "cpu")?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T_MS: i64 = 1_700_000_000_000;

    fn aggregate() -> AggregateContainerState {
        let config = AggregationConfig::default();
        let mut state = AggregateContainerState::new(&config, T_MS);
        for i in 0..600 {
            state.add_cpu_sample(T_MS + i * 60_000, 200 + (i % 7) * 30, 0);
        }
        state.apply_peak_change(super::super::PeakChange::Add {
            bytes: 300 << 20,
            window_end_ms: T_MS + 86_400_000,
        });
        state
    }

    #[test]
    fn saved_checkpoint_has_upstream_shape() {
        let checkpoint = VpaCheckpoint::save(&aggregate(), "shop", "web", "app", T_MS + 3_600_000);
        let json = serde_json::to_value(&checkpoint).unwrap();
        assert_eq!(json["apiVersion"], "autoscaling.k8s.io/v1");
        assert_eq!(json["metadata"]["name"], "web-app");
        assert_eq!(json["spec"]["vpaObjectName"], "web");
        assert_eq!(json["status"]["version"], "v3");
        assert_eq!(json["status"]["totalSamplesCount"], 600);
        let weights = json["status"]["cpuHistogram"]["bucketWeights"]
            .as_object()
            .unwrap();
        assert!(weights.values().any(|w| w == 10_000));
        assert!(json["status"]["memoryHistogram"]["referenceTimestamp"].is_string());
    }

    #[test]
    fn loading_requires_version_v3() {
        let mut checkpoint = VpaCheckpoint::save(&aggregate(), "shop", "web", "app", T_MS);
        checkpoint.status.version = "v2".into();
        let err = checkpoint
            .load(&AggregationConfig::default(), T_MS)
            .unwrap_err();
        assert_eq!(err.reason(), "unsupported_checkpoint_version");
    }

    #[test]
    fn loading_rejects_bad_histograms_with_precise_errors() {
        let mut checkpoint = VpaCheckpoint::save(&aggregate(), "shop", "web", "app", T_MS);
        checkpoint
            .status
            .cpu_histogram
            .bucket_weights
            .insert(176, 5);
        let err = checkpoint
            .load(&AggregationConfig::default(), T_MS)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cpu histogram checkpoint has bucket 176, outside 0..176"
        );
        let mut checkpoint = VpaCheckpoint::save(&aggregate(), "shop", "web", "app", T_MS);
        checkpoint
            .status
            .memory_histogram
            .bucket_weights
            .insert(-1, 5);
        let err = checkpoint
            .load(&AggregationConfig::default(), T_MS)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "memory histogram checkpoint has bucket -1, outside 0..176"
        );
        checkpoint.status.memory_histogram.total_weight = -1.0;
        let err = checkpoint
            .load(&AggregationConfig::default(), T_MS)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "memory histogram checkpoint has negative total weight -1"
        );
    }

    #[test]
    fn null_timestamps_and_missing_fields_read_as_empty() {
        let json = r#"{"status":{"version":"v3","firstSampleStart":null,"cpuHistogram":{}}}"#;
        let checkpoint = VpaCheckpoint::from_json(json).unwrap();
        let state = checkpoint
            .load(&AggregationConfig::default(), T_MS)
            .unwrap();
        assert!(state.cpu().is_empty());
        assert_eq!(state.first_sample_ms(), None);
        assert!(VpaCheckpoint::from_json("{\"status\": 3}").is_err());
    }
}
