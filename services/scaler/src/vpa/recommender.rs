//! The recommender the control loop drives: many VPAs, each with its containers'
//! aggregates and their running instances, keyed by whatever the caller chooses.
//!
//! Upstream (`pkg/recommender/model/cluster.go`, `routines/recommender.go`, VPA 1.7) keys
//! aggregates by namespace, container name and pod labels and matches them to VPAs by
//! selector; here the caller has already done the matching and says, for every sample,
//! which VPA (`V`, e.g. `"namespace/name"`), which container and which pod it is from. One
//! aggregate per (VPA, container) collects all pods' samples; each pod keeps its own
//! memory window and last-sample times, as upstream's `ContainerState` does.
//!
//! Recommending is [`super::evaluation`]'s, over the VPA's containers in name order.
//!
//! Deviations: a checkpoint is merged into the live aggregate once (upstream keeps it aside
//! and merges it into a fresh copy every cycle — the same weights up to rounding order);
//! a pod's instance state is dropped after one memory interval without samples or by
//! [`Recommender::remove_pod`] (upstream drops it when the pod object goes away).
//!
//! Adding a sample to an existing container and pod does not allocate; recommending
//! through [`Recommender::for_each_recommendation`] does not allocate unless a policy caps.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use super::checkpoint::VpaCheckpoint;
use super::container::{
    AggregateContainerState, AggregationConfig, ContainerInstance, DiscardReason, PeakChange,
};
use super::estimator::EstimatorConfig;
use super::evaluation::{
    evaluate_containers, ContainerEvaluation, ContainerRecommendation, EvaluationOutcome,
    VpaEvaluation,
};
use super::policy::{Capping, ContainerPolicy, VpaSpec};
use super::resources::RecommendedPodResources;
use super::VpaError;

/// Name of this recommender for `spec.recommenders` (upstream's default recommender).
pub const DEFAULT_RECOMMENDER_NAME: &str = "default";

/// Aggregation and estimation settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommenderConfig {
    /// How samples are aggregated.
    pub aggregation: AggregationConfig,
    /// How recommendations are estimated.
    pub estimator: EstimatorConfig,
    /// Name matched against `spec.recommenders`.
    pub recommender_name: String,
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        RecommenderConfig {
            aggregation: AggregationConfig::default(),
            estimator: EstimatorConfig::default(),
            recommender_name: DEFAULT_RECOMMENDER_NAME.to_owned(),
        }
    }
}

/// Where a sample comes from within a VPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleTarget<'a> {
    /// Container name.
    pub container: &'a str,
    /// Pod name (or uid): samples from different pods do not deduplicate each other.
    pub pod: &'a str,
}

/// A CPU usage sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    /// Start of the measurement window.
    pub ts_ms: i64,
    /// Average usage, millicores.
    pub usage_millicores: i64,
    /// CPU request at the time, millicores (0 when unknown: weight 0.1).
    pub request_millicores: i64,
}

/// A memory usage sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemorySample {
    /// Start of the measurement window.
    pub ts_ms: i64,
    /// Usage (working set), bytes.
    pub usage_bytes: i64,
}

/// An OOM kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OomEvent {
    /// When the container was killed.
    pub ts_ms: i64,
    /// Memory request at the time, bytes.
    pub request_bytes: i64,
}

/// The memory an OOM shows was needed, and how it changed the peak histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OomOutcome {
    /// `max(used + 100 MiB, used × 1.2)`.
    pub needed_bytes: i64,
    /// The resulting peak change.
    pub change: PeakChange,
}

#[derive(Clone, Debug)]
struct ContainerEntry {
    name: Box<str>,
    aggregate: AggregateContainerState,
    /// Sorted by pod name.
    instances: Vec<(Box<str>, ContainerInstance)>,
}

#[derive(Clone, Debug)]
struct VpaState {
    /// `None` until [`Recommender::set_vpa`], and for specs equal to the default: most
    /// VPAs are a bare `targetRef`, and 160 bytes per VPA add up.
    spec: Option<Box<VpaSpec>>,
    registered: bool,
    /// Sorted by container name.
    containers: Vec<ContainerEntry>,
}

