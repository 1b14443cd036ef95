//! Recursive-descent parser with precedence climbing, type-checking as it goes.
//!
//! This module holds the expression grammar (operators, unary minus, postfix `[range]` and
//! `offset`, primaries); [`terms`] parses selectors, function calls and aggregations, and
//! [`literals`] numbers and durations.
//!
//! Prometheus uses a yacc grammar; a hand-written parser is easier to keep small and gives
//! precise positions. Operator precedence is climbed (`or` < `and unless` < comparisons <
//! `+ -` < `* / % atan2` < `^`, with `^` right-associative), and unary minus parses its operand
//! at `^` level so `-2^2` is `-(2^2)` as in yacc's `%prec MUL`. Every node is type-checked the
//! moment it is built, with Prometheus' messages, because that is when its position is known;
//! the tree itself then carries no positions. Constructs we do not implement (subqueries, `@`,
//! `group_left`, some functions) are recognised far enough to say "... is not supported".

mod literals;
mod terms;

use crate::ast::{
    AggregateOp, BinaryExpr, BinaryOp, Expr, MatrixSelector, UnaryExpr, UnaryOp, ValueType,
    VectorMatching,
};
use crate::error::ParseError;
use tachyscale_tsdb::Matcher;

use crate::lexer::{lex, Kind, Token};
use literals::parse_number;

/// Parses a PromQL expression.
pub fn parse(input: &str) -> std::result::Result<Expr, ParseError> {
    let mut parser = Parser {
        src: input,
        tokens: lex(input),
        pos: 0,
    };
    if parser.peek().kind == Kind::Eof {
        return Err(ParseError::new(0, "no expression found in input"));
    }
    let node = parser.expr(0)?;
    let next = parser.peek().clone();
    if next.kind != Kind::Eof {
        return Err(parser.unexpected(&next, ""));
    }
    Ok(node.expr)
}

/// Parses a series selector such as the `match[]` parameter of `/api/v1/series` (Prometheus'
/// `ParseMetricSelector`): a plain vector selector, no offset, range or operators. Returns
/// all of its matchers, the one implied by a metric name first.
pub fn parse_series_selector(input: &str) -> std::result::Result<Vec<Matcher>, ParseError> {
    match parse(input)? {
        Expr::VectorSelector(vs) if vs.offset_ms == 0 => Ok(vs.all_matchers()),
        _ => Err(ParseError::new(
            0,
            "expected a series selector such as up{job=\"api\"}",
        )),
    }
}

/// Parses a duration in Prometheus' notation (`1m30s`, `2h`, `500ms`; `0` alone is zero), as
/// `model.ParseDuration` does for API parameters, into milliseconds.
pub fn parse_duration(input: &str) -> std::result::Result<i64, ParseError> {
    if input == "0" {
        return Ok(0);
    }
    literals::parse_duration(input).map_err(|message| ParseError::new(0, message))
}

/// An expression and where it starts, for error positions of enclosing checks.
struct Node {
    expr: Expr,
    start: usize,
}

type Result<T> = std::result::Result<T, ParseError>;

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

/// Precedence of `^`, the level at which a unary operator's operand is parsed.
const POW_PRECEDENCE: u8 = 6;

/// Words Prometheus' lexer calls keywords (described as `<word>` in errors).
const KEYWORDS: &[&str] = &[
    "bool",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "start",
    "end",
];

