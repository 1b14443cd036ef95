//! The sender's instruments, registered on an injected registry.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tachyscale_sender_samples_sent_total` | counter | `destination` | samples the destination acknowledged (2xx) |
//! | `tachyscale_sender_samples_failed_total` | counter | `destination`, `reason` | samples the destination refused for good (`http_4xx`, `http_429` when not retried, `http_other`) |
//! | `tachyscale_sender_samples_dropped_total` | counter | `destination`, `reason` | samples given up locally (`queue_full`, `too_old`, `shutdown`) |
//! | `tachyscale_sender_retries_total` | counter | `destination` | requests repeated after a recoverable failure |
//! | `tachyscale_sender_requests_total` | counter | `destination`, `code` | request outcomes: `2xx`, `3xx`, `4xx`, `5xx`, `error` (no response) |
//! | `tachyscale_sender_pending_samples` | gauge | `destination` | samples buffered or in flight |
//! | `tachyscale_sender_queue_capacity_samples` | gauge | `destination` | configured `queue.capacity`, to alert on headroom |
//! | `tachyscale_sender_highest_sent_timestamp_seconds` | gauge | `destination` | newest sample timestamp acknowledged |
//! | `tachyscale_sender_lag_seconds` | histogram | `destination` | acknowledgement time minus sample timestamp, per sample |
//! | `tachyscale_sender_request_duration_seconds` | histogram | `destination` | one HTTP attempt, response or error |
//!
//! Every label comes from a bounded set: `destination` is a validated config name, `reason`
//! and `code` are fixed strings. Each destination resolves its label children once
//! (`DestinationMetrics`) so the hot path never hashes label values.

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Why samples were dropped before reaching the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The destination's buffer was full when the samples were enqueued.
    QueueFull,
    /// Older than `queue.max_sample_age` when about to be sent or retried.
    TooOld,
    /// Still buffered when the flush deadline passed, or enqueued after the sender stopped.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::QueueFull,
        DropReason::TooOld,
        DropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooOld => "too_old",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Failure reasons pre-created at zero so dashboards see the series before the first failure.
const FAIL_REASONS: [&str; 3] = ["http_4xx", "http_429", "http_other"];

/// Status classes of `requests_total`.
const CODES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "error"];

/// Buckets for a 1 s pipeline: 5 ms to 10 s, plus a minute for retries through an outage.
const LAG_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

const REQUEST_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Instruments of the sender, shared by all destinations.
#[derive(Clone)]
pub struct SenderMetrics {
    pub samples_sent: IntCounterVec,
    pub samples_failed: IntCounterVec,
    pub samples_dropped: IntCounterVec,
    pub retries: IntCounterVec,
    pub requests: IntCounterVec,
    pub pending_samples: IntGaugeVec,
    pub queue_capacity: IntGaugeVec,
    pub highest_sent_timestamp: GaugeVec,
    pub lag: HistogramVec,
    pub request_duration: HistogramVec,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    register(r, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
) -> Result<HistogramVec, prometheus::Error> {
    register(
        r,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            &["destination"],
        )?,
    )
}

