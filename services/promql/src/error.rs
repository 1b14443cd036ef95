//! The two ways a query can fail: it does not parse, or it cannot be evaluated.
//!
//! They are separate types because callers treat them differently: a [`ParseError`] is the
//! client's mistake and carries a byte position to point at, while an [`EvalError`] happens
//! against data and carries a bounded [`EvalError::reason`] for metrics. Messages use
//! Prometheus 2.42's wording where one exists, so clients that match on them keep working.

/// A query that is not valid PromQL, or uses syntax this engine does not support.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("parse error at char {}: {}", .pos + 1, .message)]
pub struct ParseError {
    /// Byte offset into the query where the problem was found.
    pub pos: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(pos: usize, message: impl Into<String>) -> Self {
        ParseError {
            pos,
            message: message.into(),
        }
    }

    /// Whether the query is valid PromQL that this engine deliberately does not implement
    /// (subqueries, `@`, `group_left`, some functions and aggregations).
    pub fn is_unsupported(&self) -> bool {
        self.message.ends_with("is not supported")
    }
}

/// A parsed query that could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A construct the evaluator does not implement.
    #[error("{feature} is not supported")]
    Unsupported { feature: String },

    /// The selected data exceeds `EngineOptions::max_samples`.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,

    /// An operation produced two series with identical labels.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,

    /// One-to-one matching found two series with the same signature on the "one" side.
    #[error(
        "found duplicate series for the match group {group} on the {side} hand-side of the \
         operation: [{first}, {second}];many-to-many matching not allowed: matching labels \
         must be unique on one side"
    )]
    DuplicateMatch {
        group: String,
        side: &'static str,
        first: String,
        second: String,
    },

    /// One-to-one matching found two left-hand series for one right-hand series.
    #[error(
        "multiple matches for labels: many-to-one matching must be explicit \
         (group_left/group_right)"
    )]
    ManyToOne,

    /// A range query of an expression that is not a scalar or an instant vector.
    #[error("invalid expression type \"{0}\" for range query, must be Scalar or instant Vector")]
    InvalidRangeQueryType(&'static str),

    /// A range query with more steps than `EngineOptions::max_points_per_series` allows.
    #[error(
        "exceeded maximum resolution of {} points per timeseries. Try decreasing the query \
         resolution (?step=XX)",
        thousands(*.limit)
    )]
    TooManyPoints { limit: usize },

    #[error(
        "zero or negative query resolution step widths are not accepted. Try a positive integer"
    )]
    NonPositiveStep,

    #[error("end timestamp must not be before start time")]
    EndBeforeStart,

    /// A `topk`/`bottomk` parameter that does not fit an int64.
    #[error("scalar value {0} overflows int64")]
    ParameterOverflow(String),

    /// An expression tree the parser would not have produced (for example built by hand with
    /// mismatched operand types).
    #[error("invalid expression: {0}")]
    InvalidExpression(String),
}

impl EvalError {
    /// A short, bounded label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            EvalError::Unsupported { .. } => "unsupported",
            EvalError::TooManySamples => "too_many_samples",
            EvalError::DuplicateLabelset => "duplicate_labelset",
            EvalError::DuplicateMatch { .. } => "many_to_many",
            EvalError::ManyToOne => "many_to_one",
            EvalError::InvalidRangeQueryType(_) => "range_vector_in_range_query",
            EvalError::TooManyPoints { .. } => "too_many_points",
            EvalError::NonPositiveStep | EvalError::EndBeforeStart => "bad_range",
            EvalError::ParameterOverflow(_) => "bad_parameter",
            EvalError::InvalidExpression(_) => "invalid_expression",
        }
    }
}

/// `11000` as `11,000`, the way Prometheus' fixed message spells its limit.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_counts_chars_from_one() {
        let err = ParseError::new(3, "unexpected end of input");
        assert_eq!(
            err.to_string(),
            "parse error at char 4: unexpected end of input"
        );
    }

    #[test]
    fn too_many_points_uses_prometheus_wording() {
        let err = EvalError::TooManyPoints { limit: 11_000 };
        assert_eq!(
            err.to_string(),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the \
             query resolution (?step=XX)"
        );
        assert_eq!(err.reason(), "too_many_points");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn unsupported_names_the_feature() {
        let err = EvalError::Unsupported {
            feature: "subquery".into(),
        };
        assert_eq!(err.to_string(), "subquery is not supported");
        assert!(ParseError::new(0, "subquery is not supported").is_unsupported());
    }
}
