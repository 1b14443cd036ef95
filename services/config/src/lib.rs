//! Config loading shared by every role.
//!
//! Each role has a raw, serde-shaped config (`deny_unknown_fields`, defaults) and a validated
//! runtime type built from it once at start (`TryFrom<Raw>`). Both steps report errors the
//! same way — the dotted path of the offending field and the reason — so a bad file fails
//! at start with the file, the field and the reason, as an operator needs to fix it.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem with one field of a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Dotted path, e.g. `tsdb.retention`; `.` for the document itself.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A config file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {error}")]
    Invalid { path: PathBuf, error: FieldError },
}

/// Parses YAML text into `Raw`, then validates it into `Settings`.
pub fn parse<Raw, Settings>(text: &str) -> Result<Settings, FieldError>
where
    Raw: DeserializeOwned,
    Settings: TryFrom<Raw, Error = FieldError>,
{
    // An empty file is an empty mapping: every field takes its default.
    let text = if text.trim().is_empty() { "{}" } else { text };
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    let raw: Raw = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let location = inner
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        FieldError::new(field, format!("{inner}{location}"))
    })?;
    Settings::try_from(raw)
}

/// Reads and validates a config file.
pub fn load<Raw, Settings>(path: &Path) -> Result<Settings, ConfigError>
where
    Raw: DeserializeOwned,
    Settings: TryFrom<Raw, Error = FieldError>,
{
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse::<Raw, Settings>(&text).map_err(|error| ConfigError::Invalid {
        path: path.to_path_buf(),
        error,
    })
}

/// Checks `value` is at least `min`, naming the field otherwise.
pub fn at_least<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    min: T,
) -> Result<T, FieldError> {
    if value < min {
        return Err(FieldError::new(
            field,
            format!("must be at least {min}, got {value}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        count: u32,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Raw {
        inner: Inner,
    }

    struct Settings(u32);

    impl TryFrom<Raw> for Settings {
        type Error = FieldError;
        fn try_from(raw: Raw) -> Result<Self, FieldError> {
            at_least("inner.count", raw.inner.count, 1).map(Settings)
        }
    }

    #[test]
    fn type_errors_name_the_field_path_and_line() {
        let err = parse::<Raw, Settings>("inner:\n  count: many\n")
            .err()
            .unwrap();
        assert_eq!(err.field, "inner.count");
        assert!(err.reason.contains("line 2"), "{}", err.reason);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse::<Raw, Settings>("inner:\n  cuont: 1\n")
            .err()
            .unwrap();
        assert_eq!(err.field, "inner.cuont");
        assert!(err.reason.contains("cuont"), "{}", err.reason);
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = parse::<Raw, Settings>("inner: {count: 0}").err().unwrap();
        assert_eq!(err.to_string(), "inner.count: must be at least 1, got 0");
        assert!(parse::<Raw, Settings>("").is_err());
        let ok = parse::<Raw, Settings>("inner: {count: 3}").ok().unwrap();
        assert_eq!(ok.0, 3);
    }
}
