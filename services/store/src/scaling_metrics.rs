//! Instruments of the scaling surfaces: KEDA gRPC, the external metrics API, their TLS
//! listeners and the shared result cache.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tachyscale_store_keda_requests_total` | counter | `method`, `code` | KEDA RPCs by gRPC status code |
//! | `tachyscale_store_keda_request_duration_seconds` | histogram | `method` | unary RPC latency; for streams, time to open |
//! | `tachyscale_store_keda_streams_open` | gauge | `method` | open `StreamIsActive` / `StreamMetricSpec` streams |
//! | `tachyscale_store_keda_stream_messages_total` | counter | `method` | messages pushed on streams |
//! | `tachyscale_store_keda_stream_groups` | gauge | | distinct (query, threshold) subscriptions evaluated by the push loop |
//! | `tachyscale_store_keda_stream_evaluations_total` | counter | `outcome` | push-loop evaluations (`ok`, `error`) |
//! | `tachyscale_store_keda_plans_cached` | gauge | | parsed `scalerMetadata` maps kept |
//! | `tachyscale_store_result_cache_lookups_total` | counter | `outcome` | shared query results reused (`hit`) or evaluated (`miss`) |
//! | `tachyscale_store_external_metrics_requests_total` | counter | `code` | external metrics API requests by HTTP status |
//! | `tachyscale_store_auth_failures_total` | counter | `reason` | external metrics API requests refused (401/403) |
//! | `tachyscale_store_tls_handshake_failures_total` | counter | `listener` | TLS handshakes that failed or timed out |
//! | `tachyscale_store_tls_reloads_total` | counter | `listener`, `outcome` | certificate reloads (`ok`, `error`) |
//! | `tachyscale_store_connections_open` | gauge | `listener` | accepted connections |
//! | `tachyscale_store_connections_refused_total` | counter | `listener` | connections closed at once because `max_connections` was reached |

use crate::metrics::register;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct ScalingMetrics {
    pub keda_requests: IntCounterVec,
    pub keda_request_duration: HistogramVec,
    pub keda_streams_open: IntGaugeVec,
    pub keda_stream_messages: IntCounterVec,
    pub keda_stream_groups: IntGauge,
    pub keda_stream_evaluations: IntCounterVec,
    pub keda_plans_cached: IntGauge,
    pub result_cache_lookups: IntCounterVec,
    pub external_requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub tls_handshake_failures: IntCounterVec,
    pub tls_reloads: IntCounterVec,
    pub connections_open: IntGaugeVec,
    pub connections_refused: IntCounterVec,
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    register(r, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    register(r, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    register(r, IntGauge::new(name, help)?)
}

impl ScalingMetrics {
    pub fn new(r: &Registry) -> Result<Self, prometheus::Error> {
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tachyscale_store_keda_request_duration_seconds",
                "KEDA RPC latency; for streams, the time to open them.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                5.0,
            ]),
            &["method"],
        )?;
        let latency = register(r, latency)?;
        let metrics = ScalingMetrics {
            keda_requests: counter_vec(
                r,
                "tachyscale_store_keda_requests_total",
                "KEDA external scaler RPCs by method and gRPC status code.",
                &["method", "code"],
            )?,
            keda_request_duration: latency,
            keda_streams_open: gauge_vec(
                r,
                "tachyscale_store_keda_streams_open",
                "Open KEDA push streams.",
                &["method"],
            )?,
            keda_stream_messages: counter_vec(
                r,
                "tachyscale_store_keda_stream_messages_total",
                "Messages pushed on KEDA streams.",
                &["method"],
            )?,
            keda_stream_groups: gauge(
                r,
                "tachyscale_store_keda_stream_groups",
                "Distinct subscriptions the push loop evaluates.",
            )?,
            keda_stream_evaluations: counter_vec(
                r,
                "tachyscale_store_keda_stream_evaluations_total",
                "Push-loop evaluations by outcome.",
                &["outcome"],
            )?,
            keda_plans_cached: gauge(
                r,
                "tachyscale_store_keda_plans_cached",
                "Parsed scalerMetadata maps kept.",
            )?,
            result_cache_lookups: counter_vec(
                r,
                "tachyscale_store_result_cache_lookups_total",
                "Shared query results reused (hit) or evaluated (miss).",
                &["outcome"],
            )?,
            external_requests: counter_vec(
                r,
                "tachyscale_store_external_metrics_requests_total",
                "External metrics API requests by HTTP status code.",
                &["code"],
            )?,
            auth_failures: counter_vec(
                r,
                "tachyscale_store_auth_failures_total",
                "External metrics API requests refused, by reason.",
                &["reason"],
            )?,
            tls_handshake_failures: counter_vec(
                r,
                "tachyscale_store_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out.",
                &["listener"],
            )?,
            tls_reloads: counter_vec(
                r,
                "tachyscale_store_tls_reloads_total",
                "Certificate reloads by outcome.",
                &["listener", "outcome"],
            )?,
            connections_open: gauge_vec(
                r,
                "tachyscale_store_connections_open",
                "Accepted connections per listener.",
                &["listener"],
            )?,
            connections_refused: counter_vec(
                r,
                "tachyscale_store_connections_refused_total",
                "Connections closed at once because max_connections was reached.",
                &["listener"],
            )?,
        };
        for outcome in ["hit", "miss"] {
            metrics.result_cache_lookups.with_label_values(&[outcome]);
        }
        for outcome in ["ok", "error"] {
            metrics
                .keda_stream_evaluations
                .with_label_values(&[outcome]);
        }
        Ok(metrics)
    }
}
