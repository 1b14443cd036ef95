//! Per-scrape size limits, enforced while parsing so an oversized target is refused before
//! its samples are stored.
//!
//! They mirror Prometheus 2.42's scrape-config limits (`sample_limit`, `label_limit`,
//! `label_name_length_limit`, `label_value_length_limit`) and count the way Prometheus does:
//! the metric name is the `__name__` label, so it counts towards the number of labels and its
//! length towards the value-length limit. Prometheus applies them after relabelling; the
//! scraper may apply its configured limits again after relabelling — these are the ones that
//! bound parse work and memory.

use crate::error::{fail, ErrorKind, Fail};

/// Limits on one exposition; `0` means unlimited for each field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most samples in the whole exposition.
    pub max_samples: usize,
    /// Most labels per sample, counting `__name__` (the metric name) as one.
    pub max_labels_per_sample: usize,
    /// Longest label name in bytes (`__name__` is 8 bytes, so values below 8 refuse every
    /// sample, as in Prometheus).
    pub max_label_name_bytes: usize,
    /// Longest label value in bytes after unescaping; the metric name counts as the value of
    /// `__name__`.
    pub max_label_value_bytes: usize,
}

/// `__name__`'s length, which the name-length limit sees on every sample.
const NAME_LABEL_BYTES: usize = "__name__".len();

impl Limits {
    /// No limits at all.
    pub const UNLIMITED: Limits = Limits {
        max_samples: 0,
        max_labels_per_sample: 0,
        max_label_name_bytes: 0,
        max_label_value_bytes: 0,
    };

    /// Checks a sample about to be added, given how many are already stored and its metric
    /// name's length.
    pub(crate) fn check_sample(
        &self,
        stored: usize,
        name_bytes: usize,
        offset: usize,
    ) -> Result<(), Fail> {
        if self.max_samples != 0 && stored >= self.max_samples {
            return Err(fail(
                offset,
                ErrorKind::SampleLimit {
                    limit: self.max_samples,
                },
            ));
        }
        if self.max_label_name_bytes != 0 && NAME_LABEL_BYTES > self.max_label_name_bytes {
            return Err(fail(
                offset,
                ErrorKind::LabelNameLimit {
                    limit: self.max_label_name_bytes,
                },
            ));
        }
        if self.max_label_value_bytes != 0 && name_bytes > self.max_label_value_bytes {
            return Err(fail(
                offset,
                ErrorKind::LabelValueLimit {
                    limit: self.max_label_value_bytes,
                },
            ));
        }
        Ok(())
    }

    /// Checks one more label on a sample that already has `labels_before` labels (not
    /// counting `__name__`).
    pub(crate) fn check_label(
        &self,
        labels_before: usize,
        name_bytes: usize,
        value_bytes: usize,
        offset: usize,
    ) -> Result<(), Fail> {
        // +1 for this label, +1 for __name__.
        if self.max_labels_per_sample != 0 && labels_before + 2 > self.max_labels_per_sample {
            return Err(fail(
                offset,
                ErrorKind::LabelLimit {
                    limit: self.max_labels_per_sample,
                },
            ));
        }
        if self.max_label_name_bytes != 0 && name_bytes > self.max_label_name_bytes {
            return Err(fail(
                offset,
                ErrorKind::LabelNameLimit {
                    limit: self.max_label_name_bytes,
                },
            ));
        }
        if self.max_label_value_bytes != 0 && value_bytes > self.max_label_value_bytes {
            return Err(fail(
                offset,
                ErrorKind::LabelValueLimit {
                    limit: self.max_label_value_bytes,
                },
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_unlimited() {
        let l = Limits::UNLIMITED;
        assert!(l.check_sample(usize::MAX - 1, usize::MAX, 0).is_ok());
        assert!(l
            .check_label(usize::MAX - 2, usize::MAX, usize::MAX, 0)
            .is_ok());
    }

    #[test]
    fn name_counts_as_a_label_like_prometheus() {
        let l = Limits {
            max_labels_per_sample: 3,
            ..Limits::default()
        };
        assert!(l.check_label(0, 1, 1, 0).is_ok());
        assert!(l.check_label(1, 1, 1, 0).is_ok());
        let err = l.check_label(2, 1, 1, 7).unwrap_err();
        assert_eq!(err.kind, ErrorKind::LabelLimit { limit: 3 });
        assert_eq!(err.offset, 7);
    }

    #[test]
    fn sample_limit_allows_exactly_the_limit() {
        let l = Limits {
            max_samples: 2,
            ..Limits::default()
        };
        assert!(l.check_sample(1, 1, 0).is_ok());
        assert_eq!(
            l.check_sample(2, 1, 0).unwrap_err().kind.reason(),
            "sample_limit"
        );
    }

    #[test]
    fn metric_name_is_checked_as_a_label_value() {
        let l = Limits {
            max_label_value_bytes: 4,
            ..Limits::default()
        };
        assert!(l.check_sample(0, 4, 0).is_ok());
        assert_eq!(
            l.check_sample(0, 5, 0).unwrap_err().kind,
            ErrorKind::LabelValueLimit { limit: 4 }
        );
        let short_names = Limits {
            max_label_name_bytes: 7,
            ..Limits::default()
        };
        assert!(short_names.check_sample(0, 1, 0).is_err());
    }
}
