//! Evaluation: instant and range queries over a [`Queryable`].
//!
//! Both entry points compile the expression once (which selects all data the query needs, see
//! [`plan`]) and then evaluate the tree at each step: an instant query is a range query with a
//! single step, as in Prometheus. A range query collects each step's samples into one series
//! per label set. Results are plain owned values so the HTTP layer can serialise them without
//! knowing anything about the evaluator's shared, lazily-renamed label sets.

mod aggregate;
mod binary;
mod functions;
mod histogram;
mod labels;
mod plan;
#[cfg(test)]
mod query_tests;
mod selectors;

use tachyscale_tsdb::{Labels, Queryable, Sample};

use crate::ast::{AggregateOp, Expr, ValueType};
use crate::error::EvalError;
use labels::{KeyCache, Keyer, SeriesLabels};
use selectors::{range_window, Loader};

/// Limits and defaults of the evaluator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the newest sample (Prometheus' 5m).
    pub lookback_delta_ms: i64,
    /// Most samples a query may select from storage, and most points a range query may return.
    pub max_samples: usize,
    /// Most steps a range query may have (Prometheus' 11,000).
    pub max_points_per_series: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 300_000,
            max_samples: 50_000_000,
            max_points_per_series: 11_000,
        }
    }
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { ts_ms: i64, value: f64 },
    Vector(Vec<VectorSample>),
    Matrix(Vec<Series>),
    String { ts_ms: i64, value: String },
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Scalar { .. } => ValueType::Scalar,
            Value::Vector(_) => ValueType::Vector,
            Value::Matrix(_) => ValueType::Matrix,
            Value::String { .. } => ValueType::String,
        }
    }
}

/// One sample of an instant vector, stamped with the evaluation time.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    pub ts_ms: i64,
    pub value: f64,
}

/// One series of a matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// One sample of an intermediate instant vector.
#[derive(Clone, Debug)]
pub(crate) struct Elem {
    pub(crate) labels: SeriesLabels,
    pub(crate) value: f64,
}

#[cfg(test)]
impl Elem {
    /// An element with owned labels, for the evaluator's unit tests.
    pub(crate) fn from_pairs(pairs: &[(&str, &str)], value: f64) -> Elem {
        Elem {
            labels: SeriesLabels::owned(tachyscale_tsdb::Labels::from_pairs(pairs.iter().copied())),
            value,
        }
    }
}

/// A node's value at one evaluation step.
pub(crate) enum StepValue {
    Scalar(f64),
    Vector(Vec<Elem>),
    String(String),
}

impl StepValue {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            StepValue::Scalar(_) => "scalar",
            StepValue::Vector(_) => "instant vector",
            StepValue::String(_) => "string",
        }
    }
}

