//! A shard: one task per destination and shard that takes batches from its queue and sends
//! them one at a time, retrying with backoff.
//!
//! Follows Prometheus 2.42 `storage/remote/queue_manager.go` (`shards.runShard`,
//! `sendWriteRequestWithBackoff`): a batch goes out when it holds `max_samples_per_send`
//! samples or when `batch_send_deadline` has passed since its oldest sample arrived; one
//! request per shard is in flight, so a series' samples reach the destination in order; a
//! recoverable failure is retried after `min_backoff`, doubling up to `max_backoff`, or after
//! `Retry-After` when the receiver gave one; a final failure drops the batch.
//!
//! Deviations: with no WAL to replay from, a batch is not retried forever — before every
//! attempt, samples older than `max_sample_age` are removed and counted as dropped
//! (`too_old`), and the batch is given up once empty (Prometheus >= 2.50 does the same with
//! `sample_age_limit`). No jitter is added to the backoff, as in 2.42. The shard count is
//! fixed instead of resharding on throughput. On shutdown the shard stops waiting for
//! deadlines and sends everything buffered until the buffer is empty; the sender bounds that
//! with its flush deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::batch;
use crate::client::{code_class, Disposition, RemoteClient, SendError};
use crate::metrics::DropReason;
use crate::queue::{DestinationQueue, Take};
use crate::sample::SeriesSample;
use crate::Clock;

/// The sending loop of one shard.
pub(crate) struct ShardWorker {
    pub queue: Arc<DestinationQueue>,
    pub index: usize,
    pub client: Arc<RemoteClient>,
    pub clock: Arc<dyn Clock>,
}

impl ShardWorker {
    /// Sends batches until `shutdown` is cancelled and the shard's buffer is empty.
    pub async fn run(self, shutdown: CancellationToken) {
        let shard = self.queue.shard(self.index);
        loop {
            let draining = shutdown.is_cancelled();
            match self.queue.take(self.index, Instant::now(), draining) {
                Take::Batch(batch) => self.send(batch).await,
                Take::Empty if draining => return,
                Take::Empty => {
                    tokio::select! {
                        () = shard.notify.notified() => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Take::WaitUntil(deadline) => {
                    tokio::select! {
                        () = shard.notify.notified() => {}
                        () = tokio::time::sleep_until(deadline) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    /// Sends one batch until it is acknowledged, refused for good, or too old.
    async fn send(&self, mut batch: Vec<SeriesSample>) {
        let queue = &*self.queue;
        let settings = queue.settings;
        let max_age_ms = duration_ms(settings.max_sample_age);
        let mut backoff = settings.min_backoff;
        let mut body: Option<Bytes> = None;
        loop {
            let cutoff_ms = self.clock.now_ms().saturating_sub(max_age_ms);
            let before = batch.len();
            batch.retain(|s| s.ts_ms >= cutoff_ms);
            let too_old = before - batch.len();
            if too_old > 0 {
                queue.drop_samples(DropReason::TooOld, too_old);
                body = None;
                debug!(
                    samples = too_old,
                    cutoff_ms, "dropped samples too old to send"
                );
            }
            if batch.is_empty() {
                return;
            }
            let request_body = body.get_or_insert_with(|| batch::encode(&batch)).clone();
            let started = Instant::now();
            let result = self.client.store(request_body).await;
            queue
                .metrics
                .request_duration
                .observe(started.elapsed().as_secs_f64());
            let err = match result {
                Ok(status) => {
                    queue.metrics.request(code_class(status));
                    self.acknowledged(&batch);
                    return;
                }
                Err(err) => err,
            };
            queue.metrics.request(err.code_class());
            match err.disposition(settings.retry_on_http_429) {
                Disposition::Drop => {
                    warn!(
                        reason = err.reason(),
                        error = &err as &dyn std::error::Error,
                        response = first_line(&err),
                        samples = batch.len(),
                        "remote write refused batch"
                    );
                    queue.metrics.failed(err.reason(), batch.len());
                    queue.release(batch.len());
                    return;
                }
                Disposition::Retry { after } => {
                    let delay = after.unwrap_or(backoff).min(settings.max_sample_age);
                    warn!(
                        reason = err.reason(),
                        error = &err as &dyn std::error::Error,
                        response = first_line(&err),
                        samples = batch.len(),
                        retry_in = ?delay,
                        "remote write failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    queue.metrics.retries.inc();
                    backoff = next_backoff(backoff, settings.max_backoff);
                }
            }
        }
    }

    fn acknowledged(&self, batch: &[SeriesSample]) {
        let queue = &*self.queue;
        let now_ms = self.clock.now_ms();
        let lag = queue.metrics.lag.local();
        for sample in batch {
            lag.observe(now_ms.saturating_sub(sample.ts_ms).max(0) as f64 / 1000.0);
        }
        lag.flush();
        queue.metrics.sent.inc_by(batch.len() as u64);
        if let Some(highest) = batch::highest_timestamp_ms(batch) {
            queue.record_sent_timestamp(highest);
        }
        queue.release(batch.len());
    }
}

/// The next retry delay: doubled, capped at `max`.
pub(crate) fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The response body's first line, when there was a response.
fn first_line(err: &SendError) -> &str {
    match err {
        SendError::Status { first_line, .. } => first_line,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_min_to_max() {
        let max = Duration::from_secs(5);
        let mut delay = Duration::from_millis(30);
        let mut seen = vec![delay];
        for _ in 0..9 {
            delay = next_backoff(delay, max);
            seen.push(delay);
        }
        let ms: Vec<u128> = seen.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000]);
    }
}
