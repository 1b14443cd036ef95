//! Target discovery: sources that produce target groups, as Prometheus' `discovery` does.
//!
//! Every mechanism (static lists, `file_sd` files, the Kubernetes API) reports complete
//! replacements of the groups it owns, keyed by a `source` string, on a `watch` channel. The
//! job's target set is the union over its providers' latest reports, so a provider that
//! fails keeps its last good groups instead of making targets vanish (which would write
//! stale markers for healthy targets).

pub mod file_sd;
pub mod kubernetes;

use std::collections::BTreeMap;

use serde::Deserialize;

/// A label set as discovery produces it; ordered so that identities are stable.
pub type LabelMap = BTreeMap<String, String>;

/// Targets sharing labels, as in Prometheus' `targetgroup.Group`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Identifies the group within its provider (a file name and index, a pod uid, ...).
    pub source: String,
    /// One label set per target; each has at least `__address__`.
    pub targets: Vec<LabelMap>,
    /// Labels common to every target of the group.
    pub labels: LabelMap,
}

/// The shape of a `static_configs` entry and of one element of a `file_sd` file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels added to every target of the entry.
    pub labels: LabelMap,
}

impl StaticConfig {
    /// The group this entry describes.
    pub fn to_group(&self, source: String) -> TargetGroup {
        TargetGroup {
            source,
            targets: self
                .targets
                .iter()
                .map(|address| LabelMap::from([(ADDRESS_LABEL.to_string(), address.clone())]))
                .collect(),
            labels: self.labels.clone(),
        }
    }
}

/// Replaces the value on `sender` only when it differs, so receivers wake up (and jobs
/// re-sync their targets) only for real changes. Returns whether it changed.
pub fn publish_if_changed<T: PartialEq>(sender: &tokio::sync::watch::Sender<T>, value: T) -> bool {
    sender.send_if_modified(|current| {
        if *current == value {
            false
        } else {
            *current = value;
            true
        }
    })
}

/// The label that carries a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";
