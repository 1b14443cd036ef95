//! Cluster-proportional autoscaler conformance: the vectors of
//! `shared/reference/vpa-cpa-algorithm.md` and of upstream's own tests
//! (cluster-proportional-autoscaler 1.9.x `linear_controller_test.go`,
//! `ladder_controller_test.go`, `k8sclient_test.go`), then derived edge cases, then the
//! `examples/explain/cpa*.json` files the README shows — so the documented answers stay true.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Value};
use tachyscale_scaler::cpa::{
    explain, ladder_term, replicas, ClampBound, ClusterStatus, CpaDetail, CpaExplainInput, CpaNode,
    CpaParams, LadderStep, ReplicaChange,
};

fn params(document: Value) -> CpaParams {
    CpaParams::from_document(&document).unwrap()
}

/// A cluster where every node is schedulable.
fn cluster(nodes: i64, cores: i64) -> ClusterStatus {
    ClusterStatus {
        total_nodes: nodes,
        schedulable_nodes: nodes,
        total_cores: cores,
        schedulable_cores: cores,
    }
}

fn node(name: &str, cpu: &str, ready: bool, unschedulable: bool) -> CpaNode {
    serde_json::from_value(json!({
        "name": name, "allocatableCpu": cpu, "ready": ready, "unschedulable": unschedulable
    }))
    .unwrap()
}

// --- Linear: reference vectors and upstream TestScaleFromSingleParam -----------------------

#[test]
fn linear_cores_per_replica_2_min_2_max_100_matches_the_reference_rows() {
    let params = params(json!({"linear": {"coresPerReplica": 2, "min": 2, "max": 100}}));
    // Reference rows first, then the rest of upstream's table.
    let rows = [
        (0, 2),
        (4, 2),
        (6, 3),
        (11, 6),
        (19, 10),
        (21, 11),
        (40, 20),
        (1, 2),
        (2, 2),
        (3, 2),
        (10, 5),
        (20, 10),
        (30, 15),
    ];
    for (cores, expected) in rows {
        let decision = replicas(&params, &cluster(1, cores));
        assert_eq!(decision.replicas, expected, "cores {cores}");
        assert_eq!(
            decision.replicas_from_cores,
            i64::from(expected),
            "cores {cores}"
        );
    }
}

#[test]
fn linear_with_prevent_single_point_failure_matches_the_reference_table() {
    let params = params(json!({"linear": {
        "coresPerReplica": 2, "nodesPerReplica": 2.5, "min": 1, "max": 100,
        "preventSinglePointFailure": true
    }}));
    // (cores, nodes) → replicas: the reference rows, then the rest of upstream's
    // TestScaleFromMultipleParams.
    let rows = [
        (0, 0, 1),
        (1, 2, 2),
        (6, 4, 3),
        (8, 15, 6),
        (8, 16, 7),
        (23, 20, 12),
        (40, 20, 20),
        (2, 3, 2),
        (3, 4, 2),
        (4, 4, 2),
        (6, 5, 3),
        (8, 5, 4),
        (19, 21, 10),
        (26, 38, 16),
        (30, 49, 20),
    ];
    for (cores, nodes, expected) in rows {
        assert_eq!(
            replicas(&params, &cluster(nodes, cores)).replicas,
            expected,
            "cores {cores}, nodes {nodes}"
        );
    }
}

#[test]
fn single_point_failure_floor_is_what_lifts_two_nodes_to_two_replicas() {
    let params = params(json!({"linear": {
        "coresPerReplica": 2, "nodesPerReplica": 2.5, "min": 1, "max": 100,
        "preventSinglePointFailure": true
    }}));
    let decision = replicas(&params, &cluster(2, 1));
    assert!(decision.single_point_failure_floor_applied);
    assert_eq!(decision.replicas_from_nodes, 2);
    let CpaDetail::Linear { nodes, .. } = &decision.detail else {
        panic!("expected linear")
    };
    assert_eq!(nodes.replicas, 1, "the clamped term before the floor");
    // Without the flag the same cluster gets one replica.
    let without = params_without_psf();
    assert_eq!(replicas(&without, &cluster(2, 1)).replicas, 1);
}

fn params_without_psf() -> CpaParams {
    params(json!({"linear": {"coresPerReplica": 2, "nodesPerReplica": 2.5, "min": 1, "max": 100}}))
}

