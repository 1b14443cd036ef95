//! The store's configuration: raw YAML shape, defaults, and the validated settings.
//!
//! See `config/store.yaml` for the documented example; a test loads it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tachyscale_config::{at_least, FieldError};

pub mod external;
pub mod https;
pub mod keda;
pub mod tls;

pub use external::ExternalMetricsSettings;
pub use https::{HttpsSettings, RequestHeaderSettings};
pub use keda::KedaSettings;
pub use tls::TlsFiles;

/// `store` section of the YAML as written by the operator.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawStoreConfig {
    /// HTTP address for remote-write, the query API, /metrics and health.
    pub listen: SocketAddr,
    /// How long a stopping store waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub tsdb: RawTsdbConfig,
    pub write: RawWriteConfig,
    pub query: RawQueryConfig,
    pub keda: keda::RawKedaConfig,
    /// No HTTPS listener unless set.
    pub https: Option<https::RawHttpsConfig>,
    pub external_metrics: external::RawExternalMetricsConfig,
}

impl Default for RawStoreConfig {
    fn default() -> Self {
        RawStoreConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9201)),
            shutdown_timeout: Duration::from_secs(10),
            tsdb: RawTsdbConfig::default(),
            write: RawWriteConfig::default(),
            query: RawQueryConfig::default(),
            keda: keda::RawKedaConfig::default(),
            https: None,
            external_metrics: external::RawExternalMetricsConfig::default(),
        }
    }
}

/// Engine settings.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTsdbConfig {
    /// Data older than this behind the newest sample is dropped.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Samples per XOR chunk (Prometheus uses 120).
    pub samples_per_chunk: u16,
    /// New series beyond this count are refused (HTTP 429).
    pub max_series: usize,
    /// How often expired chunks and series are dropped.
    #[serde(with = "humantime_serde")]
    pub gc_interval: Duration,
}

impl Default for RawTsdbConfig {
    fn default() -> Self {
        RawTsdbConfig {
            retention: Duration::from_secs(3600),
            samples_per_chunk: 120,
            max_series: 2_000_000,
            gc_interval: Duration::from_secs(10),
        }
    }
}

/// Remote-write receiver limits.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWriteConfig {
    /// Largest compressed request body accepted (HTTP 413 above).
    pub max_body_bytes: usize,
    /// Largest decompressed protobuf accepted (HTTP 413 above).
    pub max_decoded_bytes: usize,
    /// Sustained ingest limit in samples per second; 0 disables it (HTTP 429 above).
    pub max_samples_per_second: u64,
    /// Burst allowance of the ingest limit, in samples; defaults to one second's worth.
    pub burst_samples: u64,
    /// Labels per series, including `__name__`.
    pub max_labels_per_series: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
    /// Samples further than this ahead of the store's clock are refused: retention counts
    /// back from the newest sample, so one far-future timestamp would expire everything.
    #[serde(with = "humantime_serde")]
    pub max_future: Duration,
}

impl Default for RawWriteConfig {
    fn default() -> Self {
        RawWriteConfig {
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_samples_per_second: 0,
            burst_samples: 0,
            max_labels_per_series: 64,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 4096,
            max_future: Duration::from_secs(600),
        }
    }
}

/// Query engine limits.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawQueryConfig {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    #[serde(with = "humantime_serde")]
    pub lookback_delta: Duration,
    /// Longest a query may run before the client gets HTTP 503.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Samples one query may load (Prometheus `--query.max-samples`).
    pub max_samples: usize,
    /// Queries evaluated at once; more wait for a slot until their timeout.
    pub max_concurrent: usize,
    /// Steps of one range query per series (Prometheus: 11,000).
    pub max_points_per_series: usize,
}

impl Default for RawQueryConfig {
    fn default() -> Self {
        RawQueryConfig {
            lookback_delta: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrent: 20,
            max_points_per_series: 11_000,
        }
    }
}

