//! Acceptance: the scraper against real targets and a real Prometheus 2.42.
//!
//! - It scrapes a real `prometheus-node-exporter` and a real Prometheus' own `/metrics`
//!   into our store while that Prometheus scrapes the same two targets; the same instant
//!   queries on both must give the same series sets, and equal values for gauges that do
//!   not change while the test runs.
//! - It remote-writes into a real Prometheus (remote-write receiver) and the data is
//!   queryable there.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::*;

/// Collectors whose series set does not change between scrapes on a quiet machine.
const COLLECTORS: &[&str] = &["cpu", "meminfo", "loadavg", "uname", "stat", "time"];

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Label sets of an instant query's result, as sorted `name=value` strings.
async fn series_set(base: &str, promql: &str, time: f64) -> BTreeSet<String> {
    instant(base, promql, Some(time))
        .await
        .iter()
        .map(|s| {
            let metric = s["metric"].as_object().unwrap();
            let mut pairs: Vec<String> = metric
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            pairs.sort();
            pairs.join(",")
        })
        .collect()
}

async fn values(base: &str, promql: &str, time: f64) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = instant(base, promql, Some(time))
        .await
        .iter()
        .map(|s| {
            (
                s["metric"].to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_and_the_scraper_agree_on_real_targets() {
    let node = NodeExporterProcess::start(COLLECTORS).await;
    let prom_port = free_port();
    let jobs = format!(
        r#"
  - job_name: node
    static_configs: [{{targets: ["{node}"]}}]
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{prom_port}"]}}]
"#,
        node = node.addr()
    );
    let prometheus = PrometheusProcess::start_on_port(
        &format!("global: {{scrape_interval: 1s, scrape_timeout: 800ms}}\nscrape_configs:{jobs}"),
        &[],
        prom_port,
    )
    .await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start(&format!(
        r#"
scrape_configs:{jobs}
remote_write:
  destinations:
    - name: store
      url: {write}
"#,
        write = store.url("/api/v1/write")
    ))
    .await;
    let ours = format!("http://{}", store.addr);
    let theirs = prometheus.url("");

    // Warm-up: the queries below add handler series to Prometheus' own /metrics; run them
    // once, then let both scrapers see the settled exposition for a few intervals.
    for base in [&ours, &theirs] {
        wait_until(
            "both have scraped both jobs",
            Duration::from_secs(30),
            || async { instant(base, "up == 1", None).await.len() == 2 },
        )
        .await;
        series_set(base, r#"{job=~"node|prometheus"}"#, now_seconds()).await;
        values(base, "node_memory_MemTotal_bytes", now_seconds()).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    let at = now_seconds() - 1.5;
    for job in ["node", "prometheus"] {
        let selector = format!(r#"{{job="{job}"}}"#);
        let a = series_set(&ours, &selector, at).await;
        let b = series_set(&theirs, &selector, at).await;
        assert!(a.len() > 50, "{job}: only {} series in our store", a.len());
        let only_ours: Vec<_> = a.difference(&b).collect();
        let only_theirs: Vec<_> = b.difference(&a).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "{job}: series sets differ\nonly in our store: {only_ours:#?}\nonly in Prometheus: {only_theirs:#?}"
        );
    }
    for gauge in [
        "node_memory_MemTotal_bytes",
        "node_uname_info",
        "prometheus_build_info",
        "prometheus_config_last_reload_successful",
        r#"go_info{job="node"}"#,
        "up",
        "scrape_samples_scraped{job=\"node\"}",
    ] {
        let a = values(&ours, gauge, at).await;
        let b = values(&theirs, gauge, at).await;
        assert!(!a.is_empty(), "{gauge}: no data in our store");
        assert_eq!(a, b, "{gauge}: values differ");
    }
    scraper.stop().await;
    store.stop().await;
    drop(prometheus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scraper_remote_writes_into_real_prometheus() {
    let node = NodeExporterProcess::start(COLLECTORS).await;
    let prometheus = PrometheusProcess::start(
        "global: {scrape_interval: 1m}\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let scraper = ScraperHandle::start(&format!(
        r#"
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["{node}"]}}]
remote_write:
  destinations:
    - name: prometheus
      url: {write}
"#,
        node = node.addr(),
        write = prometheus.url("/api/v1/write")
    ))
    .await;
    let base = prometheus.url("");
    wait_until(
        "samples queryable in Prometheus",
        Duration::from_secs(30),
        || async { single_value(&base, r#"up{job="node"}"#).await == Some(1.0) },
    )
    .await;
    let count = single_value(&base, r#"count({job="node"})"#).await.unwrap();
    assert!(
        count > 50.0,
        "only {count} series arrived: {}",
        prometheus.log()
    );
    let mem = single_value(&base, "node_memory_MemTotal_bytes")
        .await
        .unwrap();
    assert!(mem > 0.0);
    let range = || async {
        api_get(
            &base,
            "/api/v1/query",
            &[("query", r#"up{job="node"}[10s]"#.to_string())],
        )
        .await
    };
    wait_until(
        "three scrapes in Prometheus",
        Duration::from_secs(30),
        || async {
            range().await["data"]["result"][0]["values"]
                .as_array()
                .is_some_and(|v| v.len() >= 3)
        },
    )
    .await;
    // Timestamps are the aligned schedule: consecutive samples a whole number of seconds
    // apart (exactly one unless the loaded machine made the loop skip an instant).
    let body = range().await;
    let points = body["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .clone();
    assert!(points.len() >= 2, "{body}");
    for pair in points.windows(2) {
        let gap = pair[1][0].as_f64().unwrap() - pair[0][0].as_f64().unwrap();
        assert!(
            gap >= 1.0 && (gap - gap.round()).abs() < 1e-9,
            "scrape timestamps not aligned: {points:?}"
        );
    }
    scraper.stop().await;
}
