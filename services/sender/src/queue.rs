//! A destination's bounded buffer: per-shard FIFO queues under one sample budget.
//!
//! Shape and why: the scraper must never wait on a destination, so [`DestinationQueue::enqueue`]
//! is synchronous and takes only short, uncontended locks. Samples are split by
//! `series.hash % shards`, as Prometheus 2.42's `queue_manager.go` shards by series ref, so
//! one series always lands on one shard and stays in order. The budget is counted in samples
//! (`queue.capacity`, buffered plus in flight) rather than in channel messages, because a
//! scrape hands over anything from one to thousands of samples at a time.
//!
//! Full-queue policy: samples that do not fit are dropped at once and counted as
//! `tachyscale_sender_samples_dropped_total{reason="queue_full"}`; the newest ones go, the
//! buffered ones keep their place. Prometheus blocks the WAL reader instead, which it can
//! afford because the WAL holds the data; we have no WAL, and blocking would stall scrapes.
//!
//! Each shard's queue is a `Mutex<VecDeque>` plus a [`Notify`] rather than a channel: the
//! shard takes whole batches at once, must know the arrival time of its oldest pending
//! sample for `batch_send_deadline`, and the buffer keeps filling while the shard waits on a
//! slow request. No lock is held across an `.await`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::QueueSettings;
use crate::metrics::{DestinationMetrics, DropReason};
use crate::sample::SeriesSample;

/// Shared state of one destination: written by producers, drained by its shard tasks.
pub(crate) struct DestinationQueue {
    pub name: String,
    pub settings: QueueSettings,
    pub metrics: DestinationMetrics,
    shards: Box<[ShardQueue]>,
    /// Samples buffered or in flight; never above `settings.capacity`.
    pending: AtomicUsize,
    /// Set once the sender has stopped; later samples are dropped as `shutdown`.
    closed: AtomicBool,
    /// Newest acknowledged timestamp, for the monotonic `highest_sent_timestamp` gauge.
    highest_sent_ms: AtomicI64,
}

pub(crate) struct ShardQueue {
    buffer: Mutex<Buffer>,
    /// Woken when the buffer goes from empty to non-empty or reaches a full batch.
    pub notify: Notify,
}

#[derive(Default)]
struct Buffer {
    samples: VecDeque<SeriesSample>,
    /// When the oldest buffered sample arrived; `batch_send_deadline` counts from here.
    oldest: Option<Instant>,
}

/// What a shard finds when it looks for work.
#[derive(Debug)]
pub(crate) enum Take {
    /// A batch to send; its samples stay counted in `pending` until released.
    Batch(Vec<SeriesSample>),
    /// A partial batch is waiting; look again at this instant or when notified.
    WaitUntil(Instant),
    /// Nothing buffered.
    Empty,
}

impl DestinationQueue {
    pub fn new(name: String, settings: QueueSettings, metrics: DestinationMetrics) -> Self {
        let shards = (0..settings.shards)
            .map(|_| ShardQueue {
                buffer: Mutex::new(Buffer::default()),
                notify: Notify::new(),
            })
            .collect();
        DestinationQueue {
            name,
            settings,
            metrics,
            shards,
            pending: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            highest_sent_ms: AtomicI64::new(i64::MIN),
        }
    }

