//! `fleet.kubernetes`: the live fleet members are the ready pods behind a Service.
//!
//! The scrapers run as a StatefulSet with a headless Service; each member's name is its pod
//! name (`POD_NAME`, from the downward API). This watches the Service's
//! `discovery.k8s.io/v1` EndpointSlices (label `kubernetes.io/service-name=<service>`) and
//! publishes the pod names (`targetRef.name`) of the endpoints that are ready, sorted. Every
//! member reads the same slices, so all agree on the set that rendezvous sharding ranks;
//! this member counts only once its own pod is ready (its `/readyz` answers 200), and a
//! draining member (503 on `/readyz`) drops out for everyone at once.
//!
//! "Ready" is `ready && serving && !terminating`, each condition absent counting as the
//! API's default (`true`, `true`, `false`): with `publishNotReadyAddresses` (common on
//! headless Services for DNS) Kubernetes reports `ready: true` for every pod, and only
//! `serving` still follows the readiness probe. With `port` set, only slices listing that
//! port count: Kubernetes splits endpoints whose named target port resolves to different
//! numbers into different slices, e.g. mid-rollout after a port change.
//!
//! Until the first list completes the published set is empty, so this member scrapes
//! nothing rather than everything (which would duplicate its peers' targets).

use std::collections::BTreeSet;
use std::path::PathBuf;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::Api;
use serde::Deserialize;
use tachyscale_config::FieldError;
use tokio_util::sync::CancellationToken;

use super::{client_settings, connect_with_retry, is_dns_label, watch, ClientSettings};
use super::{ErrorSink, KubernetesSdError};
use crate::config::RawTlsConfig;

/// The label EndpointSlices carry with the name of their Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `fleet.kubernetes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleetKubernetesConfig {
    /// The Service's namespace; absent = the client's default namespace (in a cluster:
    /// this pod's own).
    pub namespace: Option<String>,
    /// The (headless) Service of the scrapers' StatefulSet.
    pub service: String,
    /// Only endpoints of slices that list this port number count; absent = any slice.
    pub port: Option<u16>,
    /// As in `kubernetes_sd_configs`; absent = in-cluster (or kubeconfig) config.
    pub api_server: Option<String>,
    pub kubeconfig_file: Option<PathBuf>,
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_config: RawTlsConfig,
}

/// Validated `fleet.kubernetes`.
#[derive(Debug, Clone)]
pub struct FleetKubernetesSettings {
    pub namespace: Option<String>,
    pub service: String,
    pub port: Option<u16>,
    pub client: ClientSettings,
}

impl TryFrom<RawFleetKubernetesConfig> for FleetKubernetesSettings {
    type Error = FieldError;

    fn try_from(raw: RawFleetKubernetesConfig) -> Result<Self, FieldError> {
        if !is_dns_label(&raw.service) {
            return Err(FieldError::new(
                "service",
                format!("{:?} is not a Service name", raw.service),
            ));
        }
        if let Some(ns) = raw.namespace.as_ref().filter(|ns| !is_dns_label(ns)) {
            return Err(FieldError::new(
                "namespace",
                format!("{ns:?} is not a namespace name"),
            ));
        }
        if raw.port == Some(0) {
            return Err(FieldError::new("port", "must be 1-65535"));
        }
        Ok(FleetKubernetesSettings {
            namespace: raw.namespace,
            service: raw.service,
            port: raw.port,
            client: client_settings(
                raw.api_server,
                raw.kubeconfig_file,
                raw.bearer_token_file,
                &raw.tls_config,
            )?,
        })
    }
}

/// The members one EndpointSlice names, ready or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliceMembers {
    pub ready: BTreeSet<String>,
    pub not_ready: BTreeSet<String>,
}

/// The members of one slice; `None` when the slice does not serve `port`.
pub fn slice_members(slice: &EndpointSlice, port: Option<u16>) -> Option<SliceMembers> {
    if let Some(wanted) = port {
        let listed = slice
            .ports
            .iter()
            .flatten()
            .any(|p| p.port == Some(i32::from(wanted)));
        if !listed {
            return None;
        }
    }
    let mut members = SliceMembers::default();
    for endpoint in &slice.endpoints {
        let Some(target) = &endpoint.target_ref else {
            continue;
        };
        if target.kind.as_deref().is_some_and(|k| k != "Pod") {
            continue;
        }
        let Some(name) = target.name.clone().filter(|n| !n.is_empty()) else {
            continue;
        };
        let conditions = endpoint.conditions.as_ref();
        let ready = conditions.and_then(|c| c.ready) != Some(false)
            && conditions.and_then(|c| c.serving) != Some(false)
            && conditions.and_then(|c| c.terminating) != Some(true);
        if ready {
            members.ready.insert(name);
        } else {
            members.not_ready.insert(name);
        }
    }
    Some(members)
}

/// The fleet as the slices show it, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetView {
    /// Ready in at least one slice (a pod may briefly appear in two while slices churn).
    pub live: Vec<String>,
    /// Listed, but ready in none.
    pub down: Vec<String>,
}

