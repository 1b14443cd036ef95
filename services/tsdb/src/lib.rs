//! tachyscale's time-series engine, pure and in memory.
//!
//! - [`labels`], [`intern`]: series identity and the shared string table.
//! - [`chunk`]: Prometheus-compatible XOR chunks (delta-of-delta timestamps, XOR values).
//! - [`index`]: postings that answer label matchers without scanning every series.
//! - [`head`]: the concurrent series store with append rules, retention and accounting.
//! - [`query`]: the read surface the PromQL evaluator and the HTTP metadata endpoints use.
//!
//! Nothing here reads a clock or does I/O: callers pass times in, which is what lets the
//! same code run in the store, in benchmarks with simulated time, and in property tests.

pub mod chunk;
pub mod head;
pub mod index;
pub mod intern;
pub mod labels;
pub mod matcher;
pub mod query;
pub mod sample;
mod series;

pub use head::{
    AppendError, Appender, GcReport, Head, HeadCounters, HeadOptions, HeadStats, SeriesRef,
};
pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use query::{Queryable, SelectError, SeriesSamples, StaticSeries};
pub use sample::{is_stale_nan, stale_nan, Sample, STALE_NAN_BITS};
