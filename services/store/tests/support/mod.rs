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

pub use tachyscale_testkit::remote_write::{one_sample, post_write_body, remote_write};

/// GETs a Prometheus-compatible API endpoint; returns the parsed JSON body.
pub async fn query(base: &str, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    tachyscale_testkit::api_get(base, path, params).await
}

/// The value of the first `/metrics` line starting with `line_prefix` (0 when absent).
pub async fn metric_value(store: &StoreHandle, line_prefix: &str) -> f64 {
    let text = tachyscale_testkit::get_text(&store.url("/metrics")).await;
    tachyscale_testkit::exposition_value(&text, line_prefix).unwrap_or(0.0)
}
