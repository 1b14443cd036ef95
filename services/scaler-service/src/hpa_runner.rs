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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::json;
use tachyscale_cluster::{ClusterError, ConditionStatus, PodInfo, PodPhase};
use tachyscale_scaler::hpa::{
    self, ContainerRequests, DecisionReason, ExternalObservation, HpaObservation, HpaPod, HpaState,
    MetricObservation, MetricSourceType, MetricSpec, ObjectObservation, PodMetricSample,
    PodMetrics, ReadyCondition, ScaleSnapshot,
};

use crate::apply::{apply, Applied, Change};
use crate::config::{HpaPolicy, Policy, PolicyKind, ScheduleMetric};
use crate::context::{milli_of_value, Context};
use crate::decision_log::DecisionKind;
use crate::queries;
use crate::triggers::{Trigger, TriggerReading};

/// What a tick ended with, for the `ticks_total{outcome}` counter and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// Computed; `changed` says whether replicas were (or, with dryRun, would be) changed.
    Ok { changed: bool },
    /// Computed, but a failing or stale source held a scale-down.
    Held,
    /// The cluster caches have not synced yet: nothing to compute from.
    NotSynced(String),
    /// Could not compute (cluster read failed) or could not write.
    Error(String),
}

impl TickOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            TickOutcome::Ok { .. } => "ok",
            TickOutcome::Held => "held",
            TickOutcome::NotSynced(_) => "not_synced",
            TickOutcome::Error(_) => "error",
        }
    }

    /// A failed cluster read, as the outcome of a tick.
    pub fn cluster_error(ctx: &Context, what: String, err: &ClusterError) -> TickOutcome {
        ctx.metrics
            .cluster_errors
            .with_label_values(&[err.reason()])
            .inc();
        match err {
            ClusterError::NotSynced { .. } => TickOutcome::NotSynced(format!("{what}: {err}")),
            _ => TickOutcome::Error(format!("{what}: {err}")),
        }
    }
}

/// How long a trigger reading of one policy is reused (0: read every tick).
fn reading_cache_ms(trigger: &Trigger) -> i64 {
    match trigger {
        Trigger::CloudWatch(cloudwatch) => cloudwatch.cache_ms(),
        Trigger::Sqs(_) | Trigger::Prometheus(_) => 0,
    }
}

/// The state one HPA policy keeps between ticks.
pub struct HpaRunner {
    policy: Arc<Policy>,
    state: HpaState,
    held: bool,
    /// The desired replicas last logged for a `dryRun` policy, so a change that is never
    /// written is logged once, not every tick.
    dry_run_logged: Option<i32>,
    /// Recent trigger readings by metric name, with when they were read.
    readings: HashMap<String, (i64, TriggerReading)>,
}

/// One metric's observation and, for a trigger or schedule, what it read.
struct Observed {
    observation: MetricObservation,
    source: Option<SourceRead>,
}

/// What a trigger or a pre-scaling window gave, for the decision log.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
enum SourceRead {
    Trigger {
        metric: String,
        trigger: &'static str,
        reading: TriggerReading,
        read_ms: i64,
        /// Reused from an earlier tick (see [`reading_cache_ms`]).
        cached: bool,
    },
    Schedule {
        metric: String,
        window: String,
        active: bool,
        desired_replicas: i32,
    },
}

