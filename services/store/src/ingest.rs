//! Validates remote-write series and appends their samples to the head.
//!
//! A request is processed series by series: a series with bad labels is refused with all
//! its samples, a bad sample is refused alone, and everything else in the request is kept.
//! The report counts refusals by reason and keeps the first error's text, so the sender
//! learns what was wrong and the operator sees it in `tachyscale_store_samples_rejected_total`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tachyscale_proto::prometheus::{Label, WriteRequest};
use tachyscale_tsdb::{AppendError, Head, METRIC_NAME};

use crate::config::WriteLimits;

/// Why a series was refused before any of its samples were looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("series has no labels")]
    NoLabels,
    #[error("series has no __name__ label")]
    MissingMetricName,
    #[error("metric name {name:?} is invalid (must match [a-zA-Z_:][a-zA-Z0-9_:]*)")]
    InvalidMetricName { name: String },
    #[error(
        "label name {name:?} at position {position} is invalid (must match [a-zA-Z_][a-zA-Z0-9_]*)"
    )]
    InvalidLabelName { position: usize, name: String },
    #[error("label at position {position} has an empty name")]
    EmptyLabelName { position: usize },
    #[error("label {name:?} at position {position} has an empty value")]
    EmptyLabelValue { position: usize, name: String },
    #[error("label {name:?} at position {position} is not sorted after {previous:?}")]
    UnsortedLabels {
        position: usize,
        name: String,
        previous: String,
    },
    #[error("label {name:?} appears twice (position {position})")]
    DuplicateLabel { position: usize, name: String },
    #[error("series has {count} labels, more than the limit of {limit}")]
    TooManyLabels { count: usize, limit: usize },
    #[error("label name at position {position} is {len} bytes, more than the limit of {limit}")]
    LabelNameTooLong {
        position: usize,
        len: usize,
        limit: usize,
    },
    #[error("value of label {name:?} is {len} bytes, more than the limit of {limit}")]
    LabelValueTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
}

impl SeriesError {
    /// Bounded reason label.
    pub fn reason(&self) -> &'static str {
        match self {
            SeriesError::NoLabels => "no_labels",
            SeriesError::MissingMetricName => "missing_metric_name",
            SeriesError::InvalidMetricName { .. } => "invalid_metric_name",
            SeriesError::InvalidLabelName { .. } => "invalid_label_name",
            SeriesError::EmptyLabelName { .. } | SeriesError::EmptyLabelValue { .. } => {
                "empty_label"
            }
            SeriesError::UnsortedLabels { .. } => "unsorted_labels",
            SeriesError::DuplicateLabel { .. } => "duplicate_label",
            SeriesError::TooManyLabels { .. } => "too_many_labels",
            SeriesError::LabelNameTooLong { .. } => "label_name_too_long",
            SeriesError::LabelValueTooLong { .. } => "label_value_too_long",
        }
    }

    /// Every reason, to pre-register metric label values.
    pub const REASONS: [&'static str; 10] = [
        "no_labels",
        "missing_metric_name",
        "invalid_metric_name",
        "invalid_label_name",
        "empty_label",
        "unsorted_labels",
        "duplicate_label",
        "too_many_labels",
        "label_name_too_long",
        "label_value_too_long",
    ];
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks a series' labels against the remote-write rules and the configured limits.
pub fn validate_labels(labels: &[Label], limits: &WriteLimits) -> Result<(), SeriesError> {
    if labels.is_empty() {
        return Err(SeriesError::NoLabels);
    }
    if labels.len() > limits.max_labels_per_series {
        return Err(SeriesError::TooManyLabels {
            count: labels.len(),
            limit: limits.max_labels_per_series,
        });
    }
    let mut has_name = false;
    for (position, label) in labels.iter().enumerate() {
        if label.name.len() > limits.max_label_name_bytes {
            return Err(SeriesError::LabelNameTooLong {
                position,
                len: label.name.len(),
                limit: limits.max_label_name_bytes,
            });
        }
        if label.name.is_empty() {
            return Err(SeriesError::EmptyLabelName { position });
        }
        if !is_valid_label_name(&label.name) {
            return Err(SeriesError::InvalidLabelName {
                position,
                name: label.name.clone(),
            });
        }
        if label.value.is_empty() {
            return Err(SeriesError::EmptyLabelValue {
                position,
                name: label.name.clone(),
            });
        }
        if label.value.len() > limits.max_label_value_bytes {
            return Err(SeriesError::LabelValueTooLong {
                name: label.name.clone(),
                len: label.value.len(),
                limit: limits.max_label_value_bytes,
            });
        }
        if position > 0 {
            let previous = &labels[position - 1].name;
            if *previous == label.name {
                return Err(SeriesError::DuplicateLabel {
                    position,
                    name: label.name.clone(),
                });
            }
            if *previous > label.name {
                return Err(SeriesError::UnsortedLabels {
                    position,
                    name: label.name.clone(),
                    previous: previous.clone(),
                });
            }
        }
        if label.name == METRIC_NAME {
            has_name = true;
            if !is_valid_metric_name(&label.value) {
                return Err(SeriesError::InvalidMetricName {
                    name: label.value.clone(),
                });
            }
        }
    }
    if !has_name {
        return Err(SeriesError::MissingMetricName);
    }
    Ok(())
}

