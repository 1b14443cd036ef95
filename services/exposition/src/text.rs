//! The Prometheus text exposition format 0.0.4, as Prometheus 2.42 reads it.
//!
//! Follows `model/textparse/promlex.l` and `promparse.go` token by token: blanks (spaces
//! and tabs) may separate every token, including inside `{…}`; commas between labels are
//! optional and one may trail; `#` followed by a blank and `HELP`/`TYPE` plus a blank is
//! metadata, every other `#` line is a comment; the text of a metadata line is everything
//! after the one blank that follows the name; sample values are any run of bytes other
//! than blanks and `{` that parses as a float; timestamps are `[0-9]+` milliseconds; the
//! last line needs no `\n` (`NewPromParser` appends one); blanks before a sample's name
//! make it invalid (Prometheus keeps them in the name, which then fails validation).
//! Unlike the lexer, this parser splits lines first (a memchr per line) and then scans
//! tokens within the line, which is where the deviations listed in the crate docs come
//! from (no label value spans lines). Behaviour was checked against a real Prometheus 2.42
//! scraping the `testdata/text` cases.
//!
//! Families are found by name, like Prometheus' scrape cache associates metadata with a
//! sample: the family named exactly like the sample (declared by HELP/TYPE, or implied by
//! an earlier sample of that name), else for `_bucket`/`_sum`/`_count` the histogram (or,
//! for the last two, summary) family named by the rest, else a new untyped family named
//! after the sample. Where a family's metadata lines sit does not matter, and families need
//! not be contiguous (the text format does not require it). A `# TYPE` line is refused once
//! its family has samples, and HELP and TYPE at most once per name (Prometheus itself
//! ignores both; see the crate docs).

use crate::error::{fail, snippet, ErrorKind, Fail};
use crate::exposition::{Ctx, SampleRec, Span};
use crate::float::{parse_text_timestamp, parse_value};
use crate::scan::{find_newline, is_blank, label_name_end, metric_name_end, skip_blanks};
use crate::MetricType;

/// Parses the whole body into `ctx`'s store.
pub(crate) fn parse(ctx: &mut Ctx<'_>) -> Result<(), Fail> {
    let len = ctx.body.len();
    let mut current: Option<u32> = None;
    let mut pos = 0;
    while pos < len {
        // A last line without `\n` is fine: Prometheus' NewPromParser appends one.
        let end = find_newline(ctx.text, pos).unwrap_or(len);
        line(ctx, &mut current, pos, end)?;
        pos = end + 1;
    }
    Ok(())
}

fn line(
    ctx: &mut Ctx<'_>,
    current: &mut Option<u32>,
    start: usize,
    end: usize,
) -> Result<(), Fail> {
    let b = ctx.body;
    let i = skip_blanks(b, start, end);
    if i == end {
        return Ok(());
    }
    if b[i] == b'#' {
        return comment_or_metadata(ctx, current, i, end);
    }
    if i != start {
        // Prometheus 2.42 keeps leading blanks in the series name, which then fails the
        // scrape loop's name validation: the sample is refused.
        return Err(fail(start, ErrorKind::InvalidMetricName));
    }
    sample(ctx, current, i, end)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Help,
    Type,
}

