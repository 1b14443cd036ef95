//! Reading KEDA trigger metadata: every value is a string, parsed the way KEDA's typed
//! config parser does (`strconv.ParseInt`, `ParseFloat`, `ParseBool`), with defaults, and
//! with an error that names the key and says what was expected.
//!
//! Unlike KEDA, unknown keys are refused: a typo (`queueLenght`) otherwise silently falls
//! back to a default and scales wrongly. Keys KEDA uses for credentials are accepted and
//! ignored (credentials come from the standard AWS chain), keys that would need a pod's
//! environment (`…FromEnv`) are refused with a hint.

use std::collections::{BTreeMap, BTreeSet};

/// Why a trigger's metadata is not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    #[error(
        "unknown trigger type {kind:?} (expected aws-sqs-queue, aws-cloudwatch or prometheus)"
    )]
    UnknownType { kind: String },
    #[error("metadata.{key}: required")]
    Missing { key: &'static str },
    #[error("metadata.{key}: {value:?} is not {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("metadata.{key}: {message}")]
    Rule { key: String, message: String },
    #[error("metadata.{key}: unknown key (known: {known})")]
    UnknownKey { key: String, known: String },
}

impl MetadataError {
    pub fn reason(&self) -> &'static str {
        match self {
            MetadataError::UnknownType { .. } => "unknown_trigger_type",
            MetadataError::Missing { .. } => "missing_key",
            MetadataError::Invalid { .. } => "invalid_value",
            MetadataError::Rule { .. } => "invalid_value",
            MetadataError::UnknownKey { .. } => "unknown_key",
        }
    }
}

/// Typed access to one trigger's metadata that remembers which keys were read, so
/// [`Metadata::finish`] can refuse the rest.
pub struct Metadata<'a> {
    map: &'a BTreeMap<String, String>,
    known: BTreeSet<&'static str>,
}

impl<'a> Metadata<'a> {
    /// `ignored` are keys accepted without meaning here (KEDA auth and connection keys).
    pub fn new(map: &'a BTreeMap<String, String>, ignored: &[&'static str]) -> Metadata<'a> {
        Metadata {
            map,
            known: ignored.iter().copied().collect(),
        }
    }

    fn raw(&mut self, key: &'static str) -> Option<&'a str> {
        self.known.insert(key);
        self.map.get(key).map(String::as_str)
    }

    pub fn string(&mut self, key: &'static str) -> Option<String> {
        self.raw(key)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    pub fn required_string(&mut self, key: &'static str) -> Result<String, MetadataError> {
        self.string(key).ok_or(MetadataError::Missing { key })
    }

    pub fn int(&mut self, key: &'static str, default: i64) -> Result<i64, MetadataError> {
        match self.raw(key) {
            None | Some("") => Ok(default),
            Some(value) => value.parse().map_err(|_| invalid(key, value, "an integer")),
        }
    }

    pub fn float(&mut self, key: &'static str) -> Result<Option<f64>, MetadataError> {
        match self.raw(key) {
            None | Some("") => Ok(None),
            Some(value) => parse_go_float(value)
                .map(Some)
                .ok_or_else(|| invalid(key, value, "a number")),
        }
    }

    pub fn required_float(&mut self, key: &'static str) -> Result<f64, MetadataError> {
        self.float(key)?.ok_or(MetadataError::Missing { key })
    }

    pub fn bool(&mut self, key: &'static str, default: bool) -> Result<bool, MetadataError> {
        match self.raw(key) {
            None | Some("") => Ok(default),
            Some(value) => parse_go_bool(value).ok_or_else(|| invalid(key, value, "true or false")),
        }
    }

    /// Refuses keys nothing asked for. `…FromEnv` keys get their own message: they name an
    /// environment variable of the scaled workload, which only KEDA's operator can read.
    pub fn finish(self) -> Result<(), MetadataError> {
        for key in self.map.keys() {
            if self.known.contains(key.as_str()) {
                continue;
            }
            if let Some(base) = key.strip_suffix("FromEnv") {
                return Err(MetadataError::Rule {
                    key: key.clone(),
                    message: format!(
                        "values from the workload's environment are not available to the scaler; set {base} directly"
                    ),
                });
            }
            let known = self.known.iter().copied().collect::<Vec<_>>().join(", ");
            return Err(MetadataError::UnknownKey {
                key: key.clone(),
                known,
            });
        }
        Ok(())
    }
}

fn invalid(key: &str, value: &str, expected: &'static str) -> MetadataError {
    MetadataError::Invalid {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

/// `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseFloat(text, 64)` for the finite forms users write; NaN and infinities are
/// refused because no target or threshold can be one.
fn parse_go_float(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_parse_like_keda_and_errors_name_the_key() {
        let values = map(&[("n", "7"), ("b", "T"), ("f", "2.5"), ("bad", "x")]);
        let mut meta = Metadata::new(&values, &[]);
        assert_eq!(meta.int("n", 5).unwrap(), 7);
        assert_eq!(meta.int("absent", 5).unwrap(), 5);
        assert!(meta.bool("b", false).unwrap());
        assert_eq!(meta.float("f").unwrap(), Some(2.5));
        let err = meta.int("bad", 0).unwrap_err();
        assert_eq!(err.to_string(), r#"metadata.bad: "x" is not an integer"#);
    }

    #[test]
    fn unknown_and_from_env_keys_are_refused() {
        let values = map(&[("queueLenght", "5")]);
        let mut meta = Metadata::new(&values, &[]);
        let _ = meta.int("queueLength", 5);
        let err = meta.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "metadata.queueLenght: unknown key (known: queueLength)"
        );
        let values = map(&[("queueURLFromEnv", "QUEUE")]);
        let err = Metadata::new(&values, &[]).finish().unwrap_err();
        assert!(err.to_string().contains("set queueURL directly"), "{err}");
    }
}
