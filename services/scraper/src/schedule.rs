//! Aligned scrape instants.
//!
//! Every target is scraped at `k * interval + offset` in Unix milliseconds, where the offset
//! is a stable function of the target's identity. Two properties follow:
//!
//! - Timestamps are exactly `interval` apart, so the TSDB's delta-of-delta is 0 and costs one
//!   bit per sample (Prometheus only snaps to the schedule within 2 ms; we write the
//!   scheduled instant itself, whatever the actual start jitter was).
//! - Offsets are spread uniformly over the interval by the hash, so a thousand targets do
//!   not all fire on the same millisecond, and a target keeps its phase across restarts and
//!   across fleet members (the offset depends on the target, not on the member).
//!
//! Prometheus computes `(hash(target) ^ jitter_seed) % interval` with a per-server seed; we
//! leave the seed out so that the same target has the same phase on every member, which
//! keeps timestamps identical when `replication > 1` sends the same series twice.

use std::time::Duration;

/// When a target's scrapes happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval_ms: i64,
    pub offset_ms: i64,
}

impl Schedule {
    /// The schedule of a target whose identity hashes to `target_hash`.
    pub fn for_target(interval: Duration, target_hash: u64) -> Schedule {
        let interval_ms = (interval.as_millis() as i64).max(1);
        Schedule {
            interval_ms,
            offset_ms: (target_hash % interval_ms as u64) as i64,
        }
    }

    /// The first scheduled instant at or after `now_ms`.
    pub fn next_at_or_after(&self, now_ms: i64) -> i64 {
        let phase = (now_ms - self.offset_ms).rem_euclid(self.interval_ms);
        if phase == 0 {
            now_ms
        } else {
            now_ms + self.interval_ms - phase
        }
    }

    /// The first scheduled instant strictly after `instant_ms`.
    pub fn next_after(&self, instant_ms: i64) -> i64 {
        self.next_at_or_after(instant_ms + 1)
    }

    /// How many scheduled instants fall strictly between `previous_ms` and `next_ms`: the
    /// scrapes that were skipped because the loop fell behind.
    pub fn missed_between(&self, previous_ms: i64, next_ms: i64) -> u64 {
        if next_ms <= previous_ms {
            return 0;
        }
        ((next_ms - previous_ms) / self.interval_ms).saturating_sub(1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn instants_are_interval_apart_and_carry_the_offset() {
        let schedule = Schedule::for_target(Duration::from_secs(1), 1_234_567);
        assert_eq!(schedule.offset_ms, 567);
        let first = schedule.next_at_or_after(1_700_000_000_100);
        assert_eq!(first, 1_700_000_000_567);
        assert_eq!(schedule.next_after(first), first + 1000);
        assert_eq!(schedule.next_at_or_after(first), first);
    }

    #[test]
    fn missed_instants_are_counted() {
        let schedule = Schedule::for_target(Duration::from_secs(1), 0);
        assert_eq!(schedule.missed_between(1000, 2000), 0);
        assert_eq!(schedule.missed_between(1000, 4000), 2);
        assert_eq!(schedule.missed_between(4000, 1000), 0);
    }

    proptest! {
        #[test]
        fn next_instant_is_on_schedule_and_not_early(
            interval_ms in 1i64..120_000,
            hash in any::<u64>(),
            now_ms in 0i64..4_000_000_000_000,
        ) {
            let schedule = Schedule::for_target(Duration::from_millis(interval_ms as u64), hash);
            let next = schedule.next_at_or_after(now_ms);
            prop_assert!(next >= now_ms);
            prop_assert!(next - now_ms < interval_ms);
            prop_assert_eq!((next - schedule.offset_ms).rem_euclid(interval_ms), 0);
        }
    }
}