// --- Ladder: reference vectors and upstream TestControllerScaler / FromZero -----------------

fn steps(pairs: &[(i64, i64)]) -> Vec<[i64; 2]> {
    pairs
        .iter()
        .map(|&(threshold, replicas)| [threshold, replicas])
        .collect()
}

/// A ladder with the same table for cores and nodes, so `replicas` returns the table's value.
fn ladder_both(pairs: &[(i64, i64)]) -> CpaParams {
    params(json!({"ladder": {"coresToReplicas": steps(pairs), "nodesToReplicas": steps(pairs)}}))
}

#[test]
fn ladder_1_2_3_4_10_20_matches_the_reference_rows() {
    let table = [(1, 1), (2, 2), (3, 3), (4, 4), (10, 10), (20, 20)];
    let params = ladder_both(&table);
    // Reference rows, then the rest of upstream's TestControllerScaler.
    let rows = [
        (0, 1),
        (3, 3),
        (6, 4),
        (11, 10),
        (21, 20),
        (1, 1),
        (2, 2),
        (4, 4),
        (10, 10),
        (19, 10),
        (20, 20),
        (40, 20),
    ];
    for (resource, expected) in rows {
        assert_eq!(
            replicas(&params, &cluster(resource, resource)).replicas,
            expected,
            "resource {resource}"
        );
        let CpaParams::Ladder(ladder) = &params else {
            panic!("expected ladder")
        };
        assert_eq!(
            ladder_term(ladder.cores_to_replicas(), resource).replicas,
            i64::from(expected)
        );
    }
}

#[test]
fn ladder_from_zero_scales_to_zero_replicas() {
    for table in [[(0, 0), (3, 3)], [(1, 0), (3, 3)]] {
        let params = ladder_both(&table);
        for (resource, expected) in [(0, 0), (1, 0), (2, 0), (3, 3), (4, 3)] {
            assert_eq!(
                replicas(&params, &cluster(resource, resource)).replicas,
                expected,
                "table {table:?}, resource {resource}"
            );
        }
    }
}

#[test]
fn ladder_below_the_first_threshold_uses_the_first_step() {
    let params = params(json!({"ladder": {"coresToReplicas": [[4, 2], [8, 3]]}}));
    let decision = replicas(&params, &cluster(1, 1));
    let CpaDetail::Ladder { cores, nodes } = &decision.detail else {
        panic!("expected ladder")
    };
    assert!(cores.below_first_step);
    assert_eq!(
        cores.step,
        Some(LadderStep {
            threshold: 4,
            replicas: 2
        })
    );
    assert_eq!(nodes.step, None, "an absent table gives 1");
    assert_eq!(decision.replicas, 2);
}

#[test]
fn ladder_thresholds_apply_exactly_at_the_step_and_not_just_below() {
    let params = params(json!({"ladder": {"coresToReplicas": [[1, 1], [64, 3], [512, 5]]}}));
    for (cores, expected) in [(63, 1), (64, 3), (65, 3), (511, 3), (512, 5), (100_000, 5)] {
        assert_eq!(
            replicas(&params, &cluster(1, cores)).replicas,
            expected,
            "cores {cores}"
        );
    }
}

#[test]
fn ladder_result_is_the_larger_of_the_two_tables() {
    // Upstream README: 100 nodes and 400 cores → max(3 from cores, 2 from nodes) = 3.
    let params = params(json!({"ladder": {
        "coresToReplicas": [[1, 1], [64, 3], [512, 5], [1024, 7], [2048, 10], [4096, 15]],
        "nodesToReplicas": [[1, 1], [2, 2]]
    }}));
    let decision = replicas(&params, &cluster(100, 400));
    assert_eq!(
        (decision.replicas_from_cores, decision.replicas_from_nodes),
        (3, 2)
    );
    assert_eq!(decision.replicas, 3);
}

