//! Turns one scrape's samples into final series samples: target labels, metric
//! relabeling, limits, duplicates and staleness, as Prometheus 2.42's `scrapeLoop.append`.
//!
//! Everything here is synchronous and allocation-free for series already in the cache; the
//! label work (`mutate_sample_labels`) runs only for series seen for the first time. A
//! limit violation fails the whole scrape, as in Prometheus: the caller discards the
//! samples gathered so far and reports the target down.

use std::borrow::Cow;
use std::sync::Arc;

use tachyscale_relabel::RelabelConfig;
use tachyscale_sender::sample::{Series, SeriesSample};
use tachyscale_tsdb::{Labels, METRIC_NAME};

use super::cache::{Lookup, SeriesCache};

/// Per-job options of sample handling.
#[derive(Debug, Clone, Default)]
pub struct SampleOptions {
    /// Scraped labels win over target labels (else they are renamed `exported_<name>`).
    pub honor_labels: bool,
    /// Use timestamps the target exposes (else every sample gets the scrape instant).
    pub honor_timestamps: bool,
    pub metric_relabel_configs: Arc<Vec<RelabelConfig>>,
    /// Samples per scrape after relabeling; 0 = unlimited.
    pub sample_limit: usize,
    /// Labels per series; 0 = unlimited.
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    /// Added to every series that lacks them, after relabeling (Prometheus applies
    /// `external_labels` the same way when it remote-writes).
    pub external_labels: Arc<Vec<(String, String)>>,
}

/// Why a scrape's samples were refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("sample limit of {limit} exceeded")]
    SampleLimit { limit: usize },
    #[error("series {series} has {count} labels, more than the limit of {limit}")]
    LabelLimit {
        series: String,
        count: usize,
        limit: usize,
    },
    #[error("series {series} has a label name longer than {limit} bytes")]
    LabelNameLength { series: String, limit: usize },
    #[error("series {series} has a label value longer than {limit} bytes")]
    LabelValueLength { series: String, limit: usize },
    #[error("series {series} has no metric name after relabeling")]
    NoMetricName { series: String },
    #[error("series {series} has an invalid metric or label name after relabeling")]
    InvalidLabels { series: String },
    #[error("no parse slot was free within the scrape timeout (max_concurrent_scrapes)")]
    NoSlot,
}

impl AppendError {
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::SampleLimit { .. } => "sample_limit",
            AppendError::LabelLimit { .. } => "label_limit",
            AppendError::LabelNameLength { .. } => "label_name_length_limit",
            AppendError::LabelValueLength { .. } => "label_value_length_limit",
            AppendError::NoMetricName { .. } => "no_metric_name",
            AppendError::InvalidLabels { .. } => "invalid_labels",
            AppendError::NoSlot => "concurrency_limit",
        }
    }
}

/// What one scrape contributed, for the synthetic series and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendCounts {
    /// Samples in the exposition (`scrape_samples_scraped`).
    pub scraped: usize,
    /// Samples kept after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: usize,
    /// Series not in the cache before this scrape (`scrape_series_added`).
    pub series_added: usize,
    /// Samples of a series already written in this scrape (skipped).
    pub duplicates: usize,
    pub stale_markers: usize,
}

/// Appends the samples of one scrape of one target.
pub struct Appender<'a> {
    cache: &'a mut SeriesCache,
    target_labels: &'a Labels,
    options: &'a SampleOptions,
    ts_ms: i64,
    out: &'a mut Vec<SeriesSample>,
    start_len: usize,
    counts: AppendCounts,
    /// Set once `sample_limit` is exceeded: later samples are still counted (so the report
    /// series tell how far over the limit the target is, as in Prometheus) but not kept.
    limit_error: Option<AppendError>,
}

impl<'a> Appender<'a> {
    pub fn new(
        cache: &'a mut SeriesCache,
        target_labels: &'a Labels,
        options: &'a SampleOptions,
        ts_ms: i64,
        out: &'a mut Vec<SeriesSample>,
    ) -> Self {
        cache.begin();
        let start_len = out.len();
        Appender {
            cache,
            target_labels,
            options,
            ts_ms,
            out,
            start_len,
            counts: AppendCounts::default(),
            limit_error: None,
        }
    }

