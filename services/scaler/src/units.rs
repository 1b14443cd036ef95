//! Quantities as the HPA reads them: milli-units, rounded up (`MilliValue()`).
//!
//! API objects carry quantities as strings (`"500m"`, `"1Gi"`) but hand-written JSON and
//! YAML often have bare numbers (`averageValue: 2`); both are accepted. Values that do not
//! fit an `i64` of milli-units saturate, like Kubernetes' int64 view.

use serde::{Deserialize, Deserializer, Serializer};
use tachyscale_kubeformat::quantity::{self, Quantity, QuantityError};

/// Milli-units of a quantity string, saturated to the `i64` range.
pub fn parse_milli(text: &str) -> Result<i64, QuantityError> {
    quantity::parse(text).map(|quantity| saturate(quantity.milli()))
}

/// The canonical quantity string of a milli-unit count (`1500` → `"1500m"`).
pub fn format_milli(milli: i64) -> String {
    Quantity::from_milli(i128::from(milli)).format()
}

fn saturate(milli: i128) -> i64 {
    milli.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawQuantity {
    Text(String),
    Integer(i64),
    Float(f64),
}

fn decode<E: serde::de::Error>(raw: RawQuantity) -> Result<i64, E> {
    let parsed = match raw {
        RawQuantity::Text(text) => parse_milli(&text)
            .map_err(|err| E::custom(format!("invalid quantity {text:?}: {err}")))?,
        RawQuantity::Integer(units) => units.saturating_mul(1000),
        RawQuantity::Float(units) => Quantity::from_f64(units)
            .map(|quantity| saturate(quantity.milli()))
            .map_err(|err| E::custom(format!("invalid quantity {units}: {err}")))?,
    };
    Ok(parsed)
}

/// `#[serde(with = "tachyscale_scaler::units::milli")]` for an `i64` milli-unit field.
pub mod milli {
    use super::*;

    pub fn serialize<S: Serializer>(milli: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_milli(*milli))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        decode(RawQuantity::deserialize(deserializer)?)
    }
}

/// `#[serde(default, with = "tachyscale_scaler::units::option_milli")]` for an
/// `Option<i64>` milli-unit field.
pub mod option_milli {
    use super::*;

    pub fn serialize<S: Serializer>(milli: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match milli {
            Some(milli) => serializer.serialize_str(&format_milli(*milli)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<RawQuantity>::deserialize(deserializer)?
            .map(decode)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(with = "milli")]
        value: i64,
    }

    fn read(json: &str) -> i64 {
        serde_json::from_str::<Holder>(json).unwrap().value
    }

    #[test]
    fn quantities_read_as_milli_units_rounding_up() {
        assert_eq!(read(r#"{"value":"500m"}"#), 500);
        assert_eq!(read(r#"{"value":2}"#), 2000);
        assert_eq!(read(r#"{"value":0.0015}"#), 2);
        assert_eq!(read(r#"{"value":"1Ki"}"#), 1_024_000);
        assert_eq!(read(r#"{"value":"1u"}"#), 1);
        assert!(serde_json::from_str::<Holder>(r#"{"value":"five"}"#).is_err());
        assert_eq!(format_milli(1500), "1500m");
    }
}
