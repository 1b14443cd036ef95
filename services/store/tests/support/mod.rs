//! Shared pieces of the store's integration tests: an in-process store on a free loopback
//! port, remote-write and query clients; real processes and polling come from
//! `tachyscale-testkit`.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

pub mod dataset;
pub mod prom_json;

use std::net::SocketAddr;
use std::time::Duration;

pub use tachyscale_testkit::{free_port, http, wait_until, PrometheusProcess, StoreHandle};

use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};

/// One sample of the series `name{labels}`, labels sorted as remote-write requires.
pub fn one_sample(name: &str, labels: &[(&str, &str)], value: f64, ts_ms: i64) -> TimeSeries {
    let mut all: Vec<(&str, &str)> = vec![("__name__", name)];
    all.extend_from_slice(labels);
    all.sort();
    TimeSeries {
        labels: all
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect(),
        samples: vec![Sample {
            value,
            timestamp: ts_ms,
        }],
    }
}

/// Sends a remote-write request; returns the status and body text.
pub async fn remote_write(url: &str, request: &WriteRequest) -> (u16, String) {
    post_write_body(url, tachyscale_proto::remote_write::encode(request)).await
}

pub async fn post_write_body(url: &str, body: Vec<u8>) -> (u16, String) {
    let response = http()
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// GETs a Prometheus-compatible API endpoint; returns the parsed JSON body.
pub async fn query(base: &str, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    tachyscale_testkit::api_get(base, path, params).await
}

/// The value of the first `/metrics` line starting with `line_prefix` (0 when absent).
pub async fn metric_value(store: &StoreHandle, line_prefix: &str) -> f64 {
    let text = http()
        .get(store.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    tachyscale_testkit::exposition_value(&text, line_prefix).unwrap_or(0.0)
}
