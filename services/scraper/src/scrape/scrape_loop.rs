//! A target's loop: wait for the next aligned instant, scrape, hand the samples to the
//! sender, repeat; on stop, mark everything the target wrote stale.
//!
//! Each target runs in its own task, so a slow or dead target only ever delays itself. The
//! fetch (network wait) is not limited; a shared semaphore bounds how many parses and
//! appends (the CPU part) run at once, so a thousand unreachable targets cannot starve the
//! healthy ones of slots. A scrape that cannot get a slot within what is left of its
//! timeout fails (`concurrency_limit`). When a scrape overruns the next instant, the loop
//! skips to the first instant still ahead and counts the skipped ones: timestamps stay on
//! the schedule, so delta-of-delta stays 0.
//!
//! When a loop stops, it writes stale markers for everything it wrote only if the manager
//! says the target is gone from discovery (`stale_on_stop`). A member shutting down, or
//! handing the target to another fleet member, writes none, as Prometheus writes none at
//! shutdown: the series continue from the next owner (or after the restart) without an
//! explicit gap.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tachyscale_sender::sample::SeriesSample;
use tachyscale_tsdb::Labels;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::appender::{AppendError, Appender, SampleOptions};
use super::cache::SeriesCache;
use super::report::ReportSeries;
use super::status::{LastScrape, TargetHealth, TargetStatus};
use crate::metrics::ScraperMetrics;
use crate::schedule::Schedule;
use crate::SampleSink;

/// Why a scrape failed, with a bounded reason for metrics.
pub trait ScrapeFailure: std::error::Error {
    fn reason(&self) -> &'static str;
}

impl ScrapeFailure for AppendError {
    fn reason(&self) -> &'static str {
        AppendError::reason(self)
    }
}

/// Where a target's samples come from: an HTTP exposition or the node's cgroups.
pub trait TargetSource: Send + 'static {
    type Error: ScrapeFailure + From<AppendError> + Send;

    /// Gets the raw data (I/O), within `timeout`.
    fn fetch(&mut self, timeout: Duration) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Appends what the last fetch got (no I/O).
    fn append(&mut self, appender: &mut Appender<'_>) -> Result<(), Self::Error>;

    /// Bytes and format of the last fetch, for metrics (`None` when not an exposition).
    fn body_stats(&self) -> Option<(usize, &'static str)> {
        None
    }
}

/// A scrape's samples (`out`) and what goes ahead of them (`priority`: report series and
/// stale markers).
#[derive(Default)]
struct ScrapeBuffers {
    out: Vec<SeriesSample>,
    priority: Vec<SeriesSample>,
}

