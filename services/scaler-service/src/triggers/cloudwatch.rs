//! `aws-cloudwatch`: scale on a CloudWatch metric, with KEDA's semantics
//! (`pkg/scalers/aws_cloudwatch_scaler.go`, KEDA 2.18):
//!
//! - one `GetMetricData` query, `ScanBy=TimestampDescending`: either a `MetricStat`
//!   (`namespace`, `metricName`, `dimensionName`/`dimensionValue` lists separated by `;`,
//!   `metricStat` default `Average`, `metricStatPeriod` default 300, optional
//!   `metricUnit`) or an `expression` (Metrics Insights / math);
//! - the window ends at `now − metricEndTimeOffset` truncated to a multiple of
//!   `metricStatPeriod` (Go's `Time.Truncate`, which counts from year 1, not from 1970 —
//!   the same for periods that divide a day) and starts `metricCollectionTime` earlier;
//! - the value is the newest datapoint; with no datapoint it is `minMetricValue`, unless
//!   the query returned a result with no values and `ignoreNullValues` is false, which is
//!   an error (so the HPA holds instead of reading a made-up value);
//! - `targetMetricValue` and `minMetricValue` are required, `activationTargetMetricValue`
//!   defaults to 0 (active when `value > activation`); the metric is
//!   `s{index}-aws-cloudwatch`;
//! - validation: `metricStatPeriod` ∈ {1, 5, 10, 30, 60} or a multiple of 60,
//!   `metricCollectionTime` ≥ 0 and a multiple of the period, dimension lists of equal
//!   length, `metricUnit` one of CloudWatch's standard units.

use std::collections::BTreeMap;

use super::metadata::{Metadata, MetadataError};
use super::TriggerReading;

const IGNORED_KEYS: &[&str] = &[
    "identityOwner",
    "awsAccessKeyID",
    "awsSecretAccessKey",
    "awsSessionToken",
    "awsRoleArn",
    "awsAccountId",
];

