//! Selectors, function calls and aggregations: the terms of an expression that have their own
//! inner syntax (`{...}` matchers, argument lists, `by`/`without`) and their own checks
//! (non-empty matchers, argument counts and types, aggregation parameters).

use tachyscale_tsdb::{MatchOp, Matcher, METRIC_NAME};

use super::{expect_type, Node, Parser, Result};
use crate::ast::{
    AggregateExpr, AggregateOp, Call, Expr, Function, Grouping, ValueType, VectorSelector,
};
use crate::error::ParseError;
use crate::lexer::{Kind, Token};

impl Parser<'_> {
    pub(super) fn selector(&mut self, name: Option<String>, start: usize) -> Result<Node> {
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
                        return Err(
                            self.unexpected(&sep, " in label matching, expected \",\" or \"}\"")
                        )
                    }
                }
            }
        }
        if let Some(name) = &name {
            if let Some(m) = matchers.iter().find(|m| m.name == METRIC_NAME) {
                return Err(ParseError::new(
                    start,
                    format!(
                        "metric name must not be set twice: {name:?} or {:?}",
                        m.value
                    ),
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
    pub(super) fn label_list(&mut self) -> Result<Vec<String>> {
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
                    return Err(self.unexpected(&sep, " in grouping opts, expected \",\" or \")\""))
                }
            }
        }
        Ok(labels)
    }

    /// `(arg, ...)` of a function call or aggregation.
    pub(super) fn call_args(&mut self) -> Result<Vec<Node>> {
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

    pub(super) fn call(&mut self, name_tok: Token) -> Result<Node> {
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
            Some(format!(
                "expected {max} argument(s) in call to {name:?}, got {got}"
            ))
        } else if got < min {
            Some(format!(
                "expected at least {min} argument(s) in call to {name:?}, got {got}"
            ))
        } else if got > max {
            Some(format!(
                "expected at most {max} argument(s) in call to {name:?}, got {got}"
            ))
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

    pub(super) fn grouping(&mut self) -> Result<Option<Grouping>> {
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
    pub(super) fn aggregate(&mut self, op: AggregateOp, op_tok: Token) -> Result<Node> {
        self.advance();
        let mut grouping = self.grouping()?;
        if self.peek().kind != Kind::LParen {
            let t = self.peek().clone();
            return Err(self.unexpected(&t, " in aggregation"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;
    use crate::parser::test_support::{err, ok};

    use crate::ast::Grouping;

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
        assert!(matches!(
            ok(r#"x{on="a", by="b", sum="c"}"#),
            Expr::VectorSelector(_)
        ));
        assert!(matches!(ok("sum"), Expr::VectorSelector(_)));
        assert!(matches!(ok("offset offset 5m"), Expr::VectorSelector(_)));
        assert!(matches!(ok("rate"), Expr::VectorSelector(_)));
    }

    #[test]
    fn selector_errors_have_positions() {
        let e = err(r#"x + {a=""}"#);
        assert_eq!(
            (e.pos, e.message.as_str()),
            (
                4,
                "vector selector must contain at least one non-empty matcher"
            )
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
        assert_eq!(
            (e.pos, e.message.as_str()),
            (5, "unexpected character inside braces: '~'")
        );
        let e = err(r#"foo{a="b" c="d"}"#);
        assert_eq!(e.pos, 10);
        assert!(err(r#"foo{a=~"("}"#)
            .message
            .contains("invalid regular expression"));
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
        assert_eq!(
            a.grouping,
            Some(Grouping {
                without: false,
                labels: vec!["a".into(), "b".into()]
            })
        );
        let Expr::Aggregate(a) = ok("SUM(x) without (on, by,)") else {
            panic!("aggregate")
        };
        assert!(a
            .grouping
            .is_some_and(|g| g.without && g.labels == ["on", "by"]));
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
}