#[test]
fn ladder_reads_total_counts_only_with_include_unschedulable_nodes() {
    // Upstream TestScaleFromUnschedulableNodes.
    let table = |include: bool| {
        params(json!({"ladder": {
            "nodesToReplicas": [[0, 0], [1, 1], [2, 2], [3, 3]],
            "coresToReplicas": [[0, 0], [4, 1], [8, 2], [12, 3]],
            "includeUnschedulableNodes": include
        }}))
    };
    let status = ClusterStatus {
        total_nodes: 3,
        schedulable_nodes: 2,
        total_cores: 12,
        schedulable_cores: 8,
    };
    assert_eq!(replicas(&table(true), &status).replicas, 3);
    let status = ClusterStatus {
        total_nodes: 3,
        schedulable_nodes: 1,
        total_cores: 12,
        schedulable_cores: 4,
    };
    assert_eq!(replicas(&table(false), &status).replicas, 1);
}

// --- Parameters ---------------------------------------------------------------------------

#[test]
fn gardener_coredns_default_parameters_parse_and_scale() {
    let params = CpaParams::from_json_str(
        r#"{"linear":{"coresPerReplica":256,"min":2,"nodesPerReplica":16}}"#,
    )
    .unwrap();
    let CpaParams::Linear(linear) = &params else {
        panic!("expected linear")
    };
    assert_eq!(
        (
            linear.cores_per_replica(),
            linear.nodes_per_replica(),
            linear.min(),
            linear.max()
        ),
        (256.0, 16.0, 2, None)
    );
    assert!(!linear.prevent_single_point_failure());
    assert!(!linear.include_unschedulable_nodes());
    // A small cluster sits at min; 40 16-core nodes need ceil(640/256) = ceil(40/16) = 3.
    assert_eq!(replicas(&params, &cluster(3, 12)).replicas, 2);
    assert_eq!(replicas(&params, &cluster(40, 640)).replicas, 3);
    assert_eq!(replicas(&params, &cluster(100, 1600)).replicas, 7);
}

#[test]
fn upstream_parser_cases_are_accepted_and_rejected_alike() {
    // linear_controller_test.go TestControllerParser.
    assert!(CpaParams::from_json_str(
        r#"{"linear":{"coresPerReplica":2,"nodesPerReplica":1,"min":1,"max":100,
            "preventSinglePointFailure":true}}"#
    )
    .is_ok());
    for rejected in [
        r#"{"linear":{ "coresPerReplica": {{ 1:1 } }}"#,
        r#"{"linear":{ "coresPerReplica": "whatisthis"}}"#,
        r#"{"linear":{ "nodesPerReplica":  -20 }}"#,
        r#"{"linear":{ "nodesPerReplica": 1, "min": 100, "max": 50 }}"#,
        r#"{"linear":{ "min": 1, "max": 100 }}"#,
        r#"{"linear":{ "coresPerReplica": 2, "preventSinglePointFailure": invalid }}"#,
        // ladder_controller_test.go TestControllerParser.
        r#"{"ladder":{ "coresToReplicas" : {{ 1:1 } }}"#,
        r#"{"ladder":{ "coresToReplicas" : [[ "1", "a"]] }}"#,
        r#"{"ladder":{ "coresToReplicas" : [[:-200]] }}"#,
    ] {
        assert!(CpaParams::from_json_str(rejected).is_err(), "{rejected}");
    }
    assert!(CpaParams::from_json_str(
        r#"{"ladder":{"coresToReplicas":[[0,0],[1,0],[2,2],[3,3],[512,5],[65535,100],[32768,80]],
            "nodesToReplicas":[[1,1],[2,2],[3,3]],"includeUnschedulableNodes":true}}"#
    )
    .is_ok());
}

