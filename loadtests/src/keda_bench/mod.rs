//! `keda`: how fast and how much the store's KEDA scaling paths serve, in three bounded
//! phases that each start their own processes on free loopback ports and stop them:
//!
//! - [`freshness`]: remote-write ack → value visible via `GetMetrics`, the external
//!   metrics API, and a `StreamIsActive` push (aim: p99 < 10 ms);
//! - [`source`]: a target's value stepping → visible via `GetMetrics` with `tachyscale
//!   scrape` at 1 s, beside Prometheus 2.42 at 1 s read through its query API
//!   (aim: p99 < 1.1 s);
//! - [`load`]: N ScaledObjects polled once per second as KEDA does (aim: 30,000 RPC/s
//!   with p99 < 5 ms).
//!
//! All phases share one multi-thread tokio runtime, built here, so the client side of
//! the load phase uses both cores rather than queueing on one.

mod common;
mod freshness;
mod load;
mod raw_rpc;
mod source;
mod store_metrics;

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};

/// A phase of the `keda` benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    Freshness,
    Source,
    Load,
}

#[derive(clap::Args)]
pub struct KedaArgs {
    #[arg(long, default_value = "target/release/tachyscale")]
    pub store_bin: PathBuf,
    #[arg(long, default_value = "prometheus")]
    pub prometheus_bin: PathBuf,
    /// Phases to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "freshness,source,load"
    )]
    pub phases: Vec<Phase>,
    /// Write-then-read rounds; each times all three read paths once.
    #[arg(long, default_value_t = 200)]
    pub freshness_iterations: usize,
    /// Value steps of the scraped target.
    #[arg(long, default_value_t = 30)]
    pub source_steps: usize,
    /// ScaledObjects, each polled once per second.
    #[arg(long, default_value_t = 10_000)]
    pub load_objects: usize,
    /// Measured seconds, after a 3 s warm-up.
    #[arg(long, default_value_t = 20)]
    pub load_seconds: u64,
    #[arg(long, default_value_t = 100)]
    pub load_distinct_queries: usize,
    /// HTTP/2 connections the objects are spread over.
    #[arg(long, default_value_t = 4)]
    pub load_connections: usize,
}

pub fn run(args: &KedaArgs) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut result = json!({
        "bench": "keda",
        "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
    });
    for phase in &args.phases {
        let (key, value) = run_phase(args, *phase, &runtime)?;
        eprintln!("{key}: {}", serde_json::to_string(&value)?);
        result[key] = value;
    }
    result["wall_seconds"] = json!(started.elapsed().as_secs_f64());
    Ok(result)
}

fn run_phase(
    args: &KedaArgs,
    phase: Phase,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<(&'static str, Value)> {
    Ok(match phase {
        Phase::Freshness => (
            "freshness",
            freshness::run(&args.store_bin, args.freshness_iterations, runtime)?,
        ),
        Phase::Source => (
            "source",
            source::run(
                &source::SourceArgs {
                    store_bin: &args.store_bin,
                    prometheus_bin: &args.prometheus_bin,
                    steps: args.source_steps,
                },
                runtime,
            )?,
        ),
        Phase::Load => (
            "load",
            load::run(
                &load::LoadArgs {
                    store_bin: &args.store_bin,
                    objects: args.load_objects,
                    seconds: args.load_seconds,
                    distinct: args.load_distinct_queries,
                    connections: args.load_connections,
                },
                runtime,
            )?,
        ),
    })
}
