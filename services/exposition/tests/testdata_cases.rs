//! Data-driven good/bad cases for both formats, beyond the OpenMetrics corpus:
//! `testdata/{text,openmetrics}/{good,bad}/*.txt`. Each file starts with a `# why: …` line
//! saying why the case exists; bad cases add `# expect: <reason>` naming the
//! [`ErrorKind::reason`] the parser must give. Those header lines are stripped before
//! parsing (OpenMetrics allows no comments). Good cases must also survive a format and
//! re-parse unchanged. All failures are reported at once.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::fs;
use std::path::Path;

use tachyscale_exposition::{format_exposition, Format, Limits, Parser};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");

struct Case {
    name: String,
    body: Vec<u8>,
    expect: Option<String>,
}

fn load(dir: &str) -> Vec<Case> {
    let path = Path::new(TESTDATA).join(dir);
    let mut files: Vec<_> = fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let name = format!("{dir}/{}", file.file_name().unwrap().to_string_lossy());
            let mut body = fs::read(file).unwrap();
            let mut why = false;
            let mut expect = None;
            loop {
                let line_end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
                let line = String::from_utf8_lossy(&body[..line_end]).into_owned();
                if let Some(w) = line.strip_prefix("# why: ") {
                    assert!(!w.trim().is_empty(), "{name}: empty why");
                    why = true;
                } else if let Some(reason) = line.strip_prefix("# expect: ") {
                    expect = Some(reason.trim().to_string());
                } else {
                    break;
                }
                body.drain(..(line_end + 1).min(body.len()));
            }
            assert!(why, "{name}: must start with a `# why: ...` line");
            Case { name, body, expect }
        })
        .collect()
}

/// Families (name, type, help, unit) and samples (name, labels, value bits, timestamp,
/// family index).
type Flat = (
    Vec<(String, String, Option<String>, Option<String>)>,
    Vec<(String, Vec<(String, String)>, u64, Option<i64>, usize)>,
);

fn flatten(parser: &mut Parser, body: &[u8], format: Format) -> Result<Flat, String> {
    let e = parser.parse(body, format).map_err(|e| e.to_string())?;
    let families = e
        .families()
        .map(|f| {
            (
                f.name.to_string(),
                f.kind.to_string(),
                f.help.map(str::to_string),
                f.unit.map(str::to_string),
            )
        })
        .collect();
    let samples = e
        .samples()
        .map(|s| {
            let labels = s
                .labels()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            (
                s.name().to_string(),
                labels,
                s.value().to_bits(),
                s.timestamp_ms(),
                s.family_index(),
            )
        })
        .collect();
    Ok((families, samples))
}

fn run(format: Format, dir: &str, min_good: usize, min_bad: usize) {
    let good = load(&format!("{dir}/good"));
    let bad = load(&format!("{dir}/bad"));
    assert!(
        good.len() >= min_good,
        "{dir}: only {} good cases",
        good.len()
    );
    assert!(bad.len() >= min_bad, "{dir}: only {} bad cases", bad.len());
    let mut parser = Parser::new(Limits::default());
    let mut again = Parser::new(Limits::default());
    let mut failures = Vec::new();
    for case in &good {
        assert!(
            case.expect.is_none(),
            "{}: good cases expect nothing",
            case.name
        );
        let samples = match flatten(&mut parser, &case.body, format) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: should parse, got {e}", case.name));
                continue;
            }
        };
        let exposition = parser.parse(&case.body, format).unwrap();
        let written = format_exposition(&exposition, format);
        match flatten(&mut again, written.as_bytes(), format) {
            Ok(back) if back == samples => {}
            Ok(back) => failures.push(format!(
                "{}: re-parse differs:\n{samples:?}\n{back:?}\nwritten:\n{written}",
                case.name
            )),
            Err(e) => failures.push(format!("{}: re-parse failed: {e}\n{written}", case.name)),
        }
    }
    for case in &bad {
        let expect = case
            .expect
            .as_deref()
            .unwrap_or_else(|| panic!("{}: bad cases need `# expect: <reason>`", case.name));
        match parser.parse(&case.body, format) {
            Ok(e) => failures.push(format!(
                "{}: should fail, parsed {} samples",
                case.name,
                e.len()
            )),
            Err(e) if e.reason() == expect => {}
            Err(e) => failures.push(format!(
                "{}: expected {expect}, got {} ({e})",
                case.name,
                e.reason()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {dir} cases failed:\n{}",
        failures.len(),
        good.len() + bad.len(),
        failures.join("\n")
    );
}

#[test]
fn text_format_cases() {
    run(Format::Text004, "text", 20, 40);
}

#[test]
fn openmetrics_cases() {
    run(Format::OpenMetrics100, "openmetrics", 15, 30);
}
