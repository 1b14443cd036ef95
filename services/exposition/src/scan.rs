//! Byte-level scanning shared by both parsers: character classes, blanks, quoted label
//! values and their unescaping, line splitting, and the cheap hash used for name and
//! metric-group lookups.
//!
//! Everything works on the body's bytes with absolute offsets and an explicit end (the end
//! of the current line), so a parser never slices or allocates to look at a token. Names
//! are ASCII by both grammars, so a byte table classifies them; label values are only
//! searched for `"`, `\` (and NUL in the text format) — multi-byte UTF-8 never contains
//! those bytes, so byte scanning is safe on valid UTF-8.

use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{fail, ErrorKind, Fail};

const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;

/// Metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`.
static CLASS: [u8; 256] = build_classes();

const fn build_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut flags = 0;
        if c.is_ascii_alphabetic() || c == b'_' {
            flags |= NAME_START | NAME_CHAR | LABEL_START | LABEL_CHAR;
        }
        if c == b':' {
            flags |= NAME_START | NAME_CHAR;
        }
        if c.is_ascii_digit() {
            flags |= NAME_CHAR | LABEL_CHAR;
        }
        table[i] = flags;
        i += 1;
    }
    table
}

#[inline]
fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// Whether `b` may appear in a metric name after its first character.
#[inline]
pub(crate) fn is_name_char(b: u8) -> bool {
    class(b) & NAME_CHAR != 0
}

/// End of the metric name starting at `i` (`i` itself when there is none).
#[inline]
pub(crate) fn metric_name_end(b: &[u8], i: usize, end: usize) -> usize {
    if i >= end || class(b[i]) & NAME_START == 0 {
        return i;
    }
    let mut j = i + 1;
    while j < end && class(b[j]) & NAME_CHAR != 0 {
        j += 1;
    }
    j
}

/// End of the label name starting at `i` (`i` itself when there is none).
#[inline]
pub(crate) fn label_name_end(b: &[u8], i: usize, end: usize) -> usize {
    if i >= end || class(b[i]) & LABEL_START == 0 {
        return i;
    }
    let mut j = i + 1;
    while j < end && class(b[j]) & LABEL_CHAR != 0 {
        j += 1;
    }
    j
}

