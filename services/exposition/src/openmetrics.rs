//! OpenMetrics 1.0 text format: line structure and token syntax.
//!
//! The grammar is the spec's ABNF, which leaves no slack: single spaces between tokens, no
//! blanks inside `{…}`, no trailing comma, every line ending in `\n`, no blank lines, no
//! carriage returns, `#` lines only as `# TYPE`, `# HELP`, `# UNIT` (each `# KEYWORD name
//! text`) and the final `# EOF`, after which only one optional `\n` may follow. Exemplars
//! (` # {labels} value [timestamp]`) are parsed, checked (syntax, 128-character label set)
//! and discarded. Which family a sample belongs to and every type rule live in
//! [`crate::om_rules`]; this module only tokenises and hands each line over.
//!
//! Label values accept any escape: the spec's ABNF allows `\` before any character, and
//! the conformance corpus has `\z`, `\f`, `\t` in good cases; only `\\`, `\"` and `\n` are
//! translated, others kept literally.

use crate::error::{fail, snippet, ErrorKind, Fail};
use crate::exposition::{Ctx, SampleRec, Span};
use crate::float::{parse_openmetrics_timestamp, parse_value};
use crate::om_rules::{Keyword, OmScratch, SampleLine};
use crate::scan::{find_newline, label_name_end, metric_name_end};

/// Combined length limit, in code points, of an exemplar's label names and values.
const EXEMPLAR_MAX_CHARS: usize = 128;

/// Parses the whole body into `ctx`'s store.
pub(crate) fn parse(ctx: &mut Ctx<'_>, om: &mut OmScratch) -> Result<(), Fail> {
    om.reset();
    if let Some(cr) = ctx.text.find('\r') {
        return Err(fail(cr, ErrorKind::CarriageReturn));
    }
    let b = ctx.body;
    let len = b.len();
    let mut pos = 0;
    loop {
        if pos >= len {
            return Err(fail(len, ErrorKind::MissingEof));
        }
        let (end, has_newline) = match find_newline(ctx.text, pos) {
            Some(nl) => (nl, true),
            None => (len, false),
        };
        if &b[pos..end] == b"# EOF" {
            if has_newline && end + 1 < len {
                return Err(fail(end + 1, ErrorKind::ContentAfterEof));
            }
            return om.finish_family(ctx);
        }
        if !has_newline {
            return Err(fail(end, ErrorKind::MissingEof));
        }
        if end == pos {
            return Err(fail(pos, ErrorKind::BlankLine));
        }
        if b[pos] == b'#' {
            metadata(ctx, om, pos, end)?;
        } else {
            sample(ctx, om, pos, end)?;
        }
        pos = end + 1;
    }
}

/// `# KEYWORD name text` starting at `start`.
fn metadata(ctx: &mut Ctx<'_>, om: &mut OmScratch, start: usize, end: usize) -> Result<(), Fail> {
    let b = ctx.body;
    if b.get(start + 1) != Some(&b' ') {
        return Err(fail(start, ErrorKind::InvalidComment));
    }
    let kw = start + 2;
    let keyword = match b.get(kw..kw + 4) {
        Some(b"HELP") if kw + 4 <= end => Keyword::Help,
        Some(b"TYPE") if kw + 4 <= end => Keyword::Type,
        Some(b"UNIT") if kw + 4 <= end => Keyword::Unit,
        _ => return Err(fail(start, ErrorKind::InvalidComment)),
    };
    let after = kw + 4;
    let malformed = ErrorKind::InvalidMetadata {
        keyword: keyword.as_str(),
    };
    if after == end {
        return Err(fail(after, malformed));
    }
    if b[after] != b' ' {
        return Err(fail(start, ErrorKind::InvalidComment));
    }
    let name_start = after + 1;
    let name_end = metric_name_end(b, name_start, end);
    if name_end == name_start || name_end == end {
        return Err(fail(name_end, malformed));
    }
    if b[name_end] != b' ' {
        return Err(fail(name_end, ErrorKind::InvalidMetricName));
    }
    om.metadata(
        ctx,
        keyword,
        Span::new(name_start, name_end),
        name_end + 1,
        end,
        start,
    )
}