/// Keywords that can never start an expression (so never a bare metric name).
pub(crate) const NON_NAME_KEYWORDS: &[&str] = &[
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "atan2",
];

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.peek_nth(0)
    }

    fn peek_nth(&self, n: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn text(&self, t: &Token) -> &str {
        &self.src[t.start..t.end]
    }

    fn is_keyword(&self, t: &Token, kw: &str) -> bool {
        t.kind == Kind::Ident && self.text(t).eq_ignore_ascii_case(kw)
    }

    /// A token as Prometheus' `Item.desc()` names it in "unexpected ..." messages.
    fn describe(&self, t: &Token) -> String {
        let text = self.text(t);
        let lower = text.to_ascii_lowercase();
        match t.kind {
            Kind::Eof => "end of input".to_string(),
            Kind::Ident if KEYWORDS.contains(&lower.as_str()) => format!("<{text}>"),
            Kind::Ident if ["and", "or", "unless", "atan2"].contains(&lower.as_str()) => {
                format!("<op:{text}>")
            }
            Kind::Ident
                if AggregateOp::from_keyword(text).is_some()
                    || AggregateOp::is_unsupported_keyword(text) =>
            {
                format!("<aggr:{text}>")
            }
            Kind::Ident => format!("identifier {text:?}"),
            Kind::MetricIdent => format!("metric identifier {text:?}"),
            Kind::Number => format!("number {text:?}"),
            Kind::Duration => format!("duration {text:?}"),
            Kind::Str => format!("string {text:?}"),
            Kind::Add
            | Kind::Sub
            | Kind::Mul
            | Kind::Div
            | Kind::Mod
            | Kind::Pow
            | Kind::Assign
            | Kind::EqlC
            | Kind::Neq
            | Kind::Lss
            | Kind::Gtr
            | Kind::Lte
            | Kind::Gte
            | Kind::EqlRegex
            | Kind::NeqRegex => format!("<op:{text}>"),
            _ => format!("{text:?}"),
        }
    }

    fn unexpected(&self, t: &Token, context: &str) -> ParseError {
        if t.kind == Kind::Error {
            return ParseError::new(t.start, t.value.clone());
        }
        if t.kind == Kind::RParen {
            // Prometheus' lexer reports this after consuming the parenthesis.
            return ParseError::new(t.end, "unexpected right parenthesis ')'");
        }
        ParseError::new(
            t.start,
            format!("unexpected {}{}", self.describe(t), context),
        )
    }

    /// Binary expressions, climbing from `min_prec`.
    fn expr(&mut self, min_prec: u8) -> Result<Node> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.peek_binary_op() {
            if op.precedence() < min_prec {
                break;
            }
            let op_pos = self.advance().start;
            let return_bool = self.is_keyword(self.peek(), "bool");
            if return_bool {
                self.advance();
            }
            let mut matching = None;
            for (kw, on) in [("on", true), ("ignoring", false)] {
                if self.is_keyword(self.peek(), kw) {
                    self.advance();
                    let labels = self.label_list()?;
                    matching = Some(VectorMatching { on, labels });
                    break;
                }
            }
            for kw in ["group_left", "group_right"] {
                let t = self.peek();
                if self.is_keyword(t, kw) {
                    return Err(ParseError::new(t.start, format!("{kw} is not supported")));
                }
            }
            let next_min = if op.is_right_assoc() {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.expr(next_min)?;
            lhs = binary(op, op_pos, lhs, rhs, return_bool, matching)?;
        }
        Ok(lhs)
    }

    fn peek_binary_op(&self) -> Option<BinaryOp> {
        let t = self.peek();
        let op = match t.kind {
            Kind::Add => BinaryOp::Add,
            Kind::Sub => BinaryOp::Sub,
            Kind::Mul => BinaryOp::Mul,
            Kind::Div => BinaryOp::Div,
            Kind::Mod => BinaryOp::Mod,
            Kind::Pow => BinaryOp::Pow,
            Kind::EqlC => BinaryOp::Eql,
            Kind::Neq => BinaryOp::Neq,
            Kind::Gtr => BinaryOp::Gtr,
            Kind::Lss => BinaryOp::Lss,
            Kind::Gte => BinaryOp::Gte,
            Kind::Lte => BinaryOp::Lte,
            Kind::Ident => match self.text(t).to_ascii_lowercase().as_str() {
                "and" => BinaryOp::And,
                "or" => BinaryOp::Or,
                "unless" => BinaryOp::Unless,
                "atan2" => BinaryOp::Atan2,
                _ => return None,
            },
            _ => return None,
        };
        Some(op)
    }

    /// `-x` / `+x`: the operand binds at `^` level; a signed number literal folds into the
    /// number, as Prometheus does.
    fn unary(&mut self) -> Result<Node> {
        let t = self.peek().clone();
        let op = match t.kind {
            Kind::Sub => UnaryOp::Neg,
            Kind::Add => UnaryOp::Plus,
            _ => return self.postfix(),
        };
        self.advance();
        let operand = self.expr(POW_PRECEDENCE)?;
        let ty = operand.expr.value_type();
        if ty != ValueType::Scalar && ty != ValueType::Vector {
            return Err(ParseError::new(
                t.start,
                format!(
                    "unary expression only allowed on expressions of type scalar or instant \
                     vector, got {:?}",
                    ty.documented_name()
                ),
            ));
        }
        let expr = match (op, operand.expr) {
            (UnaryOp::Neg, Expr::Number(v)) => Expr::Number(-v),
            (UnaryOp::Plus, Expr::Number(v)) => Expr::Number(v),
            (op, expr) => Expr::Unary(UnaryExpr {
                op,
                expr: Box::new(expr),
            }),
        };
        Ok(Node {
            expr,
            start: t.start,
        })
    }

    /// A primary expression followed by `[range]`, `offset d` or `@ t`.
    fn postfix(&mut self) -> Result<Node> {
        let mut node = self.primary()?;
        loop {
            let t = self.peek().clone();
            if t.kind == Kind::LBracket {
                node = self.range(node)?;
            } else if self.is_keyword(&t, "offset") {
                node = self.offset(node)?;
            } else if t.kind == Kind::At {
                return Err(ParseError::new(t.start, "@ modifier is not supported"));
            } else {
                return Ok(node);
            }
        }
    }

    fn range(&mut self, node: Node) -> Result<Node> {
        let open = self.advance();
        let d = self.advance();
        if d.kind == Kind::Number {
            return Err(ParseError::new(
                d.start,
                "missing unit character in duration",
            ));
        }
        if d.kind != Kind::Duration {
            return Err(self.unexpected(&d, " in range, expected duration"));
        }
        let range_ms = self.duration(&d)?;
        let close = self.advance();
        match close.kind {
            Kind::RBracket => {}
            Kind::Eof => return Err(ParseError::new(close.start, "unclosed left bracket")),
            Kind::Colon => return Err(ParseError::new(open.start, "subquery is not supported")),
            _ => return Err(self.unexpected(&close, " in range, expected \"]\"")),
        }
        match node.expr {
            Expr::VectorSelector(vs) if vs.offset_ms == 0 => Ok(Node {
                expr: Expr::MatrixSelector(MatrixSelector {
                    selector: vs,
                    range_ms,
                }),
                start: node.start,
            }),
            Expr::VectorSelector(_) => Err(ParseError::new(
                open.start,
                "no offset modifiers allowed before range",
            )),
            _ => Err(ParseError::new(
                open.start,
                "ranges only allowed for vector selectors",
            )),
        }
    }

    /// `offset d` after `node`; misplaced offsets are reported at the start of `node`, as
    /// Prometheus does.
    fn offset(&mut self, mut node: Node) -> Result<Node> {
        self.advance();
        let negative = self.peek().kind == Kind::Sub;
        if negative {
            self.advance();
        }
        let d = self.advance();
        if d.kind != Kind::Duration {
            return Err(self.unexpected(&d, " in offset, expected duration"));
        }
        let ms = self.duration(&d)?;
        let selector = match &mut node.expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &mut ms.selector,
            _ => {
                return Err(ParseError::new(
                    node.start,
                    "offset modifier must be preceded by an instant vector selector or range \
                     vector selector or a subquery",
                ))
            }
        };
        if selector.offset_ms != 0 {
            return Err(ParseError::new(
                node.start,
                "offset may not be set multiple times",
            ));
        }
        selector.offset_ms = if negative { -ms } else { ms };
        Ok(node)
    }

    fn duration(&self, t: &Token) -> Result<i64> {
        match literals::parse_duration(self.text(t)) {
            Ok(0) => Err(ParseError::new(t.start, "duration must be greater than 0")),
            Ok(ms) => Ok(ms),
            Err(msg) => Err(ParseError::new(t.start, msg)),
        }
    }

    fn primary(&mut self) -> Result<Node> {
        let t = self.peek().clone();
        match t.kind {
            Kind::Number => {
                self.advance();
                let v = parse_number(self.text(&t)).map_err(|m| ParseError::new(t.start, m))?;
                Ok(Node {
                    expr: Expr::Number(v),
                    start: t.start,
                })
            }
            Kind::Str => {
                self.advance();
                Ok(Node {
                    expr: Expr::String(t.value),
                    start: t.start,
                })
            }
            Kind::LParen => {
                self.advance();
                let inner = self.expr(0)?;
                self.expect_close_paren("")?;
                Ok(Node {
                    expr: Expr::Paren(Box::new(inner.expr)),
                    start: t.start,
                })
            }
            Kind::LBrace => self.selector(None, t.start),
            Kind::MetricIdent => {
                self.advance();
                let name = self.text(&t).to_string();
                self.selector(Some(name), t.start)
            }
            Kind::Ident => self.word(t),
            _ => Err(self.unexpected(&t, "")),
        }
    }

    fn expect_close_paren(&mut self, context: &str) -> Result<()> {
        let t = self.advance();
        match t.kind {
            Kind::RParen => Ok(()),
            Kind::Eof => Err(ParseError::new(t.start, "unclosed left parenthesis")),
            _ => Err(self.unexpected(&t, &format!("{context}, expected \")\""))),
        }
    }

    /// A word at the start of an expression: aggregation, function call or metric name.
    fn word(&mut self, t: Token) -> Result<Node> {
        let text = self.text(&t).to_string();
        let next = self.peek_nth(1).clone();
        let opens_aggregation = next.kind == Kind::LParen
            || self.is_keyword(&next, "by")
            || self.is_keyword(&next, "without");
        if opens_aggregation {
            if let Some(op) = AggregateOp::from_keyword(&text) {
                return self.aggregate(op, t);
            }
            if AggregateOp::is_unsupported_keyword(&text) {
                return Err(ParseError::new(
                    t.start,
                    format!(
                        "aggregation {:?} is not supported",
                        text.to_ascii_lowercase()
                    ),
                ));
            }
        }
        if next.kind == Kind::LParen {
            return self.call(t);
        }
        if NON_NAME_KEYWORDS.contains(&text.to_ascii_lowercase().as_str()) {
            return Err(self.unexpected(&t, ""));
        }
        self.advance();
        self.selector(Some(text), t.start)
    }
}

