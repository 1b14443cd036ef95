//! The scrape role: a fleet member that discovers targets, scrapes them on an aligned
//! 1–2 s schedule, parses their expositions strictly, relabels, marks vanished series
//! stale, and ships the samples to remote-write destinations.
//!
//! - [`discovery`]: static, `file_sd` and Kubernetes target groups.
//! - [`target`]: discovered labels → targets (Prometheus' `PopulateLabels`).
//! - [`schedule`], [`scrape`]: aligned instants; one loop per target (fetch, parse, append,
//!   report, staleness).
//! - [`node_agent`]: the node's cgroup v2 tree as a 1 s target.
//! - [`shard`], [`fleet`]: rendezvous ownership over the live members.
//! - [`manager`]: target sets per job, loops started and stopped as they change.
//! - [`server`]: the role's wiring and lifecycle; [`api`]: its HTTP surface.
//!
//! The parsers (`tachyscale-exposition`), relabeling (`tachyscale-relabel`), cgroup reading
//! (`tachyscale-cgroup`) and the remote-write client (`tachyscale-sender`) are crates of
//! their own; this crate wires them to the network and the clock.

pub mod api;
pub mod config;
pub mod discovery;
pub mod fleet;
pub mod manager;
pub mod metrics;
pub mod node_agent;
pub mod relabel;
pub mod schedule;
pub mod scrape;
pub mod server;
pub mod settings;
pub mod shard;
pub mod size;
pub mod target;

pub use server::Scraper;
pub use settings::ScraperSettings;

use tachyscale_sender::SeriesSample;

/// Where scrape loops hand their samples. It must not block: a loop calls it between
/// scrapes, and a blocked loop would miss its schedule.
pub trait SampleSink: Send + Sync {
    fn send(&self, samples: &[SeriesSample]);
}

impl SampleSink for tachyscale_sender::SenderHandle {
    fn send(&self, samples: &[SeriesSample]) {
        self.enqueue(samples);
    }
}