/// Recommender state for many VPAs keyed by `V`.
#[derive(Clone, Debug)]
pub struct Recommender<V> {
    config: RecommenderConfig,
    vpas: HashMap<V, VpaState>,
}

impl<V: Eq + Hash + Clone> Recommender<V> {
    /// An empty recommender.
    pub fn new(config: RecommenderConfig) -> Self {
        Recommender {
            config,
            vpas: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RecommenderConfig {
        &self.config
    }

    /// Registers or updates a VPA's spec (validated first). Samples may arrive before.
    pub fn set_vpa(&mut self, vpa: V, spec: VpaSpec) -> Result<(), VpaError> {
        spec.validate()?;
        let state = self.vpas.entry(vpa).or_insert_with(unregistered);
        state.spec = Some(Box::new(spec));
        state.registered = true;
        Ok(())
    }

    /// Forgets a VPA and all its history.
    pub fn remove_vpa<Q>(&mut self, vpa: &Q) -> bool
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.vpas.remove(vpa).is_some()
    }

    /// Adds a CPU sample; `Err` says why it was dropped.
    pub fn add_cpu_sample<Q>(
        &mut self,
        vpa: &Q,
        target: SampleTarget<'_>,
        sample: CpuSample,
    ) -> Result<(), DiscardReason>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = V> + ?Sized,
    {
        let entry = self.container_entry(vpa, target.container, sample.ts_ms);
        instance_mut(&mut entry.instances, target.pod)
            .accept_cpu_sample(sample.ts_ms, sample.usage_millicores)?;
        entry.aggregate.add_cpu_sample(
            sample.ts_ms,
            sample.usage_millicores,
            sample.request_millicores,
        );
        Ok(())
    }

    /// Adds a memory sample; returns how the peak histogram changed.
    pub fn add_memory_sample<Q>(
        &mut self,
        vpa: &Q,
        target: SampleTarget<'_>,
        sample: MemorySample,
    ) -> Result<PeakChange, DiscardReason>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = V> + ?Sized,
    {
        let interval_ms = self.config.aggregation.memory_aggregation_interval_ms;
        let entry = self.container_entry(vpa, target.container, sample.ts_ms);
        let instance = instance_mut(&mut entry.instances, target.pod);
        let change =
            instance.memory_sample(sample.ts_ms, sample.usage_bytes, false, interval_ms)?;
        entry.aggregate.apply_peak_change(change);
        Ok(change)
    }

    /// Records an OOM kill as a bumped memory sample (`RecordOOM`).
    pub fn record_oom<Q>(
        &mut self,
        vpa: &Q,
        target: SampleTarget<'_>,
        event: OomEvent,
    ) -> Result<OomOutcome, DiscardReason>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = V> + ?Sized,
    {
        let aggregation = self.config.aggregation;
        let entry = self.container_entry(vpa, target.container, event.ts_ms);
        let instance = instance_mut(&mut entry.instances, target.pod);
        let needed_bytes =
            instance.oom_needed_bytes(event.ts_ms, event.request_bytes, &aggregation)?;
        let change = instance.memory_sample(
            event.ts_ms,
            needed_bytes,
            true,
            aggregation.memory_aggregation_interval_ms,
        )?;
        entry.aggregate.apply_peak_change(change);
        Ok(OomOutcome {
            needed_bytes,
            change,
        })
    }

    /// Forgets a pod's instance state (its current peak stays in the aggregate).
    pub fn remove_pod<Q>(&mut self, vpa: &Q, pod: &str) -> bool
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(state) = self.vpas.get_mut(vpa) else {
            return false;
        };
        let mut removed = false;
        for entry in &mut state.containers {
            if let Ok(index) = entry
                .instances
                .binary_search_by(|(name, _)| (**name).cmp(pod))
            {
                entry.instances.remove(index);
                removed = true;
            }
        }
        removed
    }

