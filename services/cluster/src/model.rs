//! What the autoscalers know about workloads, pods and nodes, in the engines' units:
//! resource amounts in milli-units (`cpu: 250` is 250m, `memory: 1_048_576_000` is 1 MiB),
//! times in `i64` milliseconds since the epoch.
//!
//! These are trimmed views of the API objects, holding only the fields the HPA's pod
//! grouping, the VPA and the CPA read; the kube backend fills them from `Pod`/`Node`
//! objects, the simulated cluster builds them directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The workload a policy scales: `scaleTargetRef` plus the policy's namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub namespace: String,
    /// `apps/v1` for Deployments; a custom resource's group/version otherwise.
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// The scale subresource (`autoscaling/v1` `Scale`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    /// `spec.replicas`: what the workload is asked to run.
    pub spec_replicas: i32,
    /// `status.replicas`: what it runs now.
    pub status_replicas: i32,
    /// `status.selector`: the label selector of its pods, in string form.
    pub selector: String,
}

/// `status.phase` of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn parse(text: &str) -> PodPhase {
        match text {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// A condition's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn parse(text: &str) -> ConditionStatus {
        match text {
            "True" => ConditionStatus::True,
            "False" => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// The pod's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyCondition {
    pub status: ConditionStatus,
    pub last_transition_ms: Option<i64>,
}

/// A container (or init container) and its resource requests in milli-units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInfo {
    pub name: String,
    pub requests: BTreeMap<String, i64>,
    /// Init containers only: `restartPolicy: Always` (a sidecar), whose requests count
    /// towards the pod's like a regular container's.
    pub restart_always: bool,
}

/// A pod, trimmed to what the autoscalers read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub phase: PodPhase,
    pub deletion_ms: Option<i64>,
    pub start_ms: Option<i64>,
    pub ready: Option<ReadyCondition>,
    pub containers: Vec<ContainerInfo>,
    pub init_containers: Vec<ContainerInfo>,
    pub node_name: Option<String>,
}

impl PodInfo {
    /// Running with `Ready=True`: what the HPA counts as a ready pod for Object and
    /// External `Value` metrics.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running
            && self.deletion_ms.is_none()
            && self
                .ready
                .is_some_and(|ready| ready.status == ConditionStatus::True)
    }
}

/// A node, trimmed to what the autoscalers read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `status.allocatable` in milli-units (`cpu: 3920` is 3.92 cores).
    pub allocatable: BTreeMap<String, i64>,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    pub created_ms: Option<i64>,
    pub provider_id: Option<String>,
}