/// `#` at `hash`. Metadata needs `#`, blanks, `HELP` or `TYPE`, blanks, a metric name, then
/// end of line or a blank and the text; anything else starting with `#` is a comment.
fn comment_or_metadata(
    ctx: &mut Ctx<'_>,
    current: &mut Option<u32>,
    hash: usize,
    end: usize,
) -> Result<(), Fail> {
    let b = ctx.body;
    if hash + 1 >= end || !is_blank(b[hash + 1]) {
        return Ok(());
    }
    let k = skip_blanks(b, hash + 1, end);
    let keyword = match b.get(k..k + 4) {
        Some(b"HELP") => Keyword::Help,
        Some(b"TYPE") => Keyword::Type,
        _ => return Ok(()),
    };
    if k + 4 >= end || !is_blank(b[k + 4]) {
        return Ok(());
    }
    let keyword_name = if keyword == Keyword::Help {
        "HELP"
    } else {
        "TYPE"
    };
    let name_start = skip_blanks(b, k + 4, end);
    let name_end = metric_name_end(b, name_start, end);
    if name_end == name_start {
        return Err(fail(
            name_start,
            ErrorKind::InvalidMetadata {
                keyword: keyword_name,
            },
        ));
    }
    // The text is what follows the single blank after the name; a line that is blank after
    // the name has empty text (the lexer's whitespace rule wins that tie).
    let text_start = if name_end == end {
        end
    } else if !is_blank(b[name_end]) {
        return Err(fail(name_end, ErrorKind::InvalidMetricName));
    } else if skip_blanks(b, name_end, end) == end {
        end
    } else {
        name_end + 1
    };
    let name = Span::new(name_start, name_end);
    let family = match ctx.find_family(&b[name_start..name_end]) {
        Some(f) => f,
        None => ctx.push_indexed_family(name),
    };
    let family_name = || snippet(&b[name_start..name_end]);
    let rec = ctx.store.families[family as usize];
    match keyword {
        Keyword::Help => {
            if rec.help_seen {
                return Err(fail(
                    hash,
                    ErrorKind::DuplicateMetadata {
                        keyword: "HELP",
                        family: family_name(),
                    },
                ));
            }
            let help = ctx.help(text_start, end, false);
            let f = &mut ctx.store.families[family as usize];
            f.help_seen = true;
            f.help = help;
        }
        Keyword::Type => {
            if rec.type_seen {
                return Err(fail(
                    hash,
                    ErrorKind::DuplicateMetadata {
                        keyword: "TYPE",
                        family: family_name(),
                    },
                ));
            }
            if rec.samples > 0 {
                return Err(fail(
                    hash,
                    ErrorKind::MetadataAfterSamples {
                        keyword: "TYPE",
                        family: family_name(),
                    },
                ));
            }
            let token = &b[text_start..end];
            let kind = MetricType::from_text(token).ok_or_else(|| {
                fail(
                    text_start,
                    ErrorKind::InvalidType {
                        token: snippet(token),
                    },
                )
            })?;
            let f = &mut ctx.store.families[family as usize];
            f.type_seen = true;
            f.kind = kind;
        }
    }
    *current = Some(family);
    Ok(())
}

/// A sample line whose metric name starts at `i`.
fn sample(ctx: &mut Ctx<'_>, current: &mut Option<u32>, i: usize, end: usize) -> Result<(), Fail> {
    let b = ctx.body;
    let name_end = metric_name_end(b, i, end);
    if name_end == i {
        return Err(fail(i, ErrorKind::InvalidMetricName));
    }
    let name = Span::new(i, name_end);
    let labels_start = ctx.begin_sample(name)?;
    let mut j = skip_blanks(b, name_end, end);
    let mut series_end = name_end;
    if j < end && b[j] == b'{' {
        j = labels(ctx, labels_start, j + 1, end)?;
        series_end = j;
        j = skip_blanks(b, j, end);
    } else if j == name_end && j < end {
        // `a-1` or `a.b`: a byte that can neither continue the name nor start a value.
        return Err(fail(j, ErrorKind::InvalidMetricName));
    }

    let value_end = token_end(b, j, end);
    if value_end == j {
        return Err(fail(j, ErrorKind::MissingValue));
    }
    let token = &b[j..value_end];
    let value = parse_value(token).ok_or_else(|| {
        fail(
            j,
            ErrorKind::InvalidValue {
                token: snippet(token),
            },
        )
    })?;

    let mut timestamp = None;
    let k = skip_blanks(b, value_end, end);
    if k < end {
        let ts_end = token_end(b, k, end);
        let token = &b[k..ts_end.max(k + 1)];
        let ts = parse_text_timestamp(token).ok_or_else(|| {
            fail(
                k,
                ErrorKind::InvalidTimestamp {
                    token: snippet(token),
                },
            )
        })?;
        timestamp = Some(ts);
        let rest = skip_blanks(b, ts_end, end);
        if rest < end {
            let junk = &b[rest..token_end(b, rest, end).max(rest + 1)];
            return Err(fail(
                rest,
                ErrorKind::TrailingContent {
                    token: snippet(junk),
                },
            ));
        }
    }

    let family = resolve_family(ctx, current, name);
    ctx.store.families[family as usize].samples += 1;
    let labels_end = ctx.store.labels.len();
    ctx.store.samples.push(SampleRec {
        name,
        series: Span::new(i, series_end),
        labels: Span::new(labels_start, labels_end),
        value,
        timestamp_ms: timestamp.unwrap_or(0),
        has_timestamp: timestamp.is_some(),
        family,
    });
    Ok(())
}

