//! Scrape benchmark: a bounded loopback fleet of kubelet-sized exporters scraped at 1 s by
//! `tachyscale scrape` (remote-writing into `tachyscale store`) and, in the same run, by a
//! real Prometheus 2.42 scraping the same fleet. For each fleet size both run alone for the
//! same window; CPU comes from /proc, the rest from their own `/metrics`.
//!
//! Reported per fleet size and side: CPU cores used, CPU µs per scraped sample, RSS (and
//! per target), missed scrapes, schedule jitter p99, and for tachyscale the scrape-to-store
//! lag p99 (sender acknowledgement minus sample timestamp) and exposition bytes parsed per
//! CPU-second of the whole scrape pipeline. "Targets per core" is the fleet size divided by
//! the cores the scraper used, for the sizes with < 1 % missed scrapes.
//!
//! The exporters run in this process (their CPU is not charged to either side) and all
//! serve the same current body, regenerated every second; each target's series still
//! differ by their `instance` label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::kubelet::{resource_metrics, samples_per_exposition, NodeShape};
use crate::measure::{cpu_time, rss_bytes};
use crate::process::{wait_ready, Server};

pub struct ScrapeArgs {
    pub tachyscale_bin: PathBuf,
    pub prometheus_bin: PathBuf,
    pub targets: Vec<usize>,
    pub warmup_s: u64,
    pub measure_s: u64,
    pub shape: NodeShape,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// N loopback exporters sharing one body, refreshed every second.
struct ExporterFleet {
    addrs: Vec<String>,
    runtime: tokio::runtime::Runtime,
    stop: tokio_util::sync::CancellationToken,
}

impl ExporterFleet {
    fn start(n: usize, shape: NodeShape) -> anyhow::Result<ExporterFleet> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let body = Arc::new(parking_lot::RwLock::new(bytes::Bytes::from(
            resource_metrics(shape, now_ms()),
        )));
        let stop = tokio_util::sync::CancellationToken::new();
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
            addrs.push(listener.local_addr()?.to_string());
            let body = body.clone();
            let app = axum::Router::new().route(
                "/metrics/resource",
                axum::routing::get(move || {
                    let body = body.read().clone();
                    async move { ([("content-type", "text/plain; version=0.0.4")], body) }
                }),
            );
            let token = stop.clone();
            runtime.spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .await;
            });
        }
        let token = stop.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let fresh = bytes::Bytes::from(resource_metrics(shape, now_ms()));
                *body.write() = fresh;
            }
        });
        Ok(ExporterFleet {
            addrs,
            runtime,
            stop,
        })
    }
}

impl Drop for ExporterFleet {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = &self.runtime;
    }
}

/// `/metrics` text → series text → value.
fn scrape_metrics(
    client: &reqwest::blocking::Client,
    url: &str,
) -> anyhow::Result<HashMap<String, f64>> {
    let text = client.get(url).send()?.text()?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect())
}

fn sum_matching(m: &HashMap<String, f64>, prefix: &str, contains: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix) && k.contains(contains))
        .map(|(_, v)| v)
        .sum()
}