#[test]
fn invalid_params_errors_name_the_field() {
    let cases = [
        (
            json!({"linear": {"min": 1, "max": 100}}),
            "linear: should at least provide either coresPerReplica or nodesPerReplica \
             (greater than 0)",
        ),
        (
            json!({"linear": {"coresPerReplica": 0, "nodesPerReplica": 0}}),
            "linear: should at least provide either coresPerReplica or nodesPerReplica \
             (greater than 0)",
        ),
        (
            json!({"linear": {"nodesPerReplica": -1}}),
            "linear.nodesPerReplica: invalid negative value for nodesPerReplica: -1",
        ),
        (
            json!({"linear": {"coresPerReplica": -0.5, "nodesPerReplica": 1}}),
            "linear.coresPerReplica: invalid negative value for coresPerReplica: -0.5",
        ),
        (
            json!({"linear": {"nodesPerReplica": 1, "min": -3}}),
            "linear.min: invalid negative value for min: -3",
        ),
        (
            json!({"linear": {"nodesPerReplica": 1, "min": 5, "max": 4}}),
            "linear.max: max replicas count 4 should be greater than / equal to min replicas \
             count 5",
        ),
        (
            json!({"ladder": {"nodesToReplicas": [[1, 1], [2, -2]]}}),
            "ladder.nodesToReplicas[1]: invalid negative values in entry [2 -2] in \
             nodes_to_replicas_map",
        ),
        (
            json!({"ladder": {"coresToReplicas": [[1, 1], [2]]}}),
            "ladder.coresToReplicas[1]: expected an entry [threshold, replicas] of two \
             integers, got [2]",
        ),
        (
            json!({"linear": {"nodesPerReplica": 1}, "ladder": {"nodesToReplicas": [[1, 1]]}}),
            r#"$: expected exactly one entry, `linear` or `ladder`, got ["ladder", "linear"]"#,
        ),
    ];
    for (document, expected) in cases {
        let err = CpaParams::from_document(&document).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
}

// --- Cluster status -----------------------------------------------------------------------

#[test]
fn include_unschedulable_nodes_counts_cordoned_and_not_ready_nodes() {
    let nodes = [
        node("ready-1", "4", true, false),
        node("ready-2", "4", true, false),
        node("cordoned", "4", true, true),
        node("not-ready", "4", false, false),
    ];
    let status = ClusterStatus::from_nodes(&nodes);
    assert_eq!(
        status,
        ClusterStatus {
            total_nodes: 4,
            schedulable_nodes: 2,
            total_cores: 16,
            schedulable_cores: 8,
        }
    );
    let linear = |include: bool| {
        params(json!({"linear": {
            "nodesPerReplica": 1, "coresPerReplica": 2, "includeUnschedulableNodes": include
        }}))
    };
    let excluded = replicas(&linear(false), &status);
    assert_eq!(
        (excluded.nodes, excluded.cores, excluded.replicas),
        (2, 8, 4)
    );
    let included = replicas(&linear(true), &status);
    assert_eq!(
        (included.nodes, included.cores, included.replicas),
        (4, 16, 8)
    );
}

#[test]
fn max_zero_means_no_upper_bound() {
    let params = params(json!({"linear": {"coresPerReplica": 1, "max": 0}}));
    let decision = replicas(&params, &cluster(1, 5000));
    assert_eq!(decision.replicas, 5000);
    let CpaDetail::Linear { cores, max, .. } = &decision.detail else {
        panic!("expected linear")
    };
    assert_eq!((*max, cores.clamped_to), (None, None));
    let bounded = self::params(json!({"linear": {"coresPerReplica": 1, "max": 7}}));
    let decision = replicas(&bounded, &cluster(1, 5000));
    let CpaDetail::Linear { cores, .. } = &decision.detail else {
        panic!("expected linear")
    };
    assert_eq!(
        (decision.replicas, cores.clamped_to),
        (7, Some(ClampBound::Max))
    );
}

#[test]
fn fractional_allocatable_cpu_is_summed_then_rounded_up() {
    // Three 4-core nodes with 80m reserved each: 11.76 cores → 12.
    let nodes = [
        node("a", "3920m", true, false),
        node("b", "3920m", true, false),
        node("c", "3.92", true, false),
    ];
    let status = ClusterStatus::from_nodes(&nodes);
    assert_eq!(status.schedulable_cores, 12);
    let params = params(json!({"linear": {"coresPerReplica": 4}}));
    assert_eq!(replicas(&params, &status).replicas, 3);
    // Two of them: 7.84 cores → 8, so 4 cores per replica gives 2 (truncating to 7 would too;
    // the cores are what to check).
    let two = ClusterStatus::from_nodes(&nodes[..2]);
    assert_eq!(two.schedulable_cores, 8);
    // 2.5 cores per replica tells them apart: ceil(8 / 2.5) = 4, ceil(7 / 2.5) = 3.
    let params = self::params(json!({"linear": {"coresPerReplica": 2.5}}));
    assert_eq!(replicas(&params, &two).replicas, 4);
    let tiny = ClusterStatus::from_nodes(&[node("edge", "100m", true, false)]);
    assert_eq!(tiny.schedulable_cores, 1);
}

#[test]
fn nodes_per_replica_zero_makes_the_nodes_term_one_regardless_of_min() {
    // Upstream returns 1 for a term with per = 0 without clamping; min still binds through
    // the other term.
    let params = params(json!({"linear": {"coresPerReplica": 100, "min": 3}}));
    let decision = replicas(&params, &cluster(50, 10));
    assert_eq!(decision.replicas_from_nodes, 1);
    assert_eq!(decision.replicas_from_cores, 3);
    assert_eq!(decision.replicas, 3);
}

// --- Properties ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn linear_is_monotone_and_within_bounds(
        cores_per in 0u32..64, nodes_per in 0u32..32, min in 0i64..5, extra in 0i64..50,
        psf: bool, nodes in 0i64..500, cores in 0i64..5000, more_nodes in 0i64..50,
        more_cores in 0i64..500,
    ) {
        prop_assume!(cores_per > 0 || nodes_per > 0);
        let max = if extra == 0 { 0 } else { min.max(1) + extra };
        let params = params(json!({"linear": {
            "coresPerReplica": cores_per, "nodesPerReplica": f64::from(nodes_per) / 2.0,
            "min": min, "max": max, "preventSinglePointFailure": psf
        }}));
        let small = replicas(&params, &cluster(nodes, cores)).replicas;
        let large = replicas(&params, &cluster(nodes + more_nodes, cores + more_cores)).replicas;
        prop_assert!(small <= large);
        prop_assert!(i64::from(small) >= min.max(1));
        if max != 0 {
            let ceiling = if psf { max.max(2) } else { max };
            prop_assert!(i64::from(small) <= ceiling);
        }
    }

    #[test]
    fn ladder_is_monotone_when_replicas_grow_with_thresholds(
        mut table in prop::collection::vec((0i64..1000, 0i64..100), 0..12),
        resource in 0i64..1200, more in 0i64..200,
    ) {
        table.sort_unstable();
        let mut replicas_so_far = 0;
        for step in &mut table {
            replicas_so_far = replicas_so_far.max(step.1);
            step.1 = replicas_so_far;
        }
        let params = ladder_both(&table);
        let small = replicas(&params, &cluster(resource, resource)).replicas;
        let large = replicas(&params, &cluster(resource + more, resource + more)).replicas;
        prop_assert!(small <= large);
    }
}

