//! Scheduled pre-scaling windows: the floor at and around window edges, overlapping windows,
//! windows across midnight, time zones and daylight saving transitions, the control loop's
//! wake-up instants, and — minute by minute — agreement with KEDA's cron-scaler rule wherever
//! start and end firings alternate (and the one documented place they differ).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use tachyscale_scaler::schedule::{
    floor_at, next_change_ms, validate_schedules, ActiveFloor, ScheduleSpec, ScheduleWindow,
};
use tachyscale_scaler::time::parse_rfc3339_ms;

fn at(text: &str) -> i64 {
    parse_rfc3339_ms(text).unwrap()
}

fn spec(name: &str, timezone: &str, start: &str, end: &str, replicas: i64) -> ScheduleSpec {
    ScheduleSpec {
        name: Some(name.to_string()),
        timezone: (!timezone.is_empty()).then(|| timezone.to_string()),
        start: start.to_string(),
        end: end.to_string(),
        desired_replicas: replicas,
    }
}

fn windows(specs: &[ScheduleSpec]) -> Vec<ScheduleWindow> {
    validate_schedules(specs).unwrap()
}

fn business_hours() -> Vec<ScheduleWindow> {
    windows(&[spec("business-hours", "", "0 9 * * 1-5", "0 17 * * 1-5", 6)])
}

// --- Edges --------------------------------------------------------------------------------

#[test]
fn floor_applies_inside_a_window_and_not_outside() {
    let windows = business_hours();
    assert_eq!(
        floor_at(&windows, at("2026-03-02T12:00:00Z")),
        Some(ActiveFloor {
            replicas: 6,
            window: "business-hours".into(),
            active_since_ms: at("2026-03-02T09:00:00Z"),
            active_until_ms: Some(at("2026-03-02T17:00:00Z")),
        })
    );
    assert_eq!(floor_at(&windows, at("2026-03-02T08:00:00Z")), None);
    assert_eq!(floor_at(&windows, at("2026-03-02T20:00:00Z")), None);
    // Saturday: no start fired since Friday's end.
    assert_eq!(floor_at(&windows, at("2026-03-07T12:00:00Z")), None);
}

#[test]
fn window_is_active_at_its_exact_start_instant() {
    let windows = business_hours();
    assert_eq!(floor_at(&windows, at("2026-03-02T08:59:59Z")), None);
    assert_eq!(floor_at(&windows, at("2026-03-02T08:59:59.999Z")), None);
    let floor = floor_at(&windows, at("2026-03-02T09:00:00Z")).unwrap();
    assert_eq!(floor.active_since_ms, at("2026-03-02T09:00:00Z"));
}

#[test]
fn window_is_inactive_at_its_exact_end_instant() {
    let windows = business_hours();
    assert!(floor_at(&windows, at("2026-03-02T16:59:59.999Z")).is_some());
    assert_eq!(floor_at(&windows, at("2026-03-02T17:00:00Z")), None);
    assert_eq!(floor_at(&windows, at("2026-03-02T17:00:00.001Z")), None);
}

#[test]
fn next_change_is_the_next_window_edge() {
    let windows = business_hours();
    // Closed: the next opening.
    assert_eq!(
        next_change_ms(&windows, at("2026-03-02T08:00:00Z")),
        Some(at("2026-03-02T09:00:00Z"))
    );
    // At the start instant the window is open: the next change is its end.
    assert_eq!(
        next_change_ms(&windows, at("2026-03-02T09:00:00Z")),
        Some(at("2026-03-02T17:00:00Z"))
    );
    // At the end instant it is closed again: the next opening, Tuesday.
    assert_eq!(
        next_change_ms(&windows, at("2026-03-02T17:00:00Z")),
        Some(at("2026-03-03T09:00:00Z"))
    );
    // Friday evening: Monday morning.
    assert_eq!(
        next_change_ms(&windows, at("2026-03-06T18:00:00Z")),
        Some(at("2026-03-09T09:00:00Z"))
    );
}

