//! The syntax tree, and its printing back to PromQL.
//!
//! The tree keeps exactly what the parser saw that matters to evaluation (parentheses included,
//! so printing can reproduce them) and nothing else: no positions, since every check that needs
//! one happens during parsing. `Display` prints valid PromQL that parses back to the same tree;
//! it only adds parentheses of its own when a hand-built tree would otherwise read differently.

use std::fmt;

use tachyscale_tsdb::{MatchOp, Matcher, METRIC_NAME};

pub use crate::catalog::{AggregateOp, Function};
use crate::gofmt::{format_go_float, quote_go_string};

/// The type an expression evaluates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// Prometheus' API name: `scalar`, `vector`, `matrix`, `string`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// The name Prometheus uses in error messages: `instant vector`, `range vector`, ...
    pub fn documented_name(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed PromQL expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(f64),
    String(String),
    VectorSelector(VectorSelector),
    MatrixSelector(MatrixSelector),
    Paren(Box<Expr>),
    Unary(UnaryExpr),
    Binary(BinaryExpr),
    Call(Call),
    Aggregate(AggregateExpr),
}

/// `name{matchers} offset d`.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name written before the braces, if any.
    pub name: Option<String>,
    /// The matchers written inside the braces (not including the one implied by `name`).
    pub matchers: Vec<Matcher>,
    /// `offset` in milliseconds; negative for `offset -5m`.
    pub offset_ms: i64,
}

impl VectorSelector {
    /// Every matcher the selector applies, the name matcher first.
    pub fn all_matchers(&self) -> Vec<Matcher> {
        let mut out = Vec::with_capacity(self.matchers.len() + 1);
        if let Some(name) = &self.name {
            out.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        out.extend(self.matchers.iter().cloned());
        out
    }
}

/// `selector[range]`; the offset lives on the inner selector.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    pub selector: VectorSelector,
    pub range_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UnaryExpr {
    pub op: UnaryOp,
    pub expr: Box<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Binding strength, loosest first: `or` < `and unless` < comparisons < `+ -` <
    /// `* / % atan2` < `^`.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    pub fn is_right_assoc(self) -> bool {
        self == BinaryOp::Pow
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    /// Whether the result loses `__name__` (Prometheus 2.42 `shouldDropMetricName`: the
    /// arithmetic operators except `atan2`).
    pub fn drops_metric_name(self) -> bool {
        matches!(
            self,
            BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Mod
                | BinaryOp::Pow
        )
    }
}

/// `on(labels)` or `ignoring(labels)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorMatching {
    /// `true` for `on`, `false` for `ignoring`.
    pub on: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// The `bool` modifier of comparisons.
    pub return_bool: bool,
    /// Only between two instant vectors; `None` means the default (ignoring nothing).
    pub matching: Option<VectorMatching>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub func: Function,
    pub args: Vec<Expr>,
}

/// `by (labels)` or `without (labels)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    /// φ for `quantile`, k for `topk`/`bottomk`.
    pub param: Option<Box<Expr>>,
    pub expr: Box<Expr>,
    pub grouping: Option<Grouping>,
}

impl Expr {
    /// The type the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) => ValueType::Matrix,
            Expr::Paren(inner) => inner.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type(),
        }
    }

    /// The expression without any enclosing parentheses.
    pub fn unwrap_parens(&self) -> &Expr {
        let mut e = self;
        while let Expr::Paren(inner) = e {
            e = inner;
        }
        e
    }
}

/// Prometheus' duration notation (`1h30m`, `90s`, `1w`); years and weeks only when exact.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    const UNITS: [(&str, u64, bool); 7] = [
        ("y", 365 * 24 * 3_600_000, true),
        ("w", 7 * 24 * 3_600_000, true),
        ("d", 24 * 3_600_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact_only) in UNITS {
        if exact_only && !rest.is_multiple_of(mult) {
            continue;
        }
        let n = rest / mult;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest -= n * mult;
        }
    }
    out
}

fn is_printable_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        _ => false,
    };
    // The parser reads these words as keywords or numbers, so such names print in braces.
    let lower = name.to_ascii_lowercase();
    valid
        && !crate::parser::NON_NAME_KEYWORDS.contains(&lower.as_str())
        && lower != "inf"
        && lower != "nan"
}