    /// Adds one sample. `key` identifies the raw series (its exposition text); `labels`
    /// is called only when the series is new to the cache and yields the scraped labels
    /// without `__name__`.
    pub fn add<'l, I>(
        &mut self,
        key: &str,
        name: &str,
        labels: impl FnOnce() -> I,
        value: f64,
        timestamp_ms: Option<i64>,
    ) -> Result<(), AppendError>
    where
        I: IntoIterator<Item = (&'l str, Cow<'l, str>)>,
    {
        self.counts.scraped += 1;
        let series = match self.cache.lookup(key) {
            Lookup::Series(series) => series.clone(),
            Lookup::Dropped => return Ok(()),
            Lookup::Unknown => {
                let scraped: Vec<(&str, Cow<str>)> = labels().into_iter().collect();
                match self.resolve(name, &scraped)? {
                    Some(series) => {
                        self.cache.insert(key, Some(series.clone()));
                        self.counts.series_added += 1;
                        series
                    }
                    None => {
                        self.cache.insert(key, None);
                        return Ok(());
                    }
                }
            }
        };
        self.counts.post_relabel += 1;
        if self.limit_error.is_some() {
            return Ok(());
        }
        if self.options.sample_limit > 0 && self.counts.post_relabel > self.options.sample_limit {
            self.limit_error = Some(AppendError::SampleLimit {
                limit: self.options.sample_limit,
            });
            return Ok(());
        }
        let ts_ms = match (self.options.honor_timestamps, timestamp_ms) {
            (true, Some(ts)) => ts,
            _ => {
                if !self.cache.track(&series) {
                    self.counts.duplicates += 1;
                    return Ok(());
                }
                self.ts_ms
            }
        };
        self.out.push(SeriesSample {
            series,
            ts_ms,
            value,
        });
        Ok(())
    }

    /// Final labels of a new series, or `None` when metric relabeling drops it.
    fn resolve(
        &self,
        name: &str,
        scraped: &[(&str, Cow<str>)],
    ) -> Result<Option<Arc<Series>>, AppendError> {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(scraped.len() + 1);
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
        pairs.extend(scraped.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let mut labels = mutate_sample_labels(pairs, self.target_labels, self.options.honor_labels);
        if !crate::relabel::apply(&mut labels, &self.options.metric_relabel_configs) {
            return Ok(None);
        }
        if labels.is_empty() {
            return Ok(None);
        }
        let describe = || describe(&labels);
        match labels.get(METRIC_NAME) {
            None => return Err(AppendError::NoMetricName { series: describe() }),
            Some(n) if !is_valid_metric_name(n) => {
                return Err(AppendError::InvalidLabels { series: describe() })
            }
            _ => {}
        }
        if labels.keys().any(|n| !is_valid_label_name(n)) {
            return Err(AppendError::InvalidLabels { series: describe() });
        }
        let o = self.options;
        if o.label_limit > 0 && labels.len() > o.label_limit {
            return Err(AppendError::LabelLimit {
                series: describe(),
                count: labels.len(),
                limit: o.label_limit,
            });
        }
        if o.label_name_length_limit > 0
            && labels.keys().any(|n| n.len() > o.label_name_length_limit)
        {
            return Err(AppendError::LabelNameLength {
                series: describe(),
                limit: o.label_name_length_limit,
            });
        }
        if o.label_value_length_limit > 0
            && labels
                .values()
                .any(|v| v.len() > o.label_value_length_limit)
        {
            return Err(AppendError::LabelValueLength {
                series: describe(),
                limit: o.label_value_length_limit,
            });
        }
        // External labels come last, as Prometheus adds them at remote-write time: they do
        // not count against the label limits.
        for (name, value) in self.options.external_labels.iter() {
            labels.entry(name.clone()).or_insert_with(|| value.clone());
        }
        let labels = Labels::from_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        Ok(Some(Arc::new(Series::new(labels))))
    }

    /// The error that fails the whole scrape once every sample has been counted (the
    /// sample limit), if any.
    pub fn check(&self) -> Result<(), AppendError> {
        match &self.limit_error {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Ends a scrape whose samples are all in: stale markers for vanished series go to
    /// `stale` (sent ahead of the samples, so a full sender queue drops samples first).
    pub fn commit(mut self, stale: &mut Vec<SeriesSample>) -> AppendCounts {
        self.counts.stale_markers = self.cache.finish(self.ts_ms, stale);
        self.counts
    }

    /// Ends a scrape that failed part-way: its samples are discarded and every series of
    /// the last successful scrape is marked stale. The counts of what was read stay, for
    /// the report series (`scrape_samples_scraped` still tells how big the exposition was).
    pub fn rollback(self, stale: &mut Vec<SeriesSample>) -> AppendCounts {
        self.out.truncate(self.start_len);
        let stale_markers = self.cache.fail(self.ts_ms, stale);
        AppendCounts {
            stale_markers,
            series_added: 0,
            duplicates: 0,
            ..self.counts
        }
    }
}

type LabelMap = std::collections::BTreeMap<String, String>;

/// Merges target labels into a scraped label set (Prometheus 2.42 `mutateSampleLabels`):
/// with `honor_labels` the scraped value wins; otherwise the target value wins and each
/// conflicting scraped label is kept as `exported_<name>` (prefixed again until the name is
/// free, shortest names first).
pub fn mutate_sample_labels(
    scraped: Vec<(String, String)>,
    target: &Labels,
    honor_labels: bool,
) -> LabelMap {
    if honor_labels {
        // A scraped label that is present but empty still wins (and then disappears): the
        // Pushgateway's `instance=""` idiom relies on it.
        let mut result: LabelMap = scraped.into_iter().collect();
        for label in target {
            result
                .entry(label.name.to_string())
                .or_insert_with(|| label.value.to_string());
        }
        result.retain(|_, v| !v.is_empty());
        return result;
    }
    let exposed: LabelMap = scraped.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let mut result = exposed.clone();
    let mut conflicting: Vec<(String, String)> = Vec::new();
    for label in target {
        if let Some(existing) = exposed.get(&*label.name) {
            conflicting.push((label.name.to_string(), existing.clone()));
        }
        result.insert(label.name.to_string(), label.value.to_string());
    }
    conflicting.sort_by_key(|(name, _)| name.len());
    let mut renamed: Vec<String> = Vec::with_capacity(conflicting.len());
    for (name, _) in &conflicting {
        let mut candidate = name.clone();
        loop {
            candidate = format!("exported_{candidate}");
            if !exposed.contains_key(&candidate)
                && target.get(&candidate).is_none()
                && !renamed.contains(&candidate)
            {
                break;
            }
        }
        renamed.push(candidate);
    }
    for ((_, value), name) in conflicting.into_iter().zip(renamed) {
        result.insert(name, value);
    }
    result
}

fn describe(labels: &LabelMap) -> String {
    Labels::from_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))).to_string()
}

pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
