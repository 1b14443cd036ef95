//! Windows as users write them ([`ScheduleSpec`]) and their validation, once, into
//! [`ScheduleWindow`]s: cron expressions parsed, time zones resolved, replica counts checked,
//! each error naming the window and field (`schedules[1].start`).
//!
//! Validation follows KEDA's `cronMetadata.Validate` (cron_scaler.go, KEDA 2.x): five-field
//! expressions, `start` ≠ `end`, `desiredReplicas` ≠ 0. Beyond it: a missing or empty
//! `timezone` means UTC (KEDA requires one; Go's `LoadLocation("")` is UTC), negative and
//! out-of-`int32` replica counts are rejected, names must be unique (a floor names its
//! window), and an expression that can never fire (`0 0 30 2 *`) is rejected up front.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::window::ScheduleWindow;
use super::ScheduleError;

/// One window as written (the fields of a KEDA `cron` trigger plus a name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Names the window in decisions and errors; defaults to `schedules[<index>]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA time zone the expressions are read in (`Europe/Berlin`); absent or empty is UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Five-field cron expression: the window opens when it fires.
    pub start: String,
    /// Five-field cron expression: the window closes at its first firing after a start.
    pub end: String,
    /// The replica floor while the window is open; an integer or, as KEDA's trigger
    /// metadata has it, a string holding one.
    #[serde(deserialize_with = "integer_or_string")]
    pub desired_replicas: i64,
}

/// Validates a list of windows. Errors carry `schedules[<index>].<field>`.
pub fn validate_schedules(specs: &[ScheduleSpec]) -> Result<Vec<ScheduleWindow>, ScheduleError> {
    let mut names = HashSet::new();
    let mut windows = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let at = |field: &str| format!("schedules[{index}].{field}");
        let name = match &spec.name {
            Some(name) => name.clone(),
            None => format!("schedules[{index}]"),
        };
        if !names.insert(name.clone()) {
            return Err(ScheduleError::DuplicateName {
                field: at("name"),
                name,
            });
        }
        let timezone = match spec.timezone.as_deref().map(str::trim) {
            None | Some("") => Tz::UTC,
            Some(text) => Tz::from_str(text).map_err(|_| ScheduleError::UnknownTimezone {
                field: at("timezone"),
                timezone: text.to_string(),
            })?,
        };
        let start = parse_cron(&spec.start, &at("start"), timezone)?;
        let end = parse_cron(&spec.end, &at("end"), timezone)?;
        if normalize(&spec.start) == normalize(&spec.end) {
            return Err(ScheduleError::SameStartAndEnd {
                field: at("end"),
                expression: spec.end.clone(),
            });
        }
        let desired_replicas = i32::try_from(spec.desired_replicas)
            .ok()
            .filter(|replicas| *replicas >= 1)
            .ok_or_else(|| ScheduleError::InvalidReplicas {
                field: at("desiredReplicas"),
                value: spec.desired_replicas,
            })?;
        windows.push(ScheduleWindow::new(
            name,
            timezone,
            (start, &spec.start),
            (end, &spec.end),
            desired_replicas,
        ));
    }
    Ok(windows)
}

