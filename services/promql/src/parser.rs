//! Recursive-descent parser with precedence climbing, type-checking as it goes.
//!
//! Prometheus uses a yacc grammar; a hand-written parser is easier to keep small and gives
//! precise positions. Operator precedence is climbed (`or` < `and unless` < comparisons <
//! `+ -` < `* / % atan2` < `^`, with `^` right-associative), and unary minus parses its operand
//! at `^` level so `-2^2` is `-(2^2)` as in yacc's `%prec MUL`. Every node is type-checked the
//! moment it is built, with Prometheus' messages, because that is when its position is known;
//! the tree itself then carries no positions. Constructs we do not implement (subqueries, `@`,
//! `group_left`, some functions) are recognised far enough to say "... is not supported".

use tachyscale_tsdb::{MatchOp, Matcher};

use crate::ast::{
    AggregateExpr, AggregateOp, BinaryExpr, BinaryOp, Call, Expr, Function, Grouping,
    MatrixSelector, UnaryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};
use crate::error::ParseError;
use crate::gomath::parse_go_float;
use crate::lexer::{lex, Kind, Token};

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

/// Keywords that can never start an expression.
const NON_NAME_KEYWORDS: &[&str] = &[
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

    fn describe(&self, t: &Token) -> String {
        let text = self.text(t);
        match t.kind {
            Kind::Eof => "end of input".to_string(),
            Kind::Ident | Kind::MetricIdent => format!("identifier {text:?}"),
            Kind::Number => format!("number {text:?}"),
            Kind::Duration => format!("duration {text:?}"),
            Kind::Str => format!("string {text}"),
            Kind::RParen => "right parenthesis ')'".to_string(),
            _ => format!("{text:?}"),
        }
    }

    fn unexpected(&self, t: &Token, context: &str) -> ParseError {
        if t.kind == Kind::Error {
            return ParseError::new(t.start, t.value.clone());
        }
        ParseError::new(t.start, format!("unexpected {}{}", self.describe(t), context))
    }

    /// Binary expressions, climbing from `min_prec`.
    fn expr(&mut self, min_prec: u8) -> Result<Node> {
        let mut lhs = self.unary()?;
        loop {
            let Some(op) = self.peek_binary_op() else {
                break;
            };
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
        if d.kind != Kind::Duration {
            return Err(self.unexpected(&d, " in range, expected duration"));
        }
        let range_ms = self.duration(&d)?;
        let close = self.advance();
        match close.kind {
            Kind::RBracket => {}
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

    fn offset(&mut self, mut node: Node) -> Result<Node> {
        let kw = self.advance();
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
                    kw.start,
                    "offset modifier must be preceded by an instant vector selector or range \
                     vector selector or a subquery",
                ))
            }
        };
        if selector.offset_ms != 0 {
            return Err(ParseError::new(
                kw.start,
                "offset may not be set multiple times",
            ));
        }
        selector.offset_ms = if negative { -ms } else { ms };
        Ok(node)
    }

    fn duration(&self, t: &Token) -> Result<i64> {
        match parse_duration(self.text(t)) {
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
                    format!("aggregation {:?} is not supported", text.to_ascii_lowercase()),
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

    fn selector(&mut self, name: Option<String>, start: usize) -> Result<Node> {
        let mut matchers: Vec<Matcher> = Vec::new();
        if self.peek().kind == Kind::LBrace {
            self.advance();
            loop {
                let label = self.advance();
                match label.kind {
                    Kind::RBrace => break,
                    Kind::Ident => {}
                    _ => {
                        return Err(self.unexpected(
                            &label,
                            " in label matching, expected identifier or \"}\"",
                        ))
                    }
                }
                let op_tok = self.advance();
                let op = match op_tok.kind {
                    Kind::Assign => MatchOp::Equal,
                    Kind::Neq => MatchOp::NotEqual,
                    Kind::EqlRegex => MatchOp::RegexMatch,
                    Kind::NeqRegex => MatchOp::RegexNoMatch,
                    _ => {
                        return Err(self.unexpected(
                            &op_tok,
                            " in label matching, expected label matching operator",
                        ))
                    }
                };
                let value = self.advance();
                if value.kind != Kind::Str {
                    return Err(self.unexpected(&value, " in label matching, expected string"));
                }
                let matcher = Matcher::new(op, self.text(&label), value.value)
                    .map_err(|e| ParseError::new(label.start, e.to_string()))?;
                matchers.push(matcher);
                let sep = self.advance();
                match sep.kind {
                    Kind::Comma => {}
                    Kind::RBrace => break,
                    _ => {
                        return Err(self.unexpected(
                            &sep,
                            " in label matching, expected \",\" or \"}\"",
                        ))
                    }
                }
            }
        }
        if let Some(name) = &name {
            if let Some(m) = matchers.iter().find(|m| m.name == tachyscale_tsdb::METRIC_NAME) {
                return Err(ParseError::new(
                    start,
                    format!("metric name must not be set twice: {name:?} or {:?}", m.value),
                ));
            }
        }
        let selector = VectorSelector {
            name,
            matchers,
            offset_ms: 0,
        };
        if selector.all_matchers().iter().all(Matcher::matches_empty) {
            return Err(ParseError::new(
                start,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(Node {
            expr: Expr::VectorSelector(selector),
            start,
        })
    }

    /// `(label, ...)` after `by`, `without`, `on` or `ignoring`; a trailing comma is allowed.
    fn label_list(&mut self) -> Result<Vec<String>> {
        let open = self.advance();
        if open.kind != Kind::LParen {
            return Err(self.unexpected(&open, " in grouping opts, expected \"(\""));
        }
        let mut labels = Vec::new();
        loop {
            let t = self.advance();
            match t.kind {
                Kind::RParen => break,
                Kind::Ident => labels.push(self.text(&t).to_string()),
                Kind::Eof => return Err(ParseError::new(t.start, "unclosed left parenthesis")),
                _ => return Err(self.unexpected(&t, " in grouping opts, expected label")),
            }
            let sep = self.advance();
            match sep.kind {
                Kind::Comma => {}
                Kind::RParen => break,
                Kind::Eof => return Err(ParseError::new(sep.start, "unclosed left parenthesis")),
                _ => {
                    return Err(self.unexpected(
                        &sep,
                        " in grouping opts, expected \",\" or \")\"",
                    ))
                }
            }
        }
        Ok(labels)
    }

    /// `(arg, ...)` of a function call or aggregation.
    fn call_args(&mut self) -> Result<Vec<Node>> {
        let open = self.advance();
        if open.kind != Kind::LParen {
            return Err(self.unexpected(&open, ", expected \"(\""));
        }
        let mut args = Vec::new();
        if self.peek().kind == Kind::RParen {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            let t = self.peek().clone();
            if t.kind == Kind::Comma {
                self.advance();
                if self.peek().kind == Kind::RParen {
                    return Err(ParseError::new(
                        t.start,
                        "trailing commas not allowed in function call args",
                    ));
                }
                continue;
            }
            self.expect_close_paren(" in function call args")?;
            return Ok(args);
        }
    }

    fn call(&mut self, name_tok: Token) -> Result<Node> {
        let name = self.text(&name_tok).to_string();
        self.advance();
        let args = self.call_args()?;
        let Some(func) = Function::from_name(&name) else {
            let message = if Function::is_unsupported_name(&name) {
                format!("function {name:?} is not supported")
            } else {
                format!("unknown function with name {name:?}")
            };
            return Err(ParseError::new(name_tok.start, message));
        };
        let types = func.arg_types();
        let max = types.len();
        let min = max - func.optional_args();
        let got = args.len();
        let count_error = if min == max && got != max {
            Some(format!("expected {max} argument(s) in call to {name:?}, got {got}"))
        } else if got < min {
            Some(format!("expected at least {min} argument(s) in call to {name:?}, got {got}"))
        } else if got > max {
            Some(format!("expected at most {max} argument(s) in call to {name:?}, got {got}"))
        } else {
            None
        };
        if let Some(message) = count_error {
            return Err(ParseError::new(name_tok.start, message));
        }
        let context = format!("call to function {name:?}");
        for (arg, want) in args.iter().zip(types) {
            expect_type(arg, *want, &context)?;
        }
        Ok(Node {
            expr: Expr::Call(Call {
                func,
                args: args.into_iter().map(|a| a.expr).collect(),
            }),
            start: name_tok.start,
        })
    }

    fn grouping(&mut self) -> Result<Option<Grouping>> {
        for (kw, without) in [("by", false), ("without", true)] {
            if self.is_keyword(self.peek(), kw) {
                self.advance();
                let labels = self.label_list()?;
                return Ok(Some(Grouping { without, labels }));
            }
        }
        Ok(None)
    }

    /// `op [by|without (..)] (args) [by|without (..)]`.
    fn aggregate(&mut self, op: AggregateOp, op_tok: Token) -> Result<Node> {
        self.advance();
        let mut grouping = self.grouping()?;
        if self.peek().kind != Kind::LParen {
            let t = self.peek().clone();
            return Err(self.unexpected(&t, " in aggregation, expected \"(\""));
        }
        let mut args = self.call_args()?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        let want = if op.takes_param() { 2 } else { 1 };
        if args.len() != want {
            return Err(ParseError::new(
                op_tok.start,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected \
                     {want}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().expect("argument count checked above");
        expect_type(&expr, ValueType::Vector, "aggregation expression")?;
        let param = match args.pop() {
            Some(p) => {
                expect_type(&p, ValueType::Scalar, "aggregation parameter")?;
                Some(Box::new(p.expr))
            }
            None => None,
        };
        Ok(Node {
            expr: Expr::Aggregate(AggregateExpr {
                op,
                param,
                expr: Box::new(expr.expr),
                grouping,
            }),
            start: op_tok.start,
        })
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

/// A number literal: Go `ParseInt(s, 0, 64)` first (so `0x1f` is hex and `010` is octal),
/// then `ParseFloat`, as Prometheus' `parseNumber` does.
fn parse_number(text: &str) -> std::result::Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    if lower == "inf" {
        return Ok(f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    let as_int = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        None
    };
    if let Some(n) = as_int {
        return Ok(n as f64);
    }
    parse_go_float(text).ok_or_else(|| format!("error parsing number: {text:?} is not a valid number"))
}

/// Prometheus' `model.ParseDuration`: units `y w d h m s ms`, each at most once and in that
/// order, at most ~292 years.
fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    const UNITS: [(&str, i128); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {text:?}");
    let mut rest = text;
    let mut next_unit = 0;
    let mut total_ms: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: i128 = rest[..digits].parse().map_err(|_| "duration out of range".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?
            + next_unit;
        next_unit = idx + 1;
        total_ms = total_ms.saturating_add(n.saturating_mul(UNITS[idx].1));
        if total_ms.saturating_mul(1_000_000) > i128::from(i64::MAX) {
            return Err("duration out of range".to_string());
        }
    }
    if text.is_empty() {
        return Err("empty duration string".to_string());
    }
    i64::try_from(total_ms).map_err(|_| "duration out of range".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> ParseError {
        match parse(input) {
            Ok(e) => panic!("{input:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    fn ok(input: &str) -> Expr {
        parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

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
    fn number_literals() {
        assert_eq!(ok("0x1f"), Expr::Number(31.0));
        assert_eq!(ok("010"), Expr::Number(8.0));
        assert_eq!(ok("089"), Expr::Number(89.0));
        assert_eq!(ok("1e3"), Expr::Number(1000.0));
        assert_eq!(ok(".5"), Expr::Number(0.5));
        assert_eq!(ok("Inf"), Expr::Number(f64::INFINITY));
        assert_eq!(ok("-inf"), Expr::Number(f64::NEG_INFINITY));
        assert!(matches!(ok("NaN"), Expr::Number(v) if v.is_nan()));
        assert_eq!(ok("1 # comment"), Expr::Number(1.0));
    }

    #[test]
    fn string_literals() {
        assert_eq!(ok(r#""a\tb""#), Expr::String("a\tb".into()));
        assert_eq!(ok("'x'"), Expr::String("x".into()));
        assert_eq!(ok("`a\\b`"), Expr::String("a\\b".into()));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1s500ms"), Ok(1_500));
        assert_eq!(parse_duration("1y"), Ok(31_536_000_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("1hs").is_err());
        assert!(parse_duration("1000y").is_err());
        let Expr::MatrixSelector(ms) = ok("x[1w2d]") else {
            panic!("matrix")
        };
        assert_eq!(ms.range_ms, 9 * 86_400_000);
    }

    #[test]
    fn selectors_and_offsets() {
        let Expr::VectorSelector(vs) = ok(r#"foo:bar{a="b", c!="d", e=~"f.*", g!~"h",}"#) else {
            panic!("selector")
        };
        assert_eq!(vs.name.as_deref(), Some("foo:bar"));
        assert_eq!(vs.matchers.len(), 4);
        let Expr::VectorSelector(vs) = ok(r#"{__name__=~"foo.*"}"#) else {
            panic!("selector")
        };
        assert!(vs.name.is_none());
        let Expr::VectorSelector(vs) = ok("foo offset -5m") else {
            panic!("selector")
        };
        assert_eq!(vs.offset_ms, -300_000);
        let Expr::MatrixSelector(ms) = ok("foo[5m] offset 1h") else {
            panic!("matrix")
        };
        assert_eq!((ms.range_ms, ms.selector.offset_ms), (300_000, 3_600_000));
        // Keywords are plain label names inside braces and metric names on their own.
        assert!(matches!(ok(r#"x{on="a", by="b", sum="c"}"#), Expr::VectorSelector(_)));
        assert!(matches!(ok("sum"), Expr::VectorSelector(_)));
        assert!(matches!(ok("offset offset 5m"), Expr::VectorSelector(_)));
        assert!(matches!(ok("rate"), Expr::VectorSelector(_)));
    }

    #[test]
    fn selector_errors_have_positions() {
        let e = err(r#"x + {a=""}"#);
        assert_eq!(
            (e.pos, e.message.as_str()),
            (4, "vector selector must contain at least one non-empty matcher")
        );
        assert_eq!(err("{}").pos, 0);
        assert_eq!(
            err(r#"{a=~".*"}"#).message,
            "vector selector must contain at least one non-empty matcher"
        );
        assert!(parse(r#"{a=~".+"}"#).is_ok());
        assert_eq!(
            err(r#"foo{__name__="bar"}"#).message,
            r#"metric name must not be set twice: "foo" or "bar""#
        );
        let e = err(r#"foo{a="b""#);
        assert_eq!(e.message, "unexpected end of input inside braces");
        let e = err(r#"foo{a~"b"}"#);
        assert_eq!((e.pos, e.message.as_str()), (5, "unexpected character inside braces: '~'"));
        let e = err(r#"foo{a="b" c="d"}"#);
        assert_eq!(e.pos, 10);
        assert!(err(r#"foo{a=~"("}"#).message.contains("invalid regular expression"));
    }

    #[test]
    fn range_and_offset_errors() {
        let e = err("sum(x)[5m]");
        assert_eq!((e.pos, e.message.as_str()), (6, "ranges only allowed for vector selectors"));
        let e = err("rate(x[5m])[30m:1m]");
        assert_eq!((e.pos, e.message.as_str()), (11, "subquery is not supported"));
        assert!(e.is_unsupported());
        assert_eq!(err("x[5m:]").message, "subquery is not supported");
        assert_eq!(err("x offset 5m[5m]").message, "no offset modifiers allowed before range");
        assert_eq!(err("x offset 1m offset 2m").message, "offset may not be set multiple times");
        assert_eq!(
            err("sum(x) offset 5m").message,
            "offset modifier must be preceded by an instant vector selector or range vector \
             selector or a subquery"
        );
        assert_eq!(err("x[0s]").message, "duration must be greater than 0");
        assert_eq!(err("x[5]").message, r#"unexpected number "5" in range, expected duration"#);
        let e = err("x @ 100");
        assert_eq!((e.pos, e.message.as_str()), (2, "@ modifier is not supported"));
        assert_eq!(err("x[30m1h]").message, r#"not a valid duration string: "30m1h""#);
    }

    #[test]
    fn function_type_and_arity_errors() {
        let e = err("rate(x)");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (
                5,
                r#"expected type range vector in call to function "rate", got instant vector"#
            )
        );
        assert_eq!(
            err("rate(x[5m], 1)").message,
            r#"expected 1 argument(s) in call to "rate", got 2"#
        );
        assert_eq!(
            err("round()").message,
            r#"expected at least 1 argument(s) in call to "round", got 0"#
        );
        assert_eq!(
            err("round(x, 1, 2)").message,
            r#"expected at most 2 argument(s) in call to "round", got 3"#
        );
        assert_eq!(err("foo(x)").message, r#"unknown function with name "foo""#);
        let e = err("sort(x)");
        assert_eq!(e.message, r#"function "sort" is not supported"#);
        assert!(e.is_unsupported());
        assert_eq!(
            err("abs(x,)").message,
            "trailing commas not allowed in function call args"
        );
        assert_eq!(err("abs(x").message, "unclosed left parenthesis");
        assert_eq!(
            err("histogram_quantile(x, y)").message,
            r#"expected type scalar in call to function "histogram_quantile", got instant vector"#
        );
    }

    #[test]
    fn aggregations() {
        let Expr::Aggregate(a) = ok("sum by (a, b) (x)") else {
            panic!("aggregate")
        };
        assert_eq!(a.grouping, Some(Grouping { without: false, labels: vec!["a".into(), "b".into()] }));
        let Expr::Aggregate(a) = ok("SUM(x) without (on, by,)") else {
            panic!("aggregate")
        };
        assert!(a.grouping.is_some_and(|g| g.without && g.labels == ["on", "by"]));
        let Expr::Aggregate(a) = ok("topk(3, x)") else {
            panic!("aggregate")
        };
        assert_eq!(a.param.as_deref(), Some(&Expr::Number(3.0)));
        assert_eq!(
            err("topk(x)").message,
            "wrong number of arguments for aggregate expression provided, expected 2, got 1"
        );
        assert_eq!(
            err("sum(x[5m])").message,
            "expected type instant vector in aggregation expression, got range vector"
        );
        assert_eq!(
            err("quantile(x, x)").message,
            "expected type scalar in aggregation parameter, got instant vector"
        );
        let e = err("stddev(x)");
        assert_eq!(e.message, r#"aggregation "stddev" is not supported"#);
        assert!(err("count_values by (a) (\"v\", x)").is_unsupported());
        assert!(matches!(ok("group"), Expr::VectorSelector(_)));
    }

    #[test]
    fn binary_operator_checks() {
        let e = err("1 > 2");
        assert_eq!((e.pos, e.message.as_str()), (2, "comparisons between scalars must use BOOL modifier"));
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
        assert_eq!((e.pos, e.message.as_str()), (10, "group_left is not supported"));
        let Expr::Binary(b) = ok("a / ignoring(x, y) b") else {
            panic!("binary")
        };
        assert_eq!(b.matching, Some(VectorMatching { on: false, labels: vec!["x".into(), "y".into()] }));
        assert_eq!(
            err("-x[5m]").message,
            r#"unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#
        );
    }

    #[test]
    fn generic_syntax_errors() {
        assert_eq!(err("").message, "no expression found in input");
        assert_eq!(err("# only a comment").message, "no expression found in input");
        let e = err("a +");
        assert_eq!((e.pos, e.message.as_str()), (3, "unexpected end of input"));
        assert_eq!(err("(a").message, "unclosed left parenthesis");
        assert_eq!(err("a)").message, "unexpected right parenthesis ')'");
        assert_eq!(err("a b").message, r#"unexpected identifier "b""#);
        assert_eq!(err("5m").message, r#"unexpected duration "5m""#);
        assert_eq!(err("bool").message, r#"unexpected identifier "bool""#);
        let e = err("a $ b");
        assert_eq!((e.pos, e.message.as_str()), (2, "unexpected character: '$'"));
    }
}
