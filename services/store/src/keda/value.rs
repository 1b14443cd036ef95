//! From a query answer to the one number KEDA gets: at most one series, never NaN, ±Inf
//! or negative (KEDA would turn those into 0 without saying so).

use tachyscale_promql::Value;

/// Why an answer cannot be a scaler value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error(
        "the query returned {0} series; a scaler query must return one value \
         (aggregate it, e.g. with sum() or max())"
    )]
    TooManySeries(usize),
    #[error("the query returned no data and ignoreNullValues is false")]
    NoData,
    #[error("the query returned +Inf")]
    Infinite,
    #[error("the query returned a {0}; expected an instant vector or a scalar")]
    WrongType(&'static str),
}

/// The scaler value of an answer: no data (or NaN) is 0 when `ignore_null_values`,
/// negative values are 0, `-Inf` is 0, `+Inf` is an error.
pub fn scaler_value(value: &Value, ignore_null_values: bool) -> Result<f64, ValueError> {
    let raw = match value {
        Value::Scalar { value, .. } => Some(*value),
        Value::Vector(samples) => match samples.as_slice() {
            [] => None,
            [one] => Some(one.value),
            many => return Err(ValueError::TooManySeries(many.len())),
        },
        Value::Matrix(_) => return Err(ValueError::WrongType("range vector")),
        Value::String { .. } => return Err(ValueError::WrongType("string")),
    };
    match raw.filter(|v| !v.is_nan()) {
        None if ignore_null_values => Ok(0.0),
        None => Err(ValueError::NoData),
        Some(v) if v == f64::INFINITY => Err(ValueError::Infinite),
        Some(v) => Ok(v.max(0.0)),
    }
}

/// The deprecated int64 field older KEDA reads: rounded, saturating.
pub fn legacy_int(value: f64) -> i64 {
    // `as` saturates for out-of-range floats.
    value.round() as i64
}

/// Older KEDA divides by `targetSize`, so a positive target never becomes 0 there.
pub fn legacy_target(target: f64) -> i64 {
    legacy_int(target).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyscale_promql::VectorSample;
    use tachyscale_tsdb::Labels;

    fn vector(values: &[f64]) -> Value {
        Value::Vector(
            values
                .iter()
                .map(|&value| VectorSample {
                    labels: Labels::default(),
                    ts_ms: 0,
                    value,
                })
                .collect(),
        )
    }

    #[test]
    fn one_series_or_a_scalar_gives_its_value() {
        assert_eq!(scaler_value(&vector(&[2.5]), true), Ok(2.5));
        assert_eq!(
            scaler_value(
                &Value::Scalar {
                    ts_ms: 0,
                    value: 3.0
                },
                false
            ),
            Ok(3.0)
        );
    }

    #[test]
    fn no_data_follows_ignore_null_values() {
        assert_eq!(scaler_value(&vector(&[]), true), Ok(0.0));
        assert_eq!(scaler_value(&vector(&[]), false), Err(ValueError::NoData));
        assert_eq!(scaler_value(&vector(&[f64::NAN]), true), Ok(0.0));
        assert_eq!(
            scaler_value(&vector(&[f64::NAN]), false),
            Err(ValueError::NoData)
        );
    }

    #[test]
    fn never_negative_nan_or_infinite() {
        assert_eq!(scaler_value(&vector(&[-4.0]), true), Ok(0.0));
        assert_eq!(scaler_value(&vector(&[f64::NEG_INFINITY]), true), Ok(0.0));
        assert_eq!(
            scaler_value(&vector(&[f64::INFINITY]), true),
            Err(ValueError::Infinite)
        );
        assert_eq!(
            scaler_value(&vector(&[1.0, 2.0]), true),
            Err(ValueError::TooManySeries(2))
        );
    }

    #[test]
    fn legacy_fields_round_and_saturate() {
        assert_eq!(legacy_int(2.5), 3);
        assert_eq!(legacy_int(0.4), 0);
        assert_eq!(legacy_int(1e300), i64::MAX);
        assert_eq!(legacy_target(0.2), 1);
        assert_eq!(legacy_target(10.0), 10);
    }
}