/// Validated store settings.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub listen: SocketAddr,
    pub shutdown_timeout: Duration,
    pub retention: Duration,
    pub samples_per_chunk: u16,
    pub max_series: usize,
    pub gc_interval: Duration,
    pub write: WriteLimits,
    pub query: QueryLimits,
    pub keda: KedaSettings,
    pub https: Option<HttpsSettings>,
    pub external_metrics: ExternalMetricsSettings,
}

/// Remote-write limits in force.
#[derive(Debug, Clone)]
pub struct WriteLimits {
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    /// `None` when unlimited.
    pub rate: Option<RateLimit>,
    pub max_labels_per_series: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
    pub max_future_ms: i64,
}

/// A sustained ingest rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub samples_per_second: f64,
    pub burst_samples: f64,
}

/// Query limits in force.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    pub lookback_delta: Duration,
    pub timeout: Duration,
    pub max_samples: usize,
    pub max_concurrent: usize,
    pub max_points_per_series: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings::try_from(RawStoreConfig::default())
            .expect("the default store config is valid")
    }
}

pub(crate) fn positive(field: &str, value: Duration) -> Result<Duration, FieldError> {
    if value.is_zero() {
        return Err(FieldError::new(field, "must be greater than zero"));
    }
    Ok(value)
}

impl TryFrom<RawStoreConfig> for StoreSettings {
    type Error = FieldError;

    fn try_from(raw: RawStoreConfig) -> Result<Self, FieldError> {
        let w = raw.write;
        let rate = (w.max_samples_per_second > 0).then_some(RateLimit {
            samples_per_second: w.max_samples_per_second as f64,
            burst_samples: if w.burst_samples > 0 {
                w.burst_samples
            } else {
                w.max_samples_per_second
            } as f64,
        });
        if w.max_decoded_bytes < w.max_body_bytes {
            return Err(FieldError::new(
                "write.max_decoded_bytes",
                format!(
                    "must be at least write.max_body_bytes ({}), got {}",
                    w.max_body_bytes, w.max_decoded_bytes
                ),
            ));
        }
        let external_metrics = ExternalMetricsSettings::try_from(raw.external_metrics)?;
        if external_metrics.insecure_http_on_loopback && !raw.listen.ip().is_loopback() {
            return Err(FieldError::new(
                "external_metrics.insecure_http_on_loopback",
                format!(
                    "serves the external metrics API without authentication, so it is only \
                     allowed when listen is a loopback address, not {}",
                    raw.listen
                ),
            ));
        }
        Ok(StoreSettings {
            keda: KedaSettings::try_from(raw.keda)?,
            https: raw.https.map(HttpsSettings::try_from).transpose()?,
            external_metrics,
            listen: raw.listen,
            shutdown_timeout: raw.shutdown_timeout,
            retention: positive("tsdb.retention", raw.tsdb.retention)?,
            samples_per_chunk: at_least("tsdb.samples_per_chunk", raw.tsdb.samples_per_chunk, 2)?,
            max_series: at_least("tsdb.max_series", raw.tsdb.max_series, 1)?,
            gc_interval: positive("tsdb.gc_interval", raw.tsdb.gc_interval)?,
            write: WriteLimits {
                max_body_bytes: at_least("write.max_body_bytes", w.max_body_bytes, 1024)?,
                max_decoded_bytes: w.max_decoded_bytes,
                rate,
                max_labels_per_series: at_least(
                    "write.max_labels_per_series",
                    w.max_labels_per_series,
                    1,
                )?,
                max_label_name_bytes: at_least(
                    "write.max_label_name_bytes",
                    w.max_label_name_bytes,
                    1,
                )?,
                max_label_value_bytes: at_least(
                    "write.max_label_value_bytes",
                    w.max_label_value_bytes,
                    1,
                )?,
                max_future_ms: w.max_future.as_millis().min(i64::MAX as u128) as i64,
            },
            query: QueryLimits {
                lookback_delta: positive("query.lookback_delta", raw.query.lookback_delta)?,
                timeout: positive("query.timeout", raw.query.timeout)?,
                max_samples: at_least("query.max_samples", raw.query.max_samples, 1)?,
                max_concurrent: at_least("query.max_concurrent", raw.query.max_concurrent, 1)?,
                max_points_per_series: at_least(
                    "query.max_points_per_series",
                    raw.query.max_points_per_series,
                    1,
                )?,
            },
        })
    }
}

