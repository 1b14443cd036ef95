//! Prometheus-compatible XOR chunks: delta-of-delta timestamps and XOR-compressed values.
//!
//! Byte layout (as `tsdb/chunkenc/xor.go` in Prometheus 2.42, so chunks could be handed to
//! Prometheus tooling unchanged):
//!
//! - 2 bytes, big-endian: number of samples;
//! - sample 0: signed varint timestamp (ms), then the raw 64 value bits;
//! - sample 1: unsigned varint timestamp delta, then the XOR-encoded value;
//! - sample n ≥ 2: delta-of-delta timestamp in one of the buckets `0`, `10`+14 bits,
//!   `110`+17 bits, `1110`+20 bits, `1111`+64 bits, then the XOR-encoded value.
//!
//! Values are stored bit-exactly, so NaN payloads — notably the staleness marker — survive.
//! The encoder keeps its buffer open for appends; closing a chunk is a copy of its bytes.

/// Samples per chunk before a new one is cut (Prometheus' default).
pub const DEFAULT_SAMPLES_PER_CHUNK: u16 = 120;

/// Bytes of the sample-count header.
const HEADER_BYTES: usize = 2;

/// Appends bits most-significant first into a byte vector.
#[derive(Clone, Debug, Default)]
struct BitWriter {
    buf: Vec<u8>,
    /// Unused low bits in the last byte of `buf`.
    free_bits: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        if self.free_bits == 0 {
            self.buf.push(0);
            self.free_bits = 8;
        }
        self.free_bits -= 1;
        if bit {
            let last = self.buf.len() - 1;
            self.buf[last] |= 1 << self.free_bits;
        }
    }

    /// Writes the low `nbits` bits of `value`, most significant first.
    fn write_bits(&mut self, value: u64, mut nbits: u32) {
        debug_assert!(nbits <= 64);
        while nbits > 0 {
            if self.free_bits == 0 {
                self.buf.push(0);
                self.free_bits = 8;
            }
            let take = nbits.min(u32::from(self.free_bits));
            let shift = nbits - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            self.free_bits -= take as u8;
            let last = self.buf.len() - 1;
            self.buf[last] |= chunk << self.free_bits;
            nbits -= take;
        }
    }

    fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }
}

/// Reads bits most-significant first.
struct BitReader<'a> {
    buf: &'a [u8],
    bit_pos: usize,
}

impl<'a> BitReader<'a> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.buf.get(self.bit_pos / 8)?;
        let bit = (byte >> (7 - (self.bit_pos % 8))) & 1;
        self.bit_pos += 1;
        Some(bit == 1)
    }

    fn read_bits(&mut self, nbits: u32) -> Option<u64> {
        if self.bit_pos + nbits as usize > self.buf.len() * 8 {
            return None;
        }
        let mut value = 0u64;
        let mut remaining = nbits;
        while remaining > 0 {
            let byte = self.buf[self.bit_pos / 8];
            let offset = (self.bit_pos % 8) as u32;
            let available = 8 - offset;
            let take = remaining.min(available);
            let bits = (u64::from(byte) >> (available - take)) & ((1u64 << take) - 1);
            value = (value << take) | bits;
            self.bit_pos += take as usize;
            remaining -= take;
        }
        Some(value)
    }

    fn read_uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.read_bits(8)?;
            if shift == 63 && byte > 1 {
                return None;
            }
            value |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn read_varint(&mut self) -> Option<i64> {
        let zigzag = self.read_uvarint()?;
        Some(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
    }
}

fn write_uvarint(w: &mut BitWriter, mut value: u64) {
    while value >= 0x80 {
        w.write_byte((value as u8) | 0x80);
        value >>= 7;
    }
    w.write_byte(value as u8);
}

fn write_varint(w: &mut BitWriter, value: i64) {
    write_uvarint(w, ((value << 1) ^ (value >> 63)) as u64);
}

