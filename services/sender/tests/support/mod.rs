//! Shared pieces of the sender's integration tests: a scripted remote-write receiver on a
//! free loopback port, sample and settings builders, a running sender, polling.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tachyscale_proto::prometheus::WriteRequest;
use tachyscale_sender::{
    Clock, RawDestinationConfig, RawQueueConfig, RawSenderConfig, Sender, SenderHandle,
    SenderMetrics, SenderSettings, Series, SeriesSample, SystemClock,
};
use tachyscale_tsdb::labels::Labels;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the receiver answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// Status with a response body.
    StatusBody(u16, &'static str),
    /// Status with a `Retry-After` header.
    RetryAfter(u16, &'static str),
    /// No answer until [`Receiver::release`] (or the receiver is dropped), then 204.
    Hang,
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub at: Instant,
    pub headers: HeaderMap,
    pub request: WriteRequest,
    pub reply_status: u16,
}

impl Recorded {
    pub fn samples(&self) -> usize {
        self.request
            .timeseries
            .iter()
            .map(|t| t.samples.len())
            .sum()
    }
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

struct ReceiverState {
    script: Script,
    count: AtomicUsize,
    recorded: Mutex<Vec<Recorded>>,
    release: CancellationToken,
}

/// A remote-write receiver on 127.0.0.1 whose answers follow a script (request index →
/// reply); stopped when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    shutdown: CancellationToken,
}

impl Receiver {
    pub async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, script)
    }

    pub fn start_on(
        listener: TcpListener,
        script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState {
            script: Arc::new(script),
            count: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
            release: CancellationToken::new(),
        });
        let router = Router::new()
            .route("/api/v1/write", post(write))
            .with_state(state.clone());
        let shutdown = CancellationToken::new();
        tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );
        Receiver {
            addr,
            state,
            shutdown,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// `(series labels, timestamp, value)` of every sample in requests answered 2xx, in
    /// arrival order.
    pub fn accepted(&self) -> Vec<(String, i64, f64)> {
        let mut out = Vec::new();
        for recorded in self.requests() {
            if !(200..300).contains(&recorded.reply_status) {
                continue;
            }
            for ts in &recorded.request.timeseries {
                let labels: Vec<String> = ts
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                for s in &ts.samples {
                    out.push((labels.join(","), s.timestamp, s.value));
                }
            }
        }
        out
    }

    /// Lets hanging requests answer.
    pub fn release(&self) {
        self.state.release.cancel();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.state.release.cancel();
        self.shutdown.cancel();
    }
}

async fn write(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let index = state.count.fetch_add(1, Ordering::SeqCst);
    let reply = (state.script)(index);
    let request = tachyscale_proto::remote_write::decode(&body, 64 << 20).unwrap();
    let reply_status = match &reply {
        Reply::Status(code) | Reply::StatusBody(code, _) | Reply::RetryAfter(code, _) => *code,
        Reply::Hang => 204,
    };
    state.recorded.lock().unwrap().push(Recorded {
        at: Instant::now(),
        headers,
        request,
        reply_status,
    });
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::StatusBody(code, body) => (status(code), body).into_response(),
        Reply::RetryAfter(code, seconds) => {
            let mut response = status(code).into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static(seconds));
            response
        }
        Reply::Hang => {
            state.release.cancelled().await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

/// A series with `__name__`, `instance` and `job` labels.
pub fn series(name: &str, instance: &str) -> Arc<Series> {
    Arc::new(Series::new(Labels::from_pairs([
        ("__name__", name),
        ("job", "test"),
        ("instance", instance),
    ])))
}

/// `count` series of metric `name`.
pub fn many_series(name: &str, count: usize) -> Vec<Arc<Series>> {
    (0..count).map(|i| series(name, &format!("i{i}"))).collect()
}

/// One scrape: a sample of every series at `ts_ms`.
pub fn scrape(all: &[Arc<Series>], ts_ms: i64, value: f64) -> Vec<SeriesSample> {
    all.iter()
        .map(|s| SeriesSample {
            series: s.clone(),
            ts_ms,
            value,
        })
        .collect()
}

pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Queue settings that keep tests quick: short deadline and backoff.
pub fn quick_queue() -> RawQueueConfig {
    RawQueueConfig {
        batch_send_deadline: Duration::from_millis(20),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..RawQueueConfig::default()
    }
}

pub fn destination(name: &str, url: &str, queue: RawQueueConfig) -> RawDestinationConfig {
    RawDestinationConfig {
        name: name.into(),
        url: url.into(),
        queue,
        ..RawDestinationConfig::default()
    }
}

pub fn settings(destinations: Vec<RawDestinationConfig>) -> SenderSettings {
    SenderSettings::try_from(RawSenderConfig {
        destinations,
        ..RawSenderConfig::default()
    })
    .unwrap()
}

/// A sender running on its own task until stopped or dropped.
pub struct Running {
    pub handle: SenderHandle,
    pub metrics: SenderMetrics,
    pub registry: prometheus::Registry,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Running {
    pub fn start(settings: SenderSettings) -> Running {
        Self::start_with_clock(settings, Arc::new(SystemClock))
    }

    pub fn start_with_clock(settings: SenderSettings, clock: Arc<dyn Clock>) -> Running {
        let registry = prometheus::Registry::new();
        let metrics = SenderMetrics::new(&registry).unwrap();
        let sender = Sender::with_clock(settings, &metrics, clock).unwrap();
        let handle = sender.handle();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sender.run(shutdown.clone()));
        Running {
            handle,
            metrics,
            registry,
            shutdown,
            task: Some(task),
        }
    }

    /// Cancels the sender and waits for its flush to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("sender stops within its flush deadline")
                .unwrap();
        }
    }

    pub fn sent(&self, dest: &str) -> u64 {
        self.metrics.samples_sent.with_label_values(&[dest]).get()
    }

    pub fn failed(&self, dest: &str, reason: &str) -> u64 {
        self.metrics
            .samples_failed
            .with_label_values(&[dest, reason])
            .get()
    }

    pub fn dropped(&self, dest: &str, reason: &str) -> u64 {
        self.metrics
            .samples_dropped
            .with_label_values(&[dest, reason])
            .get()
    }

    pub fn retries(&self, dest: &str) -> u64 {
        self.metrics.retries.with_label_values(&[dest]).get()
    }

    pub fn requests(&self, dest: &str, code: &str) -> u64 {
        self.metrics.requests.with_label_values(&[dest, code]).get()
    }

    pub fn pending(&self, dest: &str) -> i64 {
        self.metrics
            .pending_samples
            .with_label_values(&[dest])
            .get()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` every 20 ms until it holds, failing the test after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

#[allow(unused_imports)]
pub use tachyscale_testkit::free_port;