/// Everything one target's loop owns.
pub struct ScrapeLoop<S: TargetSource> {
    pub job: Arc<str>,
    pub target_labels: Labels,
    pub schedule: Schedule,
    pub timeout: Duration,
    pub options: Arc<SampleOptions>,
    pub source: S,
    pub sink: Arc<dyn SampleSink>,
    pub metrics: ScraperMetrics,
    pub slots: Arc<Semaphore>,
    pub status: Arc<TargetStatus>,
    /// Set by the manager before it stops a loop whose target left discovery.
    pub stale_on_stop: Arc<AtomicBool>,
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl<S: TargetSource> ScrapeLoop<S> {
    /// Runs until `stop` is cancelled; then, if `stale_on_stop` is set, marks everything the
    /// target wrote stale.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut cache = SeriesCache::default();
        let report = ReportSeries::new(&self.target_labels, &self.options.external_labels);
        let mut next_ms = self.schedule.next_at_or_after(now_ms());
        let mut last_ts_ms = None;
        // Reused by every scrape: steady scrapes allocate no sample buffers.
        let mut buffers = ScrapeBuffers::default();
        loop {
            // Microsecond arithmetic: a millisecond wait computed from a truncated clock
            // would wake up to 1 ms late on top of the timer's own rounding.
            let wait_us = next_ms * 1000 - now_micros();
            if wait_us > 0 {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_micros(wait_us as u64)) => {}
                }
            } else if stop.is_cancelled() {
                break;
            }
            let jitter_us = now_micros() - next_ms * 1000;
            self.metrics
                .schedule_jitter
                .observe(jitter_us.max(0) as f64 / 1e6);
            if self
                .scrape_once(&mut cache, &report, &mut buffers, next_ms, &stop)
                .await
            {
                last_ts_ms = Some(next_ms);
            }
            let following = self.schedule.next_at_or_after(now_ms().max(next_ms + 1));
            let missed = self.schedule.missed_between(next_ms, following);
            if missed > 0 {
                self.metrics
                    .missed_scrapes
                    .with_label_values(&[&self.job])
                    .inc_by(missed);
            }
            next_ms = following;
        }
        if !self.stale_on_stop.load(Ordering::Acquire) {
            return;
        }
        // The target left discovery: everything it wrote ends here, at an instant after
        // its last sample (Prometheus' end-of-run staleness waits for the next scheduled
        // instant instead; writing now lets the markers reach the sender before it stops).
        let ts_ms = now_ms().max(last_ts_ms.map_or(0, |t| t + 1));
        let mut out = Vec::new();
        cache.fail(ts_ms, &mut out);
        if last_ts_ms.is_some() {
            report.stale(ts_ms, &mut out);
        }
        self.metrics
            .stale_markers
            .with_label_values(&[&self.job])
            .inc_by(out.len() as u64);
        self.emit(&out);
    }

    /// One scrape at the scheduled instant `ts_ms`; returns whether samples were written.
    async fn scrape_once(
        &mut self,
        cache: &mut SeriesCache,
        report: &ReportSeries,
        buffers: &mut ScrapeBuffers,
        ts_ms: i64,
        stop: &CancellationToken,
    ) -> bool {
        let started = Instant::now();
        let fetched = tokio::select! {
            _ = stop.cancelled() => return false,
            fetched = self.source.fetch(self.timeout) => fetched,
        };
        // Only the CPU part holds a slot, for at most what is left of the timeout.
        let permit = match &fetched {
            Ok(()) => {
                let budget = self.timeout.saturating_sub(started.elapsed());
                tokio::time::timeout(budget, self.slots.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        self.metrics.scrapes_in_flight.inc();
        // Empty here: each scrape clears them once sent.
        let ScrapeBuffers { out, priority } = buffers;
        let mut appender = Appender::new(cache, &self.target_labels, &self.options, ts_ms, out);
        let result = match (fetched, &permit) {
            (Ok(()), Some(_)) => self
                .source
                .append(&mut appender)
                .and_then(|()| appender.check().map_err(S::Error::from)),
            (Ok(()), None) => Err(S::Error::from(AppendError::NoSlot)),
            (Err(err), _) => Err(err),
        };
        let counts = match &result {
            Ok(()) => appender.commit(priority),
            Err(_) => appender.rollback(priority),
        };
        drop(permit);
        let duration = started.elapsed().as_secs_f64();
        self.metrics.scrapes_in_flight.dec();
        // Report series and stale markers go first: a full sender queue drops the newest
        // samples, and these are what alerts read.
        report.report(ts_ms, result.is_ok(), duration, &counts, priority);

        let job = &*self.job;
        self.metrics
            .scrape_duration
            .with_label_values(&[job])
            .observe(duration);
        self.metrics
            .samples_scraped
            .with_label_values(&[job])
            .inc_by(counts.scraped as u64);
        self.metrics
            .stale_markers
            .with_label_values(&[job])
            .inc_by(counts.stale_markers as u64);
        if let Some((bytes, format)) = self.source.body_stats() {
            self.metrics
                .body_bytes
                .with_label_values(&[job, format])
                .inc_by(bytes as u64);
        }
        let (health, error) = match &result {
            Ok(()) => {
                self.metrics
                    .scrapes
                    .with_label_values(&[job, "success"])
                    .inc();
                (TargetHealth::Up, String::new())
            }
            Err(err) => {
                self.metrics
                    .scrapes
                    .with_label_values(&[job, "failure"])
                    .inc();
                self.metrics
                    .scrape_errors
                    .with_label_values(&[job, err.reason()])
                    .inc();
                let message = crate::discovery::kubernetes::error_chain(err);
                tracing::debug!(job, target = %self.target_labels, error = %message, "scrape failed");
                (TargetHealth::Down, message)
            }
        };
        self.status.set(LastScrape {
            health,
            ts_ms,
            duration_seconds: duration,
            samples: counts.post_relabel,
            error,
        });
        self.emit(priority);
        self.emit(out);
        // Drop the series references now rather than at the next scrape.
        out.clear();
        priority.clear();
        true
    }

    fn emit(&self, out: &[SeriesSample]) {
        if out.is_empty() {
            return;
        }
        self.metrics
            .samples_appended
            .with_label_values(&[&self.job])
            .inc_by(out.len() as u64);
        self.sink.send(out);
    }
}