/// End of a space-separated token starting at `i`.
fn token_end(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && b[i] != b' ' {
        i += 1;
    }
    i
}

/// `name[{labels}] value [timestamp] [exemplar]` starting at `start`.
fn sample(ctx: &mut Ctx<'_>, om: &mut OmScratch, start: usize, end: usize) -> Result<(), Fail> {
    let b = ctx.body;
    let name_end = metric_name_end(b, start, end);
    if name_end == start {
        return Err(fail(start, ErrorKind::InvalidMetricName));
    }
    let name = Span::new(start, name_end);
    let labels_start = ctx.begin_sample(name)?;
    let mut i = name_end;
    if i < end && b[i] == b'{' {
        i = labels(ctx, labels_start, i + 1, end, true)?;
    }
    let series = Span::new(start, i);
    if i >= end {
        return Err(fail(i, ErrorKind::MissingValue));
    }
    if b[i] != b' ' {
        if i == name_end {
            return Err(fail(i, ErrorKind::InvalidMetricName));
        }
        return Err(fail(
            i,
            ErrorKind::MissingSpace {
                after: "the labels",
            },
        ));
    }
    let value_start = i + 1;
    let value_end = token_end(b, value_start, end);
    if value_end == value_start {
        return Err(fail(value_start, ErrorKind::MissingValue));
    }
    let token = &b[value_start..value_end];
    let value = parse_value(token).ok_or_else(|| {
        fail(
            value_start,
            ErrorKind::InvalidValue {
                token: snippet(token),
            },
        )
    })?;

    let mut timestamp = None;
    let mut exemplar_at = None;
    i = value_end;
    if i < end {
        i += 1;
        if b.get(i) == Some(&b'#') && i < end {
            exemplar_at = Some(i);
        } else {
            let ts_end = token_end(b, i, end);
            let token = &b[i..ts_end];
            timestamp = Some(parse_openmetrics_timestamp(token).ok_or_else(|| {
                fail(
                    i,
                    ErrorKind::InvalidTimestamp {
                        token: snippet(token),
                    },
                )
            })?);
            if ts_end < end {
                let next = ts_end + 1;
                if next < end && b[next] == b'#' {
                    exemplar_at = Some(next);
                } else {
                    let junk = &b[next.min(end)..token_end(b, next.min(end), end)];
                    return Err(fail(
                        next,
                        ErrorKind::TrailingContent {
                            token: snippet(junk),
                        },
                    ));
                }
            }
        }
    }
    if let Some(hash) = exemplar_at {
        exemplar(ctx, hash, end)?;
    }

    let labels_end = ctx.store.labels.len();
    let family = om.sample(
        ctx,
        &SampleLine {
            name,
            labels: Span::new(labels_start, labels_end),
            value,
            timestamp,
            has_exemplar: exemplar_at.is_some(),
            offset: start,
        },
    )?;
    ctx.store.samples.push(SampleRec {
        name,
        series,
        labels: Span::new(labels_start, labels_end),
        value,
        timestamp_ms: timestamp.map_or(0, |(_, ms)| ms),
        has_timestamp: timestamp.is_some(),
        family,
    });
    Ok(())
}

