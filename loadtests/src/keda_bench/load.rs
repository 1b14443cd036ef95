//! Phase `load`: many ScaledObjects polled the way KEDA polls them, against one store.
//!
//! Each object is polled once per second with KEDA's three unary RPCs in sequence
//! (`GetMetricSpec`, `GetMetrics`, `IsActive`); object i polls at i/N of every second, so
//! the offered rate is flat rather than a burst per second. Objects share `distinct`
//! queries (one series each) which a background writer updates every second, so cached
//! results are invalidated as in production. Objects are spread over a few HTTP/2
//! channels, like KEDA's per-address connection pool.
//!
//! One dispatcher task starts polls on schedule; in-flight polls are bounded by a
//! semaphore, so if the store (or this machine) cannot keep up, polls start late instead
//! of piling up without bound — lateness is reported as schedule lag. The generator runs
//! on the same two cores as the store, so the store's CPU share and the generator's are
//! both reported.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use prost::Message as _;
use serde_json::{json, Value};
use tachyscale_proto::externalscaler::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse,
};
use tachyscale_proto::prometheus::WriteRequest;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::common::{connect_scaler, scaled_object, series, start_store, summary, RemoteWriter};
use super::raw_rpc::{Method, RawScaler};
use super::store_metrics;
use crate::measure::{cpu_time, rss_bytes};

const WARMUP: Duration = Duration::from_secs(3);
/// Polls in flight at once; beyond it the dispatcher waits and polls start late.
const MAX_IN_FLIGHT_POLLS: u32 = 2000;
/// A poll starting this far behind its schedule counts as late.
const LATE_AFTER: Duration = Duration::from_millis(10);
/// How long in-flight polls may take to finish after the last one started.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
const WRITE_EVERY: Duration = Duration::from_secs(1);

pub struct LoadArgs<'a> {
    pub store_bin: &'a Path,
    pub objects: usize,
    pub seconds: u64,
    pub distinct: usize,
    pub connections: usize,
}

pub fn run(args: &LoadArgs<'_>, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Value> {
    anyhow::ensure!(
        args.objects > 0 && args.distinct > 0 && args.connections > 0 && args.seconds > 0,
        "load needs at least one object, query, connection and second"
    );
    let store = start_store(args.store_bin, "")?;
    let pid = store.server.child.id();
    let figures = runtime.block_on(measure(args, &store.server.base, &store.grpc_addr, pid));
    drop(store);
    let figures = figures?;
    Ok(json!({
        "settings": {
            "objects": args.objects,
            "distinct_queries": args.distinct,
            "connections": args.connections,
            "warmup_seconds": WARMUP.as_secs(),
            "measure_seconds": args.seconds,
            "offered_rpc_per_second": 3 * args.objects,
            "max_in_flight_polls": MAX_IN_FLIGHT_POLLS,
            "late_after_ms": LATE_AFTER.as_millis(),
            "query": "sum(load_metric{q=\"<i % distinct>\"})",
            "writes": "one sample per distinct series every second",
        },
        "aim": "30000 RPC/s with p99 < 5 ms",
        "note": "the load generator (tonic client, tokio multi-thread runtime) runs on the same 2 cores as the store; generator_cpu_cores shows its share",
        "figures": figures,
    }))
}

/// One ScaledObject's requests, encoded once.
struct LoadObject {
    object_body: Bytes,
    metrics_body: Bytes,
}

impl LoadObject {
    fn body(&self, method: Method) -> Bytes {
        match method {
            Method::GetMetrics => self.metrics_body.clone(),
            Method::GetMetricSpec | Method::IsActive => self.object_body.clone(),
        }
    }
}

fn query(q: usize) -> String {
    format!("sum(load_metric{{q=\"{q}\"}})")
}

/// Builds the objects; `metric_names[q]` is what `GetMetricSpec` named query q.
fn build_objects(n: usize, distinct: usize, metric_names: &[String]) -> Vec<LoadObject> {
    (0..n)
        .map(|i| {
            let q = i % distinct;
            let text = query(q);
            let object = scaled_object(
                format!("worker-{i}"),
                &[
                    ("query", &text),
                    ("targetValue", "10"),
                    ("activationThreshold", "1"),
                ],
            );
            let object_body = Bytes::from(object.encode_to_vec());
            let request = GetMetricsRequest {
                scaled_object_ref: Some(object),
                metric_name: metric_names.get(q).cloned().unwrap_or_default(),
            };
            LoadObject {
                object_body,
                metrics_body: Bytes::from(request.encode_to_vec()),
            }
        })
        .collect()
}

