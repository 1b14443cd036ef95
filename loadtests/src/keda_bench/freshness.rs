//! Phase `freshness`: how soon after the store acknowledges a remote-write a KEDA client
//! can see the new value, on each of the three paths a scaler reads:
//!
//! - (a) `GetMetrics` polled back to back on a warm HTTP/2 connection (the `external`
//!   trigger);
//! - (b) the external metrics API on the plain HTTP port, polled back to back over a
//!   keep-alive connection (the HPA's path);
//! - (c) a `StreamIsActive` stream opened once (the `external-push` trigger): writes flip
//!   the gauge across the activation threshold and the push message is timed.
//!
//! Each sub-measurement writes its own fresh value and starts its clock when the 2xx
//! arrives, so the figure is pure store-side visibility delay plus one read, not queueing
//! behind an earlier write. The paths run in turn, never together, so they do not compete.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tachyscale_kubeformat::quantity;
use tachyscale_proto::externalscaler::external_scaler_client::ExternalScalerClient;
use tachyscale_proto::externalscaler::{GetMetricsRequest, IsActiveResponse};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Streaming;

use super::common::{connect_scaler, scaled_object, start_store, summary, RemoteWriter};

/// The external metrics rule the store serves for path (b).
const EXTERNAL_METRICS_YAML: &str = "external_metrics:\n  insecure_http_on_loopback: true\n  rules:\n    - name: fresh\n      query: 'max(fresh_gauge{<<.LabelMatchers>>})'\n      namespaced: false\n";
const EXTERNAL_METRICS_PATH: &str =
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/fresh";
const PULL_QUERY: &str = "max(fresh_gauge)";
const PUSH_QUERY: &str = "max(fresh_gauge_push)";
/// Values written to the push gauge: one above and one below the activation threshold.
const PUSH_ACTIVE_VALUE: f64 = 10.0;
const PUSH_INACTIVE_VALUE: f64 = 0.0;
const PUSH_THRESHOLD: &str = "5";

/// A value not seen within this long after its ack counts as a timeout; keeps a broken
/// path from stalling the run.
const SEE_DEADLINE: Duration = Duration::from_secs(2);
/// Pause between iterations, so consecutive writes do not overlap lingering work.
const PAUSE: Duration = Duration::from_millis(20);
/// Push messages buffered between the stream reader and the measuring loop. One
/// transition per iteration arrives, so a few slots suffice; when full the reader waits,
/// which only delays messages nobody is waiting for yet.
const PUSH_BUFFER: usize = 16;

