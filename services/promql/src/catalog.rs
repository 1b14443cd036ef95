//! The fixed vocabulary of the language: functions, aggregations and their signatures.
//!
//! Kept apart from the AST so the parser's type checks, the printer and the evaluator all read
//! one table. The lists of upstream names we do not implement live here too: a query using one
//! gets "function \"sort\" is not supported" rather than "unknown function", which tells the
//! user the query is fine and the engine is the limitation.

use crate::ast::ValueType;

/// The functions this engine evaluates (a subset of Prometheus 2.42's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Rate,
    Irate,
    Increase,
    Delta,
    Idelta,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    QuantileOverTime,
    Scalar,
    Vector,
    Abs,
    Ceil,
    Floor,
    Round,
    ClampMin,
    ClampMax,
    HistogramQuantile,
}

/// Every supported function, in catalog order.
pub(crate) const ALL_FUNCTIONS: [Function; 21] = [
    Function::Rate,
    Function::Irate,
    Function::Increase,
    Function::Delta,
    Function::Idelta,
    Function::AvgOverTime,
    Function::MinOverTime,
    Function::MaxOverTime,
    Function::SumOverTime,
    Function::CountOverTime,
    Function::LastOverTime,
    Function::QuantileOverTime,
    Function::Scalar,
    Function::Vector,
    Function::Abs,
    Function::Ceil,
    Function::Floor,
    Function::Round,
    Function::ClampMin,
    Function::ClampMax,
    Function::HistogramQuantile,
];

/// Functions Prometheus 2.42 has and this engine rejects as unsupported.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "changes",
    "clamp",
    "cos",
    "cosh",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "deriv",
    "exp",
    "histogram_count",
    "histogram_fraction",
    "histogram_sum",
    "holt_winters",
    "hour",
    "label_join",
    "label_replace",
    "ln",
    "log10",
    "log2",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "rad",
    "resets",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "year",
];

impl Function {
    /// Looks a function up by its exact (case-sensitive) name, as Prometheus does.
    pub fn from_name(name: &str) -> Option<Function> {
        ALL_FUNCTIONS.iter().copied().find(|f| f.name() == name)
    }

    /// Whether `name` is a Prometheus function this engine does not implement.
    pub fn is_unsupported_name(name: &str) -> bool {
        UNSUPPORTED_FUNCTIONS.contains(&name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::Rate => "rate",
            Function::Irate => "irate",
            Function::Increase => "increase",
            Function::Delta => "delta",
            Function::Idelta => "idelta",
            Function::AvgOverTime => "avg_over_time",
            Function::MinOverTime => "min_over_time",
            Function::MaxOverTime => "max_over_time",
            Function::SumOverTime => "sum_over_time",
            Function::CountOverTime => "count_over_time",
            Function::LastOverTime => "last_over_time",
            Function::QuantileOverTime => "quantile_over_time",
            Function::Scalar => "scalar",
            Function::Vector => "vector",
            Function::Abs => "abs",
            Function::Ceil => "ceil",
            Function::Floor => "floor",
            Function::Round => "round",
            Function::ClampMin => "clamp_min",
            Function::ClampMax => "clamp_max",
            Function::HistogramQuantile => "histogram_quantile",
        }
    }

    /// Declared argument types; with [`Function::optional_args`] > 0 the trailing ones may be
    /// omitted (Prometheus' "variadic").
    pub fn arg_types(self) -> &'static [ValueType] {
        use ValueType::{Matrix, Scalar, Vector};
        match self {
            Function::Rate
            | Function::Irate
            | Function::Increase
            | Function::Delta
            | Function::Idelta
            | Function::AvgOverTime
            | Function::MinOverTime
            | Function::MaxOverTime
            | Function::SumOverTime
            | Function::CountOverTime
            | Function::LastOverTime => &[Matrix],
            Function::QuantileOverTime => &[Scalar, Matrix],
            Function::Scalar | Function::Abs | Function::Ceil | Function::Floor => &[Vector],
            Function::Vector => &[Scalar],
            Function::Round | Function::ClampMin | Function::ClampMax => &[Vector, Scalar],
            Function::HistogramQuantile => &[Scalar, Vector],
        }
    }

    /// How many trailing arguments may be left out.
    pub fn optional_args(self) -> usize {
        match self {
            Function::Round => 1,
            _ => 0,
        }
    }

    pub fn return_type(self) -> ValueType {
        match self {
            Function::Scalar => ValueType::Scalar,
            _ => ValueType::Vector,
        }
    }

    /// The index of the range-vector argument, for functions that take one.
    pub fn matrix_arg(self) -> Option<usize> {
        self.arg_types()
            .iter()
            .position(|t| *t == ValueType::Matrix)
    }
}

/// The aggregations this engine evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Quantile,
    Topk,
    Bottomk,
}

/// Aggregation keywords Prometheus 2.42 has and this engine rejects as unsupported.
const UNSUPPORTED_AGGREGATIONS: &[&str] = &["stddev", "stdvar", "group", "count_values"];

impl AggregateOp {
    /// Looks an aggregation up by keyword, ignoring case like Prometheus' lexer.
    pub fn from_keyword(word: &str) -> Option<AggregateOp> {
        let op = match word.to_ascii_lowercase().as_str() {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "count" => AggregateOp::Count,
            "quantile" => AggregateOp::Quantile,
            "topk" => AggregateOp::Topk,
            "bottomk" => AggregateOp::Bottomk,
            _ => return None,
        };
        Some(op)
    }

    /// Whether `word` is a Prometheus aggregation this engine does not implement.
    pub fn is_unsupported_keyword(word: &str) -> bool {
        UNSUPPORTED_AGGREGATIONS.contains(&word.to_ascii_lowercase().as_str())
    }

    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Count => "count",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
        }
    }

    /// Whether the aggregation takes a scalar parameter before the vector.
    pub fn takes_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Quantile | AggregateOp::Topk | AggregateOp::Bottomk
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_lookup_is_case_sensitive() {
        assert_eq!(Function::from_name("rate"), Some(Function::Rate));
        assert_eq!(Function::from_name("RATE"), None);
        for f in ALL_FUNCTIONS {
            assert_eq!(Function::from_name(f.name()), Some(f));
            assert!(!Function::is_unsupported_name(f.name()));
        }
    }

    #[test]
    fn aggregation_keywords_ignore_case() {
        assert_eq!(AggregateOp::from_keyword("SUM"), Some(AggregateOp::Sum));
        assert!(AggregateOp::is_unsupported_keyword("StdDev"));
        assert_eq!(AggregateOp::from_keyword("stddev"), None);
    }

    #[test]
    fn matrix_argument_positions() {
        assert_eq!(Function::Rate.matrix_arg(), Some(0));
        assert_eq!(Function::QuantileOverTime.matrix_arg(), Some(1));
        assert_eq!(Function::Abs.matrix_arg(), None);
    }
}
