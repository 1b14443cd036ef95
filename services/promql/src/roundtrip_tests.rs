//! Property test tying the printer to the parser: `parse(e.to_string())` gives back `e`.
//!
//! Generated trees are well-typed by construction (operands of the wrong type are coerced
//! with `vector(...)`/`scalar(...)`), then put in the canonical form the parser produces:
//! signed number literals folded, and explicit parentheses wherever `Display` would need them.
//! Trees are compared through `Debug`, which treats NaN literals as equal.

use proptest::prelude::*;
use tachyscale_tsdb::{MatchOp, Matcher};

use crate::ast::{
    binary_operand_parens, unary_operand_needs_parens, AggregateExpr, AggregateOp, BinaryExpr,
    BinaryOp, Call, Expr, Function, Grouping, MatrixSelector, UnaryExpr, UnaryOp, ValueType,
    VectorMatching, VectorSelector,
};
use crate::parse;

const LABELS: &[&str] = &[
    "a", "job", "on", "by", "bool", "le", "offset", "sum", "__name__",
];
const REGEXES: &[&str] = &["a.*", "x|y", ".+", "[0-9]+", r"\d"];
const NAMES: &[&str] = &[
    "up",
    "sum",
    "by",
    "offset",
    "rate",
    "and",
    "a:b:c",
    "node_cpu_seconds_total",
];

fn matcher() -> impl Strategy<Value = Matcher> {
    let plain = (
        prop::sample::select(&LABELS[..8]),
        prop::bool::ANY,
        "[ -~]{0,6}|\\PC{0,4}|[\\x00-\\x1f\"'`\\\\]{1,3}",
    )
        .prop_map(|(name, eq, value)| {
            let op = if eq {
                MatchOp::Equal
            } else {
                MatchOp::NotEqual
            };
            Matcher::new(op, name, value).expect("plain matchers always compile")
        });
    let regex = (
        prop::sample::select(&LABELS[..8]),
        prop::bool::ANY,
        prop::sample::select(REGEXES),
    )
        .prop_map(|(name, eq, value)| {
            let op = if eq {
                MatchOp::RegexMatch
            } else {
                MatchOp::RegexNoMatch
            };
            Matcher::new(op, name, value).expect("sample regexes compile")
        });
    prop_oneof![plain, regex]
}

fn selector() -> impl Strategy<Value = VectorSelector> {
    (
        prop::option::of(prop::sample::select(NAMES)),
        prop::collection::vec(matcher(), 0..3),
        prop_oneof![Just(0i64), (-7200i64..7200).prop_map(|s| s * 1000 + 7)],
    )
        .prop_map(|(name, mut matchers, offset_ms)| {
            if name.is_none() {
                matchers.insert(0, Matcher::equal("job", "x"));
            }
            VectorSelector {
                name: name.map(str::to_string),
                matchers,
                offset_ms,
            }
        })
}

fn matrix() -> impl Strategy<Value = Expr> {
    (selector(), 1i64..10_000_000, prop::bool::ANY).prop_map(|(selector, range_ms, paren)| {
        let m = Expr::MatrixSelector(MatrixSelector { selector, range_ms });
        if paren {
            Expr::Paren(Box::new(m))
        } else {
            m
        }
    })
}

fn number() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0u32..1000).prop_map(|n| Expr::Number(f64::from(n))),
        prop::num::f64::ANY.prop_map(Expr::Number),
        Just(Expr::Number(f64::INFINITY)),
        Just(Expr::Number(f64::NAN)),
    ]
}

fn to_vector(e: Expr) -> Expr {
    match e.value_type() {
        ValueType::Scalar => Expr::Call(Call {
            func: Function::Vector,
            args: vec![e],
        }),
        _ => e,
    }
}

fn to_scalar(e: Expr) -> Expr {
    match e.value_type() {
        ValueType::Vector => Expr::Call(Call {
            func: Function::Scalar,
            args: vec![e],
        }),
        _ => e,
    }
}

const BINARY_OPS: &[BinaryOp] = &[
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Mod,
    BinaryOp::Pow,
    BinaryOp::Atan2,
    BinaryOp::Eql,
    BinaryOp::Neq,
    BinaryOp::Gtr,
    BinaryOp::Lss,
    BinaryOp::Gte,
    BinaryOp::Lte,
    BinaryOp::And,
    BinaryOp::Or,
    BinaryOp::Unless,
];

const AGGREGATIONS: &[AggregateOp] = &[
    AggregateOp::Sum,
    AggregateOp::Avg,
    AggregateOp::Min,
    AggregateOp::Max,
    AggregateOp::Count,
    AggregateOp::Quantile,
    AggregateOp::Topk,
    AggregateOp::Bottomk,
];

fn label_list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(LABELS).prop_map(str::to_string), 0..3)
}

