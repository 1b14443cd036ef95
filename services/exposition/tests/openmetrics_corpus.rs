//! The OpenMetrics conformance corpus (`tests/testdata/parsers` of the OpenMetrics
//! repository, kept outside this repository in `/work/shared`): every `shouldParse: true`
//! case must parse, every other must be rejected. Read at test time; the test fails if the
//! directory is missing or suspiciously small so it can never pass vacuously.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::fs;
use std::path::{Path, PathBuf};

use tachyscale_exposition::{Format, Limits, Parser};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/openmetrics/parsers"
);

/// The corpus has 211 cases; fewer than this means it is not the corpus.
const MIN_CASES: usize = 200;

struct Case {
    name: String,
    should_parse: bool,
    body: Vec<u8>,
}

fn load_cases(dir: &Path) -> Vec<Case> {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("OpenMetrics corpus missing at {}: {e}", dir.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|case_dir| {
            let name = case_dir.file_name().unwrap().to_string_lossy().into_owned();
            let meta_text = fs::read_to_string(case_dir.join("test.json"))
                .unwrap_or_else(|e| panic!("{name}/test.json: {e}"));
            let meta: serde_json::Value = serde_json::from_str(&meta_text)
                .unwrap_or_else(|e| panic!("{name}/test.json: {e}"));
            assert_eq!(meta["type"], "text", "{name}: only text cases are expected");
            let file = meta["file"].as_str().unwrap_or("metrics");
            let should_parse = meta["shouldParse"]
                .as_bool()
                .unwrap_or_else(|| panic!("{name}: shouldParse missing"));
            let body =
                fs::read(case_dir.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"));
            Case {
                name,
                should_parse,
                body,
            }
        })
        .collect()
}

#[test]
fn openmetrics_corpus_cases_parse_or_fail_as_labelled() {
    let cases = load_cases(Path::new(CORPUS));
    assert!(
        cases.len() >= MIN_CASES,
        "only {} cases in {CORPUS}; expected at least {MIN_CASES}",
        cases.len()
    );
    let mut parser = Parser::new(Limits::default());
    let mut failures = Vec::new();
    let (mut good, mut bad) = (0, 0);
    for case in &cases {
        match (
            case.should_parse,
            parser.parse(&case.body, Format::OpenMetrics100),
        ) {
            (true, Ok(_)) => good += 1,
            (false, Err(_)) => bad += 1,
            (true, Err(e)) => failures.push(format!("{}: should parse, got {e}", case.name)),
            (false, Ok(e)) => failures.push(format!(
                "{}: should be rejected, parsed {} samples",
                case.name,
                e.len()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        good > 40 && bad > 120,
        "unexpected split: {good} good, {bad} bad"
    );
    eprintln!("openmetrics corpus: {good} good and {bad} bad cases all as labelled");
}
