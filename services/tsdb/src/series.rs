//! One series' samples: closed chunks packed in one buffer plus the open chunk.
//!
//! At 1 s resolution an hour is 30 chunks of 120 samples per series. Giving each closed
//! chunk its own allocation would cost more in allocator headers and pointers than the
//! ~250 bytes the chunk itself holds, so closed chunks are appended to a single byte buffer
//! and described by 16-byte [`ChunkMeta`] entries. Retention drains whole chunks from the
//! front of that buffer.

use std::collections::VecDeque;

use crate::chunk::{XorEncoder, XorIter};
use crate::sample::Sample;

/// Where a closed chunk lives in the packed buffer and which times it covers.
#[derive(Clone, Copy, Debug)]
struct ChunkMeta {
    min_ts_ms: i64,
    /// `max_ts - min_ts`; chunks are cut before their span outgrows `u32`.
    span_ms: u32,
    /// End offset of the chunk's bytes in the buffer; it starts where the previous ends.
    end: u32,
}

impl ChunkMeta {
    fn max_ts_ms(&self) -> i64 {
        self.min_ts_ms + i64::from(self.span_ms)
    }
}

/// Largest span of one chunk; cutting earlier keeps `ChunkMeta::span_ms` in range.
pub(crate) const MAX_CHUNK_SPAN_MS: i64 = u32::MAX as i64;

/// Why a sample was not appended to a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Same timestamp as the newest sample.
    Duplicate,
    /// Older than the newest sample.
    OutOfOrder,
    /// The series was removed by retention; the caller re-creates it.
    Deleted,
}

/// Samples of one series; guarded by the series' mutex.
#[derive(Debug)]
pub(crate) struct SeriesChunks {
    packed: Vec<u8>,
    closed: VecDeque<ChunkMeta>,
    open: XorEncoder,
    /// Removed by retention; appenders that still hold the series must look it up again.
    pub(crate) deleted: bool,
}

/// Memory held by one series' samples.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChunkUsage {
    pub encoded_bytes: usize,
    pub reserved_bytes: usize,
    pub meta_bytes: usize,
    pub samples: usize,
    pub chunks: usize,
}

impl SeriesChunks {
    pub(crate) fn new() -> Self {
        SeriesChunks {
            packed: Vec::new(),
            closed: VecDeque::new(),
            open: XorEncoder::new(),
            deleted: false,
        }
    }

    /// Time of the newest sample, if any.
    pub(crate) fn last_ts_ms(&self) -> Option<i64> {
        if !self.open.is_empty() {
            Some(self.open.last_ts_ms())
        } else {
            self.closed.back().map(ChunkMeta::max_ts_ms)
        }
    }

    /// Time of the oldest sample, if any.
    pub(crate) fn first_ts_ms(&self) -> Option<i64> {
        match self.closed.front() {
            Some(meta) => Some(meta.min_ts_ms),
            None => (!self.open.is_empty()).then(|| self.open.first_ts_ms()),
        }
    }

    pub(crate) fn append(
        &mut self,
        ts_ms: i64,
        value: f64,
        samples_per_chunk: u16,
    ) -> Result<(), Refusal> {
        if self.deleted {
            return Err(Refusal::Deleted);
        }
        if let Some(last) = self.last_ts_ms() {
            if ts_ms == last {
                return Err(Refusal::Duplicate);
            }
            if ts_ms < last {
                return Err(Refusal::OutOfOrder);
            }
        }
        if !self.open.is_empty()
            && (self.open.len() >= samples_per_chunk
                || ts_ms - self.open.first_ts_ms() >= MAX_CHUNK_SPAN_MS)
        {
            self.close_open_chunk();
        }
        self.open.append(ts_ms, value);
        Ok(())
    }

    fn close_open_chunk(&mut self) {
        let bytes = self.open.bytes();
        let previous = bytes.len();
        // Grow to the exact size rather than doubling: the buffer lives for the whole
        // retention window, so any slack is paid by every series all the time, while the
        // copy a reallocation costs happens once per chunk (every 2 minutes at 1 s).
        self.packed.reserve_exact(bytes.len());
        self.packed.extend_from_slice(bytes);
        self.closed.push_back(ChunkMeta {
            min_ts_ms: self.open.first_ts_ms(),
            span_ms: (self.open.last_ts_ms() - self.open.first_ts_ms()) as u32,
            end: self.packed.len() as u32,
        });
        // Neighbouring chunks of a series compress alike; 1/8 headroom absorbs the noise.
        self.open.reset(previous + previous / 8);
    }