    /// Merges a checkpoint into the container it names (`spec.containerName`).
    pub fn load_checkpoint(
        &mut self,
        vpa: V,
        checkpoint: &VpaCheckpoint,
        now_ms: i64,
    ) -> Result<(), VpaError> {
        let loaded = checkpoint.load(&self.config.aggregation, now_ms)?;
        let state = self.vpas.entry(vpa).or_insert_with(unregistered);
        let container = checkpoint.spec.container_name.as_str();
        match state
            .containers
            .binary_search_by(|entry| (*entry.name).cmp(container))
        {
            Ok(index) => state.containers[index].aggregate.merge(&loaded)?,
            Err(index) => insert_exact(
                &mut state.containers,
                index,
                ContainerEntry {
                    name: container.into(),
                    aggregate: loaded,
                    instances: Vec::new(),
                },
            ),
        }
        Ok(())
    }

    /// Checkpoints of all containers of a VPA, without the pods' unfinished memory peaks
    /// (as upstream's checkpoint writer does, so a restart does not count them twice).
    pub fn checkpoints<Q>(
        &self,
        vpa: &Q,
        namespace: &str,
        vpa_name: &str,
        now_ms: i64,
    ) -> Vec<VpaCheckpoint>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(state) = self.vpas.get(vpa) else {
            return Vec::new();
        };
        state
            .containers
            .iter()
            .map(|entry| {
                let mut aggregate = entry.aggregate.clone();
                for (_, instance) in &entry.instances {
                    if let Some(window_end_ms) =
                        instance.window_end_ms().filter(|end| now_ms < *end)
                    {
                        aggregate.subtract_peak(instance.max_memory_peak_bytes(), window_end_ms);
                    }
                }
                VpaCheckpoint::save(&aggregate, namespace, vpa_name, &entry.name, now_ms)
            })
            .collect()
    }

    /// Drops expired aggregates, idle pod instances and unregistered VPAs left empty;
    /// returns how many aggregates were dropped.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let aggregation = self.config.aggregation;
        let mut dropped = 0;
        self.vpas.retain(|_, state| {
            let before = state.containers.len();
            state.containers.retain_mut(|entry| {
                entry.instances.retain(|(_, instance)| {
                    instance.last_activity_ms().is_some_and(|last| {
                        now_ms.saturating_sub(last) < aggregation.memory_aggregation_interval_ms
                    })
                });
                !entry.aggregate.is_expired(now_ms, &aggregation)
            });
            dropped += before - state.containers.len();
            state.registered || !state.containers.is_empty()
        });
        dropped
    }

    /// The aggregate of one container.
    pub fn aggregate<Q>(&self, vpa: &Q, container: &str) -> Option<&AggregateContainerState>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let state = self.vpas.get(vpa)?;
        let index = state
            .containers
            .binary_search_by(|entry| (*entry.name).cmp(container))
            .ok()?;
        Some(&state.containers[index].aggregate)
    }

    /// Number of VPAs tracked.
    pub fn vpa_count(&self) -> usize {
        self.vpas.len()
    }

    /// Number of container aggregates tracked.
    pub fn container_count(&self) -> usize {
        self.vpas.values().map(|state| state.containers.len()).sum()
    }

    /// Approximate heap bytes, counting each key as `key_heap_bytes(key)` beyond its size.
    pub fn approx_heap_bytes(&self, key_heap_bytes: impl Fn(&V) -> usize) -> usize {
        let slot = std::mem::size_of::<(V, VpaState)>() + 1;
        let mut bytes = self.vpas.capacity() * slot;
        for (key, state) in &self.vpas {
            bytes += key_heap_bytes(key);
            if let Some(spec) = &state.spec {
                bytes += std::mem::size_of::<VpaSpec>() + spec_heap_bytes(spec);
            }
            bytes += state.containers.capacity() * std::mem::size_of::<ContainerEntry>();
            for entry in &state.containers {
                bytes += entry.name.len() + entry.aggregate.approx_heap_bytes();
                bytes += entry.instances.capacity()
                    * std::mem::size_of::<(Box<str>, ContainerInstance)>();
                bytes += entry
                    .instances
                    .iter()
                    .map(|(pod, _)| pod.len())
                    .sum::<usize>();
            }
        }
        bytes
    }

    /// The recommendation of one VPA in the API shape; `None` for an unknown VPA or one
    /// handled by another recommender.
    pub fn recommend<Q>(&self, vpa: &Q, now_ms: i64) -> Option<RecommendedPodResources>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut recommendations = RecommendedPodResources::default();
        self.evaluate(vpa, now_ms, |evaluation| {
            if let EvaluationOutcome::Recommended { recommendation, .. } = evaluation.outcome {
                recommendations
                    .container_recommendations
                    .push(recommendation.to_api(evaluation.container));
            }
        })?;
        Some(recommendations)
    }

    /// Calls `f(vpa, container, recommendation)` for every recommended container of every
    /// VPA, without building API objects.
    pub fn for_each_recommendation(
        &self,
        now_ms: i64,
        mut f: impl FnMut(&V, &str, &ContainerRecommendation),
    ) {
        let mut cappings = Vec::new();
        for (key, state) in &self.vpas {
            state.evaluate(&self.config, now_ms, &mut cappings, |evaluation| {
                if let EvaluationOutcome::Recommended { recommendation, .. } = evaluation.outcome {
                    f(key, evaluation.container, recommendation);
                }
            });
        }
    }

    /// Evaluates every container of a VPA, calling `f` for each in name order; `None` for
    /// an unknown VPA or one handled by another recommender.
    pub fn evaluate<Q>(
        &self,
        vpa: &Q,
        now_ms: i64,
        f: impl FnMut(ContainerEvaluation<'_>),
    ) -> Option<VpaEvaluation>
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let state = self.vpas.get(vpa)?;
        let mut cappings = Vec::new();
        state.evaluate(&self.config, now_ms, &mut cappings, f)
    }

    fn container_entry<Q>(&mut self, vpa: &Q, container: &str, now_ms: i64) -> &mut ContainerEntry
    where
        V: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = V> + ?Sized,
    {
        if !self.vpas.contains_key(vpa) {
            self.vpas.insert(vpa.to_owned(), unregistered());
        }
        let aggregation = self.config.aggregation;
        let state = self.vpas.get_mut(vpa).expect("inserted above when missing");
        let index = match state
            .containers
            .binary_search_by(|entry| (*entry.name).cmp(container))
        {
            Ok(index) => index,
            Err(index) => {
                let aggregate = AggregateContainerState::new(&aggregation, now_ms);
                let entry = ContainerEntry {
                    name: container.into(),
                    aggregate,
                    instances: Vec::new(),
                };
                insert_exact(&mut state.containers, index, entry);
                index
            }
        };
        &mut state.containers[index]
    }
}

