//! The string table shared by all series' labels.
//!
//! Container metrics repeat the same names and values (namespace, pod, container, label
//! names) across thousands of series; storing each distinct string once is most of the
//! difference between ~1 KB and Prometheus' ~8 KB per series. The table is sharded so series
//! creation on several threads does not serialise on one lock, and it only grows on series
//! creation, never on the per-sample hot path. Strings no series uses any more are released
//! by [`Interner::release_unused`], which the head calls after dropping expired series.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::Mutex;

const SHARDS: usize = 32;

/// A sharded set of shared strings.
pub struct Interner {
    shards: Box<[Mutex<HashTable<Arc<str>>>]>,
    hasher: foldhash::quality::FixedState,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            hasher: foldhash::quality::FixedState::with_seed(0x696e_7465_726e),
        }
    }
}

impl Interner {
    /// The shared copy of `s`, inserting it when new.
    pub fn intern(&self, s: &str) -> Arc<str> {
        let hash = self.hasher.hash_one(s);
        let mut shard = self.shards[(hash as usize) % SHARDS].lock();
        if let Some(existing) = shard.find(hash, |candidate| &**candidate == s) {
            return existing.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        let hasher = &self.hasher;
        shard.insert_unique(hash, shared.clone(), |v| hasher.hash_one(&**v));
        shared
    }

    /// Drops strings referenced only by the table itself; returns how many were dropped.
    pub fn release_unused(&self) -> usize {
        let mut released = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let before = shard.len();
            shard.retain(|s| Arc::strong_count(s) > 1);
            released += before - shard.len();
        }
        released
    }

    /// Number of distinct strings and the bytes they and the table occupy.
    pub fn usage(&self) -> (usize, usize) {
        let mut strings = 0;
        let mut bytes = 0;
        for shard in self.shards.iter() {
            let shard = shard.lock();
            strings += shard.len();
            // Arc<str> allocation: two counters plus the text; table slot: pointer + control.
            bytes += shard.capacity() * (std::mem::size_of::<Arc<str>>() + 1);
            bytes += shard.iter().map(|s| 16 + s.len()).sum::<usize>();
        }
        (strings, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let interner = Interner::default();
        let a = interner.intern("namespace");
        let b = interner.intern(&String::from("namespace"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(interner.usage().0, 1);
    }

    #[test]
    fn unused_strings_are_released() {
        let interner = Interner::default();
        let kept = interner.intern("kept");
        drop(interner.intern("dropped"));
        assert_eq!(interner.release_unused(), 1);
        assert!(Arc::ptr_eq(&kept, &interner.intern("kept")));
    }
}
