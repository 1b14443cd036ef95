//! An in-memory cluster for tests, `tachyscale demo` and what-if replays.
//!
//! Workloads have a pod template (labels, containers with requests) and two delays: how
//! long a new pod stays `Pending`, and how long after it starts it becomes `Ready`. Pod
//! state is derived from the [`Clock`] whenever it is read, so there is no background task
//! and a test moving a [`crate::ManualClock`] sees pods start and become ready exactly
//! when they should. Scaling down removes unready pods first, then the newest, as the
//! ReplicaSet controller prefers.
//!
//! Reads and writes can be made to fail, to exercise the callers' fail-safe paths, and
//! every replica change is kept in a history tests can assert on.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::model::{
    ConditionStatus, ContainerInfo, NodeInfo, PodInfo, PodPhase, ReadyCondition, Scale, WorkloadRef,
};
use crate::{Clock, Cluster, ClusterError};

/// How a simulated workload's pods look and behave.
#[derive(Debug, Clone)]
pub struct WorkloadTemplate {
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<ContainerInfo>,
    /// Time a new pod spends `Pending` before it starts running.
    pub pending_ms: i64,
    /// Time from start until the pod's `Ready` condition turns `True`.
    pub ready_after_ms: i64,
}

/// One replica change, as tests assert on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaChange {
    pub at_ms: i64,
    pub from: i32,
    pub to: i32,
}

#[derive(Debug)]
struct SimPod {
    name: String,
    created_ms: i64,
}

#[derive(Debug)]
struct SimWorkload {
    template: WorkloadTemplate,
    spec_replicas: i32,
    pods: Vec<SimPod>,
    next_pod: u64,
    history: Vec<ReplicaChange>,
}

#[derive(Debug, Default)]
struct SimState {
    workloads: BTreeMap<WorkloadRef, SimWorkload>,
    extra_pods: Vec<PodInfo>,
    nodes: BTreeMap<String, NodeInfo>,
    fail_reads: Option<String>,
    fail_writes: Option<String>,
}

/// The simulated cluster. Cheap to share: wrap it in an `Arc`.
pub struct SimulatedCluster {
    clock: Arc<dyn Clock>,
    state: Mutex<SimState>,
}

impl SimulatedCluster {
    pub fn new(clock: Arc<dyn Clock>) -> SimulatedCluster {
        SimulatedCluster {
            clock,
            state: Mutex::new(SimState::default()),
        }
    }

    /// Adds (or replaces) a workload running `replicas` pods, which start now.
    pub fn add_workload(&self, target: WorkloadRef, template: WorkloadTemplate, replicas: i32) {
        let now_ms = self.clock.now_ms();
        let mut workload = SimWorkload {
            template,
            spec_replicas: 0,
            pods: Vec::new(),
            next_pod: 0,
            history: Vec::new(),
        };
        resize(&target, &mut workload, replicas.max(0), now_ms);
        workload.history.clear();
        self.state.lock().workloads.insert(target, workload);
    }

    /// Adds a workload whose pods are already running and ready (started long ago).
    pub fn add_running_workload(
        &self,
        target: WorkloadRef,
        template: WorkloadTemplate,
        replicas: i32,
    ) {
        self.add_workload(target.clone(), template, replicas);
        let settled_ms = self.clock.now_ms() - 3_600_000;
        if let Some(workload) = self.state.lock().workloads.get_mut(&target) {
            for pod in &mut workload.pods {
                pod.created_ms = settled_ms;
            }
        }
    }

    /// A pod outside any workload (a failed or terminating one, say), returned by
    /// [`Cluster::pods`] when its namespace and labels match.
    pub fn add_pod(&self, pod: PodInfo) {
        self.state.lock().extra_pods.push(pod);
    }

    pub fn add_node(&self, node: NodeInfo) {
        self.state.lock().nodes.insert(node.name.clone(), node);
    }

    pub fn remove_node(&self, name: &str) -> bool {
        self.state.lock().nodes.remove(name).is_some()
    }

    /// Cordons (`true`) or uncordons a node.
    pub fn set_node_unschedulable(&self, name: &str, unschedulable: bool) {
        if let Some(node) = self.state.lock().nodes.get_mut(name) {
            node.unschedulable = unschedulable;
        }
    }

    pub fn set_node_ready(&self, name: &str, ready: bool) {
        if let Some(node) = self.state.lock().nodes.get_mut(name) {
            node.ready = ready;
        }
    }

    /// Makes every read fail with [`ClusterError::Unavailable`] (`None` heals it).
    pub fn fail_reads(&self, message: Option<&str>) {
        self.state.lock().fail_reads = message.map(str::to_owned);
    }