#[test]
fn next_change_is_the_earliest_edge_over_all_windows() {
    let windows = windows(&[
        spec("day", "", "0 9 * * *", "0 17 * * *", 4),
        spec("lunch", "", "45 11 * * *", "15 13 * * *", 8),
    ]);
    let now = at("2026-03-02T10:00:00Z");
    assert_eq!(
        next_change_ms(&windows, now),
        Some(at("2026-03-02T11:45:00Z"))
    );
    let now = at("2026-03-02T12:00:00Z");
    assert_eq!(
        next_change_ms(&windows, now),
        Some(at("2026-03-02T13:15:00Z"))
    );
}

// --- Overlap ------------------------------------------------------------------------------

#[test]
fn overlapping_windows_give_the_largest_floor() {
    let windows = windows(&[
        spec("day", "", "0 9 * * *", "0 17 * * *", 4),
        spec("lunch", "", "45 11 * * *", "15 13 * * *", 8),
        spec("batch", "", "0 12 * * *", "0 14 * * *", 5),
    ]);
    let floor =
        |text: &str| floor_at(&windows, at(text)).map(|floor| (floor.window, floor.replicas));
    assert_eq!(floor("2026-03-02T10:00:00Z"), Some(("day".into(), 4)));
    assert_eq!(floor("2026-03-02T12:30:00Z"), Some(("lunch".into(), 8)));
    assert_eq!(floor("2026-03-02T13:30:00Z"), Some(("batch".into(), 5)));
    assert_eq!(floor("2026-03-02T15:00:00Z"), Some(("day".into(), 4)));
    assert_eq!(floor("2026-03-02T18:00:00Z"), None);
}

#[test]
fn equal_floors_name_the_first_listed_window() {
    let windows = windows(&[
        spec("first", "", "0 9 * * *", "0 17 * * *", 4),
        spec("second", "", "0 8 * * *", "0 18 * * *", 4),
    ]);
    let floor = floor_at(&windows, at("2026-03-02T10:00:00Z")).unwrap();
    assert_eq!(floor.window, "first");
    let floor = floor_at(&windows, at("2026-03-02T08:30:00Z")).unwrap();
    assert_eq!(floor.window, "second");
}

// --- Midnight, time zones, DST -----------------------------------------------------------

#[test]
fn window_spanning_midnight_stays_open_across_the_date_change() {
    let windows = windows(&[spec("nightly-batch", "", "0 22 * * *", "0 6 * * *", 10)]);
    let floor = floor_at(&windows, at("2026-03-03T01:00:00Z")).unwrap();
    assert_eq!(floor.active_since_ms, at("2026-03-02T22:00:00Z"));
    assert_eq!(floor.active_until_ms, Some(at("2026-03-03T06:00:00Z")));
    assert!(floor_at(&windows, at("2026-03-02T23:59:59Z")).is_some());
    assert!(floor_at(&windows, at("2026-03-03T00:00:00Z")).is_some());
    assert_eq!(floor_at(&windows, at("2026-03-03T06:00:00Z")), None);
    assert_eq!(floor_at(&windows, at("2026-03-03T21:59:00Z")), None);
}

#[test]
fn expressions_are_read_in_the_window_time_zone() {
    // 09:00–17:00 in Tokyo (UTC+9, no DST) is 00:00–08:00 UTC.
    let windows = windows(&[spec("tokyo", "Asia/Tokyo", "0 9 * * *", "0 17 * * *", 3)]);
    let floor = floor_at(&windows, at("2026-03-02T01:00:00Z")).unwrap();
    assert_eq!(floor.active_since_ms, at("2026-03-02T00:00:00Z"));
    assert_eq!(floor.active_until_ms, Some(at("2026-03-02T08:00:00Z")));
    assert_eq!(floor_at(&windows, at("2026-03-02T09:00:00Z")), None);
    // Berlin is UTC+1 in winter and UTC+2 in summer: the same local hour moves in UTC.
    let windows = self::windows(&[spec(
        "berlin",
        "Europe/Berlin",
        "0 9 * * *",
        "0 17 * * *",
        3,
    )]);
    let winter = floor_at(&windows, at("2026-03-02T12:00:00Z")).unwrap();
    assert_eq!(winter.active_since_ms, at("2026-03-02T08:00:00Z"));
    let summer = floor_at(&windows, at("2026-07-01T12:00:00Z")).unwrap();
    assert_eq!(summer.active_since_ms, at("2026-07-01T07:00:00Z"));
}

