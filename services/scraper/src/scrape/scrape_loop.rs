//! A target's loop: wait for the next aligned instant, scrape, hand the samples to the
//! sender, repeat; on stop, mark everything the target wrote stale.
//!
//! Each target runs in its own task, so a slow or dead target only ever delays itself. A
//! shared semaphore bounds how many scrapes run at once; a scrape that cannot get a slot
//! before its timeout is counted as missed rather than queued behind the others (which
//! would make every later scrape late too). When a scrape overruns the next instant, the
//! loop skips to the first instant still ahead and counts the skipped ones: timestamps
//! stay on the schedule, so delta-of-delta stays 0.

use std::future::Future;
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
pub trait ScrapeFailure: std::fmt::Display {
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
    /// Runs until `stop` is cancelled, then writes end-of-target stale markers.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut cache = SeriesCache::default();
        let report = ReportSeries::new(&self.target_labels, &self.options.external_labels);
        let mut next_ms = self.schedule.next_at_or_after(now_ms());
        let mut last_ts_ms = None;
        loop {
            let wait_ms = next_ms - now_ms();
            if wait_ms > 0 {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
                }
            } else if stop.is_cancelled() {
                break;
            }
            let jitter_us = now_micros() - next_ms * 1000;
            self.metrics
                .schedule_jitter
                .observe(jitter_us.max(0) as f64 / 1e6);
            if self.scrape_once(&mut cache, &report, next_ms, &stop).await {
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
        // End of target: everything it wrote ends here, as Prometheus' end-of-run
        // staleness does, at an instant after its last sample.
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
        self.emit(out);
    }

    /// One scrape at the scheduled instant `ts_ms`; returns whether samples were written.
    async fn scrape_once(
        &mut self,
        cache: &mut SeriesCache,
        report: &ReportSeries,
        ts_ms: i64,
        stop: &CancellationToken,
    ) -> bool {
        let permit = tokio::select! {
            _ = stop.cancelled() => return false,
            permit = tokio::time::timeout(self.timeout, self.slots.clone().acquire_owned()) => permit,
        };
        let Ok(Ok(_permit)) = permit else {
            self.metrics
                .missed_scrapes
                .with_label_values(&[&self.job])
                .inc();
            return false;
        };
        self.metrics.scrapes_in_flight.inc();
        let started = Instant::now();
        let fetched = self.source.fetch(self.timeout).await;
        let mut out = Vec::new();
        let mut appender =
            Appender::new(cache, &self.target_labels, &self.options, ts_ms, &mut out);
        let result = match fetched {
            Ok(()) => self.source.append(&mut appender),
            Err(err) => Err(err),
        };
        let counts = match &result {
            Ok(()) => appender.commit(),
            Err(_) => appender.rollback(),
        };
        let duration = started.elapsed().as_secs_f64();
        self.metrics.scrapes_in_flight.dec();
        report.report(ts_ms, result.is_ok(), duration, &counts, &mut out);

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
                tracing::debug!(job, target = %self.target_labels, error = %err, "scrape failed");
                (TargetHealth::Down, err.to_string())
            }
        };
        self.status.set(LastScrape {
            health,
            ts_ms,
            duration_seconds: duration,
            samples: counts.post_relabel,
            error,
        });
        self.emit(out);
        true
    }

    fn emit(&self, out: Vec<SeriesSample>) {
        if out.is_empty() {
            return;
        }
        self.metrics
            .samples_appended
            .with_label_values(&[&self.job])
            .inc_by(out.len() as u64);
        self.sink.send(&out);
    }
}
