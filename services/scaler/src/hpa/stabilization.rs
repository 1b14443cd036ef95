//! Stabilization: a recommendation is held against the recent ones so replicas do not
//! flap when the metrics do.
//!
//! Follows `stabilizeRecommendation` (HPAs without `behavior`: the highest recommendation of
//! the downscale window) and `stabilizeRecommendationWithBehaviors` (HPAs with `behavior`:
//! current replicas moved towards the recommendation, but no higher than the lowest one of
//! the scale-up window and no lower than the highest one of the scale-down window) in
//! `horizontal.go` (Kubernetes 1.34). Both record the new recommendation, reusing the slot of
//! the last entry that has left every window.
//!
//! Time comparisons keep upstream's strictness: with `behavior`, an entry exactly at a
//! window's start is outside it (`After(cutoff)`); without, an entry exactly at the cutoff
//! still counts (only `Before(cutoff)` entries are old). Entries are replaced only when
//! strictly older than the cutoffs.

use serde::{Deserialize, Serialize};

use super::settings::Behavior;
use super::state::HpaState;

/// How stabilization changed a recommendation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stabilization {
    /// The recommendation from the metrics (before stabilization).
    pub recommendation: i32,
    /// Scale-up window (behavior only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_window_seconds: Option<i32>,
    pub down_window_seconds: i32,
    /// Lowest recommendation in the scale-up window (behavior only): the most a scale-up
    /// may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_recommendation: Option<i32>,
    /// Highest recommendation in the scale-down window: the least a scale-down may reach.
    pub down_recommendation: i32,
    pub stabilized: i32,
    /// `AbleToScale` reason: `ScaleUpStabilized`, `ScaleDownStabilized` or `ReadyForNewScale`.
    pub reason: String,
    pub message: String,
}

const READY_FOR_NEW_SCALE: (&str, &str) =
    ("ReadyForNewScale", "recommended size matches current size");
const SCALE_UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const SCALE_DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);

/// `stabilizeRecommendation` (no `behavior`): the highest recommendation of the downscale
/// window, the new one included. Records the new recommendation.
pub fn stabilize_recommendation(
    state: &mut HpaState,
    desired: i32,
    window_ms: i64,
    now_ms: i64,
) -> Stabilization {
    let cutoff_ms = now_ms.saturating_sub(window_ms);
    let mut highest = desired;
    let mut old_index = None;
    for (index, recommendation) in state.recommendations.iter().enumerate() {
        if recommendation.timestamp_ms < cutoff_ms {
            old_index = Some(index);
        } else {
            highest = highest.max(recommendation.replicas);
        }
    }
    state.store_recommendation(old_index, desired, now_ms);
    let (reason, message) = if highest == desired {
        READY_FOR_NEW_SCALE
    } else {
        SCALE_DOWN_STABILIZED
    };
    Stabilization {
        recommendation: desired,
        up_window_seconds: None,
        down_window_seconds: i32::try_from(window_ms / 1000).unwrap_or(i32::MAX),
        up_recommendation: None,
        down_recommendation: highest,
        stabilized: highest,
        reason: reason.into(),
        message: message.into(),
    }
}

/// `stabilizeRecommendationWithBehaviors`: the current replicas moved no further up than the
/// lowest recommendation of the scale-up window and no further down than the highest of the
/// scale-down window. Records the new recommendation, replacing the last one older than both
/// windows.
pub fn stabilize_with_behavior(
    state: &mut HpaState,
    behavior: &Behavior,
    current: i32,
    desired: i32,
    now_ms: i64,
) -> Stabilization {
    let up_window = behavior.scale_up.stabilization_window_seconds;
    let down_window = behavior.scale_down.stabilization_window_seconds;
    let up_cutoff_ms = now_ms.saturating_sub(i64::from(up_window) * 1000);
    let down_cutoff_ms = now_ms.saturating_sub(i64::from(down_window) * 1000);
    let mut up = desired;
    let mut down = desired;
    let mut old_index = None;
    for (index, recommendation) in state.recommendations.iter().enumerate() {
        let ts = recommendation.timestamp_ms;
        if ts > up_cutoff_ms {
            up = up.min(recommendation.replicas);
        }
        if ts > down_cutoff_ms {
            down = down.max(recommendation.replicas);
        }
        if ts < up_cutoff_ms && ts < down_cutoff_ms {
            old_index = Some(index);
        }
    }
    let stabilized = current.max(up).min(down);
    state.store_recommendation(old_index, desired, now_ms);
    let (reason, message) = if stabilized == desired {
        READY_FOR_NEW_SCALE
    } else if desired >= current {
        SCALE_UP_STABILIZED
    } else {
        SCALE_DOWN_STABILIZED
    };
    Stabilization {
        recommendation: desired,
        up_window_seconds: Some(up_window),
        down_window_seconds: down_window,
        up_recommendation: Some(up),
        down_recommendation: down,
        stabilized,
        reason: reason.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::settings::ScalingRules;
    use crate::hpa::state::Recommendation;

    const NOW_MS: i64 = 1_800_000_000_000;

    #[test]
    fn classic_window_counts_an_entry_exactly_at_the_cutoff() {
        let mut state = HpaState::default();
        state.recommendations.push(Recommendation {
            replicas: 9,
            timestamp_ms: NOW_MS - 300_000,
        });
        let stabilization = stabilize_recommendation(&mut state, 4, 300_000, NOW_MS);
        assert_eq!(stabilization.stabilized, 9);
        assert_eq!(stabilization.reason, "ScaleDownStabilized");
        assert_eq!(
            state.recommendations.len(),
            2,
            "the entry at the cutoff is not replaced"
        );
        let later = stabilize_recommendation(&mut state, 4, 300_000, NOW_MS + 1);
        assert_eq!(later.stabilized, 4);
        assert_eq!(
            state.recommendations[0],
            Recommendation {
                replicas: 4,
                timestamp_ms: NOW_MS + 1
            }
        );
    }

    #[test]
    fn behavior_window_excludes_an_entry_exactly_at_the_cutoff() {
        let mut state = HpaState::default();
        state.recommendations.push(Recommendation {
            replicas: 9,
            timestamp_ms: NOW_MS - 60_000,
        });
        let behavior = Behavior {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules {
                stabilization_window_seconds: 60,
                ..ScalingRules::default_scale_down(60)
            },
        };
        let stabilization = stabilize_with_behavior(&mut state, &behavior, 10, 4, NOW_MS);
        assert_eq!(stabilization.stabilized, 4);
        assert_eq!(stabilization.reason, "ReadyForNewScale");
        // Not strictly older than both cutoffs (it sits on the down cutoff): appended.
        assert_eq!(state.recommendations.len(), 2);
    }
}