/// Evaluates `expr` at `ts_ms`.
///
/// Instant vectors come back sorted by labels, except for a top-level `topk`/`bottomk`, whose
/// order (by value within each group) is the answer's point. A range selector returns its raw
/// samples (stale markers removed) with full labels.
pub fn instant_query(
    db: &dyn Queryable,
    expr: &Expr,
    ts_ms: i64,
    opts: &EngineOptions,
) -> Result<Value, EvalError> {
    let mut loader = Loader::new(db, ts_ms, ts_ms, opts.lookback_delta_ms, opts.max_samples);
    let root = expr.unwrap_parens();
    if let Expr::MatrixSelector(ms) = root {
        let loaded = loader.load(&ms.selector, Some(ms.range_ms))?;
        let ref_ms = ts_ms.saturating_sub(ms.selector.offset_ms);
        let mut out: Vec<Series> = loaded
            .series
            .iter()
            .zip(loaded.labels.iter())
            .filter_map(|(s, labels)| {
                let samples = range_window(&s.samples, ref_ms, ms.range_ms).to_vec();
                (!samples.is_empty()).then(|| Series {
                    labels: labels.clone(),
                    samples,
                })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        return Ok(Value::Matrix(out));
    }
    let mut node = plan::compile(expr, &mut loader)?;
    let value = match node.eval(ts_ms)? {
        StepValue::Scalar(value) => Value::Scalar { ts_ms, value },
        StepValue::String(value) => Value::String { ts_ms, value },
        StepValue::Vector(elems) => {
            let mut out: Vec<VectorSample> = elems
                .into_iter()
                .map(|e| VectorSample {
                    labels: e.labels.into_labels(),
                    ts_ms,
                    value: e.value,
                })
                .collect();
            let ranked = matches!(
                root,
                Expr::Aggregate(a) if matches!(a.op, AggregateOp::Topk | AggregateOp::Bottomk)
            );
            if !ranked {
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            Value::Vector(out)
        }
    };
    Ok(value)
}

/// Evaluates `expr` at `start_ms`, `start_ms + step_ms`, ... up to `end_ms`; the result is
/// always a matrix sorted by labels (a scalar expression yields one series without labels).
pub fn range_query(
    db: &dyn Queryable,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &EngineOptions,
) -> Result<Value, EvalError> {
    if step_ms <= 0 {
        return Err(EvalError::NonPositiveStep);
    }
    if end_ms < start_ms {
        return Err(EvalError::EndBeforeStart);
    }
    // Prometheus' API check: more than `limit` step intervals (so limit + 1 points) fails.
    let intervals = (i128::from(end_ms) - i128::from(start_ms)) / i128::from(step_ms);
    if intervals > opts.max_points_per_series as i128 {
        return Err(EvalError::TooManyPoints {
            limit: opts.max_points_per_series,
        });
    }
    match expr.value_type() {
        ValueType::Matrix => return Err(EvalError::InvalidRangeQueryType("range vector")),
        ValueType::String => return Err(EvalError::InvalidRangeQueryType("string")),
        ValueType::Scalar | ValueType::Vector => {}
    }
    let mut loader = Loader::new(
        db,
        start_ms,
        end_ms,
        opts.lookback_delta_ms,
        opts.max_samples,
    );
    let mut node = plan::compile(expr, &mut loader)?;
    let mut collector = MatrixCollector::new(opts.max_samples);
    let mut t = start_ms;
    loop {
        match node.eval(t)? {
            StepValue::Scalar(value) => collector.push(&SeriesLabels::empty(), t, value)?,
            StepValue::Vector(elems) => {
                for e in &elems {
                    collector.push(&e.labels, t, e.value)?;
                }
                node.recycle(elems);
            }
            StepValue::String(_) => return Err(EvalError::InvalidRangeQueryType("string")),
        }
        match t.checked_add(step_ms) {
            Some(next) if next <= end_ms => t = next,
            _ => break,
        }
    }
    Ok(Value::Matrix(collector.finish()))
}

/// Gathers per-step samples into series keyed by label set.
struct MatrixCollector {
    /// Key id = index into `samples`.
    series: KeyCache,
    samples: Vec<Vec<Sample>>,
    points: usize,
    max_points: usize,
}

impl MatrixCollector {
    fn new(max_points: usize) -> Self {
        MatrixCollector {
            series: KeyCache::new(Keyer::identity()),
            samples: Vec::new(),
            points: 0,
            max_points,
        }
    }

    fn push(&mut self, labels: &SeriesLabels, ts_ms: i64, value: f64) -> Result<(), EvalError> {
        self.points += 1;
        if self.points > self.max_points {
            return Err(EvalError::TooManySamples);
        }
        let id = self.series.key_id(labels);
        if id == self.samples.len() {
            self.samples.push(Vec::new());
        }
        self.samples[id].push(Sample::new(ts_ms, value));
        Ok(())
    }

    fn finish(self) -> Vec<Series> {
        let series = self.series;
        let mut out: Vec<Series> = self
            .samples
            .into_iter()
            .enumerate()
            .map(|(id, samples)| Series {
                labels: series.rep(id).to_labels(),
                samples,
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}
