//! Label names shared by the Kubernetes roles, and Prometheus' label-name sanitising.
//!
//! Follows Prometheus 2.42 `discovery/kubernetes` (`kubernetes.go` for the prefix, `node.go`
//! and `pod.go` for the per-object labels) and `util/strutil.SanitizeLabelName`: every
//! character outside `[a-zA-Z0-9_]` becomes `_`, one underscore per character (Go's regexp
//! matches runes, not bytes, so `é` becomes a single `_`). Kubernetes label and annotation
//! keys (`app.kubernetes.io/name`) are therefore exposed as
//! `__meta_kubernetes_pod_label_app_kubernetes_io_name`, with a `labelpresent` twin whose
//! value is `true`, so that relabeling can tell an empty value from a missing key.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::discovery::LabelMap;

/// Every label this discovery produces (except `__address__` and `instance`) starts so.
pub const META_PREFIX: &str = "__meta_kubernetes_";

/// The namespace of a namespaced object.
pub const NAMESPACE_LABEL: &str = "__meta_kubernetes_namespace";

/// The value of every `..._labelpresent_*` and `..._annotationpresent_*` label.
pub const PRESENT: &str = "true";

/// Replaces every character that may not appear in a label name by `_`, as Prometheus'
/// `strutil.SanitizeLabelName` does. The result may still start with a digit; callers
/// always put a prefix in front of it.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `__meta_kubernetes_<role>_<suffix>`.
pub fn role_label(role: &str, suffix: &str) -> String {
    format!("{META_PREFIX}{role}_{suffix}")
}

/// Adds `<role>_name`, `<role>_label_*`, `<role>_labelpresent_*`, `<role>_annotation_*` and
/// `<role>_annotationpresent_*` for an object's metadata.
pub fn add_object_meta(labels: &mut LabelMap, role: &str, meta: &ObjectMeta) {
    labels.insert(
        role_label(role, "name"),
        meta.name.clone().unwrap_or_default(),
    );
    add_map(labels, role, "label", meta.labels.as_ref());
    add_map(labels, role, "annotation", meta.annotations.as_ref());
}

fn add_map(
    labels: &mut LabelMap,
    role: &str,
    kind: &str,
    entries: Option<&BTreeMap<String, String>>,
) {
    for (key, value) in entries.into_iter().flatten() {
        let name = sanitize_label_name(key);
        labels.insert(role_label(role, &format!("{kind}_{name}")), value.clone());
        labels.insert(
            role_label(role, &format!("{kind}present_{name}")),
            PRESENT.to_string(),
        );
    }
}

/// `host:port`, with brackets around IPv6 hosts, as Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_characters_become_one_underscore_each() {
        assert_eq!(
            sanitize_label_name("app.kubernetes.io/name"),
            "app_kubernetes_io_name"
        );
        assert_eq!(
            sanitize_label_name("prometheus.io/scrape"),
            "prometheus_io_scrape"
        );
        assert_eq!(sanitize_label_name("Zone-A_1"), "Zone_A_1");
        assert_eq!(sanitize_label_name("café"), "caf_", "one _ per character");
        assert_eq!(sanitize_label_name("日本"), "__");
        assert_eq!(sanitize_label_name(""), "");
    }

    #[test]
    fn object_meta_gives_name_labels_annotations_and_their_presence() {
        let meta: ObjectMeta = serde_json::from_value(serde_json::json!({
            "name": "web-0",
            "labels": {"app.kubernetes.io/name": "web", "empty": ""},
            "annotations": {"prometheus.io/scrape": "true"}
        }))
        .unwrap();
        let mut labels = LabelMap::new();
        add_object_meta(&mut labels, "pod", &meta);
        let expected: LabelMap = [
            ("__meta_kubernetes_pod_name", "web-0"),
            ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web"),
            (
                "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name",
                "true",
            ),
            ("__meta_kubernetes_pod_label_empty", ""),
            ("__meta_kubernetes_pod_labelpresent_empty", "true"),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
                "true",
            ),
            (
                "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape",
                "true",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(join_host_port("10.0.0.1", 9100), "10.0.0.1:9100");
        assert_eq!(join_host_port("fd00::1", 9100), "[fd00::1]:9100");
    }
}
