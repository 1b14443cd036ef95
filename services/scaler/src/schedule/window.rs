//! One validated window and the question the control loop asks of it: is it open at this
//! instant, since when, and until when? See the module above for the rule and how it relates
//! to KEDA's.
//!
//! Searches run on whole seconds: cron fires at second 0, so "a firing at or before now" and
//! "a firing strictly after now" give the same answer for `now` and for `now` rounded down
//! to its second, and croner never sees a fraction it might treat differently.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A validated window (see [`super::validate_schedules`]).
#[derive(Debug, Clone)]
pub struct ScheduleWindow {
    name: String,
    timezone: Tz,
    start: Cron,
    end: Cron,
    /// As written: croner keeps its normalised form (upper case, names replaced).
    start_expression: String,
    end_expression: String,
    desired_replicas: i32,
}

/// When an open window opened and when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveSpan {
    /// The start firing that opened the window.
    pub since_ms: i64,
    /// The next end firing; `None` if the end never fires again.
    pub until_ms: Option<i64>,
}

impl ScheduleWindow {
    pub(crate) fn new(
        name: String,
        timezone: Tz,
        (start, start_expression): (Cron, &str),
        (end, end_expression): (Cron, &str),
        desired_replicas: i32,
    ) -> ScheduleWindow {
        ScheduleWindow {
            name,
            timezone,
            start,
            end,
            start_expression: start_expression.to_string(),
            end_expression: end_expression.to_string(),
            desired_replicas,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The replica floor while the window is open.
    pub fn desired_replicas(&self) -> i32 {
        self.desired_replicas
    }

    /// The `start` expression as written.
    pub fn start_expression(&self) -> &str {
        &self.start_expression
    }

    /// The `end` expression as written.
    pub fn end_expression(&self) -> &str {
        &self.end_expression
    }

    /// Whether the window is open at `now_ms` and, if so, its span: open from the first
    /// start firing at or after the last end firing (at or before now), if that start is at
    /// or before now.
    pub fn active_span(&self, now_ms: i64) -> Option<ActiveSpan> {
        let now = self.zoned(now_ms)?;
        let opened = match self.end.find_previous_occurrence(&now, true) {
            Ok(last_end) => {
                // Inclusive: a start at the very instant of the end reopens the window.
                let first_start = self.start.find_next_occurrence(&last_end, true).ok()?;
                (first_start <= now).then_some(first_start)?
            }
            // The end has never fired before now (only near croner's year-1 limit, since
            // validation rejects expressions that never fire): any earlier start opened it.
            Err(_) => self.start.find_previous_occurrence(&now, true).ok()?,
        };
        Some(ActiveSpan {
            since_ms: opened.timestamp_millis(),
            until_ms: self.next_firing(&self.end, &now),
        })
    }

    /// The next instant after `now_ms` at which this window opens (if closed) or closes (if
    /// open).
    pub fn next_change_ms(&self, now_ms: i64) -> Option<i64> {
        match self.active_span(now_ms) {
            Some(span) => span.until_ms,
            None => self.next_firing(&self.start, &self.zoned(now_ms)?),
        }
    }

    fn next_firing(&self, cron: &Cron, after: &DateTime<Tz>) -> Option<i64> {
        cron.find_next_occurrence(after, false)
            .ok()
            .map(|firing| firing.timestamp_millis())
    }

    /// `now_ms` rounded down to its second, in the window's zone; `None` outside chrono's
    /// range.
    fn zoned(&self, now_ms: i64) -> Option<DateTime<Tz>> {
        DateTime::<Utc>::from_timestamp(now_ms.div_euclid(1000), 0)
            .map(|utc| utc.with_timezone(&self.timezone))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{validate_schedules, ScheduleSpec};
    use crate::time::parse_rfc3339_ms;

    fn at(text: &str) -> i64 {
        parse_rfc3339_ms(text).unwrap()
    }

    fn window(start: &str, end: &str) -> super::ScheduleWindow {
        let spec = ScheduleSpec {
            name: Some("w".into()),
            timezone: None,
            start: start.into(),
            end: end.into(),
            desired_replicas: 3,
        };
        validate_schedules(&[spec]).unwrap().remove(0)
    }

    #[test]
    fn sub_second_instants_round_down_to_their_second() {
        let w = window("0 9 * * *", "0 17 * * *");
        assert!(w.active_span(at("2026-03-02T08:59:59.999Z")).is_none());
        let span = w.active_span(at("2026-03-02T09:00:00.001Z")).unwrap();
        assert_eq!(span.since_ms, at("2026-03-02T09:00:00Z"));
        assert_eq!(span.until_ms, Some(at("2026-03-02T17:00:00Z")));
        assert!(w.active_span(at("2026-03-02T16:59:59.999Z")).is_some());
        assert!(w.active_span(at("2026-03-02T17:00:00.000Z")).is_none());
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let w = window("0 9 * * *", "0 17 * * *");
        assert_eq!(w.active_span(i64::MAX), None);
        assert_eq!(w.active_span(i64::MIN), None);
        assert_eq!(w.next_change_ms(i64::MAX), None);
    }

    #[test]
    fn expressions_are_kept_as_written() {
        let w = window("0 9 * * mon-fri", "0 17 * * mon-fri");
        assert_eq!(w.start_expression(), "0 9 * * mon-fri");
        assert_eq!(w.end_expression(), "0 17 * * mon-fri");
        assert_eq!(w.desired_replicas(), 3);
    }
}