    /// Makes every replica change fail with [`ClusterError::Unavailable`].
    pub fn fail_writes(&self, message: Option<&str>) {
        self.state.lock().fail_writes = message.map(str::to_owned);
    }

    /// `spec.replicas` of a workload.
    pub fn replicas(&self, target: &WorkloadRef) -> Option<i32> {
        self.state
            .lock()
            .workloads
            .get(target)
            .map(|workload| workload.spec_replicas)
    }

    /// Every replica change made through [`Cluster::set_replicas`], oldest first.
    pub fn history(&self, target: &WorkloadRef) -> Vec<ReplicaChange> {
        self.state
            .lock()
            .workloads
            .get(target)
            .map(|workload| workload.history.clone())
            .unwrap_or_default()
    }

    /// Names of the workloads, for the demo's status page.
    pub fn workloads(&self) -> Vec<WorkloadRef> {
        self.state.lock().workloads.keys().cloned().collect()
    }
}

fn resize(target: &WorkloadRef, workload: &mut SimWorkload, replicas: i32, now_ms: i64) {
    let from = workload.spec_replicas;
    let wanted = usize::try_from(replicas).unwrap_or(0);
    while workload.pods.len() < wanted {
        workload.next_pod += 1;
        workload.pods.push(SimPod {
            name: format!("{}-{:05}", target.name, workload.next_pod),
            created_ms: now_ms,
        });
    }
    if workload.pods.len() > wanted {
        // Unready pods go first, then the newest: the ReplicaSet controller's preference.
        let template = &workload.template;
        workload.pods.sort_by_key(|pod| {
            let ready = pod_status(template, pod.created_ms, now_ms).ready;
            (ready.status != ConditionStatus::True, pod.created_ms)
        });
        workload.pods.truncate(wanted);
        workload.pods.sort_by_key(|pod| pod.created_ms);
    }
    workload.spec_replicas = replicas;
    if from != replicas {
        workload.history.push(ReplicaChange {
            at_ms: now_ms,
            from,
            to: replicas,
        });
    }
}

struct DerivedStatus {
    phase: PodPhase,
    start_ms: Option<i64>,
    ready: ReadyCondition,
}

fn pod_status(template: &WorkloadTemplate, created_ms: i64, now_ms: i64) -> DerivedStatus {
    let start_ms = created_ms + template.pending_ms;
    if now_ms < start_ms {
        return DerivedStatus {
            phase: PodPhase::Pending,
            start_ms: None,
            ready: ReadyCondition {
                status: ConditionStatus::False,
                last_transition_ms: Some(created_ms),
            },
        };
    }
    let ready_ms = start_ms + template.ready_after_ms;
    let ready = if now_ms >= ready_ms {
        ReadyCondition {
            status: ConditionStatus::True,
            last_transition_ms: Some(ready_ms),
        }
    } else {
        ReadyCondition {
            status: ConditionStatus::False,
            last_transition_ms: Some(start_ms),
        }
    };
    DerivedStatus {
        phase: PodPhase::Running,
        start_ms: Some(start_ms),
        ready,
    }
}

fn unavailable(message: &str) -> ClusterError {
    ClusterError::Unavailable {
        message: message.to_owned(),
    }
}

fn not_found(target: &WorkloadRef) -> ClusterError {
    ClusterError::NotFound {
        kind: target.kind.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    }
}

