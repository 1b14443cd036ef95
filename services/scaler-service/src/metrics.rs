//! The scaler's own instruments, registered on an injected registry.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tachyscale_scaler_desired_replicas` | gauge | `policy` | the engine's last desired replicas |
//! | `tachyscale_scaler_current_replicas` | gauge | `policy` | replicas the workload had at the last tick |
//! | `tachyscale_scaler_decision_duration_seconds` | histogram | `engine` | one policy tick: fetch, compute, apply |
//! | `tachyscale_scaler_ticks_total` | counter | `engine`, `outcome` | policy ticks (`ok`, `held`, `error`) |
//! | `tachyscale_scaler_scale_changes_total` | counter | `engine`, `direction`, `applied` | replica changes made (`applied=false`: dryRun) |
//! | `tachyscale_scaler_source_errors_total` | counter | `source`, `reason` | failed metric reads (`store`, `aws-sqs-queue`, …) |
//! | `tachyscale_scaler_scale_down_held_total` | counter | `policy` | scale-downs held because a source failed or was stale |
//! | `tachyscale_scaler_apply_errors_total` | counter | `reason` | failed replica writes |
//! | `tachyscale_scaler_tick_overruns_total` | counter | `engine` | ticks that took longer than their period |
//! | `tachyscale_scaler_vpa_recommendation_cores` | gauge | `policy`, `container`, `bound` | published VPA CPU recommendations |
//! | `tachyscale_scaler_vpa_recommendation_bytes` | gauge | `policy`, `container`, `bound` | published VPA memory recommendations |
//! | `tachyscale_scaler_cluster_errors_total` | counter | `reason` | failed reads of scale, pods or nodes (`not_synced`, `not_found`, `api`, …) |
//! | `tachyscale_scaler_explain_requests_total` | counter | `engine`, `outcome` | `POST /v1/explain` requests (`ok` or the error's reason) |
//! | `tachyscale_scaler_decision_log_dropped_total` | counter | | decision log entries pushed out of the ring |
//!
//! `policy` comes from the configuration file and `container` from the targets' pod specs,
//! so both are bounded by what the configuration scales.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// Instruments of the scale role.
#[derive(Clone)]
pub struct ScalerMetrics {
    registry: Registry,
    pub desired_replicas: IntGaugeVec,
    pub current_replicas: IntGaugeVec,
    pub decision_duration: HistogramVec,
    pub ticks: IntCounterVec,
    pub scale_changes: IntCounterVec,
    pub source_errors: IntCounterVec,
    pub scale_down_held: IntCounterVec,
    pub apply_errors: IntCounterVec,
    pub tick_overruns: IntCounterVec,
    pub vpa_recommendation_cores: GaugeVec,
    pub vpa_recommendation_bytes: GaugeVec,
    pub cluster_errors: IntCounterVec,
    pub explain_requests: IntCounterVec,
    pub decision_log_dropped: IntCounter,
}

impl ScalerMetrics {
    pub fn new(registry: Registry) -> Result<ScalerMetrics, prometheus::Error> {
        let r = &registry;
        let buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        Ok(ScalerMetrics {
            desired_replicas: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tachyscale_scaler_desired_replicas",
                        "The engine's last desired replicas.",
                    ),
                    &["policy"],
                )?,
            )?,
            current_replicas: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tachyscale_scaler_current_replicas",
                        "Replicas the workload had at the last tick.",
                    ),
                    &["policy"],
                )?,
            )?,
            decision_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "tachyscale_scaler_decision_duration_seconds",
                        "One policy tick: fetch metrics, compute, apply.",
                    )
                    .buckets(buckets),
                    &["engine"],
                )?,
            )?,
            ticks: register(
                r,
                IntCounterVec::new(
                    Opts::new("tachyscale_scaler_ticks_total", "Policy ticks by outcome."),
                    &["engine", "outcome"],
                )?,
            )?,
            scale_changes: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_scale_changes_total",
                        "Replica changes made (applied=false: dryRun).",
                    ),
                    &["engine", "direction", "applied"],
                )?,
            )?,
            source_errors: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_source_errors_total",
                        "Failed metric reads.",
                    ),
                    &["source", "reason"],
                )?,
            )?,
            scale_down_held: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_scale_down_held_total",
                        "Scale-downs held because a source failed or was stale.",
                    ),
                    &["policy"],
                )?,
            )?,
            apply_errors: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_apply_errors_total",
                        "Failed replica writes.",
                    ),
                    &["reason"],
                )?,
            )?,
            tick_overruns: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_tick_overruns_total",
                        "Ticks longer than their period.",
                    ),
                    &["engine"],
                )?,
            )?,
            vpa_recommendation_cores: register(
                r,
                GaugeVec::new(
                    Opts::new(
                        "tachyscale_scaler_vpa_recommendation_cores",
                        "Published VPA CPU recommendations.",
                    ),
                    &["policy", "container", "bound"],
                )?,
            )?,
            vpa_recommendation_bytes: register(
                r,
                GaugeVec::new(
                    Opts::new(
                        "tachyscale_scaler_vpa_recommendation_bytes",
                        "Published VPA memory recommendations.",
                    ),
                    &["policy", "container", "bound"],
                )?,
            )?,
            cluster_errors: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_cluster_errors_total",
                        "Failed reads of scale subresources, pods or nodes.",
                    ),
                    &["reason"],
                )?,
            )?,
            explain_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_scaler_explain_requests_total",
                        "POST /v1/explain requests by outcome.",
                    ),
                    &["engine", "outcome"],
                )?,
            )?,
            decision_log_dropped: register(
                r,
                IntCounter::new(
                    "tachyscale_scaler_decision_log_dropped_total",
                    "Decision log entries pushed out of the in-memory ring.",
                )?,
            )?,
            registry,
        })
    }

    /// The Prometheus text exposition of every instrument.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if encoder
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