pub fn run(
    bin: &Path,
    iterations: usize,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Value> {
    let store = start_store(bin, EXTERNAL_METRICS_YAML)?;
    let started = Instant::now();
    let figures = runtime.block_on(measure(&store.server.base, &store.grpc_addr, iterations));
    drop(store);
    let figures = figures?;
    Ok(json!({
        "settings": {
            "iterations": iterations,
            "pause_between_iterations_ms": PAUSE.as_millis(),
            "see_deadline_ms": SEE_DEADLINE.as_millis(),
            "grpc_query": PULL_QUERY,
            "external_metrics_path": EXTERNAL_METRICS_PATH,
            "push_query": PUSH_QUERY,
            "push_activation_threshold": PUSH_THRESHOLD,
            "clock_starts": "when the remote-write 2xx arrives",
        },
        "aim": "p99 < 10 ms on each path",
        "wall_seconds": started.elapsed().as_secs_f64(),
        "grpc_get_metrics": figures.grpc,
        "external_metrics_api": figures.external,
        "stream_is_active_push": figures.push,
    }))
}

struct Figures {
    grpc: Value,
    external: Value,
    push: Value,
}

/// Latencies and timeouts of one path.
#[derive(Default)]
struct PathSamples {
    latencies: Vec<Duration>,
    timeouts: usize,
}

impl PathSamples {
    fn add(&mut self, seen: Option<Duration>) {
        match seen {
            Some(latency) => self.latencies.push(latency),
            None => self.timeouts += 1,
        }
    }

    fn into_json(self) -> Value {
        let mut value = summary(self.latencies);
        value["timeouts"] = json!(self.timeouts);
        value
    }
}

/// Push latencies from the ack, and from the start of the write: the store may push
/// before its HTTP answer reaches us, which the ack-based figure shows as 0.
#[derive(Default)]
struct PushSamples {
    from_ack: PathSamples,
    from_write_start: Vec<Duration>,
    arrived_before_ack: usize,
}

async fn measure(store_base: &str, grpc_addr: &str, iterations: usize) -> anyhow::Result<Figures> {
    let mut paths = Paths::open(store_base, grpc_addr).await?;
    let mut grpc = PathSamples::default();
    let mut external = PathSamples::default();
    let mut push = PushSamples::default();
    for i in 0..iterations {
        // Distinct integers: exact as floats and as Quantities.
        let value = 1000.0 + 2.0 * i as f64;
        grpc.add(paths.pull(PullPath::GetMetrics, value).await?);
        external.add(paths.pull(PullPath::ExternalMetrics, value + 1.0).await?);
        paths.push(&mut push).await?;
        tokio::time::sleep(PAUSE).await;
    }
    let mut push_json = json!({
        "from_ack": push.from_ack.into_json(),
        "from_write_start": summary(push.from_write_start),
        "arrived_before_ack": push.arrived_before_ack,
    });
    push_json["note"] = json!(
        "from_ack is clamped at 0 when the push arrived before the write's 2xx; \
         from_write_start includes the write round trip"
    );
    Ok(Figures {
        grpc: grpc.into_json(),
        external: external.into_json(),
        push: push_json,
    })
}

/// A push message and when it arrived here.
struct Push {
    at: Instant,
    active: bool,
}

/// The three read paths, opened and warmed once.
struct Paths {
    writer: RemoteWriter,
    scaler: ExternalScalerClient<Channel>,
    pull_request: GetMetricsRequest,
    http: reqwest::Client,
    external_url: String,
    pushes: mpsc::Receiver<anyhow::Result<Push>>,
    reader: JoinHandle<()>,
    /// The push state the last transition left.
    active: bool,
}

impl Drop for Paths {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Paths {
    async fn open(store_base: &str, grpc_addr: &str) -> anyhow::Result<Paths> {
        let mut writer = RemoteWriter::new(store_base)?;
        writer
            .gauge("fresh_gauge_push", PUSH_INACTIVE_VALUE)
            .await?;
        let mut scaler = ExternalScalerClient::new(connect_scaler(grpc_addr).await?);
        let pull = scaled_object(
            "fresh-pull".into(),
            &[("query", PULL_QUERY), ("targetValue", "10")],
        );
        let spec = scaler.get_metric_spec(pull.clone()).await?.into_inner();
        let metric_name = spec
            .metric_specs
            .first()
            .map(|s| s.metric_name.clone())
            .ok_or_else(|| anyhow::anyhow!("GetMetricSpec returned no spec"))?;
        let pull_request = GetMetricsRequest {
            scaled_object_ref: Some(pull),
            metric_name,
        };
        let push_object = scaled_object(
            "fresh-push".into(),
            &[
                ("query", PUSH_QUERY),
                ("targetValue", "10"),
                ("activationThreshold", PUSH_THRESHOLD),
            ],
        );
        let stream = scaler.stream_is_active(push_object).await?.into_inner();
        let (tx, mut pushes) = mpsc::channel(PUSH_BUFFER);
        let reader = tokio::spawn(read_pushes(stream, tx));
        let first = tokio::time::timeout(SEE_DEADLINE, pushes.recv())
            .await
            .map_err(|_| anyhow::anyhow!("StreamIsActive sent no initial state"))?
            .ok_or_else(|| anyhow::anyhow!("StreamIsActive closed at once"))??;
        let mut paths = Paths {
            writer,
            scaler,
            pull_request,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .tcp_nodelay(true)
                .build()?,
            external_url: format!("{store_base}{EXTERNAL_METRICS_PATH}"),
            pushes,
            reader,
            active: first.active,
        };
        paths.warm().await?;
        Ok(paths)
    }

    /// One read on each pull path, so connections and cached plans exist before timing.
    async fn warm(&mut self) -> anyhow::Result<()> {
        self.get_metrics_value().await?;
        self.external_value().await?;
        Ok(())
    }

    async fn get_metrics_value(&mut self) -> anyhow::Result<Option<f64>> {
        let response = self.scaler.get_metrics(self.pull_request.clone()).await?;
        Ok(response
            .into_inner()
            .metric_values
            .first()
            .map(|v| v.metric_value_float))
    }

    /// The first item's value; the rule's query gives one item.
    async fn external_value(&self) -> anyhow::Result<Option<f64>> {
        let body: Value = self
            .http
            .get(&self.external_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        match body["items"][0]["value"].as_str() {
            Some(text) => Ok(Some(quantity::parse(text)?.as_f64())),
            None => Ok(None),
        }
    }

    /// Paths (a) and (b): write, then read back to back until the value shows.
    async fn pull(&mut self, path: PullPath, value: f64) -> anyhow::Result<Option<Duration>> {
        let ack = self.writer.gauge("fresh_gauge", value).await?;
        while ack.acked.elapsed() < SEE_DEADLINE {
            let seen = match path {
                PullPath::GetMetrics => self.get_metrics_value().await?,
                PullPath::ExternalMetrics => self.external_value().await?,
            };
            if seen == Some(value) {
                return Ok(Some(ack.acked.elapsed()));
            }
        }
        Ok(None)
    }

    /// Path (c): flip the push gauge across the threshold and wait for the message
    /// announcing the new state; older messages (late ones after a timeout) are skipped.
    async fn push(&mut self, samples: &mut PushSamples) -> anyhow::Result<()> {
        let want = !self.active;
        let value = if want {
            PUSH_ACTIVE_VALUE
        } else {
            PUSH_INACTIVE_VALUE
        };
        let ack = self.writer.gauge("fresh_gauge_push", value).await?;
        // The store changed state whether or not the message makes the deadline.
        self.active = want;
        let deadline = tokio::time::Instant::from_std(ack.acked + SEE_DEADLINE);
        loop {
            let push = match tokio::time::timeout_at(deadline, self.pushes.recv()).await {
                Err(_) => {
                    samples.from_ack.add(None);
                    return Ok(());
                }
                Ok(None) => anyhow::bail!("StreamIsActive ended"),
                Ok(Some(push)) => push?,
            };
            if push.active == want {
                if push.at < ack.acked {
                    samples.arrived_before_ack += 1;
                }
                samples
                    .from_ack
                    .add(Some(push.at.saturating_duration_since(ack.acked)));
                samples
                    .from_write_start
                    .push(push.at.saturating_duration_since(ack.sent));
                return Ok(());
            }
        }
    }
}

/// Forwards stream messages with their arrival time; stops at the end of the stream,
/// after an error, or when nobody listens.
async fn read_pushes(
    mut stream: Streaming<IsActiveResponse>,
    tx: mpsc::Sender<anyhow::Result<Push>>,
) {
    loop {
        let item = match stream.message().await {
            Ok(Some(message)) => Ok(Push {
                at: Instant::now(),
                active: message.result,
            }),
            Ok(None) => return,
            Err(status) => Err(anyhow::anyhow!("StreamIsActive failed: {status}")),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// The two pull paths timed from a remote-write's acknowledgement.
#[derive(Clone, Copy)]
enum PullPath {
    GetMetrics,
    ExternalMetrics,
}
