//! `prometheus`: an instant query against the store or any Prometheus-compatible query API,
//! with KEDA's semantics (`pkg/scalers/prometheus_scaler.go`, KEDA 2.18):
//!
//! - `query` (required), `threshold` (required, the target), `activationThreshold`
//!   (default 0, active when `value > activationThreshold`), `ignoreNullValues` (default
//!   true): an empty result, or an infinite value, reads as 0 instead of an error;
//! - a result with more than one element is an error (the query must aggregate);
//! - `serverAddress` is optional here: without it the scaler's configured metrics source
//!   (normally the store) answers; the metric is `s{index}-prometheus`.
//!
//! Scalar results (`scalar(…)`, `vector(…)` folded) are accepted as one element, which KEDA
//! cannot parse; nothing else changes.

use std::collections::BTreeMap;

use super::metadata::{Metadata, MetadataError};
use super::TriggerReading;

const IGNORED_KEYS: &[&str] = &["unsafeSsl", "authModes", "namespace", "timeout"];

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusTrigger {
    pub server_address: Option<String>,
    pub query: String,
    pub threshold: f64,
    pub activation_threshold: f64,
    pub ignore_null_values: bool,
    pub metric_name: String,
}

impl PrometheusTrigger {
    pub fn parse(
        map: &BTreeMap<String, String>,
        index: usize,
    ) -> Result<PrometheusTrigger, MetadataError> {
        let mut meta = Metadata::new(map, IGNORED_KEYS);
        let server_address = meta.string("serverAddress");
        let query = meta.required_string("query")?;
        let threshold = meta.required_float("threshold")?;
        let activation_threshold = meta.float("activationThreshold")?.unwrap_or(0.0);
        let ignore_null_values = meta.bool("ignoreNullValues", true)?;
        meta.finish()?;
        if let Some(address) = &server_address {
            if !(address.starts_with("http://") || address.starts_with("https://")) {
                return Err(MetadataError::Rule {
                    key: "serverAddress".into(),
                    message: format!("{address:?} is not an http(s) URL"),
                });
            }
        }
        if threshold <= 0.0 {
            return Err(MetadataError::Rule {
                key: "threshold".into(),
                message: format!("must be greater than 0, got {threshold}"),
            });
        }
        Ok(PrometheusTrigger {
            server_address,
            query,
            threshold,
            activation_threshold,
            ignore_null_values,
            metric_name: format!("s{index}-prometheus"),
        })
    }

    /// The value of an instant query's result values (one per element).
    pub fn value_of(&self, values: &[f64]) -> Result<f64, String> {
        match values {
            [] if self.ignore_null_values => Ok(0.0),
            [] => Err(format!(
                "the query returned no data and ignoreNullValues is false: {}",
                self.query
            )),
            [value] if value.is_nan() => Err("the query returned NaN".into()),
            [value] if value.is_infinite() && self.ignore_null_values => Ok(0.0),
            [value] if value.is_infinite() => Err(format!("the query returned {value}")),
            [value] => Ok(*value),
            more => Err(format!(
                "the query returned {} elements; it must return one: {}",
                more.len(),
                self.query
            )),
        }
    }

    pub fn reading(&self, value: f64) -> TriggerReading {
        TriggerReading::new(value, self.activation_threshold)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn trigger(ignore_null_values: &str) -> PrometheusTrigger {
        let map = [
            ("query", "sum(rate(http_requests_total[1m]))"),
            ("threshold", "100"),
            ("activationThreshold", "5"),
            ("ignoreNullValues", ignore_null_values),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        PrometheusTrigger::parse(&map, 2).unwrap()
    }

    #[test]
    fn one_element_is_the_value_and_activation_is_strict() {
        let trigger = trigger("true");
        assert_eq!(trigger.metric_name, "s2-prometheus");
        assert_eq!(trigger.value_of(&[42.5]).unwrap(), 42.5);
        assert!(!trigger.reading(5.0).active);
        assert!(trigger.reading(5.001).active);
        assert!(trigger
            .value_of(&[1.0, 2.0])
            .unwrap_err()
            .contains("2 elements"));
    }

    #[test]
    fn empty_and_infinite_results_follow_ignore_null_values() {
        let lenient = trigger("true");
        assert_eq!(lenient.value_of(&[]).unwrap(), 0.0);
        assert_eq!(lenient.value_of(&[f64::INFINITY]).unwrap(), 0.0);
        let strict = trigger("false");
        assert!(strict.value_of(&[]).is_err());
        assert!(strict.value_of(&[f64::NEG_INFINITY]).is_err());
        assert!(
            lenient.value_of(&[f64::NAN]).is_err(),
            "NaN is never a value"
        );
    }
}
