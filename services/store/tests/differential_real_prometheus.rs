//! Differential test: the same remote-write stream goes to the store and to a real
//! Prometheus 2.42 (remote-write receiver); every query of `testdata/differential.promql`
//! must get the same answer from both HTTP APIs.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod support;

use support::{dataset, prom_json, query, remote_write, PrometheusProcess, StoreHandle};
use tachyscale_store::StoreSettings;

/// A query of the corpus.
#[derive(Debug)]
enum Case {
    Instant {
        at_s: i64,
        query: String,
    },
    Range {
        start_s: i64,
        end_s: i64,
        step_s: i64,
        query: String,
    },
}

fn load_corpus() -> Vec<(usize, Case)> {
    let text = include_str!("testdata/differential.promql");
    let mut cases = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, query) = line.split_once('|').expect("corpus line needs '|'");
        let fields: Vec<i64> = head
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().expect("corpus times are integers"))
            .collect();
        let query = query.trim().to_string();
        let case = match (head.split_whitespace().next(), fields.as_slice()) {
            (Some("instant"), [at_s]) => Case::Instant { at_s: *at_s, query },
            (Some("range"), [start_s, end_s, step_s]) => Case::Range {
                start_s: *start_s,
                end_s: *end_s,
                step_s: *step_s,
                query,
            },
            _ => panic!("bad corpus line {}: {line}", number + 1),
        };
        cases.push((number + 1, case));
    }
    cases
}

fn seconds(base_ms: i64, offset_s: i64) -> String {
    format!("{:.3}", (base_ms + offset_s * 1000) as f64 / 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_matches_real_prometheus() {
    let cases = load_corpus();
    assert!(
        cases.len() >= 60,
        "the corpus must hold at least 60 queries"
    );

    let prometheus = PrometheusProcess::start(
        "global:\n  scrape_interval: 1h\n",
        &[
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=1d",
        ],
    )
    .await;
    let store = StoreHandle::start(StoreSettings::default()).await;

    // Recent timestamps keep every sample inside Prometheus' appendable head window.
    let now_ms = tachyscale_store::api::now_ms();
    let base_ms = (now_ms - dataset::SPAN_MS - 10 * 60_000) / 1000 * 1000;
    for request in dataset::requests(base_ms) {
        let (code, body) = remote_write(&prometheus.url("/api/v1/write"), &request).await;
        assert!(
            (200..300).contains(&code),
            "prometheus refused a write: {code} {body}\n{}",
            prometheus.log()
        );
        let (code, body) = remote_write(&store.url("/api/v1/write"), &request).await;
        assert_eq!(code, 204, "store refused a write: {body}");
    }

    let mut failures = Vec::new();
    let (mut non_empty, mut errors) = (0, 0);
    for (line, case) in &cases {
        let (path, params, query_text) = match case {
            Case::Instant { at_s, query } => (
                "/api/v1/query",
                vec![("query", query.clone()), ("time", seconds(base_ms, *at_s))],
                query,
            ),
            Case::Range {
                start_s,
                end_s,
                step_s,
                query,
            } => (
                "/api/v1/query_range",
                vec![
                    ("query", query.clone()),
                    ("start", seconds(base_ms, *start_s)),
                    ("end", seconds(base_ms, *end_s)),
                    ("step", step_s.to_string()),
                ],
                query,
            ),
        };
        let ours = query(&format!("http://{}", store.addr), path, &params).await;
        let theirs = query(&format!("http://{}", prometheus.addr()), path, &params).await;
        if let Err(diff) = prom_json::compare(&ours, &theirs) {
            failures.push(format!("line {line}: {query_text}\n    {diff}"));
        }
        match theirs["status"].as_str() {
            Some("error") => errors += 1,
            _ if prom_json::has_data(&theirs) => non_empty += 1,
            _ => {}
        }
    }
    println!(
        "{} queries: {non_empty} with data, {errors} errors on both sides",
        cases.len()
    );
    // A corpus that compares empty answers proves nothing: almost every case must have data.
    assert!(
        non_empty + errors + 8 >= cases.len(),
        "only {non_empty} of {} queries returned data",
        cases.len()
    );
    store.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from Prometheus:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn comparison_detects_every_kind_of_difference() {
    let vector = |labels: serde_json::Value, ts: f64, v: &str| serde_json::json!({"status":"success","data":{"resultType":"vector","result":[{"metric":labels,"value":[ts, v]}]}});
    let a = vector(serde_json::json!({"a":"1"}), 1.0, "1");
    assert!(prom_json::compare(&a, &a).is_ok());
    assert!(prom_json::compare(
        &a,
        &vector(serde_json::json!({"a":"1"}), 1.0, "1.0000000000001")
    )
    .is_ok());
    assert!(prom_json::compare(&a, &vector(serde_json::json!({"a":"1"}), 1.0, "1.00001")).is_err());
    assert!(prom_json::compare(&a, &vector(serde_json::json!({"a":"2"}), 1.0, "1")).is_err());
    assert!(prom_json::compare(&a, &vector(serde_json::json!({"a":"1"}), 2.0, "1")).is_err());
    assert!(prom_json::compare(&a, &vector(serde_json::json!({"a":"1"}), 1.0, "NaN")).is_err());
    let nan = vector(serde_json::json!({"a":"1"}), 1.0, "NaN");
    assert!(prom_json::compare(&nan, &nan).is_ok());
    let error = serde_json::json!({"status":"error","errorType":"execution","error":"x"});
    assert!(prom_json::compare(&a, &error).is_err());
}