/// Merges the members of every slice.
pub fn fleet_view<'a>(slices: impl IntoIterator<Item = &'a SliceMembers>) -> FleetView {
    let mut live = BTreeSet::new();
    let mut listed = BTreeSet::new();
    for slice in slices {
        live.extend(slice.ready.iter().cloned());
        listed.extend(slice.not_ready.iter().cloned());
    }
    FleetView {
        down: listed.difference(&live).cloned().collect(),
        live: live.into_iter().collect(),
    }
}

/// Watches the Service's slices until `shutdown`, calling `publish` with the fleet after
/// each change (first after the initial list).
pub async fn watch_members(
    settings: FleetKubernetesSettings,
    mut publish: impl FnMut(FleetView),
    on_error: ErrorSink,
    shutdown: CancellationToken,
) {
    let Some(client) = connect_with_retry(&settings.client, &on_error, &shutdown).await else {
        return;
    };
    let namespace = settings
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    tracing::info!(namespace = %namespace, service = %settings.service, "watching fleet endpoints");
    let api = Api::<EndpointSlice>::namespaced(client, &namespace);
    let config =
        watcher::Config::default().labels(&format!("{SERVICE_NAME_LABEL}={}", settings.service));
    let port = settings.port;
    watch::watch_objects(
        vec![api],
        config,
        |slice: &EndpointSlice| slice_members(slice, port),
        |caches: &[watch::ObjectCache<SliceMembers>]| {
            publish(fleet_view(caches.iter().flat_map(|c| c.values())));
        },
        |source| {
            on_error(&KubernetesSdError::Watch {
                what: "endpointslice",
                source,
            })
        },
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like the slice the EndpointSlice controller writes for a StatefulSet's
    /// headless Service with `publishNotReadyAddresses: false`.
    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "scrapers-x7k2p",
                "namespace": "tachyscale",
                "labels": {
                    "kubernetes.io/service-name": "scrapers",
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
                },
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "scrapers",
                    "uid": "s1", "controller": true}]
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 9202, "protocol": "TCP"}],
            "endpoints": endpoints
        }))
        .unwrap()
    }

    fn endpoint(pod: &str, ip: &str, conditions: serde_json::Value) -> serde_json::Value {
        json!({
            "addresses": [ip],
            "conditions": conditions,
            "hostname": pod,
            "nodeName": "worker-1",
            "targetRef": {"kind": "Pod", "namespace": "tachyscale", "name": pod, "uid": pod}
        })
    }

    #[test]
    fn ready_endpoints_are_members_and_the_others_are_down() {
        let s = slice(json!([
            endpoint("scraper-0", "10.244.1.5", json!({"ready": true, "serving": true, "terminating": false})),
            endpoint("scraper-1", "10.244.2.9", json!({"ready": false, "serving": false, "terminating": false})),
            endpoint("scraper-2", "10.244.3.4", json!({})),
            endpoint("scraper-3", "10.244.3.5", json!({"ready": false, "serving": true, "terminating": true})),
            {"addresses": ["10.0.0.9"], "conditions": {"ready": true}},
        ]));
        let members = slice_members(&s, Some(9202)).unwrap();
        assert_eq!(
            members.ready.iter().collect::<Vec<_>>(),
            ["scraper-0", "scraper-2"],
            "absent conditions count as ready"
        );
        assert_eq!(
            members.not_ready.iter().collect::<Vec<_>>(),
            ["scraper-1", "scraper-3"]
        );
        assert_eq!(slice_members(&s, Some(9090)), None, "other port");
    }

    #[test]
    fn publish_not_ready_addresses_is_read_through_serving() {
        // The controller reports ready: true for every pod of such a Service.
        let s = slice(json!([endpoint(
            "scraper-1",
            "10.244.2.9",
            json!({"ready": true, "serving": false, "terminating": false})
        )]));
        let members = slice_members(&s, None).unwrap();
        assert!(members.ready.is_empty());
    }

    #[test]
    fn slices_merge_and_ready_anywhere_wins() {
        let a = slice_members(
            &slice(json!([
                endpoint("scraper-0", "10.244.1.5", json!({"ready": true})),
                endpoint("scraper-1", "10.244.2.9", json!({"ready": false})),
            ])),
            None,
        )
        .unwrap();
        let b = slice_members(
            &slice(json!([
                endpoint("scraper-1", "10.244.2.9", json!({"ready": true})),
                endpoint("scraper-2", "10.244.3.4", json!({"ready": false})),
            ])),
            None,
        )
        .unwrap();
        assert_eq!(
            fleet_view([&a, &b]),
            FleetView {
                live: vec!["scraper-0".into(), "scraper-1".into()],
                down: vec!["scraper-2".into()],
            }
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let parse = |yaml: &str| {
            let raw: RawFleetKubernetesConfig = serde_yaml_ng::from_str(yaml).unwrap();
            FleetKubernetesSettings::try_from(raw)
        };
        assert_eq!(parse("service: Scrapers").unwrap_err().field, "service");
        assert_eq!(
            parse("service: s\nnamespace: 'a b'").unwrap_err().field,
            "namespace"
        );
        assert_eq!(parse("service: s\nport: 0").unwrap_err().field, "port");
        let ok = parse("service: scrapers\nport: 9202").unwrap();
        assert!(matches!(ok.client, ClientSettings::Infer));
        assert_eq!(ok.namespace, None);
    }
}
