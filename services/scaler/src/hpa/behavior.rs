//! What happens to a recommendation between "the metrics say N" and "set the scale to M":
//! stabilization over recent recommendations, then limits on how fast replicas may change.
//! Also the controller's memory that both need, [`HpaState`].
//!
//! Follows `horizontal.go` (Kubernetes 1.34): `recordInitialRecommendation`,
//! `stabilizeRecommendation` + `convertDesiredReplicasWithRules` (HPAs without `behavior`),
//! `stabilizeRecommendationWithBehaviors` + `convertDesiredReplicasWithBehaviorRate` with
//! `calculateScale{Up,Down}Limit*` and `getReplicasChangePerPeriod` (HPAs with `behavior`),
//! and `storeScaleEvent`. Time comparisons keep upstream's strictness: a recommendation or
//! an event exactly at a window's or period's start is outside it (`After(cutoff)`), and an
//! entry is replaced only when strictly older than the cutoff (`Before(cutoff)`) — except in
//! the classic path, where an entry exactly at the cutoff still counts, as upstream.
//!
//! Deviation: arithmetic is done in `i64` and clamped to `i32`, where Go would wrap.

use serde::{Deserialize, Serialize};

use super::settings::{Behavior, ScalingRules};
use super::spec::{ScalingPolicyType, SelectPolicy};
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
    fn store_recommendation(&mut self, old_index: Option<usize>, replicas: i32, now_ms: i64) {
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

/// The `ScalingLimited` reason of the last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitReason {
    DesiredWithinRange,
    ScaleUpLimit,
    TooManyReplicas,
    ScaleDownLimit,
    TooFewReplicas,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "DesiredWithinRange",
            LimitReason::ScaleUpLimit => "ScaleUpLimit",
            LimitReason::TooManyReplicas => "TooManyReplicas",
            LimitReason::ScaleDownLimit => "ScaleDownLimit",
            LimitReason::TooFewReplicas => "TooFewReplicas",
        }
    }

    /// Upstream's condition message.
    pub fn message(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "the desired count is within the acceptable range",
            LimitReason::ScaleUpLimit => {
                "the desired replica count is increasing faster than the maximum scale rate"
            }
            LimitReason::TooManyReplicas => {
                "the desired replica count is more than the maximum replica count"
            }
            LimitReason::ScaleDownLimit => {
                "the desired replica count is decreasing faster than the maximum scale rate"
            }
            LimitReason::TooFewReplicas => {
                "the desired replica count is less than the minimum replica count"
            }
        }
    }
}

/// One policy's limit: the replicas at the start of its period and what it allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyLimit {
    /// `scaleUp` or `scaleDown`.
    pub direction: String,
    #[serde(rename = "type")]
    pub policy_type: ScalingPolicyType,
    pub value: i32,
    pub period_seconds: i32,
    /// Replicas added and removed by events inside the period.
    pub added_in_period: i64,
    pub removed_in_period: i64,
    /// `current − added + removed`.
    pub period_start_replicas: i64,
    /// The count this policy allows.
    pub allowed: i64,
}

/// The bounds applied to the stabilized recommendation and which one bit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimits {
    /// The stabilized recommendation the limits were applied to.
    pub desired_replicas: i32,
    /// The result.
    pub replicas: i32,
    pub min_allowed: i32,
    pub max_allowed: i32,
    /// Highest count a scale-up may reach now (`max(2 × current, 4)` without behavior).
    pub scale_up_limit: i32,
    /// Lowest count a scale-down may reach now (behavior only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyLimit>,
    pub reason: LimitReason,
    pub message: String,
}