/// ` # {labels} value [timestamp]` with the `#` at `hash`; validated, then dropped.
fn exemplar(ctx: &mut Ctx<'_>, hash: usize, end: usize) -> Result<(), Fail> {
    let b = ctx.body;
    if b.get(hash + 1) != Some(&b' ') || b.get(hash + 2) != Some(&b'{') || hash + 2 >= end {
        return Err(fail(hash, ErrorKind::InvalidExemplar));
    }
    let first = ctx.store.labels.len();
    let arena_len = ctx.store.arena.len();
    let parsed = labels(ctx, first, hash + 3, end, false);
    let chars: usize = ctx.store.labels[first..]
        .iter()
        .map(|l| {
            let value = ctx.str_bytes(l.value);
            l.name.len() + std::str::from_utf8(value).map_or(value.len(), |s| s.chars().count())
        })
        .sum();
    ctx.store.labels.truncate(first);
    ctx.store.arena.truncate(arena_len);
    let i = parsed?;
    if chars > EXEMPLAR_MAX_CHARS {
        return Err(fail(hash, ErrorKind::ExemplarTooLong));
    }
    if i >= end || b[i] != b' ' {
        return Err(fail(i, ErrorKind::InvalidExemplar));
    }
    let value_end = token_end(b, i + 1, end);
    if parse_value(&b[i + 1..value_end]).is_none() {
        return Err(fail(i + 1, ErrorKind::InvalidExemplar));
    }
    if value_end < end {
        let ts_start = value_end + 1;
        let ts_end = token_end(b, ts_start, end);
        if ts_end != end || parse_openmetrics_timestamp(&b[ts_start..ts_end]).is_none() {
            return Err(fail(ts_start, ErrorKind::InvalidExemplar));
        }
    }
    Ok(())
}

