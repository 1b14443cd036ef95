//! Property: any valid set of families and samples, written with this crate's writer and
//! parsed back, gives the same families and the same samples — bit-exact values (NaN
//! compared as NaN), labels with escapes and arbitrary unicode, timestamps. Both formats.
//!
//! The OpenMetrics generator builds only valid expositions: unique family names (`f<i>_`
//! prefixes, so no suffix clashes), distinct metrics per family, per-type values (counters
//! non-negative, cumulative integer buckets with `+Inf` equal to `_count`, quantiles in
//! [0, 1], stateset 0/1, info 1, no `_sum` with negative buckets).

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use proptest::prelude::*;
use tachyscale_exposition::{
    format_exposition, write_eof, write_family, write_sample, Family, Format, Limits, MetricType,
    Parser,
};

#[derive(Debug, Clone)]
struct GenMetric {
    labels: Vec<(String, String)>,
    ts: Option<i64>,
    values: Vec<f64>,
    bounds: Vec<f64>,
    strings: Vec<String>,
    flags: u8,
}

#[derive(Debug, Clone)]
struct GenFamily {
    kind: u8,
    ident: String,
    unit: Option<String>,
    help: Option<String>,
    metrics: Vec<GenMetric>,
}

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    ts: Option<i64>,
    family: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Fam {
    name: String,
    kind: MetricType,
    help: Option<String>,
    unit: Option<String>,
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,6}".prop_filter("reserved", |n| {
        !matches!(n.as_str(), "le" | "quantile" | "__name__")
    })
}

fn metric() -> impl Strategy<Value = GenMetric> {
    (
        prop::collection::vec((label_name(), ".{0,12}"), 0..4),
        prop::option::of(any::<i64>()),
        prop::collection::vec(any::<f64>(), 8),
        prop::collection::vec(any::<f64>(), 0..4),
        prop::collection::vec(".{0,6}", 1..4),
        any::<u8>(),
    )
        .prop_map(|(labels, ts, values, bounds, strings, flags)| GenMetric {
            labels,
            ts,
            values,
            bounds,
            strings,
            flags,
        })
}

fn family() -> impl Strategy<Value = GenFamily> {
    (
        any::<u8>(),
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
        prop::option::of("[a-z]{1,6}"),
        prop::option::of(".{0,20}"),
        prop::collection::vec(metric(), 0..4),
    )
        .prop_map(|(kind, ident, unit, help, metrics)| GenFamily {
            kind,
            ident,
            unit,
            help,
            metrics,
        })
}

/// Labels with unique names, not named `avoid` (a stateset's own label).
fn metric_labels(m: &GenMetric, avoid: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in &m.labels {
        if n != avoid && !out.iter().any(|(o, _)| o == n) {
            out.push((n.clone(), v.clone()));
        }
    }
    out
}

fn finite_or(v: f64, default: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        default
    }
}

fn non_negative(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.abs()
    }
}

fn small_count(v: f64) -> f64 {
    (finite_or(v, 0.0).abs() % 1000.0).floor()
}

fn bound_label(b: f64) -> String {
    if b == f64::INFINITY {
        "+Inf".to_string()
    } else {
        format!("{b}")
    }
}

fn with(labels: &[(String, String)], extra: (&str, String)) -> Vec<(String, String)> {
    let mut out = labels.to_vec();
    out.push((extra.0.to_string(), extra.1));
    out
}

const OM_KINDS: [MetricType; 8] = [
    MetricType::Counter,
    MetricType::Gauge,
    MetricType::Histogram,
    MetricType::GaugeHistogram,
    MetricType::Summary,
    MetricType::Info,
    MetricType::StateSet,
    MetricType::Unknown,
];

/// OpenMetrics has no escape for CR and refuses it anywhere, so generated text drops it.
fn no_cr(s: &str) -> String {
    s.replace('\r', "")
}

