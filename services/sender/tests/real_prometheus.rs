//! The sender against a real Prometheus 2.42 remote-write receiver
//! (`--web.enable-remote-write-receiver`): what we send must be accepted and queryable as
//! sent. The test fails, rather than skips, when the binary is missing (`$PROMETHEUS_BIN`
//! or `prometheus` on PATH; Debian's package provides 2.42).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;
use tachyscale_testkit::PrometheusProcess;

/// The instant-query result as `(instance label, value)` pairs, sorted.
async fn query(prometheus: &PrometheusProcess, promql: &str) -> Vec<(String, String)> {
    let body = tachyscale_testkit::api_get(
        &prometheus.url(""),
        "/api/v1/query",
        &[("query", promql.to_string())],
    )
    .await;
    let mut out: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| {
                    (
                        r["metric"]["instance"].as_str().unwrap_or("").to_string(),
                        r["value"][1].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_accepts_and_serves_what_we_send() {
    // No scrape jobs: the only data is what the sender writes.
    let prometheus = PrometheusProcess::start(
        "global:\n  scrape_interval: 15s\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let sender = Running::start(settings(vec![destination(
        "prometheus",
        &prometheus.url("/api/v1/write"),
        quick_queue(),
    )]));
    let all = many_series("tachyscale_sender_e2e", 3);
    let t0 = (now_ms() / 1000) * 1000 - 3000;
    for i in 0..3 {
        sender
            .handle
            .enqueue(&scrape(&all, t0 + i * 1000, 40.0 + i as f64));
    }
    wait_until("prometheus acknowledged", Duration::from_secs(30), || {
        sender.sent("prometheus") == 9
    })
    .await;
    assert_eq!(
        sender.failed("prometheus", "http_4xx"),
        0,
        "{}",
        prometheus.log()
    );

    let expected_last: Vec<(String, String)> =
        (0..3).map(|i| (format!("i{i}"), "42".into())).collect();
    let expected_count: Vec<(String, String)> =
        (0..3).map(|i| (format!("i{i}"), "3".into())).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last = query(&prometheus, "tachyscale_sender_e2e").await;
        let count = query(&prometheus, "count_over_time(tachyscale_sender_e2e[1m])").await;
        if last == expected_last && count == expected_count {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "prometheus shows {last:?} / {count:?}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sender.requests("prometheus", "2xx") > 0);
    sender.stop().await;
}
