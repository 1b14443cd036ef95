//! One VPA policy's tick: read per-container CPU usage (a `rate()` over the store's 1 s
//! samples) and memory working set for the target's pods, feed them to the pure
//! recommender ([`tachyscale_scaler::vpa::Recommender`]), and publish the recommendation
//! — over HTTP (`GET /v1/recommendations`), as gauges, and in the decision log when a
//! target changes. Applying recommendations to pods is not done (the issue leaves it
//! optional and off by default); `updatePolicy` is kept for the record.
//!
//! Upstream feeds the recommender one sample per container per minute from
//! metrics-server; here every tick (1 s) adds one, so confidence grows with real samples,
//! not with wall time alone.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tachyscale_scaler::vpa::{
    CpuSample, MemorySample, OomEvent, RecommendedPodResources, Recommender, RecommenderConfig,
    SampleTarget, VpaCheckpoint, VpaError,
};

use crate::checkpoints::write_all;
use crate::config::{Policy, PolicyKind};
use crate::context::Context;
use crate::decision_log::DecisionKind;
use crate::fetch::InstantValue;
use crate::hpa_runner::TickOutcome;
use crate::queries::{container_query, ContainerSeries};

/// Aggregates without samples are dropped this often (in ticks), not every tick.
const EXPIRE_EVERY_TICKS: u64 = 60;

pub struct VpaRunner {
    policy: Arc<Policy>,
    recommender: Recommender<String>,
    published: Option<RecommendedPodResources>,
    ticks: u64,
    /// Last `container_oom_events_total` per (pod, container): an increase is an OOM kill.
    oom_counts: HashMap<(String, String), f64>,
    checkpoints: Option<CheckpointSettings>,
    last_saved_ms: Option<i64>,
}

/// Where and how often a VPA policy saves its checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    pub directory: PathBuf,
    pub interval_ms: i64,
}

impl VpaRunner {
    pub fn new(policy: Arc<Policy>) -> Result<VpaRunner, VpaError> {
        let mut recommender = Recommender::new(RecommenderConfig::default());
        if let PolicyKind::Vpa(vpa) = &policy.kind {
            recommender.set_vpa(policy.name.clone(), vpa.spec.clone())?;
        }
        Ok(VpaRunner {
            policy,
            recommender,
            published: None,
            ticks: 0,
            oom_counts: HashMap::new(),
            checkpoints: None,
            last_saved_ms: None,
        })
    }

    /// Seeds the histories from the checkpoints of this policy's VPA (same
    /// `spec.vpaObjectName` and namespace) and saves checkpoints from now on. Returns how
    /// many were loaded and the ones refused.
    pub fn with_checkpoints(
        mut self,
        settings: CheckpointSettings,
        imported: &[VpaCheckpoint],
        now_ms: i64,
    ) -> (VpaRunner, usize, Vec<VpaError>) {
        let mut loaded = 0;
        let mut refused = Vec::new();
        for checkpoint in imported.iter().filter(|checkpoint| {
            checkpoint.spec.vpa_object_name == self.policy.name
                && checkpoint.metadata.namespace == self.policy.namespace
        }) {
            match self
                .recommender
                .load_checkpoint(self.policy.name.clone(), checkpoint, now_ms)
            {
                Ok(()) => loaded += 1,
                Err(err) => refused.push(err),
            }
        }
        self.checkpoints = Some(settings);
        (self, loaded, refused)
    }

    /// The recommender, e.g. to save checkpoints.
    pub fn recommender(&self) -> &Recommender<String> {
        &self.recommender
    }

    pub async fn tick(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        ctx.observe_tick("vpa", &policy.name, self.run(ctx)).await
    }

    async fn save_checkpoints(&mut self, ctx: &Context, now_ms: i64) {
        let Some(settings) = &self.checkpoints else {
            return;
        };
        if self
            .last_saved_ms
            .is_some_and(|saved| now_ms - saved < settings.interval_ms)
        {
            return;
        }
        self.last_saved_ms = Some(now_ms);
        let checkpoints = self.recommender.checkpoints(
            self.policy.name.as_str(),
            &self.policy.namespace,
            &self.policy.name,
            now_ms,
        );
        if let Err(err) = write_all(&settings.directory, &checkpoints).await {
            ctx.metrics
                .source_errors
                .with_label_values(&["vpa-checkpoint", "io"])
                .inc();
            tracing::warn!(policy = %self.policy.name, directory = %settings.directory.display(), error = %err, "cannot save VPA checkpoints");
        }
    }