/// Builds a valid OpenMetrics exposition's families and samples.
fn build_openmetrics(gen: &[GenFamily]) -> (Vec<Fam>, Vec<Sample>) {
    let gen: Vec<GenFamily> = gen
        .iter()
        .map(|g| {
            let mut g = g.clone();
            g.help = g.help.as_deref().map(no_cr);
            for m in &mut g.metrics {
                for (_, v) in &mut m.labels {
                    *v = no_cr(v);
                }
                for s in &mut m.strings {
                    *s = no_cr(s);
                }
            }
            g
        })
        .collect();
    let mut fams = Vec::new();
    let mut samples = Vec::new();
    for (fi, g) in gen.iter().enumerate() {
        let kind = OM_KINDS[usize::from(g.kind) % OM_KINDS.len()];
        let unit = g
            .unit
            .clone()
            .filter(|_| !matches!(kind, MetricType::Info | MetricType::StateSet));
        // A stateset's samples carry a label named after the family, and label names have
        // no colons, so a stateset family name cannot have one either.
        let ident = if kind == MetricType::StateSet {
            g.ident.replace(':', "_")
        } else {
            g.ident.clone()
        };
        let name = match &unit {
            Some(u) => format!("f{fi}_{ident}_{u}"),
            None => format!("f{fi}_{ident}"),
        };
        fams.push(Fam {
            name: name.clone(),
            kind,
            help: g.help.clone().filter(|h| !h.is_empty()),
            unit,
        });
        let mut seen: Vec<Vec<(String, String)>> = Vec::new();
        // All of an info family is one group (reference parser), so timestamps must be
        // present on all of its samples or on none.
        let info_ts = g.metrics.first().and_then(|m| m.ts);
        for m in &g.metrics {
            let ts = if kind == MetricType::Info {
                info_ts
            } else {
                m.ts
            };
            let labels = metric_labels(m, &name);
            let mut key = labels.clone();
            key.sort();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let mut push = |suffix: &str, labels: Vec<(String, String)>, value: f64| {
                samples.push(Sample {
                    name: format!("{name}{suffix}"),
                    labels,
                    value,
                    ts,
                    family: fi,
                });
            };
            let v = &m.values;
            match kind {
                MetricType::Gauge | MetricType::Unknown => push("", labels, v[0]),
                MetricType::Counter => {
                    push("_total", labels.clone(), non_negative(v[0]));
                    if m.flags & 1 != 0 {
                        push("_created", labels, finite_or(v[1], 0.0));
                    }
                }
                MetricType::Info => push("_info", labels, 1.0),
                MetricType::StateSet => {
                    let mut states: Vec<&String> = Vec::new();
                    for s in &m.strings {
                        if !states.contains(&s) {
                            states.push(s);
                        }
                    }
                    for (i, s) in states.iter().enumerate() {
                        let value = if (m.flags >> i) & 1 == 1 { 1.0 } else { 0.0 };
                        push("", with(&labels, (name.as_str(), (*s).clone())), value);
                    }
                }
                MetricType::Summary => {
                    let mut qs: Vec<f64> = Vec::new();
                    for b in &m.bounds {
                        let q = finite_or(*b, 0.5).abs() % 1.0;
                        if !qs.contains(&q) {
                            qs.push(q);
                        }
                    }
                    for (i, q) in qs.iter().enumerate() {
                        let value = if v[i].is_nan() { v[i] } else { v[i].abs() };
                        push("", with(&labels, ("quantile", format!("{q}"))), value);
                    }
                    if m.flags & 1 != 0 {
                        push("_count", labels.clone(), small_count(v[5]));
                        push("_sum", labels.clone(), non_negative(v[6]));
                    }
                    if m.flags & 2 != 0 {
                        push("_created", labels, finite_or(v[7], 1.0));
                    }
                }
                MetricType::Histogram | MetricType::GaugeHistogram => {
                    let mut bounds: Vec<f64> =
                        m.bounds.iter().copied().filter(|b| b.is_finite()).collect();
                    bounds.sort_by(|a, b| a.total_cmp(b));
                    bounds.dedup_by(|a, b| a == b);
                    bounds.push(f64::INFINITY);
                    let negative = bounds.iter().any(|b| *b < 0.0);
                    let mut count = 0.0;
                    for (i, b) in bounds.iter().enumerate() {
                        count += small_count(v[i]);
                        push("_bucket", with(&labels, ("le", bound_label(*b))), count);
                    }
                    let gauge = kind == MetricType::GaugeHistogram;
                    if gauge && m.flags & 1 != 0 {
                        push("_gcount", labels.clone(), count);
                        let gsum = if negative {
                            finite_or(v[6], -1.0)
                        } else {
                            non_negative(v[6])
                        };
                        push("_gsum", labels.clone(), gsum);
                    }
                    if !gauge && !negative && m.flags & 1 != 0 {
                        push("_count", labels.clone(), count);
                        push("_sum", labels.clone(), non_negative(v[6]));
                    }
                    if !gauge && m.flags & 2 != 0 {
                        push("_created", labels, finite_or(v[7], 0.0));
                    }
                }
            }
        }
    }
    (fams, samples)
}

const TEXT_KINDS: [MetricType; 5] = [
    MetricType::Counter,
    MetricType::Gauge,
    MetricType::Histogram,
    MetricType::Summary,
    MetricType::Unknown,
];

/// Builds a text 0.0.4 exposition's families and samples (no value rules in this format).
fn build_text(gen: &[GenFamily]) -> (Vec<Fam>, Vec<Sample>) {
    let mut fams = Vec::new();
    let mut samples = Vec::new();
    for (fi, g) in gen.iter().enumerate() {
        let kind = TEXT_KINDS[usize::from(g.kind) % TEXT_KINDS.len()];
        let name = format!("f{fi}_{}", g.ident);
        // The text after "# HELP name " is the help; all-blank text reads back as none.
        let help = g
            .help
            .clone()
            .filter(|h| !h.chars().all(|c| c == ' ' || c == '\t'));
        fams.push(Fam {
            name: name.clone(),
            kind,
            help,
            unit: None,
        });
        for m in &g.metrics {
            let labels = metric_labels(m, "");
            let ts = m.ts.map(|t| t & i64::MAX);
            let mut push = |suffix: &str, labels: Vec<(String, String)>, value: f64| {
                samples.push(Sample {
                    name: format!("{name}{suffix}"),
                    labels,
                    value,
                    ts,
                    family: fi,
                });
            };
            let v = &m.values;
            match kind {
                MetricType::Histogram => {
                    for (i, b) in m.bounds.iter().enumerate() {
                        push("_bucket", with(&labels, ("le", bound_label(*b))), v[i]);
                    }
                    push("_sum", labels.clone(), v[6]);
                    push("_count", labels, v[7]);
                }
                MetricType::Summary => {
                    for (i, s) in m.strings.iter().enumerate() {
                        push("", with(&labels, ("quantile", s.clone())), v[i]);
                    }
                    push("_sum", labels.clone(), v[6]);
                    push("_count", labels, v[7]);
                }
                _ => push("", labels, v[0]),
            }
        }
    }
    (fams, samples)
}