/// CloudWatch's `StandardUnit` values.
const STANDARD_UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Longest period, collection time and end offset accepted, in seconds (455 days, the
/// longest CloudWatch keeps data), so window arithmetic in milliseconds cannot overflow.
const MAX_WINDOW_S: i64 = 455 * 86_400;

/// Milliseconds from 0001-01-01T00:00:00Z (Go's zero `Time`) to the Unix epoch.
const GO_ZERO_TO_UNIX_MS: i64 = -tachyscale_gomath::GO_ZERO_TIME_MS;

/// What to ask CloudWatch for.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudWatchQuery {
    Stat {
        namespace: String,
        metric_name: String,
        dimensions: Vec<(String, String)>,
        stat: String,
        unit: Option<String>,
    },
    Expression(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchTrigger {
    pub query: CloudWatchQuery,
    pub target_metric_value: f64,
    pub activation_target_metric_value: f64,
    pub min_metric_value: f64,
    pub ignore_null_values: bool,
    pub metric_collection_time_s: i64,
    pub metric_stat_period_s: i64,
    pub metric_end_time_offset_s: i64,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub metric_name: String,
}

/// A `GetMetricData` time window, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryWindow {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl CloudWatchTrigger {
    pub fn parse(
        map: &BTreeMap<String, String>,
        index: usize,
    ) -> Result<CloudWatchTrigger, MetadataError> {
        let mut meta = Metadata::new(map, IGNORED_KEYS);
        let namespace = meta.string("namespace");
        let metric_name = meta.string("metricName");
        let dimension_names = meta.string("dimensionName").map(split_list);
        let dimension_values = meta.string("dimensionValue").map(split_list);
        let expression = meta.string("expression");
        let target_metric_value = meta.required_float("targetMetricValue")?;
        let activation_target_metric_value =
            meta.float("activationTargetMetricValue")?.unwrap_or(0.0);
        let min_metric_value = meta.required_float("minMetricValue")?;
        let ignore_null_values = meta.bool("ignoreNullValues", true)?;
        let metric_collection_time_s = meta.int("metricCollectionTime", 300)?;
        let stat = meta
            .string("metricStat")
            .unwrap_or_else(|| "Average".to_owned());
        let unit = meta.string("metricUnit");
        let metric_stat_period_s = meta.int("metricStatPeriod", 300)?;
        let metric_end_time_offset_s = meta.int("metricEndTimeOffset", 0)?;
        let region = meta.string("awsRegion");
        let endpoint = meta.string("awsEndpoint");
        meta.finish()?;

        let query = match expression {
            Some(expression) => CloudWatchQuery::Expression(expression),
            None => {
                let namespace = namespace.ok_or(MetadataError::Missing { key: "namespace" })?;
                let metric_name =
                    metric_name.ok_or(MetadataError::Missing { key: "metricName" })?;
                let names = dimension_names.ok_or(MetadataError::Missing {
                    key: "dimensionName",
                })?;
                let values = dimension_values.ok_or(MetadataError::Missing {
                    key: "dimensionValue",
                })?;
                if names.len() != values.len() {
                    return Err(rule(
                        "dimensionValue",
                        format!(
                            "{} values for {} dimension names; the lists must match in size",
                            values.len(),
                            names.len()
                        ),
                    ));
                }
                if let Some(unit) = &unit {
                    if !STANDARD_UNITS.contains(&unit.as_str()) {
                        return Err(rule(
                            "metricUnit",
                            format!("{unit:?} is not one of {}", STANDARD_UNITS.join(", ")),
                        ));
                    }
                }
                CloudWatchQuery::Stat {
                    namespace,
                    metric_name,
                    dimensions: names.into_iter().zip(values).collect(),
                    stat,
                    unit,
                }
            }
        };
        check_period(metric_stat_period_s)?;
        for (key, value) in [
            ("metricCollectionTime", metric_collection_time_s),
            ("metricEndTimeOffset", metric_end_time_offset_s),
        ] {
            if !(0..=MAX_WINDOW_S).contains(&value) {
                return Err(rule(
                    key,
                    format!("must be between 0 and {MAX_WINDOW_S} seconds, got {value}"),
                ));
            }
        }
        if metric_collection_time_s < 0 || metric_collection_time_s % metric_stat_period_s != 0 {
            return Err(rule(
                "metricCollectionTime",
                format!(
                    "must be at least 0 and a multiple of metricStatPeriod ({metric_stat_period_s}), got {metric_collection_time_s}"
                ),
            ));
        }
        if target_metric_value <= 0.0 {
            return Err(rule(
                "targetMetricValue",
                format!("must be greater than 0, got {target_metric_value}"),
            ));
        }
        Ok(CloudWatchTrigger {
            query,
            target_metric_value,
            activation_target_metric_value,
            min_metric_value,
            ignore_null_values,
            metric_collection_time_s,
            metric_stat_period_s,
            metric_end_time_offset_s,
            region,
            endpoint,
            metric_name: format!("s{index}-aws-cloudwatch"),
        })
    }

    /// KEDA's `computeQueryWindow`.
    pub fn query_window(&self, now_ms: i64) -> QueryWindow {
        let period_ms = self.metric_stat_period_s * 1000;
        let shifted = now_ms - self.metric_end_time_offset_s * 1000 + GO_ZERO_TO_UNIX_MS;
        let end_ms = shifted - shifted.rem_euclid(period_ms) - GO_ZERO_TO_UNIX_MS;
        QueryWindow {
            start_ms: end_ms - self.metric_collection_time_s * 1000,
            end_ms,
        }
    }

    /// The value from the first query result's values, newest first (`None` when the
    /// answer held no result at all).
    pub fn value_of(&self, first_result_values: Option<&[f64]>) -> Result<f64, String> {
        match first_result_values {
            Some([]) if !self.ignore_null_values => {
                Err("empty metric data received and ignoreNullValues is false".to_owned())
            }
            Some([newest, ..]) => Ok(*newest),
            _ => Ok(self.min_metric_value),
        }
    }

    pub fn reading(&self, value: f64) -> TriggerReading {
        TriggerReading::new(value, self.activation_target_metric_value)
    }

    /// How long a reading stays current: CloudWatch aggregates per `metricStatPeriod`, so
    /// asking more often than that (capped at a minute) only costs `GetMetricData` calls.
    pub fn cache_ms(&self) -> i64 {
        self.metric_stat_period_s.min(60) * 1000
    }
}

fn split_list(text: String) -> Vec<String> {
    text.split(';').map(|part| part.trim().to_owned()).collect()
}

fn rule(key: &str, message: String) -> MetadataError {
    MetadataError::Rule {
        key: key.to_owned(),
        message,
    }
}

fn check_period(period_s: i64) -> Result<(), MetadataError> {
    let valid = match period_s {
        1 | 5 | 10 | 30 | 60 => true,
        p if p > 60 => p % 60 == 0 && p <= MAX_WINDOW_S,
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(rule(
            "metricStatPeriod",
            format!("must be 1, 5, 10, 30, 60 or a multiple of 60, got {period_s}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<CloudWatchTrigger, MetadataError> {
        let mut map: BTreeMap<String, String> = [
            ("namespace", "AWS/SQS"),
            ("metricName", "ApproximateNumberOfMessagesVisible"),
            ("dimensionName", "QueueName"),
            ("dimensionValue", "jobs"),
            ("targetMetricValue", "2"),
            ("minMetricValue", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                map.remove(*k);
            } else {
                map.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        CloudWatchTrigger::parse(&map, 1)
    }

    #[test]
    fn window_ends_at_the_offset_now_truncated_to_the_period() {
        let trigger = parse(&[
            ("metricStatPeriod", "60"),
            ("metricCollectionTime", "300"),
            ("metricEndTimeOffset", "30"),
        ])
        .unwrap();
        // 2024-01-01T00:10:45Z − 30 s = 00:10:15 → 00:10:00.
        let now_ms = 1_704_067_845_000;
        let window = trigger.query_window(now_ms);
        assert_eq!(window.end_ms, 1_704_067_800_000);
        assert_eq!(window.start_ms, 1_704_067_500_000);
        assert_eq!(trigger.metric_name, "s1-aws-cloudwatch");
    }

    #[test]
    fn truncation_counts_from_year_one_like_go() {
        // 420 s does not divide the seconds between year 1 and 1970, so Go's truncation
        // lands 240 s away from a truncation counted from the Unix epoch.
        let trigger =
            parse(&[("metricStatPeriod", "420"), ("metricCollectionTime", "420")]).unwrap();
        let window = trigger.query_window(1_704_067_845_000);
        let since_go_zero = window.end_ms + GO_ZERO_TO_UNIX_MS;
        assert_eq!(since_go_zero % 420_000, 0);
        assert!(window.end_ms <= 1_704_067_845_000 && window.end_ms > 1_704_067_845_000 - 420_000);
        assert_ne!(window.end_ms % 420_000, 0);
    }

    #[test]
    fn newest_datapoint_else_min_value_unless_nulls_are_errors() {
        let trigger = parse(&[("minMetricValue", "1.5")]).unwrap();
        assert_eq!(trigger.value_of(Some(&[7.0, 3.0])).unwrap(), 7.0);
        assert_eq!(trigger.value_of(Some(&[])).unwrap(), 1.5);
        assert_eq!(trigger.value_of(None).unwrap(), 1.5);
        let strict = parse(&[("ignoreNullValues", "false")]).unwrap();
        assert!(strict.value_of(Some(&[])).is_err());
        assert_eq!(
            strict.value_of(None).unwrap(),
            0.0,
            "no result at all is not an error in KEDA"
        );
        let reading = trigger.reading(2.0005);
        assert_eq!(reading.value_milli, 2000);
        assert!(reading.active);
        assert!(!trigger.reading(0.0).active);
    }

    #[test]
    fn validation_follows_keda() {
        let err = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().to_string();
        assert_eq!(
            err(&[("metricStatPeriod", "45")]),
            "metadata.metricStatPeriod: must be 1, 5, 10, 30, 60 or a multiple of 60, got 45"
        );
        assert!(
            err(&[("metricStatPeriod", "60"), ("metricCollectionTime", "90")])
                .starts_with("metadata.metricCollectionTime:")
        );
        assert!(err(&[("dimensionValue", "a;b")])
            .starts_with("metadata.dimensionValue: 2 values for 1"));
        assert!(err(&[("metricUnit", "Apples")]).starts_with("metadata.metricUnit:"));
        assert_eq!(
            err(&[("minMetricValue", "")]),
            "metadata.minMetricValue: required"
        );
        assert_eq!(err(&[("namespace", "")]), "metadata.namespace: required");
        let expression = parse(&[
            ("namespace", ""),
            ("metricName", ""),
            ("dimensionName", ""),
            ("dimensionValue", ""),
            ("expression", "SELECT MAX(x) FROM y"),
        ])
        .unwrap();
        assert_eq!(
            expression.query,
            CloudWatchQuery::Expression("SELECT MAX(x) FROM y".into())
        );
        let stat = parse(&[("dimensionName", "A;B"), ("dimensionValue", "1;2")]).unwrap();
        match stat.query {
            CloudWatchQuery::Stat {
                dimensions, stat, ..
            } => {
                assert_eq!(
                    dimensions,
                    [
                        ("A".to_owned(), "1".to_owned()),
                        ("B".to_owned(), "2".to_owned())
                    ]
                );
                assert_eq!(stat, "Average");
            }
            CloudWatchQuery::Expression(_) => unreachable!(),
        }
    }
}
