//! The store's own instruments, registered on an injected registry.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tachyscale_store_samples_ingested_total` | counter | | samples appended via remote-write |
//! | `tachyscale_store_samples_rejected_total` | counter | `reason` | samples refused (label rules, order, limits) |
//! | `tachyscale_store_write_requests_total` | counter | `code` | remote-write requests by HTTP status |
//! | `tachyscale_store_write_errors_total` | counter | `reason` | whole requests refused (`bad_snappy`, `bad_protobuf`, `body_too_large`, `rate_limited`) |
//! | `tachyscale_store_http_request_duration_seconds` | histogram | `handler` | request latency per endpoint |
//! | `tachyscale_store_queries_total` | counter | `type`, `outcome` | PromQL queries by kind and result |
//! | `tachyscale_store_queries_in_flight` | gauge | | queries being evaluated |
//! | `tachyscale_store_query_errors_total` | counter | `reason` | failed queries by reason |
//! | `tachyscale_store_limit` | gauge | `limit` | configured limits, to alert on headroom |
//! | `tachyscale_tsdb_series` | gauge | | series in memory |
//! | `tachyscale_tsdb_samples` | gauge | | samples in memory |
//! | `tachyscale_tsdb_chunks` | gauge | | chunks in memory |
//! | `tachyscale_tsdb_memory_bytes` | gauge | `kind` | `chunks` (encoded), `chunk_slack`, `chunk_meta`, `series`, `index`, `strings` |
//! | `tachyscale_tsdb_series_created_total` / `_removed_total` | counter | | series churn |
//! | `tachyscale_tsdb_gc_duration_seconds` | histogram | | retention passes |
//!
//! The scaling surfaces' instruments are listed in [`crate::scaling_metrics`].
//!
//! Engine gauges are refreshed from [`Head::stats`] when `/metrics` is scraped, so they are
//! exact at scrape time and cost nothing between scrapes.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tachyscale_tsdb::Head;

use crate::config::StoreSettings;

/// Instruments of the store role.
#[derive(Clone)]
pub struct StoreMetrics {
    registry: Registry,
    pub samples_ingested: IntCounter,
    pub samples_rejected: IntCounterVec,
    pub write_requests: IntCounterVec,
    pub write_errors: IntCounterVec,
    pub request_duration: HistogramVec,
    pub queries: IntCounterVec,
    pub queries_in_flight: IntGauge,
    pub query_errors: IntCounterVec,
    pub gc_duration: Histogram,
    limits: IntGaugeVec,
    series: IntGauge,
    samples: IntGauge,
    chunks: IntGauge,
    memory: IntGaugeVec,
    series_created: IntCounter,
    series_removed: IntCounter,
    /// Serialises renders: engine counters are copied in as deltas, which two concurrent
    /// scrapes would otherwise both add.
    render_lock: std::sync::Arc<parking_lot::Mutex<()>>,
    /// KEDA, external metrics API, TLS listeners: see [`crate::scaling_metrics`].
    pub scaling: crate::scaling_metrics::ScalingMetrics,
}

