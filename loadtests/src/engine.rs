//! Engine-only benchmark: ingest throughput per core, memory after a simulated window, and
//! in-process query latency. Time is simulated, so an hour of 1 s data takes minutes.

use std::time::{Duration, Instant};

use serde_json::json;
use tachyscale_promql::EngineOptions;
use tachyscale_tsdb::{Head, HeadOptions, SeriesRef};

use crate::fleet::Fleet;
use crate::measure::{ms, percentile, rss_bytes};

pub struct EngineArgs {
    pub series: usize,
    pub duration_s: i64,
    pub threads: usize,
    pub queries: usize,
    pub query: String,
}

pub fn run(args: &EngineArgs) -> anyhow::Result<serde_json::Value> {
    let mut fleet = Fleet::new(args.series, 42);
    let n = fleet.labels.len();
    let head = Head::new(HeadOptions {
        retention_ms: args.duration_s * 1000 + 60_000,
        max_series: n * 2,
        ..HeadOptions::default()
    });
    let labels = std::mem::take(&mut fleet.labels);
    let pairs: Vec<Vec<(&str, &str)>> = labels
        .iter()
        .map(|l| l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
        .collect();
    let base_ms = 1_700_000_000_000i64;
    let mut values = Vec::with_capacity(n);
    fleet.step(1.0, &mut values);
    let created = Instant::now();
    let refs: Vec<SeriesRef> = {
        let mut app = head.appender();
        pairs
            .iter()
            .zip(&values)
            .map(|(p, v)| app.append(p, base_ms, *v))
            .collect::<Result<_, _>>()?
    };
    let create_time = created.elapsed();

    let chunk = n.div_ceil(args.threads.max(1));
    let (mut by_labels, mut by_ref) = (Duration::ZERO, Duration::ZERO);
    let (mut labels_samples, mut ref_samples) = (0u64, 0u64);
    for step in 1..args.duration_s {
        fleet.step(1.0, &mut values);
        let ts = base_ms + step * 1000;
        let use_labels = step % 2 == 0;
        let started = Instant::now();
        std::thread::scope(|scope| {
            for part in 0..args.threads.max(1) {
                let range = (part * chunk)..((part + 1) * chunk).min(n);
                let (head, pairs, refs, values) = (&head, &pairs, &refs, &values);
                scope.spawn(move || {
                    let mut app = head.appender();
                    for i in range {
                        let result = if use_labels {
                            app.append(&pairs[i], ts, values[i]).map(|_| ())
                        } else {
                            app.append_to(&refs[i], ts, values[i])
                        };
                        debug_assert!(result.is_ok());
                    }
                });
            }
        });
        let elapsed = started.elapsed();
        if use_labels {
            by_labels += elapsed;
            labels_samples += n as u64;
        } else {
            by_ref += elapsed;
            ref_samples += n as u64;
        }
    }
    head.gc();
    let stats = head.stats();
    let rss = rss_bytes(std::process::id()).unwrap_or(0);

    let expr = tachyscale_promql::parse(&args.query)?;
    let opts = EngineOptions::default();
    let at = base_ms + (args.duration_s - 1) * 1000;
    let mut latencies = Vec::with_capacity(args.queries);
    let mut result_series = 0;
    for _ in 0..args.queries {
        let started = Instant::now();
        let value = tachyscale_promql::instant_query(&head, &expr, at, &opts)?;
        latencies.push(started.elapsed());
        if let tachyscale_promql::Value::Vector(v) = value {
            result_series = v.len();
        }
    }
    latencies.sort();

    let threads = args.threads.max(1) as f64;
    let per_core = |samples: u64, time: Duration| samples as f64 / time.as_secs_f64() / threads;
    Ok(json!({
        "series": n,
        "simulated_seconds": args.duration_s,
        "threads": args.threads,
        "series_creation_per_s": n as f64 / create_time.as_secs_f64(),
        "ingest_samples_per_s_per_core_by_labels": per_core(labels_samples, by_labels),
        "ingest_samples_per_s_per_core_by_ref": per_core(ref_samples, by_ref),
        "samples": stats.samples,
        "chunks": stats.chunks,
        "bytes_per_sample_encoded": stats.chunk_encoded_bytes as f64 / stats.samples as f64,
        "bytes_per_sample_reserved": stats.chunk_reserved_bytes as f64 / stats.samples as f64,
        "overhead_bytes_per_series": stats.overhead_bytes() as f64 / stats.series as f64,
        "series_struct_and_labels_bytes_per_series": stats.series_bytes as f64 / stats.series as f64,
        "index_bytes_per_series": stats.index_bytes as f64 / stats.series as f64,
        "strings_bytes_per_series": stats.interned_bytes as f64 / stats.series as f64,
        "chunk_meta_bytes_per_series": stats.chunk_meta_bytes as f64 / stats.series as f64,
        "process_rss_bytes": rss,
        "rss_bytes_per_sample": rss as f64 / stats.samples as f64,
        "query": args.query,
        "query_result_series": result_series,
        "query_p50_ms": ms(percentile(&latencies, 50.0)),
        "query_p99_ms": ms(percentile(&latencies, 99.0)),
    }))
}
