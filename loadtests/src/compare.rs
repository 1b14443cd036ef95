//! Side-by-side benchmark over HTTP: the same remote-write stream goes to a `tachyscale
//! store` process and to a real Prometheus (remote-write receiver) in the same run; then
//! both answer the same query. Reports CPU per sample and samples per CPU-second from
//! /proc, RSS after ingest, and query latency percentiles, with ratios.
//!
//! Each encoded request is posted to both servers by the same worker, one after the other,
//! so both see identical bodies at the same pace and share the machine's noise.

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};

use crate::fleet::Fleet;
use crate::measure::{cpu_time, ms, percentile, rss_bytes};
use crate::process::{wait_ready, Server};

pub struct CompareArgs {
    pub store_bin: PathBuf,
    pub prometheus_bin: PathBuf,
    pub series: usize,
    pub duration_s: i64,
    /// Seconds of samples per series in one request (remote-write allows several).
    pub samples_per_series: usize,
    pub max_samples_per_request: usize,
    pub senders: usize,
    pub queries: usize,
    pub query: String,
}

fn start_store(args: &CompareArgs) -> anyhow::Result<Server> {
    let config = format!(
        "tsdb:\n  retention: {}s\n  max_series: {}\nwrite:\n  max_body_bytes: 268435456\n  max_decoded_bytes: 1073741824\n",
        args.duration_s + 600,
        args.series * 2 + 1000
    );
    Server::tachyscale("tachyscale", &args.store_bin, "store", &config)
}

fn start_prometheus(args: &CompareArgs) -> anyhow::Result<Server> {
    Server::prometheus(
        &args.prometheus_bin,
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    )
}

/// Encoded requests for `steps` seconds starting at `first_ts_ms`.
fn encode_window(
    fleet: &mut Fleet,
    first_ts_ms: i64,
    steps: usize,
    max_samples: usize,
) -> Vec<(usize, Vec<u8>)> {
    let n = fleet.labels.len();
    let mut columns: Vec<Vec<f64>> = Vec::with_capacity(steps);
    let mut values = Vec::with_capacity(n);
    for _ in 0..steps {
        fleet.step(1.0, &mut values);
        columns.push(values.clone());
    }
    let series_per_request = (max_samples / steps).max(1);
    let mut out = Vec::new();
    for start in (0..n).step_by(series_per_request) {
        let end = (start + series_per_request).min(n);
        let request = WriteRequest {
            timeseries: (start..end)
                .map(|i| TimeSeries {
                    labels: fleet.labels[i]
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples: (0..steps)
                        .map(|s| Sample {
                            value: columns[s][i],
                            timestamp: first_ts_ms + s as i64 * 1000,
                        })
                        .collect(),
                })
                .collect(),
        };
        out.push((
            (end - start) * steps,
            tachyscale_proto::remote_write::encode(&request),
        ));
    }
    out
}

#[derive(Default)]
struct SendStats {
    samples: u64,
    requests: u64,
    failures: u64,
    wall: Duration,
}

fn post(client: &reqwest::blocking::Client, url: &str, body: &[u8]) -> bool {
    client
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body.to_vec())
        .send()
        .is_ok_and(|r| r.status().is_success())
}

fn query_latencies(
    client: &reqwest::blocking::Client,
    server: &Server,
    query: &str,
    at_ms: i64,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let url = format!("{}/api/v1/query", server.base);
    let time = format!("{:.3}", at_ms as f64 / 1000.0);
    let mut latencies = Vec::with_capacity(n);
    let mut series = 0;
    for _ in 0..n {
        let started = Instant::now();
        let body: serde_json::Value = client
            .post(&url)
            .form(&[("query", query), ("time", &time)])
            .send()?
            .json()?;
        latencies.push(started.elapsed());
        series = body["data"]["result"].as_array().map_or(0, Vec::len);
    }
    latencies.sort();
    Ok((latencies, series))
}

