//! The [`Sender`]: one per process, owning a queue, an HTTP client and the shard tasks of
//! every destination; and the [`SenderHandle`] producers use to hand samples over.
//!
//! The handle and the running sender share only the destination queues, so producers never
//! touch an HTTP client or wait for a task. Destinations are independent: each has its own
//! budget, shards and connection pool, so a slow or dead destination drops its own samples
//! (`queue_full`) while the others keep receiving everything.
//!
//! Shutdown follows Prometheus 2.42 (`QueueManager.Stop` with `--storage.remote.flush-deadline`):
//! when `shutdown` is cancelled, shards send what is buffered without waiting for batch
//! deadlines; after `flush_deadline` the remaining requests are abandoned and every sample
//! still buffered or in flight is counted as dropped (`shutdown`), as are samples enqueued
//! after the sender stopped.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

use crate::client::RemoteClient;
use crate::config::SenderSettings;
use crate::metrics::SenderMetrics;
use crate::queue::DestinationQueue;
use crate::sample::SeriesSample;
use crate::shard::ShardWorker;
use crate::{Clock, SenderError, SystemClock};

/// Ships samples to every configured remote-write destination.
pub struct Sender {
    destinations: Vec<Destination>,
    handle: SenderHandle,
    clock: Arc<dyn Clock>,
    flush_deadline: Duration,
}

struct Destination {
    queue: Arc<DestinationQueue>,
    client: Arc<RemoteClient>,
}

/// The producer side of a [`Sender`]: cheap to clone, never blocks.
#[derive(Clone)]
pub struct SenderHandle {
    queues: Arc<[Arc<DestinationQueue>]>,
}

impl Sender {
    /// Builds the queues and HTTP clients; nothing is sent until [`Sender::run`].
    pub fn new(settings: SenderSettings, metrics: &SenderMetrics) -> Result<Sender, SenderError> {
        Self::with_clock(settings, metrics, Arc::new(SystemClock))
    }

    /// Like [`Sender::new`] with the wall clock used for `max_sample_age` and the lag
    /// histogram injected (tests pin it).
    pub fn with_clock(
        settings: SenderSettings,
        metrics: &SenderMetrics,
        clock: Arc<dyn Clock>,
    ) -> Result<Sender, SenderError> {
        let mut destinations = Vec::with_capacity(settings.destinations.len());
        for dest in &settings.destinations {
            let client = RemoteClient::new(dest).map_err(|source| SenderError::Client {
                destination: dest.name.clone(),
                source,
            })?;
            let queue = DestinationQueue::new(
                dest.name.clone(),
                dest.queue,
                metrics.destination(&dest.name, dest.queue.capacity),
            );
            destinations.push(Destination {
                queue: Arc::new(queue),
                client: Arc::new(client),
            });
        }
        let handle = SenderHandle {
            queues: destinations.iter().map(|d| d.queue.clone()).collect(),
        };
        Ok(Sender {
            destinations,
            handle,
            clock,
            flush_deadline: settings.flush_deadline,
        })
    }

    /// A handle for producers; it stays valid after the sender stops (samples are then
    /// dropped and counted).
    pub fn handle(&self) -> SenderHandle {
        self.handle.clone()
    }

    /// Same as [`SenderHandle::enqueue`].
    pub fn enqueue(&self, samples: &[SeriesSample]) {
        self.handle.enqueue(samples);
    }

    /// Runs the shard tasks until `shutdown` is cancelled, then flushes for at most
    /// `flush_deadline` and drops (and counts) what is left.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        for dest in &self.destinations {
            for index in 0..dest.queue.settings.shards {
                let worker = ShardWorker {
                    queue: dest.queue.clone(),
                    index,
                    client: dest.client.clone(),
                    clock: self.clock.clone(),
                };
                let span =
                    info_span!("sender_shard", destination = %dest.queue.name, shard = index);
                tasks.spawn(worker.run(shutdown.clone()).instrument(span));
            }
        }
        info!(destinations = self.destinations.len(), "sender started");

        // Shards only return once draining; an earlier exit is a panic, reported here.
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(joined) = tasks.join_next() => report(joined),
            }
        }

        let started = Instant::now();
        let flushed = tokio::time::timeout(self.flush_deadline, async {
            while let Some(joined) = tasks.join_next().await {
                report(joined);
            }
        })
        .await
        .is_ok();
        tasks.shutdown().await;

        let mut dropped = 0;
        for dest in &self.destinations {
            dropped += dest.queue.close();
        }
        if flushed {
            info!(elapsed = ?started.elapsed(), dropped, "sender stopped");
        } else {
            warn!(
                flush_deadline = ?self.flush_deadline,
                dropped,
                "sender flush deadline passed, pending samples dropped"
            );
        }
    }
}

fn report(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        if err.is_panic() {
            error!(error = %err, "sender shard panicked");
        }
    }
}

impl SenderHandle {
    /// Hands samples to every destination without waiting. Each destination buffers what
    /// fits in its `queue.capacity` and drops the rest, counting it as `queue_full`.
    pub fn enqueue(&self, samples: &[SeriesSample]) {
        if samples.is_empty() {
            return;
        }
        let now = Instant::now();
        for queue in self.queues.iter() {
            queue.enqueue(samples, now);
        }
    }

    /// Samples buffered or in flight for `destination`, if it exists.
    pub fn pending(&self, destination: &str) -> Option<usize> {
        self.queues
            .iter()
            .find(|q| q.name == destination)
            .map(|q| q.pending())
    }
}
