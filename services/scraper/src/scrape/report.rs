//! The per-target synthetic series Prometheus writes after every scrape
//! (2.42 `scrape/scrape.go`, `report` and `reportStale`): `up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling` and
//! `scrape_series_added`, labelled with the target's labels only (metric relabeling does
//! not apply to them), at the scrape's timestamp.

use std::sync::Arc;

use tachyscale_sender::sample::{Series, SeriesSample};
use tachyscale_tsdb::{stale_nan, Labels, METRIC_NAME};

use super::appender::AppendCounts;

pub const UP: &str = "up";
pub const DURATION: &str = "scrape_duration_seconds";
pub const SAMPLES_SCRAPED: &str = "scrape_samples_scraped";
pub const SAMPLES_POST_RELABEL: &str = "scrape_samples_post_metric_relabeling";
pub const SERIES_ADDED: &str = "scrape_series_added";

/// The five report series of one target, built once.
pub struct ReportSeries {
    up: Arc<Series>,
    duration: Arc<Series>,
    scraped: Arc<Series>,
    post_relabel: Arc<Series>,
    added: Arc<Series>,
}

impl ReportSeries {
    pub fn new(target_labels: &Labels, external_labels: &[(String, String)]) -> Self {
        let named = |name: &str| {
            let mut builder = target_labels.builder();
            for (label, value) in external_labels {
                if target_labels.get(label).is_none() {
                    builder.set(label.as_str().into(), value.as_str().into());
                }
            }
            builder.set(METRIC_NAME.into(), name.into());
            Arc::new(Series::new(builder.build()))
        };
        ReportSeries {
            up: named(UP),
            duration: named(DURATION),
            scraped: named(SAMPLES_SCRAPED),
            post_relabel: named(SAMPLES_POST_RELABEL),
            added: named(SERIES_ADDED),
        }
    }

    /// Appends the report of one scrape.
    pub fn report(
        &self,
        ts_ms: i64,
        up: bool,
        duration_seconds: f64,
        counts: &AppendCounts,
        out: &mut Vec<SeriesSample>,
    ) {
        let values = [
            (&self.up, if up { 1.0 } else { 0.0 }),
            (&self.duration, duration_seconds),
            (&self.scraped, counts.scraped as f64),
            (&self.post_relabel, counts.post_relabel as f64),
            (&self.added, counts.series_added as f64),
        ];
        out.extend(values.into_iter().map(|(series, value)| SeriesSample {
            series: series.clone(),
            ts_ms,
            value,
        }));
    }

    /// Appends stale markers for all five, when the target goes away.
    pub fn stale(&self, ts_ms: i64, out: &mut Vec<SeriesSample>) {
        for series in [
            &self.up,
            &self.duration,
            &self.scraped,
            &self.post_relabel,
            &self.added,
        ] {
            out.push(SeriesSample {
                series: series.clone(),
                ts_ms,
                value: stale_nan(),
            });
        }
    }
}
