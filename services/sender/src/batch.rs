//! Turns a shard's batch of samples into a remote-write 1.0 body.
//!
//! A batch is the shard's samples in arrival order. Remote-write wants one `TimeSeries` per
//! series with its samples in timestamp order, so samples are grouped by series in order of
//! first appearance and keep their relative order inside each group (a shard receives each
//! series' samples in scrape order, so arrival order is timestamp order). Series are told
//! apart by label set, not by `Arc` identity: a target that is re-created builds new `Arc`s
//! for the same series, and splitting those into two `TimeSeries` would make a receiver see
//! the later one's samples as out of order. The precomputed hash makes the lookup one `u64`
//! hash; label sets are compared only when hashes meet.
//!
//! Labels come from [`tachyscale_tsdb::Labels`], which is sorted by name and carries
//! `__name__` as an ordinary label, as the protocol requires.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};

use crate::sample::{Series, SeriesSample};

/// A batch grouped by series, without an allocation per series: the series in order of
/// first appearance, and each one's sample indices (arrival order) as a slice of one
/// shared index array.
pub struct Grouping {
    /// Per series, the index of its first sample (whose labels name the series).
    firsts: Vec<usize>,
    /// Sample indices ordered by series, then arrival.
    order: Vec<usize>,
    /// Per series, the end of its run in `order`.
    ends: Vec<usize>,
}

impl Grouping {
    /// `(first sample index, all sample indices)` per series.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[usize])> {
        self.firsts.iter().enumerate().map(|(g, &first)| {
            let start = if g == 0 { 0 } else { self.ends[g - 1] };
            (first, &self.order[start..self.ends[g]])
        })
    }

    pub fn len(&self) -> usize {
        self.firsts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.firsts.is_empty()
    }
}

/// Groups a batch by series (a counting sort over the series each sample belongs to).
pub fn group(samples: &[SeriesSample]) -> Grouping {
    let mut index: HashMap<SeriesKey<'_>, usize, BuildHasherDefault<PrehashedHasher>> =
        HashMap::with_capacity_and_hasher(samples.len(), Default::default());
    let mut firsts = Vec::new();
    let slots: Vec<usize> = samples
        .iter()
        .enumerate()
        .map(|(i, sample)| {
            *index.entry(SeriesKey(&sample.series)).or_insert_with(|| {
                firsts.push(i);
                firsts.len() - 1
            })
        })
        .collect();
    let mut next = vec![0usize; firsts.len()];
    for &slot in &slots {
        next[slot] += 1;
    }
    let mut start = 0;
    for count in next.iter_mut() {
        let size = *count;
        *count = start;
        start += size;
    }
    let mut order = vec![0; samples.len()];
    for (i, &slot) in slots.iter().enumerate() {
        order[next[slot]] = i;
        next[slot] += 1;
    }
    Grouping {
        firsts,
        order,
        ends: next,
    }
}

/// Builds the `WriteRequest` of a batch as a prost message (tests and tools; the sender
/// writes the same bytes directly with [`crate::wire`]).
pub fn write_request(samples: &[SeriesSample]) -> WriteRequest {
    let timeseries = group(samples)
        .iter()
        .map(|(first, members)| TimeSeries {
            labels: samples[first]
                .series
                .labels
                .iter()
                .map(|l| Label {
                    name: l.name.to_string(),
                    value: l.value.to_string(),
                })
                .collect(),
            samples: members
                .iter()
                .map(|&i| Sample {
                    value: samples[i].value,
                    timestamp: samples[i].ts_ms,
                })
                .collect(),
        })
        .collect();
    WriteRequest { timeseries }
}

/// Encodes a batch as a snappy-compressed protobuf body.
pub fn encode(samples: &[SeriesSample]) -> Bytes {
    let raw = crate::wire::encode_groups(samples, &group(samples));
    // Compressing an in-memory buffer only fails above snappy's 4 GiB block limit, which a
    // batch of at most `max_samples_per_send` samples cannot reach.
    Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .unwrap_or_default(),
    )
}

/// Newest timestamp in a batch, in milliseconds.
pub fn highest_timestamp_ms(samples: &[SeriesSample]) -> Option<i64> {
    samples.iter().map(|s| s.ts_ms).max()
}

