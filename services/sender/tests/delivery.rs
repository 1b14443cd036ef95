//! The sender against real HTTP receivers on loopback: retries, drops, batching, deadlines,
//! back-pressure and shutdown, checked through what the receiver decoded and the metrics.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use tachyscale_sender::{RawQueueConfig, RawSenderConfig, SenderSettings};

const WAIT: Duration = Duration::from_secs(10);

/// Samples per series, keyed by the series' label string, in the order the receiver
/// accepted them.
fn per_series(accepted: &[(String, i64, f64)]) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (labels, ts, _) in accepted {
        out.entry(labels.clone()).or_default().push(*ts);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_samples_arrive_once_in_order() {
    let receiver = Receiver::start(|n| {
        if n < 2 {
            Reply::StatusBody(500, "storage unavailable")
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let queue = RawQueueConfig {
        max_samples_per_send: 5,
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &receiver.url(), queue)]));
    let all = many_series("up", 4);
    let t0 = now_ms() - 10_000;
    for i in 0..10 {
        sender
            .handle
            .enqueue(&scrape(&all, t0 + i * 1000, i as f64));
    }
    wait_until("all samples sent", WAIT, || sender.sent("a") == 40).await;

    let series = per_series(&receiver.accepted());
    assert_eq!(series.len(), 4);
    let expected: Vec<i64> = (0..10).map(|i| t0 + i * 1000).collect();
    for (labels, timestamps) in &series {
        assert_eq!(timestamps, &expected, "{labels}");
    }
    assert_eq!(sender.retries("a"), 2);
    assert_eq!(sender.requests("a", "5xx"), 2);
    assert_eq!(sender.pending("a"), 0);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_drop_the_batch_without_retrying() {
    let receiver =
        Receiver::start(|_| Reply::StatusBody(400, "out of order sample\ndetails")).await;
    let queue = RawQueueConfig {
        shards: 1,
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &receiver.url(), queue)]));
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 7), now_ms(), 1.0));
    wait_until("batch failed", WAIT, || sender.failed("a", "http_4xx") == 7).await;

    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(sender.retries("a"), 0);
    assert_eq!(sender.sent("a"), 0);
    assert_eq!(sender.requests("a", "4xx"), 1);
    assert_eq!(sender.pending("a"), 0);
    sender.stop().await;
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_is_retried_after_retry_after() {
    let receiver = Receiver::start(|n| {
        if n == 0 {
            Reply::RetryAfter(429, "1")
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let queue = RawQueueConfig {
        shards: 1,
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &receiver.url(), queue)]));
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 3), now_ms(), 1.0));
    wait_until("samples sent after 429", WAIT, || sender.sent("a") == 3).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(sender.retries("a"), 1);
    // A lower bound only: the sender may not retry before Retry-After (1 s) has passed,
    // while the backoff alone would have retried after 10 ms.
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_fails_when_not_retried() {
    let receiver = Receiver::start(|_| Reply::RetryAfter(429, "1")).await;
    let queue = RawQueueConfig {
        shards: 1,
        retry_on_http_429: false,
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &receiver.url(), queue)]));
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 3), now_ms(), 1.0));
    wait_until("batch failed", WAIT, || sender.failed("a", "http_429") == 3).await;
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(sender.retries("a"), 0);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_new_samples_without_blocking_or_touching_other_destinations() {
    let slow = Receiver::start(|_| Reply::Hang).await;
    let healthy = Receiver::start(|_| Reply::Status(204)).await;
    let mut slow_dest = destination(
        "slow",
        &slow.url(),
        RawQueueConfig {
            capacity: 20,
            max_samples_per_send: 10,
            shards: 1,
            ..quick_queue()
        },
    );
    // The hanging request must outlive the test rather than time out and retry.
    slow_dest.timeout = Duration::from_secs(120);
    let sender = Running::start(settings(vec![
        slow_dest,
        destination("healthy", &healthy.url(), quick_queue()),
    ]));

    let all = many_series("up", 10);
    let t0 = now_ms() - 5000;
    let started = Instant::now();
    // 10 samples, then 100 of which 10 fit: the slow budget of 20 is full ...
    sender.handle.enqueue(&scrape(&all[..], t0, 0.0));
    let mut first = scrape(&all, t0 + 1, 0.0);
    for i in 0..9 {
        first.extend(scrape(&all, t0 + 2 + i, 0.0));
    }
    sender.handle.enqueue(&first);
    assert_eq!(sender.dropped("slow", "queue_full"), 90);
    // ... and once a request hangs, every later scrape is dropped there at once.
    wait_until("slow request in flight", WAIT, || {
        slow.requests().len() == 1
    })
    .await;
    for i in 0..20 {
        sender.handle.enqueue(&scrape(&all, t0 + 100 + i, 1.0));
    }
    let enqueue_time = started.elapsed();
    assert!(
        enqueue_time < Duration::from_secs(5),
        "enqueue took {enqueue_time:?}"
    );
    assert_eq!(sender.dropped("slow", "queue_full"), 90 + 200);
    assert_eq!(sender.pending("slow"), 20);

    wait_until("healthy destination got everything", WAIT, || {
        sender.sent("healthy") == 310
    })
    .await;
    assert_eq!(healthy.accepted().len(), 310);
    assert_eq!(sender.dropped("healthy", "queue_full"), 0);

    slow.release();
    wait_until("slow destination delivered its buffer", WAIT, || {
        sender.sent("slow") == 20
    })
    .await;
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_respect_max_samples_per_send_and_carry_the_protocol() {
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    let mut dest = destination(
        "a",
        &receiver.url(),
        RawQueueConfig {
            max_samples_per_send: 10,
            shards: 1,
            batch_send_deadline: Duration::from_secs(3600),
            ..quick_queue()
        },
    );
    dest.headers
        .insert("X-Scope-OrgID".into(), "tenant-1".into());
    let sender = Running::start(settings(vec![dest]));
    let all = many_series("node_load1", 7);
    let t0 = now_ms() - 5000;
    let mut samples = Vec::new();
    for i in 0..5 {
        samples.extend(scrape(&all, t0 + i * 1000, i as f64 + 0.5));
    }
    sender.handle.enqueue(&samples);
    // Three full batches go at once; the last 5 samples wait for the (1 h) deadline.
    wait_until("full batches sent", WAIT, || receiver.requests().len() == 3).await;
    sender.stop().await;

    let requests = receiver.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.samples()).collect();
    assert_eq!(sizes, [10, 10, 10, 5]);
    for recorded in &requests {
        let h = &recorded.headers;
        assert_eq!(h["content-encoding"], "snappy");
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(h["x-scope-orgid"], "tenant-1");
        let agent = h["user-agent"].to_str().unwrap();
        assert!(agent.starts_with("tachyscale/"), "{agent}");
        for ts in &recorded.request.timeseries {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            assert_eq!(names, ["__name__", "instance", "job"]);
            assert_eq!(ts.labels[0].value, "node_load1");
            assert!(ts
                .samples
                .windows(2)
                .all(|w| w[0].timestamp < w[1].timestamp));
        }
    }
    let series = per_series(&receiver.accepted());
    assert_eq!(series.len(), 7);
    let expected: Vec<i64> = (0..5).map(|i| t0 + i * 1000).collect();
    assert!(series.values().all(|ts| *ts == expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_goes_out_after_batch_send_deadline() {
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    let queue = RawQueueConfig {
        batch_send_deadline: Duration::from_millis(100),
        shards: 1,
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &receiver.url(), queue)]));
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 3), now_ms(), 1.0));
    // The sender keeps running: only the deadline can have sent this batch.
    wait_until("partial batch sent", WAIT, || {
        receiver.requests().len() == 1
    })
    .await;
    assert_eq!(receiver.requests()[0].samples(), 3);
    assert_eq!(sender.sent("a"), 3);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_until_the_receiver_appears() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let queue = RawQueueConfig {
        shards: 1,
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &url, queue)]));
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 4), now_ms(), 1.0));
    wait_until("connection errors retried", WAIT, || {
        sender.retries("a") >= 2 && sender.requests("a", "error") >= 2
    })
    .await;
    assert_eq!(sender.sent("a"), 0);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let receiver = Receiver::start_on(listener, |_| Reply::Status(204));
    wait_until("delivered once the receiver is up", WAIT, || {
        sender.sent("a") == 4
    })
    .await;
    assert_eq!(receiver.accepted().len(), 4);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_pending_samples_then_refuses_new_ones() {
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    let queue = RawQueueConfig {
        batch_send_deadline: Duration::from_secs(3600),
        ..quick_queue()
    };
    let sender = Running::start(settings(vec![destination("a", &receiver.url(), queue)]));
    let handle = sender.handle.clone();
    let all = many_series("up", 5);
    handle.enqueue(&scrape(&all, now_ms(), 1.0));
    assert_eq!(receiver.requests().len(), 0);
    let metrics = sender.metrics.clone();
    sender.stop().await;

    assert_eq!(receiver.accepted().len(), 5);
    assert_eq!(metrics.samples_sent.with_label_values(&["a"]).get(), 5);
    let dropped = |reason: &str| {
        metrics
            .samples_dropped
            .with_label_values(&["a", reason])
            .get()
    };
    assert_eq!(dropped("shutdown"), 0);
    handle.enqueue(&scrape(&all, now_ms(), 2.0));
    assert_eq!(dropped("shutdown"), 5);
    assert_eq!(handle.pending("a"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_deadline_bounds_shutdown_against_a_hanging_receiver() {
    let receiver = Receiver::start(|_| Reply::Hang).await;
    let mut dest = destination("a", &receiver.url(), quick_queue());
    dest.timeout = Duration::from_secs(120);
    let settings = SenderSettings::try_from(RawSenderConfig {
        destinations: vec![dest],
        flush_deadline: Duration::from_millis(200),
    })
    .unwrap();
    let sender = Running::start(settings);
    let metrics = sender.metrics.clone();
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 6), now_ms(), 1.0));
    wait_until("request in flight", WAIT, || {
        !receiver.requests().is_empty()
    })
    .await;
    sender.stop().await;
    assert_eq!(
        metrics
            .samples_dropped
            .with_label_values(&["a", "shutdown"])
            .get(),
        6
    );
    assert_eq!(metrics.pending_samples.with_label_values(&["a"]).get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_older_than_max_sample_age_are_dropped_not_sent() {
    const NOW_MS: i64 = 1_700_000_000_000;
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    let queue = RawQueueConfig {
        max_sample_age: Duration::from_secs(60),
        shards: 1,
        ..quick_queue()
    };
    let sender = Running::start_with_clock(
        settings(vec![destination("a", &receiver.url(), queue)]),
        Arc::new(|| NOW_MS),
    );
    let all = many_series("up", 2);
    let mut samples = scrape(&all, NOW_MS - 61_000, 0.0);
    samples.extend(scrape(&all, NOW_MS - 500, 1.0));
    sender.handle.enqueue(&samples);
    wait_until("fresh samples sent", WAIT, || sender.sent("a") == 2).await;

    assert_eq!(sender.dropped("a", "too_old"), 2);
    assert!(receiver
        .accepted()
        .iter()
        .all(|(_, ts, _)| *ts == NOW_MS - 500));
    // Lag is measured against the injected clock: exactly 0.5 s per sample.
    let lag = sender.metrics.lag.with_label_values(&["a"]);
    assert_eq!(lag.get_sample_count(), 2);
    assert!((lag.get_sample_sum() - 1.0).abs() < 1e-9);
    let highest = sender
        .metrics
        .highest_sent_timestamp
        .with_label_values(&["a"])
        .get();
    assert!((highest - (NOW_MS - 500) as f64 / 1000.0).abs() < 1e-6);
    sender.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_configured_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "pa55\n").unwrap();
    let bearer = Receiver::start(|_| Reply::Status(204)).await;
    let basic = Receiver::start(|_| Reply::Status(204)).await;
    let mut bearer_dest = destination("bearer", &bearer.url(), quick_queue());
    bearer_dest.bearer_token_file = Some(token);
    let mut basic_dest = destination("basic", &basic.url(), quick_queue());
    basic_dest.basic_auth = Some(tachyscale_sender::RawBasicAuth {
        username: "user".into(),
        password: None,
        password_file: Some(password),
    });
    let sender = Running::start(settings(vec![bearer_dest, basic_dest]));
    sender
        .handle
        .enqueue(&scrape(&many_series("up", 1), now_ms(), 1.0));
    wait_until("both sent", WAIT, || {
        sender.sent("bearer") == 1 && sender.sent("basic") == 1
    })
    .await;
    assert_eq!(
        bearer.requests()[0].headers["authorization"],
        "Bearer s3cret-token"
    );
    // base64("user:pa55")
    assert_eq!(
        basic.requests()[0].headers["authorization"],
        "Basic dXNlcjpwYTU1"
    );
    sender.stop().await;
}
