//! The `scale` role's configuration: raw YAML shape with defaults, and the validated
//! settings built from it once at start. See `config/scaler.yaml` for the documented
//! example; a test loads it.
//!
//! Role-level keys are snake_case like the other roles'. Policies use the upstream objects'
//! camelCase names so specs can be pasted: `hpa` is a HorizontalPodAutoscaler `spec`,
//! `vpa` a VerticalPodAutoscaler `spec`, `cpa` the cluster-proportional autoscaler's
//! target and parameters, `triggers` KEDA triggers and `schedules` KEDA cron windows.
//! Every validation error names the policy and the field:
//! `policies[0] (web).hpa.maxReplicas: must be greater than or equal to minReplicas`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tachyscale_cluster::WorkloadRef;
use tachyscale_config::{at_least, FieldError};
use tachyscale_scaler::cpa::CpaParams;
use tachyscale_scaler::hpa::{
    CrossVersionObjectReference, HpaOptions, HpaSettings, HpaSpec, MetricSpec, MetricTarget,
};
use tachyscale_scaler::schedule::{self, ScheduleSpec, ScheduleWindow};
use tachyscale_scaler::vpa::VpaSpec;

use crate::fetch::AwsSettings;
use crate::triggers::{
    normalize_metric_name, MetricTargetType, Trigger, TriggerMetric, TriggerSpec,
};

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawScalerConfig {
    /// HTTP address: /metrics, /healthz, /readyz, /v1/explain, /v1/decisions, /v1/recommendations.
    pub listen: SocketAddr,
    /// How long a stopping scaler waits for in-flight ticks.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub metrics_source: RawMetricsSource,
    pub aws: RawAws,
    pub cluster: RawCluster,
    pub controller: RawController,
    pub decision_log: RawDecisionLog,
    pub vpa_checkpoints: RawVpaCheckpoints,
    pub policies: Vec<RawPolicy>,
}

impl Default for RawScalerConfig {
    fn default() -> Self {
        RawScalerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9203)),
            shutdown_timeout: Duration::from_secs(10),
            metrics_source: RawMetricsSource::default(),
            aws: RawAws::default(),
            cluster: RawCluster::default(),
            controller: RawController::default(),
            decision_log: RawDecisionLog::default(),
            vpa_checkpoints: RawVpaCheckpoints::default(),
            policies: Vec::new(),
        }
    }
}

/// Where Resource, Pods, Object and External metrics (and `prometheus` triggers without
/// `serverAddress`) are read: the store's query API, or any Prometheus-compatible one.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMetricsSource {
    /// Base URL of the query API (`/api/v1/query` is appended).
    pub query_url: String,
    /// Deadline of one metric read.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Samples older than this are stale: the metric is invalid for that tick, which can
    /// hold a scale-down but never cause one.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Window of the `rate()` that turns CPU counters into cores (at least two scrapes).
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
}

impl Default for RawMetricsSource {
    fn default() -> Self {
        RawMetricsSource {
            query_url: "http://127.0.0.1:9201".into(),
            timeout: Duration::from_secs(2),
            max_age: Duration::from_secs(15),
            rate_window: Duration::from_secs(5),
        }
    }
}

/// AWS access for the SQS and CloudWatch triggers; credentials always come from the
/// standard chain.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAws {
    /// Region for triggers without `awsRegion`; absent = the configuration chain's.
    pub region: Option<String>,
    /// Endpoint for triggers without `awsEndpoint` (a VPC endpoint, or moto in tests).
    pub endpoint_url: Option<String>,
    /// Deadline of one API call, retries included.
    #[serde(with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// Attempts per call (1 = no retry).
    pub max_attempts: u32,
}

impl Default for RawAws {
    fn default() -> Self {
        let defaults = AwsSettings::default();
        RawAws {
            region: None,
            endpoint_url: None,
            operation_timeout: defaults.operation_timeout,
            max_attempts: defaults.max_attempts,
        }
    }
}

/// How to reach the API server (`kubeconfig_file`, else in-cluster / `$KUBECONFIG`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCluster {
    pub kubeconfig_file: Option<PathBuf>,
}