/// Asks the store for each distinct query's metric name, as KEDA learns it.
async fn metric_names(client: &mut RawScaler, distinct: usize) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::with_capacity(distinct);
    for q in 0..distinct {
        let text = query(q);
        let object = scaled_object("probe".into(), &[("query", &text), ("targetValue", "10")]);
        let spec: GetMetricSpecResponse = client
            .call(Method::GetMetricSpec, Bytes::from(object.encode_to_vec()))
            .await?;
        let name = spec.metric_specs.first().map(|s| s.metric_name.clone());
        names.push(name.ok_or_else(|| anyhow::anyhow!("GetMetricSpec returned no spec"))?);
    }
    Ok(names)
}

/// Counters the poll tasks share. Latencies are kept only for polls scheduled inside
/// the measured window.
#[derive(Default)]
struct LoadStats {
    completed: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
    first_error: Mutex<Option<String>>,
    latencies: Mutex<[Vec<Duration>; 3]>,
    lags: Mutex<Vec<Duration>>,
}

impl LoadStats {
    fn failed(&self, method: Method, status: &tonic::Status) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock();
        if first.is_none() {
            *first = Some(format!("{}: {status}", method.name()));
        }
    }
}

/// One KEDA poll: the three RPCs in sequence; like KEDA, an error ends the poll.
async fn poll(mut rpc: RawScaler, object: &LoadObject, stats: &LoadStats, record: bool) {
    let mut took = [Duration::ZERO; 3];
    for (slot, method) in Method::ALL.into_iter().enumerate() {
        let started = Instant::now();
        let body = object.body(method);
        let result = match method {
            Method::GetMetricSpec => rpc
                .call::<GetMetricSpecResponse>(method, body)
                .await
                .map(drop),
            Method::GetMetrics => rpc.call::<GetMetricsResponse>(method, body).await.map(drop),
            Method::IsActive => rpc.call::<IsActiveResponse>(method, body).await.map(drop),
        };
        took[slot] = started.elapsed();
        if let Err(status) = result {
            stats.failed(method, &status);
            return;
        }
        stats.completed.fetch_add(1, Ordering::Relaxed);
    }
    if record {
        let mut latencies = stats.latencies.lock();
        for (list, d) in latencies.iter_mut().zip(took) {
            list.push(d);
        }
    }
}

/// When polls run: poll p (object p mod N, second p div N) starts at start + p/N s.
struct Schedule {
    start: Instant,
    measure_from: Instant,
    measure_to: Instant,
    objects: u64,
    total_polls: u64,
}

impl Schedule {
    fn new(start: Instant, objects: usize, seconds: u64) -> Schedule {
        let measure_from = start + WARMUP;
        Schedule {
            start,
            measure_from,
            measure_to: measure_from + Duration::from_secs(seconds),
            objects: objects as u64,
            total_polls: (WARMUP.as_secs() + seconds) * objects as u64,
        }
    }

    fn at(&self, p: u64) -> Instant {
        self.start + Duration::from_nanos(p * 1_000_000_000 / self.objects)
    }
}

/// Starts every poll on schedule, waiting for an in-flight slot when all are taken.
async fn dispatch(
    schedule: Arc<Schedule>,
    objects: Arc<Vec<LoadObject>>,
    clients: Vec<RawScaler>,
    stats: Arc<LoadStats>,
    slots: Arc<Semaphore>,
) -> anyhow::Result<()> {
    for p in 0..schedule.total_polls {
        let scheduled = schedule.at(p);
        if scheduled > Instant::now() {
            tokio::time::sleep_until(scheduled.into()).await;
        }
        let permit = slots.clone().acquire_owned().await?;
        let lag = Instant::now().saturating_duration_since(scheduled);
        let index = (p % schedule.objects) as usize;
        let record = scheduled >= schedule.measure_from && scheduled < schedule.measure_to;
        if record {
            stats.lags.lock().push(lag);
            if lag > LATE_AFTER {
                stats.late.fetch_add(1, Ordering::Relaxed);
            }
        }
        let rpc = clients[index % clients.len()].clone();
        let (objects, stats) = (objects.clone(), stats.clone());
        tokio::spawn(async move {
            poll(rpc, &objects[index], &stats, record).await;
            drop(permit);
        });
    }
    Ok(())
}

/// Writes one sample per distinct series every second until `stop`; returns failures.
async fn write_loop(mut writer: RemoteWriter, distinct: usize, stop: CancellationToken) -> u64 {
    let mut tick = tokio::time::interval(WRITE_EVERY);
    let labels: Vec<String> = (0..distinct).map(|q| q.to_string()).collect();
    let mut failures = 0;
    for round in 0u64.. {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Every series of the request is written together, once a second.
        let ts_ms = writer.next_ts_ms("load_metric");
        let request = WriteRequest {
            timeseries: labels
                .iter()
                .enumerate()
                .map(|(q, l)| {
                    let value = ((round + q as u64) % 20) as f64;
                    series("load_metric", &[("q", l)], value, ts_ms)
                })
                .collect(),
        };
        if writer.send(&request).await.is_err() {
            failures += 1;
        }
    }
    failures
}

