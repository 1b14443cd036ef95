//! Phase `source`: from a target's value stepping to a scaler seeing it, end to end.
//!
//! One exposition target served from this process steps its gauge every 2–3 s (a random
//! sub-second part, so steps land at every phase of the 1 s scrape schedule). Both
//! pipelines scrape it at 1 s at the same time: `tachyscale scrape` remote-writing into
//! `tachyscale store`, read with `GetMetrics` (the `external` trigger), and Prometheus 2.42
//! read through `/api/v1/query`, as KEDA's `prometheus` scaler does. A poller per side
//! reads every 10 ms and notes when each value first shows; a step's latency is that
//! moment minus the step instant. The scrape interval dominates both; what differs is what
//! each adds on top (scrape, parse, remote-write batching, ingest, query), so the target
//! logs each side's scrapes (by `User-Agent`) and every latency is also split at the
//! scrape that first carried the new value.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use tachyscale_proto::externalscaler::external_scaler_client::ExternalScalerClient;
use tachyscale_proto::externalscaler::GetMetricsRequest;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::common::{connect_scaler, ratio, scaled_object, start_store, summary, wall_ms};
use crate::process::{wait_ready, Server};

const QUERY: &str = "max(step_value)";
/// The value before the first step; steps count up from it, so every value is distinct.
const FIRST_VALUE: f64 = 1000.0;
/// Steps come this long apart plus a uniform random part below `STEP_JITTER_MS`.
const STEP_MIN: Duration = Duration::from_secs(2);
const STEP_JITTER_MS: u64 = 1000;
const POLL_EVERY: Duration = Duration::from_millis(10);
/// How long both sides may take to show the first value (their first scrapes).
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);
/// How long after the last step the pollers keep watching for it.
const TAIL: Duration = Duration::from_secs(3);

pub struct SourceArgs<'a> {
    pub store_bin: &'a Path,
    pub prometheus_bin: &'a Path,
    pub steps: usize,
}

pub fn run(args: &SourceArgs<'_>, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Value> {
    let stop = CancellationToken::new();
    let target = runtime.block_on(StepTarget::start(stop.clone()))?;
    let store = start_store(args.store_bin, "")?;
    let scraper = start_scraper(args.store_bin, &target.addr, &store.server.base)?;
    let prometheus = start_prometheus(args.prometheus_bin, &target.addr)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_ready(&client, &format!("{}/readyz", scraper.base))?;
    wait_ready(&client, &format!("{}/-/ready", prometheus.base))?;
    let started = Instant::now();
    let figures = runtime.block_on(measure(
        &target,
        &store.grpc_addr,
        &prometheus.base,
        args.steps,
    ));
    stop.cancel();
    drop((prometheus, scraper, store));
    let figures = figures?;
    Ok(json!({
        "settings": {
            "steps": args.steps,
            "scrape_interval": "1s",
            "scrape_timeout": "800ms",
            "step_spacing": "2 s + uniform [0, 1) s",
            "poll_every_ms": POLL_EVERY.as_millis(),
            "query": QUERY,
            "tachyscale": "tachyscale scrape (remote_write defaults) -> tachyscale store, read with GetMetrics",
            "prometheus": "Prometheus 2.42 scraping the same target, read with GET /api/v1/query",
        },
        "aim": "tachyscale p99 < 1.1 s",
        "note": "whole step-to-visible figures are dominated by where each side's scrape falls in the second relative to the steps; scrape_to_visible isolates what each pipeline adds. Its resolution is the 10 ms poll period, with an offset that stays constant within a run because polls and scrapes are both periodic",
        "wall_seconds": started.elapsed().as_secs_f64(),
        "tachyscale_get_metrics": figures.ours,
        "prometheus_query_api": figures.theirs,
        "ratio_tachyscale_over_prometheus": {
            "p50": ratio(&figures.ours, &figures.theirs, "p50_ms"),
            "p90": ratio(&figures.ours, &figures.theirs, "p90_ms"),
            "p99": ratio(&figures.ours, &figures.theirs, "p99_ms"),
            "max": ratio(&figures.ours, &figures.theirs, "max_ms"),
        },
    }))
}

/// The scrape job both sides run.
fn job_yaml(target: &str) -> String {
    format!(
        "scrape_configs:\n  - job_name: step\n    static_configs: [{{targets: [\"{target}\"]}}]\n"
    )
}

const GLOBAL_1S: &str = "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n";