/// The HPA controller flags (`kube-controller-manager --horizontal-pod-autoscaler-*`).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawController {
    /// `--horizontal-pod-autoscaler-tolerance`.
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`.
    #[serde(with = "humantime_serde")]
    pub downscale_stabilization: Duration,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    #[serde(with = "humantime_serde")]
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    #[serde(with = "humantime_serde")]
    pub initial_readiness_delay: Duration,
    /// Policy period when a policy sets none (the upstream sync period is 15 s).
    #[serde(with = "humantime_serde")]
    pub default_period: Duration,
    /// Policy ticks running at once, across all policies; more wait for a slot.
    pub max_concurrent_ticks: usize,
    /// A tick still running after this is abandoned and counted as an error, so a hung API
    /// server or source cannot hold a tick slot.
    #[serde(with = "humantime_serde")]
    pub tick_timeout: Duration,
}

impl Default for RawController {
    fn default() -> Self {
        let options = HpaOptions::default();
        RawController {
            tolerance: options.tolerance,
            downscale_stabilization: options.downscale_stabilization,
            cpu_initialization_period: options.cpu_initialization_period,
            initial_readiness_delay: options.initial_readiness_delay,
            default_period: Duration::from_secs(1),
            max_concurrent_ticks: 64,
            tick_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDecisionLog {
    /// Entries kept in memory for `GET /v1/decisions`.
    pub capacity: usize,
}

impl Default for RawDecisionLog {
    fn default() -> Self {
        RawDecisionLog {
            capacity: crate::decision_log::DEFAULT_CAPACITY,
        }
    }
}

/// Where VPA histories are imported from and saved to (`VerticalPodAutoscalerCheckpoint`
/// v3 JSON files).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawVpaCheckpoints {
    /// Directory of checkpoint files; absent = histories live in memory only.
    pub directory: Option<PathBuf>,
    /// How often each VPA policy saves its checkpoints.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RawVpaCheckpoints {
    fn default() -> Self {
        RawVpaCheckpoints {
            directory: None,
            interval: Duration::from_secs(60),
        }
    }
}

/// One policy: exactly one of `hpa`, `vpa`, `cpa`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicy {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Tick period; default `controller.default_period` (1 s).
    #[serde(default, with = "humantime_serde")]
    pub period: Option<Duration>,
    /// Compute and log, never write.
    #[serde(default)]
    pub dry_run: bool,
    pub hpa: Option<HpaSpec>,
    /// KEDA triggers; each becomes an External metric `s{index}-…` of the HPA.
    #[serde(default)]
    pub triggers: Vec<TriggerSpec>,
    /// Pre-scaling windows: a replica floor under the HPA while active.
    #[serde(default)]
    pub schedules: Vec<ScheduleSpec>,
    pub vpa: Option<VpaSpec>,
    pub cpa: Option<RawCpaPolicy>,
}

fn default_namespace() -> String {
    "default".into()
}

/// The cluster-proportional autoscaler's `--target` and its parameter document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCpaPolicy {
    pub scale_target_ref: CrossVersionObjectReference,
    /// `{"linear": {…}}` or `{"ladder": {…}}`, as in the autoscaler's ConfigMap.
    pub params: serde_json::Value,
}

/// Validated settings.
#[derive(Debug)]
pub struct ScalerSettings {
    pub listen: SocketAddr,
    pub shutdown_timeout: Duration,
    pub query_url: String,
    pub metrics_timeout: Duration,
    pub max_age: Duration,
    pub rate_window: Duration,
    pub aws: AwsSettings,
    pub kubeconfig_file: Option<PathBuf>,
    pub hpa_options: HpaOptions,
    pub max_concurrent_ticks: usize,
    pub tick_timeout: Duration,
    pub decision_log_capacity: usize,
    pub vpa_checkpoint_dir: Option<PathBuf>,
    pub vpa_checkpoint_interval: Duration,
    pub policies: Vec<Policy>,
}

/// A validated policy.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub namespace: String,
    pub period: Duration,
    pub dry_run: bool,
    pub kind: PolicyKind,
}

#[derive(Debug)]
pub enum PolicyKind {
    Hpa(Box<HpaPolicy>),
    Vpa(Box<VpaPolicy>),
    Cpa(CpaPolicy),
}

impl PolicyKind {
    pub fn engine(&self) -> &'static str {
        match self {
            PolicyKind::Hpa(_) => "hpa",
            PolicyKind::Vpa(_) => "vpa",
            PolicyKind::Cpa(_) => "cpa",
        }
    }
}

#[derive(Debug)]
pub struct HpaPolicy {
    pub target: WorkloadRef,
    pub settings: HpaSettings,
    /// The triggers, in order, with the External metric each feeds.
    pub triggers: Vec<(Trigger, TriggerMetric)>,
    /// The pre-scaling windows, in order, with the External metric each feeds.
    pub schedules: Vec<ScheduleMetric>,
}

#[derive(Debug)]
pub struct VpaPolicy {
    pub target: WorkloadRef,
    pub spec: VpaSpec,
}

#[derive(Debug)]
pub struct CpaPolicy {
    pub target: WorkloadRef,
    pub params: CpaParams,
}

fn workload(namespace: &str, reference: &CrossVersionObjectReference) -> WorkloadRef {
    WorkloadRef {
        namespace: namespace.to_owned(),
        api_version: reference.api_version.clone(),
        kind: reference.kind.clone(),
        name: reference.name.clone(),
    }
}

/// A pre-scaling window and the External metric it feeds.
#[derive(Debug)]
pub struct ScheduleMetric {
    pub window: ScheduleWindow,
    /// `s{index}-cron-{window name}`, numbered after the triggers as KEDA numbers a `cron`
    /// trigger.
    pub metric_name: String,
}

fn hpa_policy(
    at: &str,
    namespace: &str,
    mut spec: HpaSpec,
    triggers: &[TriggerSpec],
    schedules: &[ScheduleSpec],
    options: HpaOptions,
) -> Result<HpaPolicy, FieldError> {
    check_reference(&format!("{at}.hpa.scaleTargetRef"), &spec.scale_target_ref)?;
    let mut parsed = Vec::with_capacity(triggers.len());
    for (index, trigger_spec) in triggers.iter().enumerate() {
        let field = format!("{at}.triggers[{index}]");
        let trigger = Trigger::parse(trigger_spec, index)
            .map_err(|err| FieldError::new(&field, err.to_string()))?;
        let metric = trigger.metric(trigger_spec.metric_type.unwrap_or_default());
        if metric.target_milli <= 0 {
            return Err(FieldError::new(
                field,
                "the target must be at least 0.001 (the HPA reads targets in milli-units)",
            ));
        }
        let target = match metric.target_type {
            MetricTargetType::AverageValue => MetricTarget::average_value(metric.target_milli),
            MetricTargetType::Value => MetricTarget::value(metric.target_milli),
        };
        spec.metrics
            .push(MetricSpec::external(&metric.metric_name, target));
        parsed.push((trigger, metric));
    }
    // Each window is an External metric with target 1 per replica, as KEDA's cron scaler
    // makes it: it reads desiredReplicas while the window is open and 1 otherwise, so the
    // floor goes through the HPA's stabilization and rate limits like any other metric.
    let windows = schedule::validate_schedules(schedules)
        .map_err(|err| FieldError::new(at, err.to_string()))?;
    let mut schedule_metrics = Vec::with_capacity(windows.len());
    for (offset, window) in windows.into_iter().enumerate() {
        let metric_name = format!(
            "s{}-{}",
            triggers.len() + offset,
            normalize_metric_name(&format!("cron-{}", window.name()))
        );
        spec.metrics.push(MetricSpec::external(
            &metric_name,
            MetricTarget::average_value(1000),
        ));
        schedule_metrics.push(ScheduleMetric {
            window,
            metric_name,
        });
    }
    let settings = HpaSettings::new(&spec, options).map_err(|err| {
        let detail = err
            .field_errors()
            .iter()
            .map(|field| {
                let path = field.path.strip_prefix("spec.").unwrap_or(&field.path);
                format!("{path}: {}", field.message)
            })
            .collect::<Vec<_>>()
            .join("; ");
        FieldError::new(format!("{at}.hpa"), detail)
    })?;
    let synthetic: Vec<&str> = parsed
        .iter()
        .map(|(_, metric)| metric.metric_name.as_str())
        .chain(
            schedule_metrics
                .iter()
                .map(|metric| metric.metric_name.as_str()),
        )
        .collect();
    check_metric_queries(at, &settings.metrics, &synthetic)?;
    Ok(HpaPolicy {
        target: workload(namespace, &spec.scale_target_ref),
        settings,
        triggers: parsed,
        schedules: schedule_metrics,
    })
}

/// `apiVersion`, `kind` and `name` of a scale target are all needed to find it.
fn check_reference(field: &str, reference: &CrossVersionObjectReference) -> Result<(), FieldError> {
    for (name, value) in [
        ("apiVersion", &reference.api_version),
        ("kind", &reference.kind),
        ("name", &reference.name),
    ] {
        if value.is_empty() {
            return Err(FieldError::new(format!("{field}.{name}"), "required"));
        }
    }
    Ok(())
}

/// Builds every metric's query once at load, so a metric the store cannot answer (a
/// resource other than cpu and memory, a name that is not a metric name, a selector key
/// that is not a label name) is refused here, naming it, instead of holding every tick.
fn check_metric_queries(
    at: &str,
    metrics: &[MetricSpec],
    synthetic: &[&str],
) -> Result<(), FieldError> {
    use crate::queries;
    use tachyscale_scaler::hpa::MetricSourceType;

    let window = Duration::from_secs(5);
    for (index, metric) in metrics.iter().enumerate() {
        let checked = match metric.source_type {
            MetricSourceType::Resource => metric.resource.as_ref().map(|source| {
                queries::resource_query(&source.name, None, "ns", &["pod"], window, window)
            }),
            MetricSourceType::ContainerResource => {
                metric.container_resource.as_ref().map(|source| {
                    queries::resource_query(
                        &source.name,
                        Some(&source.container),
                        "ns",
                        &["pod"],
                        window,
                        window,
                    )
                })
            }
            MetricSourceType::Pods => metric
                .pods
                .as_ref()
                .map(|source| queries::pods_query(&source.metric, "ns", &["pod"], window)),
            MetricSourceType::Object => metric.object.as_ref().map(|source| {
                queries::object_query(&source.metric, &source.described_object, "ns", window)
            }),
            // Trigger and schedule metrics are not queried; others are.
            MetricSourceType::External => metric.external.as_ref().and_then(|source| {
                (!synthetic.contains(&source.metric.name.as_str()))
                    .then(|| queries::external_query(&source.metric, "ns", window))
            }),
        };
        if let Some(Err(message)) = checked {
            return Err(FieldError::new(
                format!("{at}.hpa.metrics[{index}]"),
                message,
            ));
        }
    }
    Ok(())
}

/// Shortest policy period: below it a tick's reads cannot finish.
const MIN_PERIOD: Duration = Duration::from_millis(100);

fn policy(
    index: usize,
    raw: RawPolicy,
    controller: &RawController,
    options: &HpaOptions,
) -> Result<Policy, FieldError> {
    let at = format!("policies[{index}] ({})", raw.name);
    if raw.name.is_empty() {
        return Err(FieldError::new(
            format!("policies[{index}].name"),
            "must not be empty",
        ));
    }
    let period = raw.period.unwrap_or(controller.default_period);
    if raw.period.is_some_and(|period| period < MIN_PERIOD) {
        return Err(FieldError::new(
            format!("{at}.period"),
            "must be at least 100ms",
        ));
    }
    let engines = usize::from(raw.hpa.is_some())
        + usize::from(raw.vpa.is_some())
        + usize::from(raw.cpa.is_some());
    if engines != 1 {
        return Err(FieldError::new(
            at,
            "exactly one of hpa, vpa and cpa must be set",
        ));
    }
    if raw.hpa.is_none() && !(raw.triggers.is_empty() && raw.schedules.is_empty()) {
        return Err(FieldError::new(
            at,
            "triggers and schedules belong to an hpa policy",
        ));
    }
    let kind = if let Some(spec) = raw.hpa {
        PolicyKind::Hpa(Box::new(hpa_policy(
            &at,
            &raw.namespace,
            spec,
            &raw.triggers,
            &raw.schedules,
            options.clone(),
        )?))
    } else if let Some(spec) = raw.vpa {
        spec.validate()
            .map_err(|err| FieldError::new(format!("{at}.vpa"), err.to_string()))?;
        let Some(target_ref) = &spec.target_ref else {
            return Err(FieldError::new(format!("{at}.vpa.targetRef"), "required"));
        };
        check_reference(
            &format!("{at}.vpa.targetRef"),
            &CrossVersionObjectReference {
                api_version: target_ref.api_version.clone(),
                kind: target_ref.kind.clone(),
                name: target_ref.name.clone(),
            },
        )?;
        let target = WorkloadRef {
            namespace: raw.namespace.clone(),
            api_version: target_ref.api_version.clone(),
            kind: target_ref.kind.clone(),
            name: target_ref.name.clone(),
        };
        PolicyKind::Vpa(Box::new(VpaPolicy { target, spec }))
    } else if let Some(cpa) = raw.cpa {
        check_reference(&format!("{at}.cpa.scaleTargetRef"), &cpa.scale_target_ref)?;
        let params = CpaParams::from_document(&cpa.params)
            .map_err(|err| FieldError::new(format!("{at}.cpa.params"), err.to_string()))?;
        PolicyKind::Cpa(CpaPolicy {
            target: workload(&raw.namespace, &cpa.scale_target_ref),
            params,
        })
    } else {
        return Err(FieldError::new(
            at,
            "exactly one of hpa, vpa and cpa must be set",
        ));
    };
    Ok(Policy {
        name: raw.name,
        namespace: raw.namespace,
        period,
        dry_run: raw.dry_run,
        kind,
    })
}

impl TryFrom<RawScalerConfig> for ScalerSettings {
    type Error = FieldError;

    fn try_from(raw: RawScalerConfig) -> Result<ScalerSettings, FieldError> {
        let options = HpaOptions {
            tolerance: raw.controller.tolerance,
            downscale_stabilization: raw.controller.downscale_stabilization,
            cpu_initialization_period: raw.controller.cpu_initialization_period,
            initial_readiness_delay: raw.controller.initial_readiness_delay,
        };
        options
            .validate()
            .map_err(|err| FieldError::new("controller", err.to_string()))?;
        if !(raw.metrics_source.query_url.starts_with("http://")
            || raw.metrics_source.query_url.starts_with("https://"))
        {
            return Err(FieldError::new(
                "metrics_source.query_url",
                format!("{:?} is not an http(s) URL", raw.metrics_source.query_url),
            ));
        }
        if raw.metrics_source.rate_window < Duration::from_secs(1) {
            return Err(FieldError::new(
                "metrics_source.rate_window",
                "must be at least 1s (two scrapes at the 1 s interval)",
            ));
        }
        at_least("aws.max_attempts", raw.aws.max_attempts, 1)?;
        at_least("decision_log.capacity", raw.decision_log.capacity, 1)?;
        if raw.vpa_checkpoints.interval < Duration::from_secs(1) {
            return Err(FieldError::new(
                "vpa_checkpoints.interval",
                "must be at least 1s",
            ));
        }
        if raw.controller.default_period < MIN_PERIOD {
            return Err(FieldError::new(
                "controller.default_period",
                "must be at least 100ms",
            ));
        }
        for (field, value) in [
            ("metrics_source.timeout", raw.metrics_source.timeout),
            ("metrics_source.max_age", raw.metrics_source.max_age),
            ("aws.operation_timeout", raw.aws.operation_timeout),
            ("controller.tick_timeout", raw.controller.tick_timeout),
        ] {
            if value < Duration::from_millis(10) {
                return Err(FieldError::new(field, "must be at least 10ms"));
            }
        }
        at_least(
            "controller.max_concurrent_ticks",
            raw.controller.max_concurrent_ticks,
            1,
        )?;
        let mut names = std::collections::BTreeSet::new();
        let mut policies = Vec::with_capacity(raw.policies.len());
        for (index, raw_policy) in raw.policies.into_iter().enumerate() {
            // Names label metrics, key published recommendations and filter the decision
            // log, so they are unique across namespaces.
            if !names.insert(raw_policy.name.clone()) {
                return Err(FieldError::new(
                    format!("policies[{index}].name"),
                    format!("{:?} is used by another policy", raw_policy.name),
                ));
            }
            policies.push(policy(index, raw_policy, &raw.controller, &options)?);
        }
        Ok(ScalerSettings {
            listen: raw.listen,
            shutdown_timeout: raw.shutdown_timeout,
            query_url: raw.metrics_source.query_url,
            metrics_timeout: raw.metrics_source.timeout,
            max_age: raw.metrics_source.max_age,
            rate_window: raw.metrics_source.rate_window,
            aws: AwsSettings {
                region: raw.aws.region,
                endpoint_url: raw.aws.endpoint_url,
                operation_timeout: raw.aws.operation_timeout,
                max_attempts: raw.aws.max_attempts,
            },
            kubeconfig_file: raw.cluster.kubeconfig_file,
            hpa_options: options,
            max_concurrent_ticks: raw.controller.max_concurrent_ticks,
            tick_timeout: raw.controller.tick_timeout,
            decision_log_capacity: raw.decision_log.capacity,
            vpa_checkpoint_dir: raw.vpa_checkpoints.directory,
            vpa_checkpoint_interval: raw.vpa_checkpoints.interval,
            policies,
        })
    }
}

impl ScalerSettings {
    pub fn load(path: &std::path::Path) -> Result<ScalerSettings, tachyscale_config::ConfigError> {
        tachyscale_config::load::<RawScalerConfig, ScalerSettings>(path)
    }

    pub fn parse(text: &str) -> Result<ScalerSettings, FieldError> {
        tachyscale_config::parse::<RawScalerConfig, ScalerSettings>(text)
    }
}