fn write(format: Format, fams: &[Fam], samples: &[Sample]) -> String {
    let mut out = String::new();
    let mut next = 0;
    for (fi, f) in fams.iter().enumerate() {
        write_family(
            &mut out,
            format,
            &Family {
                name: &f.name,
                kind: f.kind,
                help: f.help.as_deref(),
                unit: f.unit.as_deref(),
            },
        );
        while next < samples.len() && samples[next].family == fi {
            let s = &samples[next];
            let labels = s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            write_sample(&mut out, format, &s.name, labels, s.value, s.ts);
            next += 1;
        }
    }
    write_eof(&mut out, format);
    out
}

fn read(
    parser: &mut Parser,
    body: &str,
    format: Format,
) -> Result<(Vec<Fam>, Vec<Sample>), String> {
    let e = parser
        .parse(body, format)
        .map_err(|e| format!("{e}\n{body}"))?;
    let fams = e
        .families()
        .map(|f| Fam {
            name: f.name.to_string(),
            kind: f.kind,
            help: f.help.map(str::to_string),
            unit: f.unit.map(str::to_string),
        })
        .collect();
    let samples = e
        .samples()
        .map(|s| Sample {
            name: s.name().to_string(),
            labels: s
                .labels()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
            value: s.value(),
            ts: s.timestamp_ms(),
            family: s.family_index(),
        })
        .collect();
    Ok((fams, samples))
}

/// Equal, with values compared by bits except that any NaN equals any NaN.
fn same_samples(a: &[Sample], b: &[Sample]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let value_eq =
                (x.value.is_nan() && y.value.is_nan()) || x.value.to_bits() == y.value.to_bits();
            value_eq
                && x.name == y.name
                && x.labels == y.labels
                && x.ts == y.ts
                && x.family == y.family
        })
}

fn check(format: Format, fams: &[Fam], samples: &[Sample]) -> Result<(), TestCaseError> {
    let body = write(format, fams, samples);
    let mut parser = Parser::new(Limits::default());
    let (got_fams, got_samples) = read(&mut parser, &body, format).map_err(TestCaseError::fail)?;
    prop_assert_eq!(&got_fams, fams, "families differ for\n{}", body);
    prop_assert!(
        same_samples(&got_samples, samples),
        "samples differ for\n{}\ngot {:?}\nwant {:?}",
        body,
        got_samples,
        samples
    );
    // Formatting the parsed exposition again is stable.
    let exposition = parser.parse(&body, format).unwrap();
    let again = format_exposition(&exposition, format);
    let mut other = Parser::new(Limits::default());
    let (_, again_samples) = read(&mut other, &again, format).map_err(TestCaseError::fail)?;
    prop_assert!(
        same_samples(&again_samples, samples),
        "re-format differs:\n{}",
        again
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_format_round_trips(gen in prop::collection::vec(family(), 0..6)) {
        let (fams, samples) = build_text(&gen);
        check(Format::Text004, &fams, &samples)?;
    }

    #[test]
    fn openmetrics_round_trips(gen in prop::collection::vec(family(), 0..6)) {
        let (fams, samples) = build_openmetrics(&gen);
        check(Format::OpenMetrics100, &fams, &samples)?;
    }

    #[test]
    fn extreme_values_round_trip_in_both_formats(
        values in prop::collection::vec(prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0), Just(0.0),
            Just(f64::MAX), Just(f64::MIN), Just(f64::MIN_POSITIVE), Just(5e-324), Just(-5e-324),
            Just(1e15), Just(-1e15 + 1.0), Just(9_007_199_254_740_993.0), any::<f64>(),
        ], 1..20),
        ts in prop::collection::vec(prop::option::of(0i64..=i64::MAX), 20),
    ) {
        let samples: Vec<Sample> = values.iter().enumerate().map(|(i, v)| Sample {
            name: "g".to_string(),
            labels: vec![("i".to_string(), i.to_string())],
            value: *v,
            ts: ts[i],
            family: 0,
        }).collect();
        let fams = vec![Fam { name: "g".to_string(), kind: MetricType::Gauge, help: None, unit: None }];
        check(Format::Text004, &fams, &samples)?;
        check(Format::OpenMetrics100, &fams, &samples)?;
    }
}