#[inline]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// First offset at or after `i` that is not a space or tab.
#[inline]
pub(crate) fn skip_blanks(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// Offset of the next `\n` at or after `from`, using `str::find`'s memchr.
#[inline]
pub(crate) fn find_newline(text: &str, from: usize) -> Option<usize> {
    text.get(from..)?.find('\n').map(|p| p + from)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn read8(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Index of the first byte of `w` (little-endian) that is `"` or `\`, if any. The
/// zero-byte test may flag bytes after a real match, never before one, so the lowest
/// flagged byte is exact.
#[inline]
fn first_quote_or_backslash(w: u64) -> Option<usize> {
    let q = w ^ (ONES * u64::from(b'"'));
    let bs = w ^ (ONES * u64::from(b'\\'));
    let found = ((q.wrapping_sub(ONES) & !q) | (bs.wrapping_sub(ONES) & !bs)) & HIGHS;
    (found != 0).then(|| found.trailing_zeros() as usize / 8)
}

/// Scans a quoted label value whose opening quote is just before `i`. Returns the offset of
/// the closing quote and whether the value contains backslash escapes. A backslash takes
/// the next byte with it, so `\"` does not close the value. Any other byte, NUL and CR
/// included, is value content (Prometheus 2.42 stores both; OpenMetrics' `normal-char`
/// includes NUL, and CR was refused for the whole body before). Skips eight bytes at a
/// time while none of them is `"` or `\`.
#[inline]
pub(crate) fn scan_quoted(b: &[u8], mut i: usize, end: usize) -> Result<(usize, bool), Fail> {
    let mut escaped = false;
    while i < end {
        if i + 8 <= end {
            match first_quote_or_backslash(read8(b, i)) {
                None => {
                    i += 8;
                    continue;
                }
                Some(k) => i += k,
            }
        }
        match b[i] {
            b'"' => return Ok((i, escaped)),
            b'\\' => {
                if i + 1 >= end {
                    break;
                }
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    Err(fail(end, ErrorKind::UnterminatedLabelValue))
}

/// Appends the unescaped form of `raw` to `out`: `\\` → `\`, `\n` → newline, and `\"` →
/// `"` when `unquote` is set; any other backslash stays as it is (Prometheus' and the
/// OpenMetrics reference parser's behaviour for undefined escapes).
pub(crate) fn unescape_into(raw: &str, unquote: bool, out: &mut String) {
    let bytes = raw.as_bytes();
    let mut seg = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        let replacement = match bytes[i + 1] {
            b'\\' => Some('\\'),
            b'n' => Some('\n'),
            b'"' if unquote => Some('"'),
            _ => None,
        };
        match replacement {
            Some(c) => {
                out.push_str(&raw[seg..i]);
                out.push(c);
                i += 2;
                seg = i;
            }
            // Kept literally: the backslash stays in the segment.
            None => i += 1,
        }
    }
    out.push_str(&raw[seg..]);
}

/// Digits of pi: arbitrary odd constants for the hash.
const HASH_K: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
];

/// The 128-bit product of `a` and `b`, high and low halves xor-ed together.
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A fast non-cryptographic hash of `bytes`, continuing from `h` — one folded multiply per
/// 16 bytes, in the style of wyhash/foldhash. Lookups built on it always confirm a match
/// by comparing bytes, so its only job is to be fast and spread well.
#[inline]
pub(crate) fn hash_bytes(h: u64, bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let h = h ^ (len as u64).wrapping_mul(HASH_K[0]);
    let (a, b) = if len <= 16 {
        if len >= 8 {
            (read8(bytes, 0), read8(bytes, len - 8))
        } else if len >= 4 {
            let mut lo = [0u8; 4];
            let mut hi = [0u8; 4];
            lo.copy_from_slice(&bytes[..4]);
            hi.copy_from_slice(&bytes[len - 4..]);
            (
                u64::from(u32::from_le_bytes(lo)),
                u64::from(u32::from_le_bytes(hi)),
            )
        } else if len > 0 {
            let packed = u64::from(bytes[0])
                | (u64::from(bytes[len / 2]) << 8)
                | (u64::from(bytes[len - 1]) << 16);
            (packed, 0)
        } else {
            (0, 0)
        }
    } else {
        let mut h = h;
        let mut i = 0;
        while i + 16 < len {
            h = folded_multiply(read8(bytes, i) ^ h, read8(bytes, i + 8) ^ HASH_K[1]);
            i += 16;
        }
        return folded_multiply(
            read8(bytes, len - 16) ^ h ^ HASH_K[2],
            read8(bytes, len - 8) ^ HASH_K[3],
        );
    };
    folded_multiply(a ^ h ^ HASH_K[2], b ^ HASH_K[3])
}

/// A final mix (Murmur3's finaliser) for hashes whose low bits pick hash-map buckets.
#[inline]
pub(crate) fn hash_finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Finished hash of one string (a metric or family name).
pub(crate) fn hash_str(bytes: &[u8]) -> u64 {
    hash_finish(hash_bytes(0, bytes))
}

/// Hasher for maps whose keys are already [`hash_finish`]ed `u64`s.
#[derive(Clone, Copy, Default)]
pub(crate) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_finish(hash_bytes(self.0, bytes));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type Prehashed = BuildHasherDefault<PrehashedHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_grammars() {
        let m = |s: &str| metric_name_end(s.as_bytes(), 0, s.len());
        let l = |s: &str| label_name_end(s.as_bytes(), 0, s.len());
        assert_eq!(m("a:b_1{"), 5);
        assert_eq!(m(":a"), 2);
        assert_eq!(m("0a"), 0);
        assert_eq!(m("a-b"), 1);
        assert_eq!(l("_a1="), 3);
        assert_eq!(l(":a"), 0);
        assert_eq!(l("a:b"), 1);
    }

    #[test]
    fn quoted_values_honour_escaped_quotes() {
        let s = br#"a\"b" rest"#;
        assert_eq!(scan_quoted(s, 0, s.len()).unwrap(), (4, true));
        let plain = br#"abc""#;
        assert_eq!(scan_quoted(plain, 0, plain.len()).unwrap(), (3, false));
        let open = br#"abc\""#;
        let err = scan_quoted(open, 0, open.len()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnterminatedLabelValue);
        let nul = b"a\0\"";
        assert_eq!(scan_quoted(nul, 0, nul.len()).unwrap(), (2, false));
    }

    #[test]
    fn unescape_keeps_unknown_escapes() {
        let un = |s: &str, q: bool| {
            let mut out = String::new();
            unescape_into(s, q, &mut out);
            out
        };
        assert_eq!(un(r#"b\"a\nr"#, true), "b\"a\nr");
        assert_eq!(un(r"b\\a\z", true), "b\\a\\z");
        assert_eq!(un(r"\\\n", true), "\\\n");
        assert_eq!(un(r#"\""#, false), "\\\"");
        assert_eq!(un(r"\é\", true), "\\é\\");
        assert_eq!(un(r"\q\\", true), "\\q\\");
    }

    #[test]
    fn hash_distinguishes_lengths_and_contents() {
        let mut inputs: Vec<Vec<u8>> = (0..40usize)
            .flat_map(|n| [vec![b'a'; n], vec![0u8; n], (1..=n as u8).collect()])
            .collect();
        inputs.sort();
        inputs.dedup();
        let mut hashes: Vec<u64> = inputs.iter().map(|i| hash_str(i)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), inputs.len());
        assert_eq!(hash_str(b"abc_total"), hash_str(b"abc_total"));
    }

    #[test]
    fn quoted_scan_finds_the_first_stop_byte_in_every_position() {
        for n in 0..40 {
            let mut v = vec![b'x'; n];
            v.extend_from_slice(b"\"tail\"\\");
            assert_eq!(scan_quoted(&v, 0, v.len()).unwrap(), (n, false), "{n}");
            let mut e = vec![b'\xc3'; n];
            e.extend_from_slice(b"\\\"\"");
            assert_eq!(scan_quoted(&e, 0, e.len()).unwrap(), (n + 2, true), "{n}");
        }
    }

    #[test]
    fn newline_search_starts_at_offset() {
        assert_eq!(find_newline("a\nb\n", 0), Some(1));
        assert_eq!(find_newline("a\nb\n", 2), Some(3));
        assert_eq!(find_newline("a\nb", 2), None);
        assert_eq!(find_newline("a", 9), None);
    }
}
