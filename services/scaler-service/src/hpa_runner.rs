//! One HPA policy's tick: read the scale and the pods, read every metric concurrently,
//! run the pure HPA ([`tachyscale_scaler::hpa::reconcile`]), apply the pre-scaling floor,
//! write the replicas (unless `dryRun`), and log the decision.
//!
//! Fail-safe: a metric whose read failed, or whose data is stale (absent from a
//! `last_over_time(…[max_age])` read), is passed to the engine as failed. By the HPA's
//! rules an invalid metric never causes a scale-down: with all metrics invalid, or some
//! invalid and the rest wanting fewer replicas, the replica count holds. That is logged
//! once when it starts ("held by a failing source"), counted on every tick, and logged again
//! when the sources recover.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::json;
use tachyscale_cluster::{ConditionStatus, PodInfo, PodPhase};
use tachyscale_scaler::hpa::{
    self, ContainerRequests, DecisionReason, ExternalObservation, HpaObservation, HpaPod, HpaState,
    MetricObservation, MetricSourceType, MetricSpec, ObjectObservation, PodMetricSample,
    PodMetrics, ReadyCondition, ScaleSnapshot,
};
use tachyscale_scaler::schedule;

use crate::apply::{apply, Applied, Change};
use crate::config::{HpaPolicy, Policy, PolicyKind};
use crate::context::{milli_of_value, Context};
use crate::decision_log::DecisionKind;
use crate::queries;

/// What a tick ended with, for the `ticks_total{outcome}` counter and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// Computed; `changed` says whether replicas were (or, with dryRun, would be) changed.
    Ok { changed: bool },
    /// Computed, but a failing or stale source held a scale-down.
    Held,
    /// Could not compute (cluster read failed) or could not write.
    Error(String),
}

impl TickOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            TickOutcome::Ok { .. } => "ok",
            TickOutcome::Held => "held",
            TickOutcome::Error(_) => "error",
        }
    }
}

/// The state one HPA policy keeps between ticks.
pub struct HpaRunner {
    policy: Arc<Policy>,
    state: HpaState,
    held: bool,
}

impl HpaRunner {
    pub fn new(policy: Arc<Policy>) -> HpaRunner {
        HpaRunner {
            policy,
            state: HpaState::default(),
            held: false,
        }
    }

    /// The controller memory (recommendations and scale events), e.g. for tests.
    pub fn state(&self) -> &HpaState {
        &self.state
    }

    pub async fn tick(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        ctx.observe_tick("hpa", &policy.name, self.run(ctx)).await
    }

