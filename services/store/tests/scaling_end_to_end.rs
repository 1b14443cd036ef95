//! Samples remote-written to the store reach both scaling APIs, and the HPA's formula for
//! External metrics turns their answers into the expected replica counts.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;

use support::{metric_value, one_sample, remote_write};
use tachyscale_proto::externalscaler::external_scaler_client::ExternalScalerClient;
use tachyscale_proto::externalscaler::{GetMetricsRequest, ScaledObjectRef};
use tachyscale_proto::prometheus::{TimeSeries, WriteRequest};
use tachyscale_store::StoreSettings;
use tachyscale_testkit::{http, StoreHandle};

const TOLERANCE: f64 = 0.1;

/// kube-controller-manager's External `Value` target: ratio against the ready pods.
fn hpa_value_replicas(usage_milli: i64, target_milli: i64, current: i64) -> i64 {
    let ratio = usage_milli as f64 / target_milli as f64;
    if (1.0 - TOLERANCE..=1.0 + TOLERANCE).contains(&ratio) {
        current
    } else {
        (ratio * current as f64).ceil() as i64
    }
}

/// kube-controller-manager's External `AverageValue` target (what KEDA registers).
fn hpa_average_value_replicas(usage_milli: i64, target_milli: i64, current: i64) -> i64 {
    let ratio = usage_milli as f64 / (target_milli as f64 * current as f64);
    if (1.0 - TOLERANCE..=1.0 + TOLERANCE).contains(&ratio) {
        current
    } else {
        (usage_milli as f64 / target_milli as f64).ceil() as i64
    }
}

/// `ceil(q × 1000)`, as the HPA reads a Quantity.
fn milli(quantity: &str) -> i64 {
    tachyscale_kubeformat::quantity::parse(quantity)
        .unwrap()
        .milli() as i64
}

fn depth(queue: &str, value: f64, ts_ms: i64) -> TimeSeries {
    one_sample(
        "queue_messages",
        &[("namespace", "shop"), ("queue", queue)],
        value,
        ts_ms,
    )
}

async fn write(store: &StoreHandle, orders: f64, billing: f64) {
    let now = tachyscale_store::api::now_ms();
    let request = WriteRequest {
        timeseries: vec![depth("orders", orders, now), depth("billing", billing, now)],
    };
    let (status, body) = remote_write(&store.url("/api/v1/write"), &request).await;
    assert_eq!(status, 204, "{body}");
}

