//! Kubernetes timestamps (`metav1.Time`, RFC 3339 with second or finer precision, always
//! UTC in API objects) as `i64` milliseconds since the Unix epoch, the unit every engine
//! works in.
//!
//! Documents may also carry plain integers (milliseconds), which is what our own tools
//! write when precision matters; both forms are read, RFC 3339 is written.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Parses an RFC 3339 timestamp into milliseconds since the epoch.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|time| time.timestamp_millis())
}

/// Formats milliseconds since the epoch as RFC 3339 in UTC, with milliseconds only when
/// they are not zero (Kubernetes writes whole seconds).
pub fn format_rfc3339_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(time) if ms % 1000 == 0 => time.to_rfc3339_opts(SecondsFormat::Secs, true),
        Some(time) => time.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Text(String),
    Millis(i64),
}

fn decode<E: serde::de::Error>(raw: RawTime) -> Result<i64, E> {
    match raw {
        RawTime::Millis(ms) => Ok(ms),
        RawTime::Text(text) => parse_rfc3339_ms(&text)
            .map_err(|err| E::custom(format!("invalid RFC 3339 timestamp {text:?}: {err}"))),
    }
}

/// `#[serde(with = "tachyscale_scaler::time::rfc3339_ms")]` for an `i64` field.
pub mod rfc3339_ms {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_rfc3339_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        decode(RawTime::deserialize(deserializer)?)
    }
}

/// `#[serde(default, with = "tachyscale_scaler::time::option_rfc3339_ms")]` for an
/// `Option<i64>` field (`null` or absent is `None`).
pub mod option_rfc3339_ms {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => serializer.serialize_str(&format_rfc3339_ms(*ms)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<RawTime>::deserialize(deserializer)?
            .map(decode)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_timestamps_round_trip() {
        let ms = parse_rfc3339_ms("2017-04-18T17:35:05Z").unwrap();
        assert_eq!(ms, 1_492_536_905_000);
        assert_eq!(format_rfc3339_ms(ms), "2017-04-18T17:35:05Z");
        assert_eq!(format_rfc3339_ms(ms + 250), "2017-04-18T17:35:05.250Z");
        assert_eq!(parse_rfc3339_ms("2017-04-18T19:35:05+02:00").unwrap(), ms);
        assert!(parse_rfc3339_ms("yesterday").is_err());
    }
}