#[test]
fn dst_spring_forward_opens_a_window_set_inside_the_gap_right_after_the_gap() {
    // America/New_York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist.
    let windows = windows(&[spec(
        "early",
        "America/New_York",
        "30 2 * * *",
        "0 4 * * *",
        5,
    )]);
    // The day before: 02:30 EST = 07:30 UTC to 04:00 EST = 09:00 UTC.
    let before = floor_at(&windows, at("2026-03-07T08:00:00Z")).unwrap();
    assert_eq!(before.active_since_ms, at("2026-03-07T07:30:00Z"));
    assert_eq!(before.active_until_ms, Some(at("2026-03-07T09:00:00Z")));
    // Transition night: opens at 03:00 EDT = 07:00 UTC, closes at 04:00 EDT = 08:00 UTC.
    assert_eq!(floor_at(&windows, at("2026-03-08T06:59:59Z")), None);
    let night = floor_at(&windows, at("2026-03-08T07:30:00Z")).unwrap();
    assert_eq!(night.active_since_ms, at("2026-03-08T07:00:00Z"));
    assert_eq!(night.active_until_ms, Some(at("2026-03-08T08:00:00Z")));
    assert_eq!(
        next_change_ms(&windows, at("2026-03-08T06:00:00Z")),
        Some(at("2026-03-08T07:00:00Z"))
    );
    // The day after: 02:30 EDT = 06:30 UTC.
    let after = floor_at(&windows, at("2026-03-09T07:00:00Z")).unwrap();
    assert_eq!(after.active_since_ms, at("2026-03-09T06:30:00Z"));
}

#[test]
fn dst_fall_back_opens_once_and_closes_on_the_real_end_instant() {
    // America/New_York, 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens
    // twice (05:30 and 06:30 UTC).
    let windows = windows(&[spec(
        "early",
        "America/New_York",
        "30 1 * * *",
        "0 3 * * *",
        5,
    )]);
    let first_pass = floor_at(&windows, at("2026-11-01T05:45:00Z")).unwrap();
    assert_eq!(first_pass.active_since_ms, at("2026-11-01T05:30:00Z"));
    assert_eq!(first_pass.active_until_ms, Some(at("2026-11-01T08:00:00Z")));
    // The repeated 01:30 does not reopen (or restart) the window.
    let second_pass = floor_at(&windows, at("2026-11-01T06:45:00Z")).unwrap();
    assert_eq!(second_pass.active_since_ms, at("2026-11-01T05:30:00Z"));
    assert_eq!(floor_at(&windows, at("2026-11-01T08:00:00Z")), None);
    assert_eq!(
        next_change_ms(&windows, at("2026-11-01T06:00:00Z")),
        Some(at("2026-11-01T08:00:00Z"))
    );

    // A window ending at 01:30 closes at the first 01:30 and stays closed through the second.
    let windows = self::windows(&[spec(
        "late",
        "America/New_York",
        "0 0 * * *",
        "30 1 * * *",
        5,
    )]);
    assert!(floor_at(&windows, at("2026-11-01T05:00:00Z")).is_some());
    assert_eq!(floor_at(&windows, at("2026-11-01T05:30:00Z")), None);
    assert_eq!(floor_at(&windows, at("2026-11-01T06:45:00Z")), None);
}

// --- Agreement with KEDA ------------------------------------------------------------------

/// KEDA's rule (cron_scaler.go `GetMetricsAndActivity`): with `Next()` strictly after now,
/// active unless the next start comes before the next end.
struct KedaRule {
    timezone: Tz,
    start: Cron,
    end: Cron,
}

impl KedaRule {
    fn new(timezone: &str, start: &str, end: &str) -> KedaRule {
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .sloppy_ranges(true)
            .build();
        KedaRule {
            timezone: timezone.parse().unwrap(),
            start: parser.parse(start).unwrap(),
            end: parser.parse(end).unwrap(),
        }
    }

    fn active(&self, now_ms: i64) -> bool {
        let now = DateTime::<Utc>::from_timestamp(now_ms.div_euclid(1000), 0)
            .unwrap()
            .with_timezone(&self.timezone);
        let next_start = self.start.find_next_occurrence(&now, false).unwrap();
        let next_end = self.end.find_next_occurrence(&now, false).unwrap();
        // `if nextStartTime.Before(nextEndTime)` is the inactive branch.
        next_end <= next_start
    }
}

