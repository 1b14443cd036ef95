//! The CPA's replica calculation, returning every intermediate value so `explain` can show
//! why a number came out and the conformance tests can check each step.
//!
//! Followed (cluster-proportional-autoscaler 1.9.x):
//! - linear, `linearcontroller/linear_controller.go` `GetExpectedReplicas`: each term is
//!   `ceil(resource / perReplica)` (float division), clamped to `max` (unless 0) and then
//!   to `min`; a term whose per-replica value is 0 is 1, unclamped. With
//!   `preventSinglePointFailure`, more than one counted node lifts the nodes term to at least
//!   2 — after clamping, so it can exceed `max`. The result is the larger term.
//! - ladder, `laddercontroller/ladder_controller.go` `getExpectedReplicasFromEntries`: the
//!   step is the last one whose threshold ≤ the resource; below the first threshold the
//!   first step applies; an empty table gives 1. The result is the larger term.
//! - both read total nodes and cores with `includeUnschedulableNodes`, else the schedulable
//!   ones.
//!
//! Deviation: the result saturates at `i32::MAX` (upstream converts with `int32(…)`, which
//! wraps); terms are computed in `i64`.

use serde::Serialize;

use super::cluster::ClusterStatus;
use super::params::{CpaMode, CpaParams, LadderParams, LadderStep, LinearParams};

/// Which bound of a linear term took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClampBound {
    Min,
    Max,
}

/// One term of the linear mode (cores or nodes).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinearTerm {
    /// The cores or nodes the term reads.
    pub resource: i64,
    /// `coresPerReplica` or `nodesPerReplica`.
    pub per_replica: f64,
    /// `ceil(resource / perReplica)` before clamping; `None` when `perReplica` is 0, which
    /// makes the term 1.
    pub unclamped: Option<i64>,
    /// The bound that changed the term, if one did.
    pub clamped_to: Option<ClampBound>,
    /// The term after clamping.
    pub replicas: i64,
}

/// One term of the ladder mode (cores or nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LadderTerm {
    /// The cores or nodes the term reads.
    pub resource: i64,
    /// The step applied, `[threshold, replicas]`; `None` for an empty table (the term is 1).
    pub step: Option<LadderStep>,
    /// The resource is below every threshold, so the first step applied anyway.
    pub below_first_step: bool,
    /// The term.
    pub replicas: i64,
}

/// The mode-specific part of a decision, written under `"linear"` or `"ladder"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CpaDetail {
    #[serde(rename_all = "camelCase")]
    Linear {
        cores: LinearTerm,
        nodes: LinearTerm,
        min: i64,
        max: Option<i64>,
        prevent_single_point_failure: bool,
    },
    #[serde(rename_all = "camelCase")]
    Ladder {
        cores: LadderTerm,
        nodes: LadderTerm,
    },
}

/// The replica count with every value it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpaDecision {
    pub mode: CpaMode,
    /// The replicas to set.
    pub replicas: i32,
    /// Whether the counts below are totals (true) or schedulable nodes and cores only.
    pub include_unschedulable_nodes: bool,
    /// Nodes the decision read.
    pub nodes: i64,
    /// Cores the decision read (allocatable CPU, rounded up).
    pub cores: i64,
    /// The cores term.
    pub replicas_from_cores: i64,
    /// The nodes term, after `preventSinglePointFailure`.
    pub replicas_from_nodes: i64,
    /// `preventSinglePointFailure` raised the nodes term to 2.
    pub single_point_failure_floor_applied: bool,
    #[serde(flatten)]
    pub detail: CpaDetail,
}

/// The replicas the CPA sets for `params` on a cluster in `status`.
pub fn replicas(params: &CpaParams, status: &ClusterStatus) -> CpaDecision {
    let include = params.include_unschedulable_nodes();
    let (nodes, cores) = status.counted(include);
    let (from_cores, from_nodes, psf_applied, detail) = match params {
        CpaParams::Linear(linear) => linear_terms(linear, nodes, cores),
        CpaParams::Ladder(ladder) => ladder_terms(ladder, nodes, cores),
    };
    let replicas = from_cores.max(from_nodes).clamp(0, i64::from(i32::MAX));
    CpaDecision {
        mode: params.mode(),
        replicas: i32::try_from(replicas).unwrap_or(i32::MAX),
        include_unschedulable_nodes: include,
        nodes,
        cores,
        replicas_from_cores: from_cores,
        replicas_from_nodes: from_nodes,
        single_point_failure_floor_applied: psf_applied,
        detail,
    }
}

fn linear_terms(params: &LinearParams, nodes: i64, cores: i64) -> (i64, i64, bool, CpaDetail) {
    let cores_term = linear_term(params, cores, params.cores_per_replica());
    let nodes_term = linear_term(params, nodes, params.nodes_per_replica());
    let mut from_nodes = nodes_term.replicas;
    let psf_applied = params.prevent_single_point_failure() && nodes > 1 && from_nodes < 2;
    if psf_applied {
        from_nodes = 2;
    }
    let from_cores = cores_term.replicas;
    let detail = CpaDetail::Linear {
        cores: cores_term,
        nodes: nodes_term,
        min: params.min(),
        max: params.max(),
        prevent_single_point_failure: params.prevent_single_point_failure(),
    };
    (from_cores, from_nodes, psf_applied, detail)
}

