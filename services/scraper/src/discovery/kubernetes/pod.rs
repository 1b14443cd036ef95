//! `role: pod`: one target per declared container port, one per container without ports.
//!
//! Follows Prometheus 2.42 `discovery/kubernetes/pod.go`:
//! - the group's source is `pod/<namespace>/<name>`; its labels are
//!   `__meta_kubernetes_namespace`, `__meta_kubernetes_pod_{name,ip,ready,phase,node_name,
//!   host_ip,uid}`, `..._controller_{kind,name}` (from the owner reference marked
//!   `controller`, each only when non-empty) and the pod's labels and annotations with their
//!   `labelpresent` / `annotationpresent` twins, names sanitised;
//! - containers, then init containers: each declared port is a target at `<podIP>:<port>`
//!   with `..._container_{name,image,init}` and `..._container_port_{name,number,protocol}`;
//!   a container without ports is one target at the bare pod IP (relabeling adds a port);
//! - `_ready` is the `Ready` condition's status lowercased, `unknown` without one;
//! - a pod without an IP (scheduling, evicted) has no targets.
//!
//! Which pods are scraped, on which port and path (`prometheus.io/scrape` etc.) is left to
//! the job's `relabel_configs`, exactly as in Prometheus.
//!
//! Deviations: pods in phase `Succeeded` or `Failed` have no targets. Prometheus 2.42 keeps
//! them until Kubernetes garbage-collects the pod (prometheus/prometheus#10755), and their IP
//! may meanwhile belong to another pod; the Prometheus Operator drops them with a relabel
//! rule, here it is built in. `__meta_kubernetes_pod_container_id` (Prometheus 2.43) and the
//! `attach_metadata` node labels are not produced.

use k8s_openapi::api::core::v1::{Container, Pod};

use super::meta::{add_object_meta, join_host_port, role_label, NAMESPACE_LABEL};
use crate::discovery::{LabelMap, TargetGroup, ADDRESS_LABEL};

const ROLE: &str = "pod";

/// Phases whose pods are never scraped (see the module doc).
pub const TERMINAL_PHASES: [&str; 2] = ["Succeeded", "Failed"];

/// The group of one pod, or `None` when it has no targets (no IP yet, or finished).
pub fn pod_group(pod: &Pod) -> Option<TargetGroup> {
    let status = pod.status.as_ref();
    let ip = status
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())?;
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or_default();
    if TERMINAL_PHASES.contains(&phase) {
        return None;
    }
    let meta = &pod.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();

    let mut labels = LabelMap::new();
    add_object_meta(&mut labels, ROLE, meta);
    labels.insert(NAMESPACE_LABEL.to_string(), namespace.clone());
    let mut set = |suffix: &str, value: &str| {
        labels.insert(role_label(ROLE, suffix), value.to_string());
    };
    set("ip", ip);
    set("ready", &ready(pod));
    set("phase", phase);
    set(
        "node_name",
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default(),
    );
    set(
        "host_ip",
        status
            .and_then(|s| s.host_ip.as_deref())
            .unwrap_or_default(),
    );
    set("uid", meta.uid.as_deref().unwrap_or_default());
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(owner) = controller {
        if !owner.kind.is_empty() {
            set("controller_kind", &owner.kind);
        }
        if !owner.name.is_empty() {
            set("controller_name", &owner.name);
        }
    }

    let mut targets = Vec::new();
    if let Some(spec) = &pod.spec {
        let init = spec.init_containers.iter().flatten();
        for (container, is_init) in spec
            .containers
            .iter()
            .map(|c| (c, false))
            .chain(init.map(|c| (c, true)))
        {
            container_targets(&mut targets, ip, container, is_init);
        }
    }
    Some(TargetGroup {
        source: format!("pod/{namespace}/{name}"),
        targets,
        labels,
    })
}

fn container_targets(targets: &mut Vec<LabelMap>, ip: &str, container: &Container, init: bool) {
    let mut base = LabelMap::new();
    base.insert(role_label(ROLE, "container_name"), container.name.clone());
    base.insert(
        role_label(ROLE, "container_image"),
        container.image.clone().unwrap_or_default(),
    );
    base.insert(role_label(ROLE, "container_init"), init.to_string());
    let ports = container.ports.as_deref().unwrap_or_default();
    if ports.is_empty() {
        base.insert(ADDRESS_LABEL.to_string(), ip.to_string());
        targets.push(base);
        return;
    }
    for port in ports {
        let mut target = base.clone();
        let number = port.container_port.to_string();
        target.insert(ADDRESS_LABEL.to_string(), join_host_port(ip, &number));
        target.insert(role_label(ROLE, "container_port_number"), number);
        target.insert(
            role_label(ROLE, "container_port_name"),
            port.name.clone().unwrap_or_default(),
        );
        target.insert(
            role_label(ROLE, "container_port_protocol"),
            port.protocol.clone().unwrap_or_default(),
        );
        targets.push(target);
    }
}