/// Labels after the `{` (at `i`) for the sample whose labels start at `first`; returns the
/// offset after the closing `}`.
fn labels(
    ctx: &mut Ctx<'_>,
    first: usize,
    mut i: usize,
    end: usize,
    check_limits: bool,
) -> Result<usize, Fail> {
    let b = ctx.body;
    if i < end && b[i] == b'}' {
        return Ok(i + 1);
    }
    loop {
        let name_end = label_name_end(b, i, end);
        if name_end == i {
            return Err(fail(i, ErrorKind::InvalidLabelName));
        }
        if name_end >= end || b[name_end] != b'=' {
            return Err(fail(
                name_end,
                ErrorKind::InvalidLabelSet { expected: "'='" },
            ));
        }
        let quote = name_end + 1;
        if quote >= end || b[quote] != b'"' {
            return Err(fail(
                quote,
                ErrorKind::InvalidLabelSet {
                    expected: "quoted label value",
                },
            ));
        }
        let (value, after) = ctx.quoted_value(quote, end)?;
        ctx.push_label(first, Span::new(i, name_end), value, check_limits)?;
        match b.get(after) {
            Some(b',') if after < end => i = after + 1,
            Some(b'}') if after < end => return Ok(after + 1),
            _ => {
                return Err(fail(
                    after,
                    ErrorKind::InvalidLabelSet {
                        expected: "',' or '}'",
                    },
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Format, Limits, MetricType, Parser, NORMAL_NAN_BITS};

    #[test]
    fn float_timestamps_become_milliseconds() {
        let mut p = Parser::new(Limits::default());
        let body = "# TYPE g gauge\ng{a=\"1\"} 1 1520879607.789\ng{a=\"2\"} 1 1.0005\n\
                    g{a=\"3\"} 1 -2.5\ng{a=\"4\"} 1 1e3\ng{a=\"5\"} 1\n# EOF\n";
        let e = p.parse(body, Format::OpenMetrics100).unwrap();
        let ts: Vec<_> = e.samples().map(|s| s.timestamp_ms()).collect();
        assert_eq!(
            ts,
            vec![
                Some(1_520_879_607_789),
                Some(1000),
                Some(-2500),
                Some(1_000_000),
                None
            ]
        );
    }

    #[test]
    fn values_labels_and_metadata_are_read() {
        let mut p = Parser::new(Limits::default());
        let body = "# TYPE c_seconds counter\n# UNIT c_seconds seconds\n\
                    # HELP c_seconds Some \\\"help\\\"\\nhere\n\
                    c_seconds_total{a=\"x\\\\y\\n\\\"z\\q\"} +Inf # {trace=\"t\"} 1 2\n\
                    c_seconds_created 1.5\n# TYPE g gauge\ng NaN\n# EOF";
        let e = p.parse(body, Format::OpenMetrics100).unwrap();
        let fam = e.family(0).unwrap();
        assert_eq!(fam.kind, MetricType::Counter);
        assert_eq!(fam.unit, Some("seconds"));
        assert_eq!(fam.help, Some("Some \"help\"\nhere"));
        let total = e.sample(0).unwrap();
        assert_eq!(total.name(), "c_seconds_total");
        assert_eq!(total.label("a"), Some("x\\y\n\"z\\q"));
        assert_eq!(total.value(), f64::INFINITY);
        assert_eq!(e.sample(1).unwrap().value(), 1.5);
        let nan = e.sample(2).unwrap();
        assert_eq!(nan.value().to_bits(), NORMAL_NAN_BITS);
        assert_eq!(nan.family().kind, MetricType::Gauge);
        assert_eq!(e.len(), 3, "the exemplar is not a sample");
    }

    #[test]
    fn groups_match_in_any_label_order_even_with_many_labels() {
        for n in [3, 40] {
            let labels: Vec<String> = (0..n).map(|i| format!("l{i}=\"{i}\"")).collect();
            let mut reversed = labels.clone();
            reversed.reverse();
            let (fwd, rev) = (labels.join(","), reversed.join(","));
            let mut p = Parser::new(Limits::default());
            let good = format!(
                "# TYPE h histogram\nh_bucket{{{fwd},le=\"+Inf\"}} 1\nh_count{{{rev}}} 1\n\
                 h_sum{{{fwd}}} 1\n# EOF\n"
            );
            assert!(p.parse(&good, Format::OpenMetrics100).is_ok(), "{n}");
            let interleaved =
                format!("# TYPE g gauge\ng{{{fwd}}} 1\ng{{a=\"1\"}} 1\ng{{{rev}}} 1\n# EOF\n");
            let err = p.parse(&interleaved, Format::OpenMetrics100).unwrap_err();
            assert_eq!(err.reason(), "interleaved_metric", "{n}");
            assert_eq!(err.line, 4);
        }
    }

    #[test]
    fn a_parser_is_reusable_after_an_error() {
        let mut p = Parser::new(Limits::default());
        assert!(p.parse("a 1\n", Format::OpenMetrics100).is_err());
        let e = p.parse("a 1\n# EOF\n", Format::OpenMetrics100).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e.families().count(), 1);
    }

    #[test]
    fn limits_name_the_limit() {
        let limits = Limits {
            max_samples: 2,
            max_labels_per_sample: 3,
            max_label_name_bytes: 10,
            max_label_value_bytes: 7,
        };
        let mut p = Parser::new(limits);
        let reason = |p: &mut Parser, body: &str| {
            p.parse(body, Format::OpenMetrics100)
                .map(|_| "ok")
                .unwrap_or_else(|e| e.reason())
        };
        assert_eq!(reason(&mut p, "a 1\nb 1\n# EOF\n"), "ok");
        assert_eq!(reason(&mut p, "a 1\nb 1\nc 1\n# EOF\n"), "sample_limit");
        assert_eq!(
            reason(&mut p, "a{x=\"1\",y=\"2\",z=\"3\"} 1\n# EOF\n"),
            "label_limit"
        );
        assert_eq!(
            reason(&mut p, "a{x=\"12345678\"} 1\n# EOF\n"),
            "label_value_length_limit"
        );
        assert_eq!(
            reason(&mut p, "a{abcdefghijk=\"1\"} 1\n# EOF\n"),
            "label_name_length_limit"
        );
        assert_eq!(
            reason(&mut p, "abcdefgh 1\n# EOF\n"),
            "label_value_length_limit"
        );
        // Exemplar labels are not subject to the limits.
        assert_eq!(
            reason(
                &mut p,
                "# TYPE c counter\nc_total 1 # {a=\"1\",b=\"2\",c=\"3\",d=\"long value\"} 1\n# EOF\n"
            ),
            "ok"
        );
    }
}