impl HpaRunner {
    pub fn new(policy: Arc<Policy>) -> HpaRunner {
        HpaRunner {
            policy,
            state: HpaState::default(),
            held: false,
            dry_run_logged: None,
            readings: HashMap::new(),
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
                let what = format!("cannot read the scale of {}", hpa.target);
                return TickOutcome::cluster_error(ctx, what, &err);
            }
        };
        // Upstream refuses to act without a selector (InvalidSelector): an empty one would
        // select every pod of the namespace.
        if scale.selector.is_empty() {
            return TickOutcome::Error(format!(
                "{} has no pod selector in its scale subresource (status.selector)",
                hpa.target
            ));
        }
        let pods = match ctx
            .cluster
            .pods(&hpa.target.namespace, &scale.selector)
            .await
        {
            Ok(pods) => pods,
            Err(err) => {
                let what = format!("cannot list the pods of {}", hpa.target);
                return TickOutcome::cluster_error(ctx, what, &err);
            }
        };
        let hpa_pods: Vec<HpaPod> = pods.iter().map(hpa_pod).collect();
        let pod_names: Vec<&str> = hpa_pods.iter().map(|pod| pod.name.as_str()).collect();
        let cached = &self.readings;
        let observed: Vec<Observed> = join_all(
            hpa.settings
                .metrics
                .iter()
                .map(|spec| observe(ctx, hpa, spec, &pod_names, cached, now_ms)),
        )
        .await;
        for observed in &observed {
            if let Some(SourceRead::Trigger {
                metric,
                reading,
                read_ms,
                cached: false,
                ..
            }) = &observed.source
            {
                self.readings.insert(metric.clone(), (*read_ms, *reading));
            }
        }
        let observations: Vec<MetricObservation> = observed
            .iter()
            .map(|observed| observed.observation.clone())
            .collect();
        let sources: Vec<&SourceRead> = observed
            .iter()
            .filter_map(|observed| observed.source.as_ref())
            .collect();
        let observation = HpaObservation {
            scale: ScaleSnapshot {
                spec_replicas: scale.spec_replicas,
                status_replicas: scale.status_replicas,
            },
            pods: &hpa_pods,
            metrics: &observations,
            now_ms,
        };
        let decision = hpa::reconcile(&hpa.settings, &mut self.state, &observation);
        let current = scale.spec_replicas;
        let desired = decision.desired_replicas;
        ctx.set_replica_gauges(&policy.name, current, desired);
        let explanation = json!({
            "decision": decision,
            "observations": observations,
            "triggersAndSchedules": sources,
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
            let (kind, reason) = if held {
                (
                    DecisionKind::HeldBySourceFailure,
                    format!("held by a failing or stale source: {}", decision.message),
                )
            } else {
                (
                    DecisionKind::SourcesRecovered,
                    "sources recovered".to_owned(),
                )
            };
            ctx.record(ctx.entry(
                &policy.name,
                "hpa",
                kind,
                target,
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
            self.dry_run_logged = None;
            return if held {
                TickOutcome::Held
            } else {
                TickOutcome::Ok { changed: false }
            };
        }
        if policy.dry_run && self.dry_run_logged == Some(desired) {
            return TickOutcome::Ok { changed: true };
        }
        let change = Change {
            policy: &policy,
            engine: "hpa",
            target: &hpa.target,
            current,
            desired,
            reason: format!("{:?}: {}", decision.reason, decision.message),
            explanation,
            now_ms,
        };
        match apply(ctx, change).await {
            Applied::DryRun => {
                self.dry_run_logged = Some(desired);
                TickOutcome::Ok { changed: true }
            }
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
    cached: &HashMap<String, (i64, TriggerReading)>,
    now_ms: i64,
) -> Observed {
    if let Some(source) = spec.external.as_ref() {
        let name = source.metric.name.as_str();
        if let Some((trigger, _)) = hpa
            .triggers
            .iter()
            .find(|(_, metric)| metric.metric_name == name)
        {
            return read_trigger(ctx, trigger, name, cached, now_ms).await;
        }
        if let Some(schedule) = hpa
            .schedules
            .iter()
            .find(|schedule| schedule.metric_name == name)
        {
            return read_schedule(schedule, now_ms);
        }
    }
    let observation = match read(ctx, hpa, spec, pods, now_ms).await {
        Ok(observation) => observation,
        Err(message) => MetricObservation::Failed(message),
    };
    Observed {
        observation,
        source: None,
    }
}

fn external(value_milli: i64, now_ms: i64) -> MetricObservation {
    MetricObservation::External(ExternalObservation {
        values_milli: vec![value_milli],
        timestamp_ms: Some(now_ms),
    })
}

/// A trigger's reading: KEDA's value, reused while the source cannot have changed.
async fn read_trigger(
    ctx: &Context,
    trigger: &Trigger,
    metric: &str,
    cached: &HashMap<String, (i64, TriggerReading)>,
    now_ms: i64,
) -> Observed {
    let reuse = cached
        .get(metric)
        .filter(|(read_ms, _)| now_ms - read_ms < reading_cache_ms(trigger));
    let (reading, read_ms, from_cache) = match reuse {
        Some((read_ms, reading)) => (*reading, *read_ms, true),
        None => match ctx.sources.read(trigger, now_ms).await {
            Ok(reading) => (reading, now_ms, false),
            Err(err) => {
                ctx.metrics
                    .source_errors
                    .with_label_values(&[trigger.kind(), err.reason()])
                    .inc();
                return Observed {
                    observation: MetricObservation::Failed(format!(
                        "{} trigger: {err}",
                        trigger.kind()
                    )),
                    source: None,
                };
            }
        },
    };
    Observed {
        observation: external(reading.value_milli, now_ms),
        source: Some(SourceRead::Trigger {
            metric: metric.to_owned(),
            trigger: trigger.kind(),
            reading,
            read_ms,
            cached: from_cache,
        }),
    }
}

/// A pre-scaling window as KEDA's cron scaler reports it: `desiredReplicas` while open,
/// 1 otherwise, against a target of 1 per replica.
fn read_schedule(schedule: &ScheduleMetric, now_ms: i64) -> Observed {
    let active = schedule.window.active_span(now_ms).is_some();
    let replicas = if active {
        schedule.window.desired_replicas()
    } else {
        1
    };
    Observed {
        observation: external(i64::from(replicas) * 1000, now_ms),
        source: Some(SourceRead::Schedule {
            metric: schedule.metric_name.clone(),
            window: schedule.window.name().to_owned(),
            active,
            desired_replicas: schedule.window.desired_replicas(),
        }),
    }
}

/// Reads a metric from the query source.
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
            let query = queries::external_query(&source.metric, namespace, ctx.max_age)?;
            let values = ctx
                .query(&query, now_ms)
                .await
                .map_err(|err| err.to_string())?;
            // NaN items (a 0/0 in a recording rule) are no data, not zero.
            let values_milli: Vec<i64> = values
                .iter()
                .filter_map(|value| milli_of_value(value.value))
                .collect();
            if values_milli.is_empty() {
                return Err(format!(
                    "no fresh data for external metric {}",
                    source.metric.name
                ));
            }
            Ok(MetricObservation::External(ExternalObservation {
                values_milli,
                timestamp_ms: Some(now_ms),
            }))
        }
    }
}