fn start_scraper(bin: &Path, target: &str, store_base: &str) -> anyhow::Result<Server> {
    let config = format!(
        "{GLOBAL_1S}{}remote_write:\n  destinations:\n    - name: store\n      url: {store_base}/api/v1/write\n",
        job_yaml(target)
    );
    Server::tachyscale("tachyscale-scrape", bin, "scrape", &config)
}

fn start_prometheus(bin: &Path, target: &str) -> anyhow::Result<Server> {
    Server::prometheus(bin, &format!("{GLOBAL_1S}{}", job_yaml(target)), &[])
}

/// Which pipeline fetched the target, told apart by `User-Agent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scraper {
    Tachyscale,
    Prometheus,
}

impl Scraper {
    fn from_user_agent(agent: &str) -> Option<Scraper> {
        if agent.starts_with("tachyscale/") {
            Some(Scraper::Tachyscale)
        } else if agent.starts_with("Prometheus/") {
            Some(Scraper::Prometheus)
        } else {
            None
        }
    }
}

/// One fetch of the target: who, which value it served, and when.
#[derive(Clone, Copy)]
struct ScrapeRecord {
    scraper: Scraper,
    value: f64,
    at: Instant,
}

/// Scrapes remembered; two scrapers at 1 s stay far below it in a bounded run, and
/// beyond it new records are dropped (the split figures then cover fewer steps).
const MAX_SCRAPE_RECORDS: usize = 100_000;

/// An exposition target whose one gauge the benchmark steps; it logs every scrape, so
/// each side's latency splits into waiting for the scrape and what follows it.
struct StepTarget {
    addr: String,
    value: Arc<AtomicU64>,
    scrapes: Arc<Mutex<Vec<ScrapeRecord>>>,
}

impl StepTarget {
    /// Serves `/metrics` on a free loopback port until `stop`.
    async fn start(stop: CancellationToken) -> anyhow::Result<StepTarget> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let value = Arc::new(AtomicU64::new(FIRST_VALUE.to_bits()));
        let scrapes = Arc::new(Mutex::new(Vec::new()));
        let (shared, log) = (value.clone(), scrapes.clone());
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let v = f64::from_bits(shared.load(Ordering::Acquire));
                record_scrape(&log, &headers, v);
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        format!("# TYPE step_value gauge\nstep_value {v}\n"),
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(StepTarget {
            addr,
            value,
            scrapes,
        })
    }

    /// Sets the gauge; returns the step instant.
    fn set(&self, v: f64) -> Instant {
        self.value.store(v.to_bits(), Ordering::Release);
        Instant::now()
    }
}

fn record_scrape(log: &Mutex<Vec<ScrapeRecord>>, headers: &axum::http::HeaderMap, value: f64) {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(scraper) = Scraper::from_user_agent(agent) else {
        return;
    };
    let mut log = log.lock();
    if log.len() < MAX_SCRAPE_RECORDS {
        log.push(ScrapeRecord {
            scraper,
            value,
            at: Instant::now(),
        });
    }
}

/// SplitMix64: enough randomness for step offsets without another dependency.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// How one side is read (the gRPC client is boxed: it is ten times the HTTP one).
enum Reader {
    Scaler {
        client: Box<ExternalScalerClient<Channel>>,
        request: GetMetricsRequest,
    },
    Prometheus {
        http: reqwest::Client,
        url: String,
    },
}

impl Reader {
    async fn scaler(grpc_addr: &str) -> anyhow::Result<Reader> {
        let client = Box::new(ExternalScalerClient::new(connect_scaler(grpc_addr).await?));
        let object = scaled_object("step".into(), &[("query", QUERY), ("targetValue", "10")]);
        Ok(Reader::Scaler {
            client,
            request: GetMetricsRequest {
                scaled_object_ref: Some(object),
                metric_name: String::new(),
            },
        })
    }

    fn prometheus(base: &str) -> anyhow::Result<Reader> {
        Ok(Reader::Prometheus {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            url: format!("{base}/api/v1/query?query={QUERY}"),
        })
    }

