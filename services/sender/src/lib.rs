//! Remote-write sender: ships the scraper's samples (and later the store's forwarded ones)
//! to one or more remote-write 1.0 endpoints — our store, Prometheus with
//! `--web.enable-remote-write-receiver`, Mimir, VictoriaMetrics.
//!
//! The design follows Prometheus 2.42's `storage/remote/queue_manager.go` and `client.go`:
//! per destination, samples are sharded by series so each series stays in order, batched up
//! to `max_samples_per_send` or `batch_send_deadline`, snappy-compressed and POSTed, and
//! retried with doubling backoff on 5xx, 429 (`retry_on_http_429`, `Retry-After`) and
//! transport errors; other 4xx drop the batch. Deviations, each explained where it lives:
//!
//! - no WAL: samples live in memory only, bounded by `queue.capacity` per destination;
//! - a full buffer drops new samples (counted `queue_full`) instead of blocking the producer,
//!   so a slow destination never slows scrapes or other destinations (`queue.rs`);
//! - retries end when samples are older than `max_sample_age` (counted `too_old`) (`shard.rs`);
//! - fixed shard count instead of dynamic resharding; `batch_send_deadline` of 50 ms instead
//!   of 5 s, for a 1 s pipeline ([`config`]).
//!
//! Wiring:
//!
//! ```no_run
//! # async fn wire(yaml: &str, samples: Vec<tachyscale_sender::SeriesSample>) -> Result<(), Box<dyn std::error::Error>> {
//! use tachyscale_sender::{Sender, SenderMetrics, SenderSettings};
//! use tokio_util::sync::CancellationToken;
//!
//! let registry = prometheus::Registry::new();
//! let settings = SenderSettings::from_yaml(yaml)?;
//! let sender = Sender::new(settings, &SenderMetrics::new(&registry)?)?;
//! let handle = sender.handle(); // clone into every scrape loop
//! let shutdown = CancellationToken::new();
//! let task = tokio::spawn(sender.run(shutdown.clone()));
//! handle.enqueue(&samples); // never blocks
//! shutdown.cancel(); // flushes for at most `flush_deadline`
//! task.await?;
//! # Ok(()) }
//! ```

pub mod batch;
pub mod client;
pub mod config;
pub mod metrics;
mod queue;
pub mod sample;
mod sender;
mod shard;
pub mod wire;

pub use config::{
    Auth, DestinationSettings, Password, QueueSettings, RawBasicAuth, RawDestinationConfig,
    RawQueueConfig, RawSenderConfig, Secret, SenderSettings,
};
pub use metrics::{DropReason, SenderMetrics};
pub use sample::{Series, SeriesSample};
pub use sender::{Sender, SenderHandle};

/// Wall-clock time in milliseconds since the Unix epoch, injected so tests can pin "now".
/// Used for `max_sample_age` and the lag histogram; batch deadlines and backoff use tokio's
/// monotonic clock instead.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

impl<F: Fn() -> i64 + Send + Sync + 'static> Clock for F {
    fn now_ms(&self) -> i64 {
        self()
    }
}

/// Why a [`Sender`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot build the HTTP client of destination {destination}")]
    Client {
        destination: String,
        #[source]
        source: reqwest::Error,
    },
}

impl SenderError {
    /// Bounded reason label.
    pub fn reason(&self) -> &'static str {
        match self {
            SenderError::Client { .. } => "http_client",
        }
    }
}
