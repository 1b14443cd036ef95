//! Remote-write from tests: one-sample series and a client that posts a `WriteRequest`
//! the way Prometheus does (snappy block, protobuf, version header).

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

/// Posts an already encoded (snappy) remote-write body.
pub async fn post_write_body(url: &str, body: Vec<u8>) -> (u16, String) {
    let response = crate::http()
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