    pub fn shard(&self, index: usize) -> &ShardQueue {
        &self.shards[index]
    }

    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Buffers what fits of `samples` without waiting; drops and counts the rest.
    pub fn enqueue(&self, samples: &[SeriesSample], now: Instant) {
        let shard_count = self.shards.len() as u64;
        let shard_of = |s: &SeriesSample| (s.series.hash % shard_count) as usize;
        let mut per_shard = vec![0usize; self.shards.len()];
        for sample in samples {
            per_shard[shard_of(sample)] += 1;
        }
        for (index, &wanted) in per_shard.iter().enumerate() {
            if wanted == 0 {
                continue;
            }
            let shard = &self.shards[index];
            let mut buffer = lock(&shard.buffer);
            // Checked under the shard lock so `close` cannot miss samples pushed after it.
            if self.closed.load(Ordering::Acquire) {
                drop(buffer);
                self.metrics
                    .dropped(DropReason::Shutdown)
                    .inc_by(wanted as u64);
                continue;
            }
            let granted = self.reserve(wanted);
            let was_empty = buffer.samples.is_empty();
            buffer.samples.extend(
                samples
                    .iter()
                    .filter(|s| shard_of(s) == index)
                    .take(granted)
                    .cloned(),
            );
            if was_empty && granted > 0 {
                buffer.oldest = Some(now);
            }
            let wake = (was_empty && granted > 0)
                || buffer.samples.len() >= self.settings.max_samples_per_send;
            drop(buffer);
            if wake {
                shard.notify.notify_one();
            }
            if granted < wanted {
                self.metrics
                    .dropped(DropReason::QueueFull)
                    .inc_by((wanted - granted) as u64);
            }
        }
    }

    /// Claims up to `wanted` samples of the budget; returns how many were granted.
    fn reserve(&self, wanted: usize) -> usize {
        let capacity = self.settings.capacity;
        let mut granted = 0;
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                granted = wanted.min(capacity.saturating_sub(pending));
                (granted > 0).then_some(pending + granted)
            });
        self.metrics.pending.add(granted as i64);
        granted
    }

    /// Returns `samples` to the budget once they are sent, failed or dropped.
    pub fn release(&self, samples: usize) {
        self.pending.fetch_sub(samples, Ordering::AcqRel);
        self.metrics.pending.sub(samples as i64);
    }

    /// Drops samples that were counted in the budget, recording why.
    pub fn drop_samples(&self, reason: DropReason, samples: usize) {
        if samples > 0 {
            self.metrics.dropped(reason).inc_by(samples as u64);
            self.release(samples);
        }
    }

    /// Takes the next batch of a shard: a full one at once, a partial one when its
    /// deadline has passed, any non-empty one when `draining` for shutdown.
    pub fn take(&self, index: usize, now: Instant, draining: bool) -> Take {
        let max = self.settings.max_samples_per_send;
        let mut buffer = lock(&self.shards[index].buffer);
        let Some(oldest) = buffer.oldest else {
            return Take::Empty;
        };
        let deadline = oldest + self.settings.batch_send_deadline;
        if buffer.samples.len() < max && !draining && now < deadline {
            return Take::WaitUntil(deadline);
        }
        let n = buffer.samples.len().min(max);
        let batch: Vec<SeriesSample> = buffer.samples.drain(..n).collect();
        // What remains arrived after `oldest`, so keeping that instant can only flush it
        // early, never late.
        if buffer.samples.is_empty() {
            buffer.oldest = None;
        }
        Take::Batch(batch)
    }

    /// Records an acknowledged batch's newest timestamp in the monotonic gauge.
    pub fn record_sent_timestamp(&self, ts_ms: i64) {
        let previous = self.highest_sent_ms.fetch_max(ts_ms, Ordering::AcqRel);
        if ts_ms > previous {
            // Re-read so two shards racing here leave the larger value behind.
            let highest = self.highest_sent_ms.load(Ordering::Acquire);
            self.metrics.highest_sent.set(highest as f64 / 1000.0);
        }
    }

    /// Stops accepting samples and drops what is still buffered or in flight (the shard
    /// tasks must be gone). Returns how many samples were dropped.
    pub fn close(&self) -> usize {
        self.closed.store(true, Ordering::Release);
        for shard in self.shards.iter() {
            let mut buffer = lock(&shard.buffer);
            buffer.samples.clear();
            buffer.oldest = None;
        }
        let left = self.pending.swap(0, Ordering::AcqRel);
        if left > 0 {
            self.metrics
                .dropped(DropReason::Shutdown)
                .inc_by(left as u64);
            self.metrics.pending.sub(left as i64);
        }
        left
    }
}