    async fn run(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        let PolicyKind::Hpa(hpa) = &policy.kind else {
            return TickOutcome::Error("not an hpa policy".into());
        };
        let now_ms = ctx.clock.now_ms();
        let scale = match ctx.cluster.scale(&hpa.target).await {
            Ok(scale) => scale,
            Err(err) => {
                return TickOutcome::Error(format!(
                    "cannot read the scale of {}: {err}",
                    hpa.target
                ))
            }
        };
        let pods = match ctx
            .cluster
            .pods(&hpa.target.namespace, &scale.selector)
            .await
        {
            Ok(pods) => pods,
            Err(err) => {
                return TickOutcome::Error(format!("cannot list the pods of {}: {err}", hpa.target))
            }
        };
        let hpa_pods: Vec<HpaPod> = pods.iter().map(hpa_pod).collect();
        let pod_names: Vec<&str> = hpa_pods.iter().map(|pod| pod.name.as_str()).collect();
        let observations: Vec<MetricObservation> = join_all(
            hpa.settings
                .metrics
                .iter()
                .map(|spec| observe(ctx, hpa, spec, &pod_names, now_ms)),
        )
        .await;
        let snapshot = ScaleSnapshot {
            spec_replicas: scale.spec_replicas,
            status_replicas: scale.status_replicas,
        };
        let observation = HpaObservation {
            scale: snapshot,
            pods: &hpa_pods,
            metrics: &observations,
            now_ms,
        };
        let decision = hpa::reconcile(&hpa.settings, &mut self.state, &observation);
        let floor = schedule::floor_at(&hpa.schedules, now_ms);
        let mut desired = decision.desired_replicas;
        let mut floor_applied = false;
        if let Some(floor) = &floor {
            let floor_replicas = floor.replicas.min(hpa.settings.max_replicas);
            if decision.reason != DecisionReason::ScalingDisabled && floor_replicas > desired {
                desired = floor_replicas;
                floor_applied = true;
            }
        }
        let current = scale.spec_replicas;
        ctx.set_replica_gauges(&policy.name, current, desired);
        let explanation = json!({
            "decision": decision,
            "observations": observations,
            "scheduleFloor": floor,
            "scheduleFloorApplied": floor_applied,
            "pods": hpa_pods.len(),
        });
        let target = hpa.target.to_string();
        let held = decision.reason == DecisionReason::InvalidMetrics;
        if held {
            ctx.metrics
                .scale_down_held
                .with_label_values(&[policy.name.as_str()])
                .inc();
        }
        if held != self.held {
            let reason = if held {
                format!("held by a failing or stale source: {}", decision.message)
            } else {
                "sources recovered".to_owned()
            };
            ctx.record(ctx.entry(
                &policy.name,
                "hpa",
                DecisionKind::HeldBySourceFailure,
                target.clone(),
                Some(current),
                Some(desired),
                false,
                policy.dry_run,
                reason,
                explanation.clone(),
                now_ms,
            ));
            self.held = held;
        }
        if desired == current {
            return if held {
                TickOutcome::Held
            } else {
                TickOutcome::Ok { changed: false }
            };
        }
        let reason = if floor_applied {
            format!(
                "schedule floor {desired} (HPA: {})",
                decision.desired_replicas
            )
        } else {
            format!("{:?}: {}", decision.reason, decision.message)
        };
        let change = Change {
            policy: &policy,
            engine: "hpa",
            target: &hpa.target,
            current,
            desired,
            reason,
            explanation,
            now_ms,
        };
        match apply(ctx, change).await {
            Applied::DryRun => TickOutcome::Ok { changed: true },
            Applied::Written => {
                hpa::record_rescale(&hpa.settings, &mut self.state, current, desired, now_ms);
                TickOutcome::Ok { changed: true }
            }
            Applied::Failed(message) => TickOutcome::Error(message),
        }
    }
}

/// The HPA's view of a pod.
pub fn hpa_pod(pod: &PodInfo) -> HpaPod {
    let containers = |list: &[tachyscale_cluster::ContainerInfo]| {
        list.iter()
            .map(|container| ContainerRequests {
                name: container.name.clone(),
                restart_policy_always: container.restart_always,
                requests_milli: container.requests.clone(),
            })
            .collect()
    };
    HpaPod {
        name: pod.name.clone(),
        phase: match pod.phase {
            PodPhase::Pending => hpa::PodPhase::Pending,
            PodPhase::Running => hpa::PodPhase::Running,
            PodPhase::Succeeded => hpa::PodPhase::Succeeded,
            PodPhase::Failed => hpa::PodPhase::Failed,
            PodPhase::Unknown => hpa::PodPhase::Unknown,
        },
        deletion_timestamp_ms: pod.deletion_ms,
        start_time_ms: pod.start_ms,
        ready: pod.ready.map(|ready| ReadyCondition {
            status: match ready.status {
                ConditionStatus::True => hpa::ConditionStatus::True,
                ConditionStatus::False => hpa::ConditionStatus::False,
                ConditionStatus::Unknown => hpa::ConditionStatus::Unknown,
            },
            last_transition_time_ms: ready.last_transition_ms,
        }),
        containers: containers(&pod.containers),
        init_containers: containers(&pod.init_containers),
    }
}

/// Reads one metric of the spec; every failure becomes [`MetricObservation::Failed`].
async fn observe(
    ctx: &Context,
    hpa: &HpaPolicy,
    spec: &MetricSpec,
    pods: &[&str],
    now_ms: i64,
) -> MetricObservation {
    match read(ctx, hpa, spec, pods, now_ms).await {
        Ok(observation) => observation,
        Err(message) => MetricObservation::Failed(message),
    }
}