/// What happened to one request's samples.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    pub accepted: u64,
    /// Refused samples by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// The first refusal, with the series it concerns.
    pub first_error: Option<String>,
    /// Distinct metric names that got at least one sample, for [`crate::generations`].
    pub metric_names: Vec<String>,
    /// The newest accepted sample timestamp (`i64::MIN` when none).
    pub newest_ts_ms: i64,
}

impl IngestReport {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Whether some refusal is the series limit, which the sender may retry later.
    pub fn hit_series_limit(&self) -> bool {
        self.rejected.contains_key("series_limit")
    }

    fn refuse(
        &mut self,
        reason: &'static str,
        samples: u64,
        labels: &[Label],
        error: &dyn std::fmt::Display,
    ) {
        *self.rejected.entry(reason).or_default() += samples;
        if self.first_error.is_none() {
            self.first_error = Some(format!("series {}: {error}", describe(labels)));
        }
    }

    /// One line for the HTTP response and the log.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "accepted {} samples, rejected {}",
            self.accepted,
            self.rejected_total()
        );
        for (reason, n) in &self.rejected {
            let _ = write!(out, ", {reason}={n}");
        }
        if let Some(first) = &self.first_error {
            let _ = write!(out, "; first error: {first}");
        }
        out
    }
}

/// `{a="b", ...}` for error messages, cut short for very long label sets.
fn describe(labels: &[Label]) -> String {
    const MAX_CHARS: usize = 256;
    let mut out = String::from("{");
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}={:?}", label.name, label.value);
        if out.len() > MAX_CHARS {
            out.truncate(MAX_CHARS);
            out.push('…');
            break;
        }
    }
    out.push('}');
    out
}

/// A sample too far ahead of the receiver's clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sample timestamp {ts_ms} is more than {max_future_ms} ms ahead of the store's clock ({now_ms})")]
pub struct FutureSample {
    pub ts_ms: i64,
    pub now_ms: i64,
    pub max_future_ms: i64,
}

/// Appends every valid sample of `request` to `head`; `now_ms` bounds future timestamps.
pub fn ingest(
    head: &Head,
    request: &WriteRequest,
    limits: &WriteLimits,
    now_ms: i64,
) -> IngestReport {
    let latest_ok_ms = now_ms.saturating_add(limits.max_future_ms);
    let mut report = IngestReport::default();
    let mut appender = head.appender();
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
    let mut names: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut newest_ts_ms = i64::MIN;
    for series in &request.timeseries {
        if series.samples.is_empty() {
            continue;
        }
        let samples = series.samples.len() as u64;
        pairs.clear();
        pairs.extend(
            series
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        );
        // A stored series passed validation when it was created; only new ones are checked.
        let stored = match appender.existing(&pairs) {
            Some(stored) => stored,
            None => {
                if let Err(e) = validate_labels(&series.labels, limits) {
                    report.refuse(e.reason(), samples, &series.labels, &e);
                    continue;
                }
                match appender.series(&pairs) {
                    Ok(stored) => stored,
                    Err(e) => {
                        report.refuse(e.reason(), samples, &series.labels, &e);
                        continue;
                    }
                }
            }
        };
        let accepted_before = report.accepted;
        for sample in &series.samples {
            if sample.timestamp > latest_ok_ms {
                let e = FutureSample {
                    ts_ms: sample.timestamp,
                    now_ms,
                    max_future_ms: limits.max_future_ms,
                };
                report.refuse(FUTURE_REASON, 1, &series.labels, &e);
                continue;
            }
            match appender.append_to(&stored, sample.timestamp, sample.value) {
                Ok(()) => {
                    report.accepted += 1;
                    newest_ts_ms = newest_ts_ms.max(sample.timestamp);
                }
                Err(e) => report.refuse(e.reason(), 1, &series.labels, &e),
            }
        }
        if report.accepted > accepted_before {
            if let Some(name) = series.labels.iter().find(|l| l.name == METRIC_NAME) {
                names.insert(name.value.as_str());
            }
        }
    }
    report.metric_names = names.into_iter().map(str::to_string).collect();
    report.newest_ts_ms = newest_ts_ms;
    report
}

