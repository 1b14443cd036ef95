//! Samples and Prometheus' staleness marker.

/// Bit pattern of the NaN that marks a series as stale (Prometheus `value.StaleNaN`).
/// Ordinary NaNs use other patterns, so the marker survives only bit-exact storage.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `value` is the staleness marker (an ordinary NaN is not).
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// One float sample; time in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub ts_ms: i64,
    pub value: f64,
}

impl Sample {
    pub fn new(ts_ms: i64, value: f64) -> Self {
        Sample { ts_ms, value }
    }

    /// Bit-exact equality, so NaN payloads (the stale marker) compare as stored.
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.ts_ms == other.ts_ms && self.value.to_bits() == other.value.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_nan_is_not_stale() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(stale_nan().is_nan());
    }
}