async fn read(
    ctx: &Context,
    hpa: &HpaPolicy,
    spec: &MetricSpec,
    pods: &[&str],
    now_ms: i64,
) -> Result<MetricObservation, String> {
    let namespace = hpa.target.namespace.as_str();
    let per_pod = |query: String| async move {
        if pods.is_empty() {
            return Ok(MetricObservation::PerPod(PodMetrics::default()));
        }
        let values = ctx
            .query(&query, now_ms)
            .await
            .map_err(|err| err.to_string())?;
        let window_ms = i64::try_from(ctx.rate_window.as_millis()).unwrap_or(i64::MAX);
        let mut samples = BTreeMap::new();
        for value in values {
            let (Some(pod), Some(value_milli)) =
                (value.labels.get("pod"), milli_of_value(value.value))
            else {
                continue;
            };
            samples.insert(
                pod.clone(),
                PodMetricSample {
                    value_milli,
                    timestamp_ms: now_ms,
                    window_ms,
                },
            );
        }
        Ok(MetricObservation::PerPod(PodMetrics { samples }))
    };
    match spec.source_type {
        MetricSourceType::Resource => {
            let source = spec
                .resource
                .as_ref()
                .ok_or("resource metric without resource")?;
            per_pod(queries::resource_query(
                &source.name,
                None,
                namespace,
                pods,
                ctx.rate_window,
                ctx.max_age,
            )?)
            .await
        }
        MetricSourceType::ContainerResource => {
            let source = spec
                .container_resource
                .as_ref()
                .ok_or("containerResource metric without containerResource")?;
            per_pod(queries::resource_query(
                &source.name,
                Some(&source.container),
                namespace,
                pods,
                ctx.rate_window,
                ctx.max_age,
            )?)
            .await
        }
        MetricSourceType::Pods => {
            let source = spec.pods.as_ref().ok_or("pods metric without pods")?;
            per_pod(queries::pods_query(
                &source.metric,
                namespace,
                pods,
                ctx.max_age,
            )?)
            .await
        }
        MetricSourceType::Object => {
            let source = spec.object.as_ref().ok_or("object metric without object")?;
            let query = queries::object_query(
                &source.metric,
                &source.described_object,
                namespace,
                ctx.max_age,
            )?;
            let values = ctx
                .query(&query, now_ms)
                .await
                .map_err(|err| err.to_string())?;
            let value = values
                .first()
                .and_then(|value| milli_of_value(value.value))
                .ok_or_else(|| format!("no fresh data for object metric {}", source.metric.name))?;
            Ok(MetricObservation::Object(ObjectObservation {
                value_milli: value,
                timestamp_ms: Some(now_ms),
            }))
        }
        MetricSourceType::External => {
            let source = spec
                .external
                .as_ref()
                .ok_or("external metric without external")?;
            if let Some((trigger, _)) = hpa
                .triggers
                .iter()
                .find(|(_, metric)| metric.metric_name == source.metric.name)
            {
                let reading = ctx.sources.read(trigger, now_ms).await.map_err(|err| {
                    ctx.metrics
                        .source_errors
                        .with_label_values(&[trigger.kind(), err.reason()])
                        .inc();
                    format!("{} trigger: {err}", trigger.kind())
                })?;
                return Ok(MetricObservation::External(ExternalObservation {
                    values_milli: vec![reading.value_milli],
                    timestamp_ms: Some(now_ms),
                }));
            }
            let query = queries::external_query(&source.metric, namespace, ctx.max_age)?;
            let values = ctx
                .query(&query, now_ms)
                .await
                .map_err(|err| err.to_string())?;
            if values.is_empty() {
                return Err(format!(
                    "no fresh data for external metric {}",
                    source.metric.name
                ));
            }
            Ok(MetricObservation::External(ExternalObservation {
                values_milli: values
                    .iter()
                    .filter_map(|value| milli_of_value(value.value))
                    .collect(),
                timestamp_ms: Some(now_ms),
            }))
        }
    }
}
