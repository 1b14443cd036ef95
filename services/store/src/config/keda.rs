//! `keda:` — the KEDA external scaler gRPC service.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tachyscale_config::{at_least, FieldError};

use super::tls::{RawTlsConfig, TlsFiles};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawKedaConfig {
    /// gRPC address; `null` disables the service.
    pub listen: Option<SocketAddr>,
    pub tls: Option<RawTlsConfig>,
    /// Open `StreamIsActive` + `StreamMetricSpec` streams, over all clients.
    pub max_streams: usize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` advertised to each client connection.
    pub max_concurrent_requests_per_connection: u32,
    /// Largest request message (a `ScaledObjectRef` with its metadata).
    pub max_request_bytes: usize,
    /// Keys in one `scalerMetadata` map.
    pub max_metadata_keys: usize,
    /// A cached query result is reused while no sample arrived for its metrics, up to
    /// this age.
    #[serde(with = "humantime_serde")]
    pub result_max_age: Duration,
    /// Streams are re-evaluated at least this often, so sliding windows and staleness show.
    #[serde(with = "humantime_serde")]
    pub stream_tick: Duration,
    /// Parsed `scalerMetadata` maps kept, so repeated polls skip parsing.
    pub max_cached_plans: usize,
    /// Client connections; more are closed at once (KEDA pools one per address).
    pub max_connections: usize,
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
}

impl Default for RawKedaConfig {
    fn default() -> Self {
        RawKedaConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9202))),
            tls: None,
            max_streams: 20_000,
            max_concurrent_requests_per_connection: 1024,
            max_request_bytes: 64 << 10,
            max_metadata_keys: 64,
            result_max_age: Duration::from_secs(1),
            stream_tick: Duration::from_secs(1),
            max_cached_plans: 100_000,
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Validated `keda:` settings.
#[derive(Debug, Clone)]
pub struct KedaSettings {
    pub listen: Option<SocketAddr>,
    pub tls: Option<TlsFiles>,
    pub max_streams: usize,
    pub max_concurrent_requests_per_connection: u32,
    pub max_request_bytes: usize,
    pub max_metadata_keys: usize,
    pub result_max_age: Duration,
    pub stream_tick: Duration,
    pub max_cached_plans: usize,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
}

impl TryFrom<RawKedaConfig> for KedaSettings {
    type Error = FieldError;

    fn try_from(raw: RawKedaConfig) -> Result<Self, FieldError> {
        if raw.stream_tick < Duration::from_millis(10) {
            return Err(FieldError::new(
                "keda.stream_tick",
                format!("must be at least 10ms, got {:?}", raw.stream_tick),
            ));
        }
        Ok(KedaSettings {
            listen: raw.listen,
            tls: raw
                .tls
                .map(|t| TlsFiles::validate(t, "keda.tls"))
                .transpose()?,
            max_streams: at_least("keda.max_streams", raw.max_streams, 1)?,
            max_concurrent_requests_per_connection: at_least(
                "keda.max_concurrent_requests_per_connection",
                raw.max_concurrent_requests_per_connection,
                1,
            )?,
            max_request_bytes: at_least("keda.max_request_bytes", raw.max_request_bytes, 1024)?,
            max_metadata_keys: at_least("keda.max_metadata_keys", raw.max_metadata_keys, 1)?,
            result_max_age: raw.result_max_age,
            stream_tick: raw.stream_tick,
            max_cached_plans: at_least("keda.max_cached_plans", raw.max_cached_plans, 1)?,
            max_connections: at_least("keda.max_connections", raw.max_connections, 1)?,
            handshake_timeout: super::positive("keda.handshake_timeout", raw.handshake_timeout)?,
        })
    }
}
