//! Fleet membership: which members are live, for rendezvous sharding.
//!
//! Static members are probed on their `/readyz`; a peer that fails `failure_threshold`
//! probes in a row is out, and back in after one success. The member itself is always
//! live. At start every listed peer is presumed live, so that a restart does not make this
//! member scrape its peers' targets (and write duplicates) for the first few seconds; a
//! peer that is really down is noticed after `failure_threshold` probes. A draining member
//! answers 503 on `/readyz`, so its peers take over its targets before it stops.
//!
//! With `fleet.kubernetes` there is no probing: the live members are the ready pods of the
//! scrapers' Service, from its EndpointSlices (see
//! [`crate::discovery::kubernetes::members`]), and the set stays empty until the first list
//! arrives, so that a member that cannot reach the API server scrapes nothing instead of
//! duplicating its peers' work.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::discovery::kubernetes::members::{watch_members, FleetKubernetesSettings, FleetView};
use crate::discovery::kubernetes::{error_chain, ErrorSink};
use crate::metrics::ScraperMetrics;
use crate::settings::FleetSettings;

/// Tracks consecutive probe failures and derives the live set.
#[derive(Debug, Clone)]
pub struct Membership {
    self_name: String,
    failure_threshold: u32,
    failures: BTreeMap<String, u32>,
}

impl Membership {
    pub fn new(
        self_name: &str,
        peers: impl IntoIterator<Item = String>,
        failure_threshold: u32,
    ) -> Self {
        Membership {
            self_name: self_name.to_string(),
            failure_threshold,
            failures: peers
                .into_iter()
                .filter(|p| p != self_name)
                .map(|p| (p, 0))
                .collect(),
        }
    }

    /// Records a probe result.
    pub fn observe(&mut self, peer: &str, healthy: bool) {
        if let Some(count) = self.failures.get_mut(peer) {
            *count = if healthy { 0 } else { count.saturating_add(1) };
        }
    }

    /// Live members, sorted, including this one.
    pub fn live(&self) -> Vec<String> {
        let mut live: Vec<String> = self
            .failures
            .iter()
            .filter(|(_, failures)| **failures < self.failure_threshold)
            .map(|(name, _)| name.clone())
            .collect();
        live.push(self.self_name.clone());
        live.sort();
        live
    }

    pub fn peers(&self) -> usize {
        self.failures.len()
    }
}

/// Publishes the live member list; with no static members, just this member.
pub fn start(
    settings: &FleetSettings,
    metrics: ScraperMetrics,
    shutdown: CancellationToken,
) -> watch::Receiver<Vec<String>> {
    if let Some(kubernetes) = &settings.kubernetes {
        return start_kubernetes(kubernetes.clone(), &settings.self_name, metrics, shutdown);
    }
    let membership = Membership::new(
        &settings.self_name,
        settings.members.iter().map(|m| m.name.clone()),
        settings.failure_threshold,
    );
    let (sender, receiver) = watch::channel(membership.live());
    metrics
        .fleet_members
        .with_label_values(&["live"])
        .set(membership.live().len() as i64);
    metrics.fleet_members.with_label_values(&["down"]).set(0);
    if membership.peers() == 0 {
        return receiver;
    }
    let peers: Vec<(String, url::Url)> = settings
        .members
        .iter()
        .filter(|m| m.name != settings.self_name)
        .filter_map(|m| Some((m.name.clone(), m.url.join("readyz").ok()?)))
        .collect();
    let interval = settings.health_check_interval;
    tokio::spawn(probe_loop(
        membership, peers, interval, sender, metrics, shutdown,
    ));
    receiver
}

/// Members from EndpointSlices: empty until the first list, then the ready pods.
fn start_kubernetes(
    settings: FleetKubernetesSettings,
    self_name: &str,
    metrics: ScraperMetrics,
    shutdown: CancellationToken,
) -> watch::Receiver<Vec<String>> {
    let (sender, receiver) = watch::channel(Vec::new());
    metrics.fleet_members.with_label_values(&["live"]).set(0);
    metrics.fleet_members.with_label_values(&["down"]).set(0);
    let errors = metrics.sd_errors.clone();
    let on_error: ErrorSink = Box::new(move |err| {
        errors.with_label_values(&["fleet", err.reason()]).inc();
        tracing::warn!(error = %error_chain(err), "fleet membership watch failed");
    });
    let self_name = self_name.to_string();
    let mut warned_absent = false;
    let publish = move |view: FleetView| {
        metrics
            .fleet_members
            .with_label_values(&["live"])
            .set(view.live.len() as i64);
        metrics
            .fleet_members
            .with_label_values(&["down"])
            .set(view.down.len() as i64);
        let listed = view.live.contains(&self_name) || view.down.contains(&self_name);
        if !listed && !warned_absent {
            // Likely a wrong `fleet.self` (it must be the pod name) or Service.
            tracing::warn!(member = %self_name, "this member is not among the service endpoints");
            warned_absent = true;
        }
        let live = view.live;
        publish_members(&sender, live);
    };
    tokio::spawn(watch_members(settings, publish, on_error, shutdown));
    receiver
}

async fn probe_loop(
    mut membership: Membership,
    peers: Vec<(String, url::Url)>,
    interval: Duration,
    sender: watch::Sender<Vec<String>>,
    metrics: ScraperMetrics,
    shutdown: CancellationToken,
) {
    let client = reqwest::Client::builder()
        .timeout(interval)
        .build()
        .unwrap_or_default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // Probe every peer at once, so one slow peer does not delay noticing another.
        let probes: Vec<_> = peers
            .iter()
            .map(|(name, url)| {
                let request = client.get(url.clone());
                let name = name.clone();
                tokio::spawn(async move {
                    let healthy = matches!(request.send().await, Ok(r) if r.status().is_success());
                    (name, healthy)
                })
            })
            .collect();
        for probe in probes {
            if let Ok((name, healthy)) = probe.await {
                membership.observe(&name, healthy);
            }
        }
        let live = membership.live();
        metrics
            .fleet_members
            .with_label_values(&["live"])
            .set(live.len() as i64);
        metrics
            .fleet_members
            .with_label_values(&["down"])
            .set((membership.peers() + 1 - live.len()) as i64);
        publish_members(&sender, live);
    }
}

/// Publishes a changed live set, and logs it.
fn publish_members(sender: &watch::Sender<Vec<String>>, live: Vec<String>) {
    if crate::discovery::publish_if_changed(sender, live) {
        tracing::info!(live = ?*sender.borrow(), "fleet membership changed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_leaves_after_the_threshold_and_returns_after_one_success() {
        let mut m = Membership::new("a", ["a".into(), "b".into(), "c".into()], 2);
        assert_eq!(m.live(), ["a", "b", "c"]);
        m.observe("b", false);
        assert_eq!(m.live(), ["a", "b", "c"], "one failure is not enough");
        m.observe("b", false);
        assert_eq!(m.live(), ["a", "c"]);
        m.observe("b", true);
        assert_eq!(m.live(), ["a", "b", "c"]);
        m.observe("a", false);
        assert!(m.live().contains(&"a".to_string()), "self is always live");
    }
}