    async fn run(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        let PolicyKind::Vpa(vpa) = &policy.kind else {
            return TickOutcome::Error("not a vpa policy".into());
        };
        let now_ms = ctx.clock.now_ms();
        self.ticks += 1;
        let scale = match ctx.cluster.scale(&vpa.target).await {
            Ok(scale) => scale,
            Err(err) => {
                let what = format!("cannot read the scale of {}", vpa.target);
                return TickOutcome::cluster_error(ctx, what, &err);
            }
        };
        if scale.selector.is_empty() {
            return TickOutcome::Error(format!(
                "{} has no pod selector in its scale subresource (status.selector)",
                vpa.target
            ));
        }
        let pods = match ctx
            .cluster
            .pods(&vpa.target.namespace, &scale.selector)
            .await
        {
            Ok(pods) => pods,
            Err(err) => {
                let what = format!("cannot list the pods of {}", vpa.target);
                return TickOutcome::cluster_error(ctx, what, &err);
            }
        };
        // (cpu millicores, memory bytes) requested, per (pod, container).
        let requests: BTreeMap<(&str, &str), (i64, i64)> = pods
            .iter()
            .flat_map(|pod| {
                pod.containers.iter().map(move |container| {
                    let request = |name: &str| container.requests.get(name).copied().unwrap_or(0);
                    (
                        (pod.name.as_str(), container.name.as_str()),
                        (request("cpu"), request("memory") / 1000),
                    )
                })
            })
            .collect();
        let names: Vec<&str> = pods.iter().map(|pod| pod.name.as_str()).collect();
        // OOM counters of pods that are gone would otherwise accumulate forever.
        self.oom_counts
            .retain(|(pod, _), _| names.contains(&pod.as_str()));
        if !names.is_empty() {
            let query = |series| {
                container_query(
                    series,
                    &vpa.target.namespace,
                    &names,
                    ctx.rate_window,
                    ctx.max_age,
                )
            };
            let cpu_query = query(ContainerSeries::CpuCores);
            let memory_query = query(ContainerSeries::WorkingSetBytes);
            let oom_query = query(ContainerSeries::OomKills);
            let (cpu, memory, ooms) = tokio::join!(
                ctx.query(&cpu_query, now_ms),
                ctx.query(&memory_query, now_ms),
                ctx.query(&oom_query, now_ms)
            );
            let cpu = match cpu {
                Ok(values) => values,
                Err(err) => return TickOutcome::Error(format!("cannot read CPU usage: {err}")),
            };
            let memory = match memory {
                Ok(values) => values,
                Err(err) => return TickOutcome::Error(format!("cannot read memory usage: {err}")),
            };
            for value in &cpu {
                let Some((target, cores)) = usage_of(value) else {
                    continue;
                };
                let (request, _) = requests
                    .get(&(target.pod, target.container))
                    .copied()
                    .unwrap_or_default();
                let _ = self.recommender.add_cpu_sample(
                    policy.name.as_str(),
                    target,
                    CpuSample {
                        ts_ms: now_ms,
                        usage_millicores: (cores * 1000.0).round() as i64,
                        request_millicores: request,
                    },
                );
            }
            for value in &memory {
                let Some((target, bytes)) = usage_of(value) else {
                    continue;
                };
                let _ = self.recommender.add_memory_sample(
                    policy.name.as_str(),
                    target,
                    MemorySample {
                        ts_ms: now_ms,
                        usage_bytes: bytes as i64,
                    },
                );
            }
            // OOM kills are optional data: a failed read only skips them this tick.
            for value in ooms.iter().flatten() {
                let Some(target) = target_of(value) else {
                    continue;
                };
                let previous = self.oom_counts.insert(
                    (target.pod.to_owned(), target.container.to_owned()),
                    value.value,
                );
                if previous.is_some_and(|previous| value.value > previous) {
                    let (_, request_bytes) = requests
                        .get(&(target.pod, target.container))
                        .copied()
                        .unwrap_or_default();
                    let _ = self.recommender.record_oom(
                        policy.name.as_str(),
                        target,
                        OomEvent {
                            ts_ms: now_ms,
                            request_bytes,
                        },
                    );
                }
            }
        }
        self.save_checkpoints(ctx, now_ms).await;
        if self.ticks.is_multiple_of(EXPIRE_EVERY_TICKS) {
            self.recommender.expire(now_ms);
        }
        let Some(recommendation) = self.recommender.recommend(policy.name.as_str(), now_ms) else {
            return TickOutcome::Ok { changed: false };
        };
        for container in &recommendation.container_recommendations {
            for (bound, list) in [
                ("target", &container.target),
                ("lowerBound", &container.lower_bound),
                ("upperBound", &container.upper_bound),
            ] {
                let labels = [
                    policy.name.as_str(),
                    container.container_name.as_str(),
                    bound,
                ];
                if let Some(cpu) = list.cpu_millicores {
                    ctx.metrics
                        .vpa_recommendation_cores
                        .with_label_values(&labels)
                        .set(cpu as f64 / 1000.0);
                }
                if let Some(memory) = list.memory_bytes {
                    ctx.metrics
                        .vpa_recommendation_bytes
                        .with_label_values(&labels)
                        .set(memory as f64);
                }
            }
        }
        ctx.recommendations.write().insert(
            policy.name.clone(),
            json!({
                "target": vpa.target,
                "time": tachyscale_scaler::time::format_rfc3339_ms(now_ms),
                "recommendation": recommendation,
            }),
        );
        let targets = |resources: &RecommendedPodResources| {
            resources
                .container_recommendations
                .iter()
                .map(|container| (container.container_name.clone(), container.target))
                .collect::<Vec<_>>()
        };
        let changed = self.published.as_ref().map(targets) != Some(targets(&recommendation));
        if changed {
            ctx.record(ctx.entry(
                &policy.name,
                "vpa",
                DecisionKind::Recommendation,
                vpa.target.to_string(),
                None,
                None,
                false,
                policy.dry_run,
                "recommendation target changed".into(),
                json!({ "recommendation": recommendation }),
                now_ms,
            ));
            self.published = Some(recommendation);
        }
        TickOutcome::Ok { changed }
    }
}

/// The container a per-container reading (labels `pod`, `container`) belongs to.
fn target_of(value: &InstantValue) -> Option<SampleTarget<'_>> {
    Some(SampleTarget {
        pod: value.labels.get("pod")?,
        container: value.labels.get("container")?,
    })
}

/// A usage reading and its container; NaN, infinite and negative usages are no sample.
fn usage_of(value: &InstantValue) -> Option<(SampleTarget<'_>, f64)> {
    let target = target_of(value)?;
    (value.value.is_finite() && value.value >= 0.0).then_some((target, value.value))
}
