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

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tachyscale_scaler::vpa::{
    CpuSample, MemorySample, RecommendedPodResources, Recommender, RecommenderConfig, SampleTarget,
    VpaError,
};

use crate::config::{Policy, PolicyKind};
use crate::context::Context;
use crate::decision_log::DecisionKind;
use crate::hpa_runner::TickOutcome;
use crate::queries::{pod_regex, CPU_COUNTER, MEMORY_GAUGE};

/// Aggregates without samples are dropped this often (in ticks), not every tick.
const EXPIRE_EVERY_TICKS: u64 = 60;

pub struct VpaRunner {
    policy: Arc<Policy>,
    recommender: Recommender<String>,
    published: Option<RecommendedPodResources>,
    ticks: u64,
}

fn quote(value: &str) -> String {
    format!("{value:?}")
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
        })
    }

    /// The recommender, e.g. to save checkpoints.
    pub fn recommender(&self) -> &Recommender<String> {
        &self.recommender
    }

    pub async fn tick(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        ctx.observe_tick("vpa", &policy.name, self.run(ctx)).await
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
                return TickOutcome::Error(format!(
                    "cannot read the scale of {}: {err}",
                    vpa.target
                ))
            }
        };
        let pods = match ctx
            .cluster
            .pods(&vpa.target.namespace, &scale.selector)
            .await
        {
            Ok(pods) => pods,
            Err(err) => {
                return TickOutcome::Error(format!("cannot list the pods of {}: {err}", vpa.target))
            }
        };
        let requests: BTreeMap<(&str, &str), i64> = pods
            .iter()
            .flat_map(|pod| {
                pod.containers.iter().map(move |container| {
                    (
                        (pod.name.as_str(), container.name.as_str()),
                        container.requests.get("cpu").copied().unwrap_or(0),
                    )
                })
            })
            .collect();
        let names: Vec<&str> = pods.iter().map(|pod| pod.name.as_str()).collect();
        if !names.is_empty() {
            let matchers = format!(
                r#"namespace={},pod=~{},container!="",container!="POD""#,
                quote(&vpa.target.namespace),
                quote(&pod_regex(&names))
            );
            let cpu_query = format!(
                "sum by (pod, container) (rate({CPU_COUNTER}{{{matchers}}}[{}ms]))",
                ctx.rate_window.as_millis()
            );
            let memory_query = format!(
                "sum by (pod, container) (last_over_time({MEMORY_GAUGE}{{{matchers}}}[{}ms]))",
                ctx.max_age.as_millis()
            );
            let (cpu, memory) = tokio::join!(
                ctx.query(&cpu_query, now_ms),
                ctx.query(&memory_query, now_ms)
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
                let (Some(pod), Some(container)) =
                    (value.labels.get("pod"), value.labels.get("container"))
                else {
                    continue;
                };
                if !value.value.is_finite() || value.value < 0.0 {
                    continue;
                }
                let request = requests
                    .get(&(pod.as_str(), container.as_str()))
                    .copied()
                    .unwrap_or(0);
                let _ = self.recommender.add_cpu_sample(
                    policy.name.as_str(),
                    SampleTarget { container, pod },
                    CpuSample {
                        ts_ms: now_ms,
                        usage_millicores: (value.value * 1000.0).round() as i64,
                        request_millicores: request,
                    },
                );
            }
            for value in &memory {
                let (Some(pod), Some(container)) =
                    (value.labels.get("pod"), value.labels.get("container"))
                else {
                    continue;
                };
                if !value.value.is_finite() || value.value < 0.0 {
                    continue;
                }
                let _ = self.recommender.add_memory_sample(
                    policy.name.as_str(),
                    SampleTarget { container, pod },
                    MemorySample {
                        ts_ms: now_ms,
                        usage_bytes: value.value as i64,
                    },
                );
            }
        }
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
                let labels = |resource| {
                    [
                        policy.name.as_str(),
                        container.container_name.as_str(),
                        resource,
                        bound,
                    ]
                };
                if let Some(cpu) = list.cpu_millicores {
                    ctx.metrics
                        .vpa_recommendation
                        .with_label_values(&labels("cpu"))
                        .set(cpu as f64 / 1000.0);
                }
                if let Some(memory) = list.memory_bytes {
                    ctx.metrics
                        .vpa_recommendation
                        .with_label_values(&labels("memory"))
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