/// Locks a buffer; a panic elsewhere cannot leave a `VecDeque` half-updated in a way that
/// matters here, so a poisoned lock is used as is.
fn lock(buffer: &Mutex<Buffer>) -> MutexGuard<'_, Buffer> {
    buffer.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use tachyscale_tsdb::labels::Labels;

    use crate::metrics::SenderMetrics;
    use crate::sample::Series;

    fn queue(capacity: usize, max: usize, shards: usize) -> (DestinationQueue, SenderMetrics) {
        let metrics = SenderMetrics::new(&prometheus::Registry::new()).unwrap();
        let settings = QueueSettings {
            capacity,
            max_samples_per_send: max,
            batch_send_deadline: Duration::from_millis(50),
            shards,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            max_sample_age: Duration::from_secs(300),
        };
        let dest = metrics.destination("d", capacity);
        (DestinationQueue::new("d".into(), settings, dest), metrics)
    }

    fn samples(series: usize, per_series: usize) -> Vec<SeriesSample> {
        let all: Vec<Arc<Series>> = (0..series)
            .map(|i| {
                Arc::new(Series::new(Labels::from_pairs([
                    ("__name__", "m".to_string()),
                    ("i", i.to_string()),
                ])))
            })
            .collect();
        (0..per_series)
            .flat_map(|t| {
                all.iter().map(move |s| SeriesSample {
                    series: s.clone(),
                    ts_ms: t as i64 * 1000,
                    value: t as f64,
                })
            })
            .collect()
    }

    fn dropped(metrics: &SenderMetrics, reason: &str) -> u64 {
        metrics
            .samples_dropped
            .with_label_values(&["d", reason])
            .get()
    }

    #[test]
    fn overflow_is_dropped_and_counted_without_evicting_buffered_samples() {
        let (q, metrics) = queue(20, 10, 2);
        let now = Instant::now();
        q.enqueue(&samples(5, 10), now);
        assert_eq!(q.pending(), 20);
        assert_eq!(dropped(&metrics, "queue_full"), 30);
        q.enqueue(&samples(5, 1), now);
        assert_eq!(dropped(&metrics, "queue_full"), 35);
        assert_eq!(metrics.pending_samples.with_label_values(&["d"]).get(), 20);
        let Take::Batch(batch) = q.take(0, now, true) else {
            panic!("expected a batch");
        };
        // Buffered samples are the oldest ones, in order.
        assert!(batch.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
        q.release(batch.len());
        assert_eq!(q.pending(), 20 - batch.len());
    }

    #[test]
    fn each_series_stays_on_one_shard() {
        let (q, _) = queue(1000, 1000, 4);
        let now = Instant::now();
        q.enqueue(&samples(50, 3), now);
        let mut seen = std::collections::HashMap::new();
        for index in 0..4 {
            if let Take::Batch(batch) = q.take(index, now, true) {
                for s in batch {
                    assert_eq!(*seen.entry(s.series.hash).or_insert(index), index);
                }
            }
        }
        assert_eq!(seen.len(), 50);
    }

    #[test]
    fn full_batches_go_at_once_and_partial_ones_after_the_deadline() {
        let (q, _) = queue(100, 10, 1);
        let start = Instant::now();
        q.enqueue(&samples(1, 25), start);
        assert!(matches!(q.take(0, start, false), Take::Batch(b) if b.len() == 10));
        assert!(matches!(q.take(0, start, false), Take::Batch(b) if b.len() == 10));
        let Take::WaitUntil(deadline) = q.take(0, start, false) else {
            panic!("expected to wait for the partial batch");
        };
        assert_eq!(deadline, start + Duration::from_millis(50));
        assert!(matches!(q.take(0, deadline, false), Take::Batch(b) if b.len() == 5));
        assert!(matches!(q.take(0, deadline, false), Take::Empty));
    }

    #[test]
    fn closing_drops_the_rest_and_refuses_later_samples() {
        let (q, metrics) = queue(100, 10, 2);
        let now = Instant::now();
        q.enqueue(&samples(3, 4), now);
        assert_eq!(q.close(), 12);
        q.enqueue(&samples(3, 1), now);
        assert_eq!(dropped(&metrics, "shutdown"), 15);
        assert_eq!(q.pending(), 0);
        assert_eq!(metrics.pending_samples.with_label_values(&["d"]).get(), 0);
    }
}
