//! Pieces the KEDA phases share: a store process with the gRPC scaler on a free port, a
//! remote-write sender that reports when the store acknowledged, a gRPC channel that waits
//! for the listener, ScaledObjects shaped like KEDA's, and latency summaries.
//!
//! Servers start from synchronous code (the `Server` type and `wait_ready` use blocking
//! HTTP, which must not run inside the tokio runtime); the measurements are async.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tachyscale_proto::externalscaler::ScaledObjectRef;
use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use tonic::transport::{Channel, Endpoint};

use crate::measure::{ms, percentile};
use crate::process::{free_port, wait_ready, Server};

/// How long a freshly started gRPC listener may take to accept connections.
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);

/// What KEDA adds to every trigger's metadata; the store must accept and ignore it.
const SCALER_ADDRESS: &str = "tachyscale-store.monitoring:9202";

/// A `tachyscale store` process and the address of its KEDA gRPC listener.
pub struct StoreProcess {
    pub server: Server,
    pub grpc_addr: String,
}

/// Starts `tachyscale store` with the KEDA listener on a free loopback port (never the
/// default 9202, which another store on this machine may hold) plus `extra_yaml`, and
/// waits until its HTTP side is ready.
pub fn start_store(bin: &Path, extra_yaml: &str) -> anyhow::Result<StoreProcess> {
    let grpc_addr = format!("127.0.0.1:{}", free_port()?);
    let config = format!(
        "tsdb:\n  retention: 10m\nkeda:\n  listen: {grpc_addr}\n  max_connections: 64\n{extra_yaml}"
    );
    let server = Server::tachyscale("tachyscale-store", bin, "store", &config)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_ready(&client, &format!("{}/readyz", server.base))?;
    Ok(StoreProcess { server, grpc_addr })
}

/// One HTTP/2 connection to the scaler; retried until the listener accepts.
pub async fn connect_scaler(addr: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + CONNECT_DEADLINE;
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => anyhow::bail!("gRPC {addr} not reachable: {err}"),
        }
    }
}

/// A ScaledObject trigger as KEDA sends it: our keys plus KEDA's `scalerAddress`.
pub fn scaled_object(name: String, keys: &[(&str, &str)]) -> ScaledObjectRef {
    let mut scaler_metadata: HashMap<String, String> = keys
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    scaler_metadata.insert("scalerAddress".into(), SCALER_ADDRESS.into());
    ScaledObjectRef {
        name,
        namespace: "default".into(),
        scaler_metadata,
    }
}

/// Wall-clock milliseconds, the remote-write sample time.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One series with sorted labels (`__name__` included), as remote-write requires.
pub fn series(name: &str, labels: &[(&str, &str)], value: f64, ts_ms: i64) -> TimeSeries {
    let mut all: Vec<Label> = labels
        .iter()
        .map(|(n, v)| Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect();
    all.push(Label {
        name: "__name__".into(),
        value: name.into(),
    });
    all.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels: all,
        samples: vec![Sample {
            value,
            timestamp: ts_ms,
        }],
    }
}

/// When a write was sent and when its 2xx arrived.
#[derive(Clone, Copy)]
pub struct Ack {
    pub sent: Instant,
    pub acked: Instant,
}

/// Remote-write over one keep-alive connection. Each series' timestamps only move
/// forward, so two writes in the same millisecond are not refused as duplicates.
///
/// The bump is per series on purpose: one shared "last + 1" clock runs ahead of the wall
/// clock when several series are written within a millisecond, and a sample stamped in
/// the store's future is invisible to an evaluation at the store's "now" — which then
/// caches the old answer (up to `keda.result_max_age`) and looks like a slow store.
pub struct RemoteWriter {
    client: reqwest::Client,
    url: String,
    last_ts_ms: HashMap<String, i64>,
}

impl RemoteWriter {
    pub fn new(store_base: &str) -> anyhow::Result<RemoteWriter> {
        Ok(RemoteWriter {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .tcp_nodelay(true)
                .build()?,
            url: format!("{store_base}/api/v1/write"),
            last_ts_ms: HashMap::new(),
        })
    }

    /// A timestamp for `series_key` after every earlier one this writer used for it.
    pub fn next_ts_ms(&mut self, series_key: &str) -> i64 {
        let now = wall_ms();
        let last = self.last_ts_ms.entry(series_key.to_string()).or_insert(0);
        *last = now.max(*last + 1);
        *last
    }

    /// Writes one sample of an unlabelled gauge.
    pub async fn gauge(&mut self, name: &str, value: f64) -> anyhow::Result<Ack> {
        let ts_ms = self.next_ts_ms(name);
        let request = WriteRequest {
            timeseries: vec![series(name, &[], value, ts_ms)],
        };
        self.send(&request).await
    }

    /// Sends `request`; fails unless the store answers 2xx.
    pub async fn send(&self, request: &WriteRequest) -> anyhow::Result<Ack> {
        let body = tachyscale_proto::remote_write::encode(request);
        let sent = Instant::now();
        let response = self
            .client
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await?;
        let acked = Instant::now();
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            anyhow::bail!("remote-write answered {status}: {text}");
        }
        Ok(Ack { sent, acked })
    }
}

/// p50/p90/p99/max in milliseconds and the count, nearest-rank.
pub fn summary(mut samples: Vec<Duration>) -> Value {
    samples.sort_unstable();
    let max = samples.last().copied().unwrap_or(Duration::ZERO);
    json!({
        "count": samples.len(),
        "p50_ms": ms(percentile(&samples, 50.0)),
        "p90_ms": ms(percentile(&samples, 90.0)),
        "p99_ms": ms(percentile(&samples, 99.0)),
        "max_ms": ms(max),
    })
}

/// `a / b` for one key of two summaries (NaN when either is missing or `b` is 0).
pub fn ratio(a: &Value, b: &Value, key: &str) -> Value {
    match (a[key].as_f64(), b[key].as_f64()) {
        (Some(x), Some(y)) if y > 0.0 => json!(x / y),
        _ => Value::Null,
    }
}