/// The spec of VPAs seen only through samples.
static DEFAULT_SPEC: VpaSpec = VpaSpec {
    target_ref: None,
    update_policy: None,
    resource_policy: None,
    recommenders: Vec::new(),
};

impl VpaState {
    fn spec(&self) -> &VpaSpec {
        self.spec.as_deref().unwrap_or(&DEFAULT_SPEC)
    }

    fn evaluate(
        &self,
        config: &RecommenderConfig,
        now_ms: i64,
        cappings: &mut Vec<Capping>,
        f: impl FnMut(ContainerEvaluation<'_>),
    ) -> Option<VpaEvaluation> {
        let containers = self
            .containers
            .iter()
            .map(|entry| (&*entry.name, &entry.aggregate));
        evaluate_containers(self.spec(), containers, config, now_ms, cappings, f)
    }
}

fn unregistered() -> VpaState {
    VpaState {
        spec: None,
        registered: false,
        containers: Vec::new(),
    }
}

/// Inserts keeping the capacity exact: these vectors live as long as their VPA and
/// rarely grow, so spare slots would be paid for by every container.
fn insert_exact<T>(items: &mut Vec<T>, index: usize, item: T) {
    items.reserve_exact(1);
    items.insert(index, item);
}

fn instance_mut<'a>(
    instances: &'a mut Vec<(Box<str>, ContainerInstance)>,
    pod: &str,
) -> &'a mut ContainerInstance {
    let index = match instances.binary_search_by(|(name, _)| (**name).cmp(pod)) {
        Ok(index) => index,
        Err(index) => {
            insert_exact(instances, index, (pod.into(), ContainerInstance::default()));
            index
        }
    };
    &mut instances[index].1
}

