//! `explain` for the CPA: one JSON document in (the parameters as users already have them,
//! the nodes as `kubectl` prints them, the current replica count), one JSON document out
//! (the decision and every value it came from, down to which nodes counted and why).
//!
//! The input keeps `params` and `nodes` as raw JSON and reads them with the path-aware
//! decoders of [`super::params`] and [`super::cluster`], so an error names the exact field
//! (`params.linear.min`, `nodes.items[3].status.allocatable.cpu`). The shapes are described
//! in the project README (section "tachyscale explain").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::calc::{replicas, CpaDecision};
use super::cluster::{allocatable_cpu_milli, parse_nodes, ClusterStatus, CpaNode};
use super::params::CpaParams;
use super::CpaError;
use crate::{time, units};

/// The explain input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CpaExplainInput {
    /// The parameter document: `{"linear": {…}}` / `{"ladder": {…}}`, the value an object
    /// or the JSON string a ConfigMap holds, or the whole ConfigMap.
    pub params: Value,
    /// The nodes: a list of trimmed Kubernetes Nodes or simple
    /// `{name, allocatableCpu, ready, unschedulable}` nodes, or a `NodeList`.
    #[serde(default)]
    pub nodes: Option<Value>,
    /// Instead of `nodes`: the four counts upstream logs (`totalNodes`,
    /// `schedulableNodes`, `totalCores`, `schedulableCores`).
    #[serde(default)]
    pub cluster_status: Option<ClusterStatus>,
    /// The target's current `spec.replicas`, to say whether the CPA would change it.
    #[serde(default)]
    pub current_replicas: Option<i32>,
    /// When the question is asked; echoed (the CPA does not depend on time).
    #[serde(default, with = "time::option_rfc3339_ms")]
    pub now: Option<i64>,
}

/// How a node entered the counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeVerdict {
    pub name: String,
    #[serde(with = "units::milli")]
    pub allocatable_cpu: i64,
    pub ready: bool,
    pub unschedulable: bool,
    /// Ready and not cordoned.
    pub schedulable: bool,
    /// Whether the decision counted this node.
    pub counted: bool,
    /// Why a node is not schedulable: `cordoned`, `notReady` or `cordoned, notReady`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_because: Option<&'static str>,
}

/// What the CPA would do to the current replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReplicaChange {
    ScaleUp,
    ScaleDown,
    None,
    /// No `currentReplicas` in the input.
    Unknown,
}

/// The explain output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpaExplanation {
    #[serde(
        with = "time::option_rfc3339_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub now: Option<i64>,
    /// The validated parameters (min defaulted, ladder tables sorted).
    pub params: CpaParams,
    /// Each node and whether it counted; empty when the input gave counts.
    pub nodes: Vec<NodeVerdict>,
    /// Summed allocatable CPU of all nodes, before rounding up to cores.
    #[serde(with = "units::option_milli", skip_serializing_if = "Option::is_none")]
    pub total_allocatable_cpu: Option<i64>,
    /// Summed allocatable CPU of the schedulable nodes, before rounding up to cores.
    #[serde(with = "units::option_milli", skip_serializing_if = "Option::is_none")]
    pub schedulable_allocatable_cpu: Option<i64>,
    pub cluster_status: ClusterStatus,
    pub decision: CpaDecision,
    pub current_replicas: Option<i32>,
    pub change: ReplicaChange,
}

/// Runs the CPA on an explain input.
pub fn explain(input: &CpaExplainInput) -> Result<CpaExplanation, CpaError> {
    let params = CpaParams::from_document_at(&input.params, "params")?;
    let (nodes, status) = match (&input.nodes, &input.cluster_status) {
        (Some(nodes), None) => {
            let nodes = parse_nodes(nodes, "nodes")?;
            let status = ClusterStatus::from_nodes(&nodes);
            (Some(nodes), status)
        }
        (None, Some(status)) => (None, *status),
        (Some(_), Some(_)) => {
            return Err(input_error("give `nodes` or `clusterStatus`, not both"));
        }
        (None, None) => return Err(input_error("missing: give `nodes` or `clusterStatus`")),
    };
    let decision = replicas(&params, &status);
    let include = params.include_unschedulable_nodes();
    let verdicts = nodes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|node| verdict(node, include))
        .collect();
    let sums = nodes.as_deref().map(allocatable_cpu_milli);
    let change = match input.current_replicas {
        None => ReplicaChange::Unknown,
        Some(current) if decision.replicas > current => ReplicaChange::ScaleUp,
        Some(current) if decision.replicas < current => ReplicaChange::ScaleDown,
        Some(_) => ReplicaChange::None,
    };
    Ok(CpaExplanation {
        now: input.now,
        params,
        nodes: verdicts,
        total_allocatable_cpu: sums.map(|(total, _)| total),
        schedulable_allocatable_cpu: sums.map(|(_, schedulable)| schedulable),
        cluster_status: status,
        decision,
        current_replicas: input.current_replicas,
        change,
    })
}

