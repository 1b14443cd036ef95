//! The executable form of a query: an expression tree with its data loaded and its buffers.
//!
//! Compiling an [`Expr`] into [`Node`]s does all per-query work up front: every selector is
//! selected from storage exactly once (for all steps of a range query), grouping keys are
//! prepared, and each node gets the scratch buffers it reuses at every step. Evaluating a node
//! at one timestamp then only reads memory. Parentheses and unary plus disappear here, since
//! they do nothing at run time.

use tachyscale_tsdb::{MatchOp, METRIC_NAME};

use crate::ast::{Expr, Function, UnaryOp, VectorSelector};
use crate::error::EvalError;
use crate::eval::aggregate::Aggregator;
use crate::eval::binary::{scalar_op, BinaryEvaluator};
use crate::eval::functions::elementwise;
use crate::eval::histogram::HistogramQuantile;
use crate::eval::labels::{Deduper, SeriesLabels};
use crate::eval::selectors::{InstantSelector, Loader, RangeFunction};
use crate::eval::{Elem, StepValue};

pub(crate) enum Node {
    Number(f64),
    String(String),
    Selector(InstantSelector),
    RangeFunction(Box<RangeFunctionNode>),
    Elementwise(Box<ElementwiseNode>),
    ScalarOf(Box<Node>),
    VectorOf(Box<Node>),
    HistogramQuantile(Box<HistogramNode>),
    Aggregate(Box<AggregateNode>),
    Binary(Box<BinaryNode>),
    Negate(Box<Node>, Deduper),
}

pub(crate) struct RangeFunctionNode {
    function: RangeFunction,
    param: Option<Node>,
}

pub(crate) struct ElementwiseNode {
    func: Function,
    arg: Node,
    param: Option<Node>,
    dedupe: Deduper,
}

pub(crate) struct HistogramNode {
    state: HistogramQuantile,
    q: Node,
    buckets: Node,
    dedupe: Deduper,
}

pub(crate) struct AggregateNode {
    aggregator: Aggregator,
    param: Option<Node>,
    expr: Node,
}

pub(crate) struct BinaryNode {
    evaluator: BinaryEvaluator,
    lhs: Node,
    rhs: Node,
}

fn invalid(message: impl Into<String>) -> EvalError {
    EvalError::InvalidExpression(message.into())
}

/// Builds the executable tree, selecting every selector's data through `loader`.
pub(crate) fn compile(expr: &Expr, loader: &mut Loader<'_>) -> Result<Node, EvalError> {
    let node = match expr {
        Expr::Number(v) => Node::Number(*v),
        Expr::String(s) => Node::String(s.clone()),
        Expr::Paren(inner) => compile(inner, loader)?,
        Expr::VectorSelector(vs) => Node::Selector(InstantSelector::new(
            loader.load(vs, None)?,
            vs.offset_ms,
            loader.lookback_ms(),
        )),
        Expr::MatrixSelector(_) => {
            return Err(invalid(
                "a range vector can only be a function argument here",
            ))
        }
        Expr::Unary(u) => match u.op {
            UnaryOp::Plus => compile(&u.expr, loader)?,
            UnaryOp::Neg => Node::Negate(Box::new(compile(&u.expr, loader)?), Deduper::default()),
        },
        Expr::Binary(b) => Node::Binary(Box::new(BinaryNode {
            evaluator: BinaryEvaluator::new(b.op, b.return_bool, b.matching.as_ref()),
            lhs: compile(&b.lhs, loader)?,
            rhs: compile(&b.rhs, loader)?,
        })),
        Expr::Aggregate(a) => {
            if a.op.takes_param() != a.param.is_some() {
                return Err(invalid(format!(
                    "wrong parameters for aggregation {:?}",
                    a.op.name()
                )));
            }
            let param = match &a.param {
                Some(p) => Some(compile(p, loader)?),
                None => None,
            };
            Node::Aggregate(Box::new(AggregateNode {
                aggregator: Aggregator::new(a.op, a.grouping.as_ref(), loader.ids()),
                param,
                expr: compile(&a.expr, loader)?,
            }))
        }
        Expr::Call(c) => compile_call(c.func, &c.args, loader)?,
    };
    Ok(node)
}