impl StoreSettings {
    /// Parses and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        tachyscale_config::parse::<RawStoreConfig, StoreSettings>(text)
    }

    /// Reads and validates a YAML file.
    pub fn load(path: &std::path::Path) -> Result<Self, tachyscale_config::ConfigError> {
        tachyscale_config::load::<RawStoreConfig, StoreSettings>(path)
    }

    pub fn head_options(&self) -> tachyscale_tsdb::HeadOptions {
        tachyscale_tsdb::HeadOptions {
            retention_ms: self.retention.as_millis().min(i64::MAX as u128) as i64,
            samples_per_chunk: self.samples_per_chunk,
            max_series: self.max_series,
        }
    }

    pub fn engine_options(&self) -> tachyscale_promql::EngineOptions {
        tachyscale_promql::EngineOptions {
            lookback_delta_ms: self.query.lookback_delta.as_millis().min(i64::MAX as u128) as i64,
            max_samples: self.query.max_samples,
            max_points_per_series: self.query.max_points_per_series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_in_repo_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/store.yaml");
        let settings = StoreSettings::load(std::path::Path::new(path)).unwrap();
        assert_eq!(settings.retention, Duration::from_secs(3600));
    }

    #[test]
    fn bad_duration_names_the_field() {
        let err = StoreSettings::from_yaml("tsdb:\n  retention: soon\n").unwrap_err();
        assert_eq!(err.field, "tsdb.retention");
    }

    #[test]
    fn zero_chunk_size_is_refused() {
        let err = StoreSettings::from_yaml("tsdb: {samples_per_chunk: 1}").unwrap_err();
        assert_eq!(err.field, "tsdb.samples_per_chunk");
    }

    #[test]
    fn rate_limit_burst_defaults_to_one_second() {
        let s = StoreSettings::from_yaml("write: {max_samples_per_second: 500}").unwrap();
        assert_eq!(
            s.write.rate,
            Some(RateLimit {
                samples_per_second: 500.0,
                burst_samples: 500.0
            })
        );
    }

    #[test]
    fn scaling_sections_name_their_fields() {
        let e = StoreSettings::from_yaml("keda: {stream_tick: 1ms}").unwrap_err();
        assert_eq!(e.field, "keda.stream_tick");
        let e = StoreSettings::from_yaml("keda: {max_streams: 0}").unwrap_err();
        assert_eq!(e.field, "keda.max_streams");
        let e = StoreSettings::from_yaml(
            "https: {listen: '127.0.0.1:6443', cert_file: a, key_file: b}",
        )
        .unwrap_err();
        assert_eq!(e.field, "https");
        let e = StoreSettings::from_yaml(
            "https: {listen: '127.0.0.1:6443', cert_file: a, key_file: b, requestheader: {client_ca_file: c, username_headers: ['bad header']}}",
        )
        .unwrap_err();
        assert_eq!(e.field, "https.requestheader.username_headers[0]");
        let e = StoreSettings::from_yaml("external_metrics: {rules: [{name: x, query: 'sum('}]}")
            .unwrap_err();
        assert_eq!(e.field, "external_metrics.rules[0].query");
        let e = StoreSettings::from_yaml("external_metrics: {namespace_label: 'a-b'}").unwrap_err();
        assert_eq!(e.field, "external_metrics.namespace_label");
    }

    #[test]
    fn unauthenticated_external_metrics_need_a_loopback_listener() {
        let e = StoreSettings::from_yaml(
            "listen: '0.0.0.0:9201'\nexternal_metrics: {insecure_http_on_loopback: true}",
        )
        .unwrap_err();
        assert_eq!(e.field, "external_metrics.insecure_http_on_loopback");
        assert!(StoreSettings::from_yaml(
            "listen: '127.0.0.1:9201'\nexternal_metrics: {insecure_http_on_loopback: true}"
        )
        .is_ok());
    }
}
