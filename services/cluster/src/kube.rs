//! The [`Cluster`] trait against a real API server, through kube-rs.
//!
//! - **Scale**: the `scale` subresource of whatever `scaleTargetRef` names, as the HPA
//!   controller does, so Deployments, StatefulSets, ReplicaSets and custom resources with
//!   a scale subresource all work. The common `apps/v1` kinds are mapped directly; other
//!   kinds are resolved once through API discovery and cached. A discovered kind without a
//!   `scale` subresource is [`ClusterError::NoScaleSubresource`] (not cached, so a CRD that
//!   gains one is picked up), and a kind its group does not serve is
//!   [`ClusterError::NotFound`], like a missing group or object. Writes are a merge patch of
//!   `spec.replicas` only.
//! - **Pods and nodes**: one cluster-wide watch each (`kube::runtime` reflector), with
//!   managed fields and annotations dropped to keep the cache small. Reads filter the cache,
//!   so pods and nodes cost the API server nothing per tick (the scale subresource is still
//!   one GET per policy tick); before
//!   the first list completes they fail with [`ClusterError::NotSynced`] rather than
//!   answering "no pods", which the HPA would read as every pod missing.
//!
//! Quantities become milli-units with `tachyscale_kubeformat`'s parser (rounding up, like
//! `MilliValue()`); an unparsable request is left out, as the HPA treats a missing one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt as _};
use kube::{Api, Client, ResourceExt as _};
use parking_lot::Mutex;
use tachyscale_kubeformat::quantity;
use tokio_util::sync::CancellationToken;

use crate::model::{
    ConditionStatus, ContainerInfo, NodeInfo, PodInfo, PodPhase, ReadyCondition, Scale, WorkloadRef,
};
use crate::{Cluster, ClusterError};

/// Makes ring rustls' process-wide crypto provider unless one is already installed.
///
/// The binary links two rustls providers (ring, used by kube-rs and our TLS listeners, and
/// aws-lc-rs, which the AWS SDK brings), and with two linked rustls refuses to guess:
/// building a kube-rs client would panic. Call this before `kube::Client::try_from`.
pub fn install_default_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Field manager name on replica patches, shown in `managedFields`.
const FIELD_MANAGER: &str = "tachyscale-scaler";

/// A kube-rs backed cluster. Start it with [`KubeCluster::start`]; the watches stop when
/// the token is cancelled.
pub struct KubeCluster {
    client: Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    resources: Mutex<HashMap<(String, String), ApiResource>>,
}

impl KubeCluster {
    /// Starts the pod and node watches and returns the cluster handle.
    pub fn start(client: Client, shutdown: CancellationToken) -> Arc<KubeCluster> {
        install_default_crypto_provider();
        let pods = spawn_reflector(Api::<Pod>::all(client.clone()), "pods", shutdown.clone());
        let nodes = spawn_reflector(Api::<Node>::all(client.clone()), "nodes", shutdown);
        Arc::new(KubeCluster {
            client,
            pods,
            nodes,
            resources: Mutex::new(HashMap::new()),
        })
    }

    async fn api_resource(&self, target: &WorkloadRef) -> Result<ApiResource, ClusterError> {
        let key = (target.api_version.clone(), target.kind.clone());
        if let Some(resource) = self.resources.lock().get(&key) {
            return Ok(resource.clone());
        }
        let (group, version) = match target.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", target.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &target.kind);
        let resource = match well_known_plural(group, &target.kind) {
            Some(plural) => ApiResource::from_gvk_with_plural(&gvk, plural),
            None => {
                let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .map_err(|source| api_error(target, "discover the workload kind", source))?;
                // Without this check the scale request of such a kind gets a 404, which
                // reads as a missing object rather than a kind that cannot be scaled.
                if !capabilities
                    .subresources
                    .iter()
                    .any(|(subresource, _)| subresource.plural == "scale")
                {
                    return Err(ClusterError::NoScaleSubresource {
                        kind: target.kind.clone(),
                        namespace: target.namespace.clone(),
                        name: target.name.clone(),
                    });
                }
                resource
            }
        };
        self.resources.lock().insert(key, resource.clone());
        Ok(resource)
    }

    async fn workload_api(&self, target: &WorkloadRef) -> Result<Api<DynamicObject>, ClusterError> {
        let resource = self.api_resource(target).await?;
        Ok(Api::namespaced_with(
            self.client.clone(),
            &target.namespace,
            &resource,
        ))
    }
}

fn spawn_reflector<K>(api: Api<K>, what: &'static str, shutdown: CancellationToken) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(|object: &mut K| {
                object.managed_fields_mut().clear();
                object.annotations_mut().clear();
            }),
    );
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = stream.next() => match event {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => tracing::warn!(resource = what, %error, "watch failed; retrying"),
                    None => break,
                },
            }
        }
    });
    reader
}

fn well_known_plural(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("apps", "Deployment") => Some("deployments"),
        ("apps", "StatefulSet") => Some("statefulsets"),
        ("apps", "ReplicaSet") => Some("replicasets"),
        ("", "ReplicationController") => Some("replicationcontrollers"),
        _ => None,
    }
}

