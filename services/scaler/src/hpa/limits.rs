//! Rate limits: how far one sync may move the replicas from where they are.
//!
//! Follows `convertDesiredReplicasWithRules` (HPAs without `behavior`: within
//! `[minReplicas, maxReplicas]` and at most `max(2 × current, 4)`) and
//! `convertDesiredReplicasWithBehaviorRate` with `calculateScaleUpLimitWithScalingRules`,
//! `calculateScaleDownLimitWithBehaviors` and `getReplicasChangePerPeriod` (HPAs with
//! `behavior`) in `horizontal.go` (Kubernetes 1.34). Each policy measures from the replicas
//! at the start of its period: current, minus what scale-ups added and plus what scale-downs
//! removed in events strictly inside the period (an event exactly `periodSeconds` old does
//! not count). `selectPolicy` picks the policy allowing the largest change (`Max`), the
//! smallest (`Min`), or none (`Disabled`).
//!
//! Deviation: arithmetic is in `i64`, clamped to `i32`, where Go would wrap.

use serde::{Deserialize, Serialize};

use super::settings::{Behavior, ScalingRules};
use super::spec::{ScalingPolicyType, SelectPolicy};
use super::state::{HpaState, ScaleEvent};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::spec::HpaScalingPolicy;
    use crate::hpa::state::fixtures::{event, rules, NOW_MS};

    #[test]
    fn event_exactly_one_period_old_does_not_count() {
        let state = HpaState {
            scale_up_events: vec![event(5, 60), event(2, 59)],
            ..HpaState::default()
        };
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
}