/// End of a value or timestamp token: the lexer's `[^{ \t\n]+`.
fn token_end(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && !is_blank(b[i]) && b[i] != b'{' {
        i += 1;
    }
    i
}

/// Labels after the `{` (at `i`); returns the offset after the closing `}`.
fn labels(ctx: &mut Ctx<'_>, first: usize, mut i: usize, end: usize) -> Result<usize, Fail> {
    let b = ctx.body;
    loop {
        i = skip_blanks(b, i, end);
        if i >= end {
            return Err(fail(
                i,
                ErrorKind::InvalidLabelSet {
                    expected: "label name or '}'",
                },
            ));
        }
        if b[i] == b'}' {
            return Ok(i + 1);
        }
        let name_end = label_name_end(b, i, end);
        if name_end == i {
            return Err(fail(i, ErrorKind::InvalidLabelName));
        }
        let name = Span::new(i, name_end);
        i = skip_blanks(b, name_end, end);
        if i >= end || b[i] != b'=' {
            return Err(fail(i, ErrorKind::InvalidLabelSet { expected: "'='" }));
        }
        i = skip_blanks(b, i + 1, end);
        if i >= end || b[i] != b'"' {
            return Err(fail(
                i,
                ErrorKind::InvalidLabelSet {
                    expected: "quoted label value",
                },
            ));
        }
        let (value, after) = ctx.quoted_value(i, end)?;
        ctx.push_label(first, name, value, true)?;
        i = skip_blanks(b, after, end);
        // Prometheus takes one optional comma; the next token must then be a name or `}`.
        if i < end && b[i] == b',' {
            i += 1;
        }
    }
}

/// The family a sample named `name` belongs to (see the module docs). The family of the
/// latest metadata line is tried first only as a shortcut for the common exact match.
fn resolve_family(ctx: &mut Ctx<'_>, current: &mut Option<u32>, name: Span) -> u32 {
    let b = ctx.body;
    let sample_name = &b[name.range()];
    if let Some(c) = *current {
        if ctx.span_bytes(ctx.store.families[c as usize].name) == sample_name {
            return c;
        }
    }
    let found = ctx.find_family(sample_name).or_else(|| {
        [
            ("_bucket", MetricType::Histogram, MetricType::Histogram),
            ("_sum", MetricType::Histogram, MetricType::Summary),
            ("_count", MetricType::Histogram, MetricType::Summary),
        ]
        .into_iter()
        .find_map(|(suffix, k1, k2)| {
            let base = sample_name.strip_suffix(suffix.as_bytes())?;
            let f = ctx.find_family(base)?;
            let kind = ctx.store.families[f as usize].kind;
            (kind == k1 || kind == k2).then_some(f)
        })
    });
    let family = match found {
        Some(f) => f,
        None => ctx.push_indexed_family(name),
    };
    *current = Some(family);
    family
}

#[cfg(test)]
mod tests {
    use crate::{ErrorKind, Format, Limits, MetricType, Parser, NORMAL_NAN_BITS};

    type Flat = Vec<(String, Vec<(String, String)>, f64, Option<i64>)>;

