//! The SQS and CloudWatch triggers against a real AWS API endpoint: moto server on
//! loopback, started here, reached through the AWS SDK with the standard configuration
//! chain (credentials and region from the environment) and an overridden endpoint.
//!
//! - SQS: visible, in-flight (received, not yet deleted) and delayed messages are counted
//!   by KEDA's rules for each `scaleOnInFlight` / `scaleOnDelayed` combination;
//! - CloudWatch: the newest datapoint of the window wins, a metric without datapoints
//!   reads `minMetricValue`, and with `ignoreNullValues: "false"` it is an error.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use tachyscale_scaler_service::fetch::{AwsClients, AwsSettings, Sources};
use tachyscale_scaler_service::triggers::{Trigger, TriggerSpec};
use tachyscale_testkit::MotoProcess;

/// moto accepts any credentials; the SDK's chain reads them from the environment, as it
/// would on a developer machine. Each test runs in its own process (nextest), so setting
/// them before the first client exists is safe.
fn aws_environment() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::remove_var("AWS_PROFILE");
}

async fn sources(moto: &MotoProcess) -> Sources {
    let settings = AwsSettings {
        endpoint_url: Some(moto.endpoint()),
        ..AwsSettings::default()
    };
    Sources {
        aws: Some(AwsClients::load(&settings).await),
        query: None,
        http: reqwest::Client::new(),
        timeout: Duration::from_secs(10),
    }
}

fn trigger(kind: &str, metadata: &[(&str, &str)]) -> Trigger {
    let spec = TriggerSpec {
        kind: kind.to_owned(),
        name: None,
        metric_type: None,
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    };
    Trigger::parse(&spec, 0).unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn sdk_config(moto: &MotoProcess) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .load()
        .await
}

#[tokio::test]
async fn sqs_depth_counts_visible_in_flight_and_delayed_messages_by_keda_rules() {
    aws_environment();
    let moto = MotoProcess::start().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);
    let queue_url = sqs
        .create_queue()
        .queue_name("jobs")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for i in 0..7 {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(format!("visible {i}"))
            .send()
            .await
            .unwrap();
    }
    for i in 0..4 {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(format!("delayed {i}"))
            .delay_seconds(600)
            .send()
            .await
            .unwrap();
    }
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(3)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 3);

    let sources = sources(&moto).await;
    let read = |metadata: &[(&str, &str)]| {
        let trigger = trigger("aws-sqs-queue", metadata);
        let sources = &sources;
        async move { sources.read(&trigger, now_ms()).await.unwrap() }
    };
    // 4 visible + 3 in flight; the 4 delayed ones only with scaleOnDelayed.
    let default = read(&[("queueURL", &queue_url), ("queueLength", "2")]).await;
    assert_eq!(
        (default.value, default.value_milli, default.active),
        (7.0, 7000, true)
    );
    let with_delayed = read(&[("queueURL", &queue_url), ("scaleOnDelayed", "true")]).await;
    assert_eq!(with_delayed.value, 11.0);
    let visible_only = read(&[("queueURL", &queue_url), ("scaleOnInFlight", "false")]).await;
    assert_eq!(visible_only.value, 4.0);
    let not_active = read(&[
        ("queueURL", &queue_url),
        ("scaleOnInFlight", "false"),
        ("activationQueueLength", "4"),
    ])
    .await;
    assert!(!not_active.active, "activation is strict: 4 > 4 is false");

    let missing = trigger(
        "aws-sqs-queue",
        &[(
            "queueURL",
            &format!("{}/000000000000/absent", moto.endpoint()),
        )],
    );
    let err = sources.read(&missing, now_ms()).await.unwrap_err();
    assert_eq!(err.reason(), "aws", "{err}");
}

#[tokio::test]
async fn cloudwatch_reads_the_newest_datapoint_or_the_minimum_value() {
    aws_environment();
    let moto = MotoProcess::start().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config(&moto).await);
    let now = now_ms();
    // Two datapoints in different minutes of the window: the newer one must win.
    let minute_ms = 60_000;
    let end = now - now.rem_euclid(minute_ms);
    for (age_minutes, value) in [(3, 40.0), (1, 12.0)] {
        cloudwatch
            .put_metric_data()
            .namespace("Shop/Orders")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("Backlog")
                    .dimensions(Dimension::builder().name("Queue").value("orders").build())
                    .timestamp(DateTime::from_millis(end - age_minutes * minute_ms + 5_000))
                    .value(value)
                    .unit(StandardUnit::Count)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let sources = sources(&moto).await;
    let metadata = |metric: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![
            ("namespace", "Shop/Orders"),
            ("metricName", metric),
            ("dimensionName", "Queue"),
            ("dimensionValue", "orders"),
            ("targetMetricValue", "4"),
            ("minMetricValue", "1.5"),
            ("metricStatPeriod", "60"),
            ("metricCollectionTime", "600"),
            ("metricStat", "Maximum"),
        ];
        pairs.extend_from_slice(extra);
        trigger("aws-cloudwatch", &pairs)
    };
    let backlog = sources.read(&metadata("Backlog", &[]), now).await.unwrap();
    assert_eq!(
        (backlog.value, backlog.value_milli, backlog.active),
        (12.0, 12_000, true)
    );

    let empty = sources.read(&metadata("Nothing", &[]), now).await.unwrap();
    assert_eq!(empty.value, 1.5, "no datapoint reads minMetricValue");
    let strict = metadata("Nothing", &[("ignoreNullValues", "false")]);
    let err = sources.read(&strict, now).await.unwrap_err();
    assert_eq!(err.reason(), "data", "{err}");
}

