//! `config/scaler.yaml` loads, and bad policies are refused with an error naming the policy
//! and the field.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tachyscale_scaler_service::config::{PolicyKind, ScalerSettings};

#[test]
fn the_documented_example_loads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/scaler.yaml");
    let settings = ScalerSettings::load(&path).unwrap();
    let kinds: Vec<&str> = settings.policies.iter().map(|p| p.kind.engine()).collect();
    assert_eq!(kinds, ["hpa", "hpa", "vpa", "cpa"]);
    let PolicyKind::Hpa(checkout) = &settings.policies[0].kind else {
        unreachable!()
    };
    // Two metrics of its own plus one External metric per trigger and per window.
    assert_eq!(checkout.settings.metrics.len(), 5);
    assert_eq!(checkout.triggers[0].1.metric_name, "s0-aws-sqs-orders");
    assert_eq!(checkout.triggers[1].1.metric_name, "s1-prometheus");
    assert_eq!(checkout.schedules.len(), 1);
    assert_eq!(checkout.schedules[0].metric_name, "s2-cron-business-hours");
    assert_eq!(settings.policies[3].period.as_secs(), 5);
    let empty = ScalerSettings::parse("").unwrap();
    assert!(empty.policies.is_empty());
}

fn error(policies: &str) -> String {
    ScalerSettings::parse(&format!("policies:\n{policies}"))
        .unwrap_err()
        .to_string()
}

const TARGET: &str = "scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}";

#[test]
fn errors_name_the_policy_and_the_field() {
    let bad_max = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, minReplicas: 5, maxReplicas: 2}}\n"
    ));
    assert!(
        bad_max.starts_with("policies[0] (web).hpa: maxReplicas"),
        "{bad_max}"
    );

    let typo = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplica: 2}}\n"
    ));
    assert!(typo.contains("maxReplica"), "{typo}");
    assert!(typo.starts_with("policies[0].hpa"), "{typo}");

    let trigger = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n    triggers:\n      - type: aws-sqs-queue\n        metadata: {{queueLength: \"5\"}}\n"
    ));
    assert_eq!(
        trigger,
        "policies[0] (web).triggers[0]: metadata.queueURL: required"
    );

    let schedule = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n    schedules:\n      - {{start: \"61 * * * *\", end: \"0 18 * * *\", desiredReplicas: 2}}\n"
    ));
    assert!(
        schedule.starts_with("policies[0] (web): schedules[0].start"),
        "{schedule}"
    );

    let two = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n    cpa: {{scaleTargetRef: {{kind: Deployment, name: dns}}, params: {{linear: {{coresPerReplica: 1}}}}}}\n"
    ));
    assert_eq!(
        two,
        "policies[0] (web): exactly one of hpa, vpa and cpa must be set"
    );

    let cpa = error("  - name: dns\n    cpa: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: dns}, params: {linear: {min: 3, max: 1, coresPerReplica: 1}}}\n");
    assert!(cpa.starts_with("policies[0] (dns).cpa.params:"), "{cpa}");

    let vpa = error("  - name: v\n    vpa: {targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, resourcePolicy: {containerPolicies: [{containerName: app, minAllowed: {cpu: 2}, maxAllowed: {cpu: 1}}]}}\n");
    assert!(vpa.starts_with("policies[0] (v).vpa:"), "{vpa}");
    assert!(vpa.contains("containerPolicies[0]"), "{vpa}");

    let no_api_version = error("  - name: dns\n    cpa: {scaleTargetRef: {kind: Deployment, name: dns}, params: {linear: {coresPerReplica: 1}}}\n");
    assert_eq!(
        no_api_version,
        "policies[0] (dns).cpa.scaleTargetRef.apiVersion: required"
    );

    let resource = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2, metrics: [{{type: Resource, resource: {{name: nvidia.com/gpu, target: {{type: AverageValue, averageValue: 1}}}}}}]}}\n"
    ));
    assert!(
        resource.starts_with(
            "policies[0] (web).hpa.metrics[0]: resource \"nvidia.com/gpu\" is not collected"
        ),
        "{resource}"
    );

    let tiny = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n    triggers:\n      - {{type: prometheus, metadata: {{query: up, threshold: \"0.0001\"}}}}\n"
    ));
    assert!(
        tiny.starts_with("policies[0] (web).triggers[0]: the target must be at least 0.001"),
        "{tiny}"
    );

    let period = ScalerSettings::parse("controller: {default_period: 10ms}")
        .unwrap_err()
        .to_string();
    assert_eq!(period, "controller.default_period: must be at least 100ms");

    let elsewhere = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n  - name: web\n    namespace: other\n    hpa: {{{TARGET}, maxReplicas: 2}}\n"
    ));
    assert!(
        elsewhere.starts_with("policies[1].name"),
        "names are unique across namespaces: {elsewhere}"
    );

    let duplicate = error(&format!(
        "  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n  - name: web\n    hpa: {{{TARGET}, maxReplicas: 2}}\n"
    ));
    assert!(duplicate.starts_with("policies[1].name"), "{duplicate}");
}
