//! Binary operators between scalars and instant vectors, including `and`/`or`/`unless`.
//!
//! Vector-to-vector matching maps each sample's match signature (its labels restricted by
//! `on(...)`, or minus `ignoring(...)` and `__name__`) to a key id through a [`KeyCache`],
//! indexes the right-hand side by key, then probes it with each left-hand sample. The rules follow
//! `VectorBinop`, `VectorAnd/Or/Unless`, `VectorscalarBinop` and `resultMetric` in
//! promql/engine.go (2.42), including its short-circuits on empty sides, which decide whether
//! a duplicate on the right is reported at all. Only one-to-one matching is supported;
//! `group_left`/`group_right` are rejected by the parser.

use tachyscale_gomath as gomath;

use crate::ast::{BinaryOp, VectorMatching};
use crate::error::EvalError;
use crate::eval::labels::{go_labels_string, Deduper, KeyCache, Keyer, SeriesLabels, StepSlots};
use crate::eval::Elem;

/// `vectorElemBinop`: the value and, for comparisons, whether the sample is kept. `None` for
/// set operators, which have no per-element value.
pub(crate) fn elem_op(op: BinaryOp, l: f64, r: f64) -> Option<(f64, bool)> {
    let out = match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (gomath::pow(l, r), true),
        BinaryOp::Atan2 => (gomath::atan2(l, r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => return None,
    };
    Some(out)
}

/// `scalarBinop`: comparisons between scalars yield 1 or 0.
pub(crate) fn scalar_op(op: BinaryOp, l: f64, r: f64) -> Result<f64, EvalError> {
    let (value, keep) = elem_op(op, l, r).ok_or_else(|| set_operator_on_scalars(op))?;
    if op.is_comparison() {
        return Ok(if keep { 1.0 } else { 0.0 });
    }
    Ok(value)
}

fn set_operator_on_scalars(op: BinaryOp) -> EvalError {
    EvalError::InvalidExpression(format!(
        "set operator {:?} not allowed in binary scalar expression",
        op.as_str()
    ))
}

/// A binary operator node's settings and reusable buffers.
pub(crate) struct BinaryEvaluator {
    op: BinaryOp,
    return_bool: bool,
    /// Key ids of match signatures.
    signatures: KeyCache,
    /// This step's indexed side: the sample per signature key.
    sample_of_key: StepSlots,
    /// Per right-hand sample: whether a left-hand sample already matched it.
    matched: Vec<bool>,
    /// How `on`/`ignoring` trims the result labels of arithmetic and comparisons.
    result_trim: Option<Keyer>,
    /// Whether results can collide (`on(__name__, ...)` with the name dropped afterwards).
    result_may_collide: bool,
    dedupe: Deduper,
}

impl BinaryEvaluator {
    pub(crate) fn new(op: BinaryOp, return_bool: bool, matching: Option<&VectorMatching>) -> Self {
        let (signature, result_trim) = match matching {
            Some(m) if m.on => (Keyer::only(&m.labels), Some(Keyer::only(&m.labels))),
            Some(m) if !m.labels.is_empty() => (
                Keyer::except_with_name(&m.labels),
                Some(Keyer::except(&m.labels)),
            ),
            _ => (Keyer::except_with_name(&[]), None),
        };
        let drops_name = op.drops_metric_name() || return_bool;
        let result_may_collide = drops_name
            && matching.is_some_and(|m| m.on && m.labels.iter().any(|l| l == "__name__"));
        BinaryEvaluator {
            op,
            return_bool,
            signatures: KeyCache::new(signature),
            sample_of_key: StepSlots::default(),
            matched: Vec::new(),
            result_trim,
            result_may_collide,
            dedupe: Deduper::default(),
        }
    }

    pub(crate) fn op(&self) -> BinaryOp {
        self.op
    }

    /// A vector with a scalar on either side (`VectorscalarBinop`).
    pub(crate) fn vector_scalar(
        &mut self,
        vector: Vec<Elem>,
        scalar: f64,
        scalar_on_left: bool,
    ) -> Result<Vec<Elem>, EvalError> {
        let op = self.op;
        let mut out = Vec::with_capacity(vector.len());
        let mut renamed = false;
        for mut elem in vector {
            let (l, r) = if scalar_on_left {
                (scalar, elem.value)
            } else {
                (elem.value, scalar)
            };
            let (mut value, mut keep) =
                elem_op(op, l, r).ok_or_else(|| set_operator_on_scalars(op))?;
            // A filtering comparison keeps the vector's value even when it is on the right.
            if op.is_comparison() && scalar_on_left {
                value = r;
            }
            if self.return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                elem.value = value;
                if op.drops_metric_name() || self.return_bool {
                    renamed |= elem.labels.drop_name();
                }
                out.push(elem);
            }
        }
        if renamed {
            self.dedupe.check(out.iter().map(|e| &e.labels))?;
        }
        Ok(out)
    }

    /// Two vectors, one-to-one (`VectorBinop`) or with a set operator.
    pub(crate) fn vector_vector(
        &mut self,
        lhs: Vec<Elem>,
        rhs: Vec<Elem>,
    ) -> Result<Vec<Elem>, EvalError> {
        match self.op {
            BinaryOp::And => Ok(self.and_unless(lhs, rhs, true)),
            BinaryOp::Unless => Ok(self.and_unless(lhs, rhs, false)),
            BinaryOp::Or => Ok(self.or(lhs, rhs)),
            _ => self.one_to_one(lhs, rhs),
        }
    }

    /// Indexes `side` by signature. With `stop_at_duplicate`, returns the first sample whose
    /// signature is already indexed, with the earlier one.
    fn build_index(&mut self, side: &[Elem], stop_at_duplicate: bool) -> Option<(usize, usize)> {
        self.sample_of_key.next_step();
        for (i, elem) in side.iter().enumerate() {
            let key = self.signatures.key_id(&elem.labels);
            match self.sample_of_key.get(key) {
                Some(earlier) if stop_at_duplicate => return Some((i, earlier)),
                Some(_) => {}
                None => self.sample_of_key.set(key, i),
            }
        }
        None
    }

    /// The indexed sample with the same signature as `labels`.
    fn lookup(&mut self, labels: &SeriesLabels) -> Option<usize> {
        let key = self.signatures.key_id(labels);
        self.sample_of_key.get(key)
    }

    fn and_unless(&mut self, lhs: Vec<Elem>, rhs: Vec<Elem>, keep_matches: bool) -> Vec<Elem> {
        if lhs.is_empty() || rhs.is_empty() {
            return if keep_matches { Vec::new() } else { lhs };
        }
        self.build_index(&rhs, false);
        lhs.into_iter()
            .filter(|l| self.lookup(&l.labels).is_some() == keep_matches)
            .collect()
    }

    fn or(&mut self, lhs: Vec<Elem>, rhs: Vec<Elem>) -> Vec<Elem> {
        if lhs.is_empty() {
            return rhs;
        }
        if rhs.is_empty() {
            return lhs;
        }
        self.build_index(&lhs, false);
        let extra: Vec<Elem> = rhs
            .into_iter()
            .filter(|r| self.lookup(&r.labels).is_none())
            .collect();
        let mut out = lhs;
        out.extend(extra);
        out
    }

    fn one_to_one(&mut self, lhs: Vec<Elem>, rhs: Vec<Elem>) -> Result<Vec<Elem>, EvalError> {
        if lhs.is_empty() || rhs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((dup, earlier)) = self.build_index(&rhs, true) {
            let labels = &rhs[dup].labels;
            return Err(EvalError::DuplicateMatch {
                group: go_labels_string(&self.signatures.keyer().key_labels(labels)),
                side: "right",
                first: go_labels_string(&labels.to_labels()),
                second: go_labels_string(&rhs[earlier].labels.to_labels()),
            });
        }
        let op = self.op;
        self.matched.clear();
        self.matched.resize(rhs.len(), false);
        let mut out = Vec::new();
        for left in lhs {
            let Some(entry) = self.lookup(&left.labels) else {
                continue;
            };
            let right = &rhs[entry];
            let Some((mut value, keep)) = elem_op(op, left.value, right.value) else {
                continue;
            };
            if self.return_bool {
                value = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            if std::mem::replace(&mut self.matched[entry], true) {
                return Err(EvalError::ManyToOne);
            }
            let mut labels = left.labels;
            if op.drops_metric_name() || self.return_bool {
                labels.drop_name();
            }
            if let Some(trim) = &self.result_trim {
                labels = SeriesLabels::owned(trim.key_labels(&labels));
            }
            out.push(Elem { labels, value });
        }
        if self.result_may_collide {
            self.dedupe.check(out.iter().map(|e| &e.labels))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(pairs: &[(&str, &str)], value: f64) -> Elem {
        Elem::from_pairs(pairs, value)
    }

    fn flat(v: Vec<Elem>) -> Vec<(String, f64)> {
        v.into_iter()
            .map(|e| (e.labels.to_labels().to_string(), e.value))
            .collect()
    }

    fn on(labels: &[&str]) -> VectorMatching {
        VectorMatching {
            on: true,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ignoring(labels: &[&str]) -> VectorMatching {
        VectorMatching {
            on: false,
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scalar_comparisons_yield_one_or_zero() {
        assert_eq!(scalar_op(BinaryOp::Gtr, 2.0, 1.0), Ok(1.0));
        assert_eq!(scalar_op(BinaryOp::Eql, f64::NAN, f64::NAN), Ok(0.0));
        assert_eq!(
            scalar_op(BinaryOp::Neq, f64::NAN, f64::NAN),
            Ok(1.0),
            "Go's != on NaN"
        );
        assert_eq!(scalar_op(BinaryOp::Pow, 2.0, 3.0), Ok(8.0));
        assert_eq!(scalar_op(BinaryOp::Mod, -7.0, 3.0), Ok(-1.0));
        assert!(scalar_op(BinaryOp::And, 1.0, 1.0).is_err());
    }

    #[test]
    fn vector_scalar_arithmetic_drops_the_name() {
        let mut b = BinaryEvaluator::new(BinaryOp::Mul, false, None);
        let out = b.vector_scalar(
            vec![elem(&[("__name__", "m"), ("a", "1")], 2.0)],
            3.0,
            false,
        );
        assert_eq!(
            flat(out.unwrap_or_default()),
            vec![(r#"{a="1"}"#.to_string(), 6.0)]
        );
    }

    #[test]
    fn scalar_on_left_comparison_keeps_vector_value_and_name() {
        let mut b = BinaryEvaluator::new(BinaryOp::Lss, false, None);
        let input = vec![
            elem(&[("__name__", "m")], 5.0),
            elem(&[("__name__", "n")], 0.5),
        ];
        let out = b.vector_scalar(input, 1.0, true).unwrap_or_default();
        assert_eq!(flat(out), vec![("m".to_string(), 5.0)]);
        let mut b = BinaryEvaluator::new(BinaryOp::Lss, true, None);
        let out = b.vector_scalar(vec![elem(&[("__name__", "m")], 0.5)], 1.0, true);
        assert_eq!(flat(out.unwrap_or_default()), vec![("{}".to_string(), 0.0)]);
    }

    #[test]
    fn vector_scalar_name_collision_is_an_error() {
        let mut b = BinaryEvaluator::new(BinaryOp::Add, false, None);
        let input = vec![
            elem(&[("__name__", "a"), ("x", "1")], 1.0),
            elem(&[("__name__", "b"), ("x", "1")], 1.0),
        ];
        assert_eq!(
            b.vector_scalar(input, 1.0, false).err(),
            Some(EvalError::DuplicateLabelset)
        );
    }

    #[test]
    fn one_to_one_matches_on_all_labels_but_the_name() {
        let mut b = BinaryEvaluator::new(BinaryOp::Div, false, None);
        let lhs = vec![
            elem(&[("__name__", "a"), ("x", "1")], 6.0),
            elem(&[("__name__", "a"), ("x", "2")], 1.0),
        ];
        let rhs = vec![elem(&[("__name__", "b"), ("x", "1")], 3.0)];
        assert_eq!(
            flat(b.vector_vector(lhs, rhs).unwrap_or_default()),
            vec![(r#"{x="1"}"#.to_string(), 2.0)]
        );
    }

    #[test]
    fn comparison_keeps_lhs_labels_and_value() {
        let mut b = BinaryEvaluator::new(BinaryOp::Gtr, false, Some(&on(&["x"])));
        let lhs = vec![elem(&[("__name__", "a"), ("x", "1"), ("y", "z")], 6.0)];
        let rhs = vec![elem(&[("__name__", "b"), ("x", "1")], 3.0)];
        let out = flat(b.vector_vector(lhs, rhs).unwrap_or_default());
        assert_eq!(
            out,
            vec![(r#"{x="1"}"#.to_string(), 6.0)],
            "on() trims the result labels"
        );
        let mut b = BinaryEvaluator::new(BinaryOp::Gtr, true, Some(&ignoring(&["y"])));
        let lhs = vec![elem(&[("__name__", "a"), ("x", "1"), ("y", "z")], 1.0)];
        let rhs = vec![elem(&[("__name__", "b"), ("x", "1")], 3.0)];
        let out = flat(b.vector_vector(lhs, rhs).unwrap_or_default());
        assert_eq!(out, vec![(r#"{x="1"}"#.to_string(), 0.0)]);
    }

    #[test]
    fn duplicate_right_side_is_many_to_many() {
        let mut b = BinaryEvaluator::new(BinaryOp::Add, false, Some(&on(&["x"])));
        let lhs = vec![elem(&[("x", "1")], 1.0)];
        let rhs = vec![
            elem(&[("x", "1"), ("y", "a")], 1.0),
            elem(&[("x", "1"), ("y", "b")], 1.0),
        ];
        let err = b.vector_vector(lhs, rhs).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "found duplicate series for the match group {x=\"1\"} on the right hand-side of \
                 the operation: [{x=\"1\", y=\"b\"}, {x=\"1\", y=\"a\"}];many-to-many matching \
                 not allowed: matching labels must be unique on one side"
            )
        );
        // An empty left side short-circuits before the right side is checked.
        let rhs = vec![
            elem(&[("x", "1"), ("y", "a")], 1.0),
            elem(&[("x", "1"), ("y", "b")], 1.0),
        ];
        assert_eq!(b.vector_vector(vec![], rhs).map(|v| v.len()), Ok(0));
    }

    #[test]
    fn duplicate_left_side_is_many_to_one() {
        let mut b = BinaryEvaluator::new(BinaryOp::Add, false, Some(&on(&["x"])));
        let lhs = vec![
            elem(&[("x", "1"), ("y", "a")], 1.0),
            elem(&[("x", "1"), ("y", "b")], 1.0),
        ];
        let rhs = vec![elem(&[("x", "1")], 1.0)];
        assert_eq!(b.vector_vector(lhs, rhs).err(), Some(EvalError::ManyToOne));
        // Filtered-out comparisons do not count as matches.
        let mut b = BinaryEvaluator::new(BinaryOp::Gtr, false, Some(&on(&["x"])));
        let lhs = vec![
            elem(&[("x", "1"), ("y", "a")], 5.0),
            elem(&[("x", "1"), ("y", "b")], 0.0),
        ];
        let rhs = vec![elem(&[("x", "1")], 1.0)];
        assert_eq!(b.vector_vector(lhs, rhs).map(|v| v.len()), Ok(1));
    }

    #[test]
    fn set_operators_keep_names_and_follow_signatures() {
        let lhs = || {
            vec![
                elem(&[("__name__", "a"), ("x", "1")], 1.0),
                elem(&[("__name__", "a"), ("x", "2")], 2.0),
            ]
        };
        let rhs = || {
            vec![
                elem(&[("__name__", "b"), ("x", "2")], 20.0),
                elem(&[("__name__", "b"), ("x", "3")], 30.0),
            ]
        };
        let run = |op, m: Option<VectorMatching>| {
            let mut b = BinaryEvaluator::new(op, false, m.as_ref());
            flat(b.vector_vector(lhs(), rhs()).unwrap_or_default())
        };
        assert_eq!(
            run(BinaryOp::And, None),
            vec![(r#"a{x="2"}"#.to_string(), 2.0)]
        );
        assert_eq!(
            run(BinaryOp::Unless, None),
            vec![(r#"a{x="1"}"#.to_string(), 1.0)]
        );
        assert_eq!(
            run(BinaryOp::Or, None),
            vec![
                (r#"a{x="1"}"#.to_string(), 1.0),
                (r#"a{x="2"}"#.to_string(), 2.0),
                (r#"b{x="3"}"#.to_string(), 30.0)
            ]
        );
        // on() with no labels: every sample has the same (empty) signature.
        assert_eq!(run(BinaryOp::And, Some(on(&[]))).len(), 2);
        assert_eq!(run(BinaryOp::Or, Some(on(&[]))).len(), 2);
        assert_eq!(run(BinaryOp::Unless, Some(ignoring(&["x"]))).len(), 0);
    }
}