    fn parse_ok(body: &str) -> Flat {
        let mut p = Parser::new(Limits::default());
        let e = p
            .parse(body, Format::Text004)
            .unwrap_or_else(|e| panic!("{body:?}: {e}"));
        e.samples()
            .map(|s| {
                let labels = s
                    .labels()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                (s.name().to_string(), labels, s.value(), s.timestamp_ms())
            })
            .collect()
    }

    fn parse_err(body: &str) -> ErrorKind {
        let mut p = Parser::new(Limits::default());
        match p.parse(body, Format::Text004) {
            Ok(e) => panic!("{body:?} parsed: {e:?}"),
            Err(e) => e.kind,
        }
    }

    #[test]
    fn label_values_are_unescaped_like_prometheus() {
        let s = parse_ok("a{x=\"q\\\"b\\\\c\\nd\\ze\"} 1\n");
        assert_eq!(s[0].1, vec![("x".into(), "q\"b\\c\nd\\ze".into())]);
    }

    #[test]
    fn blanks_commas_and_empty_braces_are_lenient_like_prometheus() {
        let s = parse_ok("a { x = \"1\" ,\ty=\"2\" , } \t 3 \t 42 \t\n");
        assert_eq!(s[0].1.len(), 2);
        assert_eq!((s[0].2, s[0].3), (3.0, Some(42)));
        // A missing comma between labels is accepted by Prometheus' parser.
        assert_eq!(parse_ok("a{x=\"1\"y=\"2\"} 1\n")[0].1.len(), 2);
        assert_eq!(parse_ok("a{} 1\n")[0].1.len(), 0);
        assert_eq!(parse_ok("a{x=\"1\"}2\n")[0].2, 2.0);
    }