/// A failed request about `target`: a `404` (missing object, or a group the API server does
/// not serve) and a kind its group does not list are all "not found".
fn api_error(target: &WorkloadRef, operation: &'static str, source: kube::Error) -> ClusterError {
    match &source {
        kube::Error::Api(status) if status.is_not_found() => ClusterError::NotFound {
            kind: target.kind.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
        },
        kube::Error::Discovery(kube::error::DiscoveryError::MissingKind(_)) => {
            ClusterError::NotFound {
                kind: target.kind.clone(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
            }
        }
        _ => ClusterError::Api { operation, source },
    }
}

fn synced<K: kube::Resource + Clone>(
    store: &Store<K>,
    what: &'static str,
) -> Result<(), ClusterError>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    match store.wait_until_ready().now_or_never() {
        Some(Ok(())) => Ok(()),
        _ => Err(ClusterError::NotSynced { what }),
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn scale(&self, target: &WorkloadRef) -> Result<Scale, ClusterError> {
        let scale = self
            .workload_api(target)
            .await?
            .get_scale(&target.name)
            .await
            .map_err(|source| api_error(target, "get the scale subresource", source))?;
        let status = scale.status.unwrap_or_default();
        Ok(Scale {
            spec_replicas: scale.spec.and_then(|spec| spec.replicas).unwrap_or(0),
            status_replicas: status.replicas,
            selector: status.selector.unwrap_or_default(),
        })
    }

    async fn set_replicas(&self, target: &WorkloadRef, replicas: i32) -> Result<(), ClusterError> {
        if replicas < 0 {
            return Err(ClusterError::InvalidReplicas {
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                replicas,
            });
        }
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        self.workload_api(target)
            .await?
            .patch_scale(
                &target.name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|source| api_error(target, "patch the scale subresource", source))?;
        Ok(())
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ClusterError> {
        let parsed = crate::error::parse_selector(selector)?;
        synced(&self.pods, "pod")?;
        Ok(self
            .pods
            .state()
            .iter()
            .filter(|pod| pod.namespace().as_deref() == Some(namespace))
            .filter(|pod| parsed.matches(|key| pod.labels().get(key).map(String::as_str)))
            .map(|pod| pod_info(pod))
            .collect())
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        synced(&self.nodes, "node")?;
        Ok(self
            .nodes
            .state()
            .iter()
            .map(|node| node_info(node))
            .collect())
    }
}

fn milli(quantity: &Quantity) -> Option<i64> {
    let parsed = quantity::parse(&quantity.0).ok()?;
    Some(
        parsed
            .milli()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
    )
}

fn milli_map(quantities: Option<&BTreeMap<String, Quantity>>) -> BTreeMap<String, i64> {
    quantities
        .into_iter()
        .flatten()
        .filter_map(|(name, quantity)| Some((name.clone(), milli(quantity)?)))
        .collect()
}

fn container_info(container: &Container) -> ContainerInfo {
    ContainerInfo {
        name: container.name.clone(),
        requests: milli_map(
            container
                .resources
                .as_ref()
                .and_then(|resources| resources.requests.as_ref()),
        ),
        restart_always: container.restart_policy.as_deref() == Some("Always"),
    }
}

fn time_ms(time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    time.0.as_millisecond()
}

/// The trimmed view of a pod the engines read.
pub fn pod_info(pod: &Pod) -> PodInfo {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|condition| condition.type_ == "Ready")
        })
        .map(|condition| ReadyCondition {
            status: ConditionStatus::parse(&condition.status),
            last_transition_ms: condition.last_transition_time.as_ref().map(time_ms),
        });
    PodInfo {
        namespace: pod.namespace().unwrap_or_default(),
        name: pod.name_any(),
        labels: pod.labels().clone(),
        phase: status
            .and_then(|status| status.phase.as_deref())
            .map_or(PodPhase::Unknown, PodPhase::parse),
        deletion_ms: pod.metadata.deletion_timestamp.as_ref().map(time_ms),
        start_ms: status
            .and_then(|status| status.start_time.as_ref())
            .map(time_ms),
        ready,
        containers: spec
            .map(|spec| spec.containers.iter().map(container_info).collect())
            .unwrap_or_default(),
        init_containers: spec
            .and_then(|spec| spec.init_containers.as_ref())
            .map(|containers| containers.iter().map(container_info).collect())
            .unwrap_or_default(),
        node_name: spec.and_then(|spec| spec.node_name.clone()),
    }
}

/// The trimmed view of a node the engines read.
pub fn node_info(node: &Node) -> NodeInfo {
    let status = node.status.as_ref();
    NodeInfo {
        name: node.name_any(),
        labels: node.labels().clone(),
        allocatable: milli_map(status.and_then(|status| status.allocatable.as_ref())),
        ready: status
            .and_then(|status| status.conditions.as_ref())
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|condition| condition.type_ == "Ready")
            })
            .is_some_and(|condition| condition.status == "True"),
        unschedulable: node
            .spec
            .as_ref()
            .and_then(|spec| spec.unschedulable)
            .unwrap_or(false),
        created_ms: node.metadata.creation_timestamp.as_ref().map(time_ms),
        provider_id: node.spec.as_ref().and_then(|spec| spec.provider_id.clone()),
    }
}
