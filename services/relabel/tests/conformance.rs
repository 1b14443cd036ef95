//! Runs the data-driven cases in `testdata/*.yaml`.
//!
//! Each file is a YAML list of cases; each case has a `name`, a `why`, the `configs` as a
//! user would paste them, and either `input` plus `output` (the full label set afterwards)
//! or `dropped: true`, or an expected validation `error`. Files start with a comment saying
//! why they exist.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use tachyscale_relabel::{process, LabelSet, RawRelabelConfig, Regex, RelabelConfig, Verdict};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    why: String,
    configs: Vec<RawRelabelConfig>,
    #[serde(default)]
    input: BTreeMap<String, String>,
    output: Option<BTreeMap<String, String>>,
    #[serde(default)]
    dropped: bool,
    error: Option<ExpectedError>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    index: usize,
    field: String,
    reason: String,
}

fn run_case(file: &str, case: &Case) -> Result<(), String> {
    let ctx = format!("{file}: {} ({})", case.name, case.why);
    let mut rules = Vec::new();
    for (i, raw) in case.configs.iter().enumerate() {
        match RelabelConfig::try_from(raw.clone()) {
            Ok(rule) => rules.push(rule),
            Err(err) => {
                return match &case.error {
                    Some(want)
                        if (want.index, want.field.as_str(), want.reason.as_str())
                            == (i, err.field(), err.reason()) =>
                    {
                        Ok(())
                    }
                    Some(want) => Err(format!(
                        "{ctx}: got relabel_configs[{i}].{err} ({}), want {want:?}",
                        err.reason()
                    )),
                    None => Err(format!(
                        "{ctx}: unexpected error relabel_configs[{i}].{err}"
                    )),
                };
            }
        }
    }
    if let Some(want) = &case.error {
        return Err(format!(
            "{ctx}: expected error {want:?}, configs were accepted"
        ));
    }
    let mut labels = LabelSet::from_pairs(case.input.clone());
    let verdict = process(&mut labels, &rules);
    match (verdict, case.dropped, &case.output) {
        (Verdict::Drop, true, None) => Ok(()),
        (Verdict::Keep, false, Some(want)) => {
            let got: BTreeMap<String, String> = labels.into_iter().collect();
            if &got == want {
                Ok(())
            } else {
                Err(format!("{ctx}:\n   got {got:?}\n  want {want:?}"))
            }
        }
        (_, true, Some(_)) | (_, false, None) => {
            Err(format!("{ctx}: case needs exactly one of output / dropped"))
        }
        (v, _, _) => Err(format!("{ctx}: got {v:?}, labels {labels:?}")),
    }
}

#[test]
fn testdata_cases_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("testdata dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "testdata files missing: {files:?}");
    let mut failures = Vec::new();
    let mut total = 0;
    for path in &files {
        let text = fs::read_to_string(path).expect("readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        assert!(
            text.starts_with("# Why this file exists"),
            "{name} must start with its reason"
        );
        let cases: Vec<Case> =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for case in &cases {
            total += 1;
            if let Err(msg) = run_case(&name, case) {
                failures.push(msg);
            }
        }
    }
    assert!(total > 60, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoAnswer {
    /// Pattern as written in a relabel config.
    p: String,
    /// Haystack.
    h: String,
    /// Template expanded over the match.
    t: String,
    /// Go's `regexp.Compile` failed.
    err: bool,
    /// Go's `MatchString`.
    m: bool,
    /// Go's `ExpandString` over `FindStringSubmatchIndex` (None without a match).
    x: Option<String>,
}

#[test]
fn go_regexp_golden_answers_agree() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/go_regexp.golden");
    let text = fs::read_to_string(&path).expect("golden file");
    assert!(text.starts_with("# Why this file exists"));
    let answers: Vec<GoAnswer> = serde_yaml_ng::from_str(&text).expect("golden parses");
    assert!(answers.len() >= 1000, "only {} answers", answers.len());
    let mut failures = Vec::new();
    for a in &answers {
        let got = match Regex::new(&a.p) {
            Err(_) => (true, false, None),
            Ok(re) => (false, re.is_match(&a.h), re.expand_match(&a.t, &a.h)),
        };
        if got != (a.err, a.m, a.x.clone()) {
            failures.push(format!("{a:?}: got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