    #[test]
    fn special_values_have_prometheus_bit_patterns() {
        let s = parse_ok("a NaN\nb +Inf\nc -Inf\nd nan\ne -0\n");
        assert_eq!(s[0].2.to_bits(), NORMAL_NAN_BITS);
        assert_eq!(s[1].2, f64::INFINITY);
        assert_eq!(s[2].2, f64::NEG_INFINITY);
        assert_eq!(s[3].2.to_bits(), NORMAL_NAN_BITS);
        assert_eq!(s[4].2.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn help_and_type_fill_the_family() {
        let mut p = Parser::new(Limits::default());
        let body = "# HELP h_seconds Line\\nwith \\\\ and \\\"\n# TYPE h_seconds histogram\n\
                    h_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 2\nh_seconds_count 1\nother 1\n";
        let e = p.parse(body, Format::Text004).unwrap();
        let fams: Vec<_> = e.families().collect();
        assert_eq!(fams.len(), 2);
        assert_eq!(fams[0].kind, MetricType::Histogram);
        assert_eq!(fams[0].help, Some("Line\nwith \\ and \\\""));
        assert_eq!(fams[1].name, "other");
        let family_of: Vec<usize> = e.samples().map(|s| s.family_index()).collect();
        assert_eq!(family_of, vec![0, 0, 0, 1]);
    }

    #[test]
    fn metadata_text_follows_the_single_blank_after_the_name() {
        let mut p = Parser::new(Limits::default());
        let e = p
            .parse(
                "# HELP a  two spaces\n# HELP b\n# HELP c \t \n",
                Format::Text004,
            )
            .unwrap();
        let helps: Vec<_> = e.families().map(|f| f.help).collect();
        assert_eq!(helps, vec![Some(" two spaces"), None, None]);
        assert!(matches!(
            parse_err("# TYPE a  counter\n"),
            ErrorKind::InvalidType { .. }
        ));
    }

    #[test]
    fn comments_are_anything_else_after_hash() {
        let s = parse_ok("#HELP a b\n# HELPER x\n# HELP\n#\n# foo \0 bar\n  # TYPE\na 1\n");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn samples_join_families_by_name_not_by_position() {
        let mut p = Parser::new(Limits::default());
        let body = "# TYPE bar histogram\n# TYPE bar2 histogram\nbar_bucket{le=\"+Inf\"} 0\n\
                    # TYPE bar_bucket untyped\nbar_bucket 1\n# HELP bar h\nbar_bucket 2\n\
                    x_sum 1\n# TYPE x summary\nx_sum 2\nx_count 1\n";
        let e = p.parse(body, Format::Text004).unwrap();
        let names: Vec<_> = e.samples().map(|s| s.family().name).collect();
        assert_eq!(
            names,
            ["bar", "bar_bucket", "bar_bucket", "x_sum", "x_sum", "x"]
        );
    }

    #[test]
    fn sample_families_can_come_back_in_text_format() {
        let mut p = Parser::new(Limits::default());
        let e = p
            .parse(
                "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",
                Format::Text004,
            )
            .unwrap();
        let family_of: Vec<usize> = e.samples().map(|s| s.family_index()).collect();
        assert_eq!(family_of, vec![0, 1, 0]);
    }

    #[test]
    fn strict_where_prometheus_is() {
        let reason = |b: &str| parse_err(b).reason();
        assert_eq!(reason("  a 1\n"), "invalid_metric_name");
        assert_eq!(reason("a\n"), "missing_value");
        assert_eq!(reason("a 1 -5\n"), "invalid_timestamp");
        assert_eq!(reason("a 1 5 6\n"), "trailing_content");
        assert_eq!(reason("a 1 9223372036854775808\n"), "invalid_timestamp");
        assert_eq!(reason("a 0x1p3\n"), "invalid_value");
        assert_eq!(reason("a{x=\"1\",,} 1\n"), "invalid_label_name");
        assert_eq!(reason("a{,} 1\n"), "invalid_label_name");
        assert_eq!(reason("a{x=1} 1\n"), "invalid_label_set");
        assert_eq!(reason("a{x=\"1} 1\n"), "unterminated_label_value");
        assert_eq!(reason("a{x=\"1\",x=\"2\"} 1\n"), "duplicate_label");
        assert_eq!(reason("a{__name__=\"b\"} 1\n"), "duplicate_label");
        assert_eq!(reason("# HELP \n"), "invalid_metadata");
        assert_eq!(reason("# TYPE a\n"), "invalid_type");
        assert_eq!(reason("# TYPE a info\n"), "invalid_type");
        assert_eq!(
            reason("# TYPE a gauge\n# TYPE a gauge\n"),
            "duplicate_metadata"
        );
        assert_eq!(reason("# HELP a x\n# HELP a y\n"), "duplicate_metadata");
        assert_eq!(reason("a 1\n# TYPE a gauge\n"), "metadata_after_samples");
        assert_eq!(reason("a-1 1\n"), "invalid_metric_name");
        assert_eq!(reason("a 1\r\n"), "invalid_value");
    }

    #[test]
    fn help_after_samples_is_accepted() {
        assert_eq!(parse_ok("a 1\n# HELP a late\n").len(), 1);
    }

    #[test]
    fn duplicate_labels_are_found_among_many() {
        let labels: Vec<String> = (0..100).map(|i| format!("l{i}=\"v\"")).collect();
        assert_eq!(
            parse_ok(&format!("a{{{}}} 1\n", labels.join(",")))[0]
                .1
                .len(),
            100
        );
        for dup in [5, 16, 17, 99] {
            let mut with_dup = labels.clone();
            with_dup.insert(dup, "l3=\"x\"".to_string());
            let body = format!("a{{{}}} 1\nb 2\n", with_dup.join(","));
            assert_eq!(
                parse_err(&body),
                ErrorKind::DuplicateLabel {
                    name: "l3".to_string()
                },
                "{dup}"
            );
        }
    }

    #[test]
    fn last_newline_is_optional_like_prometheus() {
        assert_eq!(parse_ok("a 1").len(), 1);
        assert_eq!(parse_ok("a 1 5")[0].3, Some(5));
        assert_eq!(parse_ok("# HELP a x").len(), 0);
        assert_eq!(parse_ok("a{x=\"\0\"} 1\n")[0].1[0].1, "\0");
    }
}