fn compile_call(func: Function, args: &[Expr], loader: &mut Loader<'_>) -> Result<Node, EvalError> {
    let max = func.arg_types().len();
    let min = max - func.optional_args();
    if args.len() < min || args.len() > max {
        return Err(invalid(format!(
            "wrong number of arguments in call to {:?}",
            func.name()
        )));
    }
    if let Some(matrix_index) = func.matrix_arg() {
        let Expr::MatrixSelector(ms) = args[matrix_index].unwrap_parens() else {
            return Err(EvalError::Unsupported {
                feature: format!("{} over anything but a range selector", func.name()),
            });
        };
        let series = loader.load(&ms.selector, Some(ms.range_ms))?;
        let param = match matrix_index {
            0 => None,
            _ => Some(compile(&args[0], loader)?),
        };
        return Ok(Node::RangeFunction(Box::new(RangeFunctionNode {
            function: RangeFunction::new(
                func,
                series,
                ms.range_ms,
                ms.selector.offset_ms,
                fixes_metric_name(&ms.selector),
            ),
            param,
        })));
    }
    let mut compiled = Vec::with_capacity(args.len());
    for arg in args {
        compiled.push(compile(arg, loader)?);
    }
    let mut compiled = compiled.into_iter();
    let first = compiled
        .next()
        .ok_or_else(|| invalid(format!("missing argument to {:?}", func.name())))?;
    let second = compiled.next();
    let node = match (func, second) {
        (Function::Scalar, _) => Node::ScalarOf(Box::new(first)),
        (Function::Vector, _) => Node::VectorOf(Box::new(first)),
        (Function::HistogramQuantile, Some(buckets)) => {
            Node::HistogramQuantile(Box::new(HistogramNode {
                state: HistogramQuantile::new(loader.ids()),
                q: first,
                buckets,
                dedupe: Deduper::default(),
            }))
        }
        (Function::HistogramQuantile, None) => {
            return Err(invalid("histogram_quantile needs two arguments"))
        }
        (func, param) => Node::Elementwise(Box::new(ElementwiseNode {
            func,
            arg: first,
            param,
            dedupe: Deduper::default(),
        })),
    };
    Ok(node)
}

/// Whether every series a selector can select has the same metric name.
fn fixes_metric_name(selector: &VectorSelector) -> bool {
    selector.name.is_some()
        || selector
            .matchers
            .iter()
            .any(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal)
}

fn type_error(want: &str, got: &StepValue) -> EvalError {
    invalid(format!("expected {want}, got {}", got.type_name()))
}

