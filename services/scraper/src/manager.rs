//! Runs each job: merges its discovery providers' groups, keeps the targets this member
//! owns, and starts or stops one scrape loop per target as the set changes.
//!
//! A target is identified by its key (URL and final labels); a target whose labels change
//! is a different target, so its old loop ends (writing stale markers) and a new one
//! starts, as in Prometheus' `scrapePool.Sync`. A target that moved to another fleet member
//! ends without stale markers (its series continue there), and so do all loops at
//! shutdown. Stopped loops finish on their own; the job waits for all of them only at
//! shutdown, so that any markers reach the sender before it flushes.

use std::collections::HashSet;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tachyscale_exposition::Limits;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::discovery::{LabelMap, TargetGroup};
use crate::metrics::ScraperMetrics;
use crate::schedule::Schedule;
use crate::scrape::http_source::HttpSource;
use crate::scrape::{ScrapeLoop, TargetStatus};
use crate::settings::JobSettings;
use crate::shard;
use crate::target::{targets_from_groups, Populated, Target};
use crate::SampleSink;

/// Capacity of a job's "discovery changed" signal. One pending signal is enough: the job
/// re-reads every provider's latest groups when it wakes, so a full queue drops the signal.
pub const DIRTY_SIGNAL_CAPACITY: usize = 1;

/// A target being scraped, as `/api/v1/targets` shows it.
#[derive(Clone)]
pub struct ActiveTarget {
    pub target: Arc<Target>,
    pub status: Arc<TargetStatus>,
}

/// Per job: what is scraped here and what was dropped.
#[derive(Clone, Default)]
pub struct JobView {
    pub active: Vec<ActiveTarget>,
    pub dropped: Vec<LabelMap>,
    pub not_owned: usize,
}

/// Shared with the HTTP API.
#[derive(Default)]
pub struct TargetsView {
    pub jobs: RwLock<BTreeMap<String, JobView>>,
}

/// What every job shares.
#[derive(Clone)]
pub struct Shared {
    pub sink: Arc<dyn SampleSink>,
    pub metrics: ScraperMetrics,
    pub slots: Arc<Semaphore>,
    pub view: Arc<TargetsView>,
    pub fleet: watch::Receiver<Vec<String>>,
    pub self_name: String,
    pub replication: usize,
    /// Whether membership matters (a static fleet is configured).
    pub sharded: bool,
}

struct Running {
    stop: CancellationToken,
    /// Whether the loop ends its series with stale markers when stopped.
    stale_on_stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    active: ActiveTarget,
}

/// One job's target set and loops.
pub struct JobRunner {
    pub settings: JobSettings,
    pub client: reqwest::Client,
    pub providers: Vec<watch::Receiver<Vec<TargetGroup>>>,
    pub dirty: mpsc::Receiver<()>,
    pub shared: Shared,
}

impl JobRunner {
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut running: HashMap<String, Running> = HashMap::new();
        let mut finished: Vec<JoinHandle<()>> = Vec::new();
        let mut fleet = self.shared.fleet.clone();
        // A job with only static targets has no provider that signals: its channel closes
        // at once, which must not end the job.
        let mut dirty_open = true;
        let mut fleet_open = true;
        loop {
            self.sync(
                &mut running,
                &mut finished,
                &fleet.borrow_and_update().clone(),
            );
            finished.retain(|h| !h.is_finished());
            tokio::select! {
                _ = shutdown.cancelled() => break,
                signal = self.dirty.recv(), if dirty_open => dirty_open = signal.is_some(),
                changed = fleet.changed(), if fleet_open => fleet_open = changed.is_ok(),
            }
        }
        for (_, run) in running.drain() {
            run.stop.cancel();
            finished.push(run.handle);
        }
        for handle in finished {
            let _ = handle.await;
        }
        self.shared.view.jobs.write().remove(&self.settings.name);
    }

    fn sync(
        &mut self,
        running: &mut HashMap<String, Running>,
        finished: &mut Vec<JoinHandle<()>>,
        members: &[String],
    ) {
        let groups: Vec<TargetGroup> = self
            .providers
            .iter()
            .flat_map(|p| p.borrow().clone())
            .collect();
        let job = self.settings.name.clone();
        let mut wanted: HashMap<String, Target> = HashMap::new();
        let mut dropped = Vec::new();
        let mut invalid = 0;
        let mut not_owned = 0;
        let mut owned_elsewhere: HashSet<String> = HashSet::new();
        for populated in targets_from_groups(&self.settings.defaults, &groups) {
            match populated {
                Populated::Target(target) => {
                    let shard_key = format!("{job}\u{0}{}", target.key);
                    if self.shared.sharded
                        && !shard::is_owner(
                            &self.shared.self_name,
                            members,
                            &shard_key,
                            self.shared.replication,
                        )
                    {
                        not_owned += 1;
                        owned_elsewhere.insert(target.key.clone());
                        continue;
                    }
                    wanted.insert(target.key.clone(), *target);
                }
                Populated::Dropped(labels) => dropped.push(labels),
                Populated::Invalid(labels, err) => {
                    invalid += 1;
                    tracing::warn!(job = %job, labels = ?labels, error = %err, "invalid target");
                    dropped.push(labels);
                }
            }
        }
        // Stopped loops keep running until their stale markers are written; their handles
        // are kept so shutdown can wait for them.
        let gone: Vec<String> = running
            .keys()
            .filter(|key| !wanted.contains_key(*key))
            .cloned()
            .collect();
        for key in gone {
            if let Some(run) = running.remove(&key) {
                // A target handed to another member continues there: no stale markers.
                if !owned_elsewhere.contains(&key) {
                    run.stale_on_stop.store(true, Ordering::Release);
                }
                run.stop.cancel();
                finished.push(run.handle);
            }
        }
        for (key, target) in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(key) {
                slot.insert(self.start(target));
            }
        }
        let metrics = &self.shared.metrics;
        metrics
            .targets
            .with_label_values(&[&job])
            .set(running.len() as i64);
        metrics
            .targets_not_owned
            .with_label_values(&[&job])
            .set(not_owned as i64);
        metrics
            .targets_invalid
            .with_label_values(&[&job])
            .set(invalid as i64);
        let mut active: Vec<ActiveTarget> = running.values().map(|r| r.active.clone()).collect();
        active.sort_by(|a, b| a.target.key.cmp(&b.target.key));
        self.shared.view.jobs.write().insert(
            job,
            JobView {
                active,
                dropped,
                not_owned,
            },
        );
    }

    fn start(&self, target: Target) -> Running {
        let target = Arc::new(target);
        let status = Arc::new(TargetStatus::default());
        let stop = CancellationToken::new();
        let stale_on_stop = Arc::new(AtomicBool::new(false));
        let options = self.settings.sample_options.clone();
        let source = HttpSource::new(
            self.client.clone(),
            target.url.clone(),
            self.settings.bearer_token_file.clone(),
            self.settings.body_limit_bytes,
            Limits::default(),
        );
        let scrape_loop = ScrapeLoop {
            job: Arc::from(self.settings.name.as_str()),
            target_labels: target.labels.clone(),
            schedule: Schedule::for_target(target.interval, target.hash),
            timeout: target.timeout,
            options,
            source,
            sink: self.shared.sink.clone(),
            metrics: self.shared.metrics.clone(),
            slots: self.shared.slots.clone(),
            status: status.clone(),
            stale_on_stop: stale_on_stop.clone(),
        };
        let handle = tokio::spawn(scrape_loop.run(stop.clone()));
        Running {
            stop,
            stale_on_stop,
            handle,
            active: ActiveTarget { target, status },
        }
    }
}
