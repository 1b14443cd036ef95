//! The Vertical Pod Autoscaler's recommender: from CPU and memory usage samples and OOM
//! events to per-container `target`, `lowerBound` and `upperBound` requests, matching
//! kubernetes/autoscaler `vertical-pod-autoscaler` 1.7 so users can compare our answers
//! with their running VPA and import its checkpoints.
//!
//! Layers, bottom up, each its own module:
//!
//! - [`histogram`], [`decaying`]: bucketed and decaying histograms, storing only the
//!   occupied bucket range (the memory budget is 2 KB per tracked container), with Go's
//!   `math` and `time` arithmetic from [`tachyscale_gomath`] so weights are bit-identical;
//! - [`container`]: per-container aggregate (CPU samples, daily memory peaks, OOM bumps);
//! - [`estimator`]: percentiles → margin → confidence → pod minimum;
//! - [`policy`]: the user's VPA `spec` (upstream field names), validation, capping;
//! - [`evaluation`]: which containers get what, given the spec;
//! - [`resources`]: amounts and the `status.recommendation` shape;
//! - [`recommender`]: many VPAs' containers keyed by the caller, driven by the control loop;
//! - [`checkpoint`]: `VerticalPodAutoscalerCheckpoint` v3 save and load;
//! - [`explain`], [`explain_input`]: every intermediate value for one VPA, for the
//!   `explain` command.
//!
//! Everything is pure: time is an argument (`now_ms`), nothing does I/O.

pub mod checkpoint;
pub mod container;
pub mod decaying;
pub mod estimator;
pub mod evaluation;
pub mod explain;
pub mod explain_input;
pub mod histogram;
pub mod policy;
pub mod recommender;
pub mod resources;

pub use checkpoint::VpaCheckpoint;
pub use container::{AggregateContainerState, AggregationConfig, DiscardReason, PeakChange};
pub use estimator::{Bound, ContainerEstimate, EstimatorConfig};
pub use evaluation::{ContainerRecommendation, EvaluationOutcome, SkipReason};
pub use explain::{explain, VpaExplainInput, VpaExplanation};
pub use policy::VpaSpec;
pub use recommender::{
    CpuSample, MemorySample, OomEvent, Recommender, RecommenderConfig, SampleTarget,
};
pub use resources::{
    RecommendedContainerResources, RecommendedPodResources, ResourceList, ResourceName,
};

/// What can go wrong in the VPA engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VpaError {
    /// Histogram bucketing parameters out of range.
    #[error("invalid histogram options: {problem}")]
    InvalidHistogramOptions {
        /// Which constraint failed.
        problem: &'static str,
    },
    /// Two histograms that cannot be merged.
    #[error("cannot merge histograms with different {what}")]
    HistogramMismatch {
        /// What differs.
        what: &'static str,
    },
    /// A VPA spec (or explain input) field is invalid.
    #[error("{path}: {problem}")]
    InvalidSpec {
        /// Field path, e.g. `spec.resourcePolicy.containerPolicies[0].minAllowed.cpu`.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A checkpoint in a format version other than "v3".
    #[error("unsupported checkpoint version {version:?}, expected \"v3\"")]
    UnsupportedCheckpointVersion {
        /// The version found.
        version: String,
    },
    /// A histogram checkpoint with a negative total weight.
    #[error("{histogram} histogram checkpoint has negative total weight {total_weight}")]
    NegativeTotalWeight {
        /// `cpu` or `memory`.
        histogram: &'static str,
        /// The total found.
        total_weight: f64,
    },
    /// A histogram checkpoint naming a bucket the histogram does not have.
    #[error("{histogram} histogram checkpoint has bucket {bucket}, outside 0..{num_buckets}")]
    BucketOutOfRange {
        /// `cpu` or `memory`.
        histogram: &'static str,
        /// The bucket index found.
        bucket: i64,
        /// Number of buckets of the histogram.
        num_buckets: usize,
    },
    /// A JSON document that does not decode.
    #[error("cannot decode {what}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
}

impl VpaError {
    /// A bounded label for `*_errors_total{reason=…}`.
    pub fn reason(&self) -> &'static str {
        match self {
            VpaError::InvalidHistogramOptions { .. } => "invalid_histogram_options",
            VpaError::HistogramMismatch { .. } => "histogram_mismatch",
            VpaError::InvalidSpec { .. } => "invalid_spec",
            VpaError::UnsupportedCheckpointVersion { .. } => "unsupported_checkpoint_version",
            VpaError::NegativeTotalWeight { .. } => "negative_total_weight",
            VpaError::BucketOutOfRange { .. } => "bucket_out_of_range",
            VpaError::Decode { .. } => "decode",
        }
    }
}
