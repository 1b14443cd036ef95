//! The cluster as the scaler and the provisioner see it: one trait, [`Cluster`], for
//! everything they read (workload scale, pods, nodes) and write (replicas), with two
//! implementations:
//!
//! - [`kube::KubeCluster`]: a real API server through kube-rs — the scale subresource for
//!   any workload kind (so Deployments, StatefulSets and custom resources with a scale
//!   subresource all work, as with the HPA; one GET per policy tick, as the HPA controller
//!   does per sync), pods and nodes from watch-fed caches, so listing them costs the API
//!   server nothing per tick;
//! - [`simulated::SimulatedCluster`]: an in-memory cluster whose pods start, become ready
//!   and go away on a clock, used by tests, `tachyscale demo` and what-if replays.
//!
//! The model types in [`model`] hold exactly what the engines need, in the engines' units
//! (milli-units, `i64` milliseconds), so the scaler converts nothing twice and the
//! simulated cluster does not have to fake full API objects.

pub mod clock;
pub mod error;
pub mod kube;
pub mod model;
pub mod simulated;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ClusterError;
pub use model::{ConditionStatus, ContainerInfo, NodeInfo, PodInfo, PodPhase, Scale, WorkloadRef};

use async_trait::async_trait;

/// What the autoscalers read from and write to a cluster.
///
/// Reads of pods and nodes come from caches in the real backend; they may lag the API
/// server by a watch event, which the engines tolerate (the HPA treats pods without metrics
/// as missing, the CPA recomputes on the next tick).
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// The scale subresource of a workload: desired and observed replicas and the pod
    /// selector (`status.selector`).
    async fn scale(&self, target: &WorkloadRef) -> Result<Scale, ClusterError>;

    /// Sets `spec.replicas` through the scale subresource.
    async fn set_replicas(&self, target: &WorkloadRef, replicas: i32) -> Result<(), ClusterError>;

    /// Pods of a namespace matching a label selector in its string form (`app=web,tier!=db`),
    /// as a scale's `status.selector` gives it.
    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ClusterError>;

    /// Every node.
    async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError>;
}