/// Whether `x` fits the signed `nbits` bucket of the delta-of-delta encoding; the range is
/// Prometheus' `bitRange`, asymmetric by one so the bucket boundaries are identical.
fn fits_bits(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// An open chunk accepting appends in time order.
#[derive(Clone, Debug)]
pub struct XorEncoder {
    writer: BitWriter,
    count: u16,
    first_ts_ms: i64,
    last_ts_ms: i64,
    last_value_bits: u64,
    ts_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XorEncoder {
    pub fn new() -> Self {
        let mut writer = BitWriter {
            buf: Vec::with_capacity(32),
            free_bits: 0,
        };
        writer.buf.extend_from_slice(&[0, 0]);
        XorEncoder {
            writer,
            count: 0,
            first_ts_ms: 0,
            last_ts_ms: 0,
            last_value_bits: 0,
            ts_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Empties the chunk for reuse with room for `capacity_bytes`. Sizing the buffer from the
    /// previous chunk avoids the up-to-2x slack of letting it grow by doubling, which every
    /// series would carry all the time.
    pub fn reset(&mut self, capacity_bytes: usize) {
        self.writer.buf = Vec::with_capacity(capacity_bytes.max(HEADER_BYTES));
        self.writer.buf.extend_from_slice(&[0, 0]);
        self.writer.free_bits = 0;
        self.count = 0;
        self.ts_delta = 0;
        self.leading = 0xff;
        self.trailing = 0;
    }

    pub fn len(&self) -> u16 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Time of the first sample; meaningless while empty.
    pub fn first_ts_ms(&self) -> i64 {
        self.first_ts_ms
    }

    /// Time of the last sample; meaningless while empty.
    pub fn last_ts_ms(&self) -> i64 {
        self.last_ts_ms
    }

    /// The encoded chunk so far (header included).
    pub fn bytes(&self) -> &[u8] {
        &self.writer.buf
    }

    /// Heap bytes reserved by the open buffer.
    pub fn capacity_bytes(&self) -> usize {
        self.writer.buf.capacity()
    }

    /// Appends a sample. The caller guarantees `ts_ms` is greater than the last one; the
    /// head checks ordering before calling so rejected samples never touch the chunk.
    pub fn append(&mut self, ts_ms: i64, value: f64) {
        let value_bits = value.to_bits();
        match self.count {
            0 => {
                write_varint(&mut self.writer, ts_ms);
                self.writer.write_bits(value_bits, 64);
                self.first_ts_ms = ts_ms;
            }
            1 => {
                let delta = ts_ms.wrapping_sub(self.last_ts_ms) as u64;
                write_uvarint(&mut self.writer, delta);
                self.write_value(value_bits);
                self.ts_delta = delta;
            }
            _ => {
                let delta = ts_ms.wrapping_sub(self.last_ts_ms) as u64;
                let dod = delta.wrapping_sub(self.ts_delta) as i64;
                let w = &mut self.writer;
                if dod == 0 {
                    w.write_bit(false);
                } else if fits_bits(dod, 14) {
                    w.write_bits(0b10, 2);
                    w.write_bits(dod as u64, 14);
                } else if fits_bits(dod, 17) {
                    w.write_bits(0b110, 3);
                    w.write_bits(dod as u64, 17);
                } else if fits_bits(dod, 20) {
                    w.write_bits(0b1110, 4);
                    w.write_bits(dod as u64, 20);
                } else {
                    w.write_bits(0b1111, 4);
                    w.write_bits(dod as u64, 64);
                }
                self.write_value(value_bits);
                self.ts_delta = delta;
            }
        }
        self.last_ts_ms = ts_ms;
        self.last_value_bits = value_bits;
        self.count += 1;
        self.writer.buf[..HEADER_BYTES].copy_from_slice(&self.count.to_be_bytes());
    }

    /// Prometheus' `xorWrite`: reuse the previous leading/trailing-zero window when the new
    /// XOR fits inside it, else write a new window (leading zeros clamped to 31 for 5 bits).
    fn write_value(&mut self, value_bits: u64) {
        let xor = value_bits ^ self.last_value_bits;
        let w = &mut self.writer;
        if xor == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            w.write_bits(xor >> self.trailing, significant);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        let significant = 64 - u32::from(leading) - u32::from(trailing);
        // 64 significant bits do not fit 6 bits; 0 is never needed (xor != 0), so 0 means 64.
        w.write_bits(u64::from(significant & 0x3f), 6);
        w.write_bits(xor >> trailing, significant);
    }

    /// Iterates the samples appended so far.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(&self.writer.buf)
    }
}

/// Why chunk bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk is shorter than its {HEADER_BYTES}-byte header")]
    MissingHeader,
    #[error("chunk ends before sample {index} of {count}")]
    Truncated { index: u16, count: u16 },
}

/// Decodes a chunk's samples in order.
pub struct XorIter<'a> {
    reader: BitReader<'a>,
    count: u16,
    read: u16,
    ts_ms: i64,
    ts_delta: u64,
    value_bits: u64,
    leading: u8,
    trailing: u8,
    error: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// Starts decoding `bytes`; a chunk too short for its header yields no samples and
    /// reports [`ChunkError::MissingHeader`] from [`XorIter::error`].
    pub fn new(bytes: &'a [u8]) -> Self {
        let (count, error) = match bytes.get(..HEADER_BYTES) {
            Some(header) => (u16::from_be_bytes([header[0], header[1]]), None),
            None => (0, Some(ChunkError::MissingHeader)),
        };
        XorIter {
            reader: BitReader {
                buf: bytes,
                bit_pos: HEADER_BYTES * 8,
            },
            count,
            read: 0,
            ts_ms: 0,
            ts_delta: 0,
            value_bits: 0,
            leading: 0,
            trailing: 0,
            error,
        }
    }

    /// The decoding error that stopped iteration early, if any.
    pub fn error(&self) -> Option<&ChunkError> {
        self.error.as_ref()
    }

    fn decode_next(&mut self) -> Option<(i64, f64)> {
        let r = &mut self.reader;
        match self.read {
            0 => {
                self.ts_ms = r.read_varint()?;
                self.value_bits = r.read_bits(64)?;
            }
            1 => {
                self.ts_delta = r.read_uvarint()?;
                self.ts_ms = self.ts_ms.wrapping_add(self.ts_delta as i64);
                self.read_value()?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    if !r.read_bit()? {
                        break;
                    }
                    prefix += 1;
                }
                let dod = match prefix {
                    0 => 0,
                    1 => sign_extend(r.read_bits(14)?, 14),
                    2 => sign_extend(r.read_bits(17)?, 17),
                    3 => sign_extend(r.read_bits(20)?, 20),
                    _ => r.read_bits(64)? as i64,
                };
                self.ts_delta = self.ts_delta.wrapping_add(dod as u64);
                self.ts_ms = self.ts_ms.wrapping_add(self.ts_delta as i64);
                self.read_value()?;
            }
        }
        Some((self.ts_ms, f64::from_bits(self.value_bits)))
    }

    fn read_value(&mut self) -> Option<()> {
        let r = &mut self.reader;
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            self.leading = r.read_bits(5)? as u8;
            let mut significant = r.read_bits(6)? as u8;
            if significant == 0 {
                significant = 64;
            }
            self.trailing = 64u8.saturating_sub(self.leading + significant);
        }
        let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = r.read_bits(significant)?;
        self.value_bits ^= bits << self.trailing;
        Some(())
    }
}