/// `getExpectedReplicasFromParam`: float division and ceiling as upstream does them, so
/// fractional per-replica values (`nodesPerReplica: 2.5`) round the same way.
pub(crate) fn linear_term(params: &LinearParams, resource: i64, per_replica: f64) -> LinearTerm {
    if per_replica == 0.0 {
        return LinearTerm {
            resource,
            per_replica,
            unclamped: None,
            clamped_to: None,
            replicas: 1,
        };
    }
    // `as` saturates for out-of-range floats; per_replica > 0 keeps the quotient finite.
    let unclamped = (resource as f64 / per_replica).ceil() as i64;
    let mut replicas = unclamped;
    let mut clamped_to = None;
    if let Some(max) = params.max() {
        if replicas > max {
            replicas = max;
            clamped_to = Some(ClampBound::Max);
        }
    }
    if replicas < params.min() {
        replicas = params.min();
        clamped_to = Some(ClampBound::Min);
    }
    LinearTerm {
        resource,
        per_replica,
        unclamped: Some(unclamped),
        clamped_to,
        replicas,
    }
}

fn ladder_terms(params: &LadderParams, nodes: i64, cores: i64) -> (i64, i64, bool, CpaDetail) {
    let cores_term = ladder_term(params.cores_to_replicas(), cores);
    let nodes_term = ladder_term(params.nodes_to_replicas(), nodes);
    (
        cores_term.replicas,
        nodes_term.replicas,
        false,
        CpaDetail::Ladder {
            cores: cores_term,
            nodes: nodes_term,
        },
    )
}

/// `getExpectedReplicasFromEntries` over a table sorted by threshold.
pub fn ladder_term(steps: &[LadderStep], resource: i64) -> LadderTerm {
    // Upstream: sort.Search for the first step with resource < threshold, then one back.
    let above = steps.partition_point(|step| step.threshold <= resource);
    let step = steps.get(above.saturating_sub(1)).copied();
    LadderTerm {
        resource,
        step,
        below_first_step: above == 0 && step.is_some(),
        replicas: step.map_or(1, |step| step.replicas),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(json: &str) -> CpaParams {
        CpaParams::from_json_str(&format!(r#"{{"linear":{json}}}"#)).unwrap()
    }

    fn status(nodes: i64, cores: i64) -> ClusterStatus {
        ClusterStatus {
            total_nodes: nodes,
            schedulable_nodes: nodes,
            total_cores: cores,
            schedulable_cores: cores,
        }
    }

    #[test]
    fn linear_term_records_the_bound_that_applied() {
        let params = linear(r#"{"coresPerReplica":2,"min":2,"max":10}"#);
        let decision = replicas(&params, &status(1, 40));
        let CpaDetail::Linear { cores, nodes, .. } = &decision.detail else {
            panic!("expected linear")
        };
        assert_eq!(cores.unclamped, Some(20));
        assert_eq!(cores.clamped_to, Some(ClampBound::Max));
        assert_eq!(cores.replicas, 10);
        assert_eq!(nodes.unclamped, None, "nodesPerReplica 0 makes the term 1");
        assert_eq!(nodes.replicas, 1);
        assert_eq!(decision.replicas, 10);

        let decision = replicas(&params, &status(1, 1));
        let CpaDetail::Linear { cores, .. } = &decision.detail else {
            panic!("expected linear")
        };
        assert_eq!(
            (cores.unclamped, cores.clamped_to),
            (Some(1), Some(ClampBound::Min))
        );
    }

    #[test]
    fn single_point_failure_floor_can_exceed_max_like_upstream() {
        let params = linear(r#"{"nodesPerReplica":10,"max":1,"preventSinglePointFailure":true}"#);
        let decision = replicas(&params, &status(3, 12));
        assert!(decision.single_point_failure_floor_applied);
        assert_eq!(decision.replicas, 2);
        // One node: no floor.
        let decision = replicas(&params, &status(1, 4));
        assert!(!decision.single_point_failure_floor_applied);
        assert_eq!(decision.replicas, 1);
    }

    #[test]
    fn huge_results_saturate_at_i32_max() {
        let params = linear(r#"{"coresPerReplica":0.001}"#);
        let decision = replicas(&params, &status(1, i64::MAX));
        assert_eq!(decision.replicas, i32::MAX);
    }

    #[test]
    fn ladder_term_reports_the_step_used() {
        let steps = [
            LadderStep {
                threshold: 4,
                replicas: 2,
            },
            LadderStep {
                threshold: 8,
                replicas: 3,
            },
        ];
        let term = ladder_term(&steps, 1);
        assert!(term.below_first_step);
        assert_eq!(term.replicas, 2);
        let term = ladder_term(&steps, 8);
        assert_eq!(term.step, Some(steps[1]));
        assert!(!term.below_first_step);
        let term = ladder_term(&[], 100);
        assert_eq!(
            (term.step, term.replicas, term.below_first_step),
            (None, 1, false)
        );
    }

    #[test]
    fn decision_serializes_with_the_mode_detail_inline() {
        let params = linear(r#"{"coresPerReplica":2,"nodesPerReplica":1}"#);
        let json = serde_json::to_value(replicas(&params, &status(3, 4))).unwrap();
        assert_eq!(json["mode"], "linear");
        assert_eq!(json["replicas"], 3);
        assert_eq!(json["linear"]["nodes"]["unclamped"], 3);
        assert_eq!(json["linear"]["cores"]["replicas"], 2);
    }
}