/// Every reason an ingest can report, engine and wire together.
pub fn all_reasons() -> impl Iterator<Item = &'static str> {
    SeriesError::REASONS
        .into_iter()
        .chain(AppendError::REASONS)
        .chain([FUTURE_REASON])
}

/// Reason label of [`FutureSample`].
const FUTURE_REASON: &str = "too_far_in_future";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreSettings;
    use tachyscale_proto::prometheus::{Sample, TimeSeries};
    use tachyscale_tsdb::HeadOptions;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
        }
    }

    fn limits() -> WriteLimits {
        StoreSettings::default().write
    }

    #[test]
    fn each_label_rule_has_its_own_reason() {
        let l = limits();
        let check = |labels: &[(&str, &str)]| {
            validate_labels(&series(labels, &[]).labels, &l)
                .unwrap_err()
                .reason()
        };
        assert_eq!(check(&[]), "no_labels");
        assert_eq!(check(&[("job", "x")]), "missing_metric_name");
        assert_eq!(check(&[("__name__", "1x")]), "invalid_metric_name");
        assert_eq!(
            check(&[("__name__", "x"), ("a-b", "1")]),
            "invalid_label_name"
        );
        assert_eq!(check(&[("__name__", "x"), ("a", "")]), "empty_label");
        assert_eq!(check(&[("", "v"), ("__name__", "x")]), "empty_label");
        assert_eq!(
            check(&[("b", "1"), ("a", "2"), ("__name__", "x")]),
            "unsorted_labels"
        );
        assert_eq!(
            check(&[("__name__", "x"), ("a", "1"), ("a", "2")]),
            "duplicate_label"
        );
        assert!(validate_labels(
            &series(&[("__name__", "a:b_c"), ("le", "1")], &[]).labels,
            &l
        )
        .is_ok());
    }

    #[test]
    fn bad_series_do_not_drop_good_ones() {
        let head = Head::new(HeadOptions::default());
        let request = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "good"), ("i", "1")], &[(1, 1.0), (2, 2.0)]),
                series(&[("__name__", "bad"), ("z", "1"), ("a", "1")], &[(1, 1.0)]),
                series(&[("__name__", "good"), ("i", "2")], &[(2, 1.0), (1, 2.0)]),
            ],
        };
        let report = ingest(&head, &request, &limits(), 10_000);
        assert_eq!(report.accepted, 3);
        assert_eq!(report.rejected.get("unsorted_labels"), Some(&1));
        assert_eq!(report.rejected.get("out_of_order"), Some(&1));
        assert!(report.first_error.as_deref().unwrap_or("").contains("bad"));
        assert_eq!(head.series_count(), 2);
    }

    #[test]
    fn far_future_samples_are_refused_before_they_move_retention() {
        let head = Head::new(HeadOptions::default());
        let request = WriteRequest {
            timeseries: vec![series(
                &[("__name__", "x")],
                &[(1_000, 1.0), (10_000 + 600_001, 2.0)],
            )],
        };
        let report = ingest(&head, &request, &limits(), 10_000);
        assert_eq!(report.accepted, 1);
        assert_eq!(report.rejected.get("too_far_in_future"), Some(&1));
        assert_eq!(head.max_ts_ms(), Some(1_000));
    }
}
