//! `tachyscale-loadtest`: bounded benchmarks that stop by themselves.
//!
//! - `engine`: in-process ingest throughput per core, memory per sample and per series after
//!   a simulated window, and query latency (no HTTP).
//! - `compare`: the same remote-write stream into a `tachyscale store` process and a real
//!   Prometheus in the same run; CPU per sample, RSS and query latency side by side.
//!
//! - `scrape`: a loopback fleet of kubelet-sized exporters scraped at 1 s by `tachyscale
//!   scrape` and by Prometheus; CPU, RSS, missed scrapes, jitter and lag side by side.
//! - `keda`: the store's KEDA paths — write-to-visible freshness (gRPC pull, external
//!   metrics API, push stream), scrape-to-visible latency beside Prometheus, and
//!   ScaledObject polling throughput.
//!
//! Results print as JSON; `--out FILE` also writes them to a file (see `loadtests/results/`).

mod compare;
mod engine;
mod fleet;
mod keda_bench;
mod kubelet;
mod measure;
mod process;
mod scaler_bench;
mod scrape_fleet;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

const DEFAULT_QUERY: &str =
    "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total[30s]))";

#[derive(Parser)]
#[command(name = "tachyscale-loadtest", about)]
struct Cli {
    /// Also write the JSON result here.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Engine only: ingest, memory and query in-process.
    Engine {
        #[arg(long, default_value_t = 100_000)]
        series: usize,
        /// Simulated seconds of 1 s data.
        #[arg(long, default_value_t = 3600)]
        duration_s: i64,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 50)]
        queries: usize,
        #[arg(long, default_value = DEFAULT_QUERY)]
        query: String,
    },
    /// The same stream into `tachyscale store` and Prometheus over HTTP, side by side.
    Compare {
        #[arg(long, default_value = "target/release/tachyscale")]
        store_bin: PathBuf,
        #[arg(long, default_value = "prometheus")]
        prometheus_bin: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        series: usize,
        #[arg(long, default_value_t = 3600)]
        duration_s: i64,
        /// Seconds of samples per series in one request.
        #[arg(long, default_value_t = 10)]
        samples_per_series: usize,
        /// Prometheus' own sender uses 2,000.
        #[arg(long, default_value_t = 2000)]
        max_samples_per_request: usize,
        #[arg(long, default_value_t = 2)]
        senders: usize,
        #[arg(long, default_value_t = 50)]
        queries: usize,
        #[arg(long, default_value = DEFAULT_QUERY)]
        query: String,
    },
    /// A loopback fleet of kubelet-sized exporters scraped at 1 s by `tachyscale scrape`
    /// (into `tachyscale store`) and by Prometheus, one after the other, per fleet size.
    Scrape {
        #[arg(long, default_value = "target/release/tachyscale")]
        tachyscale_bin: PathBuf,
        #[arg(long, default_value = "prometheus")]
        prometheus_bin: PathBuf,
        /// Fleet sizes to run, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "100,250,500")]
        targets: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        warmup_s: u64,
        #[arg(long, default_value_t = 30)]
        measure_s: u64,
        #[arg(long, default_value_t = 110)]
        pods: usize,
        #[arg(long, default_value_t = 2)]
        containers_per_pod: usize,
    },
    /// KEDA scaling paths of `tachyscale store`: freshness, scrape-to-scaler latency beside
    /// Prometheus, and polling load.
    Keda(keda_bench::KedaArgs),
    /// The scaler's engines on one core: VPA cycle time and memory per container for
    /// 100,000 containers, HPA decisions per second for 10,000 policies.
    Scaler {
        #[arg(long, default_value_t = 100_000)]
        containers: usize,
        /// Seconds of 1 s history before measuring.
        #[arg(long, default_value_t = 600)]
        warmup_s: i64,
        #[arg(long, default_value_t = 30)]
        vpa_cycles: usize,
        #[arg(long, default_value_t = 10_000)]
        policies: usize,
        #[arg(long, default_value_t = 60)]
        hpa_cycles: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let result = match cli.bench {
        Bench::Engine {
            series,
            duration_s,
            threads,
            queries,
            query,
        } => engine::run(&engine::EngineArgs {
            series,
            duration_s,
            threads,
            queries,
            query,
        })?,
        Bench::Compare {
            store_bin,
            prometheus_bin,
            series,
            duration_s,
            samples_per_series,
            max_samples_per_request,
            senders,
            queries,
            query,
        } => compare::run(&compare::CompareArgs {
            store_bin,
            prometheus_bin,
            series,
            duration_s,
            samples_per_series,
            max_samples_per_request,
            senders,
            queries,
            query,
        })?,
        Bench::Scrape {
            tachyscale_bin,
            prometheus_bin,
            targets,
            warmup_s,
            measure_s,
            pods,
            containers_per_pod,
        } => scrape_fleet::run(&scrape_fleet::ScrapeArgs {
            tachyscale_bin,
            prometheus_bin,
            targets,
            warmup_s,
            measure_s,
            shape: kubelet::NodeShape {
                pods,
                containers_per_pod,
            },
        })?,
        Bench::Keda(args) => keda_bench::run(&args)?,
        Bench::Scaler {
            containers,
            warmup_s,
            vpa_cycles,
            policies,
            hpa_cycles,
        } => scaler_bench::run(&scaler_bench::ScalerArgs {
            containers,
            warmup_s,
            vpa_cycles,
            policies,
            hpa_cycles,
        })?,
    };
    let text = serde_json::to_string_pretty(&result)?;
    println!("{text}");
    if let Some(path) = cli.out {
        std::fs::write(path, text + "\n")?;
    }
    Ok(())
}
