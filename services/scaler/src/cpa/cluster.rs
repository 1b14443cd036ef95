//! What the CPA counts: nodes and cores, in total and schedulable only.
//!
//! Followed: `GetClusterStatus` in cluster-proportional-autoscaler 1.9.x
//! `pkg/autoscaler/k8sclient/k8sclient.go`. Every node the watch returns counts towards the
//! totals; a node is *schedulable* when it is not cordoned (`spec.unschedulable`) and its
//! `Ready` condition is `True`. Cores are the node's `status.allocatable.cpu` (not its
//! capacity), summed exactly and then rounded up to a whole core (`Quantity.Value()`, which
//! rounds away from zero), once for all nodes and once for the schedulable ones.
//!
//! Deviation: allocatable CPU is summed in milli-cores, each node's value rounded up to a
//! whole milli-core first ([`crate::units`]); upstream sums exact quantities. The two differ
//! only for sub-milli-core allocatable values, which kubelets do not report.
//!
//! Two node shapes are read, because the same engine serves the control loop (which builds
//! [`CpaNode`]s from its watch) and `explain` (where users paste `kubectl get nodes -o json`
//! or write nodes by hand): a trimmed Kubernetes Node — `metadata.name`,
//! `spec.unschedulable`, `status.allocatable.cpu`, `status.conditions` — or the simple form
//! `{name, allocatableCpu, ready, unschedulable}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{join_path, CpaError};
use crate::units;

/// One node as the CPA sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CpaNode {
    /// `metadata.name`.
    pub name: String,
    /// `status.allocatable.cpu` in milli-cores; absent is 0, like a missing quantity upstream.
    #[serde(rename = "allocatableCpu", default, with = "units::milli")]
    pub allocatable_cpu_milli: i64,
    /// The `Ready` condition is `True`. The simple form defaults to ready.
    #[serde(default = "default_ready")]
    pub ready: bool,
    /// Cordoned: `spec.unschedulable`.
    #[serde(default)]
    pub unschedulable: bool,
}

fn default_ready() -> bool {
    true
}

impl CpaNode {
    /// Schedulable in upstream's sense: Ready and not cordoned.
    pub fn schedulable(&self) -> bool {
        self.ready && !self.unschedulable
    }
}

/// The four counts upstream's `ClusterStatus` carries (and logs when it scales).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Every node.
    pub total_nodes: i64,
    /// Ready and not cordoned nodes.
    pub schedulable_nodes: i64,
    /// Allocatable CPU of every node, summed and rounded up to whole cores.
    pub total_cores: i64,
    /// Allocatable CPU of the schedulable nodes, summed and rounded up to whole cores.
    pub schedulable_cores: i64,
}

impl ClusterStatus {
    /// Counts nodes and cores the way upstream's `GetClusterStatus` does.
    pub fn from_nodes(nodes: &[CpaNode]) -> ClusterStatus {
        let (total_milli, schedulable_milli) = allocatable_cpu_milli(nodes);
        ClusterStatus {
            total_nodes: count(nodes.len()),
            schedulable_nodes: count(nodes.iter().filter(|node| node.schedulable()).count()),
            total_cores: whole_cores(total_milli),
            schedulable_cores: whole_cores(schedulable_milli),
        }
    }

    /// The nodes and cores a decision reads: all of them with `includeUnschedulableNodes`,
    /// else the schedulable ones.
    pub fn counted(&self, include_unschedulable_nodes: bool) -> (i64, i64) {
        if include_unschedulable_nodes {
            (self.total_nodes, self.total_cores)
        } else {
            (self.schedulable_nodes, self.schedulable_cores)
        }
    }
}

/// Summed allocatable CPU in milli-cores: (all nodes, schedulable nodes), saturating.
pub(crate) fn allocatable_cpu_milli(nodes: &[CpaNode]) -> (i64, i64) {
    nodes
        .iter()
        .fold((0i64, 0i64), |(total, schedulable), node| {
            let cpu = node.allocatable_cpu_milli;
            let schedulable = if node.schedulable() {
                schedulable.saturating_add(cpu)
            } else {
                schedulable
            };
            (total.saturating_add(cpu), schedulable)
        })
}