    /// Drops closed chunks whose newest sample is older than `cutoff_ms`; returns how many.
    /// The open chunk is kept: it is the newest data and is dropped only with the series.
    pub(crate) fn drop_before(&mut self, cutoff_ms: i64) -> usize {
        let expired = self
            .closed
            .iter()
            .take_while(|meta| meta.max_ts_ms() < cutoff_ms)
            .count();
        if expired == 0 {
            return 0;
        }
        let drained_bytes = self.closed[expired - 1].end;
        self.closed.drain(..expired);
        self.packed.drain(..drained_bytes as usize);
        for meta in self.closed.iter_mut() {
            meta.end -= drained_bytes;
        }
        if self.packed.capacity() > self.packed.len() * 2 + 1024 {
            self.packed.shrink_to_fit();
        }
        expired
    }

    fn chunk_bytes(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.closed[i - 1].end } as usize;
        &self.packed[start..self.closed[i].end as usize]
    }

    /// Appends the samples inside `[mint_ms, maxt_ms]` to `out`, in time order.
    pub(crate) fn collect(&self, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>) {
        for (i, meta) in self.closed.iter().enumerate() {
            if meta.max_ts_ms() < mint_ms || meta.min_ts_ms > maxt_ms {
                continue;
            }
            collect_from(XorIter::new(self.chunk_bytes(i)), mint_ms, maxt_ms, out);
        }
        if !self.open.is_empty()
            && self.open.last_ts_ms() >= mint_ms
            && self.open.first_ts_ms() <= maxt_ms
        {
            collect_from(self.open.iter(), mint_ms, maxt_ms, out);
        }
    }

    /// Whether any sample falls inside `[mint_ms, maxt_ms]`, judged by chunk bounds.
    pub(crate) fn overlaps(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        match (self.first_ts_ms(), self.last_ts_ms()) {
            (Some(first), Some(last)) => first <= maxt_ms && last >= mint_ms,
            _ => false,
        }
    }

    pub(crate) fn usage(&self) -> ChunkUsage {
        ChunkUsage {
            encoded_bytes: self.packed.len() + self.open.bytes().len(),
            reserved_bytes: self.packed.capacity() + self.open.capacity_bytes(),
            meta_bytes: self.closed.capacity() * std::mem::size_of::<ChunkMeta>(),
            samples: self.sample_count(),
            chunks: self.closed.len() + usize::from(!self.open.is_empty()),
        }
    }

    fn sample_count(&self) -> usize {
        let closed: usize = (0..self.closed.len())
            .map(|i| {
                let bytes = self.chunk_bytes(i);
                usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
            })
            .sum();
        closed + usize::from(self.open.len())
    }
}

fn collect_from(iter: XorIter<'_>, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>) {
    for (ts_ms, value) in iter {
        if ts_ms > maxt_ms {
            break;
        }
        if ts_ms >= mint_ms {
            out.push(Sample { ts_ms, value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: i64, per_chunk: u16) -> SeriesChunks {
        let mut s = SeriesChunks::new();
        for i in 0..n {
            s.append(i * 1000, i as f64, per_chunk).unwrap();
        }
        s
    }

    #[test]
    fn out_of_order_and_duplicate_samples_are_refused() {
        let mut s = filled(3, 120);
        assert_eq!(s.append(2000, 9.0, 120), Err(Refusal::Duplicate));
        assert_eq!(s.append(1500, 9.0, 120), Err(Refusal::OutOfOrder));
        let mut out = Vec::new();
        s.collect(i64::MIN, i64::MAX, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn samples_span_closed_and_open_chunks_in_order() {
        let s = filled(25, 10);
        let mut out = Vec::new();
        s.collect(3_000, 21_000, &mut out);
        let times: Vec<i64> = out.iter().map(|x| x.ts_ms).collect();
        assert_eq!(times, (3..=21).map(|i| i * 1000).collect::<Vec<_>>());
        assert_eq!(s.usage().samples, 25);
        assert_eq!(s.usage().chunks, 3);
    }

    #[test]
    fn retention_drops_only_fully_expired_chunks() {
        let mut s = filled(25, 10);
        // chunk 0 covers 0..9 s, chunk 1 covers 10..19 s; cutoff inside chunk 1 keeps it
        assert_eq!(s.drop_before(15_000), 1);
        assert_eq!(s.first_ts_ms(), Some(10_000));
        let mut out = Vec::new();
        s.collect(i64::MIN, i64::MAX, &mut out);
        assert_eq!(out.len(), 15);
        assert_eq!(out[0].ts_ms, 10_000);
        s.append(25_000, 1.0, 10).unwrap();
        assert_eq!(s.last_ts_ms(), Some(25_000));
    }
}
