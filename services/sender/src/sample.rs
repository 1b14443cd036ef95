//! What one scrape hands to the sender: samples of series whose label sets are built once
//! and shared.
//!
//! A target's series are relabeled and hashed when first seen and then reused by every
//! later scrape (`Arc<Series>`), so the per-scrape cost is a pointer copy per sample. The
//! hash is the series' stable label hash: the sender shards on it, which keeps each series'
//! samples in order on one shard.

use std::sync::Arc;

use tachyscale_tsdb::labels::Labels;

/// A series' final label set (after target labels and metric relabeling).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    /// `labels.stable_hash()`, computed once.
    pub hash: u64,
}

impl Series {
    pub fn new(labels: Labels) -> Self {
        let hash = labels.stable_hash();
        Series { labels, hash }
    }
}

/// One sample of one series, timestamped with the scrape's scheduled instant.
#[derive(Debug, Clone)]
pub struct SeriesSample {
    pub series: Arc<Series>,
    pub ts_ms: i64,
    pub value: f64,
}
