//! `role: node`: one target per Node, at its kubelet.
//!
//! Follows Prometheus 2.42 `discovery/kubernetes/node.go`:
//! - the group's source is `node/<name>`; its labels are `__meta_kubernetes_node_name`,
//!   `__meta_kubernetes_node_provider_id` and the node's labels and annotations (with their
//!   `labelpresent` / `annotationpresent` twins), names sanitised;
//! - the single target has `__address__` = the node's address joined with the kubelet port
//!   (`status.daemonEndpoints.kubeletEndpoint.Port`), `instance` = the node name, and one
//!   `__meta_kubernetes_node_address_<type>` label per address type (its first address);
//! - the address is the first of `InternalIP`, `InternalDNS`, `ExternalIP`, `ExternalDNS`,
//!   `LegacyHostIP`, `Hostname` that the node reports.
//!
//! Deviation: a node without any usable address yields no group (the caller logs it), so its
//! previous target goes away; Prometheus sends nothing for it and so keeps its last target.

use k8s_openapi::api::core::v1::Node;

use super::meta::{add_object_meta, join_host_port, role_label, sanitize_label_name};
use crate::discovery::{LabelMap, TargetGroup, ADDRESS_LABEL};
use crate::target::INSTANCE_LABEL;

const ROLE: &str = "node";

/// Address types in the order Prometheus prefers them.
pub const ADDRESS_PRIORITY: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// Why a node gives no target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("node {node} reports no address of a known type")]
    NoAddress { node: String },
}

/// The group of one node: `node/<name>` with its kubelet target.
pub fn node_group(node: &Node) -> Result<TargetGroup, NodeError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut labels = LabelMap::new();
    add_object_meta(&mut labels, ROLE, &node.metadata);
    labels.insert(
        role_label(ROLE, "provider_id"),
        node.spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default(),
    );

    let status = node.status.as_ref();
    let addresses = status.and_then(|s| s.addresses.as_deref()).unwrap_or(&[]);
    // The first address of each type, as Prometheus' per-type map keeps it.
    let mut first_of_type: Vec<(&str, &str)> = Vec::new();
    for address in addresses {
        if !first_of_type.iter().any(|(t, _)| *t == address.type_) {
            first_of_type.push((&address.type_, &address.address));
        }
    }
    let host = ADDRESS_PRIORITY
        .iter()
        .find_map(|wanted| {
            first_of_type
                .iter()
                .find(|(t, _)| t == wanted)
                .map(|(_, a)| *a)
        })
        .ok_or_else(|| NodeError::NoAddress { node: name.clone() })?;
    // Prometheus formats the zero value when the kubelet port is not reported.
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map_or(0, |k| k.port);

    let mut target = LabelMap::new();
    target.insert(ADDRESS_LABEL.to_string(), join_host_port(host, port));
    target.insert(INSTANCE_LABEL.to_string(), name.clone());
    for (kind, address) in first_of_type {
        target.insert(
            role_label(ROLE, &format!("address_{}", sanitize_label_name(kind))),
            address.to_string(),
        );
    }
    Ok(TargetGroup {
        source: format!("node/{name}"),
        targets: vec![target],
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like `kubectl get node -o json` output, trimmed to what discovery reads plus
    /// some fields it must ignore.
    fn worker() -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "worker-1",
                "uid": "6f1d4c1e-2b47-4bde-9a7c-1f0e5c3a9d21",
                "resourceVersion": "48121",
                "labels": {
                    "kubernetes.io/hostname": "worker-1",
                    "node.kubernetes.io/instance-type": "m6i.large",
                    "topology.kubernetes.io/zone": "eu-west-1a"
                },
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true"
                }
            },
            "spec": {"providerID": "aws:///eu-west-1a/i-0abc", "podCIDR": "10.244.1.0/24"},
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": "worker-1"},
                    {"type": "ExternalIP", "address": "203.0.113.7"},
                    {"type": "InternalIP", "address": "10.0.1.17"},
                    {"type": "InternalIP", "address": "10.0.1.18"}
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.33.1"}
            }
        })
    }

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_node_is_one_kubelet_target_with_prometheus_labels() {
        let group = node_group(&node(worker())).unwrap();
        assert_eq!(group.source, "node/worker-1");
        assert_eq!(group.targets.len(), 1);
        let target = &group.targets[0];
        assert_eq!(target["__address__"], "10.0.1.17:10250", "first InternalIP");
        assert_eq!(target["instance"], "worker-1");
        assert_eq!(
            target["__meta_kubernetes_node_address_InternalIP"],
            "10.0.1.17"
        );
        assert_eq!(
            target["__meta_kubernetes_node_address_ExternalIP"],
            "203.0.113.7"
        );
        assert_eq!(
            target["__meta_kubernetes_node_address_Hostname"],
            "worker-1"
        );
        assert_eq!(target.len(), 5);

        let labels = &group.labels;
        assert_eq!(labels["__meta_kubernetes_node_name"], "worker-1");
        assert_eq!(
            labels["__meta_kubernetes_node_provider_id"],
            "aws:///eu-west-1a/i-0abc"
        );
        assert_eq!(
            labels["__meta_kubernetes_node_label_topology_kubernetes_io_zone"],
            "eu-west-1a"
        );
        assert_eq!(
            labels["__meta_kubernetes_node_labelpresent_node_kubernetes_io_instance_type"],
            "true"
        );
        assert_eq!(
            labels["__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl"],
            "0"
        );
        assert_eq!(
            labels["__meta_kubernetes_node_annotationpresent_volumes_kubernetes_io_controller_managed_attach_detach"],
            "true"
        );
        assert_eq!(labels.len(), 2 + 3 * 2 + 2 * 2);
    }

    #[test]
    fn address_types_are_tried_in_prometheus_order() {
        let cases = [
            (
                vec![("Hostname", "h"), ("ExternalDNS", "e.example")],
                "e.example:10250",
            ),
            (
                vec![("Hostname", "h"), ("LegacyHostIP", "192.0.2.1")],
                "192.0.2.1:10250",
            ),
            (
                vec![
                    ("ExternalIP", "198.51.100.1"),
                    ("InternalDNS", "i.internal"),
                ],
                "i.internal:10250",
            ),
            (vec![("Hostname", "h")], "h:10250"),
            (vec![("InternalIP", "fd00::17")], "[fd00::17]:10250"),
        ];
        for (addresses, expected) in cases {
            let mut value = worker();
            value["status"]["addresses"] = addresses
                .iter()
                .map(|(t, a)| json!({"type": t, "address": a}))
                .collect();
            let group = node_group(&node(value)).unwrap();
            assert_eq!(group.targets[0]["__address__"], expected, "{addresses:?}");
        }
    }

    #[test]
    fn a_node_without_addresses_gives_no_target_and_a_missing_port_is_zero() {
        let mut value = worker();
        value["status"]["addresses"] = json!([{"type": "Unknown", "address": "x"}]);
        assert_eq!(
            node_group(&node(value)),
            Err(NodeError::NoAddress {
                node: "worker-1".into()
            })
        );

        let mut value = worker();
        value["status"]
            .as_object_mut()
            .unwrap()
            .remove("daemonEndpoints");
        value["spec"].as_object_mut().unwrap().remove("providerID");
        let group = node_group(&node(value)).unwrap();
        assert_eq!(group.targets[0]["__address__"], "10.0.1.17:0");
        assert_eq!(group.labels["__meta_kubernetes_node_provider_id"], "");
    }
}
