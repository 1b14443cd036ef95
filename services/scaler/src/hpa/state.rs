//! The controller's memory of one HPA, which upstream keeps in process and we hand to the
//! caller: recent recommendations (for stabilization) and recent scale changes (for the
//! behavior rate limits).
//!
//! Follows `recordInitialRecommendation` and `storeScaleEvent`/`markScaleEventsOutdated` in
//! `horizontal.go` (Kubernetes 1.34). Keeping it in a serde type means a restarted scaler can
//! reload it instead of starting over, and `explain` can take it as a document. An event's
//! `outdated` flag is kept as upstream keeps it (once marked, its slot may be reused even if
//! the policies later grow longer).

use serde::{Deserialize, Serialize};

use super::settings::Behavior;
use crate::time::rfc3339_ms;

/// The controller's memory of one HPA: recent unstabilized recommendations and, with
/// `behavior`, recent scale changes. Empty means "first time seen".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaState {
    #[serde(default)]
    pub recommendations: Vec<Recommendation>,
    #[serde(default)]
    pub scale_up_events: Vec<ScaleEvent>,
    #[serde(default)]
    pub scale_down_events: Vec<ScaleEvent>,
}

/// `timestampedRecommendation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recommendation {
    pub replicas: i32,
    #[serde(rename = "timestamp", with = "rfc3339_ms")]
    pub timestamp_ms: i64,
}

/// `timestampedScaleEvent`: how many replicas one rescale added (or removed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleEvent {
    pub replica_change: i32,
    #[serde(rename = "timestamp", with = "rfc3339_ms")]
    pub timestamp_ms: i64,
    /// Older than the longest policy period when last checked: the slot may be reused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub outdated: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl HpaState {
    /// `recordInitialRecommendation`: the first sync remembers the current replicas as a
    /// recommendation, so a scale-down waits a full stabilization window after the
    /// controller first sees the HPA.
    pub fn record_initial(&mut self, current_replicas: i32, now_ms: i64) {
        if self.recommendations.is_empty() {
            self.recommendations.push(Recommendation {
                replicas: current_replicas,
                timestamp_ms: now_ms,
            });
        }
    }

    /// Replaces the recommendation at `old_index`, or appends one.
    pub(crate) fn store_recommendation(
        &mut self,
        old_index: Option<usize>,
        replicas: i32,
        now_ms: i64,
    ) {
        let entry = Recommendation {
            replicas,
            timestamp_ms: now_ms,
        };
        match old_index.and_then(|index| self.recommendations.get_mut(index)) {
            Some(slot) => *slot = entry,
            None => self.recommendations.push(entry),
        }
    }
}

/// `storeScaleEvent`: remembers a rescale from `previous` to `new` replicas, reusing the slot
/// of the last event older than the longest policy period of that direction.
pub fn store_scale_event(
    state: &mut HpaState,
    behavior: &Behavior,
    previous: i32,
    new: i32,
    now_ms: i64,
) {
    let (events, rules, change) = if new > previous {
        (
            &mut state.scale_up_events,
            &behavior.scale_up,
            i64::from(new) - i64::from(previous),
        )
    } else {
        (
            &mut state.scale_down_events,
            &behavior.scale_down,
            i64::from(previous) - i64::from(new),
        )
    };
    let cutoff_ms = now_ms.saturating_sub(i64::from(rules.longest_policy_period_seconds()) * 1000);
    let mut old_index = None;
    for (index, event) in events.iter_mut().enumerate() {
        if event.timestamp_ms < cutoff_ms {
            event.outdated = true;
        }
        if event.outdated {
            old_index = Some(index);
        }
    }
    let event = ScaleEvent {
        replica_change: i32::try_from(change).unwrap_or(i32::MAX),
        timestamp_ms: now_ms,
        outdated: false,
    };
    match old_index.and_then(|index| events.get_mut(index)) {
        Some(slot) => *slot = event,
        None => events.push(event),
    }
}

/// Builders for scale-event tests, shared by the tests here and in `limits`.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::ScaleEvent;
    use crate::hpa::settings::ScalingRules;
    use crate::hpa::spec::{HpaScalingPolicy, SelectPolicy};

    /// The time of the sync under test.
    pub(crate) const NOW_MS: i64 = 1_800_000_000_000;

    /// Rules with these policies, no stabilization window and no per-direction tolerance.
    pub(crate) fn rules(
        policies: Vec<HpaScalingPolicy>,
        select_policy: SelectPolicy,
    ) -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: 0,
            select_policy,
            policies,
            tolerance: None,
        }
    }

    /// A current (not outdated) event `age_seconds` before [`NOW_MS`].
    pub(crate) fn event(change: i32, age_seconds: i64) -> ScaleEvent {
        ScaleEvent {
            replica_change: change,
            timestamp_ms: NOW_MS - age_seconds * 1000,
            outdated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{event, rules, NOW_MS};
    use super::*;
    use crate::hpa::spec::{HpaScalingPolicy, SelectPolicy};

    #[test]
    fn first_sync_records_current_replicas_once() {
        let mut state = HpaState::default();
        state.record_initial(3, NOW_MS);
        state.record_initial(7, NOW_MS + 1000);
        assert_eq!(
            state.recommendations,
            vec![Recommendation {
                replicas: 3,
                timestamp_ms: NOW_MS
            }]
        );
    }

    #[test]
    fn scale_events_reuse_the_slot_of_the_last_outdated_event() {
        let behavior = Behavior {
            scale_up: rules(
                vec![
                    HpaScalingPolicy::pods(4, 60),
                    HpaScalingPolicy::pods(4, 120),
                ],
                SelectPolicy::Max,
            ),
            scale_down: rules(vec![HpaScalingPolicy::pods(1, 30)], SelectPolicy::Max),
        };
        let mut state = HpaState {
            scale_up_events: vec![event(1, 300), event(2, 200), event(3, 100)],
            ..HpaState::default()
        };
        store_scale_event(&mut state, &behavior, 5, 9, NOW_MS);
        assert_eq!(
            state.scale_up_events[0],
            ScaleEvent {
                replica_change: 1,
                timestamp_ms: NOW_MS - 300_000,
                outdated: true
            }
        );
        assert_eq!(state.scale_up_events[1], event(4, 0));
        assert_eq!(state.scale_up_events[2], event(3, 100));
        store_scale_event(&mut state, &behavior, 9, 7, NOW_MS);
        assert_eq!(state.scale_down_events, vec![event(2, 0)]);
    }
}