#[test]
fn activity_matches_keda_minute_by_minute_when_firings_alternate() {
    let cases = [
        ("UTC", "0 9 * * 1-5", "0 17 * * 1-5"),
        ("UTC", "0 22 * * *", "0 6 * * *"),
        ("UTC", "30 * * * *", "45 * * * *"),
        ("Europe/Prague", "30 6 * * 1-5", "10 22 * * 1-5"),
        ("America/New_York", "*/20 * * * *", "10-59/20 * * * *"),
    ];
    for (timezone, start, end) in cases {
        let windows = windows(&[spec("w", timezone, start, end, 2)]);
        let keda = KedaRule::new(timezone, start, end);
        // Three days around a weekend, every minute, at the instant and one second either
        // side of it.
        let first = at("2026-03-06T00:00:00Z");
        for minute in 0..3 * 24 * 60 {
            for offset_ms in [-1000, 0, 1000] {
                let now = first + minute * 60_000 + offset_ms;
                assert_eq!(
                    floor_at(&windows, now).is_some(),
                    keda.active(now),
                    "{timezone} {start} / {end} at {now}"
                );
            }
        }
    }
}

#[test]
fn window_closes_at_the_first_end_where_keda_would_stay_active() {
    // kedacore/keda#4677: start on weekdays, end every day. KEDA stays active from Friday
    // 06:30 until Sunday 22:10; the window closes on Friday at 22:10.
    let (start, end) = ("30 6 * * 1-5", "10 22 * * *");
    let windows = windows(&[spec("workdays", "Europe/Prague", start, end, 3)]);
    let saturday_noon = at("2026-03-07T11:00:00Z");
    assert!(KedaRule::new("Europe/Prague", start, end).active(saturday_noon));
    assert_eq!(floor_at(&windows, saturday_noon), None);
    let friday_evening = at("2026-03-06T20:00:00Z");
    let floor = floor_at(&windows, friday_evening).unwrap();
    assert_eq!(floor.active_until_ms, Some(at("2026-03-06T21:10:00Z")));
}

// --- Input forms --------------------------------------------------------------------------

#[test]
fn windows_load_from_yaml_with_keda_style_string_replicas() {
    let specs: Vec<ScheduleSpec> = serde_yaml_ng::from_str(
        r#"
- name: business-hours
  timezone: Europe/Berlin
  start: "0 8 * * 1-5"
  end: "0 19 * * 1-5"
  desiredReplicas: 12
- name: month-end
  start: "0 0 L * *"
  end: "0 23 L * *"
  desiredReplicas: "20"
"#,
    )
    .unwrap();
    let windows = windows(&specs);
    // 31 March 2026 (a Tuesday, last day of the month) at noon UTC: both open, month-end wins.
    let floor = floor_at(&windows, at("2026-03-31T12:00:00Z")).unwrap();
    assert_eq!((floor.window.as_str(), floor.replicas), ("month-end", 20));
    let json = serde_json::to_value(&floor).unwrap();
    assert_eq!(json["activeSince"], "2026-03-31T00:00:00Z");
    assert_eq!(json["activeUntil"], "2026-03-31T23:00:00Z");
}

#[test]
fn validation_errors_name_the_window_index_and_field() {
    let err = validate_schedules(&[
        spec("a", "", "0 9 * * *", "0 17 * * *", 2),
        spec("b", "", "0 9 * * * 2026", "0 17 * * *", 2),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"schedules[1].start: invalid cron expression "0 9 * * * 2026""#),
        "{err}"
    );
    let err = validate_schedules(&[spec("a", "Europe/Berlinn", "0 9 * * *", "0 17 * * *", 2)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"schedules[0].timezone: unknown time zone "Europe/Berlinn", expected an IANA name such as "Europe/Berlin""#
    );
    let err = validate_schedules(&[spec("a", "", "0 9 * * *", "0 17 * * *", -1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schedules[0].desiredReplicas: must be between 1 and 2147483647, got -1"
    );
}