fn binary(
    op: BinaryOp,
    lhs: Expr,
    rhs: Expr,
    want_bool: bool,
    matching: Option<VectorMatching>,
) -> Expr {
    let (lhs, rhs) = if op.is_set_operator() {
        (to_vector(lhs), to_vector(rhs))
    } else {
        (lhs, rhs)
    };
    let both_scalar =
        lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar;
    let both_vector =
        lhs.value_type() == ValueType::Vector && rhs.value_type() == ValueType::Vector;
    Expr::Binary(BinaryExpr {
        op,
        return_bool: op.is_comparison() && (want_bool || both_scalar),
        matching: matching.filter(|_| both_vector),
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    })
}

fn call(func: Function, a: Expr, b: Expr, m: Expr, two: bool) -> Expr {
    let mut args: Vec<Expr> = Vec::new();
    let mut spare = [Some(a), Some(b)].into_iter().flatten();
    for ty in func.arg_types() {
        let arg = match ty {
            ValueType::Matrix => m.clone(),
            ValueType::Scalar => to_scalar(spare.next().unwrap_or(Expr::Number(1.0))),
            _ => to_vector(spare.next().unwrap_or(Expr::Number(1.0))),
        };
        args.push(arg);
    }
    if func.optional_args() > 0 && !two {
        args.pop();
    }
    Expr::Call(Call { func, args })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![number(), selector().prop_map(Expr::VectorSelector)];
    leaf.prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Paren(Box::new(e))),
            (prop::bool::ANY, inner.clone()).prop_map(|(neg, e)| Expr::Unary(UnaryExpr {
                op: if neg { UnaryOp::Neg } else { UnaryOp::Plus },
                expr: Box::new(e),
            })),
            (
                prop::sample::select(BINARY_OPS),
                inner.clone(),
                inner.clone(),
                prop::bool::ANY,
                prop::option::of((prop::bool::ANY, label_list())),
            )
                .prop_map(|(op, l, r, b, m)| binary(
                    op,
                    l,
                    r,
                    b,
                    m.map(|(on, labels)| VectorMatching { on, labels })
                )),
            (
                prop::sample::select(AGGREGATIONS),
                inner.clone(),
                inner.clone(),
                prop::option::of((prop::bool::ANY, label_list())),
            )
                .prop_map(|(op, p, e, g)| Expr::Aggregate(AggregateExpr {
                    op,
                    param: op.takes_param().then(|| Box::new(to_scalar(p))),
                    expr: Box::new(to_vector(e)),
                    grouping: g.map(|(without, labels)| Grouping { without, labels }),
                })),
            (
                prop::sample::select(&crate::catalog::ALL_FUNCTIONS[..]),
                inner.clone(),
                inner,
                matrix(),
                prop::bool::ANY
            )
                .prop_map(|(f, a, b, m, two)| call(f, a, b, m, two)),
        ]
    })
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(e))
}

/// The tree the parser would build from `e`'s printed form.
fn canonical(e: Expr) -> Expr {
    match e {
        Expr::Paren(inner) => paren(canonical(*inner)),
        Expr::Unary(u) => match (u.op, canonical(*u.expr)) {
            (UnaryOp::Neg, Expr::Number(v)) => Expr::Number(-v),
            (UnaryOp::Plus, Expr::Number(v)) => Expr::Number(v),
            (op, inner) => {
                let inner = if unary_operand_needs_parens(&inner) {
                    paren(inner)
                } else {
                    inner
                };
                Expr::Unary(UnaryExpr {
                    op,
                    expr: Box::new(inner),
                })
            }
        },
        Expr::Binary(mut b) => {
            b.lhs = Box::new(canonical(*b.lhs));
            b.rhs = Box::new(canonical(*b.rhs));
            let (lp, rp) = binary_operand_parens(&b);
            if lp {
                b.lhs = Box::new(paren(*b.lhs));
            }
            if rp {
                b.rhs = Box::new(paren(*b.rhs));
            }
            Expr::Binary(b)
        }
        Expr::Call(mut c) => {
            c.args = c.args.into_iter().map(canonical).collect();
            Expr::Call(c)
        }
        Expr::Aggregate(mut a) => {
            a.param = a.param.map(|p| Box::new(canonical(*p)));
            a.expr = Box::new(canonical(*a.expr));
            Expr::Aggregate(a)
        }
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_expressions_parse_back_to_the_same_tree(e in expr()) {
        let e = canonical(e);
        let printed = e.to_string();
        let parsed = parse(&printed);
        prop_assert!(parsed.is_ok(), "{printed}: {parsed:?}");
        let parsed = parsed.unwrap_or(Expr::Number(0.0));
        prop_assert_eq!(format!("{parsed:?}"), format!("{e:?}"), "{}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn string_literals_round_trip(s in "\\PC{0,8}|[\\x00-\\x7f]{0,8}") {
        let e = Expr::String(s);
        prop_assert_eq!(parse(&e.to_string()), Ok(e));
    }

    #[test]
    fn parser_never_panics(s in "[ -~]{0,40}") {
        let _ = parse(&s);
    }
}
