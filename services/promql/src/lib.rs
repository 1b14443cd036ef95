//! PromQL for tachyscale: a parser and a pure evaluator matching Prometheus 2.42.
//!
//! - [`parse`] turns query text into an [`Expr`], rejecting unsupported syntax up front.
//! - [`instant_query`] and [`range_query`] evaluate an [`Expr`] against any
//!   [`tachyscale_tsdb::Queryable`], with times passed in (no clock, no I/O, no async).

pub mod ast;
mod catalog;
mod error;
mod gomath;
mod lexer;
mod parser;

pub use ast::{Expr, ValueType};
pub use error::{EvalError, ParseError};
pub use parser::parse;