/// The selector string of a label set (`a=1,b=2`), as a scale's `status.selector` has it.
fn selector_of(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl Cluster for SimulatedCluster {
    async fn scale(&self, target: &WorkloadRef) -> Result<Scale, ClusterError> {
        let state = self.state.lock();
        if let Some(message) = &state.fail_reads {
            return Err(unavailable(message));
        }
        let workload = state
            .workloads
            .get(target)
            .ok_or_else(|| not_found(target))?;
        Ok(Scale {
            spec_replicas: workload.spec_replicas,
            status_replicas: i32::try_from(workload.pods.len()).unwrap_or(i32::MAX),
            selector: selector_of(&workload.template.labels),
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
        let now_ms = self.clock.now_ms();
        let mut state = self.state.lock();
        if let Some(message) = &state.fail_writes {
            return Err(unavailable(message));
        }
        let workload = state
            .workloads
            .get_mut(target)
            .ok_or_else(|| not_found(target))?;
        resize(target, workload, replicas, now_ms);
        Ok(())
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ClusterError> {
        let parsed = crate::error::parse_selector(selector)?;
        let now_ms = self.clock.now_ms();
        let state = self.state.lock();
        if let Some(message) = &state.fail_reads {
            return Err(unavailable(message));
        }
        let matches = |labels: &BTreeMap<String, String>| {
            parsed.matches(|key| labels.get(key).map(String::as_str))
        };
        let mut pods = Vec::new();
        for (target, workload) in &state.workloads {
            if target.namespace != namespace || !matches(&workload.template.labels) {
                continue;
            }
            for pod in &workload.pods {
                let status = pod_status(&workload.template, pod.created_ms, now_ms);
                pods.push(PodInfo {
                    namespace: namespace.to_owned(),
                    name: pod.name.clone(),
                    labels: workload.template.labels.clone(),
                    phase: status.phase,
                    deletion_ms: None,
                    start_ms: status.start_ms,
                    ready: Some(status.ready),
                    containers: workload.template.containers.clone(),
                    init_containers: Vec::new(),
                    node_name: None,
                });
            }
        }
        pods.extend(
            state
                .extra_pods
                .iter()
                .filter(|pod| pod.namespace == namespace && matches(&pod.labels))
                .cloned(),
        );
        Ok(pods)
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let state = self.state.lock();
        if let Some(message) = &state.fail_reads {
            return Err(unavailable(message));
        }
        Ok(state.nodes.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ManualClock;

    fn web() -> WorkloadRef {
        WorkloadRef {
            namespace: "shop".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        }
    }

    fn template() -> WorkloadTemplate {
        WorkloadTemplate {
            labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            containers: vec![ContainerInfo {
                name: "app".into(),
                requests: BTreeMap::from([("cpu".to_owned(), 500)]),
                restart_always: false,
            }],
            pending_ms: 2_000,
            ready_after_ms: 3_000,
        }
    }

    #[tokio::test]
    async fn new_pods_start_then_become_ready_on_the_clock() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let cluster = SimulatedCluster::new(clock.clone());
        cluster.add_running_workload(web(), template(), 1);
        cluster.set_replicas(&web(), 3).await.unwrap();
        let phases = |pods: &[PodInfo]| {
            pods.iter()
                .map(|pod| (pod.phase, pod.is_running_and_ready()))
                .collect::<Vec<_>>()
        };
        let pods = cluster.pods("shop", "app=web").await.unwrap();
        assert_eq!(
            phases(&pods),
            [
                (PodPhase::Running, true),
                (PodPhase::Pending, false),
                (PodPhase::Pending, false)
            ]
        );
        clock.advance_ms(2_000);
        let pods = cluster.pods("shop", "app=web").await.unwrap();
        assert_eq!(pods[1].phase, PodPhase::Running);
        assert_eq!(pods[1].start_ms, Some(1_002_000));
        assert!(!pods[1].is_running_and_ready());
        clock.advance_ms(3_000);
        let pods = cluster.pods("shop", "app=web").await.unwrap();
        assert!(pods.iter().all(PodInfo::is_running_and_ready));
        assert_eq!(pods[2].ready.unwrap().last_transition_ms, Some(1_005_000));
        let scale = cluster.scale(&web()).await.unwrap();
        assert_eq!((scale.spec_replicas, scale.status_replicas), (3, 3));
        assert_eq!(scale.selector, "app=web");
        assert!(cluster.pods("shop", "app=db").await.unwrap().is_empty());
        assert!(cluster.pods("other", "app=web").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn scaling_down_removes_unready_pods_first_and_keeps_history() {
        let clock = Arc::new(ManualClock::new(0));
        let cluster = SimulatedCluster::new(clock.clone());
        cluster.add_running_workload(web(), template(), 2);
        clock.advance_ms(1_000);
        cluster.set_replicas(&web(), 4).await.unwrap();
        clock.advance_ms(1_000);
        cluster.set_replicas(&web(), 2).await.unwrap();
        let pods = cluster.pods("shop", "app=web").await.unwrap();
        assert!(pods.iter().all(PodInfo::is_running_and_ready));
        assert_eq!(
            cluster.history(&web()),
            [
                ReplicaChange {
                    at_ms: 1_000,
                    from: 2,
                    to: 4
                },
                ReplicaChange {
                    at_ms: 2_000,
                    from: 4,
                    to: 2
                }
            ]
        );
    }

    #[tokio::test]
    async fn injected_failures_fail_reads_and_writes() {
        let cluster = SimulatedCluster::new(Arc::new(ManualClock::new(0)));
        cluster.add_running_workload(web(), template(), 2);
        cluster.fail_reads(Some("api server down"));
        let err = cluster.scale(&web()).await.unwrap_err();
        assert_eq!(err.reason(), "unavailable");
        cluster.fail_reads(None);
        cluster.fail_writes(Some("conflict"));
        assert!(cluster.set_replicas(&web(), 5).await.is_err());
        assert_eq!(cluster.replicas(&web()), Some(2));
        assert!(matches!(
            cluster.pods("shop", "app in (").await,
            Err(ClusterError::Selector { .. })
        ));
    }
}