/// Interprets the low `nbits` of `raw` as a two's-complement number, the way Prometheus
/// reads delta-of-delta buckets (values above half the range are negative).
fn sign_extend(raw: u64, nbits: u32) -> i64 {
    if raw > (1u64 << (nbits - 1)) {
        raw as i64 - (1i64 << nbits)
    } else {
        raw as i64
    }
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.read >= self.count || self.error.is_some() {
            return None;
        }
        match self.decode_next() {
            Some(sample) => {
                self.read += 1;
                Some(sample)
            }
            None => {
                self.error = Some(ChunkError::Truncated {
                    index: self.read,
                    count: self.count,
                });
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.count.saturating_sub(self.read));
        (0, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::stale_nan;
    use proptest::prelude::*;

    fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut enc = XorEncoder::new();
        for &(t, v) in samples {
            enc.append(t, v);
        }
        enc.bytes().to_vec()
    }

    fn assert_round_trip(samples: &[(i64, f64)]) {
        let bytes = encode(samples);
        let mut iter = XorIter::new(&bytes);
        let decoded: Vec<(i64, f64)> = iter.by_ref().collect();
        assert_eq!(iter.error(), None);
        assert_eq!(decoded.len(), samples.len());
        for (got, want) in decoded.iter().zip(samples) {
            assert_eq!(got.0, want.0);
            assert_eq!(
                got.1.to_bits(),
                want.1.to_bits(),
                "value bits at t={}",
                want.0
            );
        }
    }

    #[test]
    fn aligned_constant_series_costs_two_bits_per_sample() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (1_000 * i, 42.0)).collect();
        let bytes = encode(&samples);
        // header + first sample (varint + 8 bytes) + delta + 118 samples of 2 bits
        assert!(
            bytes.len() <= 2 + 1 + 8 + 2 + 30,
            "got {} bytes",
            bytes.len()
        );
        assert_round_trip(&samples);
    }

    #[test]
    fn stale_marker_and_nan_keep_their_bits() {
        assert_round_trip(&[
            (1, 1.0),
            (2, f64::NAN),
            (3, stale_nan()),
            (4, f64::INFINITY),
            (5, f64::NEG_INFINITY),
            (6, -0.0),
            (7, 0.0),
        ]);
    }

    #[test]
    fn every_delta_of_delta_bucket_round_trips() {
        let mut t = 0i64;
        let mut samples = vec![(t, 0.0)];
        for (i, step) in [1, 8192, 8193, 65536, 65537, 524288, 524289, 1 << 40, 1, 1]
            .iter()
            .enumerate()
        {
            t += step;
            samples.push((t, i as f64));
        }
        assert_round_trip(&samples);
    }

    #[test]
    fn negative_timestamps_round_trip() {
        assert_round_trip(&[(-5_000, 1.0), (-4_000, 2.0), (-1, 3.0), (0, 4.0)]);
    }

    #[test]
    fn truncated_chunk_reports_an_error() {
        let bytes = encode(&[(1, 1.0), (2, 2.5), (3, 7.25)]);
        let mut iter = XorIter::new(&bytes[..bytes.len() - 2]);
        let decoded: Vec<_> = iter.by_ref().collect();
        assert!(decoded.len() < 3);
        assert!(matches!(iter.error(), Some(ChunkError::Truncated { .. })));
        assert_eq!(XorIter::new(&[1]).error(), Some(&ChunkError::MissingHeader));
    }

    fn value_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(stale_nan()),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (0u32..1000).prop_map(f64::from),
            (0u32..1_000_000).prop_map(|x| f64::from(x) * 0.001),
        ]
    }

    fn gap_strategy() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(1_000i64),
            Just(1_000i64),
            1i64..3_000,
            1i64..(1 << 21),
            1i64..(1 << 45),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_sequences_round_trip_bit_exactly(
            start in -(1i64 << 50)..(1i64 << 50),
            points in proptest::collection::vec((gap_strategy(), value_strategy()), 0..300),
        ) {
            let mut t = start;
            let mut samples = Vec::with_capacity(points.len());
            for (gap, value) in points {
                samples.push((t, value));
                t += gap;
            }
            let samples: Vec<_> = samples.into_iter().take(u16::MAX as usize).collect();
            assert_round_trip(&samples);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = XorIter::new(&bytes).count();
        }
    }
}
