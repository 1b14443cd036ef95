//! Scheduled pre-scaling windows: "from 08:30 to 18:00 on weekdays, keep at least 12
//! replicas". Each window is a replica floor under the HPA, so capacity is in place before a
//! known peak instead of arriving one scale-up cycle after it.
//!
//! Modelled on KEDA's cron scaler (`pkg/scalers/cron_scaler.go`, KEDA 2.x) and its fields —
//! `timezone`, `start`, `end`, `desiredReplicas` — so a KEDA `cron` trigger's metadata can be
//! pasted as a window (`desiredReplicas` may be the string KEDA's metadata holds).
//! AliyunContainerService's kubernetes-cronhpa-controller sets replicas at single instants
//! instead; a pair of its jobs maps onto one window here.
//!
//! # When a window is active
//!
//! A window opens at a firing of `start` and closes at the first firing of `end` after it:
//! active on `[start firing, next end firing)`, evaluated in the window's time zone. Both
//! edges are exact instants (cron fires at second 0 of the minute): active *at* the start
//! instant, inactive *at* the end instant. When a start and an end fire at the same instant
//! the start wins and the window is (re)opened.
//!
//! KEDA decides activity from the *next* firings only: active when the next end is no later
//! than the next start, with `Next()` strictly after now. Whenever start and end firings
//! alternate — the usual case, where both expressions share their day and month fields —
//! that rule and the one above give the same answer at every instant, edges included (a test
//! checks this minute by minute). They differ when they do not alternate: with
//! `start: 30 6 * * 1-5` and `end: 10 22 * * *`, KEDA stays active from Friday 06:30 to
//! Sunday 22:10 (kedacore/keda#4677, acknowledged as a bug); here the window closes on Friday
//! at 22:10. This is a deliberate deviation.
//!
//! # Cron expressions
//!
//! Five fields (minute, hour, day of month, month, day of week), as KEDA's parser
//! (`cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow`) requires; names (`MON`,
//! `JAN`), ranges, lists, `*/n`, `a-b/n`, `a/n` and `?` (in the day fields) are accepted as
//! there. Parsed by
//! croner, which also accepts `L`, `W`, `#`, `7` for Sunday and `@daily`-style nicknames
//! (KEDA rejects those); seconds and year fields are rejected. `TZ=` prefixes are rejected:
//! the window has its own `timezone`. As in KEDA, `start` and `end` may not be the same
//! expression, and `desiredReplicas` must be at least 1 (KEDA treats 0 as unset).
//!
//! # Daylight saving time
//!
//! croner's rules (OCPS): a fixed time inside a spring-forward gap fires at the first instant
//! after the gap, the same day; a fixed time inside a fall-back overlap fires once, at its
//! first occurrence. KEDA (robfig/cron) skips a gap time for that day and fires twice in an
//! overlap; the rule here means a 02:30 window still opens on the night the clocks jump.
//!
//! Layout: [`spec`] holds the user-facing [`ScheduleSpec`] and its validation;
//! [`window`] the validated [`ScheduleWindow`] and its activity at an instant; this module
//! combines windows into a floor.

pub mod spec;
pub mod window;

use serde::Serialize;

use crate::time;
pub use spec::{validate_schedules, ScheduleSpec};
pub use window::{ActiveSpan, ScheduleWindow};

/// Why a schedule was rejected. `field` is the JSON path: `schedules[1].start`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{field}: invalid cron expression {expression:?}: {message}")]
    InvalidCron {
        field: String,
        expression: String,
        /// croner's description of the problem (its error type is neither `Clone` nor `Eq`).
        message: String,
    },
    #[error("{field}: cron expression {expression:?} never fires")]
    NeverFires { field: String, expression: String },
    #[error("{field}: start and end are the same expression {expression:?}, the window would never close")]
    SameStartAndEnd { field: String, expression: String },
    #[error(
        "{field}: unknown time zone {timezone:?}, expected an IANA name such as \"Europe/Berlin\""
    )]
    UnknownTimezone { field: String, timezone: String },
    #[error("{field}: must be between 1 and 2147483647, got {value}")]
    InvalidReplicas { field: String, value: i64 },
    #[error("{field}: duplicate window name {name:?}")]
    DuplicateName { field: String, name: String },
}

impl ScheduleError {
    /// A bounded label for `*_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            ScheduleError::InvalidCron { .. } => "invalid_cron",
            ScheduleError::NeverFires { .. } => "never_fires",
            ScheduleError::SameStartAndEnd { .. } => "same_start_and_end",
            ScheduleError::UnknownTimezone { .. } => "unknown_timezone",
            ScheduleError::InvalidReplicas { .. } => "invalid_replicas",
            ScheduleError::DuplicateName { .. } => "duplicate_name",
        }
    }

    /// The JSON path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            ScheduleError::InvalidCron { field, .. }
            | ScheduleError::NeverFires { field, .. }
            | ScheduleError::SameStartAndEnd { field, .. }
            | ScheduleError::UnknownTimezone { field, .. }
            | ScheduleError::InvalidReplicas { field, .. }
            | ScheduleError::DuplicateName { field, .. } => field,
        }
    }
}

/// The replica floor the schedule imposes at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveFloor {
    /// The largest `desiredReplicas` of the active windows.
    pub replicas: i32,
    /// The window that set it (the first listed among equals).
    pub window: String,
    /// When that window opened.
    #[serde(rename = "activeSince", with = "time::rfc3339_ms")]
    pub active_since_ms: i64,
    /// When it closes; `None` if its end never fires again.
    #[serde(rename = "activeUntil", with = "time::option_rfc3339_ms")]
    pub active_until_ms: Option<i64>,
}

/// The replica floor at `now_ms`: the largest `desiredReplicas` over the windows active then,
/// or `None` when no window is active.
pub fn floor_at(windows: &[ScheduleWindow], now_ms: i64) -> Option<ActiveFloor> {
    let mut best: Option<ActiveFloor> = None;
    for window in windows {
        let Some(span) = window.active_span(now_ms) else {
            continue;
        };
        if best
            .as_ref()
            .is_some_and(|floor| floor.replicas >= window.desired_replicas())
        {
            continue;
        }
        best = Some(ActiveFloor {
            replicas: window.desired_replicas(),
            window: window.name().to_string(),
            active_since_ms: span.since_ms,
            active_until_ms: span.until_ms,
        });
    }
    best
}

/// The next instant after `now_ms` at which some window opens or closes, so a control loop
/// can sleep until then; `None` when no window will ever change.
pub fn next_change_ms(windows: &[ScheduleWindow], now_ms: i64) -> Option<i64> {
    windows
        .iter()
        .filter_map(|window| window.next_change_ms(now_ms))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_window_field_and_carry_a_bounded_reason() {
        let err = ScheduleError::InvalidCron {
            field: "schedules[1].start".into(),
            expression: "61 * * * *".into(),
            message: "out of range".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"schedules[1].start: invalid cron expression "61 * * * *": out of range"#
        );
        assert_eq!(err.reason(), "invalid_cron");
        assert_eq!(err.field(), "schedules[1].start");
    }

    #[test]
    fn no_windows_means_no_floor_and_no_wakeup() {
        assert_eq!(floor_at(&[], 0), None);
        assert_eq!(next_change_ms(&[], 0), None);
    }
}