    /// The current value; `None` while there is no data.
    async fn read(&mut self) -> anyhow::Result<Option<f64>> {
        match self {
            Reader::Scaler { client, request } => {
                let response = client.get_metrics(request.clone()).await?.into_inner();
                Ok(response.metric_values.first().map(|v| v.metric_value_float))
            }
            Reader::Prometheus { http, url } => {
                let body: Value = http.get(url.as_str()).send().await?.json().await?;
                Ok(body["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok()))
            }
        }
    }

    /// Reads until `want` shows or the deadline passes.
    async fn wait_for(&mut self, want: f64, deadline: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < deadline {
            if let Ok(Some(v)) = self.read().await {
                if v == want {
                    return Ok(());
                }
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        anyhow::bail!("{want} did not show within {deadline:?}")
    }
}

/// What one poller saw: each new value with the moment it first showed.
#[derive(Default)]
struct Watched {
    first_seen: Vec<(f64, Instant)>,
    polls: u64,
    errors: u64,
}

/// Reads every `POLL_EVERY` (a slow read delays the next tick rather than bunching).
async fn watch(mut reader: Reader, stop: CancellationToken) -> Watched {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut watched = Watched::default();
    let mut last = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return watched,
            _ = tick.tick() => {}
        }
        match reader.read().await {
            Ok(v) => {
                watched.polls += 1;
                if let (Some(v), true) = (v, v != last) {
                    watched.first_seen.push((v, Instant::now()));
                }
                last = v;
            }
            Err(_) => watched.errors += 1,
        }
    }
}

/// Steps the target `steps` times; returns each step's value and instant.
async fn run_steps(target: &StepTarget, steps: usize) -> Vec<(f64, Instant)> {
    let mut rng = SplitMix(wall_ms() as u64);
    let mut done = Vec::with_capacity(steps);
    for k in 1..=steps {
        let jitter = Duration::from_millis(rng.below(STEP_JITTER_MS));
        tokio::time::sleep(STEP_MIN + jitter).await;
        let value = FIRST_VALUE + k as f64;
        done.push((value, target.set(value)));
    }
    done
}

struct Figures {
    ours: Value,
    theirs: Value,
}

async fn measure(
    target: &StepTarget,
    grpc_addr: &str,
    prometheus_base: &str,
    steps: usize,
) -> anyhow::Result<Figures> {
    let mut ours = Reader::scaler(grpc_addr).await?;
    let mut theirs = Reader::prometheus(prometheus_base)?;
    ours.wait_for(FIRST_VALUE, SETTLE_DEADLINE).await?;
    theirs.wait_for(FIRST_VALUE, SETTLE_DEADLINE).await?;
    let stop = CancellationToken::new();
    let ours = tokio::spawn(watch(ours, stop.clone()));
    let theirs = tokio::spawn(watch(theirs, stop.clone()));
    let stepped = run_steps(target, steps).await;
    tokio::time::sleep(TAIL).await;
    stop.cancel();
    let (ours, theirs) = (ours.await?, theirs.await?);
    let scrapes = target.scrapes.lock().clone();
    Ok(Figures {
        ours: side_json(&stepped, &ours, &scrapes, Scraper::Tachyscale),
        theirs: side_json(&stepped, &theirs, &scrapes, Scraper::Prometheus),
    })
}

/// When `value` first showed on one side.
fn seen_at(watched: &Watched, value: f64) -> Option<Instant> {
    watched
        .first_seen
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, at)| *at)
}

/// When `scraper` first fetched `value` from the target.
fn scraped_at(scrapes: &[ScrapeRecord], scraper: Scraper, value: f64) -> Option<Instant> {
    scrapes
        .iter()
        .find(|r| r.scraper == scraper && r.value == value)
        .map(|r| r.at)
}

/// Step-to-visible latencies of one side, split at the scrape that first carried the
/// new value: waiting for that scrape (set by the 1 s schedule and the step's phase), and
/// from that scrape to the value being readable (what the pipeline itself adds).
fn side_json(
    stepped: &[(f64, Instant)],
    watched: &Watched,
    scrapes: &[ScrapeRecord],
    scraper: Scraper,
) -> Value {
    let mut latencies = Vec::with_capacity(stepped.len());
    let mut waits = Vec::with_capacity(stepped.len());
    let mut after_scrape = Vec::with_capacity(stepped.len());
    let mut missed = 0;
    for (value, at) in stepped {
        let Some(seen) = seen_at(watched, *value) else {
            missed += 1;
            continue;
        };
        latencies.push(seen.saturating_duration_since(*at));
        if let Some(scraped) = scraped_at(scrapes, scraper, *value) {
            waits.push(scraped.saturating_duration_since(*at));
            after_scrape.push(seen.saturating_duration_since(scraped));
        }
    }
    let mut value = summary(latencies);
    value["steps_never_seen"] = json!(missed);
    value["polls"] = json!(watched.polls);
    value["poll_errors"] = json!(watched.errors);
    value["step_to_scrape"] = summary(waits);
    value["scrape_to_visible"] = summary(after_scrape);
    value
}