impl SenderMetrics {
    /// Creates the instruments and registers them on `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let r = registry;
        Ok(SenderMetrics {
            samples_sent: counter(
                r,
                "tachyscale_sender_samples_sent_total",
                "Samples acknowledged by the destination.",
                &["destination"],
            )?,
            samples_failed: counter(
                r,
                "tachyscale_sender_samples_failed_total",
                "Samples refused by the destination without retry, by reason.",
                &["destination", "reason"],
            )?,
            samples_dropped: counter(
                r,
                "tachyscale_sender_samples_dropped_total",
                "Samples dropped before reaching the destination, by reason.",
                &["destination", "reason"],
            )?,
            retries: counter(
                r,
                "tachyscale_sender_retries_total",
                "Requests repeated after a recoverable failure.",
                &["destination"],
            )?,
            requests: counter(
                r,
                "tachyscale_sender_requests_total",
                "Remote-write requests by status class (error: no response).",
                &["destination", "code"],
            )?,
            pending_samples: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tachyscale_sender_pending_samples",
                        "Samples buffered or in flight.",
                    ),
                    &["destination"],
                )?,
            )?,
            queue_capacity: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tachyscale_sender_queue_capacity_samples",
                        "Configured buffer capacity in samples.",
                    ),
                    &["destination"],
                )?,
            )?,
            highest_sent_timestamp: register(
                r,
                GaugeVec::new(
                    Opts::new(
                        "tachyscale_sender_highest_sent_timestamp_seconds",
                        "Newest sample timestamp acknowledged by the destination.",
                    ),
                    &["destination"],
                )?,
            )?,
            lag: histogram(
                r,
                "tachyscale_sender_lag_seconds",
                "Acknowledgement time minus sample timestamp.",
                &LAG_BUCKETS,
            )?,
            request_duration: histogram(
                r,
                "tachyscale_sender_request_duration_seconds",
                "Duration of one remote-write HTTP attempt.",
                &REQUEST_BUCKETS,
            )?,
        })
    }

    /// Resolves the label children of one destination and initialises its series.
    pub(crate) fn destination(&self, name: &str, capacity: usize) -> DestinationMetrics {
        let capacity_gauge = self.queue_capacity.with_label_values(&[name]);
        capacity_gauge.set(i64::try_from(capacity).unwrap_or(i64::MAX));
        for reason in FAIL_REASONS {
            self.samples_failed.with_label_values(&[name, reason]);
        }
        let requests = CODES.map(|code| self.requests.with_label_values(&[name, code]));
        DestinationMetrics {
            sent: self.samples_sent.with_label_values(&[name]),
            failed: self.samples_failed.clone(),
            dropped: DropReason::ALL.map(|reason| {
                self.samples_dropped
                    .with_label_values(&[name, reason.as_str()])
            }),
            retries: self.retries.with_label_values(&[name]),
            requests,
            pending: self.pending_samples.with_label_values(&[name]),
            highest_sent: self.highest_sent_timestamp.with_label_values(&[name]),
            lag: self.lag.with_label_values(&[name]),
            request_duration: self.request_duration.with_label_values(&[name]),
            name: name.to_string(),
        }
    }
}

/// One destination's label children.
#[derive(Clone)]
pub(crate) struct DestinationMetrics {
    name: String,
    pub sent: IntCounter,
    failed: IntCounterVec,
    dropped: [IntCounter; 3],
    pub retries: IntCounter,
    requests: [IntCounter; 5],
    pub pending: IntGauge,
    pub highest_sent: Gauge,
    pub lag: Histogram,
    pub request_duration: Histogram,
}

impl DestinationMetrics {
    pub fn dropped(&self, reason: DropReason) -> &IntCounter {
        let index = match reason {
            DropReason::QueueFull => 0,
            DropReason::TooOld => 1,
            DropReason::Shutdown => 2,
        };
        &self.dropped[index]
    }

    /// Counts samples refused for good; `reason` is one of a send error's bounded reasons.
    pub fn failed(&self, reason: &'static str, samples: usize) {
        self.failed
            .with_label_values(&[self.name.as_str(), reason])
            .inc_by(samples as u64);
    }

    /// Counts one request outcome by status class (`code_class` of the client module).
    pub fn request(&self, code: &'static str) {
        let index = CODES
            .iter()
            .position(|c| *c == code)
            .unwrap_or(CODES.len() - 1);
        self.requests[index].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_series_exist_before_the_first_event() {
        let registry = Registry::new();
        let metrics = SenderMetrics::new(&registry).unwrap();
        let dest = metrics.destination("store", 1000);
        dest.request("5xx");
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| format!("{}:{}", f.name(), f.get_metric().len()))
            .collect();
        assert!(
            names.contains(&"tachyscale_sender_samples_dropped_total:3".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"tachyscale_sender_samples_failed_total:3".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"tachyscale_sender_requests_total:5".to_string()),
            "{names:?}"
        );
        assert_eq!(
            metrics.queue_capacity.with_label_values(&["store"]).get(),
            1000
        );
        assert_eq!(
            metrics.requests.with_label_values(&["store", "5xx"]).get(),
            1
        );
    }

    #[test]
    fn registering_twice_on_one_registry_fails() {
        let registry = Registry::new();
        SenderMetrics::new(&registry).unwrap();
        assert!(SenderMetrics::new(&registry).is_err());
    }
}