fn spec_heap_bytes(spec: &VpaSpec) -> usize {
    let target = spec.target_ref.as_ref().map_or(0, |t| {
        t.api_version.capacity() + t.kind.capacity() + t.name.capacity()
    });
    let policies = spec.resource_policy.as_ref().map_or(0, |p| {
        p.container_policies.capacity() * std::mem::size_of::<ContainerPolicy>()
            + p.container_policies
                .iter()
                .map(|c| c.container_name.capacity())
                .sum::<usize>()
    });
    target
        + policies
        + spec.recommenders.capacity() * std::mem::size_of::<super::policy::RecommenderSelector>()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T_MS: i64 = 1_700_000_000_000;
    const DAY_MS: i64 = 86_400_000;

    fn target<'a>(container: &'a str) -> SampleTarget<'a> {
        SampleTarget {
            container,
            pod: "pod-1",
        }
    }

    #[test]
    fn samples_from_different_pods_do_not_deduplicate() {
        let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
        let sample = CpuSample {
            ts_ms: T_MS,
            usage_millicores: 100,
            request_millicores: 0,
        };
        assert!(r.add_cpu_sample("ns/web", target("app"), sample).is_ok());
        assert_eq!(
            r.add_cpu_sample("ns/web", target("app"), sample),
            Err(DiscardReason::NotNewerThanLastCpuSample)
        );
        assert!(r
            .add_cpu_sample(
                "ns/web",
                SampleTarget {
                    container: "app",
                    pod: "pod-2"
                },
                sample
            )
            .is_ok());
        assert_eq!(
            r.aggregate("ns/web", "app").unwrap().total_samples_count(),
            2
        );
        assert!(r.remove_pod("ns/web", "pod-2"));
    }

    #[test]
    fn unregistered_vpas_disappear_when_their_containers_expire() {
        let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
        let sample = CpuSample {
            ts_ms: T_MS,
            usage_millicores: 100,
            request_millicores: 0,
        };
        r.add_cpu_sample("ns/a", target("app"), sample).unwrap();
        r.add_cpu_sample("ns/b", target("app"), sample).unwrap();
        r.set_vpa(
            "ns/b".to_owned(),
            serde_json::from_str(r#"{"targetRef":{"kind":"Deployment","name":"b"}}"#).unwrap(),
        )
        .unwrap();
        assert_eq!(r.expire(T_MS + 8 * DAY_MS - 1), 0);
        assert_eq!(r.expire(T_MS + 8 * DAY_MS), 2);
        assert_eq!(r.vpa_count(), 1);
        assert_eq!(r.container_count(), 0);
    }

    #[test]
    fn another_recommenders_vpa_gets_no_recommendation() {
        let mut r: Recommender<String> = Recommender::new(RecommenderConfig::default());
        let spec =
            r#"{"targetRef":{"kind":"Deployment","name":"b"},"recommenders":[{"name":"frugal"}]}"#;
        r.set_vpa("b".to_owned(), serde_json::from_str(spec).unwrap())
            .unwrap();
        r.add_cpu_sample(
            "b",
            target("app"),
            CpuSample {
                ts_ms: T_MS,
                usage_millicores: 1,
                request_millicores: 0,
            },
        )
        .unwrap();
        assert!(r.recommend("b", T_MS).is_none());
    }
}