/// p-quantile from cumulative histogram buckets (deltas over the window), interpolated
/// linearly inside the bucket; also the bucket's upper bound.
fn histogram_quantile(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    name: &str,
    q: f64,
) -> Option<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .filter_map(|(k, v)| {
            let le = k.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, v - before.get(k).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Several label sets (e.g. destinations) with the same bound: add them up.
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let total = merged.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in &merged {
        if count >= rank {
            if bound.is_infinite() {
                return Some((lower.0, bound));
            }
            let fraction = (rank - lower.1) / (count - lower.1).max(1e-9);
            return Some((lower.0 + (bound - lower.0) * fraction, bound));
        }
        lower = (bound, count);
    }
    None
}

fn start_store(bin: &Path) -> anyhow::Result<Server> {
    let config = "tsdb:\n  retention: 10m\n  max_series: 5000000\n";
    Server::tachyscale("tachyscale-store", bin, "store", config)
}

fn targets_yaml(fleet: &ExporterFleet) -> String {
    fleet
        .addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The job both sides run: the fleet's kubelets at 1 s, timestamps from the schedule.
fn kubelet_job(fleet: &ExporterFleet) -> String {
    format!(
        "scrape_configs:\n  - job_name: kubelet\n    metrics_path: /metrics/resource\n    honor_timestamps: false\n    static_configs: [{{targets: [{}]}}]\n",
        targets_yaml(fleet)
    )
}

fn start_scraper(bin: &Path, fleet: &ExporterFleet, store: &Server) -> anyhow::Result<Server> {
    let config = format!(
        "global:\n  max_concurrent_scrapes: 1024\n{}remote_write:\n  destinations:\n    - name: store\n      url: {}/api/v1/write\n      queue: {{capacity: 2000000, shards: 4}}\n",
        kubelet_job(fleet),
        store.base
    );
    Server::tachyscale("tachyscale-scrape", bin, "scrape", &config)
}

fn start_prometheus(bin: &Path, fleet: &ExporterFleet) -> anyhow::Result<Server> {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n{}",
        kubelet_job(fleet)
    );
    Server::prometheus(bin, &config, &[])
}

/// Runs tachyscale (scraper + store) against `n` targets and measures the window.
fn measure_tachyscale(
    args: &ScrapeArgs,
    n: usize,
    client: &reqwest::blocking::Client,
) -> anyhow::Result<Value> {
    let fleet = ExporterFleet::start(n, args.shape)?;
    let store = start_store(&args.tachyscale_bin)?;
    wait_ready(client, &format!("{}/readyz", store.base))?;
    let scraper = start_scraper(&args.tachyscale_bin, &fleet, &store)?;
    wait_ready(client, &format!("{}/readyz", scraper.base))?;
    std::thread::sleep(Duration::from_secs(args.warmup_s));

    let metrics_url = format!("{}/metrics", scraper.base);
    let before = scrape_metrics(client, &metrics_url)?;
    let cpu_before = cpu_time(scraper.child.id())?;
    let store_cpu_before = cpu_time(store.child.id())?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.measure_s));
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(scraper.child.id())? - cpu_before).as_secs_f64();
    let store_cpu = (cpu_time(store.child.id())? - store_cpu_before).as_secs_f64();
    let after = scrape_metrics(client, &metrics_url)?;
    let rss = rss_bytes(scraper.child.id())?;

    let delta = |prefix: &str, contains: &str| {
        sum_matching(&after, prefix, contains) - sum_matching(&before, prefix, contains)
    };
    let ok = delta("tachyscale_scraper_scrapes_total", "success");
    let failed = delta("tachyscale_scraper_scrapes_total", "failure");
    let missed = delta("tachyscale_scraper_missed_scrapes_total", "");
    let samples = delta("tachyscale_scraper_samples_scraped_total", "");
    let bytes = delta("tachyscale_scraper_body_bytes_total", "");
    let dropped = delta("tachyscale_sender_samples_dropped_total", "");
    let jitter = histogram_quantile(
        &before,
        &after,
        "tachyscale_scraper_schedule_jitter_seconds",
        0.99,
    );
    let lag = histogram_quantile(&before, &after, "tachyscale_sender_lag_seconds", 0.99);
    let lag_p50 = histogram_quantile(&before, &after, "tachyscale_sender_lag_seconds", 0.5);
    let expected = n as f64 * wall;
    drop(scraper);
    drop(store);
    drop(fleet);
    Ok(json!({
        "targets": n,
        "cpu_cores": cpu / wall,
        "cpu_us_per_sample": cpu * 1e6 / samples.max(1.0),
        "rss_bytes": rss,
        "rss_bytes_per_target": rss / n as u64,
        "scrapes_ok": ok,
        "scrapes_failed": failed,
        "scrapes_missed": missed,
        "missed_or_failed_pct": 100.0 * (expected - ok).max(0.0) / expected,
        "jitter_p99_ms": jitter.map(|(v, _)| v * 1e3),
        "jitter_p99_bucket_le_ms": jitter.map(|(_, b)| b * 1e3),
        "lag_p50_ms": lag_p50.map(|(v, _)| v * 1e3),
        "lag_p99_ms": lag.map(|(v, _)| v * 1e3),
        "lag_p99_bucket_le_ms": lag.map(|(_, b)| b * 1e3),
        "pipeline_mb_per_cpu_second": bytes / 1e6 / cpu.max(1e-9),
        "samples_per_second": samples / wall,
        "sender_dropped": dropped,
        "store_cpu_cores": store_cpu / wall,
    }))
}