/// A series as a map key: hashed by its precomputed label hash, equal by label set.
struct SeriesKey<'a>(&'a Arc<Series>);

impl Hash for SeriesKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialEq for SeriesKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.0, other.0)
            || (self.0.hash == other.0.hash && self.0.labels == other.0.labels)
    }
}

impl Eq for SeriesKey<'_> {}

/// Passes a precomputed 64-bit hash through instead of hashing it again.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `SeriesKey`; fold anything else in case that changes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyscale_tsdb::labels::Labels;

    fn series(name: &str, instance: &str) -> Arc<Series> {
        Arc::new(Series::new(Labels::from_pairs([
            ("__name__", name),
            ("instance", instance),
            ("job", "node"),
        ])))
    }

    fn sample(series: &Arc<Series>, ts_ms: i64, value: f64) -> SeriesSample {
        SeriesSample {
            series: series.clone(),
            ts_ms,
            value,
        }
    }

    #[test]
    fn groups_samples_per_series_in_arrival_order() {
        let a = series("up", "a");
        let b = series("up", "b");
        let batch = [
            sample(&a, 1000, 1.0),
            sample(&b, 1000, 2.0),
            sample(&a, 2000, 3.0),
            sample(&b, 2000, 4.0),
            sample(&a, 3000, 5.0),
        ];
        let request = write_request(&batch);
        assert_eq!(request.timeseries.len(), 2);
        let first = &request.timeseries[0];
        assert_eq!(
            first
                .labels
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
            ["__name__", "instance", "job"]
        );
        assert_eq!(first.labels[1].value, "a");
        assert_eq!(
            first
                .samples
                .iter()
                .map(|s| (s.timestamp, s.value))
                .collect::<Vec<_>>(),
            [(1000, 1.0), (2000, 3.0), (3000, 5.0)]
        );
        assert_eq!(request.timeseries[1].samples.len(), 2);
        assert_eq!(highest_timestamp_ms(&batch), Some(3000));
    }

    #[test]
    fn equal_label_sets_from_different_arcs_share_one_timeseries() {
        let old = series("up", "a");
        let recreated = series("up", "a");
        let request = write_request(&[sample(&old, 1000, 1.0), sample(&recreated, 2000, 1.0)]);
        assert_eq!(request.timeseries.len(), 1);
        assert_eq!(request.timeseries[0].samples.len(), 2);
    }

    #[test]
    fn hash_collisions_keep_series_apart() {
        let a = Arc::new(Series {
            labels: Labels::from_pairs([("__name__", "x")]),
            hash: 7,
        });
        let b = Arc::new(Series {
            labels: Labels::from_pairs([("__name__", "y")]),
            hash: 7,
        });
        let request = write_request(&[sample(&a, 1, 1.0), sample(&b, 1, 2.0)]);
        assert_eq!(request.timeseries.len(), 2);
    }

    #[test]
    fn direct_encoding_is_byte_identical_to_prost() {
        use prost::Message as _;
        let a = series("up", "a");
        let b = series("node_cpu_seconds_total", &"x".repeat(300));
        let batch = [
            sample(&a, 1000, 1.0),
            sample(&b, 1000, 0.0),
            sample(&a, 2000, -0.0),
            sample(&b, 0, f64::NAN),
            sample(&a, -5, f64::from_bits(0x7ff0_0000_0000_0002)),
            sample(&b, i64::MAX, f64::INFINITY),
        ];
        let direct = crate::wire::encode_groups(&batch, &group(&batch));
        assert_eq!(direct, write_request(&batch).encode_to_vec());
        assert!(crate::wire::encode_groups(&[], &group(&[])).is_empty());
    }

    #[test]
    fn body_decodes_back_with_stale_markers_intact() {
        let a = series("up", "a");
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let body = encode(&[sample(&a, 1000, 1.0), sample(&a, 2000, stale)]);
        let decoded = tachyscale_proto::remote_write::decode(&body, 1 << 20).unwrap();
        assert_eq!(
            decoded.timeseries[0].samples[1].value.to_bits(),
            stale.to_bits()
        );
    }
}
