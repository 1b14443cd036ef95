//! Keeps `deploy/scaler.yaml` honest: its ConfigMap is a valid scaler config whose listen
//! port is the container's, the container runs `scale` with that file, and the ClusterRole
//! grants what the role calls: the scale subresource of every kind its policies target,
//! and list/watch of pods and nodes.

#![allow(clippy::unwrap_used)]

use serde::Deserialize as _;
use serde_yaml_ng::Value;
use tachyscale_scaler_service::config::{PolicyKind, ScalerSettings};

fn objects() -> Vec<Value> {
    let path = format!("{}/../../deploy/scaler.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "{kind}");
    found[0]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_config_map_loads_and_matches_the_deployment_and_rbac() {
    let objects = objects();
    let config = one(&objects, "ConfigMap")["data"]["scaler.yaml"]
        .as_str()
        .unwrap();
    let settings = ScalerSettings::parse(config).unwrap();
    assert!(!settings.policies.is_empty());

    let container = &one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        strings(&container["args"])[..3],
        ["scale", "--config", "/etc/tachyscale/scaler.yaml"]
    );
    assert_eq!(
        container["ports"][0]["containerPort"].as_u64().unwrap(),
        u64::from(settings.listen.port())
    );

    let rules = one(&objects, "ClusterRole")["rules"]
        .as_sequence()
        .unwrap()
        .clone();
    let allows = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|rule| {
            rule["apiGroups"].as_sequence().is_some()
                && strings(&rule["apiGroups"]).iter().any(|g| g == group)
                && strings(&rule["resources"]).iter().any(|r| r == resource)
                && strings(&rule["verbs"]).iter().any(|v| v == verb)
        })
    };
    for policy in &settings.policies {
        let target = match &policy.kind {
            PolicyKind::Hpa(hpa) => &hpa.target,
            PolicyKind::Vpa(vpa) => &vpa.target,
            PolicyKind::Cpa(cpa) => &cpa.target,
        };
        let group = target
            .api_version
            .split_once('/')
            .map_or("", |(group, _)| group);
        let resource = format!("{}s/scale", target.kind.to_ascii_lowercase());
        assert!(
            allows(group, &resource, "get"),
            "{} {resource}",
            policy.name
        );
        assert!(
            allows(group, &resource, "patch"),
            "{} {resource}",
            policy.name
        );
    }
    for resource in ["pods", "nodes"] {
        for verb in ["list", "watch"] {
            assert!(allows("", resource, verb), "{verb} {resource}");
        }
    }
    let binding = one(&objects, "ClusterRoleBinding");
    assert_eq!(
        binding["subjects"][0]["name"],
        one(&objects, "ServiceAccount")["metadata"]["name"]
    );
}
