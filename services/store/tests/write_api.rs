//! Remote-write receiver over a real socket: every 400 reason, the 413/415/429 limits, and
//! that a partly bad request keeps the samples of its good series.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod support;

use support::{http, metric_value, post_write_body, query, remote_write, StoreHandle};
use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use tachyscale_store::StoreSettings;

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

fn good(pod: &str) -> TimeSeries {
    series(
        &[("__name__", "cpu"), ("pod", pod)],
        &[(1_000, 1.0), (2_000, 2.0)],
    )
}

async fn stored_pods(store: &StoreHandle) -> serde_json::Value {
    query(
        &format!("http://{}", store.addr),
        "/api/v1/label/pod/values",
        &[],
    )
    .await["data"]
        .clone()
}

#[tokio::test]
async fn corrupt_bodies_are_refused_with_the_layer_named() {
    let store = StoreHandle::start(StoreSettings::default()).await;
    let url = store.url("/api/v1/write");

    let (code, body) = post_write_body(&url, b"\xff\xff\xff\xff\xff\x00".to_vec()).await;
    assert_eq!(code, 400);
    assert!(body.contains("snappy"), "{body}");

    let not_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff")
        .unwrap();
    let (code, body) = post_write_body(&url, not_protobuf).await;
    assert_eq!(code, 400);
    assert!(body.contains("protobuf"), "{body}");

    assert_eq!(
        metric_value(
            &store,
            "tachyscale_store_write_errors_total{reason=\"bad_snappy\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric_value(
            &store,
            "tachyscale_store_write_errors_total{reason=\"bad_protobuf\"}"
        )
        .await,
        1.0
    );
    store.stop().await;
}

#[tokio::test]
async fn each_label_rule_is_a_400_with_its_reason_and_good_series_are_kept() {
    let store = StoreHandle::start(StoreSettings::default()).await;
    let url = store.url("/api/v1/write");
    let cases: [(&str, TimeSeries); 8] = [
        (
            "unsorted_labels",
            series(&[("pod", "x"), ("__name__", "cpu")], &[(1_000, 1.0)]),
        ),
        (
            "duplicate_label",
            series(
                &[("__name__", "cpu"), ("pod", "x"), ("pod", "y")],
                &[(1_000, 1.0)],
            ),
        ),
        (
            "empty_label",
            series(&[("__name__", "cpu"), ("pod", "")], &[(1_000, 1.0)]),
        ),
        (
            "empty_label",
            series(&[("", "x"), ("__name__", "cpu")], &[(1_000, 1.0)]),
        ),
        (
            "invalid_metric_name",
            series(&[("__name__", "cpu-usage")], &[(1_000, 1.0)]),
        ),
        (
            "invalid_label_name",
            series(&[("__name__", "cpu"), ("pod.name", "x")], &[(1_000, 1.0)]),
        ),
        (
            "missing_metric_name",
            series(&[("pod", "x")], &[(1_000, 1.0)]),
        ),
        ("no_labels", series(&[], &[(1_000, 1.0)])),
    ];
    for (i, (reason, bad)) in cases.into_iter().enumerate() {
        let pod = format!("good-{i}");
        let request = WriteRequest {
            timeseries: vec![good(&pod), bad, good(&format!("{pod}-b"))],
        };
        let (code, body) = remote_write(&url, &request).await;
        assert_eq!(code, 400, "{reason}: {body}");
        assert!(body.contains(reason), "{reason}: {body}");
        assert!(body.contains("accepted 4 samples"), "{reason}: {body}");
    }
    // All 16 good series of the bad requests were kept.
    assert_eq!(stored_pods(&store).await.as_array().map_or(0, Vec::len), 16);
    assert_eq!(
        metric_value(
            &store,
            "tachyscale_store_samples_rejected_total{reason=\"empty_label\"}"
        )
        .await,
        2.0
    );
    assert_eq!(
        metric_value(&store, "tachyscale_store_samples_ingested_total").await,
        32.0
    );
    store.stop().await;
}

#[tokio::test]
async fn out_of_order_and_duplicate_samples_are_refused_alone() {
    let store = StoreHandle::start(StoreSettings::default()).await;
    let url = store.url("/api/v1/write");
    let first = WriteRequest {
        timeseries: vec![good("a")],
    };
    assert_eq!(remote_write(&url, &first).await.0, 204);
    let again = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "cpu"), ("pod", "a")],
            &[(2_000, 2.0), (1_500, 9.0), (3_000, 3.0)],
        )],
    };
    let (code, body) = remote_write(&url, &again).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("duplicate=1") && body.contains("out_of_order=1"),
        "{body}"
    );
    let r = query(
        &format!("http://{}", store.addr),
        "/api/v1/query",
        &[
            ("query", "count_over_time(cpu[10s])".into()),
            ("time", "3".into()),
        ],
    )
    .await;
    assert_eq!(r["data"]["result"][0]["value"][1], "3", "{r}");
    store.stop().await;
}

#[tokio::test]
async fn size_version_rate_and_series_limits_are_enforced() {
    let mut settings = StoreSettings::default();
    settings.write.max_body_bytes = 2048;
    settings.write.max_decoded_bytes = 4096;
    settings.max_series = 3;
    let store = StoreHandle::start(settings).await;
    let url = store.url("/api/v1/write");

    let (code, _) = post_write_body(&url, vec![0u8; 4096]).await;
    assert_eq!(code, 413);
    // Compresses far below the body limit but decodes above the decoded limit.
    let huge_label = "x".repeat(3000);
    let big = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "cpu"), ("pod", &huge_label)], &[(1, 1.0)]),
            series(
                &[("__name__", "cpu"), ("pod", &huge_label), ("z", "1")],
                &[(1, 1.0)],
            ),
        ],
    };
    let (code, body) = remote_write(&url, &big).await;
    assert_eq!(code, 413, "{body}");

    let response = http()
        .post(&url)
        .header(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .body(tachyscale_proto::remote_write::encode(
            &WriteRequest::default(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);

    let many = WriteRequest {
        timeseries: (0..5).map(|i| good(&format!("p{i}"))).collect(),
    };
    let (code, body) = remote_write(&url, &many).await;
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("series_limit=4"), "{body}");
    assert_eq!(stored_pods(&store).await.as_array().map_or(0, Vec::len), 3);
    store.stop().await;

    let mut settings = StoreSettings::default();
    settings.write.rate = Some(tachyscale_store::config::RateLimit {
        samples_per_second: 1.0,
        burst_samples: 4.0,
    });
    let store = StoreHandle::start(settings).await;
    let url = store.url("/api/v1/write");
    let two = |pod: &str| WriteRequest {
        timeseries: vec![good(pod)],
    };
    assert_eq!(remote_write(&url, &two("a")).await.0, 204);
    assert_eq!(remote_write(&url, &two("b")).await.0, 204);
    let (code, body) = remote_write(&url, &two("c")).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(
        metric_value(
            &store,
            "tachyscale_store_write_errors_total{reason=\"rate_limited\"}"
        )
        .await,
        1.0
    );
    store.stop().await;
}
