//! `StreamIsActive` at scale: thousands of subscribers over a few connections all see a
//! transition pushed after the remote-write that causes it, and a subscriber that never
//! reads holds up neither ingest nor the others.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use support::{one_sample, remote_write};
use tachyscale_proto::externalscaler::external_scaler_client::ExternalScalerClient;
use tachyscale_proto::externalscaler::ScaledObjectRef;
use tachyscale_proto::prometheus::WriteRequest;
use tachyscale_store::StoreSettings;
use tachyscale_testkit::StoreHandle;
use tonic::transport::Channel;

const SUBSCRIBERS: usize = 3000;
const CONNECTIONS: usize = 4;
/// Distinct thresholds, so the push loop serves several groups of the same query.
const THRESHOLDS: [f64; 3] = [5.0, 50.0, 500.0];

/// Strictly increasing timestamps: writes can come faster than one per millisecond.
static LAST_TS_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

async fn write(store: &StoreHandle, value: f64) {
    let now = tachyscale_store::api::now_ms();
    let ts = LAST_TS_MS
        .fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |last| Some(now.max(last + 1)),
        )
        .map_or(now, |last| now.max(last + 1));
    let request = WriteRequest {
        timeseries: vec![one_sample("backlog", &[], value, ts)],
    };
    let (status, body) = remote_write(&store.url("/api/v1/write"), &request).await;
    assert_eq!(status, 204, "{body}");
}

fn object(i: usize) -> ScaledObjectRef {
    let threshold = THRESHOLDS[i % THRESHOLDS.len()];
    ScaledObjectRef {
        name: format!("worker-{i}"),
        namespace: "shop".into(),
        scaler_metadata: HashMap::from([
            ("query".to_string(), "max(backlog)".to_string()),
            ("targetValue".to_string(), "10".to_string()),
            ("activationThreshold".to_string(), threshold.to_string()),
        ]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_subscribers_see_each_transition_and_a_stuck_one_blocks_nobody() {
    let store = StoreHandle::start_with(StoreSettings::default()).await;
    write(&store, 0.0).await;
    let url = format!("http://{}", store.grpc_addr.unwrap());
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(
            Channel::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let mut streams = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        let mut client = ExternalScalerClient::new(channels[i % CONNECTIONS].clone());
        let mut stream = client
            .stream_is_active(object(i))
            .await
            .unwrap()
            .into_inner();
        let first = stream.next().await.unwrap().unwrap();
        assert!(!first.result, "subscriber {i} starts inactive");
        streams.push(stream);
    }
    // One subscriber on its own connection never reads again.
    let stuck_channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut stuck = ExternalScalerClient::new(stuck_channel)
        .stream_is_active(object(0))
        .await
        .unwrap()
        .into_inner();
    assert!(!stuck.next().await.unwrap().unwrap().result);

    // Everyone but the stuck subscriber reads as messages come, as KEDA does.
    let latest: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (seen, watch) = tokio::sync::watch::channel(false);
            let reader = tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    seen.send_replace(message.result);
                }
            });
            (watch, reader)
        })
        .collect();

    // Transitions for the threshold-5 group while the stuck subscriber reads nothing: every
    // write is acknowledged. (100 rounds: Rust's h2 client, unlike KEDA's Go client, closes
    // a connection holding more than ~130 unread small frames, so the stuck subscriber's
    // own connection is kept under that.)
    for round in 0..100 {
        write(&store, if round % 2 == 0 { 10.0 } else { 0.0 }).await;
    }
    // Then a value crossing every threshold: every subscriber's state becomes `true`.
    write(&store, 1000.0).await;
    for (i, (watch, _)) in latest.iter().enumerate() {
        let mut watch = watch.clone();
        tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|active| *active))
            .await
            .unwrap_or_else(|_| panic!("subscriber {i} never saw the push"))
            .unwrap();
    }

    // The stuck subscriber finds the newest state when it reads at last, without having
    // queued one message per transition.
    let mut seen = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), stuck.next()).await
    {
        seen.push(m.result);
    }
    assert_eq!(seen.last(), Some(&true), "{seen:?}");
    assert!(seen.len() <= 101, "{} messages", seen.len());

    let metrics = store.state.metrics().render(&store.state.head()).unwrap();
    assert!(
        metrics.contains(&format!(
            "tachyscale_store_keda_streams_open{{method=\"StreamIsActive\"}} {}",
            SUBSCRIBERS + 1
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("tachyscale_store_keda_stream_groups 3"),
        "{metrics}"
    );
    for (_, reader) in latest {
        reader.abort();
    }
    drop(stuck);
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_limit_are_refused() {
    let settings = StoreSettings::from_yaml("keda: {max_streams: 2}").unwrap();
    let store = StoreHandle::start_with(settings).await;
    write(&store, 1.0).await;
    let mut client = ExternalScalerClient::connect(format!("http://{}", store.grpc_addr.unwrap()))
        .await
        .unwrap();
    let _a = client.stream_is_active(object(0)).await.unwrap();
    let _b = client.stream_metric_spec(object(1)).await.unwrap();
    let refused = client.stream_is_active(object(2)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(
        refused.message().contains("keda.max_streams"),
        "{refused:?}"
    );
    store.stop().await;
}