fn verdict(node: &CpaNode, include_unschedulable_nodes: bool) -> NodeVerdict {
    let excluded_because = match (node.unschedulable, node.ready) {
        (false, true) => None,
        (true, true) => Some("cordoned"),
        (false, false) => Some("notReady"),
        (true, false) => Some("cordoned, notReady"),
    };
    NodeVerdict {
        name: node.name.clone(),
        allocatable_cpu: node.allocatable_cpu_milli,
        ready: node.ready,
        unschedulable: node.unschedulable,
        schedulable: node.schedulable(),
        counted: include_unschedulable_nodes || node.schedulable(),
        excluded_because,
    }
}

fn input_error(message: &str) -> CpaError {
    CpaError::Input {
        field: "nodes".to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> CpaExplainInput {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn explain_shows_which_nodes_counted_and_the_unrounded_cpu() {
        let explanation = explain(&input(json!({
            "params": {"linear": {"coresPerReplica": 2, "nodesPerReplica": 1}},
            "nodes": [
                {"name": "a", "allocatableCpu": "1500m"},
                {"name": "b", "allocatableCpu": "1500m", "unschedulable": true},
                {"name": "c", "allocatableCpu": "1200m", "ready": false}
            ],
            "currentReplicas": 5,
            "now": "2026-03-01T12:00:00Z"
        })))
        .unwrap();
        assert_eq!(explanation.decision.replicas, 1);
        assert_eq!(explanation.change, ReplicaChange::ScaleDown);
        assert_eq!(explanation.total_allocatable_cpu, Some(4200));
        assert_eq!(explanation.schedulable_allocatable_cpu, Some(1500));
        assert_eq!(explanation.cluster_status.total_cores, 5);
        assert_eq!(explanation.cluster_status.schedulable_cores, 2);
        let reasons: Vec<_> = explanation
            .nodes
            .iter()
            .map(|node| (node.counted, node.excluded_because))
            .collect();
        assert_eq!(
            reasons,
            [
                (true, None),
                (false, Some("cordoned")),
                (false, Some("notReady"))
            ]
        );
        let json = serde_json::to_value(&explanation).unwrap();
        assert_eq!(json["now"], "2026-03-01T12:00:00Z");
        assert_eq!(json["schedulableAllocatableCpu"], "1500m");
        assert_eq!(json["nodes"][1]["excludedBecause"], "cordoned");
        assert_eq!(json["change"], "scaleDown");
    }

    #[test]
    fn explain_reads_counts_instead_of_nodes() {
        let explanation = explain(&input(json!({
            "params": {"ladder": "{\"nodesToReplicas\":[[1,1],[2,2],[3,3]]}"},
            "clusterStatus": {"totalNodes": 3, "schedulableNodes": 2,
                              "totalCores": 12, "schedulableCores": 8},
            "currentReplicas": 2
        })))
        .unwrap();
        assert_eq!(explanation.decision.replicas, 2);
        assert_eq!(explanation.change, ReplicaChange::None);
        assert!(explanation.nodes.is_empty());
        assert_eq!(explanation.total_allocatable_cpu, None);
    }

    #[test]
    fn explain_errors_carry_the_input_path() {
        let err = explain(&input(json!({
            "params": {"linear": {"nodesPerReplica": 1, "min": -2}},
            "nodes": []
        })))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "params.linear.min: invalid negative value for min: -2"
        );
        let err = explain(&input(
            json!({"params": {"linear": {"nodesPerReplica": 1}}}),
        ))
        .unwrap_err();
        assert_eq!(err.reason(), "invalid_input");
        let err = explain(&input(json!({
            "params": {"linear": {"nodesPerReplica": 1}},
            "nodes": [], "clusterStatus": {"totalNodes": 0, "schedulableNodes": 0,
                                          "totalCores": 0, "schedulableCores": 0}
        })))
        .unwrap_err();
        assert!(err.to_string().contains("not both"));
        assert!(
            serde_json::from_value::<CpaExplainInput>(json!({"params": {}, "extra": 1})).is_err()
        );
    }
}
