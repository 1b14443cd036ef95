//! The cluster-proportional autoscaler (CPA): replicas from the size of the cluster — its
//! node count and its CPU cores — for workloads that serve the cluster itself (CoreDNS,
//! kube-proxy sidecars, metrics agents). No metrics are involved, so the whole calculation is
//! a pure function of the parameters and the node list.
//!
//! Followed: kubernetes-sigs/cluster-proportional-autoscaler 1.9.x —
//! `pkg/autoscaler/controller/linearcontroller/linear_controller.go`,
//! `pkg/autoscaler/controller/laddercontroller/ladder_controller.go`,
//! `pkg/autoscaler/controller/plugin/plugin.go` and `pkg/autoscaler/k8sclient/k8sclient.go`
//! (`GetClusterStatus`). Each submodule lists its own deviations.
//!
//! The shape follows the data flow of one upstream poll, one module per step, so each can be
//! tested against the upstream vectors on its own:
//!
//! - [`params`]: the ConfigMap's `linear` / `ladder` document → validated [`CpaParams`];
//! - [`cluster`]: the node list → [`ClusterStatus`] (total and schedulable nodes and cores);
//! - [`calc`]: [`replicas`]`(params, status)` → [`CpaDecision`] with every intermediate value;
//! - [`mod@explain`]: the JSON `explain` command over all three.

pub mod calc;
pub mod cluster;
pub mod explain;
pub mod params;

pub use calc::{ladder_term, replicas, ClampBound, CpaDecision, CpaDetail, LadderTerm, LinearTerm};
pub use cluster::{parse_nodes, ClusterStatus, CpaNode};
pub use explain::{explain, CpaExplainInput, CpaExplanation, NodeVerdict, ReplicaChange};
pub use params::{
    CpaMode, CpaParams, LadderParams, LadderSpec, LadderStep, LinearParams, LinearSpec,
};

/// Why CPA parameters or inputs were rejected. Every variant names the offending field with
/// a JSON path (`linear.min`, `params.ladder.coresToReplicas[2]`, `nodes[1].status`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpaError {
    /// The parameter document is not exactly one `linear` or `ladder` entry.
    #[error("{field}: {message}")]
    Document { field: String, message: String },
    /// A parameter has the wrong JSON type, is unknown, or its JSON string does not parse.
    #[error("{field}: {message}")]
    Syntax { field: String, message: String },
    /// A parameter has a value upstream rejects (negative, both per-replica values 0, max <
    /// min, …); the message is upstream's.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A node in the cluster input cannot be read.
    #[error("{field}: {message}")]
    Node { field: String, message: String },
    /// The explain input itself is malformed (missing or conflicting keys).
    #[error("{field}: {message}")]
    Input { field: String, message: String },
}

impl CpaError {
    /// A bounded label for `*_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            CpaError::Document { .. } => "invalid_document",
            CpaError::Syntax { .. } => "invalid_syntax",
            CpaError::Invalid { .. } => "invalid_params",
            CpaError::Node { .. } => "invalid_node",
            CpaError::Input { .. } => "invalid_input",
        }
    }

    /// The JSON path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            CpaError::Document { field, .. }
            | CpaError::Syntax { field, .. }
            | CpaError::Invalid { field, .. }
            | CpaError::Node { field, .. }
            | CpaError::Input { field, .. } => field,
        }
    }
}

/// Joins a JSON path prefix and a key: `join("params", "linear")` → `params.linear`.
pub(crate) fn join_path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_and_carry_a_bounded_reason() {
        let err = CpaError::Invalid {
            field: "linear.min".into(),
            message: "invalid negative value for min: -1".into(),
        };
        assert_eq!(
            err.to_string(),
            "linear.min: invalid negative value for min: -1"
        );
        assert_eq!(err.reason(), "invalid_params");
        assert_eq!(err.field(), "linear.min");
        assert_eq!(join_path("", "linear"), "linear");
        assert_eq!(join_path("params", "linear"), "params.linear");
    }
}