impl Node {
    /// The node's value at evaluation time `t`.
    pub(crate) fn eval(&mut self, t: i64) -> Result<StepValue, EvalError> {
        let value =
            match self {
                Node::Number(v) => StepValue::Scalar(*v),
                Node::String(s) => StepValue::String(s.clone()),
                Node::Selector(sel) => StepValue::Vector(sel.eval(t)),
                Node::RangeFunction(n) => {
                    let param = match &mut n.param {
                        Some(p) => Some(p.eval_scalar(t)?),
                        None => None,
                    };
                    StepValue::Vector(n.function.eval(t, param)?)
                }
                Node::Elementwise(n) => {
                    let mut vector = n.arg.eval_vector(t)?;
                    let param = match &mut n.param {
                        Some(p) => Some(p.eval_scalar(t)?),
                        None => None,
                    };
                    let mut renamed = false;
                    for elem in &mut vector {
                        elem.value = elementwise(n.func, elem.value, param);
                        renamed |= elem.labels.drop_name();
                    }
                    if renamed {
                        n.dedupe.check(vector.iter().map(|e| &e.labels))?;
                    }
                    StepValue::Vector(vector)
                }
                Node::ScalarOf(arg) => {
                    let vector = arg.eval_vector(t)?;
                    StepValue::Scalar(match vector.as_slice() {
                        [only] => only.value,
                        _ => f64::NAN,
                    })
                }
                Node::VectorOf(arg) => StepValue::Vector(vec![Elem {
                    labels: SeriesLabels::empty(),
                    value: arg.eval_scalar(t)?,
                }]),
                Node::HistogramQuantile(n) => {
                    let q = n.q.eval_scalar(t)?;
                    let buckets = n.buckets.eval_vector(t)?;
                    let out = n.state.eval(q, &buckets);
                    n.dedupe.check(out.iter().map(|e| &e.labels))?;
                    StepValue::Vector(out)
                }
                Node::Aggregate(n) => {
                    let param = match &mut n.param {
                        Some(p) => Some(p.eval_scalar(t)?),
                        None => None,
                    };
                    let input = n.expr.eval_vector(t)?;
                    let out = n.aggregator.eval(&input, param);
                    n.expr.recycle(input);
                    StepValue::Vector(out?)
                }
                Node::Binary(n) => {
                    let lhs = n.lhs.eval(t)?;
                    let rhs = n.rhs.eval(t)?;
                    match (lhs, rhs) {
                        (StepValue::Scalar(l), StepValue::Scalar(r)) => {
                            StepValue::Scalar(scalar_op(n.evaluator.op(), l, r)?)
                        }
                        (StepValue::Vector(v), StepValue::Scalar(s)) => {
                            StepValue::Vector(n.evaluator.vector_scalar(v, s, false)?)
                        }
                        (StepValue::Scalar(s), StepValue::Vector(v)) => {
                            StepValue::Vector(n.evaluator.vector_scalar(v, s, true)?)
                        }
                        (StepValue::Vector(l), StepValue::Vector(r)) => {
                            StepValue::Vector(n.evaluator.vector_vector(l, r)?)
                        }
                        _ => return Err(invalid(
                            "binary expression must contain only scalar and instant vector types",
                        )),
                    }
                }
                Node::Negate(inner, dedupe) => match inner.eval(t)? {
                    StepValue::Scalar(v) => StepValue::Scalar(-v),
                    StepValue::Vector(mut vector) => {
                        let mut renamed = false;
                        for elem in &mut vector {
                            elem.value = -elem.value;
                            renamed |= elem.labels.drop_name();
                        }
                        if renamed {
                            dedupe.check(vector.iter().map(|e| &e.labels))?;
                        }
                        StepValue::Vector(vector)
                    }
                    other => return Err(type_error("scalar or instant vector", &other)),
                },
            };
        Ok(value)
    }

    /// Hands a vector this node returned back to it (or to the child it came from), so the
    /// next step can fill it without allocating.
    pub(crate) fn recycle(&mut self, buffer: Vec<Elem>) {
        match self {
            Node::Selector(sel) => sel.recycle(buffer),
            Node::RangeFunction(n) => n.function.recycle(buffer),
            Node::Elementwise(n) => n.arg.recycle(buffer),
            Node::Negate(inner, _) => inner.recycle(buffer),
            Node::Aggregate(n) => n.aggregator.recycle(buffer),
            _ => {}
        }
    }

    fn eval_scalar(&mut self, t: i64) -> Result<f64, EvalError> {
        match self.eval(t)? {
            StepValue::Scalar(v) => Ok(v),
            other => Err(type_error("scalar", &other)),
        }
    }

    fn eval_vector(&mut self, t: i64) -> Result<Vec<Elem>, EvalError> {
        match self.eval(t)? {
            StepValue::Vector(v) => Ok(v),
            other => Err(type_error("instant vector", &other)),
        }
    }
}