fn expect_type(node: &Node, want: ValueType, context: &str) -> Result<()> {
    let got = node.expr.value_type();
    if got == want {
        return Ok(());
    }
    Err(ParseError::new(
        node.start,
        format!(
            "expected type {} in {}, got {}",
            want.documented_name(),
            context,
            got.documented_name()
        ),
    ))
}

/// Builds a binary expression with Prometheus 2.42's `checkAST` rules.
fn binary(
    op: BinaryOp,
    op_pos: usize,
    lhs: Node,
    rhs: Node,
    return_bool: bool,
    matching: Option<VectorMatching>,
) -> Result<Node> {
    let lt = lhs.expr.value_type();
    let rt = rhs.expr.value_type();
    if return_bool && !op.is_comparison() {
        return Err(ParseError::new(
            op_pos,
            "bool modifier can only be used on comparison operators",
        ));
    }
    if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
        return Err(ParseError::new(
            op_pos,
            "comparisons between scalars must use BOOL modifier",
        ));
    }
    for (ty, start) in [(lt, lhs.start), (rt, rhs.start)] {
        if ty != ValueType::Scalar && ty != ValueType::Vector {
            return Err(ParseError::new(
                start,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
    }
    let mut matching = matching;
    if lt != ValueType::Vector || rt != ValueType::Vector {
        if matching.as_ref().is_some_and(|m| !m.labels.is_empty()) {
            return Err(ParseError::new(
                lhs.start,
                "vector matching only allowed between instant vectors",
            ));
        }
        matching = None;
        if op.is_set_operator() {
            return Err(ParseError::new(
                lhs.start,
                format!(
                    "set operator {:?} not allowed in binary scalar expression",
                    op.as_str()
                ),
            ));
        }
    }
    Ok(Node {
        expr: Expr::Binary(BinaryExpr {
            op,
            lhs: Box::new(lhs.expr),
            rhs: Box::new(rhs.expr),
            return_bool,
            matching,
        }),
        start: lhs.start,
    })
}

/// Parse helpers shared by the parser's test modules.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::ast::Expr;
    use crate::error::ParseError;

    /// The error `input` must produce.
    pub(crate) fn err(input: &str) -> ParseError {
        match super::parse(input) {
            Ok(e) => panic!("{input:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    /// The expression `input` must parse to.
    pub(crate) fn ok(input: &str) -> Expr {
        super::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;
    use crate::parser::test_support::{err, ok};

    use crate::ast::VectorMatching;

    #[test]
    fn precedence_of_binary_operators() {
        assert_eq!(ok("a + b * c").to_string(), "a + b * c");
        assert_eq!(ok("(a + b) * c").to_string(), "(a + b) * c");
        let Expr::Binary(b) = ok("a or b and c") else {
            panic!("binary")
        };
        assert_eq!(b.op, BinaryOp::Or);
        let Expr::Binary(b) = ok("a - b - c") else {
            panic!("binary")
        };
        assert_eq!(b.op, BinaryOp::Sub);
        assert!(matches!(*b.lhs, Expr::Binary(_)), "left associative");
        let Expr::Binary(b) = ok("2 ^ 3 ^ 2") else {
            panic!("binary")
        };
        assert!(matches!(*b.rhs, Expr::Binary(_)), "^ is right associative");
        let Expr::Binary(b) = ok("a > b + 1") else {
            panic!("binary")
        };
        assert_eq!(b.op, BinaryOp::Gtr);
        let Expr::Binary(b) = ok("a atan2 b + c") else {
            panic!("binary")
        };
        assert_eq!(b.op, BinaryOp::Add);
    }

    #[test]
    fn unary_minus_binds_looser_than_pow() {
        let Expr::Unary(u) = ok("-2 ^ 2") else {
            panic!("unary")
        };
        assert!(matches!(*u.expr, Expr::Binary(ref b) if b.op == BinaryOp::Pow));
        let Expr::Binary(b) = ok("-2 * 3") else {
            panic!("binary")
        };
        assert_eq!(*b.lhs, Expr::Number(-2.0));
        assert_eq!(ok("-1"), Expr::Number(-1.0));
        assert_eq!(ok("+1"), Expr::Number(1.0));
        assert_eq!(ok("- -1"), Expr::Number(1.0));
        assert!(matches!(ok("-foo"), Expr::Unary(_)));
    }

    #[test]
    fn range_and_offset_errors() {
        let e = err("sum(x)[5m]");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (6, "ranges only allowed for vector selectors")
        );
        let e = err("rate(x[5m])[30m:1m]");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (11, "subquery is not supported")
        );
        assert!(e.is_unsupported());
        assert_eq!(err("x[5m:]").message, "subquery is not supported");
        assert_eq!(
            err("x offset 5m[5m]").message,
            "no offset modifiers allowed before range"
        );
        assert_eq!(
            err("x offset 1m offset 2m").message,
            "offset may not be set multiple times"
        );
        assert_eq!(
            err("sum(x) offset 5m").message,
            "offset modifier must be preceded by an instant vector selector or range vector \
             selector or a subquery"
        );
        assert_eq!(err("x[0s]").message, "duration must be greater than 0");
        assert_eq!(err("x[5]").message, "missing unit character in duration");
        let e = err("x @ 100");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (2, "@ modifier is not supported")
        );
        assert_eq!(
            err("x[30m1h]").message,
            r#"not a valid duration string: "30m1h""#
        );
    }

    #[test]
    fn binary_operator_checks() {
        let e = err("1 > 2");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (2, "comparisons between scalars must use BOOL modifier")
        );
        assert!(parse("1 > bool 2").is_ok());
        assert_eq!(
            err("a + bool b").message,
            "bool modifier can only be used on comparison operators"
        );
        assert_eq!(
            err("1 and a").message,
            r#"set operator "and" not allowed in binary scalar expression"#
        );
        assert_eq!(
            err("1 + on(a) b").message,
            "vector matching only allowed between instant vectors"
        );
        let Expr::Binary(b) = ok("1 + on() b") else {
            panic!("binary")
        };
        assert!(b.matching.is_none());
        assert_eq!(
            err("x[5m] + 1").message,
            "binary expression must contain only scalar and instant vector types"
        );
        let e = err("a + on(b) group_left c");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (10, "group_left is not supported")
        );
        let Expr::Binary(b) = ok("a / ignoring(x, y) b") else {
            panic!("binary")
        };
        assert_eq!(
            b.matching,
            Some(VectorMatching {
                on: false,
                labels: vec!["x".into(), "y".into()]
            })
        );
        assert_eq!(
            err("-x[5m]").message,
            r#"unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#
        );
    }

    #[test]
    fn series_selectors_for_the_metadata_api() {
        let matchers = parse_series_selector(r#"up{job=~"a|b"}"#).unwrap_or_default();
        assert_eq!(matchers.len(), 2);
        assert_eq!(matchers[0].to_string(), r#"__name__="up""#);
        assert_eq!(
            parse_series_selector(r#"{job="x"}"#).map(|m| m.len()),
            Ok(1)
        );
        for bad in ["up offset 5m", "up[5m]", "sum(up)", "1", "(up)", "{}"] {
            assert!(parse_series_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_for_api_parameters() {
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("1.5m").is_err());
    }

    #[test]
    fn generic_syntax_errors() {
        assert_eq!(err("").message, "no expression found in input");
        assert_eq!(
            err("# only a comment").message,
            "no expression found in input"
        );
        let e = err("a +");
        assert_eq!((e.pos, e.message.as_str()), (3, "unexpected end of input"));
        assert_eq!(err("(a").message, "unclosed left parenthesis");
        assert_eq!(err("a)").message, "unexpected right parenthesis ')'");
        assert_eq!(err("a b").message, r#"unexpected identifier "b""#);
        assert_eq!(err("5m").message, r#"unexpected duration "5m""#);
        assert_eq!(err("bool").message, "unexpected <bool>");
        assert_eq!(err("* a").message, "unexpected <op:*>");
        assert_eq!(err("a b").message, r#"unexpected identifier "b""#);
        let e = err("a)");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (2, "unexpected right parenthesis ')'")
        );
        let e = err("sum(x) offset 5m");
        assert_eq!(e.pos, 0, "reported at the start of the expression");
        let e = err("a $ b");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (2, "unexpected character: '$'")
        );
    }
}
