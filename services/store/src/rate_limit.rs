//! Token bucket for the ingest rate limit; time is passed in so the policy is testable.
//!
//! A request is admitted whole or refused whole: refusing part of a remote-write batch
//! would make the sender retry samples the store already has.

use crate::config::RateLimit;

/// Sample tokens refilled at a constant rate up to a burst size.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last_refill_ms: Option<i64>,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            limit,
            tokens: limit.burst_samples,
            last_refill_ms: None,
        }
    }

    /// Takes `samples` tokens at `now_ms` if available. A request larger than the burst is
    /// admitted when the bucket is full, so a big batch is slowed, never refused forever.
    pub fn try_take(&mut self, samples: usize, now_ms: i64) -> bool {
        if let Some(last) = self.last_refill_ms {
            let elapsed_s = (now_ms - last).max(0) as f64 / 1000.0;
            self.tokens = (self.tokens + elapsed_s * self.limit.samples_per_second)
                .min(self.limit.burst_samples);
        }
        self.last_refill_ms = Some(now_ms);
        let wanted = samples as f64;
        let full = self.tokens >= self.limit.burst_samples;
        if self.tokens >= wanted || full {
            self.tokens -= wanted;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> TokenBucket {
        TokenBucket::new(RateLimit {
            samples_per_second: 100.0,
            burst_samples: 100.0,
        })
    }

    #[test]
    fn refuses_when_empty_and_refills_over_time() {
        let mut b = bucket();
        assert!(b.try_take(100, 0));
        assert!(!b.try_take(10, 0));
        assert!(!b.try_take(10, 50));
        assert!(b.try_take(10, 100));
    }

    #[test]
    fn oversized_batch_passes_only_on_a_full_bucket() {
        let mut b = bucket();
        assert!(b.try_take(250, 0));
        assert!(!b.try_take(250, 1000));
        assert!(b.try_take(250, 3500));
    }
}