/// The `Ready` condition's status, lowercased; `unknown` without one.
fn ready(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "unknown".to_string(), |c| c.status.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Populated, TargetDefaults};
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Duration;

    /// Shaped like `kubectl get pod -o json` output for a Deployment's pod with a sidecar
    /// and an init container, trimmed but with fields discovery must ignore.
    fn api_pod() -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "api-7d9f6b5c4-x2x9k",
                "namespace": "shop",
                "uid": "0b6a2f5e-8a4e-4f3c-9d43-5bd1f0f7d1aa",
                "resourceVersion": "90210",
                "labels": {"app.kubernetes.io/name": "api", "pod-template-hash": "7d9f6b5c4"},
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": "9090",
                    "prometheus.io/path": "/internal/metrics"
                },
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "not-the-controller", "uid": "u0"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f6b5c4",
                     "uid": "u1", "controller": true, "blockOwnerDeletion": true}
                ]
            },
            "spec": {
                "nodeName": "worker-1",
                "initContainers": [{"name": "migrate", "image": "shop/api:1.4.2"}],
                "containers": [
                    {"name": "api", "image": "shop/api:1.4.2", "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}
                    ]},
                    {"name": "envoy", "image": "envoyproxy/envoy:v1.30"}
                ]
            },
            "status": {
                "phase": "Running",
                "hostIP": "10.0.1.17",
                "podIP": "10.244.1.23",
                "podIPs": [{"ip": "10.244.1.23"}],
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "True"},
                    {"type": "ContainersReady", "status": "True"}
                ],
                "containerStatuses": [{"name": "api", "ready": true, "restartCount": 0,
                    "image": "shop/api:1.4.2", "imageID": "", "containerID": "containerd://abc"}]
            }
        })
    }

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_pod_gives_one_target_per_port_and_per_portless_container() {
        let group = pod_group(&pod(api_pod())).unwrap();
        assert_eq!(group.source, "pod/shop/api-7d9f6b5c4-x2x9k");
        let p = "__meta_kubernetes_pod_";
        let expected = vec![
            labels(&[
                ("__address__", "10.244.1.23:8080"),
                (&format!("{p}container_name"), "api"),
                (&format!("{p}container_image"), "shop/api:1.4.2"),
                (&format!("{p}container_init"), "false"),
                (&format!("{p}container_port_name"), "http"),
                (&format!("{p}container_port_number"), "8080"),
                (&format!("{p}container_port_protocol"), "TCP"),
            ]),
            labels(&[
                ("__address__", "10.244.1.23:9090"),
                (&format!("{p}container_name"), "api"),
                (&format!("{p}container_image"), "shop/api:1.4.2"),
                (&format!("{p}container_init"), "false"),
                (&format!("{p}container_port_name"), "metrics"),
                (&format!("{p}container_port_number"), "9090"),
                (&format!("{p}container_port_protocol"), "TCP"),
            ]),
            labels(&[
                ("__address__", "10.244.1.23"),
                (&format!("{p}container_name"), "envoy"),
                (&format!("{p}container_image"), "envoyproxy/envoy:v1.30"),
                (&format!("{p}container_init"), "false"),
            ]),
            labels(&[
                ("__address__", "10.244.1.23"),
                (&format!("{p}container_name"), "migrate"),
                (&format!("{p}container_image"), "shop/api:1.4.2"),
                (&format!("{p}container_init"), "true"),
            ]),
        ];
        assert_eq!(group.targets, expected);

        let expected_group = labels(&[
            ("__meta_kubernetes_namespace", "shop"),
            (&format!("{p}name"), "api-7d9f6b5c4-x2x9k"),
            (&format!("{p}ip"), "10.244.1.23"),
            (&format!("{p}ready"), "true"),
            (&format!("{p}phase"), "Running"),
            (&format!("{p}node_name"), "worker-1"),
            (&format!("{p}host_ip"), "10.0.1.17"),
            (&format!("{p}uid"), "0b6a2f5e-8a4e-4f3c-9d43-5bd1f0f7d1aa"),
            (&format!("{p}controller_kind"), "ReplicaSet"),
            (&format!("{p}controller_name"), "api-7d9f6b5c4"),
            (&format!("{p}label_app_kubernetes_io_name"), "api"),
            (&format!("{p}labelpresent_app_kubernetes_io_name"), "true"),
            (&format!("{p}label_pod_template_hash"), "7d9f6b5c4"),
            (&format!("{p}labelpresent_pod_template_hash"), "true"),
            (&format!("{p}annotation_prometheus_io_scrape"), "true"),
            (
                &format!("{p}annotationpresent_prometheus_io_scrape"),
                "true",
            ),
            (&format!("{p}annotation_prometheus_io_port"), "9090"),
            (&format!("{p}annotationpresent_prometheus_io_port"), "true"),
            (
                &format!("{p}annotation_prometheus_io_path"),
                "/internal/metrics",
            ),
            (&format!("{p}annotationpresent_prometheus_io_path"), "true"),
        ]);
        assert_eq!(group.labels, expected_group);
    }

    #[test]
    fn pods_without_ip_or_finished_have_no_targets() {
        let mut pending = api_pod();
        pending["status"] = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
        assert_eq!(pod_group(&pod(pending)), None);

        for phase in ["Succeeded", "Failed"] {
            let mut done = api_pod();
            done["status"]["phase"] = json!(phase);
            assert_eq!(pod_group(&pod(done)), None, "{phase}");
        }
    }

    #[test]
    fn readiness_and_controller_follow_the_conditions_and_owner() {
        let mut value = api_pod();
        value["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
        value["metadata"]["ownerReferences"] = json!([]);
        value["status"]["podIP"] = json!("fd00:10:244::17");
        let group = pod_group(&pod(value)).unwrap();
        assert_eq!(group.labels["__meta_kubernetes_pod_ready"], "false");
        assert!(!group
            .labels
            .contains_key("__meta_kubernetes_pod_controller_kind"));
        assert_eq!(group.targets[0]["__address__"], "[fd00:10:244::17]:8080");

        let mut value = api_pod();
        value["status"]
            .as_object_mut()
            .unwrap()
            .remove("conditions");
        let group = pod_group(&pod(value)).unwrap();
        assert_eq!(group.labels["__meta_kubernetes_pod_ready"], "unknown");
    }

    /// Prometheus' classic `kubernetes-pods` job (documentation/examples, with the scheme
    /// rule that the Helm chart adds) pasted as is: annotated pods are scraped on the
    /// annotated port and path, the others dropped.
    const CANONICAL_POD_RELABEL: &str =
        include_str!("../../../testdata/kubernetes-pods-relabel.yml");

    #[test]
    fn the_canonical_pod_relabeling_scrapes_the_annotated_port_and_path() {
        let defaults = TargetDefaults {
            job: "kubernetes-pods".into(),
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(800),
            params: Vec::new(),
            relabel_configs: Arc::new(crate::relabel::parse_list(CANONICAL_POD_RELABEL).unwrap()),
        };
        let mut unannotated = api_pod();
        unannotated["metadata"]["name"] = json!("worker-0");
        unannotated["metadata"]["annotations"] = json!({});
        let groups = vec![
            pod_group(&pod(api_pod())).unwrap(),
            pod_group(&pod(unannotated)).unwrap(),
        ];
        let mut urls = Vec::new();
        let mut dropped = 0;
        for populated in crate::target::targets_from_groups(&defaults, &groups) {
            match populated {
                Populated::Target(t) => {
                    assert_eq!(t.labels.get("kubernetes_namespace"), Some("shop"));
                    assert_eq!(
                        t.labels.get("kubernetes_pod_name"),
                        Some("api-7d9f6b5c4-x2x9k")
                    );
                    assert_eq!(t.labels.get("app_kubernetes_io_name"), Some("api"));
                    assert_eq!(t.labels.get("instance"), Some("10.244.1.23:9090"));
                    assert_eq!(t.labels.get("job"), Some("kubernetes-pods"));
                    urls.push(t.url.to_string());
                }
                Populated::Dropped(_) => dropped += 1,
                Populated::Invalid(labels, err) => panic!("{labels:?}: {err}"),
            }
        }
        // Every target of the annotated pod collapses onto the annotated port: the job
        // dedups them by key, as Prometheus does by label hash.
        urls.dedup();
        assert_eq!(urls, ["http://10.244.1.23:9090/internal/metrics"]);
        assert_eq!(dropped, 4, "the unannotated pod's targets are dropped");
    }
}