async fn external_total_milli(store: &StoreHandle, selector: &str) -> i64 {
    let url = store.url(&format!(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/queue_depth?labelSelector={selector}"
    ));
    let body: serde_json::Value = http().get(url).send().await.unwrap().json().await.unwrap();
    // The HPA sums every item.
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| milli(i["value"].as_str().unwrap()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_written_samples_drive_keda_and_hpa_replicas() {
    let settings = StoreSettings::from_yaml(
        r#"
external_metrics:
  insecure_http_on_loopback: true
  rules:
    - name: queue_depth
      query: 'sum by (queue) (queue_messages{<<.LabelMatchers>>})'
"#,
    )
    .unwrap();
    let store = StoreHandle::start_with(settings).await;
    let mut keda = ExternalScalerClient::connect(format!("http://{}", store.grpc_addr.unwrap()))
        .await
        .unwrap();
    let object = ScaledObjectRef {
        name: "worker".into(),
        namespace: "shop".into(),
        scaler_metadata: HashMap::from([
            ("metric".to_string(), "queue_messages".to_string()),
            ("namespaced".to_string(), "true".to_string()),
            ("targetValue".to_string(), "100".to_string()),
            ("activationThreshold".to_string(), "0.5".to_string()),
        ]),
    };
    let spec = keda
        .get_metric_spec(object.clone())
        .await
        .unwrap()
        .into_inner();
    let target = spec.metric_specs[0].target_size_float;
    assert_eq!(target, 100.0);
    let metric_name = spec.metric_specs[0].metric_name.clone();
    assert_eq!(metric_name, "sum-queue_messages");

    // (orders, billing, current replicas) → (replicas via KEDA's AverageValue target of
    // 100, replicas via the external metrics API for queue=billing with a Value target of
    // 500 over 4 pods), worked out by hand from the formulas below.
    let steps = [
        (730.0, 270.5, 3, 11, 3),
        (730.0, 270.5, 11, 11, 3),
        (60.0, 35.0, 11, 1, 1),
        (0.0, 0.0, 1, 0, 0),
    ];
    for (orders, billing, current, want_keda, want_external) in steps {
        write(&store, orders, billing).await;
        let values = keda
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(object.clone()),
                metric_name: metric_name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let value = values.metric_values[0].metric_value_float;
        assert_eq!(value, orders + billing);
        let active = keda.is_active(object.clone()).await.unwrap().into_inner();
        assert_eq!(active.result, value > 0.5);
        // KEDA hands the value to the HPA as a Quantity in milli-units.
        let usage = (value * 1000.0).ceil() as i64;
        let keda_replicas = if active.result {
            hpa_average_value_replicas(usage, (target * 1000.0) as i64, current)
        } else {
            0 // KEDA deactivates the target; the HPA is not consulted.
        };
        assert_eq!(keda_replicas, want_keda, "KEDA path at {orders}+{billing}");

        let total = external_total_milli(&store, "").await;
        assert_eq!(total, ((orders + billing) * 1000.0) as i64);
        let billing_only = external_total_milli(&store, "queue%3Dbilling").await;
        assert_eq!(billing_only, (billing * 1000.0) as i64);
        // An HPA with a Value target of 500 over 4 ready pods.
        assert_eq!(
            hpa_value_replicas(billing_only, 500_000, 4),
            want_external,
            "external metrics path at billing={billing}"
        );
    }
    store.stop().await;
}

#[test]
fn the_hpa_formulas_match_the_reference_vectors() {
    // E2, E3 and EP1–EP3 of shared/reference/hpa-algorithm.md.
    assert_eq!(hpa_value_replicas(8_600_000, 14_334_000, 5), 3);
    assert_eq!(hpa_value_replicas(8_600_000, 8_888_000, 3), 3);
    assert_eq!(hpa_average_value_replicas(8_600_000, 2_150_000, 3), 4);
    assert_eq!(hpa_average_value_replicas(8_600_000, 2_867_000, 5), 3);
    assert_eq!(hpa_average_value_replicas(8_600_000, 2_900_000, 3), 3);
}

#[tokio::test]
async fn an_unusable_certificate_stops_the_start_naming_the_file() {
    let settings = StoreSettings::from_yaml(
        "keda:\n  tls:\n    cert_file: /nonexistent/tls.crt\n    key_file: /nonexistent/tls.key\n",
    )
    .unwrap();
    let store = tachyscale_store::Store::new(settings, prometheus::Registry::new()).unwrap();
    let listeners = tachyscale_store::server::Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        https: None,
    };
    let error = store
        .serve_all(listeners, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap_err();
    let chain = format!("{error:#}");
    assert!(chain.contains("/nonexistent/tls.crt"), "{chain}");
}

/// A sender whose clock runs ahead of the store's writes samples the store cannot see yet;
/// they must show up when time reaches them, not after the cache or the push tick expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_from_a_clock_ahead_of_ours_show_when_their_time_comes() {
    let settings =
        StoreSettings::from_yaml("keda: {result_max_age: 60s, stream_tick: 60s}").unwrap();
    let store = StoreHandle::start_with(settings).await;
    let mut keda = ExternalScalerClient::connect(format!("http://{}", store.grpc_addr.unwrap()))
        .await
        .unwrap();
    let object = ScaledObjectRef {
        name: "w".into(),
        namespace: "shop".into(),
        scaler_metadata: HashMap::from([
            ("query".to_string(), "max(skewed)".to_string()),
            ("targetValue".to_string(), "1".to_string()),
            ("activationThreshold".to_string(), "3".to_string()),
        ]),
    };
    let write_at = |value: f64, ts_ms: i64| {
        let request = WriteRequest {
            timeseries: vec![one_sample("skewed", &[], value, ts_ms)],
        };
        let url = store.url("/api/v1/write");
        async move {
            let (status, body) = remote_write(&url, &request).await;
            assert_eq!(status, 204, "{body}");
        }
    };
    let get = |keda: &mut ExternalScalerClient<tonic::transport::Channel>| {
        let request = GetMetricsRequest {
            scaled_object_ref: Some(object.clone()),
            metric_name: "m".into(),
        };
        let mut keda = keda.clone();
        async move {
            keda.get_metrics(request)
                .await
                .unwrap()
                .into_inner()
                .metric_values[0]
                .metric_value_float
        }
    };
    write_at(1.0, tachyscale_store::api::now_ms()).await;
    assert_eq!(get(&mut keda).await, 1.0);
    let mut stream = keda
        .stream_is_active(object.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(
        !futures_util::StreamExt::next(&mut stream)
            .await
            .unwrap()
            .unwrap()
            .result
    );

    let ahead_ms = 400;
    write_at(5.0, tachyscale_store::api::now_ms() + ahead_ms).await;
    tokio::time::sleep(std::time::Duration::from_millis(ahead_ms as u64 + 200)).await;
    assert_eq!(
        get(&mut keda).await,
        5.0,
        "the cached answer outlived the sample's time"
    );
    let pushed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures_util::StreamExt::next(&mut stream),
    )
    .await
    .expect("no push although the sample became visible (the push tick is 60 s)")
    .unwrap()
    .unwrap();
    assert!(pushed.result);
    drop(stream);
    store.stop().await;
}

/// 200 ScaledObjects with the same query cost one evaluation per new data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_queries_are_evaluated_once_per_new_data() {
    let settings = StoreSettings::from_yaml("keda: {result_max_age: 60s}").unwrap();
    let store = StoreHandle::start_with(settings).await;
    let mut keda = ExternalScalerClient::connect(format!("http://{}", store.grpc_addr.unwrap()))
        .await
        .unwrap();
    let objects: Vec<ScaledObjectRef> = (0..200)
        .map(|i| ScaledObjectRef {
            name: format!("worker-{i}"),
            namespace: "shop".into(),
            scaler_metadata: HashMap::from([
                ("query".to_string(), "sum(queue_messages)".to_string()),
                ("targetValue".to_string(), format!("{}", i + 1)),
            ]),
        })
        .collect();
    const MISSES: &str = "tachyscale_store_result_cache_lookups_total{outcome=\"miss\"}";
    for (round, (orders, billing)) in [(1.0, 2.0), (10.0, 20.0)].into_iter().enumerate() {
        write(&store, orders, billing).await;
        for object in &objects {
            let values = keda
                .get_metrics(GetMetricsRequest {
                    scaled_object_ref: Some(object.clone()),
                    metric_name: "m".into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(values.metric_values[0].metric_value_float, orders + billing);
            keda.is_active(object.clone()).await.unwrap();
        }
        assert_eq!(
            metric_value(&store, MISSES).await,
            (round + 1) as f64,
            "400 RPCs after write {round}"
        );
    }
    store.stop().await;
}