/// A policy on workload `name` with one trigger; scale-up is not rate-limited so the
/// replica count shows the trigger's value directly.
fn trigger_policy(name: &str, trigger: &str) -> String {
    format!(
        r#"
  - name: {name}
    namespace: shop
    hpa:
      scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
      minReplicas: 1
      maxReplicas: 50
      behavior:
        scaleUp:
          policies: [{{type: Pods, value: 100, periodSeconds: 1}}]
    triggers:
{trigger}"#
    )
}

async fn replicas_after_one_tick(rig: &mut support::Rig, names: &[&str]) -> Vec<i32> {
    let mut replicas = Vec::new();
    for name in names {
        rig.cluster
            .add_running_workload(support::workload(name), support::template(name, 100), 1);
    }
    let policies: Vec<_> = (0..names.len()).map(|_| rig.policy(0)).collect();
    for (name, policy) in names.iter().zip(policies) {
        let mut runner = tachyscale_scaler_service::hpa_runner::HpaRunner::new(policy);
        runner.tick(&rig.ctx).await;
        replicas.push(rig.cluster.replicas(&support::workload(name)).unwrap());
    }
    replicas
}

#[tokio::test]
async fn queue_depth_drives_the_expected_replicas() {
    aws_environment();
    let moto = MotoProcess::start().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&moto).await);
    let queue_url = sqs
        .create_queue()
        .queue_name("orders")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for (count, delay) in [(7, 0), (4, 600)] {
        for _ in 0..count {
            sqs.send_message()
                .queue_url(&queue_url)
                .message_body("job")
                .delay_seconds(delay)
                .send()
                .await
                .unwrap();
        }
    }
    sqs.receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(3)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    // Now 4 visible, 3 in flight, 4 delayed; 2 messages per replica.
    let trigger = |extra: &str| {
        format!("      - type: aws-sqs-queue\n        metadata: {{queueURL: \"{queue_url}\", queueLength: \"2\"{extra}}}\n")
    };
    let yaml = format!(
        "metrics_source: {{query_url: STORE_URL}}\naws: {{endpoint_url: \"{}\"}}\npolicies:{}{}{}",
        moto.endpoint(),
        trigger_policy("default", &trigger("")),
        trigger_policy("delayed", &trigger(", scaleOnDelayed: \"true\"")),
        trigger_policy("visible", &trigger(", scaleOnInFlight: \"false\"")),
    );
    let mut rig = support::Rig::start(&yaml).await;
    let replicas = replicas_after_one_tick(&mut rig, &["default", "delayed", "visible"]).await;
    // ceil(7 / 2), ceil(11 / 2), ceil(4 / 2).
    assert_eq!(replicas, [4, 6, 2]);
}

#[tokio::test]
async fn cloudwatch_datapoints_drive_the_expected_replicas() {
    aws_environment();
    let moto = MotoProcess::start().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config(&moto).await);
    let now = now_ms();
    let end = now - now.rem_euclid(60_000);
    cloudwatch
        .put_metric_data()
        .namespace("Shop/Orders")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Backlog")
                .dimensions(Dimension::builder().name("Queue").value("orders").build())
                .timestamp(DateTime::from_millis(end - 60_000 + 5_000))
                .value(30.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let trigger = |metric: &str, extra: &str| {
        format!(
            "      - type: aws-cloudwatch\n        metadata: {{namespace: Shop/Orders, metricName: {metric}, dimensionName: Queue, dimensionValue: orders, targetMetricValue: \"4\", minMetricValue: \"9\", metricStat: Maximum, metricStatPeriod: \"60\", metricCollectionTime: \"600\"{extra}}}\n"
        )
    };
    let yaml =
        format!(
        "metrics_source: {{query_url: STORE_URL}}\naws: {{endpoint_url: \"{}\"}}\npolicies:{}{}{}",
        moto.endpoint(),
        trigger_policy("backlog", &trigger("Backlog", "")),
        trigger_policy("nodata", &trigger("Nothing", "")),
        trigger_policy("strict", &trigger("Nothing", ", ignoreNullValues: \"false\"")),
    );
    let mut rig = support::Rig::start(&yaml).await;
    rig.clock.set_ms(now);
    let replicas = replicas_after_one_tick(&mut rig, &["backlog", "nodata", "strict"]).await;
    // ceil(30 / 4); no datapoint reads minMetricValue 9 → ceil(9 / 4); with nulls as
    // errors the metric is invalid and the replicas hold.
    assert_eq!(replicas, [8, 3, 1]);
    let held = rig.ctx.decisions.entries(0, 10, Some("strict"));
    assert_eq!(held.len(), 1);
    assert!(
        held[0].reason.contains("empty metric data"),
        "{}",
        held[0].reason
    );
}
