//! Runs `explain` on every document in `examples/explain/` and checks the decision, so the
//! examples the README points at stay true. A new example needs an expectation here.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tachyscale_scaler::hpa::{
    explain, DecisionReason, HpaExplainInput, HpaExplanation, ReplicaStep,
};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/explain")
}

fn run(file: &str) -> HpaExplanation {
    let path = examples_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let input: HpaExplainInput = serde_json::from_str(&text).unwrap();
    let explanation = explain(&input).unwrap();
    // The output document round-trips, so tools can read what we write.
    let json = serde_json::to_string_pretty(&explanation).unwrap();
    let back: HpaExplanation = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.decision.desired_replicas,
        explanation.decision.desired_replicas
    );
    assert_eq!(back.history, explanation.history);
    explanation
}

fn expectation(file: &str) -> Option<(i32, bool, DecisionReason)> {
    match file {
        "hpa-cpu.json" => Some((8, true, DecisionReason::DesiredWithinRange)),
        "hpa-external-behavior.json" => Some((6, false, DecisionReason::ScaleUpLimit)),
        "hpa-failing-metric.json" => Some((4, false, DecisionReason::InvalidMetrics)),
        _ => None,
    }
}

#[test]
fn every_example_has_the_expected_decision() {
    let mut files: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("hpa") && name.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let expected = expectation(&file).unwrap_or_else(|| panic!("no expectation for {file}"));
        let decision = run(&file).decision;
        assert_eq!(
            (decision.desired_replicas, decision.rescale, decision.reason),
            expected,
            "{file}: {decision:#?}"
        );
    }
}

#[test]
fn cpu_example_groups_pods_and_rebalances_the_scale_up() {
    let explanation = run("hpa-cpu.json");
    let calc = explanation.decision.metrics[0].calculation.clone().unwrap();
    let groups = calc.pods.clone().unwrap();
    assert_eq!(groups.ready, 2);
    assert_eq!(
        groups.unready_pods.iter().collect::<Vec<_>>(),
        ["web-2", "web-3"]
    );
    assert_eq!(groups.missing_pods.iter().collect::<Vec<_>>(), ["web-5"]);
    assert_eq!(groups.ignored_pods.iter().collect::<Vec<_>>(), ["web-4"]);
    assert_eq!(
        (calc.utilization, calc.usage, calc.usage_ratio),
        (Some(190), 950, 3.8)
    );
    assert_eq!(
        (calc.new_usage_ratio, calc.step),
        (Some(1.52), ReplicaStep::Rebalanced)
    );
    assert_eq!(
        explanation.decision.rescale_reason.as_deref(),
        Some("cpu resource utilization (percentage of request) above target")
    );
    // The new recommendation joins the history; without behavior no scale event is kept.
    assert_eq!(explanation.history.recommendations.len(), 2);
    assert!(explanation.history.scale_up_events.is_empty());
}

#[test]
fn external_example_is_held_by_the_scale_up_budget_of_the_last_minute() {
    let explanation = run("hpa-external-behavior.json");
    let decision = &explanation.decision;
    let calc = decision.metrics[0].calculation.clone().unwrap();
    assert_eq!(
        (calc.replicas, calc.total_usage, calc.usage),
        (8, Some(240_000), 40_000)
    );
    let limits = decision.limits.clone().unwrap();
    assert_eq!(
        (
            limits.desired_replicas,
            limits.scale_up_limit,
            limits.max_allowed
        ),
        (8, 6, 6)
    );
    assert!(limits
        .policies
        .iter()
        .all(|p| p.direction != "scaleUp" || p.period_start_replicas == 4));
    assert_eq!(explanation.settings.tolerances.scale_down, 0.05);
    // The 11:55 recommendation had left both windows: its slot was reused.
    let replicas: Vec<i32> = explanation
        .history
        .recommendations
        .iter()
        .map(|r| r.replicas)
        .collect();
    assert_eq!(replicas, [8, 6]);
}

#[test]
fn failing_example_reports_why_it_does_not_scale_down() {
    let decision = run("hpa-failing-metric.json").decision;
    assert_eq!(decision.metrics[0].replicas, Some(1));
    let failure = decision.metrics[1].failure.clone().unwrap();
    assert_eq!(failure.condition_reason, "FailedGetPodsMetric");
    assert!(decision.message.contains("(stale)"), "{}", decision.message);
}
