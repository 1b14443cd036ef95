//! A real Prometheus 2.42 scrapes itself every second and remote-writes to the store; the
//! store must then answer queries about what it received.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod support;

use std::time::Duration;

use support::{query, wait_until, PrometheusProcess, StoreHandle};
use tachyscale_store::StoreSettings;

fn result_len(response: &serde_json::Value) -> usize {
    response["data"]["result"].as_array().map_or(0, Vec::len)
}

/// Polls an instant query until its number of result series satisfies `accept`.
async fn wait_for_results(base: &str, promql: &str, accept: fn(usize) -> bool) {
    wait_until(
        &format!("{promql} in the store"),
        Duration::from_secs(60),
        || async move {
            let r = query(base, "/api/v1/query", &[("query", promql.to_string())]).await;
            accept(result_len(&r))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_remote_writes_into_the_store() {
    let store = StoreHandle::start(StoreSettings::default()).await;
    let placeholder = support::free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{placeholder}']\n\
         remote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 1s\n",
        store.url("/api/v1/write")
    );
    // Prometheus must scrape its own port, known only once it is chosen: start it on
    // `placeholder`, which free_port() has just released.
    let prometheus = PrometheusProcess::start_on_port(&config, &[], placeholder).await;
    let base = format!("http://{}", store.addr);

    wait_for_results(&base, "up{job=\"prometheus\"}", |n| n == 1).await;
    // A counter Prometheus increments on every scrape must rate above zero in the store.
    wait_for_results(
        &base,
        "rate(prometheus_target_interval_length_seconds_count[10s]) > 0",
        |n| n >= 1,
    )
    .await;

    let labels = query(&base, "/api/v1/label/job/values", &[]).await;
    assert_eq!(labels["data"], serde_json::json!(["prometheus"]));
    let series = query(
        &base,
        "/api/v1/series",
        &[("match[]", "prometheus_build_info".to_string())],
    )
    .await;
    assert_eq!(series["data"][0]["version"], "2.42.0+ds", "{series}");

    let ingested = support::metric_value(&store, "tachyscale_store_samples_ingested_total ").await;
    assert!(
        ingested > 100.0,
        "store counted {ingested} samples\n{}",
        prometheus.log()
    );
    drop(prometheus);
    store.stop().await;
}
