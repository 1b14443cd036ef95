//! Fleet sharding with real members on loopback: every target is scraped by exactly one
//! live member (or exactly R with `replication: R`), and when a member leaves only its
//! targets move.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use support::*;
use tokio::net::TcpListener;

const MEMBERS: usize = 3;
const TARGETS: usize = 24;

struct Fleet {
    members: Vec<Option<ScraperHandle>>,
    exporters: Vec<Exporter>,
}

async fn start_fleet(replication: usize) -> Fleet {
    let mut exporters = Vec::new();
    for i in 0..TARGETS {
        exporters.push(Exporter::start(&format!("target_index {i}\n")).await);
    }
    let mut listeners = Vec::new();
    for _ in 0..MEMBERS {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let members_yaml: String = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "\n    - {{name: member-{i}, url: \"http://{}/\"}}",
                l.local_addr().unwrap()
            )
        })
        .collect();
    let targets: Vec<String> = exporters
        .iter()
        .map(|e| format!("\"{}\"", e.addr))
        .collect();
    let mut members = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let yaml = format!(
            r#"
scrape_configs:
  - job_name: fleet
    static_configs: [{{targets: [{targets}]}}]
fleet:
  self: member-{i}
  replication: {replication}
  health_check_interval: 200ms
  failure_threshold: 2
  members:{members_yaml}
"#,
            targets = targets.join(", ")
        );
        let settings = tachyscale_config::parse::<
            tachyscale_scraper::config::RawScraperConfig,
            tachyscale_scraper::ScraperSettings,
        >(&yaml)
        .unwrap();
        members.push(Some(ScraperHandle::start_on(settings, listener).await));
    }
    Fleet { members, exporters }
}

impl Fleet {
    fn assignments(&self) -> BTreeMap<usize, BTreeSet<String>> {
        self.members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, m.as_ref()?.scraped_urls().into_iter().collect())))
            .collect()
    }

    fn all_urls(&self) -> BTreeSet<String> {
        self.exporters
            .iter()
            .map(|e| format!("http://{}/metrics", e.addr))
            .collect()
    }

    /// How many members scrape each target.
    fn coverage(&self) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> =
            self.all_urls().into_iter().map(|u| (u, 0)).collect();
        for urls in self.assignments().values() {
            for url in urls {
                *counts.entry(url.clone()).or_default() += 1;
            }
        }
        counts
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_has_one_owner_and_a_leaving_member_moves_only_its_targets() {
    let mut fleet = start_fleet(1).await;
    wait_until(
        "every target owned once",
        Duration::from_secs(20),
        || async { fleet.coverage().values().all(|&n| n == 1) },
    )
    .await;
    let before = fleet.assignments();
    assert!(
        before.values().all(|urls| !urls.is_empty()),
        "rendezvous left a member idle: {before:?}"
    );
    // Every target is really being scraped.
    wait_until(
        "every exporter scraped",
        Duration::from_secs(20),
        || async { fleet.exporters.iter().all(|e| e.requests() > 0) },
    )
    .await;

    // member-1 leaves: its readyz turns 503 and its peers stop seeing it.
    let leaving = fleet.members[1].take().unwrap();
    leaving.stop().await;
    wait_until(
        "member-1's targets taken over",
        Duration::from_secs(20),
        || async { fleet.coverage().values().all(|&n| n == 1) },
    )
    .await;
    let after = fleet.assignments();
    for survivor in [0, 2] {
        let kept = &before[&survivor];
        let now = &after[&survivor];
        assert!(kept.is_subset(now), "member-{survivor} lost targets");
        let gained: BTreeSet<_> = now.difference(kept).cloned().collect();
        assert!(
            gained.is_subset(&before[&1]),
            "member-{survivor} took targets that were not member-1's: {gained:?}"
        );
    }
    for member in fleet.members.iter_mut().filter_map(Option::take) {
        member.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_two_scrapes_each_target_on_exactly_two_members() {
    let mut fleet = start_fleet(2).await;
    wait_until(
        "every target owned twice",
        Duration::from_secs(20),
        || async { fleet.coverage().values().all(|&n| n == 2) },
    )
    .await;
    for member in fleet.members.iter_mut().filter_map(Option::take) {
        member.stop().await;
    }
}