pub fn run(args: &CompareArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let servers = [start_store(args)?, start_prometheus(args)?];
    wait_ready(&client, &format!("{}/readyz", servers[0].base))?;
    wait_ready(&client, &format!("{}/-/ready", servers[1].base))?;
    let pids = [servers[0].child.id(), servers[1].child.id()];
    let cpu_before = [cpu_time(pids[0])?, cpu_time(pids[1])?];
    let rss_idle = [rss_bytes(pids[0])?, rss_bytes(pids[1])?];

    let mut fleet = Fleet::new(args.series, 7);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let base_ms = (now_ms - args.duration_s * 1000) / 1000 * 1000;
    let stats = [
        Mutex::new(SendStats::default()),
        Mutex::new(SendStats::default()),
    ];
    let urls = [
        format!("{}/api/v1/write", servers[0].base),
        format!("{}/api/v1/write", servers[1].base),
    ];
    let started = Instant::now();
    let (tx, rx) = sync_channel::<(usize, Vec<u8>)>(256);
    let rx = Mutex::new(rx);
    let last_ts_ms = std::thread::scope(|scope| -> anyhow::Result<i64> {
        for _ in 0..args.senders.max(1) {
            let (rx, stats, urls, client) = (&rx, &stats, &urls, &client);
            scope.spawn(move || loop {
                let next = rx.lock().map(|r| r.recv());
                let Ok(Ok((samples, body))) = next else {
                    return;
                };
                for (i, url) in urls.iter().enumerate() {
                    let t = Instant::now();
                    let ok = post(client, url, &body);
                    if let Ok(mut s) = stats[i].lock() {
                        s.wall += t.elapsed();
                        s.requests += 1;
                        if ok {
                            s.samples += samples as u64
                        } else {
                            s.failures += 1
                        }
                    }
                }
            });
        }
        let mut ts = base_ms;
        let window = args.samples_per_series.max(1) as i64;
        while ts < base_ms + args.duration_s * 1000 {
            let steps = window
                .min((base_ms + args.duration_s * 1000 - ts) / 1000)
                .max(1) as usize;
            for item in encode_window(&mut fleet, ts, steps, args.max_samples_per_request) {
                tx.send(item)?;
            }
            ts += steps as i64 * 1000;
        }
        drop(tx);
        Ok(ts - 1000)
    })?;
    let wall = started.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    let cpu = [
        cpu_time(pids[0])? - cpu_before[0],
        cpu_time(pids[1])? - cpu_before[1],
    ];
    let rss = [rss_bytes(pids[0])?, rss_bytes(pids[1])?];

    let mut queries = Vec::new();
    for server in &servers {
        let (lat, series) =
            query_latencies(&client, server, &args.query, last_ts_ms, args.queries)?;
        queries.push((lat, series));
    }

    let mut per_system = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let s = stats[i]
            .lock()
            .map_err(|_| anyhow::anyhow!("stats lock poisoned"))?;
        per_system.push(json!({
            "system": server.name,
            "samples_accepted": s.samples,
            "requests": s.requests,
            "failed_requests": s.failures,
            "cpu_seconds": cpu[i].as_secs_f64(),
            "samples_per_cpu_second": s.samples as f64 / cpu[i].as_secs_f64().max(1e-9),
            "cpu_microseconds_per_sample": cpu[i].as_secs_f64() * 1e6 / (s.samples.max(1) as f64),
            "request_wall_seconds": s.wall.as_secs_f64(),
            "rss_idle_bytes": rss_idle[i],
            "rss_after_ingest_bytes": rss[i],
            "rss_bytes_per_sample": rss[i] as f64 / (s.samples.max(1) as f64),
            "rss_bytes_per_series": rss[i] as f64 / fleet.labels.len() as f64,
            "query_result_series": queries[i].1,
            "query_p50_ms": ms(percentile(&queries[i].0, 50.0)),
            "query_p99_ms": ms(percentile(&queries[i].0, 99.0)),
        }));
    }
    let ratio = |key: &str| {
        let a = per_system[0][key].as_f64().unwrap_or(0.0);
        let b = per_system[1][key].as_f64().unwrap_or(0.0);
        if b == 0.0 {
            0.0
        } else {
            a / b
        }
    };
    Ok(json!({
        "series": fleet.labels.len(),
        "simulated_seconds": args.duration_s,
        "samples_per_series_per_request": args.samples_per_series,
        "max_samples_per_request": args.max_samples_per_request,
        "senders": args.senders,
        "wall_seconds": wall.as_secs_f64(),
        "query": args.query,
        "systems": per_system,
        "ratios_tachyscale_over_prometheus": {
            "rss_after_ingest": ratio("rss_after_ingest_bytes"),
            "cpu_per_sample": ratio("cpu_microseconds_per_sample"),
            "query_p50": ratio("query_p50_ms"),
            "query_p99": ratio("query_p99_ms"),
        },
    }))
}