/// Milli-cores to whole cores, rounded away from zero like `Quantity.Value()`.
fn whole_cores(milli: i64) -> i64 {
    let whole = milli / 1000;
    match milli % 1000 {
        0 => whole,
        rest if rest > 0 => whole + 1,
        _ => whole - 1,
    }
}

fn count(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Reads a node list found at `path` in an input document: a JSON list of nodes or a
/// `NodeList` object (`{"items": […]}`, as `kubectl get nodes -o json` prints it). Each
/// node is a Kubernetes Node (recognised by its `metadata`) or the simple form.
pub fn parse_nodes(value: &Value, path: &str) -> Result<Vec<CpaNode>, CpaError> {
    let (items, items_path) = match value {
        Value::Array(items) => (items, path.to_string()),
        Value::Object(map) => match map.get("items") {
            Some(Value::Array(items)) => (items, join_path(path, "items")),
            _ => {
                return Err(node_error(
                    path.to_string(),
                    "expected a list of nodes or a NodeList with `items`".to_string(),
                ))
            }
        },
        other => {
            return Err(node_error(
                path.to_string(),
                format!("expected a list of nodes, got {other}"),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let item_path = format!("{items_path}[{index}]");
            if item.get("metadata").is_some() {
                kube_node(item, &item_path)
            } else {
                serde_json::from_value::<CpaNode>(item.clone())
                    .map_err(|err| node_error(item_path, err.to_string()))
            }
        })
        .collect()
}

/// A trimmed Kubernetes Node: only the fields upstream's informer keeps are read, and
/// everything else a full Node carries is ignored.
fn kube_node(node: &Value, path: &str) -> Result<CpaNode, CpaError> {
    let name_path = join_path(path, "metadata.name");
    let name = match node.pointer("/metadata/name") {
        Some(Value::String(name)) => name.clone(),
        Some(other) => {
            return Err(node_error(
                name_path,
                format!("expected a string, got {other}"),
            ))
        }
        None => return Err(node_error(name_path, "missing".to_string())),
    };
    let unschedulable = match node.pointer("/spec/unschedulable") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(cordoned)) => *cordoned,
        Some(other) => {
            return Err(node_error(
                join_path(path, "spec.unschedulable"),
                format!("expected true or false, got {other}"),
            ))
        }
    };
    let allocatable_cpu_milli = match node.pointer("/status/allocatable/cpu") {
        None | Some(Value::Null) => 0,
        Some(cpu) => units::milli::deserialize(cpu).map_err(|err| {
            node_error(join_path(path, "status.allocatable.cpu"), err.to_string())
        })?,
    };
    let ready = match node.pointer("/status/conditions") {
        None | Some(Value::Null) => false,
        Some(Value::Array(conditions)) => conditions.iter().any(|condition| {
            condition.get("type").and_then(Value::as_str) == Some("Ready")
                && condition.get("status").and_then(Value::as_str) == Some("True")
        }),
        Some(other) => {
            return Err(node_error(
                join_path(path, "status.conditions"),
                format!("expected a list of conditions, got {other}"),
            ))
        }
    };
    Ok(CpaNode {
        name,
        allocatable_cpu_milli,
        ready,
        unschedulable,
    })
}

fn node_error(field: String, message: String) -> CpaError {
    CpaError::Node { field, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu_milli: i64, ready: bool, unschedulable: bool) -> CpaNode {
        CpaNode {
            name: name.to_string(),
            allocatable_cpu_milli: cpu_milli,
            ready,
            unschedulable,
        }
    }

    #[test]
    fn cordoned_and_not_ready_nodes_count_only_in_totals() {
        let nodes = [
            node("a", 4000, true, false),
            node("b", 4000, true, true),
            node("c", 2000, false, false),
            node("d", 1000, true, false),
        ];
        assert_eq!(
            ClusterStatus::from_nodes(&nodes),
            ClusterStatus {
                total_nodes: 4,
                schedulable_nodes: 2,
                total_cores: 11,
                schedulable_cores: 5,
            }
        );
    }

    #[test]
    fn fractional_allocatable_cpu_is_summed_before_rounding_up() {
        // 2 × 1.4 = 2.8 cores → 3; rounding each node first would give 4.
        let nodes = [node("a", 1400, true, false), node("b", 1400, true, false)];
        assert_eq!(ClusterStatus::from_nodes(&nodes).schedulable_cores, 3);
        // 2 × 1.5 = 3.0 exactly stays 3.
        let nodes = [node("a", 1500, true, false), node("b", 1500, true, false)];
        assert_eq!(ClusterStatus::from_nodes(&nodes).schedulable_cores, 3);
        let nodes = [node("a", 500, true, false), node("b", 500, true, false)];
        assert_eq!(ClusterStatus::from_nodes(&nodes).schedulable_cores, 1);
        assert_eq!(ClusterStatus::from_nodes(&[]), ClusterStatus::default());
    }

    #[test]
    fn whole_cores_round_away_from_zero() {
        assert_eq!(whole_cores(0), 0);
        assert_eq!(whole_cores(1), 1);
        assert_eq!(whole_cores(1000), 1);
        assert_eq!(whole_cores(1001), 2);
        assert_eq!(whole_cores(-1), -1);
        assert_eq!(whole_cores(-1500), -2);
    }

    #[test]
    fn counted_picks_totals_only_with_include_unschedulable_nodes() {
        let status = ClusterStatus {
            total_nodes: 3,
            schedulable_nodes: 2,
            total_cores: 12,
            schedulable_cores: 8,
        };
        assert_eq!(status.counted(true), (3, 12));
        assert_eq!(status.counted(false), (2, 8));
    }

    #[test]
    fn kube_nodes_and_simple_nodes_read_alike() {
        let nodes = parse_nodes(
            &json!({"kind": "NodeList", "items": [
                {"metadata": {"name": "n1", "labels": {"x": "y"}},
                 "spec": {"unschedulable": true, "podCIDR": "10.0.0.0/24"},
                 "status": {"allocatable": {"cpu": "3920m", "memory": "15Gi"},
                            "capacity": {"cpu": "4"},
                            "conditions": [{"type": "MemoryPressure", "status": "False"},
                                           {"type": "Ready", "status": "True"}]}},
                {"metadata": {"name": "n2"},
                 "status": {"allocatable": {"cpu": 2},
                            "conditions": [{"type": "Ready", "status": "Unknown"}]}},
                {"name": "n3", "allocatableCpu": "1.5"}
            ]}),
            "nodes",
        )
        .unwrap();
        assert_eq!(
            nodes,
            vec![
                node("n1", 3920, true, true),
                node("n2", 2000, false, false),
                node("n3", 1500, true, false),
            ]
        );
    }

    #[test]
    fn malformed_nodes_name_the_field() {
        let err = parse_nodes(
            &json!([{"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "lots"}}}]),
            "nodes",
        )
        .unwrap_err();
        assert_eq!(err.field(), "nodes[0].status.allocatable.cpu");
        assert_eq!(err.reason(), "invalid_node");
        let err = parse_nodes(&json!([{"name": "a"}, {"nme": "b"}]), "nodes").unwrap_err();
        assert_eq!(err.field(), "nodes[1]");
        assert!(err.to_string().contains("unknown field `nme`"), "{err}");
        let err = parse_nodes(&json!([{"metadata": {}}]), "nodes").unwrap_err();
        assert_eq!(err.to_string(), "nodes[0].metadata.name: missing");
        assert!(parse_nodes(&json!(3), "nodes").is_err());
        assert!(parse_nodes(&json!({"apiVersion": "v1"}), "nodes").is_err());
    }

    #[test]
    fn kube_node_without_conditions_is_not_ready() {
        let nodes = parse_nodes(&json!([{"metadata": {"name": "fresh"}}]), "nodes").unwrap();
        assert_eq!(nodes, vec![node("fresh", 0, false, false)]);
    }
}
