//! Which fleet member scrapes which target: rendezvous (highest-random-weight) hashing.
//!
//! Each (member, target) pair gets a weight from a fixed hash of both names; a target
//! belongs to the `replication` members with the highest weights among the live ones. When
//! a member leaves, only the targets it ranked first for move (each to its own runner-up);
//! when one joins, it takes only the targets where it now ranks first, about 1/N of them.
//! Prometheus' `hashmod` (MD5 modulo N) reshuffles most targets when N changes, which is
//! why the fleet does not use it for membership.
//!
//! The hash is XXH3-64, a specified algorithm: members running different builds still agree
//! on every assignment, which a std or foldhash hasher does not promise.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The rendezvous weight of `target_key` on `member`.
pub fn weight(member: &str, target_key: &str) -> u64 {
    xxh3_64_with_seed(
        target_key.as_bytes(),
        xxh3_64_with_seed(member.as_bytes(), 0),
    )
}

/// The members that own `target_key`, best first: the `replication` highest weights among
/// `members` (all of them when there are fewer). Ties, which need a 64-bit collision, are
/// broken by member name so every member computes the same answer.
pub fn owners<'m>(members: &'m [String], target_key: &str, replication: usize) -> Vec<&'m str> {
    let mut ranked: Vec<(u64, &str)> = members
        .iter()
        .map(|m| (weight(m, target_key), m.as_str()))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked
        .into_iter()
        .take(replication.max(1))
        .map(|(_, m)| m)
        .collect()
}

/// Whether `me` is among the owners of `target_key`.
pub fn is_owner(me: &str, members: &[String], target_key: &str, replication: usize) -> bool {
    owners(members, target_key, replication).contains(&me)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("scraper-{i}")).collect()
    }

    fn targets(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("10.0.{}.{}:9100", i / 250, i % 250))
            .collect()
    }

    #[test]
    fn every_target_has_exactly_one_owner() {
        let fleet = members(5);
        for target in targets(2_000) {
            let owning = fleet
                .iter()
                .filter(|m| is_owner(m, &fleet, &target, 1))
                .count();
            assert_eq!(owning, 1, "{target}");
        }
    }

    #[test]
    fn load_is_spread_evenly() {
        let fleet = members(4);
        let mut per_member: HashMap<&str, usize> = HashMap::new();
        for target in targets(4_000) {
            *per_member.entry(owners(&fleet, &target, 1)[0]).or_default() += 1;
        }
        for (member, count) in per_member {
            assert!(
                (800..1_200).contains(&count),
                "{member} owns {count} of 4000"
            );
        }
    }

    #[test]
    fn a_member_leaving_moves_only_its_targets() {
        let fleet = members(5);
        let remaining: Vec<String> = fleet
            .iter()
            .filter(|m| *m != "scraper-2")
            .cloned()
            .collect();
        for target in targets(2_000) {
            let before = owners(&fleet, &target, 1)[0];
            let after = owners(&remaining, &target, 1)[0];
            if before != "scraper-2" {
                assert_eq!(before, after, "{target} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn a_member_joining_takes_only_targets_it_now_owns() {
        let fleet = members(4);
        let grown = members(5);
        let mut moved = 0;
        for target in targets(2_000) {
            let before = owners(&fleet, &target, 1)[0];
            let after = owners(&grown, &target, 1)[0];
            if before != after {
                assert_eq!(after, "scraper-4");
                moved += 1;
            }
        }
        assert!((300..500).contains(&moved), "{moved} of 2000 moved");
    }

    #[test]
    fn replication_gives_distinct_owners_and_survives_one_loss() {
        let fleet = members(5);
        for target in targets(500) {
            let two = owners(&fleet, &target, 2);
            assert_eq!(two.len(), 2);
            assert_ne!(two[0], two[1]);
            let without_first: Vec<String> =
                fleet.iter().filter(|m| *m != two[0]).cloned().collect();
            // The runner-up keeps the target when the first owner leaves.
            assert!(owners(&without_first, &target, 2).contains(&two[1]));
        }
    }

    #[test]
    fn replication_beyond_the_fleet_size_uses_every_member() {
        let fleet = members(2);
        assert_eq!(owners(&fleet, "t", 3).len(), 2);
    }
}
