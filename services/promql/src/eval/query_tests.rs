//! End-to-end tests: query text in, `Value` out, over an in-memory `StaticSeries`.
//!
//! The per-module tests check the arithmetic; these check the wiring that only shows up in a
//! whole query: lookback and staleness at the selector, offsets, name dropping through
//! functions and operators, matching errors, range-query stepping, and that storage is asked
//! once per selector with the right window.

use std::sync::Mutex;

use tachyscale_tsdb::{
    stale_nan, Labels, Matcher, Queryable, Sample, SelectError, SeriesSamples, StaticSeries,
};

use crate::{instant_query, parse, range_query, EngineOptions, EvalError, Series, Value};

const MIN: i64 = 60_000;

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    }
}

/// Samples every minute from 0 with the given values.
fn per_minute(pairs: &[(&str, &str)], values: &[f64]) -> SeriesSamples {
    let samples: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 * MIN, *v))
        .collect();
    series(pairs, &samples)
}

fn query(db: &dyn Queryable, q: &str, t: i64) -> Result<Value, EvalError> {
    let expr = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    instant_query(db, &expr, t, &EngineOptions::default())
}

/// An instant vector as (labels in Prometheus notation, value) pairs.
fn vector(db: &dyn Queryable, q: &str, t: i64) -> Vec<(String, f64)> {
    match query(db, q, t) {
        Ok(Value::Vector(v)) => {
            assert!(v.iter().all(|s| s.ts_ms == t), "stamped with eval time");
            v.into_iter()
                .map(|s| (s.labels.to_string(), s.value))
                .collect()
        }
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

fn scalar(db: &dyn Queryable, q: &str, t: i64) -> f64 {
    match query(db, q, t) {
        Ok(Value::Scalar { value, .. }) => value,
        other => panic!("{q}: expected a scalar, got {other:?}"),
    }
}

fn one(label: &str, value: f64) -> Vec<(String, f64)> {
    vec![(label.to_string(), value)]
}

fn counters() -> StaticSeries {
    StaticSeries(vec![
        per_minute(
            &[("__name__", "req"), ("job", "a"), ("pod", "1")],
            &[0.0, 60.0, 120.0, 180.0],
        ),
        per_minute(
            &[("__name__", "req"), ("job", "a"), ("pod", "2")],
            &[0.0, 120.0, 240.0, 360.0],
        ),
        per_minute(
            &[("__name__", "req"), ("job", "b"), ("pod", "3")],
            &[10.0, 10.0, 10.0, 10.0],
        ),
    ])
}

#[test]
fn instant_selector_uses_newest_sample_and_eval_time() {
    let db = counters();
    let out = vector(&db, r#"req{pod="1"}"#, 2 * MIN + 30_000);
    assert_eq!(out, one(r#"req{job="a", pod="1"}"#, 120.0));
}

#[test]
fn lookback_includes_sample_exactly_five_minutes_old() {
    let db = StaticSeries(vec![series(&[("__name__", "x")], &[(0, 1.0)])]);
    assert_eq!(vector(&db, "x", 5 * MIN), one("x", 1.0));
    assert!(vector(&db, "x", 5 * MIN + 1).is_empty());
    let custom = EngineOptions {
        lookback_delta_ms: MIN,
        ..EngineOptions::default()
    };
    let expr = parse("x").expect("parses");
    let out = instant_query(&db, &expr, MIN + 1, &custom);
    assert_eq!(out, Ok(Value::Vector(vec![])));
}

#[test]
fn stale_marker_ends_a_series_until_the_next_sample() {
    let db = StaticSeries(vec![series(
        &[("__name__", "x")],
        &[(0, 1.0), (MIN, stale_nan()), (3 * MIN, 3.0)],
    )]);
    assert_eq!(vector(&db, "x", 30_000), one("x", 1.0));
    assert!(vector(&db, "x", 2 * MIN).is_empty());
    assert_eq!(vector(&db, "x", 3 * MIN), one("x", 3.0));
    // Range selectors skip the marker.
    assert_eq!(
        vector(&db, "count_over_time(x[5m])", 3 * MIN),
        one("{}", 2.0)
    );
}

#[test]
fn offsets_shift_the_reference_time() {
    let db = counters();
    assert_eq!(
        vector(&db, r#"req{pod="1"} offset 1m"#, 3 * MIN),
        one(r#"req{job="a", pod="1"}"#, 120.0)
    );
    assert_eq!(
        vector(&db, r#"req{pod="1"} offset -1m"#, MIN),
        one(r#"req{job="a", pod="1"}"#, 120.0)
    );
    let out = vector(&db, r#"increase(req{pod="1"}[2m] offset 1m)"#, 3 * MIN);
    assert_eq!(out, one(r#"{job="a", pod="1"}"#, 120.0));
}

#[test]
fn range_selector_returns_raw_samples_in_a_closed_window() {
    let db = StaticSeries(vec![series(
        &[("__name__", "x"), ("a", "b")],
        &[(0, 1.0), (MIN, stale_nan()), (2 * MIN, 2.0), (3 * MIN, 3.0)],
    )]);
    let out = query(&db, "x[2m]", 3 * MIN);
    assert_eq!(
        out,
        Ok(Value::Matrix(vec![Series {
            labels: Labels::from_pairs([("__name__", "x"), ("a", "b")]),
            samples: vec![Sample::new(2 * MIN, 2.0), Sample::new(3 * MIN, 3.0)],
        }]))
    );
    let out = query(&db, "(x[3m] offset 1m)", 4 * MIN);
    let Ok(Value::Matrix(m)) = out else {
        panic!("matrix")
    };
    assert_eq!(
        m[0].samples.len(),
        3,
        "0, 2m, 3m; the stale marker is dropped"
    );
}

#[test]
fn range_functions_drop_the_name_except_last_over_time() {
    let db = counters();
    let out = vector(&db, r#"rate(req{job="b"}[5m])"#, 3 * MIN);
    assert_eq!(out, one(r#"{job="b", pod="3"}"#, 0.0));
    let out = vector(&db, r#"last_over_time(req{job="b"}[5m])"#, 3 * MIN);
    assert_eq!(out, one(r#"req{job="b", pod="3"}"#, 10.0));
}

#[test]
fn rate_over_whole_window() {
    let db = counters();
    // Samples at 0..3m in [0, 3m]: no extrapolation; 180 over 180s.
    let out = vector(&db, r#"rate(req{pod="1"}[3m])"#, 3 * MIN);
    assert_eq!(out, one(r#"{job="a", pod="1"}"#, 1.0));
}

#[test]
fn aggregation_by_and_without() {
    let db = counters();
    let t = 3 * MIN;
    assert_eq!(
        vector(&db, "sum by (job) (req)", t),
        vec![
            (r#"{job="a"}"#.to_string(), 540.0),
            (r#"{job="b"}"#.to_string(), 10.0)
        ]
    );
    assert_eq!(
        vector(&db, "sum without (pod) (req)", t),
        vector(&db, "sum(req) by (job)", t)
    );
    assert_eq!(vector(&db, "count(req)", t), one("{}", 3.0));
    assert_eq!(vector(&db, "max by (__name__) (req)", t), one("req", 360.0));
    assert_eq!(
        vector(&db, "avg by (job) (req)", t)[0],
        (r#"{job="a"}"#.to_string(), 270.0)
    );
    assert_eq!(vector(&db, "quantile(0.5, req)", t), one("{}", 180.0));
    let top = vector(&db, "topk(2, req)", t);
    assert_eq!(
        top.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        vec![360.0, 180.0]
    );
    assert!(top[0].0.starts_with("req{"), "topk keeps full labels");
    let bottom = vector(&db, "bottomk by (job) (1, req)", t);
    assert_eq!(bottom.len(), 2);
}

#[test]
fn binary_operators_end_to_end() {
    let db = counters();
    let t = 3 * MIN;
    assert_eq!(scalar(&db, "-2 ^ 2", t), -4.0);
    assert_eq!(scalar(&db, "2 * 3 + 4 ^ 0.5", t), 8.0);
    assert_eq!(scalar(&db, "7 % 4 atan2 1", t), 1.2490457723982544);
    assert_eq!(scalar(&db, "1 < bool 2", t), 1.0);
    assert_eq!(
        vector(&db, r#"req{job="b"} * 2"#, t),
        one(r#"{job="b", pod="3"}"#, 20.0)
    );
    assert_eq!(
        vector(&db, r#"req{job="b"} > 5"#, t),
        one(r#"req{job="b", pod="3"}"#, 10.0)
    );
    assert_eq!(
        vector(&db, r#"20 > req{job="b"}"#, t),
        one(r#"req{job="b", pod="3"}"#, 10.0)
    );
    assert_eq!(
        vector(&db, r#"req{job="b"} == bool 10"#, t),
        one(r#"{job="b", pod="3"}"#, 1.0)
    );
    assert_eq!(
        vector(&db, r#"-req{job="b"}"#, t),
        one(r#"{job="b", pod="3"}"#, -10.0)
    );
    let ratio = vector(&db, r#"req / on(pod) req"#, t);
    assert_eq!(
        ratio
            .iter()
            .map(|(l, v)| (l.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![
            (r#"{pod="1"}"#, 1.0),
            (r#"{pod="2"}"#, 1.0),
            (r#"{pod="3"}"#, 1.0),
        ]
    );
    let out = vector(&db, r#"req{pod="1"} + ignoring(job) req{pod="1"}"#, t);
    assert_eq!(out, one(r#"{pod="1"}"#, 360.0));
}

#[test]
fn matching_errors_use_prometheus_wording() {
    let db = counters();
    let t = 3 * MIN;
    let err = query(&db, r#"req{pod="1"} + on(job) req"#, t).err();
    assert!(
        matches!(err, Some(EvalError::DuplicateMatch { side: "right", .. })),
        "{err:?}"
    );
    let err = query(&db, r#"req + on(job) req{pod="1"}"#, t).err();
    assert_eq!(err, Some(EvalError::ManyToOne));
    let db = StaticSeries(vec![
        per_minute(&[("__name__", "a"), ("x", "1")], &[1.0]),
        per_minute(&[("__name__", "b"), ("x", "1")], &[2.0]),
    ]);
    for q in [
        r#"abs({x="1"})"#,
        r#"{x="1"} * 1"#,
        r#"-{x="1"}"#,
        r#"rate({x="1"}[5m])"#,
    ] {
        let err = query(&db, q, 0).err();
        let expected = if q.starts_with("rate") {
            None // one sample per series: no output, so no collision
        } else {
            Some(EvalError::DuplicateLabelset)
        };
        assert_eq!(err, expected, "{q}");
    }
    assert_eq!(
        vector(&db, r#"{x="1"} > 0"#, 0).len(),
        2,
        "filters keep names"
    );
}

#[test]
fn set_operators_end_to_end() {
    let db = counters();
    let t = 3 * MIN;
    let out = vector(&db, r#"req and on(job) req{pod="3"}"#, t);
    assert_eq!(out, one(r#"req{job="b", pod="3"}"#, 10.0));
    let out = vector(&db, r#"req unless on(job) req{pod="3"}"#, t);
    assert_eq!(out.len(), 2);
    let out = vector(&db, r#"req{job="a"} or vector(1)"#, t);
    assert_eq!(out.len(), 3);
}

#[test]
fn scalar_and_vector_functions() {
    let db = counters();
    let t = 3 * MIN;
    assert_eq!(scalar(&db, r#"scalar(req{pod="3"})"#, t), 10.0);
    assert!(scalar(&db, "scalar(req)", t).is_nan());
    assert_eq!(vector(&db, "vector(1 + 1)", t), one("{}", 2.0));
    assert_eq!(
        vector(&db, r#"req{pod="1"} + scalar(req{pod="3"})"#, t),
        one(r#"{job="a", pod="1"}"#, 190.0)
    );
    assert_eq!(
        vector(&db, r#"clamp_max(req{pod="2"}, 100)"#, t),
        one(r#"{job="a", pod="2"}"#, 100.0)
    );
    assert_eq!(
        vector(&db, r#"round(req{pod="3"} / 3, 0.5)"#, t),
        one(r#"{job="b", pod="3"}"#, 3.5)
    );
}

#[test]
fn histogram_quantile_end_to_end() {
    let db = StaticSeries(vec![
        per_minute(&[("__name__", "h_bucket"), ("le", "0.5")], &[2.0]),
        per_minute(&[("__name__", "h_bucket"), ("le", "1")], &[4.0]),
        per_minute(&[("__name__", "h_bucket"), ("le", "+Inf")], &[4.0]),
    ]);
    assert_eq!(
        vector(&db, "histogram_quantile(0.75, h_bucket)", 0),
        one("{}", 0.75)
    );
}

#[test]
fn string_and_scalar_results() {
    let db = StaticSeries::default();
    assert_eq!(
        query(&db, r#""hi""#, 5),
        Ok(Value::String {
            ts_ms: 5,
            value: "hi".into()
        })
    );
    assert_eq!(
        query(&db, "1 + 1", 5),
        Ok(Value::Scalar {
            ts_ms: 5,
            value: 2.0
        })
    );
}

fn range(db: &dyn Queryable, q: &str, start: i64, end: i64, step: i64) -> Result<Value, EvalError> {
    let expr = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    range_query(db, &expr, start, end, step, &EngineOptions::default())
}

#[test]
fn range_query_collects_points_per_series() {
    let db = StaticSeries(vec![
        series(
            &[("__name__", "x"), ("a", "2")],
            &[(0, 1.0), (MIN, stale_nan()), (2 * MIN, 3.0)],
        ),
        series(&[("__name__", "x"), ("a", "1")], &[(MIN, 5.0)]),
    ]);
    let Ok(Value::Matrix(m)) = range(&db, "x", 0, 2 * MIN, MIN) else {
        panic!("matrix")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].labels.get("a"), Some("1"), "sorted by labels");
    assert_eq!(
        m[0].samples,
        vec![Sample::new(MIN, 5.0), Sample::new(2 * MIN, 5.0)]
    );
    assert_eq!(
        m[1].samples,
        vec![Sample::new(0, 1.0), Sample::new(2 * MIN, 3.0)]
    );
    let Ok(Value::Matrix(m)) = range(&db, "missing + 1 or vector(7)", 0, MIN, MIN) else {
        panic!("matrix")
    };
    assert_eq!(m.len(), 1);
    let Ok(Value::Matrix(m)) = range(&db, "2 * 3", 0, 2 * MIN, MIN) else {
        panic!("matrix")
    };
    assert_eq!(m.len(), 1);
    assert!(m[0].labels.is_empty());
    assert_eq!(m[0].samples.len(), 3);
}

#[test]
fn range_query_validates_its_arguments() {
    let db = StaticSeries::default();
    assert_eq!(
        range(&db, "x", 0, 10, 0).err(),
        Some(EvalError::NonPositiveStep)
    );
    assert_eq!(
        range(&db, "x", 10, 0, 1).err(),
        Some(EvalError::EndBeforeStart)
    );
    assert!(
        range(&db, "x", 0, 11_000, 1).is_ok(),
        "11,000 intervals are allowed"
    );
    assert_eq!(
        range(&db, "x", 0, 11_001, 1).err(),
        Some(EvalError::TooManyPoints { limit: 11_000 })
    );
    let err = range(&db, "x[5m]", 0, 10, 1).err();
    assert_eq!(err, Some(EvalError::InvalidRangeQueryType("range vector")));
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector")
    );
    assert_eq!(
        range(&db, "'s'", 0, 10, 1).err(),
        Some(EvalError::InvalidRangeQueryType("string"))
    );
}

/// Wraps a `StaticSeries` and records each `select` window.
struct Recording {
    inner: StaticSeries,
    calls: Mutex<Vec<(i64, i64)>>,
}

impl Queryable for Recording {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        max: usize,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((mint, maxt));
        }
        self.inner.select(matchers, mint, maxt, max)
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.inner.series(matchers, mint, maxt)
    }
}

#[test]
fn range_query_selects_once_per_selector_with_the_whole_window() {
    let db = Recording {
        inner: counters(),
        calls: Mutex::new(Vec::new()),
    };
    let q = "sum(rate(req[2m] offset 1m)) + count(req)";
    let Ok(Value::Matrix(m)) = range(&db, q, 2 * MIN, 4 * MIN, 10_000) else {
        panic!("matrix")
    };
    assert_eq!(m.len(), 1);
    let calls = db.calls.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(calls, vec![(-MIN, 3 * MIN), (2 * MIN - 5 * MIN, 4 * MIN)]);
}

#[test]
fn public_types_can_cross_threads() {
    fn check<T: Send + Sync>() {}
    check::<crate::Expr>();
    check::<Value>();
    check::<EvalError>();
    check::<crate::ParseError>();
    check::<EngineOptions>();
}

#[test]
fn sample_limit_counts_loaded_samples() {
    let db = counters(); // 12 samples
    let expr = parse("req").expect("parses");
    let small = EngineOptions {
        max_samples: 11,
        ..EngineOptions::default()
    };
    let err = instant_query(&db, &expr, 3 * MIN, &small).err();
    assert_eq!(err, Some(EvalError::TooManySamples));
    assert_eq!(err.map(|e| e.reason()), Some("too_many_samples"));
    let exact = EngineOptions {
        max_samples: 12,
        ..EngineOptions::default()
    };
    assert!(instant_query(&db, &expr, 3 * MIN, &exact).is_ok());
}
