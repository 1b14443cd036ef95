//! PromQL for tachyscale: a parser and a pure evaluator matching Prometheus 2.42.
//!
//! - [`parse`] turns query text into an [`Expr`], rejecting unsupported syntax up front with
//!   a [`ParseError`] whose message ends in "is not supported".
//! - [`instant_query`] and [`range_query`] evaluate an [`Expr`] against any
//!   [`tachyscale_tsdb::Queryable`], with times passed in: no clock, no I/O, no async.
//!
//! Module map: `lexer` → `parser` (type-checks as it builds) → [`ast`] (with `Display` back
//! to PromQL); `eval` compiles the tree into a plan that selects each selector's data once,
//! then evaluates it step by step (`eval::selectors`, `functions`, `histogram`, `aggregate`,
//! `binary`, with label grouping in `eval::labels`). `gofmt` holds the Go text formats and
//! [`tachyscale_gomath`] the Go float arithmetic Prometheus inherits.
//!
//! Not supported, each rejected by [`parse`] with "... is not supported": subqueries, the `@`
//! modifier, `group_left`/`group_right`, the `stddev`, `stdvar`, `group` and `count_values`
//! aggregations, and Prometheus functions other than `rate`, `irate`, `increase`, `delta`,
//! `idelta`, `{avg,min,max,sum,count,last,quantile}_over_time`, `scalar`, `vector`, `abs`,
//! `ceil`, `floor`, `round`, `clamp_min`, `clamp_max` and `histogram_quantile`.
//!
//! Series are processed in the order the [`tachyscale_tsdb::Queryable`] returns them, as
//! Prometheus processes them in storage order; that order decides float summation order and
//! which of several equal values `topk` keeps. Instant vectors are returned sorted by labels
//! (except a top-level `topk`/`bottomk`, which keeps its ranking); matrices always are.

pub mod ast;
mod catalog;
mod error;
mod eval;
mod gofmt;
mod lexer;
mod parser;
#[cfg(test)]
mod roundtrip_tests;

pub use ast::{Expr, ValueType};
pub use error::{EvalError, ParseError};
pub use eval::{instant_query, range_query, EngineOptions, Series, Value, VectorSample};
pub use parser::{parse, parse_duration, parse_series_selector};

/// A PromQL string literal for `s` (Go `strconv.Quote` style), for building query text.
pub fn quote_string(s: &str) -> String {
    gofmt::quote_go_string(s)
}
