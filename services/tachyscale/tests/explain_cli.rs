//! `tachyscale explain` from the command line, as the README shows it: every example
//! document in `examples/explain/` is listed in the README and explains with exit code 0
//! and a JSON decision; a refused document exits non-zero naming the field.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn explain(engine: &str, input: &str, stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tachyscale"))
        .args(["explain", engine, "--input", input])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[test]
fn every_readme_example_explains_from_the_command_line() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut examples: Vec<String> = std::fs::read_dir(root().join("examples/explain"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 7, "{examples:?}");
    for name in examples {
        let engine = name.split(['-', '.']).next().unwrap();
        let input = format!("examples/explain/{name}");
        let command = format!("explain {engine} --input {input}");
        assert!(
            readme.contains(&command),
            "the README does not show `{command}`"
        );
        let output = explain(engine, &input, None);
        assert!(
            output.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            json.get("decision").is_some() || json.get("containers").is_some(),
            "{command}: {json}"
        );
    }
}

#[test]
fn a_refused_document_exits_non_zero_and_names_the_field() {
    let bad = br#"{"params": {"linear": {"min": 3, "max": 1, "coresPerReplica": 1}}, "nodes": []}"#;
    let output = explain("cpa", "-", Some(bad));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("params.linear.max"), "{stderr}");
    assert!(stderr.contains("standard input"), "{stderr}");
    let output = explain("hpa", "-", Some(b"{\"spec\": 5}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid hpa input at spec"), "{stderr}");
}