/// CPU seconds of the store and of this process, and completed/failed RPC counters.
struct Snapshot {
    at: Instant,
    store_cpu: Duration,
    own_cpu: Duration,
    completed: u64,
    errors: u64,
    buckets: store_metrics::Buckets,
}

async fn snapshot(
    stats: &LoadStats,
    pid: u32,
    http: &reqwest::Client,
    store_base: &str,
) -> anyhow::Result<Snapshot> {
    Ok(Snapshot {
        at: Instant::now(),
        store_cpu: cpu_time(pid)?,
        own_cpu: cpu_time(std::process::id())?,
        completed: stats.completed.load(Ordering::Relaxed),
        errors: stats.errors.load(Ordering::Relaxed),
        buckets: store_metrics::read(http, store_base).await?,
    })
}

async fn measure(
    args: &LoadArgs<'_>,
    store_base: &str,
    grpc_addr: &str,
    pid: u32,
) -> anyhow::Result<Value> {
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        clients.push(RawScaler::new(connect_scaler(grpc_addr).await?));
    }
    let mut writer = RemoteWriter::new(store_base)?;
    let http = reqwest::Client::new();
    let stop = CancellationToken::new();
    // Data first, so the very first polls already evaluate something.
    let ts_ms = writer.next_ts_ms("load_metric");
    let first = WriteRequest {
        timeseries: (0..args.distinct)
            .map(|q| series("load_metric", &[("q", &q.to_string())], 1.0, ts_ms))
            .collect(),
    };
    writer.send(&first).await?;
    let names = metric_names(&mut clients[0], args.distinct).await?;
    let objects = Arc::new(build_objects(args.objects, args.distinct, &names));
    let writes = tokio::spawn(write_loop(writer, args.distinct, stop.clone()));

    let stats = Arc::new(LoadStats::default());
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT_POLLS as usize));
    let schedule = Arc::new(Schedule::new(
        Instant::now() + Duration::from_millis(100),
        args.objects,
        args.seconds,
    ));
    let dispatcher = tokio::spawn(dispatch(
        schedule.clone(),
        objects,
        clients,
        stats.clone(),
        slots.clone(),
    ));
    tokio::time::sleep_until(schedule.measure_from.into()).await;
    let before = snapshot(&stats, pid, &http, store_base).await?;
    tokio::time::sleep_until(schedule.measure_to.into()).await;
    let after = snapshot(&stats, pid, &http, store_base).await?;
    let rss = rss_bytes(pid)?;

    dispatcher.await??;
    let drained =
        tokio::time::timeout(DRAIN_DEADLINE, slots.acquire_many(MAX_IN_FLIGHT_POLLS)).await;
    stop.cancel();
    let write_failures = writes.await?;
    Ok(figures(
        &stats,
        &before,
        &after,
        rss,
        write_failures,
        drained.is_ok(),
    ))
}

fn figures(
    stats: &LoadStats,
    before: &Snapshot,
    after: &Snapshot,
    rss: u64,
    write_failures: u64,
    drained: bool,
) -> Value {
    let wall = (after.at - before.at).as_secs_f64();
    let completed = after.completed - before.completed;
    let latencies = std::mem::take(&mut *stats.latencies.lock());
    let all: Vec<Duration> = latencies.iter().flatten().copied().collect();
    let mut per_method = serde_json::Map::new();
    for (method, list) in Method::ALL.into_iter().zip(latencies) {
        per_method.insert(method.name().to_string(), summary(list));
    }
    let lags = std::mem::take(&mut *stats.lags.lock());
    let polls_recorded = lags.len();
    json!({
        "window_seconds": wall,
        "achieved_rpc_per_second": completed as f64 / wall,
        "rpcs_completed": completed,
        "rpc_errors": after.errors - before.errors,
        "rpc_errors_whole_run": stats.errors.load(Ordering::Relaxed),
        "first_error": stats.first_error.lock().clone(),
        "rpc_latency_client": summary(all),
        "rpc_latency_client_per_method": per_method,
        "rpc_latency_store_handler": store_metrics::window_quantiles(&before.buckets, &after.buckets),
        "rpc_latency_store_handler_note": "from the store's histogram, interpolated inside buckets; the finest bucket is 0.1 ms, so values below it only say the handler took < 0.1 ms",
        "schedule_lag": summary(lags),
        "polls_in_window": polls_recorded,
        "late_polls": stats.late.load(Ordering::Relaxed),
        "store_cpu_cores": (after.store_cpu - before.store_cpu).as_secs_f64() / wall,
        "store_rss_bytes": rss,
        "generator_cpu_cores": (after.own_cpu - before.own_cpu).as_secs_f64() / wall,
        "remote_write_failures": write_failures,
        "all_polls_finished": drained,
    })
}
