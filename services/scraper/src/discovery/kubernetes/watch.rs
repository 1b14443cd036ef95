//! List+watch of one kind of object, kept as a map of translated values, published as
//! complete replacements.
//!
//! `kube::runtime::watcher` does the protocol: an initial (paged) list, then a watch from
//! its `resourceVersion`, resuming from the last version seen when a stream ends and
//! re-listing after `410 Gone`; errors are yielded and the next poll waits with the
//! watcher's default backoff (client-go's: 0.8 s doubling to 30 s, with jitter). This module
//! turns its events into state:
//!
//! - objects are translated once per event (a Pod into its target group, an EndpointSlice
//!   into its members) and kept by `namespace/name`; the raw objects are not kept;
//! - a (re)list is buffered from `Init` to `InitDone` and then swapped in whole, so objects
//!   deleted while the watch was down disappear, and until the swap the last good state
//!   stays published: an API outage never empties a job's targets;
//! - an event whose translation equals what is already known publishes nothing (node
//!   heartbeats, pod status churn), and publishes are at most one per
//!   [`PUBLISH_MIN_INTERVAL`]: the job re-relabels all its targets on every publish, so a
//!   burst of pod events becomes one re-sync, the way Prometheus' discovery manager batches
//!   updates (every 5 s there).
//!
//! Several namespaces are several watchers merged into one stream, each with its own map.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use futures_util::StreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt as _;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The shortest time between two publishes of one watch.
pub const PUBLISH_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// The translated objects of one watcher.
#[derive(Debug)]
pub struct ObjectCache<T> {
    objects: BTreeMap<String, T>,
    /// Objects of a list in progress (between `Init` and `InitDone`).
    relist: Option<BTreeMap<String, T>>,
}

impl<T> Default for ObjectCache<T> {
    fn default() -> Self {
        ObjectCache {
            objects: BTreeMap::new(),
            relist: None,
        }
    }
}

/// The key of an object: `namespace/name` (`/name` for cluster-scoped objects).
pub fn object_key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

impl<T: PartialEq> ObjectCache<T> {
    /// Applies one watcher event; true when the known state changed. `translate` returns
    /// `None` for an object that contributes nothing (it is then forgotten).
    pub fn apply<K: Resource>(
        &mut self,
        event: Event<K>,
        translate: &impl Fn(&K) -> Option<T>,
    ) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                let relist = self.relist.get_or_insert_with(BTreeMap::new);
                if let Some(value) = translate(&object) {
                    relist.insert(object_key(&object), value);
                }
                false
            }
            Event::InitDone => {
                let listed = self.relist.take().unwrap_or_default();
                let changed = listed != self.objects;
                self.objects = listed;
                changed
            }
            Event::Apply(object) => {
                let key = object_key(&object);
                match translate(&object) {
                    Some(value) => {
                        if self.objects.get(&key) == Some(&value) {
                            false
                        } else {
                            self.objects.insert(key, value);
                            true
                        }
                    }
                    None => self.objects.remove(&key).is_some(),
                }
            }
            Event::Delete(object) => self.objects.remove(&object_key(&object)).is_some(),
        }
    }

    /// The known values, by key.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.objects.values()
    }
}

/// Watches `apis` (one per namespace, or one for the whole cluster) until `shutdown`,
/// calling `publish` with every watcher's state after changes and `on_error` for each
/// error (the watcher then backs off and recovers by itself).
pub async fn watch_objects<K, T>(
    apis: Vec<Api<K>>,
    config: watcher::Config,
    translate: impl Fn(&K) -> Option<T>,
    mut publish: impl FnMut(&[ObjectCache<T>]),
    on_error: impl Fn(watcher::Error),
    shutdown: CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    T: PartialEq,
{
    let streams = apis.into_iter().enumerate().map(|(index, api)| {
        watcher::watcher(api, config.clone())
            .default_backoff()
            .map(move |event| (index, event))
            .boxed()
    });
    let mut caches: Vec<ObjectCache<T>> = Vec::new();
    let mut events = futures_util::stream::select_all(streams);
    caches.resize_with(events.len(), ObjectCache::default);
    let mut dirty = false;
    let mut last_publish: Option<Instant> = None;
    loop {
        let due = last_publish.map_or_else(Instant::now, |t| t + PUBLISH_MIN_INTERVAL);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(due), if dirty => {}
            next = events.next() => match next {
                Some((index, Ok(event))) => {
                    if let Some(cache) = caches.get_mut(index) {
                        dirty |= cache.apply(event, &translate);
                    }
                }
                Some((_, Err(err))) => on_error(err),
                // A watcher stream never ends; without any there is nothing to watch.
                None => return,
            },
        }
        if dirty && Instant::now() >= due {
            publish(&caches);
            dirty = false;
            last_publish = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn config_map(name: &str, value: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"},
            "data": {"v": value}
        }))
        .unwrap()
    }

    /// Translates to the `v` value; `skip` stands for an object with no targets.
    fn translate(object: &ConfigMap) -> Option<String> {
        let value = object.data.as_ref()?.get("v")?.clone();
        (value != "skip").then_some(value)
    }

    fn values(cache: &ObjectCache<String>) -> Vec<&str> {
        cache.values().map(String::as_str).collect()
    }

    #[test]
    fn a_relist_replaces_the_state_only_when_complete() {
        let mut cache = ObjectCache::default();
        assert!(!cache.apply(Event::Init, &translate));
        assert!(!cache.apply(Event::InitApply(config_map("a", "1")), &translate));
        assert!(!cache.apply(Event::InitApply(config_map("b", "2")), &translate));
        assert!(values(&cache).is_empty(), "nothing before InitDone");
        assert!(cache.apply(Event::InitDone, &translate));
        assert_eq!(values(&cache), ["1", "2"]);

        // A re-list after an outage: `b` was deleted meanwhile. Until InitDone the last
        // good state stays.
        assert!(!cache.apply(Event::Init, &translate));
        assert!(!cache.apply(Event::InitApply(config_map("a", "1")), &translate));
        assert_eq!(values(&cache), ["1", "2"]);
        assert!(cache.apply(Event::InitDone, &translate));
        assert_eq!(values(&cache), ["1"]);

        // The same list again changes nothing.
        cache.apply(Event::Init, &translate);
        cache.apply(Event::InitApply(config_map("a", "1")), &translate);
        assert!(!cache.apply(Event::InitDone, &translate));
    }

    #[test]
    fn events_change_the_state_only_when_the_translation_changes() {
        let mut cache = ObjectCache::default();
        assert!(cache.apply(Event::Apply(config_map("a", "1")), &translate));
        assert!(
            !cache.apply(Event::Apply(config_map("a", "1")), &translate),
            "same translation"
        );
        assert!(cache.apply(Event::Apply(config_map("a", "2")), &translate));
        assert_eq!(values(&cache), ["2"]);
        assert!(
            cache.apply(Event::Apply(config_map("a", "skip")), &translate),
            "an object that no longer translates is forgotten"
        );
        assert!(values(&cache).is_empty());
        assert!(!cache.apply(Event::Apply(config_map("b", "skip")), &translate));
        cache.apply(Event::Apply(config_map("c", "3")), &translate);
        assert!(cache.apply(Event::Delete(config_map("c", "3")), &translate));
        assert!(!cache.apply(Event::Delete(config_map("c", "3")), &translate));
        assert!(values(&cache).is_empty());
    }
}