fn write_matcher(f: &mut fmt::Formatter<'_>, name: &str, op: MatchOp, value: &str) -> fmt::Result {
    write!(f, "{}{}{}", name, op.as_str(), quote_go_string(value))
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut matchers: Vec<(&str, MatchOp, &str)> = self
            .matchers
            .iter()
            .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
            .collect();
        match &self.name {
            Some(name) if is_printable_metric_name(name) => f.write_str(name)?,
            Some(name) => matchers.insert(0, (METRIC_NAME, MatchOp::Equal, name.as_str())),
            None => {}
        }
        if !matchers.is_empty() || self.name.is_none() {
            f.write_str("{")?;
            for (i, (name, op, value)) in matchers.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_matcher(f, name, *op, value)?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

fn write_offset(f: &mut fmt::Formatter<'_>, offset_ms: i64) -> fmt::Result {
    if offset_ms != 0 {
        write!(f, " offset {}", format_duration(offset_ms))?;
    }
    Ok(())
}

fn write_label_list(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    f.write_str("(")?;
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(l)?;
    }
    f.write_str(")")
}

/// Whether a number prints with a leading sign (`-1`, `+Inf`), which would bind differently as
/// the left operand of `^`.
fn prints_signed(v: f64) -> bool {
    v.is_sign_negative() && !v.is_nan() || v == f64::INFINITY
}

fn lhs_needs_parens(op: BinaryOp, lhs: &Expr) -> bool {
    match lhs {
        Expr::Binary(b) => {
            b.op.precedence() < op.precedence()
                || (b.op.precedence() == op.precedence() && op.is_right_assoc())
        }
        Expr::Unary(_) => op == BinaryOp::Pow,
        Expr::Number(v) => op == BinaryOp::Pow && prints_signed(*v),
        _ => false,
    }
}

fn rhs_needs_parens(op: BinaryOp, rhs: &Expr) -> bool {
    match rhs {
        Expr::Binary(b) => {
            b.op.precedence() < op.precedence()
                || (b.op.precedence() == op.precedence() && !op.is_right_assoc())
        }
        _ => false,
    }
}

/// Whether the operand of a unary operator must be parenthesised: unary minus binds tighter
/// than every binary operator except `^`.
pub(crate) fn unary_operand_needs_parens(e: &Expr) -> bool {
    matches!(e, Expr::Binary(b) if b.op != BinaryOp::Pow)
}

/// The parentheses `Display` adds around the left and right operands of a binary expression.
pub(crate) fn binary_operand_parens(b: &BinaryExpr) -> (bool, bool) {
    (
        lhs_needs_parens(b.op, &b.lhs),
        rhs_needs_parens(b.op, &b.rhs),
    )
}

fn write_maybe_paren(f: &mut fmt::Formatter<'_>, e: &Expr, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v) => f.write_str(&format_go_float(*v)),
            Expr::String(s) => f.write_str(&quote_go_string(s)),
            Expr::VectorSelector(vs) => {
                write!(f, "{vs}")?;
                write_offset(f, vs.offset_ms)
            }
            Expr::MatrixSelector(ms) => {
                write!(f, "{}[{}]", ms.selector, format_duration(ms.range_ms))?;
                write_offset(f, ms.selector.offset_ms)
            }
            Expr::Paren(inner) => write!(f, "({inner})"),
            Expr::Unary(u) => {
                f.write_str(match u.op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                })?;
                write_maybe_paren(f, &u.expr, unary_operand_needs_parens(&u.expr))
            }
            Expr::Binary(b) => {
                let (lp, rp) = binary_operand_parens(b);
                write_maybe_paren(f, &b.lhs, lp)?;
                write!(f, " {}", b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    f.write_str(if m.on { " on" } else { " ignoring" })?;
                    write_label_list(f, &m.labels)?;
                }
                f.write_str(" ")?;
                write_maybe_paren(f, &b.rhs, rp)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name())?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.name())?;
                if let Some(g) = &a.grouping {
                    f.write_str(if g.without { " without " } else { " by " })?;
                    write_label_list(f, &g.labels)?;
                    f.write_str(" ")?;
                }
                f.write_str("(")?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(name: &str) -> Expr {
        Expr::VectorSelector(VectorSelector {
            name: Some(name.to_string()),
            matchers: vec![],
            offset_ms: 0,
        })
    }

    fn bin(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::Binary(BinaryExpr {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            return_bool: false,
            matching: None,
        })
    }

    #[test]
    fn durations_print_like_prometheus() {
        assert_eq!(format_duration(300_000), "5m");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_duration(604_800_000), "1w");
        assert_eq!(format_duration(8 * 86_400_000), "8d");
        assert_eq!(format_duration(-300_000), "-5m");
    }

    #[test]
    fn display_adds_parens_only_where_precedence_needs_them() {
        let e = bin(
            BinaryOp::Mul,
            bin(BinaryOp::Add, sel("a"), sel("b")),
            sel("c"),
        );
        assert_eq!(e.to_string(), "(a + b) * c");
        let e = bin(
            BinaryOp::Sub,
            sel("a"),
            bin(BinaryOp::Sub, sel("b"), sel("c")),
        );
        assert_eq!(e.to_string(), "a - (b - c)");
        let e = bin(
            BinaryOp::Pow,
            sel("a"),
            bin(BinaryOp::Pow, sel("b"), sel("c")),
        );
        assert_eq!(e.to_string(), "a ^ b ^ c");
        let e = bin(BinaryOp::Pow, Expr::Number(-2.0), Expr::Number(2.0));
        assert_eq!(e.to_string(), "(-2) ^ 2");
    }

    #[test]
    fn selector_with_unprintable_name_uses_a_matcher() {
        assert_eq!(sel("bool").to_string(), r#"{__name__="bool"}"#);
        assert_eq!(sel("a:b").to_string(), "a:b");
    }

    #[test]
    fn value_types() {
        assert_eq!(Expr::Number(1.0).value_type(), ValueType::Scalar);
        assert_eq!(sel("a").value_type(), ValueType::Vector);
        assert_eq!(
            bin(BinaryOp::Add, Expr::Number(1.0), sel("a")).value_type(),
            ValueType::Vector
        );
        assert_eq!(ValueType::Matrix.documented_name(), "range vector");
    }
}