/// Five fields, KEDA's `a/n` step form allowed.
fn parse_cron(expression: &str, field: &str, timezone: Tz) -> Result<Cron, ScheduleError> {
    let invalid = |message: String| ScheduleError::InvalidCron {
        field: field.to_string(),
        expression: expression.to_string(),
        message,
    };
    if expression.contains('=') {
        return Err(invalid(
            "TZ= prefixes are not supported, set the window's timezone".to_string(),
        ));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .sloppy_ranges(true)
        .build()
        .parse(expression)
        .map_err(|err| invalid(err.to_string()))?;
    // An expression that matches no real date (30 February) fails every search; say so now
    // rather than never opening the window. Searched from a fixed instant so validation does
    // not depend on the clock.
    let reference = DateTime::<Utc>::UNIX_EPOCH.with_timezone(&timezone);
    if cron.find_next_occurrence(&reference, false).is_err() {
        return Err(ScheduleError::NeverFires {
            field: field.to_string(),
            expression: expression.to_string(),
        });
    }
    Ok(cron)
}

fn normalize(expression: &str) -> String {
    expression.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `desiredReplicas` as a JSON integer or a string holding one (KEDA metadata values are
/// strings).
fn integer_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct IntegerOrString;

    impl Visitor<'_> for IntegerOrString {
        type Value = i64;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an integer or a string holding one")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
            Ok(i64::try_from(value).unwrap_or(i64::MAX))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<i64, E> {
            value
                .trim()
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(value), &self))
        }
    }

    deserializer.deserialize_any(IntegerOrString)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: &str, end: &str, replicas: i64) -> ScheduleSpec {
        ScheduleSpec {
            name: None,
            timezone: None,
            start: start.to_string(),
            end: end.to_string(),
            desired_replicas: replicas,
        }
    }

    fn error(specs: &[ScheduleSpec]) -> ScheduleError {
        validate_schedules(specs).unwrap_err()
    }

    #[test]
    fn keda_trigger_metadata_reads_as_a_window() {
        let spec: ScheduleSpec = serde_json::from_str(
            r#"{"timezone":"Asia/Kolkata","start":"30 * * * *","end":"45 * * * *",
                "desiredReplicas":"10"}"#,
        )
        .unwrap();
        assert_eq!(spec.desired_replicas, 10);
        let windows = validate_schedules(&[spec]).unwrap();
        assert_eq!(windows[0].name(), "schedules[0]");
        assert_eq!(windows[0].timezone(), Tz::Asia__Kolkata);
        assert!(serde_json::from_str::<ScheduleSpec>(
            r#"{"start":"0 9 * * *","end":"0 17 * * *","desiredReplicas":"ten"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ScheduleSpec>(
            r#"{"start":"0 9 * * *","end":"0 17 * * *","desiredReplicas":2.5}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ScheduleSpec>(
            r#"{"start":"0 9 * * *","end":"0 17 * * *","desiredReplicas":2,"extra":1}"#
        )
        .is_err());
    }

    #[test]
    fn invalid_cron_names_the_window_and_field() {
        let err = error(&[
            spec("0 9 * * *", "0 17 * * *", 2),
            spec("0 9 * * * *", "0 17 * * *", 2),
        ]);
        assert_eq!(err.field(), "schedules[1].start");
        assert!(
            err.to_string()
                .starts_with(r#"schedules[1].start: invalid cron expression "0 9 * * * *": "#),
            "{err}"
        );
        for bad in [
            "61 * * * *",
            "* 24 * * *",
            "",
            "every day",
            "TZ=UTC 0 9 * * *",
        ] {
            let err = error(&[spec("0 9 * * *", bad, 2)]);
            assert_eq!(err.field(), "schedules[0].end", "{bad}");
            assert_eq!(err.reason(), "invalid_cron", "{bad}");
        }
    }

    #[test]
    fn keda_step_and_name_forms_are_accepted() {
        for expression in [
            "0/30 * * * *",
            "*/15 8-18 * * MON-FRI",
            "0 9 1,15 JAN-MAR ?",
            "0 6 * * 1-5",
        ] {
            assert!(
                validate_schedules(&[spec(expression, "59 23 * * *", 1)]).is_ok(),
                "{expression}"
            );
        }
    }

    #[test]
    fn expressions_that_never_fire_are_rejected() {
        let err = error(&[spec("0 0 30 2 *", "0 1 * * *", 2)]);
        assert_eq!(
            err,
            ScheduleError::NeverFires {
                field: "schedules[0].start".into(),
                expression: "0 0 30 2 *".into()
            }
        );
    }

    #[test]
    fn same_start_and_end_is_rejected_like_keda() {
        let err = error(&[spec("31 * * * *", " 31  * * * * ", 2)]);
        assert_eq!(err.reason(), "same_start_and_end");
        assert_eq!(err.field(), "schedules[0].end");
    }

    #[test]
    fn timezone_defaults_to_utc_and_unknown_zones_are_rejected() {
        let mut window = spec("0 9 * * *", "0 17 * * *", 2);
        window.timezone = Some(String::new());
        assert_eq!(
            validate_schedules(&[window.clone()]).unwrap()[0].timezone(),
            Tz::UTC
        );
        window.timezone = Some("Mars/Olympus_Mons".into());
        let err = error(&[window.clone()]);
        assert_eq!(err.field(), "schedules[0].timezone");
        assert_eq!(err.reason(), "unknown_timezone");
        window.timezone = Some("Local".into());
        assert_eq!(error(&[window]).reason(), "unknown_timezone");
    }

    #[test]
    fn desired_replicas_must_be_a_positive_int32() {
        for value in [0, -1, i64::from(i32::MAX) + 1] {
            let err = error(&[spec("0 9 * * *", "0 17 * * *", value)]);
            assert_eq!(
                err,
                ScheduleError::InvalidReplicas {
                    field: "schedules[0].desiredReplicas".into(),
                    value
                }
            );
        }
    }

    #[test]
    fn window_names_must_be_unique() {
        let mut first = spec("0 9 * * *", "0 17 * * *", 2);
        first.name = Some("business-hours".into());
        let second = ScheduleSpec {
            start: "0 20 * * *".into(),
            end: "0 22 * * *".into(),
            ..first.clone()
        };
        let err = error(&[first, second]);
        assert_eq!(err.field(), "schedules[1].name");
        assert_eq!(err.reason(), "duplicate_name");
    }
}