pub(crate) fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl StoreMetrics {
    pub fn new(registry: Registry) -> Result<Self, prometheus::Error> {
        let r = &registry;
        let latency_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ];
        let metrics = StoreMetrics {
            samples_ingested: register(
                r,
                IntCounter::new(
                    "tachyscale_store_samples_ingested_total",
                    "Samples appended via remote-write.",
                )?,
            )?,
            samples_rejected: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_store_samples_rejected_total",
                        "Samples refused, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            write_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_store_write_requests_total",
                        "Remote-write requests by HTTP status code.",
                    ),
                    &["code"],
                )?,
            )?,
            write_errors: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_store_write_errors_total",
                        "Remote-write requests refused whole, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            request_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "tachyscale_store_http_request_duration_seconds",
                        "HTTP request latency by handler.",
                    )
                    .buckets(latency_buckets.clone()),
                    &["handler"],
                )?,
            )?,
            queries: register(
                r,
                IntCounterVec::new(
                    Opts::new("tachyscale_store_queries_total", "PromQL queries."),
                    &["type", "outcome"],
                )?,
            )?,
            queries_in_flight: register(
                r,
                IntGauge::new(
                    "tachyscale_store_queries_in_flight",
                    "Queries being evaluated.",
                )?,
            )?,
            query_errors: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "tachyscale_store_query_errors_total",
                        "Failed queries by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            gc_duration: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "tachyscale_tsdb_gc_duration_seconds",
                        "Duration of retention passes.",
                    )
                    .buckets(latency_buckets),
                )?,
            )?,
            limits: register(
                r,
                IntGaugeVec::new(
                    Opts::new("tachyscale_store_limit", "Configured limits."),
                    &["limit"],
                )?,
            )?,
            series: register(
                r,
                IntGauge::new("tachyscale_tsdb_series", "Series in memory.")?,
            )?,
            samples: register(
                r,
                IntGauge::new("tachyscale_tsdb_samples", "Samples in memory.")?,
            )?,
            chunks: register(
                r,
                IntGauge::new("tachyscale_tsdb_chunks", "Chunks in memory.")?,
            )?,
            memory: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tachyscale_tsdb_memory_bytes",
                        "Memory held by the engine, by kind.",
                    ),
                    &["kind"],
                )?,
            )?,
            series_created: register(
                r,
                IntCounter::new(
                    "tachyscale_tsdb_series_created_total",
                    "Series created since start.",
                )?,
            )?,
            series_removed: register(
                r,
                IntCounter::new(
                    "tachyscale_tsdb_series_removed_total",
                    "Series removed by retention since start.",
                )?,
            )?,
            scaling: crate::scaling_metrics::ScalingMetrics::new(r)?,
            registry,
            render_lock: Default::default(),
        };
        for reason in crate::ingest::all_reasons() {
            metrics.samples_rejected.with_label_values(&[reason]);
        }
        for reason in [
            "bad_snappy",
            "bad_protobuf",
            "body_too_large",
            "rate_limited",
        ] {
            metrics.write_errors.with_label_values(&[reason]);
        }
        Ok(metrics)
    }

    /// Publishes the configured limits as gauges.
    pub fn set_limits(&self, settings: &StoreSettings) {
        let w = &settings.write;
        let q = &settings.query;
        let rate = w.rate.map_or(0.0, |r| r.samples_per_second);
        for (name, value) in [
            ("max_series", settings.max_series as f64),
            ("retention_seconds", settings.retention.as_secs_f64()),
            ("write_max_body_bytes", w.max_body_bytes as f64),
            ("write_max_decoded_bytes", w.max_decoded_bytes as f64),
            ("write_max_samples_per_second", rate),
            (
                "write_max_labels_per_series",
                w.max_labels_per_series as f64,
            ),
            ("query_max_samples", q.max_samples as f64),
            ("query_max_concurrent", q.max_concurrent as f64),
            ("query_timeout_seconds", q.timeout.as_secs_f64()),
        ] {
            self.limits.with_label_values(&[name]).set(value as i64);
        }
    }

    /// Refreshes engine gauges and renders the registry in the text format.
    pub fn render(&self, head: &Head) -> Result<String, prometheus::Error> {
        let _rendering = self.render_lock.lock();
        let stats = head.stats();
        self.series.set(stats.series as i64);
        self.samples.set(stats.samples as i64);
        self.chunks.set(stats.chunks as i64);
        let slack = stats
            .chunk_reserved_bytes
            .saturating_sub(stats.chunk_encoded_bytes);
        for (kind, bytes) in [
            ("chunks", stats.chunk_encoded_bytes),
            ("chunk_slack", slack),
            ("chunk_meta", stats.chunk_meta_bytes),
            ("series", stats.series_bytes),
            ("index", stats.index_bytes),
            ("strings", stats.interned_bytes),
        ] {
            self.memory.with_label_values(&[kind]).set(bytes as i64);
        }
        let counters = head.counters();
        self.series_created.inc_by(
            counters
                .series_created
                .saturating_sub(self.series_created.get()),
        );
        self.series_removed.inc_by(
            counters
                .series_removed
                .saturating_sub(self.series_removed.get()),
        );
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