/// Runs Prometheus against `n` targets and measures the window.
fn measure_prometheus(
    args: &ScrapeArgs,
    n: usize,
    client: &reqwest::blocking::Client,
) -> anyhow::Result<Value> {
    let fleet = ExporterFleet::start(n, args.shape)?;
    let prometheus = start_prometheus(&args.prometheus_bin, &fleet)?;
    wait_ready(client, &format!("{}/-/ready", prometheus.base))?;
    std::thread::sleep(Duration::from_secs(args.warmup_s));
    let cpu_before = cpu_time(prometheus.child.id())?;
    let start_s = now_ms() as f64 / 1000.0;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.measure_s));
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(prometheus.child.id())? - cpu_before).as_secs_f64();
    let rss = rss_bytes(prometheus.child.id())?;
    let end_s = start_s + wall;
    let query = |q: String| -> anyhow::Result<f64> {
        let body: Value = client
            .get(format!("{}/api/v1/query", prometheus.base))
            .query(&[("query", q), ("time", format!("{end_s:.3}"))])
            .send()?
            .json()?;
        Ok(body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0))
    };
    let window = format!("{}s", wall.floor() as u64);
    // up is 1 per successful scrape, so its sum over the window counts them.
    let ok = query(format!(
        "sum(sum_over_time(up{{job=\"kubelet\"}}[{window}]))"
    ))?;
    let samples = query(format!(
        "sum(sum_over_time(scrape_samples_scraped{{job=\"kubelet\"}}[{window}]))"
    ))?;
    // Prometheus' own summary of actual scrape intervals (not in its TSDB: it does not
    // scrape itself here), read from its /metrics.
    let own = scrape_metrics(client, &format!("{}/metrics", prometheus.base))?;
    let interval_quantile = |q: &str| {
        own.iter()
            .filter(|(k, _)| {
                k.starts_with("prometheus_target_interval_length_seconds{")
                    && k.contains(&format!("quantile=\"{q}\""))
            })
            .map(|(_, v)| *v)
            .fold(f64::NAN, f64::max)
    };
    let interval_p99 = interval_quantile("0.99");
    let interval_p01 = interval_quantile("0.01");
    let expected = n as f64 * wall.floor();
    drop(prometheus);
    drop(fleet);
    Ok(json!({
        "targets": n,
        "cpu_cores": cpu / wall,
        "cpu_us_per_sample": cpu * 1e6 / samples.max(1.0),
        "rss_bytes": rss,
        "rss_bytes_per_target": rss / n as u64,
        "scrapes_ok": ok,
        "missed_or_failed_pct": 100.0 * (expected - ok).max(0.0) / expected,
        "interval_p99_minus_1s_ms": (interval_p99 - 1.0) * 1e3,
        "interval_p01_minus_1s_ms": (interval_p01 - 1.0) * 1e3,
        "samples_per_second": samples / wall,
    }))
}

pub fn run(args: &ScrapeArgs) -> anyhow::Result<Value> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut rows = Vec::new();
    let mut best_targets_per_core: f64 = 0.0;
    for &n in &args.targets {
        let ours = measure_tachyscale(args, n, &client)?;
        let theirs = measure_prometheus(args, n, &client)?;
        let ok = ours["missed_or_failed_pct"].as_f64().unwrap_or(100.0) < 1.0;
        if ok {
            let cores = ours["cpu_cores"].as_f64().unwrap_or(f64::INFINITY);
            best_targets_per_core = best_targets_per_core.max(n as f64 / cores);
        }
        let ratio = |key: &str| {
            let a = ours[key].as_f64().unwrap_or(f64::NAN);
            let b = theirs[key].as_f64().unwrap_or(f64::NAN);
            a / b
        };
        rows.push(json!({
            "targets": n,
            "tachyscale": ours,
            "prometheus": theirs,
            "cpu_ratio": ratio("cpu_cores"),
            "cpu_per_sample_ratio": ratio("cpu_us_per_sample"),
            "rss_ratio": ratio("rss_bytes"),
        }));
        eprintln!(
            "{}",
            serde_json::to_string(rows.last().unwrap_or(&Value::Null))?
        );
    }
    Ok(json!({
        "bench": "scrape",
        "exposition": {
            "pods": args.shape.pods,
            "containers_per_pod": args.shape.containers_per_pod,
            "samples": samples_per_exposition(args.shape),
            "bytes": resource_metrics(args.shape, now_ms()).len(),
        },
        "interval_s": 1,
        "warmup_s": args.warmup_s,
        "measure_s": args.measure_s,
        "targets_per_scraper_core_below_1pct_missed": best_targets_per_core,
        "runs": rows,
    }))
}