// --- README examples ----------------------------------------------------------------------

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/explain")
}

/// The decision each example must produce; every `cpa*.json` must be listed here.
const EXAMPLES: &[(&str, i32, ReplicaChange)] = &[
    ("cpa.json", 4, ReplicaChange::ScaleUp),
    ("cpa-ladder.json", 3, ReplicaChange::None),
];

#[test]
fn explain_examples_produce_the_documented_decisions() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("cpa") && name.ends_with(".json") {
            seen.push(name);
        }
    }
    seen.sort();
    let mut listed: Vec<String> = EXAMPLES.iter().map(|(name, ..)| name.to_string()).collect();
    listed.sort();
    assert_eq!(
        seen, listed,
        "every examples/explain/cpa*.json needs an expected decision"
    );

    for (name, expected_replicas, expected_change) in EXAMPLES {
        let text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
        let input: CpaExplainInput = serde_json::from_str(&text).unwrap();
        let explanation = explain(&input).unwrap();
        assert_eq!(explanation.decision.replicas, *expected_replicas, "{name}");
        assert_eq!(explanation.change, *expected_change, "{name}");
        // The output is JSON the README can show.
        serde_json::to_string_pretty(&explanation).unwrap();
    }
}

#[test]
fn linear_example_excludes_the_cordoned_node_and_rounds_cpu_up() {
    let text = std::fs::read_to_string(examples_dir().join("cpa.json")).unwrap();
    let explanation = explain(&serde_json::from_str(&text).unwrap()).unwrap();
    let cordoned: Vec<&str> = explanation
        .nodes
        .iter()
        .filter(|node| !node.counted)
        .map(|node| node.name.as_str())
        .collect();
    assert_eq!(cordoned, ["node-d"]);
    assert_eq!(explanation.schedulable_allocatable_cpu, Some(15_750));
    assert_eq!(explanation.cluster_status.schedulable_cores, 16);
    assert_eq!(explanation.decision.replicas_from_cores, 4);
    assert_eq!(explanation.decision.replicas_from_nodes, 2);
}
