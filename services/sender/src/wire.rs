//! Writes a batch's `WriteRequest` protobuf bytes directly from the shared label sets.
//!
//! Building the prost message first would copy every label name and value of every
//! sample into fresh `String`s, only to copy them again into the output: for kubelet-sized
//! targets that was most of the scraper's CPU. Here the series' labels are written straight
//! from their `Arc<str>`s into one buffer, sized exactly beforehand. The bytes are identical
//! to prost's encoding of [`crate::batch::write_request`] (fields in number order, default
//! values omitted), which a test checks.
//!
//! Wire shape (remote-write 1.0): `WriteRequest { repeated TimeSeries timeseries = 1 }`,
//! `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2 }`,
//! `Label { string name = 1; string value = 2 }`, `Sample { double value = 1; int64 timestamp = 2 }`.

use tachyscale_tsdb::labels::Labels;

use crate::batch::Grouping;
use crate::sample::SeriesSample;

/// Tag of a length-delimited field 1 (`timeseries`, `labels`, `Label.name`, `Sample` no).
const TAG_FIELD1_BYTES: u8 = 0x0a;
/// Tag of a length-delimited field 2 (`samples`, `Label.value`).
const TAG_FIELD2_BYTES: u8 = 0x12;
/// Tag of `Sample.value` (field 1, fixed64).
const TAG_SAMPLE_VALUE: u8 = 0x09;
/// Tag of `Sample.timestamp` (field 2, varint).
const TAG_SAMPLE_TIMESTAMP: u8 = 0x10;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length of a string field with its tag, or 0 when empty (proto3 omits defaults).
fn string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn put_string_field(out: &mut Vec<u8>, tag: u8, s: &str) {
    if !s.is_empty() {
        out.push(tag);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn label_message_len(name: &str, value: &str) -> usize {
    string_field_len(name) + string_field_len(value)
}

fn sample_message_len(value: f64, ts_ms: i64) -> usize {
    // prost skips a 0.0 (and -0.0) value and a 0 timestamp.
    (if value != 0.0 { 9 } else { 0 })
        + if ts_ms != 0 {
            1 + varint_len(ts_ms as u64)
        } else {
            0
        }
}

fn labels_len(labels: &Labels) -> usize {
    labels
        .iter()
        .map(|l| {
            let inner = label_message_len(&l.name, &l.value);
            1 + varint_len(inner as u64) + inner
        })
        .sum()
}

/// Encodes `samples` as `WriteRequest` bytes, one `TimeSeries` per group of `groups`.
pub fn encode_groups(samples: &[SeriesSample], groups: &Grouping) -> Vec<u8> {
    let mut sizes = Vec::with_capacity(groups.len());
    let mut total = 0;
    for (first, members) in groups.iter() {
        let labels = &samples[first].series.labels;
        let mut size = labels_len(labels);
        for &i in members {
            let inner = sample_message_len(samples[i].value, samples[i].ts_ms);
            size += 1 + varint_len(inner as u64) + inner;
        }
        sizes.push(size);
        total += 1 + varint_len(size as u64) + size;
    }
    let mut out = Vec::with_capacity(total);
    for ((first, members), size) in groups.iter().zip(sizes) {
        out.push(TAG_FIELD1_BYTES);
        put_varint(&mut out, size as u64);
        for label in samples[first].series.labels.iter() {
            out.push(TAG_FIELD1_BYTES);
            put_varint(
                &mut out,
                label_message_len(&label.name, &label.value) as u64,
            );
            put_string_field(&mut out, TAG_FIELD1_BYTES, &label.name);
            put_string_field(&mut out, TAG_FIELD2_BYTES, &label.value);
        }
        for &i in members {
            let SeriesSample { value, ts_ms, .. } = samples[i];
            out.push(TAG_FIELD2_BYTES);
            put_varint(&mut out, sample_message_len(value, ts_ms) as u64);
            if value != 0.0 {
                out.push(TAG_SAMPLE_VALUE);
                out.extend_from_slice(&value.to_bits().to_le_bytes());
            }
            if ts_ms != 0 {
                out.push(TAG_SAMPLE_TIMESTAMP);
                put_varint(&mut out, ts_ms as u64);
            }
        }
    }
    debug_assert_eq!(out.len(), total);
    out
}