/// `convertDesiredReplicasWithRules` (no `behavior`): within `[min, max]` and at most
/// `max(2 × current, 4)`.
pub fn convert_desired_replicas_with_rules(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> RateLimits {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (max_allowed, possible) = if max > scale_up_limit {
        (scale_up_limit, LimitReason::ScaleUpLimit)
    } else {
        (max, LimitReason::TooManyReplicas)
    };
    let (replicas, reason) = if desired < min {
        (min, LimitReason::TooFewReplicas)
    } else if desired > max_allowed {
        (max_allowed, possible)
    } else {
        (desired, LimitReason::DesiredWithinRange)
    };
    RateLimits {
        desired_replicas: desired,
        replicas,
        min_allowed: min,
        max_allowed,
        scale_up_limit,
        scale_down_limit: None,
        policies: Vec::new(),
        reason,
        message: reason.message().into(),
    }
}

/// `convertDesiredReplicasWithBehaviorRate`: the policies of the direction of change bound
/// it, measured from the replicas at the start of each policy's period; then
/// `[min, max]`. Both directions' limits are reported; only the direction of change applies.
pub fn convert_desired_replicas_with_behavior_rate(
    state: &HpaState,
    behavior: &Behavior,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    now_ms: i64,
) -> RateLimits {
    let mut policies = Vec::new();
    let up_limit =
        scale_up_limit(state, &behavior.scale_up, current, now_ms, &mut policies).max(current);
    let down_limit =
        scale_down_limit(state, &behavior.scale_down, current, now_ms, &mut policies).min(current);
    let (max_allowed, up_reason) = if max > up_limit {
        (up_limit, LimitReason::ScaleUpLimit)
    } else {
        (max, LimitReason::TooManyReplicas)
    };
    let (min_allowed, down_reason) = if min < down_limit {
        (down_limit, LimitReason::ScaleDownLimit)
    } else {
        (min, LimitReason::TooFewReplicas)
    };
    let (replicas, reason) = if desired > current && desired > max_allowed {
        (max_allowed, up_reason)
    } else if desired < current && desired < min_allowed {
        (min_allowed, down_reason)
    } else {
        (desired, LimitReason::DesiredWithinRange)
    };
    RateLimits {
        desired_replicas: desired,
        replicas,
        min_allowed,
        max_allowed,
        scale_up_limit: up_limit,
        scale_down_limit: Some(down_limit),
        policies,
        reason,
        message: reason.message().into(),
    }
}

/// `getReplicasChangePerPeriod`: the changes of events strictly inside the period.
fn change_in_period(events: &[ScaleEvent], period_seconds: i32, now_ms: i64) -> i64 {
    let cutoff_ms = now_ms.saturating_sub(i64::from(period_seconds) * 1000);
    events
        .iter()
        .filter(|event| event.timestamp_ms > cutoff_ms)
        .map(|event| i64::from(event.replica_change))
        .sum()
}

/// `calculateScaleUpLimitWithScalingRules` (before the "not below current" correction).
fn scale_up_limit(
    state: &HpaState,
    rules: &ScalingRules,
    current: i32,
    now_ms: i64,
    report: &mut Vec<PolicyLimit>,
) -> i32 {
    policy_limit(state, rules, current, now_ms, true, report)
}

/// `calculateScaleDownLimitWithBehaviors` (before the "not above current" correction).
fn scale_down_limit(
    state: &HpaState,
    rules: &ScalingRules,
    current: i32,
    now_ms: i64,
    report: &mut Vec<PolicyLimit>,
) -> i32 {
    policy_limit(state, rules, current, now_ms, false, report)
}

fn policy_limit(
    state: &HpaState,
    rules: &ScalingRules,
    current: i32,
    now_ms: i64,
    up: bool,
    report: &mut Vec<PolicyLimit>,
) -> i32 {
    // For a scale-up the largest change is the highest limit; for a scale-down the lowest.
    let (mut result, pick_highest): (i64, bool) = match (rules.select_policy, up) {
        (SelectPolicy::Disabled, _) => return current,
        (SelectPolicy::Max, true) | (SelectPolicy::Min, false) => (i64::from(i32::MIN), true),
        (SelectPolicy::Min, true) | (SelectPolicy::Max, false) => (i64::from(i32::MAX), false),
    };
    for policy in &rules.policies {
        let added = change_in_period(&state.scale_up_events, policy.period_seconds, now_ms);
        let removed = change_in_period(&state.scale_down_events, policy.period_seconds, now_ms);
        let start = i64::from(current) - added + removed;
        let value = i64::from(policy.value);
        let allowed = match (policy.policy_type, up) {
            (ScalingPolicyType::Pods, true) => start + value,
            (ScalingPolicyType::Pods, false) => start - value,
            // Rounded up, or a small percentage of few pods would never add one.
            (ScalingPolicyType::Percent, true) => {
                (start as f64 * (1.0 + value as f64 / 100.0)).ceil() as i64
            }
            // Truncated toward zero, as Go's int32(float64) conversion.
            (ScalingPolicyType::Percent, false) => {
                (start as f64 * (1.0 - value as f64 / 100.0)) as i64
            }
        };
        result = if pick_highest {
            result.max(allowed)
        } else {
            result.min(allowed)
        };
        report.push(PolicyLimit {
            direction: if up { "scaleUp" } else { "scaleDown" }.into(),
            policy_type: policy.policy_type,
            value: policy.value,
            period_seconds: policy.period_seconds,
            added_in_period: added,
            removed_in_period: removed,
            period_start_replicas: start,
            allowed,
        });
    }
    i32::try_from(result.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).unwrap_or(current)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::spec::HpaScalingPolicy;

    const NOW_MS: i64 = 1_800_000_000_000;

    fn rules(policies: Vec<HpaScalingPolicy>, select_policy: SelectPolicy) -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: 0,
            select_policy,
            policies,
            tolerance: None,
        }
    }

    fn event(change: i32, age_seconds: i64) -> ScaleEvent {
        ScaleEvent {
            replica_change: change,
            timestamp_ms: NOW_MS - age_seconds * 1000,
            outdated: false,
        }
    }

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

    #[test]
    fn event_exactly_one_period_old_does_not_count() {
        let mut state = HpaState::default();
        state.scale_up_events = vec![event(5, 60), event(2, 59)];
        let up = rules(vec![HpaScalingPolicy::pods(4, 60)], SelectPolicy::Max);
        let mut report = Vec::new();
        assert_eq!(scale_up_limit(&state, &up, 10, NOW_MS, &mut report), 12);
        assert_eq!(report[0].period_start_replicas, 8);
    }

    #[test]
    fn disabled_select_policy_holds_current() {
        let state = HpaState::default();
        let behavior = Behavior {
            scale_up: rules(vec![HpaScalingPolicy::pods(4, 60)], SelectPolicy::Disabled),
            scale_down: rules(vec![HpaScalingPolicy::pods(4, 60)], SelectPolicy::Disabled),
        };
        let up =
            convert_desired_replicas_with_behavior_rate(&state, &behavior, 5, 9, 1, 10, NOW_MS);
        assert_eq!((up.replicas, up.reason), (5, LimitReason::ScaleUpLimit));
        let down =
            convert_desired_replicas_with_behavior_rate(&state, &behavior, 5, 1, 1, 10, NOW_MS);
        assert_eq!(
            (down.replicas, down.reason),
            (5, LimitReason::ScaleDownLimit)
        );
    }

    #[test]
    fn min_select_policy_takes_the_smallest_change() {
        let state = HpaState::default();
        let both = vec![
            HpaScalingPolicy::pods(4, 60),
            HpaScalingPolicy::percent(100, 60),
        ];
        let behavior = Behavior {
            scale_up: rules(both.clone(), SelectPolicy::Min),
            scale_down: rules(both, SelectPolicy::Min),
        };
        let up =
            convert_desired_replicas_with_behavior_rate(&state, &behavior, 10, 50, 1, 100, NOW_MS);
        assert_eq!(up.replicas, 14);
        let down =
            convert_desired_replicas_with_behavior_rate(&state, &behavior, 10, 1, 1, 100, NOW_MS);
        assert_eq!(down.replicas, 6);
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
        let mut state = HpaState::default();
        state.scale_up_events = vec![event(1, 300), event(2, 200), event(3, 100)];
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
